"""FHIR Goal lifecycle: which status may follow which.

Based on the FHIR R4 Goal.lifecycleStatus state machine: a goal moves forward through planning to
active, may pause (on-hold), and ends completed, cancelled or rejected. Ends are final: a goal
that needs more work is a new goal, so its history stays truthful. entered-in-error is the one
escape, allowed from anything, because a goal recorded by mistake must be retractable.
"""

from rapport_shared.contracts.goals import LifecycleStatus

TERMINAL: frozenset[LifecycleStatus] = frozenset(
    {"completed", "cancelled", "rejected", "entered-in-error"}
)

TRANSITIONS: dict[LifecycleStatus, frozenset[LifecycleStatus]] = {
    "proposed": frozenset({"planned", "accepted", "active", "rejected", "cancelled"}),
    "planned": frozenset({"accepted", "active", "on-hold", "cancelled"}),
    "accepted": frozenset({"active", "on-hold", "cancelled"}),
    "active": frozenset({"on-hold", "completed", "cancelled"}),
    "on-hold": frozenset({"active", "cancelled"}),
    "completed": frozenset(),
    "cancelled": frozenset(),
    "rejected": frozenset(),
    "entered-in-error": frozenset(),
}


def may_move(current: LifecycleStatus, new: LifecycleStatus) -> bool:
    """Staying put is allowed while not terminal: only the achievement status then changes."""
    if new == "entered-in-error":
        return current != "entered-in-error"
    if current in TERMINAL:
        return False
    return new == current or new in TRANSITIONS[current]
