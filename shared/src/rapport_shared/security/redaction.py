"""Keeps secrets and clinical free text out of log lines.

A structlog processor: values under sensitive keys are replaced, wherever they are nested, and
anything shaped like a bearer token, a JWT or URL credentials is masked inside any string (an
exception message can quote a request). Runs last before rendering, so no line escapes it.
"""

import re
from collections.abc import MutableMapping
from typing import Any

REDACTED = "[redacted]"

# Keys whose values are secrets or clinical free text (note bodies, journal entries, ...).
SENSITIVE_KEYS = frozenset(
    {
        "authorization",
        "token",
        "access_token",
        "password",
        "secret",
        "api_key",
        "body",
        "note",
        "sections",
        "text",
        "journal",
        "explanation",
        "instructions",
        "description",
        "reason_text",
        "name",
        "display_name",
        "wording",
        "sealed_wording",
        "email",
        "payload",
    }
)
_TOKEN_PATTERNS = (
    re.compile(r"(?i)bearer\s+[A-Za-z0-9._~+/=-]+"),
    re.compile(r"eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"),  # a JWT
    re.compile(r"(?<=://)[^/@\s:]+:[^/@\s]+(?=@)"),  # user:password@ in a URL
)


def _mask(text: str) -> str:
    for pattern in _TOKEN_PATTERNS:
        text = pattern.sub(REDACTED, text)
    return text


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        return _mask(value)
    if isinstance(value, dict):
        return {
            k: REDACTED if str(k).lower() in SENSITIVE_KEYS else _clean(v) for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return type(value)(_clean(v) for v in value)
    return value


def redact(
    _logger: Any, _name: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    for key in list(event_dict):
        if key.lower() in SENSITIVE_KEYS:
            event_dict[key] = REDACTED
        else:
            event_dict[key] = _clean(event_dict[key])
    return event_dict
