"""From goals' homework events to emails and the feed, with a real nats-server, database and SMTP
server; the test plays the goals service."""

from datetime import UTC, datetime, timedelta

from notifications_support import CLINIC, assignment, completion_of, running_service
from sqlalchemy import select

from rapport_devtools.testing import eventually
from rapport_notifications.domain.events import DeliveryAttemptFailed
from rapport_notifications.domain.model import (
    HOMEWORK_DUE,
    RECOGNITION,
    reminder_id_for,
    reminder_stream,
)
from rapport_notifications.tables import PROJECTION_TABLES, delivery_errors
from rapport_shared.contracts.notifications import ReminderFailed

TEN_DAYS = timedelta(days=10)
EMAIL_ONLY = {"homework-due": ["email"], "recognition": ["email"]}


def _subject(event_type: str) -> str:
    return f"rapport.{CLINIC}.notifications.{event_type}"


def _day(moment: datetime) -> str:
    utc = moment.astimezone(UTC)
    return f"{utc:%A} {utc.day} {utc:%B}"


async def test_a_due_reminder_is_emailed_once_to_the_recipient(database_url, nats_server, tmp_path):
    async with running_service(database_url, nats_server.url, tmp_path) as service:
        await service.set_email("ana", "ana@example.org")
        await service.set_email("ben", "ben@example.org")
        # Due in an hour, a day's lead: the reminder is due at once.
        homework = assignment(client_id="ana", homework_type="symptom-log")
        await service.publish(homework)

        (mail,) = await service.wait_for_mail("ana@example.org")
        assert mail["From"] == "reminders@rapport.local"
        assert mail["Subject"] == "A reminder about your homework"
        due = homework.due_at.astimezone(UTC)
        assert mail.get_content().strip() == (
            f"A gentle reminder: your symptom log for {_day(due)} is due at {due:%H:%M} (UTC)."
        )
        sent = await service.wait_for_reminder("ana", "sent", "homework-due")
        assert sent["reminder_id"] == str(
            reminder_id_for(homework.homework_id, HOMEWORK_DUE, homework.due_at)
        )
        assert sent["homework_id"] == str(homework.homework_id)
        assert sent["sent_at"] is not None
        # No preferences: every channel on file, the in-app feed and email, each once.
        assert [(d["channel"], d["status"], d["attempts"]) for d in sent["deliveries"]] == [
            ("email", "sent", 1),
            ("feed", "sent", 1),
        ]
        (item,) = (await service.feed("ana"))["items"]
        assert (item["subject"], item["body"]) == (mail["Subject"], mail.get_content().strip())

        # A later reminder delivered means later scheduler rounds ran: still one email for ana.
        await service.publish(assignment(client_id="ben"))
        await service.wait_for_mail("ben@example.org")
        assert len(service.mail_to("ana@example.org")) == 1

        async def published():
            counts = await service.published_counts()
            return counts if counts.get(_subject("reminder-sent")) == 4 else None

        counts = await eventually(published)
        # Only the public contracts reach the bus (one reminder-sent per channel); the facts the
        # words are made of stay in this service.
        assert counts == {_subject("reminder-scheduled"): 2, _subject("reminder-sent"): 4}


async def test_completion_cancels_the_pending_reminder_and_sends_a_recognition(
    database_url, nats_server, tmp_path
):
    async with running_service(database_url, nats_server.url, tmp_path) as service:
        await service.set_email("ana", "ana@example.org")
        homework = assignment(client_id="ana", due_in=TEN_DAYS, homework_type="journaling")
        await service.publish(homework)
        pending = await service.wait_for_reminder("ana", "pending", "homework-due")
        remind_at = datetime.fromisoformat(pending["due_at"])
        assert remind_at == homework.due_at - timedelta(days=1)

        await service.publish(completion_of(homework))
        await service.wait_for_reminder("ana", "sent", "recognition")
        (mail,) = service.mail_to("ana@example.org")
        assert mail["Subject"] == "Well done!"
        assert mail.get_content().strip() == (
            f"Well done on completing your journal entry for {_day(homework.due_at)}! "
            "Every step between sessions counts."
        )
        cancelled = await service.wait_for_reminder("ana", "cancelled", "homework-due")
        assert cancelled["reminder_id"] == pending["reminder_id"]
        listed = await service.reminders("ana")
        assert [r["kind"] for r in listed["sent"]] == ["recognition"]
        assert listed["pending"] == []


async def test_a_completion_before_the_assignment_schedules_nothing(
    database_url, nats_server, tmp_path
):
    async with running_service(database_url, nats_server.url, tmp_path) as service:
        await service.set_email("ana", "ana@example.org")
        homework = assignment(client_id="ana")  # would be due for a reminder at once
        completed = await service.publish(completion_of(homework))
        assigned = await service.publish(homework)
        await service.wait_until_processed(completed, assigned)

        await service.wait_for_reminder("ana", "sent", "recognition")
        (mail,) = service.mail_to("ana@example.org")
        assert mail.get_content().startswith("Well done on completing your homework for ")
        listed = await service.reminders("ana")
        assert [r["kind"] for r in listed["sent"]] == ["recognition"]
        assert listed["pending"] == listed["cancelled"] == listed["failed"] == []
        due_id = reminder_id_for(homework.homework_id, HOMEWORK_DUE, homework.due_at)
        assert await service.stream_events(reminder_stream(due_id)) == []


async def test_duplicated_events_create_nothing_twice(database_url, nats_server, tmp_path):
    async with running_service(database_url, nats_server.url, tmp_path) as service:
        await service.set_email("ana", "ana@example.org")
        homework = assignment(client_id="ana")
        first = await service.publish(homework)
        copies = [
            await service.publish(homework, event_id=first),  # redelivered: same event id
            await service.publish(homework),  # republished by goals under a new event id
        ]
        await service.wait_until_processed(first, *copies)
        await service.wait_for_reminder("ana", "sent", "homework-due")

        completion = completion_of(homework)
        done = [await service.publish(completion) for _ in range(2)]
        await service.wait_until_processed(*done)
        await service.wait_for_reminder("ana", "sent", "recognition")

        subjects = sorted(m["Subject"] for m in service.mail_to("ana@example.org"))
        assert subjects == ["A reminder about your homework", "Well done!"]
        for kind in (HOMEWORK_DUE, RECOGNITION):
            reminder_id = reminder_id_for(homework.homework_id, kind, homework.due_at)
            events = await service.stream_events(reminder_stream(reminder_id))
            # The sent homework-due reminder is not cancelled by the completion either.
            assert [e.event_type for e in events] == [
                "reminder-scheduled",
                "reminder-composed",
                "reminder-sent",
                "reminder-sent",
            ]
        assert await service.dead_letters() == []


async def test_undeliverable_reminders_are_retried_then_failed_with_a_reason_code(
    database_url, nats_server, tmp_path
):
    async with running_service(
        database_url,
        nats_server.url,
        tmp_path,
        smtp_up=False,
        delivery_max_attempts=3,
        delivery_backoff_seconds=0.05,
    ) as service:
        # ana has an address but nothing listens on the SMTP port; carl wants email, has none.
        await service.set_recipient("ana", email="ana@example.org", preferences=EMAIL_ONLY)
        await service.set_recipient("carl", email=None, preferences=EMAIL_ONLY)
        homework = assignment(client_id="ana")
        await service.publish(homework)
        await service.publish(assignment(client_id="carl"))

        failed = await service.wait_for_reminder("ana", "failed", "homework-due")
        assert (failed["attempts"], failed["failure_reason"]) == (3, "smtp-unreachable")
        reminder_id = reminder_id_for(homework.homework_id, HOMEWORK_DUE, homework.due_at)
        events = await service.stream_events(reminder_stream(reminder_id))
        assert [type(e) for e in events[2:]] == [
            DeliveryAttemptFailed,
            DeliveryAttemptFailed,
            ReminderFailed,
        ]
        retries = [e.next_attempt_at - e.failed_at for e in events[2:4]]
        assert retries == [timedelta(seconds=0.05), timedelta(seconds=0.1)]
        # The error's wording stays in this service's own table, not in any event.
        async with service.runtime.engine.connect() as conn:
            (detail,) = (
                await conn.execute(
                    select(delivery_errors.c.detail).where(
                        delivery_errors.c.reminder_id == reminder_id
                    )
                )
            ).scalars()
        assert detail.startswith("SMTPConnectError")
        assert all("SMTPConnectError" not in e.model_dump_json() for e in events)

        no_address = await service.wait_for_reminder("carl", "failed", "homework-due")
        assert (no_address["attempts"], no_address["failure_reason"]) == (3, "no-address")

        async def published():
            counts = await service.published_counts()
            return counts.get(_subject("reminder-failed")) == 2

        await eventually(published)
        metrics = (await service.client.get("/metrics")).text
        assert 'rapport_reminders{channel="email",status="failed"} 2.0' in metrics


async def test_rebuilding_the_projection_reproduces_the_live_one(
    database_url, nats_server, tmp_path
):
    async with running_service(
        database_url, nats_server.url, tmp_path, delivery_max_attempts=1
    ) as service:
        await service.set_email("ana", "ana@example.org")
        await service.set_recipient("dora", email=None, preferences=EMAIL_ONLY)
        sent = assignment(client_id="ana")
        cancelled = assignment(client_id="ana", due_in=TEN_DAYS)
        pending = assignment(client_id="ana", due_in=TEN_DAYS)
        failed = assignment(client_id="dora")  # no address on file
        for event in (sent, cancelled, pending, failed):
            await service.publish(event)
        await service.wait_for_reminder("ana", "sent", "homework-due")
        await service.wait_for_reminder("dora", "failed", "homework-due")
        await service.publish(completion_of(cancelled))
        await service.wait_for_reminder("ana", "cancelled", "homework-due")
        await service.wait_for_reminder("ana", "sent", "recognition")

        live = await _projection_rows(service)
        assert {row.status for row in live["reminders"]} == {
            "pending",
            "sent",
            "cancelled",
            "failed",
        }
        assert len(live["reminders"]) == 5
        assert {(row.channel, row.status) for row in live["deliveries"]} == {
            ("email", "sent"),
            ("feed", "sent"),
            ("email", "failed"),
        }
        response = await service.client.post("/admin/projections/reminders/rebuild")
        assert response.status_code == 200, response.text
        assert await _projection_rows(service) == live


async def _projection_rows(service):
    async with service.runtime.engine.connect() as conn:
        return {
            table.name: sorted(
                (await conn.execute(select(table))).all(), key=lambda row: (str(row[0]), row[1])
            )
            for table in PROJECTION_TABLES
        }
