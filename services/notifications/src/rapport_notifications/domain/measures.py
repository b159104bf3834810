"""What this service knows of one measure ask of the goals service, and the measure-due reminder
it leads to: the client is asked at the ask's time (an ordinary reminder: their quiet hours and
preferences apply), and the reminder is cancelled when the ask closes.

The two events come from different streams and may arrive in either order, so a closing noted
before the request is a tombstone: the request then asks nothing. A request arriving after its
deadline asks nothing either (the goals service records the ask as missed).
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from rapport_notifications.domain.events import MeasureAskClosureNoted, ReminderFacts
from rapport_notifications.domain.model import (
    MEASURE_DUE,
    About,
    Cancellation,
    FollowUp,
    reminder_id_for,
    schedule_reminder,
)
from rapport_shared.contracts.base import EventContract
from rapport_shared.contracts.goals import MeasureAskClosed, MeasureRequested


def measure_ask_stream(ask_id: UUID) -> str:
    return f"measure-ask-{ask_id}"


def measure_due_id(ask_id: UUID) -> UUID:
    """One reminder per ask, derived from it: a redelivered request finds the same one."""
    return reminder_id_for(ask_id, MEASURE_DUE)


@dataclass
class MeasureAsk:
    ask_id: UUID
    closed: bool = False

    @classmethod
    def from_history(cls, ask_id: UUID, events: Sequence[EventContract]) -> "MeasureAsk":
        """Named by its subject: nothing may be noted yet (the first event about it)."""
        ask = cls(ask_id)
        for event in events:
            ask.apply(event)
        return ask

    def apply(self, event: EventContract) -> None:
        match event:
            case MeasureAskClosureNoted():
                self.closed = True
            case _:
                raise ValueError(f"{event.event_type} does not belong to a measure ask")

    def request(self, requested: MeasureRequested, now: datetime) -> FollowUp:
        if self.closed or requested.deadline <= now:
            return FollowUp()
        reminder = schedule_reminder(
            reminder_id=measure_due_id(self.ask_id),
            clinic_id=requested.clinic_id,
            kind=MEASURE_DUE,
            recipient_id=requested.client_id,
            due_at=max(requested.ask_at, now),
            about=About(client_id=requested.client_id, session_id=requested.session_id),
            facts=ReminderFacts(
                measure_instrument=requested.instrument,
                measure_timing=requested.timing,
                measure_due_at=requested.due_at,
                measure_deadline=requested.deadline,
            ),
        )
        return FollowUp(new_reminders=[reminder])

    def close(self, closed: MeasureAskClosed) -> FollowUp:
        if self.closed:
            return FollowUp()  # a copy of a closing already noted
        noted: list[EventContract] = [
            MeasureAskClosureNoted(
                clinic_id=closed.clinic_id, ask_id=self.ask_id, closed_at=closed.closed_at
            )
        ]
        cancel = Cancellation("measure-ask-closed", ids=(measure_due_id(self.ask_id),))
        return FollowUp(noted, cancel=cancel)
