"""The one answer to "no such aggregate", given by every loader before it rebuilds one
(Aggregate.from_history takes only a history that starts with the event creating it).

Another clinic's aggregate is exactly as unknown as a missing one, and so is a stream that starts
otherwise (a plan item refused instead of created): all three are NotFound.
"""

from collections.abc import Sequence
from uuid import UUID

from rapport_shared.contracts.base import EventContract
from rapport_shared.contracts.errors import NotFound


def found(
    history: Sequence[EventContract],
    created_by: type[EventContract],
    clinic_id: str,
    *,
    name: str,
    aggregate_id: UUID,
) -> Sequence[EventContract]:
    """The history, when it is of a `name` of the clinic's; NotFound (naming `name`_id) if not."""
    if not history or not isinstance(history[0], created_by) or history[0].clinic_id != clinic_id:
        raise NotFound(f"no {name} {aggregate_id} in clinic {clinic_id}", field=f"{name}_id")
    return history
