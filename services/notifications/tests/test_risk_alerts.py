"""Risk alerts through the bus: at once, on every channel, to each person the flag names, late at
night in their quiet hours and whatever they opted out of; an alliance alert at the same moment
waits for the morning. A real nats-server, database and SMTP server; the test plays the goals
service."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from notifications_support import CLINIC, alliance_alert, now, risk_flag, running_service

from rapport_devtools.testing import eventually

QUIET = {"start": "22:00", "end": "07:00"}


def late_evening_zone() -> ZoneInfo:
    """A fixed-offset zone where it is 23:xx now, inside 22:00-07:00 quiet hours whatever time
    the test runs (Etc/GMT-N is N hours ahead of UTC)."""
    ahead = (23 - now().hour) % 24
    if ahead > 14:  # the zones reach from 12 hours behind UTC to 14 ahead
        ahead -= 24
    return ZoneInfo(f"Etc/GMT{-ahead:+d}")


async def test_a_risk_alert_goes_out_at_night_on_every_channel_and_an_alliance_alert_waits(
    database_url, nats_server, tmp_path
):
    async with running_service(database_url, nats_server.url, tmp_path) as service:
        zone = late_evening_zone()
        assert now().astimezone(zone).hour in (23, 0)  # 0: the test ran across midnight there
        # The counselor is in quiet hours, chose no risk alerts and only the feed for alliance
        # alerts; the clinic's admin has an address; the second counselor has no settings.
        await service.set_recipient(
            "dr-okafor",
            email="okafor@example.org",
            time_zone=zone.key,
            quiet_hours=QUIET,
            preferences={"risk-alert": [], "alliance-alert": ["feed"]},
        )
        await service.set_recipient("admin-lee", email="lee@example.org", time_zone=zone.key)
        flag = risk_flag("ana", "dr-okafor", "admin-lee", "dr-ng")
        await service.publish(flag)
        await service.publish(alliance_alert("ana", "dr-okafor"))

        (mail,) = await service.wait_for_mail("okafor@example.org")
        assert mail["Subject"] == "Risk alert: please contact your client today"
        body = mail.get_content()
        assert "ana answered item 9 of the PHQ-9" in body
        assert f"/clinics/{CLINIC}/clients/ana/safety-plan" in body
        (to_lee,) = await service.wait_for_mail("lee@example.org")
        assert to_lee["Subject"] == mail["Subject"]
        for person, channels in (
            ("dr-okafor", ["email", "feed"]),
            ("admin-lee", ["email", "feed"]),
            ("dr-ng", ["feed"]),
        ):
            sent = await service.wait_for_reminder(person, "sent", "risk-alert")
            assert sent["next_attempt_at"] == sent["due_at"], person  # never deferred
            delivered = sorted(d["channel"] for d in sent["deliveries"] if d["status"] == "sent")
            assert delivered == channels, person
            (item,) = (await service.feed(person))["items"]
            assert item["kind"] == "risk-alert"

        # The alliance alert raised at the same moment waits for 07:00 in the counselor's zone.
        async def deferred() -> dict | None:
            pending = (await service.reminders("dr-okafor"))["pending"]
            alerts = (r for r in pending if r["kind"] == "alliance-alert")
            return next((r for r in alerts if r["next_attempt_at"] != r["due_at"]), None)

        waiting = await eventually(deferred)
        until = datetime.fromisoformat(waiting["next_attempt_at"]).astimezone(zone)
        assert (until.hour, until.minute) == (7, 0)
        assert timedelta(hours=6) < until - now() <= timedelta(hours=8)
        assert len(service.mail_to("okafor@example.org")) == 1
        assert [i["kind"] for i in (await service.feed("dr-okafor"))["items"]] == ["risk-alert"]

        # A redelivered flag (a copy under a new event id) alerts nobody twice.
        again = await service.publish(flag)
        await service.wait_until_processed(again)
        assert len((await service.reminders("admin-lee"))["sent"]) == 1
        assert await service.dead_letters() == []
