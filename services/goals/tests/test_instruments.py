"""The table per instrument and its classification, on worked cases (pure code)."""

from datetime import UTC, datetime
from uuid import uuid4

import pytest

from rapport_goals.domain import measures, risk
from rapport_goals.domain.instruments import RULES, classify_series, risk_answers
from rapport_shared.contracts.errors import DomainError, InvalidState
from rapport_shared.contracts.goals import MeasureRecorded

NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
MEASURE = uuid4()


def test_the_table_holds_the_published_figures() -> None:
    assert {name: rules.max_total for name, rules in RULES.items()} == {
        "PHQ-9": 27,
        "GAD-7": 21,
        "ORS": 40,
        "SRS": 40,
    }
    assert (RULES["ORS"].clinical_cutoff, RULES["ORS"].reliable_change) == (25, 5)
    assert RULES["SRS"].alliance_cutoff == 36
    # The paired NHS Talking Therapies classification reads the same table.
    assert measures.CASENESS == {"PHQ-9": 10, "GAD-7": 8}
    assert measures.RELIABLE_CHANGE == {"PHQ-9": 6, "GAD-7": 4}
    assert measures.DEFAULT_ALLIANCE_THRESHOLD == 36
    assert all(rules.sources for rules in RULES.values())


@pytest.mark.parametrize(
    ("totals", "outcome", "change", "recovery", "reliable_recovery"),
    [
        # A case (15 >= 10), down by 7 (>= 6) to below caseness: recovered, reliably.
        ([15, 8], "reliable improvement", 7, "recovered", "recovered"),
        # Below caseness now but down by only 3: recovered, not reliably.
        ([12, 9], "no reliable change", 3, "recovered", "not recovered"),
        # Not a case at the start: recovery does not apply, whatever happens after.
        ([5, 12], "reliable deterioration", -7, "not applicable", "not applicable"),
        # Down by exactly the reliable change, still a case.
        ([22, 16], "reliable improvement", 6, "not recovered", "not recovered"),
        # Only the first and the latest count.
        ([20, 3, 19], "no reliable change", 1, "not recovered", "not recovered"),
    ],
)
def test_phq9_series(
    totals: list[int], outcome: str, change: int, recovery: str, reliable_recovery: str
) -> None:
    found = classify_series("PHQ-9", totals)
    assert (found.outcome, found.change, found.recovery, found.reliable_recovery) == (
        outcome,
        change,
        recovery,
        reliable_recovery,
    )
    assert found.latest_band == measures.band("PHQ-9", totals[-1])


def test_one_measurement_is_no_change() -> None:
    found = classify_series("PHQ-9", [14])
    assert found.change is None
    assert found.outcome == "not applicable"
    assert found.recovery == found.reliable_recovery == "not applicable"
    assert found.case_at_start is found.case_now is True
    assert "a change needs two measurements" in found.rules


@pytest.mark.parametrize(
    ("totals", "outcome", "case_at_start", "case_now", "recovery"),
    [
        # Higher is better on the ORS; a case is below 25.
        ([18, 24], "reliable improvement", True, True, "not recovered"),
        ([20, 26], "reliable improvement", True, False, "recovered"),
        ([24, 29], "reliable improvement", True, False, "recovered"),  # exactly 5 up
        ([25, 21], "no reliable change", False, True, "not applicable"),  # 4 down
        ([30, 25], "reliable deterioration", False, False, "not applicable"),
    ],
)
def test_ors_series(
    totals: list[int], outcome: str, case_at_start: bool, case_now: bool, recovery: str
) -> None:
    found = classify_series("ORS", totals)
    assert (found.outcome, found.case_at_start, found.case_now, found.recovery) == (
        outcome,
        case_at_start,
        case_now,
        recovery,
    )
    assert "ORS case: total below 25" in found.rules


def test_srs_has_an_alliance_concern_and_no_outcome() -> None:
    low = classify_series("SRS", [38, 35])
    assert low.alliance_concern is True
    assert low.outcome == low.recovery == "not applicable"
    assert low.case_at_start is None
    assert classify_series("SRS", [30, 36]).alliance_concern is False
    assert classify_series("PHQ-9", [3, 4]).alliance_concern is None


@pytest.mark.parametrize(("answer", "threshold", "flagged"), [(0, 1, 0), (1, 1, 1), (3, 1, 3)])
def test_phq9_item_9_is_a_risk_item(answer: int, threshold: int, flagged: int) -> None:
    items = [0] * 8 + [answer]
    found = risk_answers("PHQ-9", items, threshold)
    assert [(risk.number, score) for risk, score in found] == ([(9, flagged)] if flagged else [])


def test_a_clinic_threshold_of_2_lets_a_1_pass() -> None:
    assert risk_answers("PHQ-9", [0] * 8 + [1], threshold=2) == []
    assert risk_answers("PHQ-9", [3] * 8 + [0], threshold=1) == []  # other items are no risk
    assert risk_answers("GAD-7", [3] * 7, threshold=1) == []


# Risk flags (rapport_goals.domain.risk), on the same worked cases.


def _phq9(item_9: int, others: int = 0) -> MeasureRecorded:
    items = (others,) * 8 + (item_9,)
    return MeasureRecorded(
        clinic_id="northside",
        measure_id=MEASURE,
        client_id="alice",
        instrument="PHQ-9",
        items=items,
        total=sum(items),
        band=measures.band("PHQ-9", sum(items)),
        recorded_at=NOW,
    )


@pytest.mark.parametrize(("item_9", "raised"), [(0, False), (1, True), (3, True)])
def test_item_9_raises_a_flag_whatever_the_total(item_9: int, raised: bool) -> None:
    flags = risk.raise_flags(_phq9(item_9), risk.RiskPolicy(), ["kim", "lee"], NOW)
    assert len(flags) == int(raised)
    if raised:
        (flag,) = flags
        assert (flag.item, flag.score, flag.threshold) == (9, item_9, 1)
        assert flag.alert_recipient_ids == ("kim", "lee")
        assert flag.flag_id == risk.flag_id(MEASURE, 9)  # the same measure, the same flag


def test_the_clinic_chooses_the_threshold_and_whom_to_alert() -> None:
    policy = risk.RiskPolicy(threshold=2, alert_care_team=False, admin_ids=("ada", "kim"))
    assert risk.raise_flags(_phq9(1, others=3), policy, ["kim"], NOW) == []
    (flag,) = risk.raise_flags(_phq9(2), policy, ["kim"], NOW)
    assert flag.alert_recipient_ids == ("ada", "kim")
    both = risk.RiskPolicy(admin_ids=("ada", "kim"))
    assert both.recipients(["kim", "lee"]) == ("kim", "lee", "ada")


@pytest.mark.parametrize(
    ("policy", "field"),
    [
        (risk.RiskPolicy(threshold=0), "threshold"),
        (risk.RiskPolicy(threshold=4), "threshold"),
        (risk.RiskPolicy(alert_care_team=False), "alert_care_team"),
        (risk.RiskPolicy(admin_ids=tuple(f"a{n}" for n in range(21))), "admin_ids"),
    ],
)
def test_a_policy_that_alerts_nobody_or_cannot_fire_is_refused(
    policy: risk.RiskPolicy, field: str
) -> None:
    with pytest.raises(DomainError) as refused:
        policy.check()
    assert refused.value.field == field


def test_a_flag_is_acknowledged_once() -> None:
    (raised,) = risk.raise_flags(_phq9(3), risk.RiskPolicy(), ["kim"], NOW)
    flag = risk.RiskFlag.from_history([raised])
    acknowledged = flag.acknowledge("kim", NOW)
    again = risk.RiskFlag.from_history([raised, acknowledged])
    assert (again.acknowledged_by, again.version) == ("kim", 2)
    with pytest.raises(InvalidState):
        again.acknowledge("lee", NOW)
