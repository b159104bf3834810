"""The rules of a reminder: how it moves from pending to sent, cancelled or failed, channel by
channel.

Pure: commands take the current time as an argument and return the events they decide on; the
caller appends them. Aggregates are rebuilt from their history with from_history(), which
applies each event in turn (apply()).
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from uuid import NAMESPACE_URL, UUID, uuid5

from rapport_notifications.domain.events import (
    DeliveryAttemptFailed,
    DeliveryDeferred,
    ReminderComposed,
    ReminderFacts,
)
from rapport_shared.contracts.base import EventContract
from rapport_shared.contracts.notifications import (
    CancellationReason,
    Channel,
    FailureReason,
    ReminderCancelled,
    ReminderFailed,
    ReminderKind,
    ReminderScheduled,
    ReminderSent,
)

HOMEWORK_DUE: ReminderKind = "homework-due"
RECOGNITION: ReminderKind = "recognition"
NEXT_SESSION: ReminderKind = "next-session"
GOAL_REVIEW: ReminderKind = "goal-review"
UNSIGNED_NOTE: ReminderKind = "unsigned-note"
ALLIANCE_ALERT: ReminderKind = "alliance-alert"
RISK_ALERT: ReminderKind = "risk-alert"
MEASURE_DUE: ReminderKind = "measure-due"
# Kinds that cannot wait: sent on every channel the recipient has, whatever their preferences,
# and not held back by their quiet hours (docs/privacy.md and the service README say so).
URGENT: frozenset[ReminderKind] = frozenset({RISK_ALERT})

# The events of a reminder's stream (the other streams hold what was noted of other services).
REMINDER_EVENTS: tuple[type[EventContract], ...] = (
    ReminderScheduled,
    ReminderComposed,
    DeliveryDeferred,
    DeliveryAttemptFailed,
    ReminderCancelled,
    ReminderSent,
    ReminderFailed,
)


# Webhook failures recorded before every one was webhook-failed read as it does now: what a
# recipient reads must not tell a refused connection from an error status (the events keep the
# code they were recorded with).
_AS_READ_NOW: dict[str, FailureReason] = {
    "webhook-http-error": "webhook-failed",
    "webhook-unreachable": "webhook-failed",
}


def reminder_id_for(subject_id: UUID, kind: ReminderKind, at: datetime | None = None) -> UUID:
    """Derived from what the reminder is about, so a redelivered event finds the reminder it
    created before; `at` tells apart the occurrences of a recurring subject."""
    return uuid5(subject_id, kind if at is None else f"{kind}@{at.timestamp():.0f}")


def next_session_reminder_id(clinic_id: str, client_id: str, starts_at: datetime) -> UUID:
    """By client and start time, not session id: session-closed announces the next session before
    it has an id, and its session-scheduled must find the same reminder."""
    key = f"rapport:{clinic_id}:{client_id}:next-session@{starts_at.timestamp():.0f}"
    return uuid5(NAMESPACE_URL, key)


def reminder_stream(reminder_id: UUID) -> str:
    return f"reminder-{reminder_id}"


def reminder_time(event_at: datetime, now: datetime, lead: timedelta) -> datetime | None:
    """lead before event_at; now if that moment has passed; None once event_at itself has."""
    if event_at <= now:
        return None
    return max(event_at - lead, now)


@dataclass(frozen=True)
class About:
    """What a reminder concerns: its subject ids and the client (who may not be the recipient)."""

    client_id: str
    homework_id: UUID | None = None
    session_id: UUID | None = None
    goal_id: UUID | None = None
    alert_id: UUID | None = None


def schedule_reminder(
    *,
    reminder_id: UUID,
    clinic_id: str,
    kind: ReminderKind,
    recipient_id: str,
    due_at: datetime,
    about: About,
    facts: ReminderFacts,
) -> list[EventContract]:
    """The first events of a new reminder's stream."""
    return [
        ReminderScheduled(
            clinic_id=clinic_id,
            reminder_id=reminder_id,
            recipient_id=recipient_id,
            kind=kind,
            due_at=due_at,
            homework_id=about.homework_id,
            session_id=about.session_id,
            goal_id=about.goal_id,
            alert_id=about.alert_id,
            client_id=about.client_id,
        ),
        ReminderComposed(clinic_id=clinic_id, reminder_id=reminder_id, facts=facts),
    ]


@dataclass(frozen=True)
class Cancellation:
    """Reminders to cancel: some by id, and/or every pending one of `kinds` about `subject_id`."""

    reason: CancellationReason
    ids: tuple[UUID, ...] = ()
    subject_id: UUID | None = None
    kinds: tuple[ReminderKind, ...] = ()


@dataclass(frozen=True)
class FollowUp:
    """What one event of another service leads to: facts to remember, new reminders (each the
    first events of its stream), and reminders to cancel."""

    noted: list[EventContract] = field(default_factory=list)
    new_reminders: list[list[EventContract]] = field(default_factory=list)
    cancel: Cancellation | None = None


class ReminderStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    CANCELLED = "cancelled"
    FAILED = "failed"


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int
    backoff: timedelta
    max_backoff: timedelta

    def delay_after(self, attempts: int) -> timedelta:
        """The wait after the attempts-th failed attempt: backoff, doubling each time, capped."""
        delay = self.backoff
        # Doubled step by step, not as backoff * 2**(attempts - 1): that product overflows
        # timedelta after some 40 attempts, long after the cap is reached.
        for _ in range(attempts - 1):
            if delay >= self.max_backoff:
                break
            delay *= 2
        return min(delay, self.max_backoff)


@dataclass(frozen=True)
class Failure:
    reason: FailureReason
    detail: str = ""


@dataclass
class Reminder:
    reminder_id: UUID
    clinic_id: str
    recipient_id: str
    kind: ReminderKind
    due_at: datetime
    about: About
    next_attempt_at: datetime
    facts: ReminderFacts = ReminderFacts()
    # Decided at the first attempt (from its outcome events); until then None.
    channels: tuple[Channel, ...] | None = None
    attempts: dict[Channel, int] = field(default_factory=dict)
    sent: dict[Channel, datetime] = field(default_factory=dict)
    failed: dict[Channel, str] = field(default_factory=dict)
    cancelled: bool = False

    @classmethod
    def from_history(cls, events: Sequence[EventContract]) -> "Reminder":
        first, *rest = events
        if not isinstance(first, ReminderScheduled):
            raise ValueError(f"a reminder's history starts with reminder-scheduled, not {first!r}")
        reminder = cls(
            reminder_id=first.reminder_id,
            clinic_id=first.clinic_id,
            recipient_id=first.recipient_id,
            kind=first.kind,
            due_at=first.due_at,
            about=About(
                client_id=first.client_id or first.recipient_id,
                homework_id=first.homework_id,
                session_id=first.session_id,
                goal_id=first.goal_id,
                alert_id=first.alert_id,
            ),
            next_attempt_at=first.due_at,
        )
        for event in rest:
            reminder.apply(event)
        return reminder

    @property
    def open_channels(self) -> tuple[Channel, ...]:
        """Planned channels with neither a delivery nor a final failure yet."""
        return tuple(c for c in self.channels or () if c not in self.sent and c not in self.failed)

    @property
    def status(self) -> ReminderStatus:
        """Sent once one channel delivered (the others may still be retried: their outcomes show
        per channel), and a later cancel does not unsend it; failed when every channel failed."""
        if self.sent:
            return ReminderStatus.SENT
        if self.cancelled:
            return ReminderStatus.CANCELLED
        if self.channels is not None and not self.open_channels:
            return ReminderStatus.FAILED
        return ReminderStatus.PENDING

    @property
    def awaiting_delivery(self) -> bool:
        """Some channel is still to be attempted: before the first attempt, or while a channel is
        retried, even when another one already delivered (status sent)."""
        return not self.cancelled and (self.channels is None or bool(self.open_channels))

    @property
    def total_attempts(self) -> int:
        return sum(self.attempts.values())

    def cancel(self, now: datetime, reason: CancellationReason) -> list[EventContract]:
        if not self.awaiting_delivery:
            return []  # nothing left to stop; a second cancellation changes nothing
        return [
            ReminderCancelled(
                clinic_id=self.clinic_id,
                reminder_id=self.reminder_id,
                recipient_id=self.recipient_id,
                cancelled_at=now,
                reason=reason,
            )
        ]

    def defer(self, until: datetime, now: datetime) -> list[EventContract]:
        if not self.awaiting_delivery or until <= self.next_attempt_at:
            return []
        return [
            DeliveryDeferred(
                clinic_id=self.clinic_id, reminder_id=self.reminder_id, deferred_at=now, until=until
            )
        ]

    def channels_to_try(self, chosen: Sequence[Channel]) -> tuple[Channel, ...]:
        """The open channels; before the first attempt, the ones chosen now."""
        return tuple(dict.fromkeys(chosen)) if self.channels is None else self.open_channels

    def record_attempt(
        self,
        chosen: Sequence[Channel],
        outcomes: Mapping[Channel, Failure | None],
        now: datetime,
        policy: RetryPolicy,
    ) -> list[EventContract]:
        """An attempt's outcomes. The first attempt fixes the channels (even when a cancellation
        landed meanwhile: the attempt was made on them); no event records them, as each
        channel of the first attempt has an outcome event of its own."""
        if self.channels is None:
            self.channels = tuple(dict.fromkeys(chosen))
        return self.record_outcomes(outcomes, now, policy)

    def record_outcomes(
        self, outcomes: Mapping[Channel, Failure | None], now: datetime, policy: RetryPolicy
    ) -> list[EventContract]:
        """One attempt's result per channel (None: delivered). A delivery that happened while a
        cancellation was being recorded still counts; a failure then is not retried."""
        events: list[EventContract] = []
        retry_after = timedelta(0)
        for channel, failure in outcomes.items():
            if channel not in self.open_channels:
                continue
            if failure is None:
                events.append(
                    ReminderSent(
                        clinic_id=self.clinic_id,
                        reminder_id=self.reminder_id,
                        recipient_id=self.recipient_id,
                        channel=channel,
                        sent_at=now,
                    )
                )
                continue
            if self.cancelled:
                continue
            attempts = self.attempts.get(channel, 0) + 1
            if attempts >= policy.max_attempts:
                events.append(
                    ReminderFailed(
                        clinic_id=self.clinic_id,
                        reminder_id=self.reminder_id,
                        recipient_id=self.recipient_id,
                        channel=channel,
                        failed_at=now,
                        reason=failure.reason,
                    )
                )
            else:
                retry_after = max(retry_after, policy.delay_after(attempts))
                events.append(
                    DeliveryAttemptFailed(
                        clinic_id=self.clinic_id,
                        reminder_id=self.reminder_id,
                        channel=channel,
                        failed_at=now,
                        reason=failure.reason,
                        next_attempt_at=now,  # set below: one retry time for every channel
                    )
                )
        return [
            e.model_copy(update={"next_attempt_at": now + retry_after})
            if isinstance(e, DeliveryAttemptFailed)
            else e
            for e in events
        ]

    def apply(self, event: EventContract) -> None:
        match event:
            case ReminderComposed():
                self.facts = event.facts
            case DeliveryDeferred():
                self.next_attempt_at = event.until
            case ReminderCancelled():
                self.cancelled = True
            case DeliveryAttemptFailed():
                self._attempted(event.channel)
                self.next_attempt_at = event.next_attempt_at
            case ReminderSent():
                self._attempted(event.channel)
                self.sent.setdefault(event.channel, event.sent_at)
            case ReminderFailed():
                self._attempted(event.channel)
                self.failed[event.channel] = _AS_READ_NOW.get(event.reason, event.reason)
            case _:
                raise ValueError(f"{event.event_type} does not belong to a reminder")

    def _attempted(self, channel: Channel) -> None:
        self.attempts[channel] = self.attempts.get(channel, 0) + 1
        # Every channel of the first attempt has an outcome event: together they are the plan.
        if channel not in (self.channels or ()):
            self.channels = (*(self.channels or ()), channel)
