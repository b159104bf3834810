"""The progress read model, built from this service's own events.

apply() runs in the transaction that appends the event (see service_layer.handlers.record), so
the read model never lags or diverges from the store; replay() refills the emptied tables from
the whole store in a rebuild and must reach the same rows. Both take an event's changes from
changes(), so what an event does to the tables is written once.
"""

from typing import Any

from sqlalchemy import bindparam, delete, select
from sqlalchemy.ext.asyncio import AsyncConnection

from rapport_goals.domain import recurrence
from rapport_goals.domain.events import GoalWorded, HomeworkInstructed
from rapport_goals.tables import (
    PROJECTION_TABLES,
    client_homework,
    client_measures,
    goal_history,
    goal_progress,
    homework_outcomes,
    measure_asks,
    measurement_plans,
    risk_flags,
)
from rapport_shared.contracts.base import EventContract
from rapport_shared.contracts.clock import to_utc
from rapport_shared.contracts.goals import (
    AllianceAlertRaised,
    GoalAgreed,
    GoalReviewed,
    GoalRevised,
    GoalStatusChanged,
    HomeworkAssigned,
    HomeworkCancelled,
    HomeworkCompleted,
    HomeworkMissed,
    MeasureAskClosed,
    MeasureRecorded,
    MeasureRequested,
    RiskFlagAcknowledged,
    RiskFlagRaised,
)
from rapport_shared.contracts.sessions import Recurrence
from rapport_shared.eventsourcing.crypto import client_keys
from rapport_shared.eventsourcing.eventstore import EventStore, StoredEvent
from rapport_shared.eventsourcing.projection import Add, Change, Fold, Insert, Update, execute
from rapport_shared.runtime.service import ServiceRuntime

REPLAY_PAGE = 2000
# A goal's terms as the history shows them (the ids and timestamps are columns of their own).
_GOAL_KEYS = {"clinic_id", "goal_id", "client_id", "agreed_at", "revised_at", "revised_by"}


async def apply(conn: AsyncConnection, stored: StoredEvent) -> None:
    event = stored.event
    schedule = None
    if isinstance(event, HomeworkCompleted | HomeworkMissed):
        schedule = (await conn.execute(_SCHEDULE, {"homework_id": event.homework_id})).one()
    for change in changes(stored.version, event, schedule):
        await execute(conn, change)


# Built once: a homework's schedule, looked up for each completed or missed occurrence.
_SCHEDULE = select(client_homework.c.due_at, client_homework.c.recurrence).where(
    client_homework.c.homework_id == bindparam("homework_id")
)


def changes(version: int, event: EventContract, schedule: Any = None) -> list[Change]:
    """What an event changes in the progress tables. Live, they are executed one by one in the
    appending transaction; a rebuild folds them in memory. schedule is the homework's row
    (due_at, recurrence) for a completed or missed occurrence."""
    if isinstance(event, GoalWorded):
        # The words as the store keeps them (an enc:v1 token); the views decrypt them.
        return [Update(goal_progress, event.goal_id, {"wording": event.wording})]
    if isinstance(event, HomeworkInstructed):
        return [Update(client_homework, event.homework_id, {"instructions": event.instructions})]
    if isinstance(event, GoalAgreed | GoalRevised | GoalStatusChanged | GoalReviewed):
        return _goal_event(version, event)
    if isinstance(event, HomeworkAssigned):
        return _homework_assigned(event)
    if isinstance(event, HomeworkCompleted | HomeworkMissed):
        return _occurrence_done(event, schedule)
    if isinstance(event, HomeworkCancelled):
        values = {"cancelled_at": to_utc(event.cancelled_at), "next_due_at": None}
        return [Update(client_homework, event.homework_id, values)]
    if isinstance(event, MeasureRecorded):
        return [_measure_recorded(event)]
    if isinstance(event, AllianceAlertRaised):
        return [Update(client_measures, event.measure_id, {"alliance_alert": True})]
    if isinstance(event, RiskFlagRaised | RiskFlagAcknowledged):
        return [_risk_flag(event)]
    if isinstance(event, MeasureRequested | MeasureAskClosed):
        return [_measure_ask(event)]
    return []


def _risk_flag(event: RiskFlagRaised | RiskFlagAcknowledged) -> Change:
    if isinstance(event, RiskFlagAcknowledged):
        acknowledged = {
            "acknowledged_by": event.acknowledged_by,
            "acknowledged_at": to_utc(event.acknowledged_at),
        }
        return Update(risk_flags, event.flag_id, acknowledged)
    flag = event.model_dump(
        include={"flag_id", "clinic_id", "client_id", "measure_id", "instrument", "item", "score"}
    )
    return Insert(
        risk_flags,
        {
            **flag,
            "raised_at": to_utc(event.raised_at),
            "acknowledged_by": None,
            "acknowledged_at": None,
        },
    )


def _measure_ask(event: MeasureRequested | MeasureAskClosed) -> Change:
    if isinstance(event, MeasureAskClosed):
        closed = {
            "status": event.outcome,
            "closed_at": to_utc(event.closed_at),
            "measure_id": event.measure_id,
        }
        return Update(measure_asks, event.ask_id, closed)
    ask = event.model_dump(
        include={"ask_id", "clinic_id", "client_id", "instrument", "timing", "session_id"}
    )
    return Insert(
        measure_asks,
        {
            **ask,
            "ask_at": to_utc(event.ask_at),
            "due_at": to_utc(event.due_at),
            "deadline": to_utc(event.deadline),
            "status": "open",
            "closed_at": None,
            "measure_id": None,
        },
    )


def _goal_event(
    version: int, event: GoalAgreed | GoalRevised | GoalStatusChanged | GoalReviewed
) -> list[Change]:
    # JSON for the history; Python values (dates) for the columns, but nested terms as JSON.
    terms = event.model_dump(mode="json", exclude=_GOAL_KEYS, exclude_none=True)

    def values() -> dict[str, Any]:
        # Not needed for goal-agreed, the commonest: a rebuild spends most of its time in dumps.
        return event.model_dump(exclude=_GOAL_KEYS, exclude_none=True) | {
            name: terms[name] for name in ("milestones", "gas_scale") if name in terms
        }

    change: Change
    if isinstance(event, GoalAgreed):
        change = Insert(
            goal_progress,
            {
                **event.model_dump(
                    include={
                        "goal_id",
                        "clinic_id",
                        "client_id",
                        "counselor_id",
                        "session_id",
                        "description",
                        "measure",
                        "target",
                        "due_date",
                        "type",
                        "horizon",
                        "priority",
                        "review_every_days",
                        "gas_weight",
                        "lifecycle_status",
                        "achievement_status",
                    }
                ),
                # Columns of the words in clear before revision 0004: empty now (see wording).
                "description": "",
                "measure": "",
                "target": "",
                "milestones": terms["milestones"],
                "gas_scale": terms.get("gas_scale"),
                "agreed_at": to_utc(event.agreed_at),
                "homework_assigned": 0,
                "homework_completed": 0,
                "completed_on_time": 0,
            },
        )
        at, actor = event.agreed_at, event.counselor_id
    elif isinstance(event, GoalRevised):
        revised = values()
        revised.pop("wording_revised")  # history only: the words are goal-worded's
        change = Update(goal_progress, event.goal_id, revised)
        at, actor = event.revised_at, event.revised_by
    elif isinstance(event, GoalStatusChanged):
        terms.pop("changed_at")
        changed = values()
        changed.pop("changed_at")
        change = Update(goal_progress, event.goal_id, changed)
        at, actor = event.changed_at, None
    else:
        terms.pop("reviewed_at")
        level = {} if event.attained_level is None else {"attained_level": event.attained_level}
        reviewed = {
            "achievement_status": event.achievement_status,
            "last_reviewed_at": to_utc(event.reviewed_at),
            **level,
        }
        change = Update(goal_progress, event.goal_id, reviewed)
        at, actor = event.reviewed_at, event.counselor_id
    history = {
        "goal_id": event.goal_id,
        "version": version,
        "clinic_id": event.clinic_id,
        "event_type": event.event_type,
        "occurred_at": to_utc(at),
        "actor": actor,
        "changes": terms,
        # Not getattr(event, ..., None): a missing attribute goes through pydantic's
        # __getattr__ and an exception, a tenth of a rebuild's time for goal-agreed.
        "attained_level": event.attained_level if isinstance(event, GoalReviewed) else None,
    }
    return [change, Insert(goal_history, history)]


def _homework_assigned(event: HomeworkAssigned) -> list[Change]:
    homework = {
        "homework_id": event.homework_id,
        "clinic_id": event.clinic_id,
        "client_id": event.client_id,
        "counselor_id": event.counselor_id,
        "goal_id": event.goal_id,
        "session_id": event.session_id,
        "instructions": "",  # filled in by homework-instructed, encrypted
        "due_at": to_utc(event.due_at),
        "assigned_at": to_utc(event.assigned_at),
        "type": event.type,
        "recurrence": event.recurrence.model_dump(mode="json") if event.recurrence else None,
        "reminder_lead_minutes": event.reminder_lead_minutes,
        "next_due_at": to_utc(event.due_at),
    }
    found: list[Change] = [Insert(client_homework, homework)]
    if event.goal_id is not None:
        found.append(Add(goal_progress, event.goal_id, {"homework_assigned": 1}))
    return found


def _occurrence_done(event: HomeworkCompleted | HomeworkMissed, schedule: Any) -> list[Change]:
    """An occurrence completed or missed: its outcome, and the next open one (if any)."""
    outcome: dict[str, Any] = {"completed_at": None, "on_time": False, "self_rating": None}
    if isinstance(event, HomeworkCompleted):
        outcome = {
            "completed_at": to_utc(event.completed_at),
            "on_time": event.on_time,
            "self_rating": event.self_rating,
        }
    found: list[Change] = [
        Insert(
            homework_outcomes,
            {
                "homework_id": event.homework_id,
                "due_at": to_utc(event.due_at),
                "clinic_id": event.clinic_id,
                "client_id": event.client_id,
                "goal_id": event.goal_id,
                **outcome,
            },
        )
    ]
    due_at, recurrence_terms = schedule
    rule = Recurrence.model_validate(recurrence_terms) if recurrence_terms else None
    next_due = recurrence.occurrence_after(to_utc(due_at), rule, event.due_at)
    values: dict[str, Any] = {"next_due_at": next_due}
    if isinstance(event, HomeworkCompleted) and event.final:
        values |= {"completed_at": to_utc(event.completed_at), "on_time": event.on_time}
    found.append(Update(client_homework, event.homework_id, values))
    # The per-goal counters count homework finished, as they did before recurrences existed.
    if isinstance(event, HomeworkCompleted) and event.final and event.goal_id is not None:
        counts = {"homework_completed": 1, "completed_on_time": int(event.on_time)}
        found.append(Add(goal_progress, event.goal_id, counts))
    return found


def _measure_recorded(event: MeasureRecorded) -> Change:
    measure = event.model_dump(
        include={
            "measure_id",
            "clinic_id",
            "client_id",
            "counselor_id",
            "session_id",
            "instrument",
            "total",
            "band",
        }
    )
    return Insert(
        client_measures,
        {
            **measure,
            "items": list(event.items),
            "recorded_at": to_utc(event.recorded_at),
            "alliance_alert": False,
        },
    )


async def purge_client(conn: AsyncConnection, clinic_id: str, client_id: str) -> None:
    """Erasure: every read-model row of the client goes."""
    goals = select(goal_progress.c.goal_id).where(
        goal_progress.c.clinic_id == clinic_id, goal_progress.c.client_id == client_id
    )
    await conn.execute(delete(goal_history).where(goal_history.c.goal_id.in_(goals)))
    owned = (goal_progress, client_homework, homework_outcomes, client_measures)
    for table in (*owned, risk_flags, measure_asks, measurement_plans):
        await conn.execute(
            delete(table).where(table.c.clinic_id == clinic_id, table.c.client_id == client_id)
        )


async def _purge_erased(conn: AsyncConnection) -> None:
    """After a replay: the erased clients' events are still in the log, their rows must not
    come back (their key rows stay as tombstones)."""
    erased = await conn.execute(
        select(client_keys.c.clinic_id, client_keys.c.client_id).where(
            client_keys.c.erased_at.is_not(None)
        )
    )
    for clinic_id, client_id in erased.all():
        await purge_client(conn, clinic_id, client_id)


async def replay(conn: AsyncConnection, runtime: ServiceRuntime[EventStore]) -> int:
    """Replay every stored event in order into the emptied tables (ServiceRuntime.add_projection
    empties them and holds off live writers); returns how many.

    The replay folds the events' changes into rows in memory and writes them with executemany
    inserts (see rapport_shared.eventsourcing.projection.Fold): executing the changes one statement
    at a time, as live, ran at about 400 events per second."""
    fold = Fold(conn, PROJECTION_TABLES)
    replayed, position = 0, 0
    while page := await runtime.store.replay(conn, after_position=position, limit=REPLAY_PAGE):
        for _, _, version, event in page:
            schedule = None
            if isinstance(event, HomeworkCompleted | HomeworkMissed):
                homework = await fold.row(client_homework, event.homework_id)
                schedule = (homework["due_at"], homework["recurrence"])
            await fold.apply(changes(version, event, schedule))
        replayed += len(page)
        position = page[-1].position
    await fold.write()
    await _purge_erased(conn)
    return replayed
