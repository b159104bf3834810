"""GAS T-scores and standard measures: pure functions, with expected values worked by hand."""

import math
from datetime import UTC, datetime
from uuid import uuid4

import pytest

from rapport_goals.domain import gas, measures
from rapport_goals.domain.commands import RecordMeasure
from rapport_shared.contracts import plan_rules
from rapport_shared.contracts.errors import DomainError
from rapport_shared.contracts.goals import AllianceAlertRaised, MeasureRecorded
from rapport_shared.contracts.plan import GasLevel

NOW = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)

# --- GAS ----------------------------------------------------------------------------------


def test_t_score_with_equal_weights():
    # levels 2, 1, 0, weights 1: sum wx = 3, sum w^2 = 3, (sum w)^2 = 9
    # T = 50 + 10 * 3 / sqrt(0.7 * 3 + 0.3 * 9) = 50 + 30 / sqrt(4.8) = 63.693
    assert gas.t_score([(1, 2), (1, 1), (1, 0)]) == pytest.approx(63.693, abs=1e-3)


def test_t_score_with_unequal_weights():
    # weights 2 and 1, levels +1 and -1: sum wx = 1, sum w^2 = 5, (sum w)^2 = 9
    # T = 50 + 10 / sqrt(0.7 * 5 + 0.3 * 9) = 50 + 10 / sqrt(6.2) = 54.016
    assert gas.t_score([(2, 1), (1, -1)]) == pytest.approx(54.016, abs=1e-3)


def test_t_score_with_all_goals_at_minus_two_and_at_plus_two():
    # three goals, weights 1: sum wx = -6 (or +6), denominator sqrt(4.8) = 2.19089
    assert gas.t_score([(1, -2)] * 3) == pytest.approx(50 - 60 / math.sqrt(4.8))
    assert gas.t_score([(1, -2)] * 3) == pytest.approx(22.614, abs=1e-3)
    assert gas.t_score([(1, 2)] * 3) == pytest.approx(77.386, abs=1e-3)


def test_t_score_is_50_when_goals_land_as_expected_and_none_without_goals():
    assert gas.t_score([(1, 0), (3, 0)]) == 50
    # One goal: the denominator is its weight, so each level is 10 points.
    assert gas.t_score([(2.5, 1)]) == pytest.approx(60)
    assert gas.t_score([]) is None


def _scale(*levels: int) -> tuple[GasLevel, ...]:
    return tuple(GasLevel(level=level, description=f"level {level}") for level in levels)


def test_a_gas_scale_has_exactly_the_five_levels():
    plan_rules.check_scale(_scale(2, 1, 0, -1, -2))
    plan_rules.check_scale(None)
    for wrong in (_scale(-2, -1, 0, 1), _scale(-2, -1, 0, 1, 1), _scale(-2, -1, 0, 1, 2, 2)):
        with pytest.raises(DomainError) as refused:
            plan_rules.check_scale(wrong)
        assert refused.value.field == "gas_scale"


# --- Measures: scoring and bands ----------------------------------------------------------


def _items(total: int, count: int, item_max: int) -> list[int]:
    """count items in 0..item_max summing to total."""
    items = []
    for _ in range(count):
        items.append(min(item_max, total))
        total -= items[-1]
    assert total == 0
    return items


@pytest.mark.parametrize(
    "total, band",
    [
        (0, "minimal"),
        (4, "minimal"),
        (5, "mild"),
        (9, "mild"),
        (10, "moderate"),
        (14, "moderate"),
        (15, "moderately severe"),
        (19, "moderately severe"),
        (20, "severe"),
        (27, "severe"),
    ],
)
def test_phq9_bands_at_every_boundary(total, band):
    assert measures.score("PHQ-9", _items(total, 9, 3)) == (total, band)


@pytest.mark.parametrize(
    "total, band",
    [
        (0, "minimal"),
        (4, "minimal"),
        (5, "mild"),
        (9, "mild"),
        (10, "moderate"),
        (14, "moderate"),
        (15, "severe"),
        (21, "severe"),
    ],
)
def test_gad7_bands_at_every_boundary(total, band):
    assert measures.score("GAD-7", _items(total, 7, 3)) == (total, band)


def test_ors_and_srs_are_four_items_of_0_to_10_with_no_band():
    assert measures.score("ORS", [10, 0, 5, 7]) == (22, None)
    assert measures.score("SRS", [10, 10, 10, 10]) == (40, None)


@pytest.mark.parametrize(
    "instrument, items, field",
    [
        ("PHQ-9", [0] * 8, "items"),
        ("GAD-7", [0] * 8, "items"),
        ("PHQ-9", [0, 0, 4, 0, 0, 0, 0, 0, 0], "items.2"),
        ("GAD-7", [0, 0, 0, 0, 0, 0, -1], "items.6"),
        ("ORS", [10, 11, 0, 0], "items.1"),
        ("SRS", [0, 0, 0], "items"),
    ],
)
def test_items_are_checked_one_by_one(instrument, items, field):
    with pytest.raises(DomainError) as refused:
        measures.score(instrument, items)
    assert refused.value.field == field


def _record(instrument, items, counselor_id="dr-okafor"):
    return RecordMeasure(
        clinic_id="northside",
        measure_id=uuid4(),
        client_id="client-ana",
        instrument=instrument,
        items=tuple(items),
        counselor_id=counselor_id,
    )


def test_an_srs_below_the_threshold_raises_an_alliance_alert_for_the_counselor():
    command = _record("SRS", [9, 9, 9, 8])  # 35
    recorded, alert = measures.record(command, NOW, alliance_threshold=36)
    assert isinstance(recorded, MeasureRecorded) and recorded.total == 35
    assert isinstance(alert, AllianceAlertRaised)
    assert (alert.counselor_id, alert.srs_total, alert.threshold) == ("dr-okafor", 35, 36)
    assert alert.alert_id == measures.alert_id(command.measure_id)
    [only] = measures.record(_record("SRS", [9, 9, 9, 9]), NOW, alliance_threshold=36)
    assert isinstance(only, MeasureRecorded)
    # The threshold is a setting.
    assert len(measures.record(_record("SRS", [9, 9, 9, 9]), NOW, alliance_threshold=37)) == 2
    # A low ORS is not about the alliance.
    assert len(measures.record(_record("ORS", [0, 0, 0, 0]), NOW)) == 1


def test_an_srs_needs_the_counselor_it_rates():
    with pytest.raises(DomainError) as refused:
        measures.record(_record("SRS", [10] * 4, counselor_id=None), NOW)
    assert refused.value.field == "counselor_id"


# --- Measures: change as NHS Talking Therapies classifies it ------------------------------


def classify(first, latest):
    return measures.classify(first, latest)


def test_no_phq9_or_gad7_means_no_classification():
    assert classify({}, {}) is None


@pytest.mark.parametrize(
    "first, latest, caseness",
    [
        ({"PHQ-9": 10}, {"PHQ-9": 10}, True),
        ({"PHQ-9": 9}, {"PHQ-9": 9}, False),
        ({"GAD-7": 8}, {"GAD-7": 8}, True),
        ({"GAD-7": 7}, {"GAD-7": 7}, False),
        ({"PHQ-9": 9, "GAD-7": 8}, {"PHQ-9": 9, "GAD-7": 8}, True),
    ],
)
def test_caseness_is_phq9_at_least_10_or_gad7_at_least_8(first, latest, caseness):
    change = classify(first, latest)
    assert change.caseness_at_start is caseness and change.caseness_now is caseness
    assert change.outcome == "no reliable change" and not change.recovered


@pytest.mark.parametrize(
    "first, latest, outcome",
    [
        ({"PHQ-9": 20}, {"PHQ-9": 14}, "reliable improvement"),  # drop of 6
        ({"PHQ-9": 20}, {"PHQ-9": 15}, "no reliable change"),  # drop of 5
        ({"GAD-7": 15}, {"GAD-7": 11}, "reliable improvement"),  # drop of 4
        ({"GAD-7": 15}, {"GAD-7": 12}, "no reliable change"),  # drop of 3
        ({"PHQ-9": 5}, {"PHQ-9": 11}, "reliable deterioration"),  # rise of 6
        ({"PHQ-9": 5}, {"PHQ-9": 10}, "no reliable change"),  # rise of 5
        ({"GAD-7": 3}, {"GAD-7": 7}, "reliable deterioration"),  # rise of 4
        ({"GAD-7": 3}, {"GAD-7": 6}, "no reliable change"),  # rise of 3
        # One measure improving while the other deteriorates is a deterioration.
        ({"PHQ-9": 20, "GAD-7": 3}, {"PHQ-9": 10, "GAD-7": 9}, "reliable deterioration"),
    ],
)
def test_reliable_change_is_phq9_by_6_or_gad7_by_4(first, latest, outcome):
    assert classify(first, latest).outcome == outcome


def test_recovery_is_from_caseness_to_below_it_on_both_measures():
    recovered = classify({"PHQ-9": 12, "GAD-7": 9}, {"PHQ-9": 9, "GAD-7": 7})
    assert recovered.recovered and recovered.outcome == "no reliable change"
    assert not recovered.reliably_recovered
    # Still a case on GAD-7: not recovered, even though PHQ-9 is below caseness.
    still = classify({"PHQ-9": 12, "GAD-7": 9}, {"PHQ-9": 4, "GAD-7": 8})
    assert not still.recovered and still.caseness_now
    # Not a case to begin with: nothing to recover from.
    assert not classify({"PHQ-9": 9}, {"PHQ-9": 2}).recovered


def test_reliable_recovery_is_recovery_with_reliable_improvement():
    change = classify({"PHQ-9": 16, "GAD-7": 12}, {"PHQ-9": 6, "GAD-7": 5})
    assert change.recovered and change.outcome == "reliable improvement"
    assert change.reliably_recovered
    assert change.measures == ("PHQ-9", "GAD-7")
