"""The commands the load sends, each with the request and the effects it must have everywhere.

Every id is chosen by the harness (the APIs accept client-supplied ids, and plans derive theirs
from the session the way the goals service does), so each effect can be looked up afterwards.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4, uuid5

from bench.load import plan  # the closing step the benchmarks send: one goal, one homework
from chaos.ledger import Command, Effect

PHQ9_ITEMS = [1, 2, 0, 1, 1, 0, 2, 1, 0]


@dataclass
class Request:
    service: str
    method: str
    path: str
    body: Any


@dataclass
class Sent(Command):
    request: Request | None = None


def _soon(days: float) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).isoformat()


def derived(session_id: UUID, kind: str) -> UUID:
    """The goal (kind "goal") or homework ("homework") the goals service derives from the first
    item of a session's plan (rapport_goals.domain.model._derived_id)."""
    return uuid5(session_id, f"{kind}-0")


def schedule(clinic: str, session_id: UUID, client: str) -> Sent:
    body = {
        "session_id": str(session_id),
        "client_id": client,
        "counselor_id": f"counselor-{client[-1]}",
        "starts_at": _soon(-0.1),
    }
    return Sent(
        "schedule-session",
        [
            ("sessions", "event:session-scheduled", f"session-{session_id}"),
            ("sessions", "row:notes_sessions", str(session_id)),
        ],
        request=Request("sessions", "POST", f"/clinics/{clinic}/sessions", body),
    )


def close(clinic: str, session_id: UUID) -> Sent:
    goal, homework = derived(session_id, "goal"), derived(session_id, "homework")
    effects: list[Effect] = [
        ("sessions", "event:session-closed", f"session-{session_id}"),
        ("sessions", "row:notes_sessions.closed", str(session_id)),
        ("goals", "event:goal-agreed", f"goal-{goal}"),
        ("goals", "event:homework-assigned", f"homework-{homework}"),
        ("goals", "row:goal_progress", str(goal)),
        ("goals", "row:client_homework", str(homework)),
        ("sessions", "row:notes_goals", str(goal)),
        ("sessions", "row:notes_homework.assigned", str(homework)),
        ("notifications", "event:homework-assignment-noted", f"homework-{homework}"),
        # Its homework-due reminder; moot when the completion reached notifications first
        # (a redelivery after a crash comes after newer messages): see chaos.observe.
        ("notifications", "reminder:homework-due", str(homework)),
    ]
    path = f"/clinics/{clinic}/sessions/{session_id}/close"
    request = Request("sessions", "POST", path, plan(homework=True))
    return Sent("close-session", effects, request=request)


def complete(clinic: str, session_id: UUID) -> Sent:
    goal, homework = derived(session_id, "goal"), derived(session_id, "homework")
    effects: list[Effect] = [
        ("goals", "event:homework-completed", f"homework-{homework}"),
        ("goals", "row:client_homework.completed", str(homework)),
        ("goals", "row:homework_outcomes", str(homework)),
        # A counter, not a row: a completion applied twice would make it 2.
        ("goals", "counter:homework_completed", str(goal)),
        ("sessions", "row:notes_homework.completed", str(homework)),
        ("sessions", "row:prep_homework_outcomes", str(homework)),
        ("notifications", "event:homework-completion-noted", f"homework-{homework}"),
        # Its recognition (the reminder's id also names the occurrence: found by homework).
        ("notifications", "reminder:recognition", str(homework)),
    ]
    path = f"/clinics/{clinic}/homework/{homework}/complete"
    return Sent("complete-homework", effects, request=Request("goals", "POST", path, {}))


def measure(clinic: str, client: str, items: list[int] | None = None) -> Sent:
    """A PHQ-9; with items that are not a PHQ-9 the service must refuse it (422)."""
    measure_id = uuid4()
    body = {"measure_id": str(measure_id), "instrument": "PHQ-9", "items": items or PHQ9_ITEMS}
    return Sent(
        "record-measure" if items is None else "record-invalid-measure",
        [
            ("goals", "event:measure-recorded", f"measure-{measure_id}"),
            ("goals", "row:client_measures", str(measure_id)),
            ("sessions", "row:prep_measures", str(measure_id)),
        ],
        request=Request("goals", "POST", f"/clinics/{clinic}/clients/{client}/measures", body),
    )


def close_unknown(clinic: str) -> Sent:
    """Closing a session that was never scheduled: refused (404), and so no plan anywhere."""
    command = close(clinic, uuid4())
    command.kind = "close-unknown-session"
    return command
