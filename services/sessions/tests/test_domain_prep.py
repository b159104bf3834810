"""The prep brief's pure rules: folding goal facts in any order, outcomes since the last
session, measure changes, the open alliance alert, open risk flags and measures due or missed."""

import itertools
from datetime import UTC, date, datetime, timedelta
from uuid import uuid4

from rapport_sessions.domain.prep import (
    AllianceAlert,
    GoalFact,
    Measure,
    MeasureAsk,
    Outcome,
    RiskFlag,
    asks_due,
    asks_missed,
    fold_goals,
    latest_measures,
    open_alert,
    open_risk_flags,
    outcomes_since,
)

T0 = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)


def test_goal_facts_fold_to_the_same_goal_in_any_arrival_order() -> None:
    goal_id = uuid4()
    facts = [
        GoalFact(
            goal_id, "agreed", T0, "walk", "5/week", date(2027, 1, 1), "active", "in-progress"
        ),
        GoalFact(goal_id, "revised", T0 + timedelta(days=1), target="6/week"),
        GoalFact(goal_id, "revised", T0 + timedelta(days=2), description="walk daily"),
        GoalFact(
            goal_id, "reviewed", T0 + timedelta(days=3), achievement_status="improving", gas_level=1
        ),
        GoalFact(goal_id, "reviewed", T0 + timedelta(days=4), achievement_status="improving"),
        GoalFact(
            goal_id,
            "status",
            T0 + timedelta(days=5),
            lifecycle_status="on-hold",
            achievement_status="no-change",
        ),
    ]
    results = {tuple(fold_goals(list(order))) for order in itertools.permutations(facts)}
    assert len(results) == 1
    (goal,) = results.pop()
    assert (goal.description, goal.target, goal.due_date) == (
        "walk daily",
        "6/week",
        date(2027, 1, 1),
    )
    assert (goal.lifecycle_status, goal.achievement_status) == ("on-hold", "no-change")
    assert (goal.gas_level, goal.gas_reviewed_at) == (1, T0 + timedelta(days=3))
    assert goal.is_open


def test_a_goal_is_shown_once_agreed_and_closed_goals_are_not_open() -> None:
    goal_id = uuid4()
    revision = GoalFact(goal_id, "revised", T0, target="x")
    assert fold_goals([revision]) == []
    agreed = GoalFact(goal_id, "agreed", T0 + timedelta(seconds=1), "d", "t", date(2027, 1, 1))
    done = GoalFact(goal_id, "status", T0 + timedelta(days=1), lifecycle_status="completed")
    # A fact stamped before the agreement still applies once the agreement is known.
    (goal,) = fold_goals([revision, agreed])
    assert goal.target == "x"
    (goal,) = fold_goals([agreed, done])
    assert not goal.is_open


def test_outcomes_since_the_last_session_count_a_late_completion_as_done() -> None:
    h1, h2 = uuid4(), uuid4()
    since = T0 + timedelta(days=1)
    outcomes = [
        Outcome(h1, T0, "done", T0, self_rating=3),  # before the last session
        Outcome(h1, since + timedelta(days=1), "done", since + timedelta(days=1), self_rating=8),
        Outcome(h2, since + timedelta(days=2), "missed", since + timedelta(days=2, hours=1)),
        Outcome(h2, since + timedelta(days=3), "missed", since + timedelta(days=3, hours=1)),
        Outcome(h2, since + timedelta(days=3), "done", since + timedelta(days=4)),
    ]
    kept = outcomes_since(outcomes, since)
    assert [(o.homework_id, o.outcome, o.self_rating) for o in kept] == [
        (h1, "done", 8),
        (h2, "missed", None),
        (h2, "done", None),
    ]
    assert len(outcomes_since(outcomes, None)) == 4


def test_each_instrument_shows_its_latest_score_and_change() -> None:
    measures = [
        Measure("PHQ-9", 18, "moderately severe", T0 + timedelta(days=7)),
        Measure("PHQ-9", 12, "moderate", T0 + timedelta(days=14)),
        Measure("PHQ-9", 20, "severe", T0),
        Measure("GAD-7", 9, "mild", T0),
    ]
    changes = latest_measures(measures)
    assert [(c.instrument, c.total, c.previous_total, c.change) for c in changes] == [
        ("GAD-7", 9, None, None),
        ("PHQ-9", 12, 18, -6),
    ]


def test_an_alliance_alert_stays_open_until_a_later_srs_reaches_the_threshold() -> None:
    alert = AllianceAlert(uuid4(), 30, 36, T0)
    older = AllianceAlert(uuid4(), 20, 36, T0 - timedelta(days=7))
    assert open_alert([], []) is None
    assert open_alert([older, alert], [Measure("SRS", 30, None, T0)]) == alert
    assert open_alert([alert], [Measure("SRS", 35, None, T0 + timedelta(days=7))]) == alert
    assert open_alert([alert], [Measure("ORS", 39, None, T0 + timedelta(days=7))]) == alert
    assert open_alert([alert], [Measure("SRS", 36, None, T0 + timedelta(days=7))]) is None


def test_a_risk_flag_is_open_from_its_raising_until_its_acknowledgement() -> None:
    raised = RiskFlag(uuid4(), "PHQ-9", 9, 3, raised_at=T0 + timedelta(days=1))
    earlier = RiskFlag(uuid4(), "PHQ-9", 9, 1, raised_at=T0)
    seen = RiskFlag(uuid4(), "PHQ-9", 9, 2, raised_at=T0, acknowledged_at=T0 + timedelta(hours=1))
    # Its acknowledgement arrived and its raising not yet: nothing to show.
    acknowledgement_only = RiskFlag(uuid4(), acknowledged_at=T0)
    flags = [raised, seen, acknowledgement_only, earlier]
    assert open_risk_flags(flags) == [earlier, raised]


def test_measures_due_are_the_open_asks_and_missed_ones_count_since_the_last_session() -> None:
    def ask(due_days: int, outcome: str | None = None, instrument: str = "PHQ-9") -> MeasureAsk:
        due = T0 + timedelta(days=due_days)
        closed = None if outcome is None else due + timedelta(hours=2)
        return MeasureAsk(uuid4(), instrument, "every-n-days", None, due, due, due, outcome, closed)

    later, sooner = ask(5), ask(2, instrument="GAD-7")
    missed_before, missed_since = ask(-3, "missed"), ask(1, "missed")
    fulfilled, withdrawn = ask(3, "fulfilled"), ask(4, "withdrawn")
    # Its closing arrived before its request: not known yet.
    closing_only = MeasureAsk(uuid4(), "ORS", outcome="missed", closed_at=T0)
    asks = [later, missed_since, fulfilled, sooner, withdrawn, missed_before, closing_only]
    assert asks_due(asks) == [sooner, later]
    assert asks_missed(asks, since=T0) == [missed_since]
    assert asks_missed(asks, since=None) == [missed_before, missed_since]
