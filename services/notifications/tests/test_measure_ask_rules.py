"""A measure ask's rules (pure code): one measure-due reminder per ask at its time, none once
its deadline passed or after it closed, a closing that cancels it, and words for each timing in
the client's own time zone."""

from datetime import UTC, datetime, timedelta
from uuid import uuid4
from zoneinfo import ZoneInfo

from rapport_notifications.domain.events import ReminderComposed
from rapport_notifications.domain.measures import MeasureAsk, measure_due_id
from rapport_notifications.domain.messages import render
from rapport_shared.contracts.goals import MeasureAskClosed, MeasureRequested, MeasureTiming
from rapport_shared.contracts.notifications import ReminderScheduled

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SESSION = datetime(2026, 3, 5, 14, 0, tzinfo=UTC)  # Thursday, 15:00 in Berlin


def _requested(
    timing: MeasureTiming = "before-session",
    instrument: str = "PHQ-9",
    ask_at: datetime = SESSION - timedelta(days=1),
    due_at: datetime = SESSION,
    deadline: datetime = SESSION,
) -> MeasureRequested:
    return MeasureRequested(
        clinic_id="northside",
        ask_id=uuid4(),
        client_id="ana",
        instrument=instrument,
        timing=timing,
        session_id=uuid4() if timing != "every-n-days" else None,
        ask_at=ask_at,
        due_at=due_at,
        deadline=deadline,
    )


def _closed(requested: MeasureRequested) -> MeasureAskClosed:
    return MeasureAskClosed(
        clinic_id="northside",
        ask_id=requested.ask_id,
        client_id="ana",
        instrument=requested.instrument,
        outcome="fulfilled",
        measure_id=uuid4(),
        closed_at=NOW,
    )


def _words(requested: MeasureRequested, zone: str = "Europe/Berlin") -> str:
    (reminder,) = MeasureAsk(requested.ask_id).request(requested, NOW).new_reminders
    (composed,) = [e for e in reminder if isinstance(e, ReminderComposed)]
    return render("measure-due", composed.facts, "ana", ZoneInfo(zone)).body


def test_a_request_asks_the_client_at_the_ask_time_or_now_if_that_has_passed() -> None:
    requested = _requested()
    (reminder,) = MeasureAsk(requested.ask_id).request(requested, NOW).new_reminders
    scheduled = reminder[0]
    assert isinstance(scheduled, ReminderScheduled)
    assert (scheduled.kind, scheduled.recipient_id, scheduled.client_id) == (
        "measure-due",
        "ana",
        "ana",
    )
    assert (scheduled.due_at, scheduled.session_id) == (requested.ask_at, requested.session_id)
    assert scheduled.reminder_id == measure_due_id(requested.ask_id)
    late = requested.ask_at + timedelta(hours=3)
    (reminder,) = MeasureAsk(requested.ask_id).request(requested, late).new_reminders
    assert isinstance(reminder[0], ReminderScheduled)
    assert reminder[0].due_at == late


def test_a_request_past_its_deadline_or_after_its_closing_asks_nothing() -> None:
    requested = _requested()
    assert MeasureAsk(requested.ask_id).request(requested, SESSION).new_reminders == []
    closing = MeasureAsk(requested.ask_id).close(_closed(requested))
    assert closing.cancel is not None
    assert (closing.cancel.reason, closing.cancel.ids) == (
        "measure-ask-closed",
        (measure_due_id(requested.ask_id),),
    )
    tombstone = MeasureAsk.from_history(requested.ask_id, closing.noted)
    assert tombstone.request(requested, NOW).new_reminders == []
    # A copy of the closing changes nothing.
    again = tombstone.close(_closed(requested))
    assert (again.noted, again.cancel) == ([], None)


def test_the_words_name_the_measure_and_the_times_in_the_client_zone() -> None:
    assert _words(_requested()) == (
        "Please fill in your PHQ-9 before your session on Thursday 5 March at 15:00 "
        "(Europe/Berlin): it takes a few minutes and helps you and your counselor make the "
        "most of it."
    )
    # The same ask read in Auckland names Auckland's day and time.
    assert "on Friday 6 March at 03:00 (Pacific/Auckland)" in _words(
        _requested(), "Pacific/Auckland"
    )
    start = _requested("session-start", "ORS", SESSION, SESSION, SESSION + timedelta(hours=2))
    assert _words(start) == (
        "Please fill in your Outcome Rating Scale (ORS) at the start of your session."
    )
    end = _requested("session-end", "SRS", SESSION, SESSION, SESSION + timedelta(hours=24))
    assert _words(end) == (
        "Please fill in your Session Rating Scale (SRS) about the session you have just had "
        "by Friday 6 March at 15:00 (Europe/Berlin)."
    )
    every = _requested("every-n-days", "GAD-7", SESSION, SESSION, SESSION + timedelta(hours=48))
    assert _words(every) == (
        "Time for your regular GAD-7: please fill it in by Saturday 7 March at 15:00 "
        "(Europe/Berlin)."
    )
