"""What this service knows of one session of the sessions service, and the reminders it leads
to: the client's next-session reminder (a lead time before it starts), and the counselor's
unsigned-note reminder (a while after the session closed, unless the note was signed first).

A cancellation or a signature noted before the event that would schedule is a tombstone: that
event then schedules nothing.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

from rapport_notifications.domain.events import (
    NoteSignatureNoted,
    ReminderFacts,
    SessionCancellationNoted,
    SessionClosureNoted,
    SessionScheduleNoted,
)
from rapport_notifications.domain.model import (
    NEXT_SESSION,
    UNSIGNED_NOTE,
    About,
    Cancellation,
    FollowUp,
    next_session_reminder_id,
    reminder_id_for,
    reminder_time,
    schedule_reminder,
)
from rapport_shared.contracts.base import EventContract
from rapport_shared.contracts.sessions import (
    NoteSigned,
    SessionCancelled,
    SessionClosed,
    SessionScheduled,
)


def session_stream(session_id: UUID) -> str:
    return f"session-{session_id}"


def next_session_reminder(
    clinic_id: str,
    client_id: str,
    starts_at: datetime,
    now: datetime,
    lead: timedelta,
    session_id: UUID | None = None,
) -> list[list[EventContract]]:
    remind_at = reminder_time(starts_at, now, lead)
    if remind_at is None:
        return []
    return [
        schedule_reminder(
            reminder_id=next_session_reminder_id(clinic_id, client_id, starts_at),
            clinic_id=clinic_id,
            kind=NEXT_SESSION,
            recipient_id=client_id,
            due_at=remind_at,
            about=About(client_id=client_id, session_id=session_id),
            facts=ReminderFacts(session_at=starts_at),
        )
    ]


@dataclass
class Session:
    session_id: UUID
    schedule: SessionScheduleNoted | None = None
    closed: bool = False
    cancelled: bool = False
    signed: bool = False

    @classmethod
    def from_history(cls, session_id: UUID, events: Sequence[EventContract]) -> "Session":
        """Named by its subject: nothing may be noted yet (the first event about it)."""
        session = cls(session_id)
        for event in events:
            session.apply(event)
        return session

    def apply(self, event: EventContract) -> None:
        match event:
            case SessionScheduleNoted():
                self.schedule = event
            case SessionClosureNoted():
                self.closed = True
            case SessionCancellationNoted():
                self.cancelled = True
            case NoteSignatureNoted():
                self.signed = True
            case _:
                raise ValueError(f"{event.event_type} does not belong to a session")

    def scheduled(self, event: SessionScheduled, now: datetime, lead: timedelta) -> FollowUp:
        if self.schedule is not None:
            return FollowUp()
        noted: list[EventContract] = [
            SessionScheduleNoted(
                clinic_id=event.clinic_id,
                session_id=self.session_id,
                client_id=event.client_id,
                starts_at=event.starts_at,
            )
        ]
        if self.cancelled or self.closed:
            return FollowUp(noted)
        return FollowUp(
            noted,
            next_session_reminder(
                event.clinic_id, event.client_id, event.starts_at, now, lead, self.session_id
            ),
        )

    def close(
        self, event: SessionClosed, now: datetime, lead: timedelta, note_after: timedelta
    ) -> FollowUp:
        if self.closed:
            return FollowUp()
        noted: list[EventContract] = [
            SessionClosureNoted(
                clinic_id=event.clinic_id, session_id=self.session_id, closed_at=event.closed_at
            )
        ]
        new: list[list[EventContract]] = []
        if event.next_session_at is not None:
            new += next_session_reminder(
                event.clinic_id, event.client_id, event.next_session_at, now, lead
            )
        if not self.signed:
            new.append(
                schedule_reminder(
                    reminder_id=reminder_id_for(self.session_id, UNSIGNED_NOTE),
                    clinic_id=event.clinic_id,
                    kind=UNSIGNED_NOTE,
                    recipient_id=event.counselor_id,
                    due_at=max(event.closed_at + note_after, now),
                    about=About(client_id=event.client_id, session_id=self.session_id),
                    facts=ReminderFacts(session_at=event.closed_at),
                )
            )
        return FollowUp(noted, new)

    def cancel(self, event: SessionCancelled) -> FollowUp:
        if self.cancelled:
            return FollowUp()
        noted: list[EventContract] = [
            SessionCancellationNoted(
                clinic_id=event.clinic_id,
                session_id=self.session_id,
                cancelled_at=event.cancelled_at,
            )
        ]
        ids: tuple[UUID, ...] = ()
        if self.schedule is not None:
            starts_at = self.schedule.starts_at
            ids = (next_session_reminder_id(event.clinic_id, event.client_id, starts_at),)
        return FollowUp(
            noted,
            cancel=Cancellation(
                "session-cancelled", ids=ids, subject_id=self.session_id, kinds=(NEXT_SESSION,)
            ),
        )

    def sign(self, event: NoteSigned) -> FollowUp:
        if self.signed:
            return FollowUp()
        noted: list[EventContract] = [
            NoteSignatureNoted(
                clinic_id=event.clinic_id, session_id=self.session_id, signed_at=event.signed_at
            )
        ]
        return FollowUp(
            noted,
            cancel=Cancellation(
                "note-signed", ids=(reminder_id_for(self.session_id, UNSIGNED_NOTE),)
            ),
        )
