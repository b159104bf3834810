"""Clinic ids become NATS subject tokens, so they are restricted to slugs at every edge."""

import re
from typing import Annotated

from pydantic import StringConstraints

CLINIC_SLUG_PATTERN = r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$"
_CLINIC_SLUG = re.compile(CLINIC_SLUG_PATTERN)

ClinicId = Annotated[str, StringConstraints(pattern=CLINIC_SLUG_PATTERN, max_length=63)]


def is_clinic_slug(value: str) -> bool:
    return bool(_CLINIC_SLUG.match(value))


def require_clinic_slug(value: str) -> str:
    if not is_clinic_slug(value):
        raise ValueError(
            f"clinic id {value!r} is not a slug: 1-63 characters of a-z, 0-9 and '-', "
            "starting and ending with a letter or digit"
        )
    return value
