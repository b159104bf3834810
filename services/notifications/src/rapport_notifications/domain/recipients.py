"""A recipient's delivery preferences: their time zone and quiet hours, and the channels they
want for each kind of reminder. Pure: the scheduler passes the current time and a profile."""

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from rapport_notifications.domain.model import URGENT
from rapport_shared.contracts.notifications import Channel, ReminderKind

UTC_ZONE = "UTC"


@dataclass(frozen=True)
class QuietHours:
    """Local wall-clock times; start after end spans midnight (22:00-07:00)."""

    start: time
    end: time

    def until(self, moment: datetime, zone: ZoneInfo) -> datetime | None:
        """When the quiet hours around `moment` end (aware, UTC-comparable), or None when
        `moment` is not in them."""
        local = moment.astimezone(zone)
        now = local.time().replace(tzinfo=None)
        if self.start < self.end:
            quiet = self.start <= now < self.end
            end_day = local.date()
        else:  # spans midnight: quiet from start to midnight, and from midnight to end
            quiet = now >= self.start or now < self.end
            end_day = local.date() + timedelta(days=1 if now >= self.start else 0)
        if not quiet:
            return None
        end = datetime.combine(end_day, self.end, tzinfo=zone)
        # A wall-clock end that a spring-forward skips resolves to a moment after it (fold=0
        # takes the offset from before the change); never hand back one before `moment`.
        return max(end, moment)


@dataclass(frozen=True)
class RecipientProfile:
    time_zone: str = UTC_ZONE
    quiet_hours: QuietHours | None = None
    has_email: bool = False
    has_webhook: bool = False
    # Per kind, the channels chosen; an empty tuple opts out of that kind. Kinds not named use
    # every channel the recipient has set up.
    preferences: Mapping[ReminderKind, tuple[Channel, ...]] = field(default_factory=dict)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)

    def channels_for(self, kind: ReminderKind) -> tuple[Channel, ...]:
        if kind in self.preferences and kind not in URGENT:
            return self.preferences[kind]
        # The in-app feed needs no address, so every recipient has it.
        channels: list[Channel] = ["feed"]
        if self.has_email:
            channels.append("email")
        if self.has_webhook:
            channels.append("webhook")
        return tuple(channels)

    def quiet_until(self, moment: datetime, kind: ReminderKind | None = None) -> datetime | None:
        """When a reminder of `kind` due at `moment` may go out; None: now."""
        if self.quiet_hours is None or kind in URGENT:
            return None
        return self.quiet_hours.until(moment, self.zone)
