"""One table per standard measure: its items, bands, cutoffs, reliable change and risk items, with
the published source of each figure; and the classification of a client's series on one measure.

Every rule that classifies a score is here and nowhere else. The progress view shows, beside each
classification, the text of the rule that produced it (`Classification.rules`), so a counselor
can see why a client is "reliable improvement" or why recovery is "not applicable".

Directions differ: on the PHQ-9 and GAD-7 a higher total is worse (a symptom count); on the ORS
and SRS a higher total is better (wellbeing, alliance). A clinical cutoff is therefore "at or
above" for the first two and "below" for the ORS.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from rapport_shared.contracts.goals import Instrument

Direction = Literal["lower is better", "higher is better"]
Outcome = Literal[
    "reliable improvement", "reliable deterioration", "no reliable change", "not applicable"
]
Recovery = Literal["recovered", "not recovered", "not applicable"]


@dataclass(frozen=True)
class RiskItem:
    """An item whose answer above a clinic's threshold must reach a person at once."""

    number: int  # 1-based, as printed on the form
    asks_about: str


@dataclass(frozen=True)
class Rules:
    instrument: Instrument
    items: int
    item_max: int
    direction: Direction
    # (lowest total of the band, name), ascending.
    bands: tuple[tuple[int, str], ...]
    # The clinical cutoff: "a case" is at or above it (lower is better) or below it (higher is
    # better). None: the measure has none (the SRS rates the alliance, not the client).
    clinical_cutoff: int | None
    # The smallest change of total that is more than measurement error.
    reliable_change: int | None
    # Below it, the alliance needs the counselor's attention (the SRS only).
    alliance_cutoff: int | None
    risk_items: tuple[RiskItem, ...]
    sources: tuple[str, ...]

    @property
    def max_total(self) -> int:
        return self.items * self.item_max

    def is_case(self, total: int) -> bool | None:
        if self.clinical_cutoff is None:
            return None
        if self.direction == "lower is better":
            return total >= self.clinical_cutoff
        return total < self.clinical_cutoff

    def band(self, total: int) -> str | None:
        found = None
        for lowest, name in self.bands:
            if total >= lowest:
                found = name
        return found

    def improvement(self, first: int, latest: int) -> int:
        """How much better the latest total is than the first (negative: worse)."""
        return first - latest if self.direction == "lower is better" else latest - first

    def case_rule(self) -> str:
        if self.clinical_cutoff is None:
            return f"{self.instrument} has no clinical cutoff"
        side = "at or above" if self.direction == "lower is better" else "below"
        return f"{self.instrument} case: total {side} {self.clinical_cutoff}"


_NHS_TT = (
    "NHS Talking Therapies for anxiety and depression manual (NHS England, 2024), "
    "'Recovery' and 'Reliable change' (caseness and reliable change index per measure)"
)

RULES: dict[Instrument, Rules] = {
    "PHQ-9": Rules(
        instrument="PHQ-9",
        items=9,
        item_max=3,
        direction="lower is better",
        bands=(
            (0, "minimal"),
            (5, "mild"),
            (10, "moderate"),
            (15, "moderately severe"),
            (20, "severe"),
        ),
        clinical_cutoff=10,
        reliable_change=6,
        alliance_cutoff=None,
        risk_items=(RiskItem(9, "thoughts of being better off dead or of hurting oneself"),),
        sources=(
            "Kroenke, Spitzer & Williams (2001), The PHQ-9, J Gen Intern Med 16(9):606-613 "
            "(bands; item 9 calls for a risk assessment whatever the total)",
            _NHS_TT,
        ),
    ),
    "GAD-7": Rules(
        instrument="GAD-7",
        items=7,
        item_max=3,
        direction="lower is better",
        bands=((0, "minimal"), (5, "mild"), (10, "moderate"), (15, "severe")),
        clinical_cutoff=8,
        reliable_change=4,
        alliance_cutoff=None,
        risk_items=(),
        sources=(
            "Spitzer, Kroenke, Williams & Lowe (2006), A brief measure for assessing generalized "
            "anxiety disorder, Arch Intern Med 166(10):1092-1097 (bands)",
            _NHS_TT,
        ),
    ),
    "ORS": Rules(
        instrument="ORS",
        items=4,
        item_max=10,
        direction="higher is better",
        bands=(),
        clinical_cutoff=25,
        reliable_change=5,
        alliance_cutoff=None,
        risk_items=(),
        sources=(
            "Miller, Duncan, Brown, Sparks & Claud (2003), The Outcome Rating Scale, "
            "J Brief Therapy 2(2):91-100 (adult clinical cutoff 25)",
            "Duncan (2012), The Partners for Change Outcome Management System (PCOMS), "
            "J Clin Psychol 68(2):93-104 (reliable change of 5 points)",
        ),
    ),
    "SRS": Rules(
        instrument="SRS",
        items=4,
        item_max=10,
        direction="higher is better",
        bands=(),
        clinical_cutoff=None,
        reliable_change=None,
        alliance_cutoff=36,
        risk_items=(),
        sources=(
            "Duncan, Miller, Sparks, Claud, Reynolds, Brown & Johnson (2003), The Session Rating "
            "Scale, J Brief Therapy 3(1):3-12 (a total below 36 calls for a conversation about "
            "the alliance)",
        ),
    ),
}


def risk_answers(
    instrument: Instrument, items: Sequence[int], threshold: int
) -> list[tuple[RiskItem, int]]:
    """The risk items answered above threshold - 1 (at or above threshold), in form order.
    threshold is the clinic's setting: 1 flags any answer above "not at all"."""
    return [
        (risk, items[risk.number - 1])
        for risk in RULES[instrument].risk_items
        if items[risk.number - 1] >= threshold
    ]


@dataclass(frozen=True)
class Classification:
    """One client's series on one measure, first to latest, with the rules that decided it."""

    instrument: Instrument
    measurements: int
    first_total: int
    latest_total: int
    latest_band: str | None
    case_at_start: bool | None
    case_now: bool | None
    change: int | None  # improvement in points, first to latest; None with one measurement
    outcome: Outcome
    recovery: Recovery
    reliable_recovery: Recovery
    alliance_concern: bool | None
    rules: tuple[str, ...]


def classify_series(instrument: Instrument, totals: Sequence[int]) -> Classification:
    """totals: oldest first, at least one. A change needs two measurements; recovery applies
    only to a client who was a case at the start; the SRS has no outcome (it rates sessions)."""
    if not totals:
        raise ValueError("a classification needs at least one measurement")
    rules = RULES[instrument]
    first, latest = totals[0], totals[-1]
    texts: list[str] = [rules.case_rule()]
    case_at_start, case_now = rules.is_case(first), rules.is_case(latest)
    change: int | None = None
    outcome: Outcome = "not applicable"
    if rules.reliable_change is None:
        texts.append(f"{instrument} has no reliable change index: no outcome")
    elif len(totals) < 2:
        texts.append("a change needs two measurements")
    else:
        change = rules.improvement(first, latest)
        texts.append(f"{instrument} reliable change: {rules.reliable_change} points or more")
        outcome = (
            "reliable improvement"
            if change >= rules.reliable_change
            else "reliable deterioration"
            if -change >= rules.reliable_change
            else "no reliable change"
        )
    recovery: Recovery = "not applicable"
    reliable_recovery: Recovery = "not applicable"
    if case_at_start is None or change is None:
        pass
    elif not case_at_start:
        texts.append("not a case at the start: recovery does not apply")
    else:
        texts.append("recovered: a case at the start and not a case now")
        recovery = "not recovered" if case_now else "recovered"
        reliable = recovery == "recovered" and outcome == "reliable improvement"
        reliable_recovery = "recovered" if reliable else "not recovered"
    alliance_concern: bool | None = None
    if rules.alliance_cutoff is not None:
        alliance_concern = latest < rules.alliance_cutoff
        texts.append(f"{instrument} alliance concern: latest total below {rules.alliance_cutoff}")
    return Classification(
        instrument=instrument,
        measurements=len(totals),
        first_total=first,
        latest_total=latest,
        latest_band=rules.band(latest),
        case_at_start=case_at_start,
        case_now=case_now,
        change=change,
        outcome=outcome,
        recovery=recovery,
        reliable_recovery=reliable_recovery,
        alliance_concern=alliance_concern,
        rules=tuple(texts),
    )
