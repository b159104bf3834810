"""Standard outcome measures: scoring, severity bands, and change as NHS Talking Therapies
classifies it.

PHQ-9 (depression) and GAD-7 (anxiety) items score 0-3. The ORS (Outcome Rating Scale) and SRS
(Session Rating Scale) are 10 cm visual analogue lines, conventionally read to one decimal; this
service takes whole numbers 0-10 per item, because the published measure-recorded contract
carries integer items and total.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal
from uuid import UUID, uuid5

from rapport_goals.domain.commands import RecordMeasure
from rapport_goals.domain.instruments import RULES
from rapport_shared.contracts.errors import DomainError
from rapport_shared.contracts.goals import AllianceAlertRaised, Instrument, MeasureRecorded


def _given(figure: int | None) -> int:
    assert figure is not None, "the table gives this measure the figure"
    return figure


# The cutoffs and reliable change of NHS Talking Therapies' paired PHQ-9/GAD-7 classification,
# read from the one table per instrument (rapport_goals.domain.instruments).
PAIRED: tuple[Instrument, ...] = ("PHQ-9", "GAD-7")
CASENESS: dict[Instrument, int] = {m: _given(RULES[m].clinical_cutoff) for m in PAIRED}
RELIABLE_CHANGE: dict[Instrument, int] = {m: _given(RULES[m].reliable_change) for m in PAIRED}
DEFAULT_ALLIANCE_THRESHOLD = _given(RULES["SRS"].alliance_cutoff)


def measure_stream(measure_id: UUID) -> str:
    return f"measure-{measure_id}"


def score(instrument: Instrument, items: Sequence[int]) -> tuple[int, str | None]:
    """The total and its band; items are checked one by one (field items.N)."""
    scale = RULES[instrument]
    if len(items) != scale.items:
        raise DomainError(f"{instrument} has {scale.items} items, got {len(items)}", field="items")
    for index, item in enumerate(items):
        if not 0 <= item <= scale.item_max:
            raise DomainError(
                f"{instrument} items score 0 to {scale.item_max}, got {item}",
                field=f"items.{index}",
            )
    total = sum(items)
    return total, band(instrument, total)


def band(instrument: Instrument, total: int) -> str | None:
    return RULES[instrument].band(total)


def record(
    command: RecordMeasure, now: datetime, alliance_threshold: int = DEFAULT_ALLIANCE_THRESHOLD
) -> list[MeasureRecorded | AllianceAlertRaised]:
    """The measure, and an alliance alert for the counselor when an SRS falls below threshold."""
    total, found_band = score(command.instrument, command.items)
    if command.instrument == "SRS" and command.counselor_id is None:
        # The SRS rates a session with a counselor: an alert needs someone to go to.
        raise DomainError(
            "an SRS rates a counselor's session: counselor_id is required", field="counselor_id"
        )
    recorded = MeasureRecorded(
        clinic_id=command.clinic_id,
        measure_id=command.measure_id,
        client_id=command.client_id,
        counselor_id=command.counselor_id,
        session_id=command.session_id,
        instrument=command.instrument,
        items=command.items,
        total=total,
        band=found_band,
        recorded_at=now,
    )
    if command.counselor_id is None or command.instrument != "SRS":
        return [recorded]
    if total >= alliance_threshold:
        return [recorded]
    alert = AllianceAlertRaised(
        clinic_id=command.clinic_id,
        alert_id=alert_id(command.measure_id),
        measure_id=command.measure_id,
        client_id=command.client_id,
        counselor_id=command.counselor_id,
        srs_total=total,
        threshold=alliance_threshold,
        raised_at=now,
    )
    return [recorded, alert]


def alert_id(measure_id: UUID) -> UUID:
    # Derived, so recording the same measure twice could never raise two alerts.
    return uuid5(measure_id, "alliance-alert")


Outcome = Literal["reliable improvement", "reliable deterioration", "no reliable change"]


@dataclass(frozen=True)
class Change:
    """Change from the first to the latest scores, over the measures the client has."""

    measures: tuple[Instrument, ...]
    caseness_at_start: bool
    caseness_now: bool
    outcome: Outcome
    recovered: bool
    reliably_recovered: bool


def classify(first: dict[Instrument, int], latest: dict[Instrument, int]) -> Change | None:
    """first and latest map PHQ-9 and/or GAD-7 to totals; None when neither was taken.

    Reliable improvement: a measure dropped by its reliable change index and none rose by it.
    Reliable deterioration: a measure rose by it. Recovery: a case at the start and no longer a
    case on every measure now. Reliable recovery: both. With one measure only, it alone decides.
    """
    measures = tuple(m for m in CASENESS if m in first and m in latest)
    if not measures:
        return None
    rises = [latest[m] - first[m] for m in measures]
    improved = any(-rise >= RELIABLE_CHANGE[m] for m, rise in zip(measures, rises, strict=True))
    worse = any(rise >= RELIABLE_CHANGE[m] for m, rise in zip(measures, rises, strict=True))
    outcome: Outcome = (
        "reliable deterioration"
        if worse
        else "reliable improvement"
        if improved
        else "no reliable change"
    )
    at_start = any(first[m] >= CASENESS[m] for m in measures)
    now = any(latest[m] >= CASENESS[m] for m in measures)
    recovered = at_start and not now
    return Change(
        measures=measures,
        caseness_at_start=at_start,
        caseness_now=now,
        outcome=outcome,
        recovered=recovered,
        reliably_recovered=recovered and outcome == "reliable improvement",
    )
