"""Event contracts: one module per producing service. Services meet only through these."""

from rapport_shared.contracts.base import EventContract, EventRegistry, UnknownEventType
from rapport_shared.contracts.goals import GOALS_CONTRACTS
from rapport_shared.contracts.notifications import NOTIFICATIONS_CONTRACTS
from rapport_shared.contracts.sessions import SESSIONS_CONTRACTS

ALL_CONTRACTS = SESSIONS_CONTRACTS + GOALS_CONTRACTS + NOTIFICATIONS_CONTRACTS


def public_registry() -> EventRegistry:
    """A registry of every published contract; services add their private events to it."""
    return EventRegistry(ALL_CONTRACTS)


__all__ = ["ALL_CONTRACTS", "EventContract", "EventRegistry", "UnknownEventType", "public_registry"]
