"""Each service's own copy of who is on each client's care team, kept from `care-team-changed`.

The sessions service owns the assignment (PUT /clinics/{c}/clients/{id}/care-team) and updates
its copy in the command's transaction; goals and notifications consume the event
(on_care_team_changed). Every service authorizes writes from its own copy, so no request waits
on another service.
"""

from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from rapport_shared.contracts.envelope import IncomingEvent
from rapport_shared.contracts.sessions import CareTeamChanged
from rapport_shared.persistence.schema import care_team_table as table


async def team_of(conn: AsyncConnection, clinic_id: str, client_id: str) -> frozenset[str]:
    rows = await conn.execute(
        select(table.c.counselor_id).where(
            table.c.clinic_id == clinic_id, table.c.client_id == client_id
        )
    )
    return frozenset(rows.scalars())


async def apply(conn: AsyncConnection, event: CareTeamChanged) -> None:
    """The event carries the whole team, not a delta: replace what was there."""
    owner = (table.c.clinic_id == event.clinic_id) & (table.c.client_id == event.client_id)
    await conn.execute(delete(table).where(owner))
    if event.counselor_ids:
        await conn.execute(
            insert(table),
            [
                {"clinic_id": event.clinic_id, "client_id": event.client_id, "counselor_id": c}
                for c in sorted(set(event.counselor_ids))
            ],
        )


async def on_care_team_changed(conn: AsyncConnection, incoming: IncomingEvent) -> None:
    """The handler of the `<service>-care-team` consumer a service's bootstrap declares on the
    sessions stream."""
    assert isinstance(incoming.contract, CareTeamChanged)
    await apply(conn, incoming.contract)


async def clients_of(conn: AsyncConnection, clinic_id: str, counselor_id: str) -> frozenset[str]:
    """A counselor's caseload: the clients whose care team they are on."""
    rows = await conn.execute(
        select(table.c.client_id).where(
            table.c.clinic_id == clinic_id, table.c.counselor_id == counselor_id
        )
    )
    return frozenset(rows.scalars())
