"""Measures on a schedule (pure code): the plan's rules, the asks it makes, how each ends."""

from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest

from rapport_goals.domain.measurement import (
    MeasureAsk,
    MeasurementPlan,
    check_plan,
    periodic_asks,
    session_asks,
)
from rapport_shared.contracts.errors import DomainError
from rapport_shared.contracts.goals import MeasureRecorded, MeasureSchedule
from rapport_shared.contracts.sessions import SessionClosed, SessionScheduled, SessionStarted

NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
SESSION = uuid4()


def _plan(*schedules: MeasureSchedule, time_zone: str = "UTC", first_at: datetime | None = None):
    return MeasurementPlan("northside", "alice").set(schedules, "kim", time_zone, first_at, NOW)


ROUTINE = _plan(
    MeasureSchedule(instrument="PHQ-9", when="before-session"),
    MeasureSchedule(instrument="ORS", when="session-start"),
    MeasureSchedule(instrument="SRS", when="session-end"),
)
PEOPLE = {
    "clinic_id": "northside",
    "session_id": SESSION,
    "client_id": "alice",
    "counselor_id": "kim",
}


@pytest.mark.parametrize(
    ("schedules", "time_zone", "first_at", "field"),
    [
        (
            [MeasureSchedule(instrument="PHQ-9", when="session-end")] * 2,
            "UTC",
            None,
            "schedules.1",
        ),
        (
            [MeasureSchedule(instrument="SRS", when="session-start")],
            "UTC",
            None,
            "schedules.0.when",
        ),
        (
            [MeasureSchedule(instrument="GAD-7", when="every-n-days")],
            "UTC",
            NOW,
            "schedules.0.every_days",
        ),
        (
            [MeasureSchedule(instrument="GAD-7", when="session-end", every_days=7)],
            "UTC",
            None,
            "schedules.0.every_days",
        ),
        (
            [MeasureSchedule(instrument="ORS", when="session-end")],
            "Mars/Olympus",
            None,
            "time_zone",
        ),
        (
            [MeasureSchedule(instrument="ORS", when="every-n-days", every_days=7)],
            "UTC",
            None,
            "first_at",
        ),
        (
            [MeasureSchedule(instrument="ORS", when="every-n-days", every_days=7)],
            "UTC",
            NOW - timedelta(days=2),
            "first_at",
        ),
    ],
)
def test_a_plan_that_cannot_be_followed_is_refused_naming_the_field(
    schedules, time_zone, first_at, field
) -> None:
    with pytest.raises(DomainError) as refused:
        check_plan(schedules, time_zone, first_at, NOW)
    assert refused.value.field == field


def test_each_session_moment_asks_for_its_measures() -> None:
    starts = NOW + timedelta(days=3)
    (before,) = session_asks(ROUTINE, SessionScheduled(**PEOPLE, starts_at=starts), NOW)
    assert (before.instrument, before.ask_at, before.due_at, before.deadline) == (
        "PHQ-9",
        starts - 24 * HOUR,
        starts,
        starts,
    )
    (start,) = session_asks(ROUTINE, SessionStarted(**PEOPLE, started_at=starts), starts)
    assert (start.instrument, start.deadline) == ("ORS", starts + 2 * HOUR)
    closed = SessionClosed(**PEOPLE, closed_at=starts + HOUR)
    (end,) = session_asks(ROUTINE, closed, starts + HOUR)
    assert (end.instrument, end.deadline, end.session_id) == ("SRS", starts + 25 * HOUR, SESSION)
    # A redelivered event asks the same ask again, not a second one.
    assert session_asks(ROUTINE, closed, starts + 2 * HOUR)[0].ask_id == end.ask_id


def test_a_session_soon_asks_now_and_one_past_asks_nothing() -> None:
    soon = session_asks(ROUTINE, SessionScheduled(**PEOPLE, starts_at=NOW + 6 * HOUR), NOW)
    assert [a.ask_at for a in soon] == [NOW]
    assert session_asks(ROUTINE, SessionScheduled(**PEOPLE, starts_at=NOW - HOUR), NOW) == []
    assert session_asks(None, SessionScheduled(**PEOPLE, starts_at=NOW + 6 * HOUR), NOW) == []


def test_every_n_days_keeps_its_local_time_across_a_clock_change() -> None:
    # 09:00 in London on Sunday 18 October 2026 is 08:00 UTC (summer time, which ends on 25
    # October): the next two asks stay at 09:00 local, which is 09:00 UTC.
    first = datetime(2026, 10, 18, 8, 0, tzinfo=UTC)
    plan = MeasurementPlan("northside", "alice").set(
        [MeasureSchedule(instrument="PHQ-9", when="every-n-days", every_days=7)],
        "kim",
        "Europe/London",
        first,
        first - HOUR,
    )
    asks = periodic_asks(plan, first - HOUR, first + timedelta(days=15))
    assert [a.ask_at for a in asks] == [
        first,
        datetime(2026, 10, 25, 9, 0, tzinfo=UTC),
        datetime(2026, 11, 1, 9, 0, tzinfo=UTC),
    ]
    assert all(a.deadline == a.due_at + 48 * HOUR for a in asks)
    # Asked once: the next pass, from where the last one ended, asks nothing again.
    assert periodic_asks(plan, first + timedelta(days=15), first + timedelta(days=16)) == []


def _measure(instrument: str, at: datetime) -> MeasureRecorded:
    return MeasureRecorded(
        clinic_id="northside",
        measure_id=uuid4(),
        client_id="alice",
        instrument=instrument,
        items=(5, 5, 5, 5) if instrument in ("ORS", "SRS") else (1,) * 9,
        total=20 if instrument in ("ORS", "SRS") else 9,
        recorded_at=at,
    )


def test_an_ask_is_fulfilled_missed_or_withdrawn_once() -> None:
    starts = NOW + timedelta(days=3)
    (requested,) = session_asks(ROUTINE, SessionScheduled(**PEOPLE, starts_at=starts), NOW)
    ask = MeasureAsk.from_history([requested])
    assert ask.fulfil(_measure("GAD-7", starts - HOUR)) is None  # another instrument
    assert ask.fulfil(_measure("PHQ-9", starts - 49 * HOUR)) is None  # before the window
    assert ask.fulfil(_measure("PHQ-9", starts + HOUR)) is None  # after the deadline
    assert ask.miss(starts - HOUR) is None  # not yet
    done = ask.fulfil(_measure("PHQ-9", starts - 30 * HOUR))  # a little before it was asked
    assert done is not None and done.outcome == "fulfilled"
    closed = MeasureAsk.from_history([requested, done])
    assert closed.miss(starts + HOUR) is None
    assert closed.withdraw(NOW) is None
    missed = ask.miss(starts)
    assert missed is not None and (missed.outcome, missed.closed_at) == ("missed", starts)
    withdrawn = ask.withdraw(NOW)
    assert withdrawn is not None and withdrawn.outcome == "withdrawn"
