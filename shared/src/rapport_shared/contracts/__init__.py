"""What the services agree on, and nothing else: the event contracts (base, then one module per
producing service: sessions, goals, notifications), the CloudEvents envelope, the subject scheme
(subjects), clinic ids (clinic), domain errors (errors), the plan a session closes with and the
rules it keeps (plan, plan_rules), when a recurring homework falls due (recurrence) and the
published JSON Schema catalog (catalog). Services meet only through these. Imports pydantic and
the standard library only: nothing else of rapport_shared, no I/O, so domain code may use it.
"""

from rapport_shared.contracts.base import EventContract, EventRegistry, UnknownEventType
from rapport_shared.contracts.goals import GOALS_CONTRACTS
from rapport_shared.contracts.notifications import NOTIFICATIONS_CONTRACTS
from rapport_shared.contracts.sessions import SESSIONS_CONTRACTS

ALL_CONTRACTS = SESSIONS_CONTRACTS + GOALS_CONTRACTS + NOTIFICATIONS_CONTRACTS


def public_registry() -> EventRegistry:
    """A registry of every published contract; services add their private events to it."""
    return EventRegistry(ALL_CONTRACTS)


__all__ = ["ALL_CONTRACTS", "EventContract", "EventRegistry", "UnknownEventType", "public_registry"]
