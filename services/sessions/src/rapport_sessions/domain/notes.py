"""Progress notes: their formats, the rules a note's sections follow, and the canonical content
a signature's hash is taken over. Pure: no I/O, no clock."""

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal
from uuid import UUID

from rapport_shared.contracts.errors import DomainError

NoteFormat = Literal["SOAP", "DAP", "BIRP", "GIRP", "free"]

# Each structured format is a fixed set of sections, all required; a free note is one text.
SECTIONS: Mapping[str, tuple[str, ...]] = {
    "SOAP": ("subjective", "objective", "assessment", "plan"),
    "DAP": ("data", "assessment", "plan"),
    "BIRP": ("behavior", "intervention", "response", "plan"),
    "GIRP": ("goals", "intervention", "response", "plan"),
    "free": ("text",),
}

MAX_SECTION_CHARS = 20_000
MAX_ADDENDUM_CHARS = 20_000


@dataclass(frozen=True)
class Note:
    format: str
    sections: Mapping[str, str]
    recorded_at: datetime


@dataclass(frozen=True)
class Signature:
    signed_by: str
    signed_at: datetime
    content_sha256: str


@dataclass(frozen=True)
class Addendum:
    author: str
    reason: str
    text: str
    added_at: datetime


@dataclass
class NoteRecord:
    """A session's note as it stands: the (last) note, its signature once signed, and the addenda
    written after signing, oldest first."""

    note: Note | None = None
    signature: Signature | None = None
    addenda: list[Addendum] = field(default_factory=list)


def check_sections(note_format: str, sections: Mapping[str, str]) -> dict[str, str]:
    """The sections in the format's order, or a DomainError naming the offending section.

    Text is kept as written (layout is part of the record), but must contain a non-blank
    character and fit the size limit."""
    expected = SECTIONS.get(note_format)
    if expected is None:
        raise DomainError(f"unknown note format {note_format!r}", field="format")
    for name in sections:
        if name not in expected:
            raise DomainError(
                f"{note_format} notes have no section {name!r} (they have {', '.join(expected)})",
                field=f"sections.{name}",
            )
    for name in expected:
        text = sections.get(name)
        if text is None:
            raise DomainError(f"a {note_format} note needs its {name}", field=f"sections.{name}")
        if not text.strip():
            raise DomainError(f"{name} must not be blank", field=f"sections.{name}")
        if len(text) > MAX_SECTION_CHARS:
            raise DomainError(
                f"{name} is longer than {MAX_SECTION_CHARS} characters", field=f"sections.{name}"
            )
    return {name: sections[name] for name in expected}


def canonical_content(session_id: UUID, note_format: str, sections: Mapping[str, str]) -> bytes:
    """The bytes a signature covers: the session, the format and the sections as compact JSON
    with sorted keys, UTF-8 — so anyone holding the note can recompute the hash."""
    document = {"format": note_format, "sections": dict(sections), "session_id": str(session_id)}
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode(
        "utf-8"
    )


def content_sha256(session_id: UUID, note_format: str, sections: Mapping[str, str]) -> str:
    return hashlib.sha256(canonical_content(session_id, note_format, sections)).hexdigest()
