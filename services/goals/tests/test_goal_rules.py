"""The goal's clinical terms, FHIR lifecycle, revisions and reviews; adherence and the
unrealistic flag: pure, no I/O."""

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from uuid import uuid4

import pytest

from rapport_goals.domain import progress, status
from rapport_goals.domain.commands import AgreeGoal, ChangeGoalStatus, ReviewGoal, ReviseGoal
from rapport_goals.domain.events import GoalWorded, HomeworkInstructed
from rapport_goals.domain.goal import Goal
from rapport_goals.domain.model import plan_from_session
from rapport_shared.contracts.errors import DomainError, InvalidState, NotFound
from rapport_shared.contracts.goals import (
    GoalAgreed,
    GoalRevised,
    GoalStatusChanged,
    HomeworkAssigned,
    PlanItemRefused,
)
from rapport_shared.contracts.history import found
from rapport_shared.contracts.plan import (
    AgreedGoal,
    AgreedHomework,
    GasLevel,
    GoalWording,
    Milestone,
    PlanWording,
    split,
)
from rapport_shared.contracts.sessions import Recurrence, SessionClosed

NOW = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
DUE = date(2026, 6, 1)
SCALE = tuple(GasLevel(level=n, description=f"level {n}") for n in (-2, -1, 0, 1, 2))


def agree(**changes: object) -> AgreeGoal:
    command = AgreeGoal(
        clinic_id="northside",
        goal_id=uuid4(),
        client_id="client-ana",
        counselor_id="dr-okafor",
        description="Walk three times a week",
        measure="walks logged",
        target="3 per week",
        due_date=DUE,
    )
    return replace(command, **changes)  # type: ignore[arg-type]


def goal_with(*later, **changes) -> tuple[Goal, list]:
    command = agree(**changes)
    agreed = Goal.agree(command, agreed_at=NOW)
    events = [agreed, Goal.worded(command), *later]
    goal = Goal.from_history(events)
    return goal, events


def test_a_goal_carries_its_clinical_terms():
    milestones = (Milestone(description="First walk", due_date=date(2026, 3, 20)),)
    event = Goal.agree(
        agree(
            type="emotional",
            horizon="long-term",
            priority="high",
            review_every_days=14,
            milestones=milestones,
            gas_scale=SCALE,
            gas_weight=2.0,
        ),
        agreed_at=NOW,
    )
    assert (event.type, event.horizon, event.priority, event.review_every_days) == (
        "emotional",
        "long-term",
        "high",
        14,
    )
    assert [m.due_date for m in event.milestones] == [date(2026, 3, 20)]
    assert [g.level for g in event.gas_scale or ()] == [-2, -1, 0, 1, 2]
    assert event.gas_weight == 2
    assert "First walk" not in event.model_dump_json()
    assert (event.lifecycle_status, event.achievement_status) == ("active", "in-progress")


@pytest.mark.parametrize(
    "changes, field",
    [
        (
            {"milestones": (Milestone(description="late", due_date=DUE + timedelta(1)),)},
            "milestones.0.due_date",
        ),
        ({"gas_scale": SCALE[:4]}, "gas_scale"),
        ({"gas_weight": 0.0}, "gas_weight"),
        ({"review_every_days": 0}, "review_every_days"),
        ({"due_date": date(2026, 3, 1)}, "due_date"),
    ],
)
def test_terms_that_break_a_rule_are_refused(changes, field):
    with pytest.raises(DomainError) as refused:
        Goal.agree(agree(**changes), agreed_at=NOW)
    assert refused.value.field == field


@pytest.mark.parametrize(
    "current, new, allowed",
    [
        ("proposed", "accepted", True),
        ("proposed", "rejected", True),
        ("planned", "active", True),
        ("accepted", "active", True),
        ("active", "on-hold", True),
        ("on-hold", "active", True),
        ("active", "completed", True),
        ("active", "active", True),  # the achievement status alone changes
        ("active", "proposed", False),
        ("on-hold", "completed", False),
        ("active", "rejected", False),
        ("completed", "active", False),
        ("cancelled", "active", False),
        ("rejected", "accepted", False),
        ("completed", "completed", False),
        ("completed", "entered-in-error", True),
        ("rejected", "entered-in-error", True),
        ("active", "entered-in-error", True),
        ("entered-in-error", "entered-in-error", False),
        ("entered-in-error", "active", False),
    ],
)
def test_the_lifecycle_transition_table(current, new, allowed):
    assert status.may_move(current, new) is allowed


def _status(goal: Goal, lifecycle, achievement=None) -> GoalStatusChanged:
    return goal.change_status(
        ChangeGoalStatus("northside", goal.goal_id, lifecycle, achievement), NOW
    )


def test_status_changes_follow_the_table_and_keep_the_achievement_unless_given():
    goal, events = goal_with()
    held = _status(goal, "on-hold")
    assert (held.lifecycle_status, held.achievement_status) == ("on-hold", "in-progress")
    goal, events = goal_with(held)
    assert goal.lifecycle_status == "on-hold" and goal.version == 3  # agreed, worded, held
    with pytest.raises(InvalidState) as refused:
        _status(goal, "completed")
    assert refused.value.field == "lifecycle_status" and refused.value.status == 409
    with pytest.raises(InvalidState):
        _status(goal, "on-hold")  # nothing would change
    done = _status(goal_with(_status(goal, "active"))[0], "completed", "achieved")
    assert (done.lifecycle_status, done.achievement_status) == ("completed", "achieved")


def test_a_revision_names_only_what_changed_and_an_ended_goal_cannot_be_revised():
    goal, _ = goal_with()
    revised, worded = goal.revise(
        ReviseGoal("northside", goal.goal_id, "dr-okafor", target="4 per week"), NOW
    )
    assert isinstance(revised, GoalRevised) and isinstance(worded, GoalWorded)
    assert revised.wording_revised and revised.due_date is None
    assert revised.revised_by == "dr-okafor"
    assert "4 per week" not in revised.model_dump_json()
    words = GoalWording.model_validate_json(worded.wording)
    assert (words.target, words.description) == ("4 per week", goal.wording.description)
    [dated] = goal.revise(
        ReviseGoal("northside", goal.goal_id, "dr-okafor", due_date=DUE + timedelta(1)), NOW
    )
    assert isinstance(dated, GoalRevised) and not dated.wording_revised
    with pytest.raises(DomainError) as empty:
        goal.revise(ReviseGoal("northside", goal.goal_id, "dr-okafor"), NOW)
    assert empty.value.field == "body"
    ended, _ = goal_with(_status(goal, "cancelled"))
    with pytest.raises(InvalidState):
        ended.revise(ReviseGoal("northside", goal.goal_id, "dr-okafor", target="x"), NOW)


def test_a_revision_keeps_milestones_within_the_due_date():
    milestone = Milestone(description="First walk", due_date=date(2026, 5, 1))
    goal, _ = goal_with(milestones=(milestone,))
    with pytest.raises(DomainError) as refused:
        goal.revise(
            ReviseGoal("northside", goal.goal_id, "dr-okafor", due_date=date(2026, 4, 1)), NOW
        )
    assert refused.value.field == "milestones.0.due_date"
    # Its own due date may have passed; only a new one must lie ahead.
    later = NOW + timedelta(days=120)
    assert goal.revise(ReviseGoal("northside", goal.goal_id, "dr-okafor", target="x"), later)
    with pytest.raises(DomainError) as past:
        goal.revise(ReviseGoal("northside", goal.goal_id, "dr-okafor", due_date=DUE), later)
    assert past.value.field == "due_date"


def test_a_review_needs_a_level_exactly_when_the_goal_has_a_scale():
    scaled, _ = goal_with(gas_scale=SCALE)
    plain, _ = goal_with()
    reviewed = scaled.review(
        ReviewGoal("northside", scaled.goal_id, "dr-okafor", "improving", 1), NOW
    )
    assert (reviewed.attained_level, reviewed.achievement_status) == (1, "improving")
    for goal, level in ((scaled, None), (plain, 0)):
        with pytest.raises(DomainError) as refused:
            goal.review(ReviewGoal("northside", goal.goal_id, "dr-okafor", "no-change", level), NOW)
        assert refused.value.field == "attained_level"
    assert plain.review(ReviewGoal("northside", plain.goal_id, "dr-okafor", "no-change"), NOW)
    after, _ = goal_with(reviewed, gas_scale=SCALE)
    assert after.achievement_status == "improving"


def test_another_clinics_goal_is_not_found():
    agreed = Goal.agree(agree(), agreed_at=NOW)
    with pytest.raises(NotFound):
        found([agreed], GoalAgreed, "riverside", name="goal", aggregate_id=agreed.goal_id)


def closed(goals=(), homework=()) -> tuple[SessionClosed, PlanWording]:
    planned_goals, planned_homework, wording = split(goals, homework)
    session = SessionClosed(
        clinic_id="northside",
        session_id=uuid4(),
        client_id="client-ana",
        counselor_id="dr-okafor",
        closed_at=NOW,
        goals=planned_goals,
        homework=planned_homework,
    )
    return session, wording


def test_a_session_plan_carries_the_goal_terms_and_names_the_item_at_fault():
    sleep = AgreedGoal(
        description="Sleep by 23:00",
        measure="nights",
        target="5 a week",
        due_date=DUE,
        type="cognitive",
        gas_scale=SCALE,
        gas_weight=1.5,
        milestones=(Milestone(description="first week", due_date=date(2026, 3, 17)),),
    )
    [(_, [agreed, worded])] = plan_from_session(*closed([sleep]))
    assert isinstance(agreed, GoalAgreed) and isinstance(worded, GoalWorded)
    assert (agreed.type, agreed.gas_weight) == ("cognitive", 1.5)
    assert [g.level for g in agreed.gas_scale or ()] == [-2, -1, 0, 1, 2]
    words = GoalWording.model_validate_json(worded.wording)
    assert (words.milestones, words.gas_levels[0]) == (("first week",), "level -2")
    plan = plan_from_session(*closed([sleep, sleep.model_copy(update={"gas_scale": SCALE[:2]})]))
    (_, [refused]) = plan[1]
    assert isinstance(refused, PlanItemRefused)
    assert (refused.field, refused.reason) == ("goals.1.gas_scale", "gas-scale-levels")


# --- Adherence and the unrealistic flag ---------------------------------------------------


def _outcome(day: int, completed: bool = True, on_time: bool = True) -> progress.Outcome:
    return progress.Outcome(NOW + timedelta(days=day), completed, completed and on_time)


def test_adherence_counts_due_completed_and_on_time_and_the_current_streak():
    found = progress.adherence(
        [
            _outcome(3),
            _outcome(0),
            _outcome(1, completed=False),
            _outcome(2),
            _outcome(4, on_time=False),
        ]
    )
    assert (found.due, found.completed, found.on_time) == (5, 4, 3)
    assert (found.rate, found.on_time_rate) == (0.8, 0.6)
    assert found.streak == 0  # the latest was late
    assert progress.adherence([_outcome(1, completed=False), _outcome(2), _outcome(3)]).streak == 2
    empty = progress.adherence([])
    assert (empty.due, empty.rate, empty.streak) == (0, None, 0)


@pytest.mark.parametrize(
    "levels, rate, flagged",
    [
        ([-1, -1, -1], 0.4, True),
        ([0, 1, -1], 0.4, True),  # the latest no higher than the first of the three
        ([-2, -1, -1], 0.4, False),  # a gain
        ([-1, -1, -1], 0.5, False),  # adherence at the threshold
        ([-1, -1], 0.0, False),  # fewer than three reviews
        ([-1, -1, -1], None, False),  # nothing due yet
        ([2, -1, -1, -1], 0.1, True),  # only the last three count
    ],
)
def test_a_goal_is_unrealistic_with_no_gain_over_three_reviews_and_low_adherence(
    levels, rate, flagged
):
    assert progress.unrealistic(levels, rate, threshold=0.5) is flagged


def test_a_session_plan_carries_homework_terms_and_names_the_homework_at_fault():
    weekly = Recurrence(frequency="weekly", weekdays=("mon",), until=date(2026, 4, 30))
    homework = AgreedHomework(
        instructions="Thought record",
        due_at=NOW + timedelta(days=1),
        recurrence=weekly,
        type="journaling",
        reminder_lead_minutes=60,
    )
    [(_, [assigned, instructed])] = plan_from_session(*closed(homework=[homework]))
    assert isinstance(assigned, HomeworkAssigned) and isinstance(instructed, HomeworkInstructed)
    assert (assigned.recurrence, assigned.type, assigned.reminder_lead_minutes) == (
        weekly,
        "journaling",
        60,
    )
    assert instructed.instructions == "Thought record"
    bad = weekly.model_copy(update={"time_zone": "Nowhere/Land"})
    plan = plan_from_session(
        *closed(homework=[homework, homework.model_copy(update={"recurrence": bad})])
    )
    (_, [refused]) = plan[1]
    assert isinstance(refused, PlanItemRefused)
    assert (refused.field, refused.reason) == (
        "homework.1.recurrence.time_zone",
        "time-zone-unknown",
    )
