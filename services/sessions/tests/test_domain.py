"""The session aggregate's rules, without I/O."""

from datetime import UTC, date, datetime, timedelta
from uuid import uuid4

import pytest

from rapport_sessions.domain.events import NoteRecorded, sessions_registry
from rapport_sessions.domain.model import Session, SessionStatus, schedule, stream_id
from rapport_sessions.domain.notes import MAX_SECTION_CHARS
from rapport_shared.contracts.errors import DomainError, InvalidState
from rapport_shared.contracts.plan import AgreedGoal, AgreedHomework
from rapport_shared.contracts.sessions import SessionClosed

NOW = datetime(2026, 11, 22, 15, 0, tzinfo=UTC)
TODAY = NOW.date()


def scheduled_session() -> Session:
    event = schedule(uuid4(), "northside", "alice", "kim", NOW - timedelta(hours=1))
    return Session.from_history([event])


def goal(due: date = TODAY + timedelta(days=30)) -> AgreedGoal:
    return AgreedGoal(
        description="walk daily", measure="days walked", target="5/week", due_date=due
    )


def homework(
    goal_index: int | None = 0, due_at: datetime = NOW + timedelta(days=2)
) -> AgreedHomework:
    return AgreedHomework(instructions="log walks", due_at=due_at, goal_index=goal_index)


def close(session: Session, **overrides: object) -> SessionClosed:
    arguments: dict[str, object] = {
        "closed_at": NOW,
        "next_session_at": NOW + timedelta(days=7),
        "goals": [goal()],
        "homework": [homework()],
    }
    arguments.update(overrides)
    closed, _worded = session.close(**arguments)  # type: ignore[arg-type]
    return closed


def free_note(session_id: object, text: str) -> NoteRecorded:
    return NoteRecorded(
        clinic_id="northside",
        session_id=session_id,
        format="free",
        sections={"text": text},
        recorded_at=NOW,
    )


def test_a_scheduled_session_is_rebuilt_from_its_first_event() -> None:
    starts_at = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    event = schedule(uuid4(), "northside", "alice", "kim", starts_at)
    session = Session.from_history([event])
    assert (session.status, session.version, session.note, session.closing) == (
        SessionStatus.SCHEDULED,
        1,
        None,
        None,
    )
    assert (session.clinic_id, session.client_id, session.counselor_id, session.starts_at) == (
        "northside",
        "alice",
        "kim",
        starts_at,
    )
    assert stream_id(session.session_id) == f"session-{event.session_id}"


def test_a_history_must_start_with_the_scheduling() -> None:
    note = free_note(uuid4(), "x")
    with pytest.raises(ValueError, match="session-scheduled"):
        Session.from_history([note])


def test_closing_returns_the_agreed_plan_with_the_session_people() -> None:
    session = scheduled_session()
    event = close(session, goals=[goal(), goal()], homework=[homework(1), homework(None)])
    assert (event.session_id, event.client_id, event.counselor_id, event.clinic_id) == (
        session.session_id,
        "alice",
        "kim",
        "northside",
    )
    assert event.closed_at == NOW
    assert [h.goal_index for h in event.homework] == [1, None]
    assert len(event.goals) == 2
    assert session.status is SessionStatus.SCHEDULED  # a command decides; only apply changes


def test_closing_keeps_the_words_out_of_the_public_event_and_in_the_private_one() -> None:
    session = scheduled_session()
    closed, worded = session.close(NOW, None, [goal()], [homework(0)])
    assert "walk daily" not in closed.model_dump_json()
    assert "log walks" not in closed.model_dump_json()
    assert (worded.public, worded.client_id, worded.homework) == (False, "alice", ("log walks",))
    assert "walk daily" in worded.goals[0]
    session.apply(closed)
    session.apply(worded)
    goals, tasks = session.plan
    assert (goals[0].description, goals[0].target, tasks[0].instructions) == (
        "walk daily",
        "5/week",
        "log walks",
    )
    assert (goals[0].due_date, tasks[0].goal_index) == (goal().due_date, 0)


def test_an_empty_plan_closes_the_session() -> None:
    event = close(scheduled_session(), next_session_at=None, goals=[], homework=[])
    assert (event.goals, event.homework, event.next_session_at) == ((), (), None)


def test_applying_the_close_marks_the_session_closed_and_counts_the_version() -> None:
    session = scheduled_session()
    event = close(session)
    session.apply(event)
    assert (session.status, session.version, session.closing) == (SessionStatus.CLOSED, 2, event)


def test_closing_a_closed_session_is_a_conflict() -> None:
    session = scheduled_session()
    session.apply(close(session))
    with pytest.raises(InvalidState) as raised:
        close(session)
    assert raised.value.status == 409


def test_homework_must_point_at_a_goal_of_the_same_plan() -> None:
    session = scheduled_session()
    with pytest.raises(DomainError) as raised:
        close(session, goals=[goal()], homework=[homework(0), homework(1)])
    assert raised.value.field == "homework.1.goal_index"
    with pytest.raises(DomainError) as raised:
        close(session, goals=[], homework=[homework(0)])
    assert raised.value.field == "homework.0.goal_index"


def test_the_next_session_must_come_after_the_close() -> None:
    session = scheduled_session()
    for next_session_at in (NOW, NOW - timedelta(minutes=1)):
        with pytest.raises(DomainError) as raised:
            close(session, next_session_at=next_session_at)
        assert raised.value.field == "next_session_at"
    assert close(session, next_session_at=NOW + timedelta(minutes=1)).next_session_at


def test_goal_due_dates_in_the_past_are_refused() -> None:
    session = scheduled_session()
    with pytest.raises(DomainError) as raised:
        close(session, goals=[goal(), goal(TODAY - timedelta(days=2))], homework=[])
    assert raised.value.field == "goals.1.due_date"
    assert raised.value.status == 422


def test_a_goal_due_today_anywhere_on_earth_is_accepted() -> None:
    # 15:00 UTC on the 22nd is still the 22nd in UTC-12 (03:00), but already the 23rd in UTC+14.
    session = scheduled_session()
    assert close(session, goals=[goal(TODAY)], homework=[]).goals[0].due_date == TODAY
    early = datetime(2026, 11, 22, 5, 0, tzinfo=UTC)  # still the 21st in UTC-12
    assert close(session, closed_at=early, goals=[goal(TODAY - timedelta(days=1))], homework=[])
    with pytest.raises(DomainError):
        close(session, closed_at=early, goals=[goal(TODAY - timedelta(days=2))], homework=[])


def test_homework_must_be_due_after_the_close() -> None:
    session = scheduled_session()
    with pytest.raises(DomainError) as raised:
        close(session, homework=[homework(due_at=NOW)])
    assert raised.value.field == "homework.0.due_at"


def test_a_note_can_be_recorded_before_and_after_closing_and_the_last_one_counts() -> None:
    session = scheduled_session()
    first = session.record_note("free", {"text": "first draft"}, NOW)
    session.apply(first)
    session.apply(close(session))
    second = session.record_note("free", {"text": "final text"}, NOW + timedelta(minutes=5))
    session.apply(second)
    assert session.note is not None
    assert (session.note.sections, session.note.recorded_at) == (
        {"text": "final text"},
        second.recorded_at,
    )
    assert (session.status, session.version) == (SessionStatus.CLOSED, 4)


def test_rebuilding_from_history_gives_the_same_state_as_applying_live() -> None:
    live = scheduled_session()
    history = [schedule(live.session_id, "northside", "alice", "kim", live.starts_at)]
    for event in (live.record_note("free", {"text": "note"}, NOW), close(live)):
        live.apply(event)
        history.append(event)
    assert Session.from_history(history) == live


@pytest.mark.parametrize("body", ["", "   \n\t", "x" * (MAX_SECTION_CHARS + 1)])
def test_a_note_body_must_say_something_and_fit(body: str) -> None:
    with pytest.raises(DomainError) as raised:
        scheduled_session().record_note("free", {"text": body}, NOW)
    assert (raised.value.field, raised.value.status) == ("sections.text", 422)


def test_a_note_keeps_its_layout_up_to_the_limit() -> None:
    body = "  S: slept better\n\n  O: calm" + "x" * (MAX_SECTION_CHARS - 28)
    assert len(body) == MAX_SECTION_CHARS
    note = scheduled_session().record_note("free", {"text": body}, NOW)
    assert note.sections == {"text": body}


def test_the_note_event_is_private_and_loadable_from_the_store() -> None:
    assert NoteRecorded.public is False
    registry = sessions_registry()
    note = free_note(uuid4(), "b")
    assert registry.load("note-recorded", 2, note.model_dump(mode="json")) == note
    assert registry.contract_for("session-closed") is SessionClosed


def test_a_stored_v1_note_with_a_body_loads_as_a_free_note() -> None:
    session_id = uuid4()
    data = {
        "clinic_id": "northside",
        "session_id": str(session_id),
        "body": "  old text",
        "recorded_at": NOW.isoformat(),
    }
    assert sessions_registry().load("note-recorded", 1, data) == free_note(session_id, "  old text")
