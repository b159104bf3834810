"""A recipient's side: the in-app feed read and marked through the API, quiet hours in their own
time zone, opting out, and erasure. A real nats-server and database."""

from datetime import datetime, timedelta
from uuid import uuid4
from zoneinfo import ZoneInfo

from notifications_support import CLINIC, assignment, completion_of, now, running_service
from sqlalchemy import func, select

from rapport_devtools.testing import eventually
from rapport_notifications.tables import (
    deliveries,
    delivery_claims,
    delivery_errors,
    feed,
    recipients,
    reminders,
)
from rapport_shared.contracts.goals import AllianceAlertRaised
from rapport_shared.contracts.sessions import ClientErased, SessionClosed


async def test_the_feed_is_newest_first_paginated_and_marked_read(
    database_url, nats_server, tmp_path
):
    async with running_service(database_url, nats_server.url, tmp_path) as service:
        for n in range(5):
            homework = assignment(client_id="ana", due_in=timedelta(hours=n + 1))
            await service.publish(homework)

        async def five():
            return (await service.feed("ana", limit=100))["items"][4:] or None

        await eventually(five)
        first = await service.feed("ana", limit=2)
        second = await service.feed("ana", limit=2, before=first["next"])
        last = await service.feed("ana", limit=2, before=second["next"])
        assert last["next"] is None
        pages = first["items"] + second["items"] + last["items"]
        assert len({item["item_id"] for item in pages}) == 5
        created = [item["created_at"] for item in pages]
        assert created == sorted(created, reverse=True)
        assert first["unread"] == 5

        url = f"/clinics/{CLINIC}/recipients/ana/feed/read"
        two = [pages[0]["item_id"], pages[1]["item_id"]]
        marked = await service.client.post(url, json={"item_ids": two})
        assert marked.json() == {"marked": 2}
        again = await service.client.post(url, json={"item_ids": two})
        assert again.json() == {"marked": 0}
        # Another recipient cannot mark ana's items.
        other = await service.client.post(
            f"/clinics/{CLINIC}/recipients/ben/feed/read", json={"item_ids": [pages[2]["item_id"]]}
        )
        assert other.json() == {"marked": 0}
        after = await service.feed("ana", limit=100)
        assert after["unread"] == 3
        assert [i["read_at"] is not None for i in after["items"]] == [True, True] + [False] * 3

        bad = await service.client.get(f"/clinics/{CLINIC}/recipients/ana/feed?before=nope")
        assert (bad.status_code, bad.json()["errors"][0]["field"]) == (422, "before")
        bad = await service.client.get(f"/clinics/{CLINIC}/recipients/ana/feed?limit=0")
        assert (bad.status_code, bad.json()["errors"][0]["field"]) == (422, "limit")
        bad = await service.client.post(url, json={"item_ids": []})
        assert (bad.status_code, bad.json()["errors"][0]["field"]) == (422, "item_ids")


def _quiet_around(moment: datetime, zone: ZoneInfo) -> dict[str, str]:
    local = moment.astimezone(zone)
    start, end = local - timedelta(hours=1), local + timedelta(hours=2)
    return {"start": f"{start:%H:%M}", "end": f"{end:%H:%M}"}


async def test_a_reminder_falling_in_quiet_hours_waits_for_their_end_in_the_recipient_zone(
    database_url, nats_server, tmp_path
):
    async with running_service(database_url, nats_server.url, tmp_path) as service:
        # Quiet for ana in Auckland right now (whatever the UTC date there is); the same local
        # hours in Berlin are not quiet for ben now (11 or 12 hours apart).
        auckland, berlin = ZoneInfo("Pacific/Auckland"), ZoneInfo("Europe/Berlin")
        quiet = _quiet_around(now(), auckland)
        await service.set_recipient(
            "ana", email="ana@example.org", time_zone="Pacific/Auckland", quiet_hours=quiet
        )
        await service.set_recipient(
            "ben", email="ben@example.org", time_zone="Europe/Berlin", quiet_hours=quiet
        )
        await service.publish(assignment(client_id="ana"))
        await service.publish(assignment(client_id="ben"))

        await service.wait_for_mail("ben@example.org")
        pending = await service.wait_for_reminder("ana", "pending", "homework-due")
        end = datetime.fromisoformat(pending["next_attempt_at"])
        local_end = end.astimezone(auckland)
        assert f"{local_end:%H:%M}" == quiet["end"]
        assert timedelta(hours=1) < end - now() <= timedelta(hours=2)
        assert service.mail_to("ana@example.org") == []
        assert (await service.feed("ana"))["items"] == []
        # Shown in ana's zone, the message names the Auckland time.
        assert "(Pacific/Auckland)" in pending["message"]
        assert berlin.key in (await service.feed("ben"))["items"][0]["body"]


async def test_a_recipient_who_opted_out_of_a_kind_gets_none_of_it(
    database_url, nats_server, tmp_path
):
    async with running_service(database_url, nats_server.url, tmp_path) as service:
        await service.set_recipient(
            "ana", email="ana@example.org", preferences={"homework-due": []}
        )
        homework = assignment(client_id="ana")
        await service.publish(homework)
        await service.publish(completion_of(homework))
        await service.wait_for_reminder("ana", "sent", "recognition")
        opted_out = await service.wait_for_reminder("ana", "cancelled", "homework-due")
        assert opted_out["deliveries"] == []
        (mail,) = service.mail_to("ana@example.org")
        assert mail["Subject"] == "Well done!"


async def _count(service, table, **where) -> int:
    async with service.runtime.engine.connect() as conn:
        query = select(func.count()).select_from(table)
        for column, value in where.items():
            query = query.where(table.c[column] == value)
        return int(await conn.scalar(query))


async def test_erasure_purges_every_row_about_the_client_and_later_events_schedule_nothing(
    database_url, nats_server, tmp_path
):
    async with running_service(database_url, nats_server.url, tmp_path) as service:
        await service.set_email("ana", "ana@example.org")
        await service.set_email("dr-okafor", "okafor@example.org")
        await service.set_email("ben", "ben@example.org")
        await service.publish(assignment(client_id="ana"))  # sent at once
        await service.publish(assignment(client_id="ana", due_in=timedelta(days=10)))  # pending
        await service.publish(assignment(client_id="ben"))
        about_ana = {"clinic_id": CLINIC, "client_id": "ana", "counselor_id": "dr-okafor"}
        await service.publish(
            AllianceAlertRaised(
                **about_ana,
                alert_id=uuid4(),
                measure_id=uuid4(),
                srs_total=30,
                threshold=36,
                raised_at=now(),
            )
        )
        await service.publish(SessionClosed(**about_ana, session_id=uuid4(), closed_at=now()))
        await service.wait_for_reminder("ana", "sent", "homework-due")
        await service.wait_for_reminder("ana", "pending", "homework-due")
        await service.wait_for_reminder("dr-okafor", "sent", "alliance-alert")
        await service.wait_for_reminder("dr-okafor", "pending", "unsigned-note")
        await service.wait_for_reminder("ben", "sent", "homework-due")
        assert await _count(service, feed, client_id="ana") == 2

        erased = await service.publish(
            ClientErased(clinic_id=CLINIC, client_id="ana", erased_by="admin-1", erased_at=now())
        )
        await service.wait_until_processed(erased)
        for table, column in (
            (recipients, "recipient_id"),
            (reminders, "recipient_id"),
            (reminders, "client_id"),
            (feed, "recipient_id"),
            (feed, "client_id"),
            (delivery_errors, "recipient_id"),
        ):
            assert await _count(service, table, **{column: "ana"}) == 0, (table.name, column)
        async with service.runtime.engine.connect() as conn:
            orphans = await conn.scalar(
                select(func.count())
                .select_from(deliveries)
                .where(~deliveries.c.reminder_id.in_(select(reminders.c.reminder_id)))
            )
            claims = await conn.scalar(select(func.count()).select_from(delivery_claims))
        assert (orphans, claims) == (0, 0)
        # The counselor's reminders about ana are gone too; ben is untouched.
        okafor = await service.reminders("dr-okafor")
        assert okafor["pending"] == okafor["sent"] == []
        assert await _count(service, recipients, recipient_id="ben") == 1
        assert len((await service.reminders("ben"))["sent"]) == 1
        assert "ana" not in str(await service.feed("dr-okafor"))

        # Later events about ana schedule nothing, and a rebuild does not bring her back.
        late = await service.publish(assignment(client_id="ana"))
        await service.wait_until_processed(late)
        rebuilt = await service.client.post("/admin/projections/reminders/rebuild")
        assert rebuilt.status_code == 200
        assert await _count(service, reminders, client_id="ana") == 0
        assert await _count(service, reminders, recipient_id="ben") == 1
        assert service.mail_to("ana@example.org")[1:] == []
        assert await service.dead_letters() == []
