"""Every reminder kind through the bus, with its cancellations in either order: a real
nats-server and database; the test plays the sessions and goals services."""

from datetime import datetime, timedelta
from uuid import uuid4

from notifications_support import CLINIC, assignment, completion_of, now, running_service

from rapport_devtools.testing import eventually
from rapport_notifications.domain.model import HOMEWORK_DUE, reminder_id_for
from rapport_shared.contracts.goals import (
    AllianceAlertRaised,
    GoalAgreed,
    GoalRevised,
    GoalStatusChanged,
    HomeworkCancelled,
)
from rapport_shared.contracts.sessions import (
    NoteSigned,
    Recurrence,
    SessionCancelled,
    SessionClosed,
    SessionScheduled,
)

DAY = timedelta(days=1)


def _session(session_id=None, **fields):
    return {
        "clinic_id": CLINIC,
        "session_id": session_id or uuid4(),
        "client_id": "ana",
        "counselor_id": "dr-okafor",
        **fields,
    }


def _signed(base):
    return NoteSigned(**base, signed_by="dr-okafor", signed_at=now(), content_sha256="a" * 64)


async def _kinds(service, recipient_id, status):
    return sorted(r["kind"] for r in (await service.reminders(recipient_id))[status])


async def test_session_reminders_and_their_cancellations_in_either_order(
    database_url, nats_server, tmp_path
):
    async with running_service(database_url, nats_server.url, tmp_path) as service:
        # In order: scheduled, then cancelled.
        base = _session()
        await service.publish(SessionScheduled(**base, starts_at=now() + 3 * DAY))
        pending = await service.wait_for_reminder("ana", "pending", "next-session")
        assert pending["session_id"] == str(base["session_id"])
        await service.publish(SessionCancelled(**base, cancelled_at=now(), reason="other"))
        await service.wait_for_reminder("ana", "cancelled", "next-session")

        # Out of order: the cancellation first leaves a tombstone; the scheduling then does
        # nothing.
        late = _session()
        cancelled = await service.publish(
            SessionCancelled(**late, cancelled_at=now(), reason="client-request")
        )
        scheduled = await service.publish(SessionScheduled(**late, starts_at=now() + 4 * DAY))
        await service.wait_until_processed(cancelled, scheduled)

        # Closing: an unsigned-note reminder for the counselor (about the client) and the next
        # session for the client; signing cancels the first.
        closed_base = _session()
        next_at = now() + 5 * DAY
        await service.publish(
            SessionClosed(**closed_base, closed_at=now(), next_session_at=next_at)
        )
        note = await service.wait_for_reminder("dr-okafor", "pending", "unsigned-note")
        assert note["due_at"] > (now() + DAY - timedelta(minutes=1)).isoformat()
        assert "The note for your session with ana" in note["message"]
        await service.publish(_signed(closed_base))
        await service.wait_for_reminder("dr-okafor", "cancelled", "unsigned-note")
        # The next session, announced by the close and then scheduled: one reminder.
        await service.publish(SessionScheduled(**_session(), starts_at=next_at))

        # Signed before it was closed: no unsigned-note reminder at all.
        early = _session()
        signed = await service.publish(_signed(early))
        closed = await service.publish(SessionClosed(**early, closed_at=now()))
        await service.wait_until_processed(signed, closed)

        async def settled():
            return await _kinds(service, "ana", "pending") == ["next-session"] or None

        await eventually(settled)
        assert await _kinds(service, "ana", "cancelled") == ["next-session"]
        assert await _kinds(service, "dr-okafor", "pending") == []
        assert await _kinds(service, "dr-okafor", "cancelled") == ["unsigned-note"]
        assert await service.dead_letters() == []


async def test_goal_check_ins_follow_the_cadence_and_stop_when_the_goal_closes(
    database_url, nats_server, tmp_path
):
    async with running_service(database_url, nats_server.url, tmp_path) as service:
        goal_id = uuid4()
        agreed = GoalAgreed(
            clinic_id=CLINIC,
            goal_id=goal_id,
            client_id="ana",
            counselor_id="dr-okafor",
            description="Walk three times a week",
            measure="walks",
            target="3",
            due_date=(now() + 30 * DAY).date(),
            agreed_at=now(),
            review_every_days=7,
        )
        await service.publish(agreed)

        async def check_ins(status, count):
            listed = (await service.reminders("ana"))[status]
            reviews = [r for r in listed if r["kind"] == "goal-review"]
            return reviews if len(reviews) == count else None

        weekly = await eventually(lambda: check_ins("pending", 4))
        assert [r["goal_id"] for r in weekly] == [str(goal_id)] * 4
        # A revision to every 14 days replaces them.
        await service.publish(
            GoalRevised(
                clinic_id=CLINIC,
                goal_id=goal_id,
                client_id="ana",
                revised_at=now(),
                revised_by="dr-okafor",
                review_every_days=14,
            )
        )
        await eventually(lambda: check_ins("cancelled", 4))
        fortnightly = await eventually(lambda: check_ins("pending", 2))
        assert fortnightly[0]["due_at"] > weekly[1]["due_at"]

        status = {"clinic_id": CLINIC, "client_id": "ana", "changed_at": now()}
        await service.publish(
            GoalStatusChanged(
                **status,
                goal_id=goal_id,
                lifecycle_status="completed",
                achievement_status="achieved",
            )
        )
        await eventually(lambda: check_ins("cancelled", 6))
        assert await check_ins("pending", 0) == []

        # Closed before it was agreed (events reordered): nothing is ever scheduled.
        other = uuid4()
        closed = await service.publish(
            GoalStatusChanged(
                **status,
                goal_id=other,
                lifecycle_status="entered-in-error",
                achievement_status="in-progress",
            )
        )
        late = await service.publish(agreed.model_copy(update={"goal_id": other}))
        await service.wait_until_processed(closed, late)
        listed = await service.reminders("ana")
        assert str(other) not in str(listed)


async def test_an_alliance_alert_reaches_the_counselor_at_once(database_url, nats_server, tmp_path):
    async with running_service(database_url, nats_server.url, tmp_path) as service:
        await service.set_email("dr-okafor", "okafor@example.org")
        await service.publish(
            AllianceAlertRaised(
                clinic_id=CLINIC,
                alert_id=uuid4(),
                measure_id=uuid4(),
                client_id="ana",
                counselor_id="dr-okafor",
                srs_total=30,
                threshold=36,
                raised_at=now(),
            )
        )
        (mail,) = await service.wait_for_mail("okafor@example.org")
        assert mail["Subject"] == "Alliance alert: check in with your client"
        assert "ana's Session Rating Scale total (30, below 36)" in mail.get_content()


async def test_every_occurrence_of_recurring_homework_is_reminded_and_cancelled_alone(
    database_url, nats_server, tmp_path
):
    async with running_service(database_url, nats_server.url, tmp_path) as service:
        first = (now() + 2 * DAY).replace(microsecond=0)
        homework = assignment(
            client_id="ana",
            due_at=first,
            homework_type="symptom-log",
            recurrence=Recurrence(frequency="daily", until=(first + 3 * DAY).date()),
        )
        await service.publish(homework)

        async def pending(count):
            listed = (await service.reminders("ana"))["pending"]
            due = [r for r in listed if r["kind"] == "homework-due"]
            return due if len(due) == count else None

        four = await eventually(lambda: pending(4))
        # A day before each occurrence.
        assert [datetime.fromisoformat(r["due_at"]) for r in four] == [
            first + (n - 1) * DAY for n in range(4)
        ]
        # The second occurrence done: only its reminder goes.
        done = completion_of(homework).model_copy(update={"due_at": first + DAY, "final": False})
        await service.publish(done)
        await service.wait_for_reminder("ana", "cancelled", "homework-due")
        await service.wait_for_reminder("ana", "sent", "recognition")
        (cancelled,) = (await service.reminders("ana"))["cancelled"]
        assert cancelled["reminder_id"] == str(
            reminder_id_for(homework.homework_id, HOMEWORK_DUE, first + DAY)
        )
        assert len(await pending(3)) == 3
        # Cancelling the homework cancels the rest.
        await service.publish(
            HomeworkCancelled(
                clinic_id=CLINIC,
                homework_id=homework.homework_id,
                client_id="ana",
                cancelled_at=now(),
            )
        )

        async def none_pending():
            return await pending(0) == []

        await eventually(none_pending)
        assert len((await service.reminders("ana"))["cancelled"]) == 4
        assert await service.dead_letters() == []


async def test_a_homework_cancelled_before_its_assignment_schedules_nothing(
    database_url, nats_server, tmp_path
):
    async with running_service(database_url, nats_server.url, tmp_path) as service:
        homework = assignment(client_id="ana", due_in=10 * DAY)
        cancelled = await service.publish(
            HomeworkCancelled(
                clinic_id=CLINIC,
                homework_id=homework.homework_id,
                client_id="ana",
                cancelled_at=now(),
            )
        )
        assigned = await service.publish(homework)
        await service.wait_until_processed(cancelled, assigned)
        assert await service.reminders("ana") == {
            "recipient_id": "ana",
            "pending": [],
            "sent": [],
            "cancelled": [],
            "failed": [],
        }
