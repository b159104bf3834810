"""Measure asks through the bus: a measure-due reminder to the client at the ask's time, in
their zone and outside their quiet hours, cancelled when the ask closes, nothing when the
closing comes first; and both new kinds (measure-due, risk-alert) go with a client's erasure.
A real nats-server, database and SMTP server; the test plays the goals and sessions services."""

from datetime import datetime, timedelta
from uuid import UUID, uuid4
from zoneinfo import ZoneInfo

from notifications_support import CLINIC, now, risk_flag, running_service
from sqlalchemy import func, select

from rapport_devtools.testing import eventually
from rapport_notifications.domain.measures import measure_due_id
from rapport_notifications.domain.messages import day_and_time
from rapport_notifications.domain.model import reminder_stream
from rapport_notifications.tables import feed, reminders
from rapport_shared.contracts.goals import MeasureAskClosed, MeasureRequested
from rapport_shared.contracts.notifications import ReminderCancelled
from rapport_shared.contracts.sessions import ClientErased

DAY = timedelta(days=1)
BERLIN = ZoneInfo("Europe/Berlin")


def _requested(client_id: str, ask_at: datetime) -> MeasureRequested:
    """Before a session a day after the ask, as the goals service asks it."""
    session_at = (ask_at + DAY).replace(microsecond=0)
    return MeasureRequested(
        clinic_id=CLINIC,
        ask_id=uuid4(),
        client_id=client_id,
        instrument="PHQ-9",
        timing="before-session",
        session_id=uuid4(),
        ask_at=ask_at,
        due_at=session_at,
        deadline=session_at,
    )


def _closed(requested: MeasureRequested) -> MeasureAskClosed:
    return MeasureAskClosed(
        clinic_id=CLINIC,
        ask_id=requested.ask_id,
        client_id=requested.client_id,
        instrument=requested.instrument,
        outcome="fulfilled",
        measure_id=uuid4(),
        closed_at=now(),
    )


def _ids(listed: dict) -> set[str]:
    return {r["reminder_id"] for status in ("pending", "sent", "cancelled") for r in listed[status]}


def _quiet_now(zone: ZoneInfo) -> dict[str, str]:
    local = now().astimezone(zone)
    start, end = local - timedelta(hours=1), local + timedelta(hours=2)
    return {"start": f"{start:%H:%M}", "end": f"{end:%H:%M}"}


async def test_a_measure_is_asked_at_its_time_cancelled_when_closed_and_never_after_closing(
    database_url, nats_server, tmp_path
):
    async with running_service(database_url, nats_server.url, tmp_path) as service:
        await service.set_recipient("ana", email="ana@example.org", time_zone=BERLIN.key)
        auckland = ZoneInfo("Pacific/Auckland")
        quiet = _quiet_now(auckland)
        await service.set_recipient(
            "ben", email="ben@example.org", time_zone=auckland.key, quiet_hours=quiet
        )

        # Asked for in two days: a reminder then; the measure arrives first and cancels it.
        later = _requested("ana", now() + 2 * DAY)
        await service.publish(later)
        pending = await service.wait_for_reminder("ana", "pending", "measure-due")
        assert pending["reminder_id"] == str(measure_due_id(later.ask_id))
        assert datetime.fromisoformat(pending["due_at"]) == later.ask_at
        await service.publish(_closed(later))
        await service.wait_for_reminder("ana", "cancelled", "measure-due")
        events = await service.stream_events(reminder_stream(measure_due_id(later.ask_id)))
        (cancelled,) = [e for e in events if isinstance(e, ReminderCancelled)]
        assert cancelled.reason == "measure-ask-closed"

        # Closed before it was requested (events reordered): nothing is asked.
        reordered = _requested("ana", now() + DAY)
        closed = await service.publish(_closed(reordered))
        requested = await service.publish(reordered)
        await service.wait_until_processed(closed, requested)
        assert str(measure_due_id(reordered.ask_id)) not in _ids(await service.reminders("ana"))

        # Asked for now: the email names the session's time in ana's zone.
        asked = _requested("ana", now())
        await service.publish(asked)
        (mail,) = await service.wait_for_mail("ana@example.org")
        assert mail["Subject"] == "A short questionnaire for you"
        assert (
            f"Please fill in your PHQ-9 before your session on {day_and_time(asked.due_at, BERLIN)}"
            in mail.get_content()
        )

        # In ben's quiet hours the ask waits for their end, in his zone.
        await service.publish(_requested("ben", now()))

        async def deferred() -> dict | None:
            pending = (await service.reminders("ben"))["pending"]
            return next((r for r in pending if r["next_attempt_at"] != r["due_at"]), None)

        waiting = await eventually(deferred)
        until = datetime.fromisoformat(waiting["next_attempt_at"]).astimezone(auckland)
        assert f"{until:%H:%M}" == quiet["end"]
        assert service.mail_to("ben@example.org") == []
        assert (await service.feed("ben"))["items"] == []
        assert await service.dead_letters() == []


async def _rows_about(service, client_id: str) -> int:
    async with service.runtime.engine.connect() as conn:
        counted = 0
        for table in (reminders, feed):
            counted += int(
                await conn.scalar(
                    select(func.count())
                    .select_from(table)
                    .where(table.c.clinic_id == CLINIC, table.c.client_id == client_id)
                )
            )
        return counted


async def test_a_client_erasure_takes_their_measure_asks_and_the_risk_alerts_about_them(
    database_url, nats_server, tmp_path
):
    async with running_service(database_url, nats_server.url, tmp_path) as service:
        await service.publish(_requested("ana", now() + 2 * DAY))
        await service.publish(risk_flag("ana", "dr-okafor", score=1))
        pending = await service.wait_for_reminder("ana", "pending", "measure-due")
        await service.wait_for_reminder("dr-okafor", "sent", "risk-alert")
        assert await _rows_about(service, "ana") == 3  # two reminders, one feed item

        erased = await service.publish(
            ClientErased(clinic_id=CLINIC, client_id="ana", erased_by="admin-1", erased_at=now())
        )
        await service.wait_until_processed(erased)
        assert await _rows_about(service, "ana") == 0
        events = await service.stream_events(reminder_stream(UUID(pending["reminder_id"])))
        assert [e.reason for e in events if isinstance(e, ReminderCancelled)] == ["client-erased"]
        # A later ask of hers asks nothing.
        late = await service.publish(_requested("ana", now()))
        await service.wait_until_processed(late)
        assert await _rows_about(service, "ana") == 0
        assert await service.dead_letters() == []
