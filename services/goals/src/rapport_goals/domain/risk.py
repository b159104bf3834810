"""Risk flags: a measure's risk item answered at or above the clinic's threshold raises one, at
once, for the care team and the admins the clinic chose; it stays open until a counselor on the
care team acknowledges it.

A flag is its own aggregate (stream risk-flag-<flag_id>), so acknowledging one never contends
with recording the client's next measure. Its id is derived from the measure and the item, so a
measure recorded twice can never raise two flags for the same answer.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID, uuid5

from rapport_goals.domain.instruments import RULES, risk_answers
from rapport_shared.contracts.base import EventContract
from rapport_shared.contracts.errors import DomainError, InvalidState
from rapport_shared.contracts.goals import MeasureRecorded, RiskFlagAcknowledged, RiskFlagRaised

# A clinic alerts at most this many admins besides the care team: an alert is for people who act.
MAX_ALERTED_ADMINS = 20


@dataclass(frozen=True)
class RiskPolicy:
    """A clinic's risk settings. The default flags any answer above "not at all" and alerts the
    client's care team; a clinic adds the admins who must hear of every flag."""

    threshold: int = 1
    alert_care_team: bool = True
    admin_ids: tuple[str, ...] = ()

    def check(self) -> None:
        highest = min(RULES[name].item_max for name in RULES if RULES[name].risk_items)
        if not 1 <= self.threshold <= highest:
            raise DomainError(f"threshold must be 1 to {highest}", field="threshold")
        if len(self.admin_ids) > MAX_ALERTED_ADMINS:
            raise DomainError(f"at most {MAX_ALERTED_ADMINS} admins", field="admin_ids")
        if not self.alert_care_team and not self.admin_ids:
            raise DomainError(
                "a risk flag must alert someone: the care team, admins, or both",
                field="alert_care_team",
            )

    def recipients(self, care_team: Sequence[str]) -> tuple[str, ...]:
        """Whom to alert, each once, the care team first."""
        team = tuple(care_team) if self.alert_care_team else ()
        return tuple(dict.fromkeys((*team, *self.admin_ids)))


def risk_flag_stream(flag_id: UUID) -> str:
    return f"risk-flag-{flag_id}"


def flag_id(measure_id: UUID, item: int) -> UUID:
    return uuid5(measure_id, f"risk-item-{item}")


def raise_flags(
    recorded: MeasureRecorded, policy: RiskPolicy, care_team: Sequence[str], now: datetime
) -> list[RiskFlagRaised]:
    """A flag per risk item answered at or above the threshold; none for other instruments.
    A flag with nobody to alert (no care team yet and no admins) is still raised: it shows in
    the client's progress and prep brief, and the care team sees it once there is one."""
    return [
        RiskFlagRaised(
            clinic_id=recorded.clinic_id,
            flag_id=flag_id(recorded.measure_id, risk.number),
            measure_id=recorded.measure_id,
            client_id=recorded.client_id,
            instrument=recorded.instrument,
            item=risk.number,
            score=score,
            threshold=policy.threshold,
            alert_recipient_ids=policy.recipients(care_team),
            raised_at=now,
        )
        for risk, score in risk_answers(recorded.instrument, recorded.items, policy.threshold)
    ]


@dataclass
class RiskFlag:
    flag_id: UUID
    clinic_id: str
    client_id: str
    acknowledged_by: str | None = None
    acknowledged_at: datetime | None = None
    version: int = 0

    @classmethod
    def from_history(cls, events: Sequence[EventContract]) -> "RiskFlag":
        first, *rest = events
        if not isinstance(first, RiskFlagRaised):
            raise ValueError(f"a risk flag's history starts with risk-flag-raised, not {first!r}")
        flag = cls(first.flag_id, first.clinic_id, first.client_id, version=1)
        for event in rest:
            flag.apply(event)
        return flag

    def apply(self, event: EventContract) -> None:
        if isinstance(event, RiskFlagAcknowledged):
            self.acknowledged_by = event.acknowledged_by
            self.acknowledged_at = event.acknowledged_at
        self.version += 1

    def acknowledge(self, by: str, at: datetime) -> RiskFlagAcknowledged:
        if self.acknowledged_by is not None:
            raise InvalidState(
                f"risk flag {self.flag_id} was acknowledged by {self.acknowledged_by}",
                field="flag_id",
            )
        return RiskFlagAcknowledged(
            clinic_id=self.clinic_id,
            flag_id=self.flag_id,
            client_id=self.client_id,
            acknowledged_by=by,
            acknowledged_at=at,
        )
