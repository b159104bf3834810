"""The rules of goals and homework, and the plan a closed session becomes: pure, no I/O."""

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from uuid import UUID, uuid4, uuid5

import pytest

from rapport_goals.domain.commands import AgreeGoal, AssignHomework, CompleteHomework
from rapport_goals.domain.events import GoalWorded, HomeworkInstructed
from rapport_goals.domain.model import Goal, Homework, plan_from_session
from rapport_shared.contracts.base import EventContract
from rapport_shared.contracts.errors import DomainError, InvalidState, NotFound
from rapport_shared.contracts.goals import GoalAgreed, HomeworkAssigned, PlanItemRefused
from rapport_shared.contracts.history import found
from rapport_shared.contracts.plan import (
    AgreedGoal,
    AgreedHomework,
    GoalWording,
    PlanWording,
    split,
)
from rapport_shared.contracts.sessions import SessionClosed

NOW = datetime(2026, 3, 10, 5, 0, tzinfo=UTC)
CLINIC = "northside"


def agree_goal(due_date: date, **changes: object) -> AgreeGoal:
    command = AgreeGoal(
        clinic_id=CLINIC,
        goal_id=uuid4(),
        client_id="client-ana",
        counselor_id="dr-okafor",
        description="Walk three times a week",
        measure="walks logged",
        target="3 per week",
        due_date=due_date,
    )
    return replace(command, **changes)  # type: ignore[arg-type]


def assign_homework(due_at: datetime, goal_id: UUID | None = None, **changes: object):
    command = AssignHomework(
        clinic_id=CLINIC,
        homework_id=uuid4(),
        client_id="client-ana",
        counselor_id="dr-okafor",
        instructions="Log each walk",
        due_at=due_at,
        goal_id=goal_id,
    )
    return replace(command, **changes)  # type: ignore[arg-type]


def closed_session(
    goals: int = 2, homework: tuple[int | None, ...] = (1, None, 0), closed_at: datetime = NOW
) -> tuple[SessionClosed, PlanWording]:
    """goals goals, and one homework per entry of homework, serving the goal at that index:
    session-closed (the structure) and the plan's words, as the goals service unseals them."""
    planned_goals, planned_homework, wording = split(
        [
            AgreedGoal(
                description=f"goal {i}",
                measure="m",
                target="t",
                due_date=closed_at.date() + timedelta(days=30),
            )
            for i in range(goals)
        ],
        [
            AgreedHomework(
                instructions=f"homework {i}",
                due_at=closed_at + timedelta(days=i + 1),
                goal_index=g,
            )
            for i, g in enumerate(homework)
        ],
    )
    closed = SessionClosed(
        clinic_id=CLINIC,
        session_id=uuid4(),
        client_id="client-ana",
        counselor_id="dr-okafor",
        closed_at=closed_at,
        goals=planned_goals,
        homework=planned_homework,
    )
    return closed, wording


def public_events(plan: list[tuple[str, list[EventContract]]]) -> list[EventContract]:
    return [events[0] for _, events in plan]


# --- Goal ---------------------------------------------------------------------------------


def test_a_goal_is_agreed_with_what_the_command_says():
    command = agree_goal(date(2026, 6, 1))
    event = Goal.agree(command, agreed_at=NOW)
    assert (event.goal_id, event.client_id, event.due_date) == (
        command.goal_id,
        "client-ana",
        date(2026, 6, 1),
    )
    assert event.agreed_at == NOW and event.session_id is None


def test_a_goal_due_before_the_earliest_calendar_day_on_earth_is_refused():
    # At 05:00 UTC it is still 9 March in UTC-12 zones: the 9th is not past yet, the 8th is.
    assert Goal.agree(agree_goal(date(2026, 3, 9)), agreed_at=NOW).due_date == date(2026, 3, 9)
    with pytest.raises(DomainError) as refused:
        Goal.agree(agree_goal(date(2026, 3, 8)), agreed_at=NOW)
    assert refused.value.field == "due_date" and refused.value.status == 422


def test_a_goal_is_found_only_from_its_agreement():
    event = Goal.agree(agree_goal(date(2026, 6, 1)), agreed_at=NOW)
    goal = Goal.from_history([event])
    assert goal is not None and goal.version == 1
    assert (goal.goal_id, goal.clinic_id, goal.client_id, goal.due_date) == (
        event.goal_id,
        CLINIC,
        "client-ana",
        date(2026, 6, 1),
    )
    with pytest.raises(NotFound):
        found([], GoalAgreed, CLINIC, name="goal", aggregate_id=event.goal_id)


# --- Homework -----------------------------------------------------------------------------


def _goal(client_id: str = "client-ana", clinic_id: str = CLINIC) -> Goal:
    return Goal(uuid4(), clinic_id, client_id)


def test_homework_may_serve_a_goal_of_the_same_client_and_clinic():
    goal = _goal()
    event = Homework.assign(assign_homework(NOW + timedelta(days=1), goal.goal_id), goal, NOW)
    assert event.goal_id == goal.goal_id and event.assigned_at == NOW


@pytest.mark.parametrize(
    "goal",
    [None, _goal(client_id="client-ben"), _goal(clinic_id="riverside")],
    ids=["unknown goal", "another client's goal", "another clinic's goal"],
)
def test_homework_for_a_goal_that_is_not_the_clients_is_refused(goal):
    goal_id = goal.goal_id if goal else uuid4()
    with pytest.raises(DomainError) as refused:
        Homework.assign(assign_homework(NOW + timedelta(days=1), goal_id), goal, NOW)
    assert refused.value.field == "goal_id" and refused.value.status == 422


def test_homework_for_a_goal_that_has_ended_is_refused():
    ended = replace(_goal(), lifecycle_status="completed")
    with pytest.raises(DomainError) as refused:
        Homework.assign(assign_homework(NOW + timedelta(days=1), ended.goal_id), ended, NOW)
    assert refused.value.field == "goal_id"


def test_homework_must_be_due_after_it_is_assigned():
    with pytest.raises(DomainError) as refused:
        Homework.assign(assign_homework(NOW), None, NOW)
    assert refused.value.field == "due_at"


def done(homework: Homework, completed_at: datetime | None, **changes: object):
    return CompleteHomework(CLINIC, homework.homework_id, completed_at, **changes)  # type: ignore[arg-type]


def _assigned(due_at: datetime) -> HomeworkAssigned:
    return Homework.assign(assign_homework(due_at), None, assigned_at=NOW - timedelta(days=1))


@pytest.mark.parametrize(
    "completed_at, on_time",
    [(NOW - timedelta(seconds=1), True), (NOW, True), (NOW + timedelta(seconds=1), False)],
    ids=["before due", "exactly at due", "after due"],
)
def test_completion_carries_due_at_so_anyone_can_tell_it_was_on_time(completed_at, on_time):
    assigned = _assigned(due_at=NOW)
    homework = Homework.from_history([assigned])
    [completed] = homework.complete(done(homework, completed_at), now=NOW + timedelta(days=1))
    assert completed.due_at == NOW and completed.completed_at == completed_at
    assert completed.on_time is on_time
    assert (completed.homework_id, completed.client_id) == (assigned.homework_id, "client-ana")


def test_completing_twice_is_a_conflict():
    assigned = _assigned(due_at=NOW)
    fresh = Homework.from_history([assigned])
    first = fresh.complete(done(fresh, NOW), now=NOW)
    homework = Homework.from_history([assigned, *first])
    assert homework.version == 2 and homework.completed_at == NOW
    with pytest.raises(InvalidState) as refused:
        homework.complete(done(homework, NOW), now=NOW)
    assert refused.value.status == 409


@pytest.mark.parametrize(
    "completed_at", [NOW + timedelta(seconds=1), NOW - timedelta(days=2)], ids=["future", "early"]
)
def test_completion_in_the_future_or_before_assignment_is_refused(completed_at):
    assigned = _assigned(due_at=NOW + timedelta(days=1))
    homework = Homework.from_history([assigned])
    with pytest.raises(DomainError) as refused:
        homework.complete(done(homework, completed_at), now=NOW)
    assert refused.value.field == "completed_at" and refused.value.status == 422


def test_unknown_or_another_clinics_homework_is_not_found():
    assigned = _assigned(due_at=NOW)
    for clinic, history in ((CLINIC, []), ("riverside", [assigned])):
        with pytest.raises(NotFound) as missing:
            found(
                history,
                HomeworkAssigned,
                clinic,
                name="homework",
                aggregate_id=assigned.homework_id,
            )
        assert missing.value.status == 404


# --- The plan of a closed session ---------------------------------------------------------


def test_plan_ids_derive_from_the_session_so_a_redelivery_plans_the_same_streams():
    session, wording = closed_session()
    plan = plan_from_session(session, wording)
    assert plan == plan_from_session(session, wording)
    goals = [e for e in public_events(plan) if isinstance(e, GoalAgreed)]
    homework = [e for e in public_events(plan) if isinstance(e, HomeworkAssigned)]
    assert [g.goal_id for g in goals] == [uuid5(session.session_id, f"goal-{i}") for i in (0, 1)]
    assert [h.homework_id for h in homework] == [
        uuid5(session.session_id, f"homework-{i}") for i in (0, 1, 2)
    ]
    assert [stream for stream, _ in plan] == [f"goal-{g.goal_id}" for g in goals] + [
        f"homework-{h.homework_id}" for h in homework
    ]
    other = plan_from_session(replace_session_id(session), wording)
    assert not {s for s, _ in plan} & {s for s, _ in other}


def test_plan_words_go_in_private_events_next_to_the_public_ones():
    plan = plan_from_session(*closed_session(goals=1, homework=(0,)))
    (_, [agreed, worded]), (_, [assigned, instructed]) = plan
    assert isinstance(worded, GoalWorded) and isinstance(instructed, HomeworkInstructed)
    assert (worded.public, instructed.public) == (False, False)
    assert GoalWording.model_validate_json(worded.wording).description == "goal 0"
    assert instructed.instructions == "homework 0"
    assert "goal 0" not in agreed.model_dump_json()
    assert "homework 0" not in assigned.model_dump_json()


def replace_session_id(session: SessionClosed) -> SessionClosed:
    return session.model_copy(update={"session_id": uuid4()})


def test_plan_homework_serves_the_goal_its_index_points_at():
    session, wording = closed_session(goals=2, homework=(1, None, 0))
    _, _, *homework = public_events(plan_from_session(session, wording))
    goal_id = [uuid5(session.session_id, f"goal-{i}") for i in (0, 1)]
    assert [h.goal_id for h in homework] == [goal_id[1], None, goal_id[0]]
    assert {(h.session_id, h.client_id, h.assigned_at) for h in homework} == {
        (session.session_id, "client-ana", NOW)
    }


def test_plan_is_judged_as_of_the_close_so_a_late_redelivery_still_plans():
    long_ago = datetime(2020, 1, 1, tzinfo=UTC)
    goal, homework = public_events(plan_from_session(*closed_session(1, (0,), closed_at=long_ago)))
    assert isinstance(goal, GoalAgreed) and goal.agreed_at == long_ago
    assert isinstance(homework, HomeworkAssigned) and homework.goal_id == goal.goal_id


def test_plan_item_that_breaks_a_rule_is_refused_alone_and_the_rest_applies():
    session, wording = closed_session(goals=1, homework=(None, 1))
    (_, [agreed, _]), (_, [assigned, _]), (stream, [refused]) = plan_from_session(session, wording)
    assert isinstance(agreed, GoalAgreed) and isinstance(assigned, HomeworkAssigned)
    homework_id = uuid5(session.session_id, "homework-1")
    assert stream == f"homework-{homework_id}"
    assert isinstance(refused, PlanItemRefused)
    assert (refused.kind, refused.item_index, refused.item_id) == ("homework", 1, homework_id)
    assert (refused.reason, refused.field) == ("goal-index", "homework.1.goal_index")
    assert (refused.session_id, refused.counselor_id) == (session.session_id, session.counselor_id)


def test_homework_serving_a_refused_goal_is_refused_with_it():
    def no_goals(kind, item):
        if kind == "goal":
            raise DomainError("no goals today", field="due_date")

    session, wording = closed_session(goals=1, homework=(0, None))
    plan = plan_from_session(session, wording, no_goals)
    (_, [goal]), (_, [homework]), (_, [assigned, _]) = plan
    assert isinstance(goal, PlanItemRefused) and isinstance(homework, PlanItemRefused)
    # A goals-side rule with no code of its own: "rule-broken"; its field named as in the plan.
    assert (goal.reason, goal.field) == ("rule-broken", "goals.0.due_date")
    assert (homework.reason, homework.field) == ("goal-refused", "homework.0.goal_index")
    assert isinstance(assigned, HomeworkAssigned) and assigned.goal_id is None


def test_an_empty_plan_creates_nothing():
    assert plan_from_session(*closed_session(goals=0, homework=())) == []


def test_a_refusal_names_the_item_when_its_rule_names_no_field_of_the_request():
    def odd_rule(kind, item):
        raise DomainError("refused", field="Not a field!" if kind == "goal" else "x" * 300)

    session, wording = closed_session(goals=1, homework=(None,))
    (_, [goal]), (_, [homework]) = plan_from_session(session, wording, odd_rule)
    assert (goal.field, homework.field) == ("goals.0", "homework.0")
    assert (goal.reason, homework.reason) == ("rule-broken", "rule-broken")
