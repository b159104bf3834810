"""The counseling session aggregate: scheduled, then started and closed with the plan counselor
and client agreed (or closed straight from scheduled, as the skeleton allowed), or cancelled, or
recorded as a no-show. Its note can be recorded and replaced until it is signed; after that only
addenda are added. Commands check the rules and return the events that record the decision; the
aggregate changes only by applying events, so it is rebuilt the same way from its history."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from uuid import UUID

from rapport_sessions.domain import notes
from rapport_sessions.domain.events import (
    AddendumWritten,
    CancellationExplained,
    NoteRecorded,
    PlanWorded,
)
from rapport_sessions.domain.notes import Addendum, Note, NoteRecord, Signature
from rapport_sessions.domain.plan import check_plan
from rapport_shared.contracts.base import EventContract
from rapport_shared.contracts.errors import DomainError, InvalidState
from rapport_shared.contracts.plan import (
    AgreedGoal,
    AgreedHomework,
    GoalWording,
    PlanWording,
    join,
    split,
)
from rapport_shared.contracts.sessions import (
    CancellationReason,
    NoteSigned,
    SessionCancelled,
    SessionClosed,
    SessionNoShow,
    SessionScheduled,
    SessionStarted,
)

MAX_REASON_CHARS = 2000


def stream_id(session_id: UUID) -> str:
    return f"session-{session_id}"


class SessionStatus(StrEnum):
    SCHEDULED = "scheduled"
    IN_PROGRESS = "in-progress"
    CLOSED = "closed"
    CANCELLED = "cancelled"
    NO_SHOW = "no-show"


# Which states each lifecycle command may leave from.
_CLOSABLE = (SessionStatus.SCHEDULED, SessionStatus.IN_PROGRESS)


@dataclass(frozen=True)
class Cancellation:
    cancelled_at: datetime
    reason: CancellationReason
    explanation: str | None = None


@dataclass
class Session:
    session_id: UUID
    clinic_id: str
    client_id: str
    counselor_id: str
    starts_at: datetime
    status: SessionStatus = SessionStatus.SCHEDULED
    version: int = 1
    record: NoteRecord = field(default_factory=NoteRecord)
    started_at: datetime | None = None
    closing: SessionClosed | None = None
    # The plan's words, from plan-worded (session-closed carries only its structure).
    wording: PlanWording | None = None
    cancellation: Cancellation | None = None
    no_show_at: datetime | None = None

    @property
    def note(self) -> Note | None:
        return self.record.note

    @property
    def plan(self) -> tuple[list[AgreedGoal], list[AgreedHomework]]:
        """The plan the session closed with, worded (empty words once the client is erased)."""
        if self.closing is None:
            return [], []
        return join(self.closing.goals, self.closing.homework, self.wording or PlanWording())

    @classmethod
    def from_history(cls, events: Sequence[EventContract]) -> "Session":
        first, *rest = events
        if not isinstance(first, SessionScheduled):
            raise ValueError(f"a session's history starts with session-scheduled, not {first!r}")
        session = cls(
            session_id=first.session_id,
            clinic_id=first.clinic_id,
            client_id=first.client_id,
            counselor_id=first.counselor_id,
            starts_at=first.starts_at,
        )
        for event in rest:
            session.apply(event)
        return session

    def apply(self, event: EventContract) -> None:
        match event:
            case NoteRecorded():
                self.record.note = Note(event.format, dict(event.sections), event.recorded_at)
            case NoteSigned():
                self.record.signature = Signature(
                    event.signed_by, event.signed_at, event.content_sha256
                )
            case AddendumWritten():
                addendum = Addendum(event.author, event.reason, event.text, event.added_at)
                self.record.addenda.append(addendum)
            case SessionStarted():
                self.status, self.started_at = SessionStatus.IN_PROGRESS, event.started_at
            case SessionClosed():
                self.status, self.closing = SessionStatus.CLOSED, event
            case PlanWorded():
                self.wording = PlanWording(
                    goals=tuple(
                        GoalWording.model_validate_json(g) if g else GoalWording()
                        for g in event.goals
                    ),
                    homework=event.homework,
                )
            case SessionCancelled():
                self.status = SessionStatus.CANCELLED
                self.cancellation = Cancellation(event.cancelled_at, event.reason)
            case CancellationExplained() if self.cancellation is not None:
                self.cancellation = Cancellation(
                    self.cancellation.cancelled_at, self.cancellation.reason, event.explanation
                )
            case SessionNoShow():
                self.status, self.no_show_at = SessionStatus.NO_SHOW, event.recorded_at
            case _:
                raise ValueError(f"a session does not apply {event.event_type}")
        self.version += 1

    # --- lifecycle -------------------------------------------------------------------------

    def start(self, started_at: datetime) -> SessionStarted:
        self._require(SessionStatus.SCHEDULED, "start")
        return SessionStarted(**self._people(), started_at=started_at)

    def close(
        self,
        closed_at: datetime,
        next_session_at: datetime | None,
        goals: Sequence[AgreedGoal],
        homework: Sequence[AgreedHomework],
    ) -> tuple[SessionClosed, PlanWorded]:
        """The public closing event carries the plan's structure; its words go in a private
        event (and, sealed, on the closing event for the goals service: the handler seals)."""
        if self.status is SessionStatus.CLOSED:
            raise InvalidState(f"session {self.session_id} is already closed")
        self._require(_CLOSABLE, "close")
        check_plan(closed_at, next_session_at, goals, homework)
        planned_goals, planned_homework, wording = split(goals, homework)
        closed = SessionClosed(
            **self._people(),
            closed_at=closed_at,
            next_session_at=next_session_at,
            goals=planned_goals,
            homework=planned_homework,
        )
        worded = PlanWorded(
            clinic_id=self.clinic_id,
            session_id=self.session_id,
            client_id=self.client_id,
            goals=tuple(g.model_dump_json() for g in wording.goals),
            homework=wording.homework,
        )
        return closed, worded

    def cancel(
        self, cancelled_at: datetime, reason: CancellationReason, explanation: str | None
    ) -> list[EventContract]:
        """The coded reason is public; the free-text explanation goes in a private event."""
        self._require(SessionStatus.SCHEDULED, "cancel")
        events: list[EventContract] = [
            SessionCancelled(**self._people(), cancelled_at=cancelled_at, reason=reason)
        ]
        if explanation is not None:
            _check_text(explanation, "explanation", MAX_REASON_CHARS)
            events.append(
                CancellationExplained(
                    clinic_id=self.clinic_id,
                    session_id=self.session_id,
                    client_id=self.client_id,
                    explanation=explanation,
                )
            )
        return events

    def record_no_show(self, recorded_at: datetime) -> SessionNoShow:
        self._require(SessionStatus.SCHEDULED, "record a no-show for")
        if recorded_at < self.starts_at:
            raise InvalidState("a no-show can only be recorded once the session was due to begin")
        return SessionNoShow(**self._people(), recorded_at=recorded_at)

    # --- the note --------------------------------------------------------------------------

    def record_note(
        self, note_format: str, sections: Mapping[str, str], recorded_at: datetime
    ) -> NoteRecorded:
        """One note per session: recording again replaces it (the history keeps both). Allowed
        after closing too, since notes are often finished after the client has left; refused
        once signed, and for a cancelled session, which has nothing to document."""
        if self.record.signature is not None:
            raise InvalidState("the note is signed: write an addendum instead")
        if self.status is SessionStatus.CANCELLED:
            raise InvalidState(f"session {self.session_id} was cancelled")
        return NoteRecorded(
            clinic_id=self.clinic_id,
            session_id=self.session_id,
            client_id=self.client_id,
            format=note_format,
            sections=notes.check_sections(note_format, sections),
            recorded_at=recorded_at,
        )

    def sign_note(self, signed_by: str, signed_at: datetime) -> NoteSigned:
        note = self.record.note
        if note is None:
            raise InvalidState("there is no note to sign")
        if self.record.signature is not None:
            raise InvalidState("the note is already signed")
        digest = notes.content_sha256(self.session_id, note.format, note.sections)
        return NoteSigned(
            **self._people(), signed_by=signed_by, signed_at=signed_at, content_sha256=digest
        )

    def add_addendum(
        self, author: str, reason: str, text: str, added_at: datetime
    ) -> AddendumWritten:
        if self.record.signature is None:
            raise InvalidState("the note is not signed yet: record the note again instead")
        _check_text(reason, "reason", MAX_REASON_CHARS)
        _check_text(text, "text", notes.MAX_ADDENDUM_CHARS)
        return AddendumWritten(
            clinic_id=self.clinic_id,
            session_id=self.session_id,
            client_id=self.client_id,
            author=author,
            reason=reason,
            text=text,
            added_at=added_at,
        )

    # --- helpers ---------------------------------------------------------------------------

    def _require(self, allowed: SessionStatus | tuple[SessionStatus, ...], action: str) -> None:
        states = allowed if isinstance(allowed, tuple) else (allowed,)
        if self.status not in states:
            raise InvalidState(f"cannot {action} a session that is {self.status.value}")

    def _people(self) -> dict[str, str | UUID]:
        return {
            "clinic_id": self.clinic_id,
            "session_id": self.session_id,
            "client_id": self.client_id,
            "counselor_id": self.counselor_id,
        }


def schedule(
    session_id: UUID, clinic_id: str, client_id: str, counselor_id: str, starts_at: datetime
) -> SessionScheduled:
    return SessionScheduled(
        clinic_id=clinic_id,
        session_id=session_id,
        client_id=client_id,
        counselor_id=counselor_id,
        starts_at=starts_at,
    )


def _check_text(text: str, name: str, limit: int) -> None:
    if not text.strip():
        raise DomainError(f"{name} must not be blank", field=name)
    if len(text) > limit:
        raise DomainError(f"{name} is longer than {limit} characters", field=name)
