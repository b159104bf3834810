"""Reads the services' databases directly (never their APIs) and turns what is there into the
ledger's effects: events counted by (type, stream), projection rows present, counters' values."""

from collections import Counter
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from chaos.ledger import Effect
from rapport_goals import tables as goals
from rapport_notifications import tables as notifications
from rapport_notifications.domain.model import HOMEWORK_DUE, RECOGNITION
from rapport_sessions import tables as sessions
from rapport_shared.messaging.outbox import backlog
from rapport_shared.persistence.db import create_engine
from rapport_shared.persistence.schema import dead_letters_table, events_table

SERVICES = ("sessions", "goals", "notifications")
NOTED = ("homework-assignment-noted", "homework-completion-noted")


@dataclass
class DeadLetter:
    service: str
    consumer: str
    subject: str
    payload: bytes
    error: str


class Databases:
    def __init__(self, urls: dict[str, str]) -> None:
        self.engines: dict[str, AsyncEngine] = {s: create_engine(urls[s]) for s in SERVICES}

    async def effects(self) -> Counter[Effect]:
        found: Counter[Effect] = Counter()
        for service, engine in self.engines.items():
            async with engine.connect() as conn:
                rows = await conn.execute(
                    select(events_table.c.event_type, events_table.c.stream_id)
                )
                for event_type, stream_id in rows:
                    found[(service, f"event:{event_type}", stream_id)] += 1
                await _PROJECTIONS[service](conn, found)
        return found

    async def outbox_backlog(self) -> int:
        total = 0
        for engine in self.engines.values():
            async with engine.connect() as conn:
                total += (await backlog(conn))[0]
        return total

    async def dead_letters(self) -> list[DeadLetter]:
        letters = []
        for service, engine in self.engines.items():
            async with engine.connect() as conn:
                query = select(
                    dead_letters_table.c.consumer,
                    dead_letters_table.c.subject,
                    dead_letters_table.c.payload,
                    dead_letters_table.c.error,
                )
                for consumer, subject, payload, error in await conn.execute(query):
                    letters.append(DeadLetter(service, consumer, subject, bytes(payload), error))
        return letters

    async def dispose(self) -> None:
        for engine in self.engines.values():
            await engine.dispose()


async def _rows(
    conn: AsyncConnection, found: Counter[Effect], service: str, what: str, query: Select[Any]
) -> None:
    """One effect per row of the query (its only column is the key)."""
    for (key,) in await conn.execute(query):
        found[(service, what, str(key))] += 1


async def _sessions(conn: AsyncConnection, found: Counter[Effect]) -> None:
    t = sessions
    homework, outcomes = t.notes_homework, t.prep_homework_outcomes
    queries: dict[str, Select[Any]] = {
        "row:notes_sessions": select(t.notes_sessions.c.session_id),
        "row:notes_sessions.closed": select(t.notes_sessions.c.session_id).where(
            t.notes_sessions.c.status == "closed"
        ),
        "row:notes_goals": select(t.notes_goals.c.goal_id),
        "row:notes_homework.assigned": select(homework.c.homework_id).where(
            homework.c.session_id.is_not(None)
        ),
        "row:notes_homework.completed": select(homework.c.homework_id).where(
            homework.c.completed_at.is_not(None)
        ),
        "row:prep_homework_outcomes": select(outcomes.c.homework_id).where(
            outcomes.c.outcome == "done"
        ),
        "row:prep_measures": select(t.prep_measures.c.measure_id),
    }
    for what, query in queries.items():
        await _rows(conn, found, "sessions", what, query)


async def _goals(conn: AsyncConnection, found: Counter[Effect]) -> None:
    t = goals
    progress = await conn.execute(
        select(t.goal_progress.c.goal_id, t.goal_progress.c.homework_completed)
    )
    for goal_id, completed in progress:
        found[("goals", "row:goal_progress", str(goal_id))] += 1
        found[("goals", "counter:homework_completed", str(goal_id))] += completed
    homework = t.client_homework
    queries: dict[str, Select[Any]] = {
        "row:client_homework": select(homework.c.homework_id),
        "row:client_homework.completed": select(homework.c.homework_id).where(
            homework.c.completed_at.is_not(None)
        ),
        "row:homework_outcomes": select(t.homework_outcomes.c.homework_id),
        "row:client_measures": select(t.client_measures.c.measure_id),
    }
    for what, query in queries.items():
        await _rows(conn, found, "goals", what, query)


async def _notifications(conn: AsyncConnection, found: Counter[Effect]) -> None:
    reminders = notifications.reminders
    await _rows(conn, found, "notifications", "row:reminders", select(reminders.c.reminder_id))
    due = select(reminders.c.homework_id).where(reminders.c.kind == HOMEWORK_DUE)
    await _rows(conn, found, "notifications", "reminder:homework-due", due)
    recognised = select(reminders.c.homework_id).where(reminders.c.kind == RECOGNITION)
    await _rows(conn, found, "notifications", "reminder:recognition", recognised)
    # A homework whose completion this service noted before its assignment rightly gets no
    # homework-due reminder (Homework.assign): count it as there.
    noted = await conn.execute(
        select(events_table.c.stream_id, events_table.c.event_type)
        .where(events_table.c.event_type.in_(NOTED))
        .order_by(events_table.c.position)
    )
    first: dict[str, str] = {}
    for stream_id, event_type in noted:
        first.setdefault(stream_id, event_type)
    for stream_id, event_type in first.items():
        if event_type == "homework-completion-noted":
            homework = stream_id.removeprefix("homework-")
            found[("notifications", "reminder:homework-due", homework)] += 1


_PROJECTIONS = {"sessions": _sessions, "goals": _goals, "notifications": _notifications}
