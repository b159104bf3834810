"""Recurring homework: occurrences at local wall-clock time (across a DST change), completion of
the earliest open occurrence, private journals, misses and cancellation: pure, no I/O."""

from datetime import UTC, date, datetime, timedelta
from uuid import uuid4
from zoneinfo import ZoneInfo

import pytest

from rapport_goals.domain import recurrence
from rapport_goals.domain.commands import AssignHomework, CompleteHomework
from rapport_goals.domain.events import HomeworkJournalWritten
from rapport_goals.domain.homework import Homework
from rapport_shared.contracts.errors import DomainError, InvalidState
from rapport_shared.contracts.goals import HomeworkCompleted, HomeworkMissed
from rapport_shared.contracts.sessions import Recurrence

LONDON = ZoneInfo("Europe/London")
NOW = datetime(2026, 10, 20, 12, 0, tzinfo=UTC)


def test_weekly_occurrences_keep_local_time_across_the_end_of_summer_time():
    # Europe/London leaves BST (UTC+1) for GMT on Sunday 25 October 2026.
    first = datetime(2026, 10, 21, 19, 0, tzinfo=LONDON)  # a Wednesday, 18:00 UTC
    weekly = Recurrence(
        frequency="weekly",
        weekdays=("mon", "wed"),
        time_zone="Europe/London",
        until=date(2026, 11, 2),
    )
    assert recurrence.occurrences(first, weekly) == [
        datetime(2026, 10, 21, 18, 0, tzinfo=UTC),
        datetime(2026, 10, 26, 19, 0, tzinfo=UTC),  # 19:00 GMT: the UTC instant moved
        datetime(2026, 10, 28, 19, 0, tzinfo=UTC),
        datetime(2026, 11, 2, 19, 0, tzinfo=UTC),  # until is inclusive
    ]
    local = [
        d.astimezone(LONDON).strftime("%a %H:%M") for d in recurrence.occurrences(first, weekly)
    ]
    assert local == ["Wed 19:00", "Mon 19:00", "Wed 19:00", "Mon 19:00"]


def test_weekly_without_weekdays_repeats_the_first_ones_and_the_first_always_counts():
    first = datetime(2026, 10, 20, 8, 0, tzinfo=UTC)  # a Tuesday
    same_day = Recurrence(frequency="weekly", until=date(2026, 11, 3))
    assert [d.day for d in recurrence.occurrences(first, same_day)] == [20, 27, 3]
    thursdays = Recurrence(frequency="weekly", weekdays=("thu",), until=date(2026, 10, 30))
    assert [d.day for d in recurrence.occurrences(first, thursdays)] == [20, 22, 29]


def test_daily_occurrences_and_the_next_after_a_moment():
    first = datetime(2026, 10, 24, 21, 30, tzinfo=LONDON)
    daily = Recurrence(frequency="daily", time_zone="Europe/London", until=date(2026, 10, 26))
    due = recurrence.occurrences(first, daily)
    assert [d.astimezone(LONDON).hour for d in due] == [21, 21, 21]
    assert recurrence.occurrence_after(first, daily, due[0]) == due[1]
    assert recurrence.occurrence_after(first, daily, due[2]) is None
    assert recurrence.occurrences(first, None) == [first.astimezone(UTC)]


def _assign(due_at: datetime, schedule: Recurrence | None = None, **changes) -> AssignHomework:
    return AssignHomework(
        clinic_id="northside",
        homework_id=uuid4(),
        client_id="client-ana",
        counselor_id="dr-okafor",
        instructions="Log your mood",
        due_at=due_at,
        recurrence=schedule,
        **changes,
    )


@pytest.mark.parametrize(
    "schedule, field",
    [
        (
            Recurrence(frequency="daily", time_zone="Mars/Olympus", until=date(2026, 11, 1)),
            "recurrence.time_zone",
        ),
        (Recurrence(frequency="daily", until=date(2026, 10, 20)), "recurrence.until"),
        (
            Recurrence(frequency="daily", weekdays=("mon",), until=date(2026, 11, 1)),
            "recurrence.weekdays",
        ),
        (Recurrence(frequency="daily", until=date(2028, 1, 1)), "recurrence.until"),
    ],
)
def test_a_recurrence_that_breaks_a_rule_is_refused(schedule, field):
    with pytest.raises(DomainError) as refused:
        Homework.assign(_assign(NOW + timedelta(days=1), schedule), None, assigned_at=NOW)
    assert refused.value.field == field


DAILY = Recurrence(frequency="daily", until=date(2026, 10, 23))  # 21, 22, 23 at 09:00 UTC
FIRST = datetime(2026, 10, 21, 9, 0, tzinfo=UTC)


def _daily(*later) -> tuple[Homework, list]:
    assigned = Homework.assign(_assign(FIRST, DAILY, type="symptom-log"), None, assigned_at=NOW)
    events = [assigned, *later]
    return Homework.from_history(events), events


def _complete(homework: Homework, at: datetime, now: datetime, **extra) -> list:
    return homework.complete(CompleteHomework("northside", homework.homework_id, at, **extra), now)


def test_a_completion_fulfils_the_earliest_open_occurrence_and_the_last_is_final():
    homework, events = _daily()
    [first] = _complete(homework, NOW + timedelta(hours=1), now=NOW + timedelta(hours=1))
    assert first.due_at == FIRST and first.on_time and not first.final
    homework, events = _daily(*events[1:], first)
    [second] = _complete(
        homework, FIRST + timedelta(days=1, hours=2), now=FIRST + timedelta(days=3)
    )
    assert second.due_at == FIRST + timedelta(days=1) and not second.on_time
    homework, events = _daily(*events[1:], second)
    [third] = _complete(homework, FIRST + timedelta(days=2), now=FIRST + timedelta(days=3))
    assert third.final and third.due_at == FIRST + timedelta(days=2)
    homework, _ = _daily(*events[1:], third)
    with pytest.raises(InvalidState):
        _complete(homework, None, now=FIRST + timedelta(days=3))


def test_the_journal_goes_into_a_private_event_never_into_the_published_completion():
    homework, _ = _daily()
    completed, journal = _complete(
        homework, None, now=NOW, self_rating=7, journal="Felt calmer after the walk."
    )
    assert isinstance(completed, HomeworkCompleted) and completed.self_rating == 7
    assert "journal" not in completed.model_dump() and "calmer" not in completed.model_dump_json()
    assert isinstance(journal, HomeworkJournalWritten) and not journal.public
    assert (journal.due_at, journal.journal) == (FIRST, "Felt calmer after the walk.")


def test_past_due_occurrences_are_missed_once_after_the_grace_period():
    homework, events = _daily()
    grace = timedelta(hours=24)
    assert homework.missed(FIRST + timedelta(hours=23), grace) == []
    missed = homework.missed(FIRST + timedelta(days=1, hours=1), grace)
    assert [m.due_at for m in missed] == [FIRST]
    assert all(isinstance(m, HomeworkMissed) for m in missed)
    homework, events = _daily(*events[1:], *missed)
    assert homework.missed(FIRST + timedelta(days=1, hours=1), grace) == []  # idempotent
    # The next completion fulfils the next open occurrence, not the missed one.
    [completed] = _complete(homework, None, now=FIRST + timedelta(days=1, hours=1))
    assert completed.due_at == FIRST + timedelta(days=1)
    everything = homework.missed(FIRST + timedelta(days=10), grace)
    assert [m.due_at.day for m in everything] == [22, 23]


def test_cancelled_homework_is_neither_completed_missed_nor_cancelled_again():
    homework, events = _daily()
    cancelled = homework.cancel(NOW)
    homework, _ = _daily(*events[1:], cancelled)
    assert homework.open_occurrences() == [] and homework.missed(NOW + timedelta(days=30)) == []
    for act in (lambda: homework.cancel(NOW), lambda: _complete(homework, None, now=NOW)):
        with pytest.raises(InvalidState) as refused:
            act()
        assert refused.value.field == "homework_id"
