"""A clinic's outcomes over a period, from each client's measures, GAS and homework in it.

The rates are NHS Talking Therapies': of the clients with a first and a last PHQ-9 or GAD-7 in
the period (two measurements at least), how many improved reliably or deteriorated reliably; of
those who were a case at their first measurement, how many recovered (no longer a case on every
measure) and how many recovered reliably (recovered and reliably improved). Every rate carries
its numerator and denominator, so "no clients at caseness" reads as 0 of 0, not as 0 %.

Deliberately absent: any figure per counselor. The same read serves a counselor's own caseload,
but nothing here ranks or compares counselors, whose competition works against the alliance.
"""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from rapport_goals.domain.measures import PAIRED, classify
from rapport_shared.contracts.goals import Instrument

# Bins of the latest GAS T-score (50 is "as expected"; 10 points is one standard deviation).
GAS_BINS: tuple[tuple[float, str], ...] = (
    (float("-inf"), "below 30"),
    (30.0, "30-39"),
    (40.0, "40-49"),
    (50.0, "50-59"),
    (60.0, "60-69"),
    (70.0, "70 and above"),
)


@dataclass(frozen=True)
class Rate:
    count: int
    of: int

    @property
    def rate(self) -> float | None:
        return None if self.of == 0 else round(self.count / self.of, 4)


@dataclass(frozen=True)
class ClientPeriod:
    """One client's figures inside the period."""

    client_id: str
    # Per instrument, totals oldest first.
    totals: Mapping[Instrument, Sequence[int]] = field(default_factory=dict)
    gas_t_score: float | None = None
    homework_assigned: int = 0
    homework_completed: int = 0
    measures_due: int = 0
    measures_completed: int = 0


@dataclass(frozen=True)
class ClinicOutcomes:
    clients: int
    with_first_and_last: int
    reliable_improvement: Rate
    reliable_deterioration: Rate
    recovery: Rate
    reliable_recovery: Rate
    gas_t_scores: dict[str, int]
    homework_adherence: Rate
    measures_completed: Rate


def gas_bin(t_score: float) -> str:
    found = GAS_BINS[0][1]
    for lowest, name in GAS_BINS:
        if t_score >= lowest:
            found = name
    return found


def outcomes(clients: Iterable[ClientPeriod]) -> ClinicOutcomes:
    counted = list(clients)
    paired = improved = deteriorated = cases = recovered = reliably = 0
    for client in counted:
        first = {m: client.totals[m][0] for m in PAIRED if len(client.totals.get(m, ())) >= 2}
        latest = {m: client.totals[m][-1] for m in first}
        change = classify(first, latest)
        if change is None:
            continue
        paired += 1
        improved += change.outcome == "reliable improvement"
        deteriorated += change.outcome == "reliable deterioration"
        cases += change.caseness_at_start
        recovered += change.recovered
        reliably += change.reliably_recovered
    bins = {name: 0 for _, name in GAS_BINS}
    for client in counted:
        if client.gas_t_score is not None:
            bins[gas_bin(client.gas_t_score)] += 1
    return ClinicOutcomes(
        clients=len(counted),
        with_first_and_last=paired,
        reliable_improvement=Rate(improved, paired),
        reliable_deterioration=Rate(deteriorated, paired),
        recovery=Rate(recovered, cases),
        reliable_recovery=Rate(reliably, cases),
        gas_t_scores=bins,
        homework_adherence=Rate(
            sum(c.homework_completed for c in counted), sum(c.homework_assigned for c in counted)
        ),
        measures_completed=Rate(
            sum(c.measures_completed for c in counted), sum(c.measures_due for c in counted)
        ),
    )
