"""Command handlers (called by the API inside its transaction, with the time it read) and the
event handlers the sessions-notes consumer calls for the goals service's events."""

from collections.abc import Mapping, Sequence
from datetime import datetime
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncConnection

from rapport_sessions import clients, projections, repository
from rapport_sessions.domain import model
from rapport_sessions.domain.events import ClientProfileUpdated, SafetyPlanRevised
from rapport_sessions.domain.model import Session
from rapport_sessions.domain.safety_plan import SafetyPlan, SafetyPlanContent, safety_plan_stream
from rapport_shared.contracts.base import EventContract
from rapport_shared.contracts.envelope import IncomingEvent
from rapport_shared.contracts.errors import InvalidState
from rapport_shared.contracts.plan import AgreedGoal, AgreedHomework, split
from rapport_shared.contracts.sessions import CancellationReason, CareTeamChanged, ClientErased
from rapport_shared.eventsourcing.crypto import ClientErasedError, KeyRing, seal_wording
from rapport_shared.eventsourcing.eventstore import ConcurrencyConflict, EventStore
from rapport_shared.eventsourcing.privatestore import PrivateEventStore
from rapport_shared.security import care_team
from rapport_shared.security.erasure import shred


async def schedule_session(
    conn: AsyncConnection,
    store: EventStore,
    *,
    clinic_id: str,
    session_id: UUID,
    client_id: str,
    counselor_id: str,
    starts_at: datetime,
) -> Session:
    if await repository.exists(conn, store, session_id):
        raise InvalidState(f"session {session_id} already exists", field="session_id")
    event = model.schedule(session_id, clinic_id, client_id, counselor_id, starts_at)
    await repository.save(conn, store, session_id, 0, [event])
    return Session.from_history([event])


async def start_session(
    conn: AsyncConnection, store: EventStore, now: datetime, *, clinic_id: str, session_id: UUID
) -> Session:
    session = await repository.load(conn, store, clinic_id, session_id)
    return await _commit(conn, store, session, session.start(now))


async def cancel_session(
    conn: AsyncConnection,
    store: EventStore,
    now: datetime,
    *,
    clinic_id: str,
    session_id: UUID,
    reason: CancellationReason,
    explanation: str | None,
) -> Session:
    session = await repository.load(conn, store, clinic_id, session_id)
    return await _commit(conn, store, session, *session.cancel(now, reason, explanation))


async def record_no_show(
    conn: AsyncConnection, store: EventStore, now: datetime, *, clinic_id: str, session_id: UUID
) -> Session:
    session = await repository.load(conn, store, clinic_id, session_id)
    return await _commit(conn, store, session, session.record_no_show(now))


async def record_note(
    conn: AsyncConnection,
    store: EventStore,
    now: datetime,
    *,
    clinic_id: str,
    session_id: UUID,
    note_format: str,
    sections: Mapping[str, str],
) -> Session:
    session = await repository.load(conn, store, clinic_id, session_id)
    return await _commit(conn, store, session, session.record_note(note_format, sections, now))


async def sign_note(
    conn: AsyncConnection,
    store: EventStore,
    now: datetime,
    *,
    clinic_id: str,
    session_id: UUID,
    signed_by: str,
) -> Session:
    session = await repository.load(conn, store, clinic_id, session_id)
    return await _commit(conn, store, session, session.sign_note(signed_by, now))


async def add_addendum(
    conn: AsyncConnection,
    store: EventStore,
    now: datetime,
    *,
    clinic_id: str,
    session_id: UUID,
    author: str,
    reason: str,
    text: str,
) -> Session:
    session = await repository.load(conn, store, clinic_id, session_id)
    event = session.add_addendum(author, reason, text, now)
    return await _commit(conn, store, session, event)


async def close_session(
    conn: AsyncConnection,
    store: PrivateEventStore,
    now: datetime,
    *,
    clinic_id: str,
    session_id: UUID,
    expected_version: int | None,
    next_session_at: datetime | None,
    goals: Sequence[AgreedGoal],
    homework: Sequence[AgreedHomework],
) -> Session:
    session = await repository.load(conn, store, clinic_id, session_id)
    if expected_version is not None and expected_version != session.version:
        # The caller decided on a state that has changed since (e.g. a newer note).
        raise ConcurrencyConflict(model.stream_id(session_id), expected_version)
    closed, worded = session.close(now, next_session_at, goals, homework)
    # The goals service needs the plan's words too: they travel sealed under the suite key.
    wording = split(goals, homework)[2]
    sealed = closed.model_copy(update={"sealed_wording": seal_wording(store.seal_key, wording)})
    return await _commit(conn, store, session, sealed, worded)


async def change_care_team(
    conn: AsyncConnection,
    store: EventStore,
    now: datetime,
    *,
    clinic_id: str,
    client_id: str,
    counselor_ids: Sequence[str],
    changed_by: str,
) -> CareTeamChanged:
    """Replace the client's care team; the event tells goals and notifications."""
    # Client ids are only unique within a clinic, so the clinic is part of the stream's name.
    stream = f"care-team-{clinic_id}-{client_id}"
    event = CareTeamChanged(
        clinic_id=clinic_id,
        client_id=client_id,
        counselor_ids=tuple(sorted(set(counselor_ids))),
        changed_by=changed_by,
        changed_at=now,
    )
    await store.append(conn, stream, await store.stream_version(conn, stream), [event])
    await care_team.apply(conn, event)
    return event


async def _commit(
    conn: AsyncConnection, store: EventStore, session: Session, *events: EventContract
) -> Session:
    await repository.save(conn, store, session.session_id, session.version, events)
    for event in events:
        session.apply(event)
    return session


async def save_profile(
    conn: AsyncConnection,
    store: EventStore,
    now: datetime,
    *,
    clinic_id: str,
    client_id: str,
    display_name: str,
    updated_by: str,
) -> ClientProfileUpdated:
    """A client's name, kept encrypted in the client's own stream; refused once erased."""
    stream = clients.client_stream(clinic_id, client_id)
    version = await store.stream_version(conn, stream)
    event = ClientProfileUpdated(
        clinic_id=clinic_id,
        client_id=client_id,
        display_name=display_name,
        updated_by=updated_by,
        updated_at=now,
    )
    await repository.append(conn, store, stream, version, [event])
    return event


async def revise_safety_plan(
    conn: AsyncConnection,
    store: PrivateEventStore,
    now: datetime,
    *,
    clinic_id: str,
    client_id: str,
    content: SafetyPlanContent,
    revised_by: str,
    written_with_client: bool,
    expected_revision: int | None,
) -> SafetyPlanRevised:
    """A new revision of the client's safety plan (the first makes the plan), kept with every
    earlier one in the plan's stream; its words encrypted under the client's key."""
    # Checked before the history is read: an erased client's revisions have no words to read.
    if await store.keys.is_erased(conn, clinic_id, client_id):
        raise ClientErasedError(f"client {client_id} was erased", field="client_id")
    stream = safety_plan_stream(clinic_id, client_id)
    plan = SafetyPlan.from_history(clinic_id, client_id, await store.load_events(conn, stream))
    event = plan.revise(content, revised_by, written_with_client, now)
    if expected_revision is not None and expected_revision != plan.revision:
        # The caller revised a plan that has changed since (each revision is one event).
        raise ConcurrencyConflict(stream, expected_revision)
    await repository.append(conn, store, stream, plan.version, [event])
    return event


async def erase_client(
    conn: AsyncConnection,
    store: PrivateEventStore,
    now: datetime,
    *,
    clinic_id: str,
    client_id: str,
    erased_by: str,
) -> ClientErased:
    """Crypto-shredding: client-erased is recorded (and published, so every service erases its
    copy), the projections drop the client's rows, and the client's key is destroyed, in one
    transaction, with the answers kept for their Idempotency-Key replays; once it commits, the
    database files are scrubbed of the old pages (security.erasure.shred)."""
    if await store.keys.is_erased(conn, clinic_id, client_id):
        raise InvalidState(f"client {client_id} is already erased", field="client_id")
    stream = clients.client_stream(clinic_id, client_id)
    event = ClientErased(
        clinic_id=clinic_id, client_id=client_id, erased_by=erased_by, erased_at=now
    )
    await repository.append(conn, store, stream, await store.stream_version(conn, stream), [event])
    await shred(conn, store.keys, clinic_id, client_id, event.erased_at)
    return event


async def update_notes_projection(
    conn: AsyncConnection, incoming: IncomingEvent, *, keys: KeyRing
) -> None:
    await update_notes_projection_batch(conn, (incoming,), keys=keys)


async def update_notes_projection_batch(
    conn: AsyncConnection, batch: Sequence[IncomingEvent], *, keys: KeyRing
) -> None:
    """A batch of goals events, in order, with one lookup of the erased clients among them."""
    events = [incoming.contract for incoming in batch]
    # An erased client's rows are purged: a goals event still in flight must not bring any back.
    erased = await keys.erased_among(conn, filter(None, map(_client, events)))
    await projections.project_all(conn, (e for e in events if _client(e) not in erased))


def _client(event: EventContract) -> tuple[str, str] | None:
    client_id = getattr(event, "client_id", None)
    return (event.clinic_id, client_id) if client_id else None
