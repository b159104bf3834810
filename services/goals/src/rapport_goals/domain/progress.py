"""Progress of a goal or a client: homework adherence and whether a goal looks unrealistic.

Only ever computed for one goal or one client: nothing here compares clients.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

DEFAULT_UNREALISTIC_ADHERENCE = 0.5
# How many of the latest GAS reviews must show no gain before a goal is flagged.
STALLED_REVIEWS = 3


@dataclass(frozen=True)
class Outcome:
    """What became of one due occurrence: completed (on time or late) or missed."""

    due_at: datetime
    completed: bool
    on_time: bool


@dataclass(frozen=True)
class Adherence:
    due: int
    completed: int
    on_time: int
    # Completed / due, and on time / due; None while nothing has fallen due.
    rate: float | None
    on_time_rate: float | None
    # Consecutive on-time completions, counting back from the latest occurrence.
    streak: int


def adherence(outcomes: Sequence[Outcome]) -> Adherence:
    ordered = sorted(outcomes, key=lambda o: o.due_at)
    due = len(ordered)
    completed = sum(o.completed for o in ordered)
    on_time = sum(o.completed and o.on_time for o in ordered)
    streak = 0
    for outcome in reversed(ordered):
        if not (outcome.completed and outcome.on_time):
            break
        streak += 1
    return Adherence(
        due=due,
        completed=completed,
        on_time=on_time,
        rate=completed / due if due else None,
        on_time_rate=on_time / due if due else None,
        streak=streak,
    )


def unrealistic(
    levels: Sequence[int],
    adherence_rate: float | None,
    threshold: float = DEFAULT_UNREALISTIC_ADHERENCE,
) -> bool:
    """No gain in attained level across the last three reviews (the latest no higher than the
    first of them) while the client does under `threshold` of the homework: the goal, not the
    client, likely needs adjusting. Unknown adherence (nothing due yet) never flags."""
    if len(levels) < STALLED_REVIEWS or adherence_rate is None:
        return False
    last = levels[-STALLED_REVIEWS:]
    return last[-1] <= last[0] and adherence_rate < threshold
