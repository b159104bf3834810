"""A small clinic's outcome table, computed by hand (pure code)."""

from rapport_goals.domain.outcomes import ClientPeriod, Rate, gas_bin, outcomes


def test_a_small_clinic_by_hand() -> None:
    clinic = [
        # A case (15), down 7: reliable improvement, recovered, reliably.
        ClientPeriod(
            "ann",
            {"PHQ-9": [15, 8]},
            55.0,
            homework_assigned=5,
            homework_completed=4,
            measures_due=2,
            measures_completed=2,
        ),
        # A case, down 3 and 3: no reliable change, recovered but not reliably.
        ClientPeriod(
            "ben",
            {"PHQ-9": [12, 9], "GAD-7": [9, 6]},
            38.0,
            homework_assigned=4,
            homework_completed=1,
        ),
        # Not a case at the start, up 7: reliable deterioration; recovery does not apply.
        ClientPeriod("cat", {"PHQ-9": [6, 13]}),
        # One measurement only: not counted as having a first and a last.
        ClientPeriod("dan", {"PHQ-9": [18]}, 71.0, homework_assigned=2, homework_completed=2),
        # The ORS is not part of the paired NHS Talking Therapies rates.
        ClientPeriod("eve", {"ORS": [20, 30]}, measures_due=3, measures_completed=2),
        # PHQ-9 down 8, GAD-7 up 1: reliable improvement; still a case on the PHQ-9.
        ClientPeriod("fay", {"PHQ-9": [20, 12], "GAD-7": [15, 16]}),
    ]
    found = outcomes(clinic)
    assert (found.clients, found.with_first_and_last) == (6, 4)
    assert found.reliable_improvement == Rate(2, 4)
    assert found.reliable_deterioration == Rate(1, 4)
    assert found.recovery == Rate(2, 3)
    assert found.reliable_recovery == Rate(1, 3)
    assert found.recovery.rate == 0.6667
    assert found.gas_t_scores == {
        "below 30": 0,
        "30-39": 1,
        "40-49": 0,
        "50-59": 1,
        "60-69": 0,
        "70 and above": 1,
    }
    assert found.homework_adherence == Rate(7, 11)
    assert found.measures_completed == Rate(4, 5)


def test_no_cases_is_0_of_0_not_0_percent() -> None:
    found = outcomes([ClientPeriod("ann", {"GAD-7": [3, 2]})])
    assert found.recovery == Rate(0, 0)
    assert found.recovery.rate is None
    assert found.reliable_improvement.rate == 0.0
    assert outcomes([]).clients == 0


def test_gas_bins_edges() -> None:
    assert [gas_bin(t) for t in (29.99, 30.0, 49.99, 50.0, 70.0, 100.0)] == [
        "below 30",
        "30-39",
        "40-49",
        "50-59",
        "70 and above",
        "70 and above",
    ]
