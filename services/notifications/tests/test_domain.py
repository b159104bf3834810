"""The reminding rules, without I/O."""

from datetime import UTC, date, datetime, time, timedelta, timezone
from typing import get_args
from uuid import uuid4
from zoneinfo import ZoneInfo

import pytest
from notifications_support import assignment, completion_of

from rapport_notifications.domain.alerts import alliance_alert_reminder
from rapport_notifications.domain.events import (
    DeliveryAttemptFailed,
    DeliveryDeferred,
    ReminderFacts,
)
from rapport_notifications.domain.goals import Goal, review_times
from rapport_notifications.domain.homework import Homework
from rapport_notifications.domain.messages import render
from rapport_notifications.domain.model import (
    HOMEWORK_DUE,
    About,
    Failure,
    Reminder,
    ReminderStatus,
    RetryPolicy,
    reminder_id_for,
    reminder_time,
    schedule_reminder,
)
from rapport_notifications.domain.occurrences import occurrences
from rapport_notifications.domain.recipients import QuietHours, RecipientProfile
from rapport_notifications.domain.sessions import Session
from rapport_shared.contracts.goals import (
    AllianceAlertRaised,
    GoalAgreed,
    GoalRevised,
    GoalStatusChanged,
    HomeworkCancelled,
    HomeworkMissed,
)
from rapport_shared.contracts.notifications import (
    ReminderCancelled,
    ReminderFailed,
    ReminderKind,
    ReminderScheduled,
    ReminderSent,
)
from rapport_shared.contracts.sessions import (
    NoteSigned,
    Recurrence,
    SessionCancelled,
    SessionClosed,
    SessionScheduled,
)

NOW = datetime(2030, 3, 4, 12, 0, tzinfo=UTC)  # a Monday
DAY = timedelta(days=1)
POLICY = RetryPolicy(
    max_attempts=3, backoff=timedelta(seconds=10), max_backoff=timedelta(seconds=30)
)
BERLIN = ZoneInfo("Europe/Berlin")
UTC_ZONE = ZoneInfo("UTC")


def _scheduled(follow_up) -> list[ReminderScheduled]:
    return [events[0] for events in follow_up.new_reminders]


# --- lead times ---------------------------------------------------------------------------


def test_the_reminder_comes_the_lead_time_before_or_now_but_never_after_the_moment():
    assert reminder_time(NOW + 3 * DAY, NOW, DAY) == NOW + 2 * DAY
    assert reminder_time(NOW + timedelta(hours=2), NOW, DAY) == NOW
    assert reminder_time(NOW, NOW, DAY) is None
    due = datetime(2030, 3, 6, 9, 0, tzinfo=timezone(timedelta(hours=2)))  # 07:00 UTC
    assert reminder_time(due, NOW, DAY) == datetime(2030, 3, 5, 7, 0, tzinfo=UTC)


# --- homework -----------------------------------------------------------------------------


def test_a_one_off_assignment_schedules_one_homework_due_reminder_from_codes_only():
    assigned = assignment(due_at=NOW + 3 * DAY, client_id="ana", homework_type="symptom-log")
    follow_up = Homework(assigned.homework_id).assign(assigned, NOW, DAY)
    (noted,) = follow_up.noted
    assert "instructions" not in noted.model_dump()  # free text is never kept
    ((scheduled, composed),) = follow_up.new_reminders
    assert scheduled == ReminderScheduled(
        clinic_id=assigned.clinic_id,
        reminder_id=reminder_id_for(assigned.homework_id, HOMEWORK_DUE, assigned.due_at),
        recipient_id="ana",
        kind=HOMEWORK_DUE,
        due_at=NOW + 2 * DAY,
        homework_id=assigned.homework_id,
        client_id="ana",
    )
    assert composed.facts == ReminderFacts(
        homework_type="symptom-log", occurrence_at=assigned.due_at
    )


def test_the_homework_own_lead_time_wins_over_the_default():
    assigned = assignment(due_at=NOW + 3 * DAY, reminder_lead_minutes=90)
    (scheduled,) = _scheduled(Homework(assigned.homework_id).assign(assigned, NOW, DAY))
    assert scheduled.due_at == NOW + 3 * DAY - timedelta(minutes=90)


def test_weekly_recurrence_schedules_every_future_occurrence_at_its_local_time_across_dst():
    # Mondays and Thursdays at 19:00 Berlin until 2030-04-04; Berlin moves to summer time on
    # Sunday 31 March: 18:00 UTC before, 17:00 UTC after.
    first = datetime(2030, 3, 4, 19, 0, tzinfo=BERLIN)
    weekly = Recurrence(
        frequency="weekly",
        weekdays=("mon", "thu"),
        time_zone="Europe/Berlin",
        until=date(2030, 4, 4),
    )
    due = occurrences(first, weekly)
    assert [d.astimezone(BERLIN).strftime("%a %d %H:%M") for d in due] == [
        "Mon 04 19:00", "Thu 07 19:00", "Mon 11 19:00", "Thu 14 19:00", "Mon 18 19:00",
        "Thu 21 19:00", "Mon 25 19:00", "Thu 28 19:00", "Mon 01 19:00", "Thu 04 19:00",
    ]  # fmt: skip
    assert (due[7].hour, due[8].hour) == (18, 17)

    assigned = assignment(due_at=first, recurrence=weekly)
    scheduled = _scheduled(Homework(assigned.homework_id).assign(assigned, NOW, DAY))
    # 4 March 19:00 is due in under a day: reminded now; every later one a day before.
    assert [s.due_at for s in scheduled] == [NOW] + [d - DAY for d in due[1:]]
    assert len({s.reminder_id for s in scheduled}) == len(due)


def _weekly_homework():
    assigned = assignment(
        due_at=NOW + DAY * 2,
        recurrence=Recurrence(frequency="daily", until=(NOW + 5 * DAY).date()),
    )
    return assigned, occurrences(assigned.due_at, assigned.recurrence)


def test_completing_one_occurrence_cancels_that_occurrence_only_and_recognises_it():
    assigned, due = _weekly_homework()
    homework = Homework(assigned.homework_id)
    done = completion_of(assigned).model_copy(update={"due_at": due[0], "final": False})
    follow_up = homework.complete(done, NOW)
    assert follow_up.cancel.ids == (reminder_id_for(assigned.homework_id, HOMEWORK_DUE, due[0]),)
    assert follow_up.cancel.subject_id is None
    ((recognition, composed),) = follow_up.new_reminders
    assert (recognition.kind, recognition.due_at) == ("recognition", NOW)
    assert composed.facts.occurrence_at == due[0]
    # A copy of the same completion does nothing; the next occurrence's completion does.
    replayed = Homework.from_history(assigned.homework_id, follow_up.noted)
    assert replayed.complete(done, NOW) == type(follow_up)()
    assert replayed.complete(done.model_copy(update={"due_at": due[1]}), NOW).new_reminders


def test_a_final_completion_or_a_cancellation_cancels_every_pending_occurrence():
    assigned, _ = _weekly_homework()
    homework = Homework(assigned.homework_id)
    final = homework.complete(completion_of(assigned), NOW).cancel
    assert (final.subject_id, final.kinds, final.reason) == (
        assigned.homework_id, (HOMEWORK_DUE,), "homework-completed",
    )  # fmt: skip
    cancelled = HomeworkCancelled(
        clinic_id=assigned.clinic_id,
        homework_id=assigned.homework_id,
        client_id=assigned.client_id,
        cancelled_at=NOW,
    )
    assert homework.cancel(cancelled).cancel.reason == "homework-cancelled"


def test_a_cancellation_before_the_assignment_leaves_a_tombstone():
    assigned, _ = _weekly_homework()
    cancelled = HomeworkCancelled(
        clinic_id=assigned.clinic_id,
        homework_id=assigned.homework_id,
        client_id=assigned.client_id,
        cancelled_at=NOW,
    )
    tombstone = Homework(assigned.homework_id).cancel(cancelled).noted
    follow_up = Homework.from_history(assigned.homework_id, tombstone).assign(assigned, NOW, DAY)
    assert len(follow_up.noted) == 1 and follow_up.new_reminders == []


def test_occurrences_completed_or_missed_before_the_assignment_get_no_reminder():
    assigned, due = _weekly_homework()
    homework = Homework(assigned.homework_id)
    done = completion_of(assigned).model_copy(update={"due_at": due[0], "final": False})
    missed = HomeworkMissed(
        clinic_id=assigned.clinic_id,
        homework_id=assigned.homework_id,
        client_id=assigned.client_id,
        due_at=due[1],
        recorded_at=NOW,
    )
    noted = homework.complete(done, NOW).noted + homework.miss(missed).noted
    follow_up = Homework.from_history(assigned.homework_id, noted).assign(assigned, NOW, DAY)
    assert [s.due_at for s in _scheduled(follow_up)] == [d - DAY for d in due[2:]]


# --- sessions -----------------------------------------------------------------------------


def _session_events(session_id, starts_at=NOW + 3 * DAY):
    base = {
        "clinic_id": "northside",
        "session_id": session_id,
        "client_id": "ana",
        "counselor_id": "dr-okafor",
    }
    return (
        SessionScheduled(**base, starts_at=starts_at),
        SessionClosed(**base, closed_at=NOW, next_session_at=NOW + 7 * DAY),
        SessionCancelled(**base, cancelled_at=NOW, reason="client-request"),
        NoteSigned(**base, signed_by="dr-okafor", signed_at=NOW, content_sha256="0" * 64),
    )


def test_a_scheduled_session_reminds_the_client_a_lead_time_before():
    session_id = uuid4()
    scheduled, *_ = _session_events(session_id)
    (reminder,) = _scheduled(Session(session_id).scheduled(scheduled, NOW, DAY))
    assert (reminder.kind, reminder.recipient_id, reminder.due_at) == (
        "next-session", "ana", NOW + 2 * DAY,
    )  # fmt: skip


def test_the_next_session_from_a_close_and_from_its_scheduling_is_one_reminder():
    closed_id, next_id = uuid4(), uuid4()
    _, closed, _, _ = _session_events(closed_id)
    scheduled, *_ = _session_events(next_id, starts_at=closed.next_session_at)
    from_close = _scheduled(Session(closed_id).close(closed, NOW, DAY, DAY))
    from_schedule = _scheduled(Session(next_id).scheduled(scheduled, NOW, DAY))
    assert {r.kind for r in from_close} == {"next-session", "unsigned-note"}
    next_session = next(r for r in from_close if r.kind == "next-session")
    assert next_session.reminder_id == from_schedule[0].reminder_id


def test_closing_reminds_the_counselor_of_the_unsigned_note_unless_signed_first():
    session_id = uuid4()
    _, closed, _, signed = _session_events(session_id)
    unsigned = [
        r for r in _scheduled(Session(session_id).close(closed, NOW, DAY, 2 * DAY))
        if r.kind == "unsigned-note"
    ]  # fmt: skip
    assert [(r.recipient_id, r.due_at, r.client_id) for r in unsigned] == [
        ("dr-okafor", NOW + 2 * DAY, "ana")
    ]
    sign = Session(session_id).sign(signed)
    assert sign.cancel.ids == (unsigned[0].reminder_id,)
    after_signing = Session.from_history(session_id, sign.noted).close(closed, NOW, DAY, DAY)
    assert [r.kind for r in _scheduled(after_signing)] == ["next-session"]


def test_a_cancellation_before_the_scheduling_leaves_a_tombstone():
    session_id = uuid4()
    scheduled, _, cancelled, _ = _session_events(session_id)
    tombstone = Session(session_id).cancel(cancelled)
    assert tombstone.cancel.ids == ()  # nothing known to cancel yet
    follow_up = Session.from_history(session_id, tombstone.noted).scheduled(scheduled, NOW, DAY)
    assert follow_up.new_reminders == []
    # In the usual order, the cancellation names the reminder.
    session = Session.from_history(
        session_id, Session(session_id).scheduled(scheduled, NOW, DAY).noted
    )
    (reminder,) = _scheduled(Session(session_id).scheduled(scheduled, NOW, DAY))
    assert session.cancel(cancelled).cancel.ids == (reminder.reminder_id,)


# --- goals --------------------------------------------------------------------------------


def _agreed(goal_id, every=7, due_date=date(2030, 4, 1), **extra):
    return GoalAgreed(
        clinic_id="northside",
        goal_id=goal_id,
        client_id="ana",
        counselor_id="dr-okafor",
        description="Walk three times a week",
        measure="walks",
        target="3",
        due_date=due_date,
        agreed_at=NOW,
        type="emotional",
        review_every_days=every,
        **extra,
    )


def test_review_check_ins_fall_at_the_cadence_up_to_the_due_date():
    assert review_times(NOW, 7, date(2030, 4, 1), NOW) == [NOW + n * 7 * DAY for n in (1, 2, 3, 4)]
    assert review_times(NOW, None, date(2030, 4, 1), NOW) == []
    goal_id = uuid4()
    follow_up = Goal(goal_id).agree(_agreed(goal_id), NOW)
    reviews = _scheduled(follow_up)
    assert [(r.kind, r.recipient_id) for r in reviews] == [("goal-review", "ana")] * 4
    assert follow_up.new_reminders[0][1].facts.goal_type == "emotional"


def test_a_revised_cadence_replaces_the_pending_check_ins():
    goal_id = uuid4()
    first = Goal(goal_id).agree(_agreed(goal_id), NOW)
    goal = Goal.from_history(goal_id, first.noted)
    revised = GoalRevised(
        clinic_id="northside",
        goal_id=goal_id,
        client_id="ana",
        revised_at=NOW + DAY,
        revised_by="dr-okafor",
        review_every_days=14,
    )
    follow_up = goal.revise(revised, NOW + DAY)
    assert follow_up.cancel.reason == "goal-revised" and follow_up.cancel.subject_id == goal_id
    new = _scheduled(follow_up)
    assert [r.due_at for r in new] == [NOW + 15 * DAY]
    assert not {r.reminder_id for r in new} & {r.reminder_id for r in _scheduled(first)}
    unchanged = revised.model_copy(update={"review_every_days": None, "due_date": None})
    assert goal.revise(unchanged, NOW) == type(follow_up)()


@pytest.mark.parametrize("status", ["completed", "cancelled", "entered-in-error", "rejected"])
def test_closing_a_goal_cancels_its_check_ins_and_is_a_tombstone(status):
    goal_id = uuid4()
    changed = GoalStatusChanged(
        clinic_id="northside",
        goal_id=goal_id,
        client_id="ana",
        changed_at=NOW,
        lifecycle_status=status,
        achievement_status="in-progress",
    )
    closing = Goal(goal_id).change_status(changed)
    assert closing.cancel.reason == "goal-closed"
    late_agreement = Goal.from_history(goal_id, closing.noted).agree(_agreed(goal_id), NOW)
    assert late_agreement.new_reminders == []
    on_hold = changed.model_copy(update={"lifecycle_status": "on-hold"})
    assert Goal(goal_id).change_status(on_hold).cancel is None


# --- alliance alerts ----------------------------------------------------------------------


def test_an_alliance_alert_reaches_the_counselor_at_once():
    raised = AllianceAlertRaised(
        clinic_id="northside",
        alert_id=uuid4(),
        measure_id=uuid4(),
        client_id="ana",
        counselor_id="dr-okafor",
        srs_total=29,
        threshold=36,
        raised_at=NOW,
    )
    scheduled, composed = alliance_alert_reminder(raised, NOW)
    assert (scheduled.recipient_id, scheduled.client_id, scheduled.due_at) == (
        "dr-okafor", "ana", NOW,
    )  # fmt: skip
    message = render("alliance-alert", composed.facts, "ana", UTC_ZONE)
    assert "ana's Session Rating Scale total (29, below 36)" in message.body


# --- messages -----------------------------------------------------------------------------


def test_messages_name_the_task_and_times_in_the_recipient_zone():
    # 23:30 UTC on Monday is already Tuesday 00:30 in Berlin.
    at = datetime(2030, 3, 4, 23, 30, tzinfo=UTC)
    facts = ReminderFacts(homework_type="symptom-log", occurrence_at=at, session_at=at)
    assert render("homework-due", facts, "ana", BERLIN).body == (
        "A gentle reminder: your symptom log for Tuesday 5 March is due at 00:30 (Europe/Berlin)."
    )
    assert render("recognition", facts, "ana", UTC_ZONE).body == (
        "Well done on completing your symptom log for Monday 4 March! "
        "Every step between sessions counts."
    )
    assert render("next-session", facts, "ana", BERLIN).body == (
        "A reminder: your next session is on Tuesday 5 March at 00:30 (Europe/Berlin)."
    )
    assert render("unsigned-note", facts, "ana", UTC_ZONE).body == (
        "The note for your session with ana that closed on Monday 4 March at 23:30 (UTC) "
        "is not signed yet."
    )
    goal = ReminderFacts(goal_type="behavioral", review_every_days=14)
    assert render("goal-review", goal, "ana", UTC_ZONE).subject == "Time to check in on your goal"
    assert "your behavioral goal" in render("goal-review", goal, "ana", UTC_ZONE).body
    # Facts lost (an event from before they existed): still a kind, generic message.
    assert render("recognition", ReminderFacts(), "ana", UTC_ZONE).body.startswith(
        "Well done on completing your homework!"
    )


# --- quiet hours and preferences ----------------------------------------------------------


def test_quiet_hours_spanning_midnight_end_at_the_local_end_time():
    quiet = QuietHours(time(22, 0), time(7, 0))
    evening = datetime(2030, 3, 4, 22, 30, tzinfo=BERLIN)
    morning = datetime(2030, 3, 5, 6, 59, tzinfo=BERLIN)
    day_time = datetime(2030, 3, 5, 7, 0, tzinfo=BERLIN)
    end = datetime(2030, 3, 5, 7, 0, tzinfo=BERLIN)
    assert quiet.until(evening, BERLIN) == end
    assert quiet.until(morning, BERLIN) == end
    assert quiet.until(day_time, BERLIN) is None
    assert QuietHours(time(12), time(14)).until(datetime(2030, 3, 5, 13, tzinfo=BERLIN), BERLIN)


def test_quiet_hours_are_the_recipient_zone_not_utc():
    # 21:30 UTC is 22:30 in Berlin (quiet) and 16:30 in New York (not quiet).
    moment = datetime(2030, 3, 4, 21, 30, tzinfo=UTC)
    quiet = QuietHours(time(22, 0), time(7, 0))
    berlin = RecipientProfile(time_zone="Europe/Berlin", quiet_hours=quiet)
    new_york = RecipientProfile(time_zone="America/New_York", quiet_hours=quiet)
    assert berlin.quiet_until(moment) == datetime(2030, 3, 5, 6, 0, tzinfo=UTC)
    assert new_york.quiet_until(moment) is None
    # Across a date line: 21:30 UTC is already 10:30 the next day in Auckland (UTC+13).
    auckland = RecipientProfile(
        time_zone="Pacific/Auckland", quiet_hours=QuietHours(time(9), time(11))
    )
    assert auckland.quiet_until(moment) == datetime(2030, 3, 4, 22, 0, tzinfo=UTC)


def test_quiet_hours_across_a_dst_change_end_at_local_wall_clock_time():
    # Berlin springs forward in the night of 30/31 March 2030: the night is an hour shorter.
    quiet = QuietHours(time(22, 0), time(7, 0))
    night = datetime(2030, 3, 30, 23, 0, tzinfo=BERLIN)  # 22:00 UTC
    assert quiet.until(night, BERLIN) == datetime(2030, 3, 31, 5, 0, tzinfo=UTC)  # 07:00 CEST
    # An end at a wall-clock time the change skips (02:30) still lies after the moment.
    skipped = QuietHours(time(1, 0), time(2, 30))
    at_one = datetime(2030, 3, 31, 0, 30, tzinfo=UTC)  # 01:30 CET
    end = skipped.until(at_one, BERLIN)
    assert end is not None and end > at_one


def test_preferences_choose_channels_per_kind_and_can_opt_out():
    nothing_on_file = RecipientProfile()
    assert nothing_on_file.channels_for("homework-due") == ("feed",)
    everything = RecipientProfile(
        has_email=True,
        has_webhook=True,
        preferences={"next-session": ("webhook",), "goal-review": ()},
    )
    assert everything.channels_for("homework-due") == ("feed", "email", "webhook")
    assert everything.channels_for("next-session") == ("webhook",)
    assert everything.channels_for("goal-review") == ()


# --- a reminder's life --------------------------------------------------------------------


def _pending() -> list:
    return schedule_reminder(
        reminder_id=uuid4(),
        clinic_id="northside",
        kind=HOMEWORK_DUE,
        recipient_id="ana",
        due_at=NOW,
        about=About(client_id="ana", homework_id=uuid4()),
        facts=ReminderFacts(),
    )


def test_a_pending_reminder_is_cancelled_once_with_its_reason():
    history = _pending()
    (event,) = Reminder.from_history(history).cancel(NOW, "session-cancelled")
    assert isinstance(event, ReminderCancelled) and event.reason == "session-cancelled"
    reminder = Reminder.from_history([*history, event])
    assert reminder.status is ReminderStatus.CANCELLED
    assert reminder.cancel(NOW, "session-cancelled") == []


def test_deferral_moves_the_next_attempt_and_never_backwards():
    history = _pending()
    (deferred,) = Reminder.from_history(history).defer(NOW + DAY, NOW)
    assert isinstance(deferred, DeliveryDeferred)
    reminder = Reminder.from_history([*history, deferred])
    assert (reminder.next_attempt_at, reminder.status) == (NOW + DAY, ReminderStatus.PENDING)
    assert reminder.defer(NOW, NOW) == []


def test_each_channel_is_sent_once_and_retried_alone():
    history = _pending()
    down = Failure("smtp-unreachable", "SMTPConnectError: refused")
    first = Reminder.from_history(history).record_attempt(
        ("feed", "email"), {"feed": None, "email": down}, NOW, POLICY
    )
    assert [type(e) for e in first] == [ReminderSent, DeliveryAttemptFailed]
    assert (first[1].reason, first[1].next_attempt_at) == (
        "smtp-unreachable",
        NOW + timedelta(seconds=10),
    )
    reminder = Reminder.from_history(history + first)
    # Sent once one channel delivered, while the other is still retried.
    assert (reminder.status, reminder.open_channels) == (ReminderStatus.SENT, ("email",))
    assert reminder.awaiting_delivery
    # A second report of the feed changes nothing: it is no longer open; nor does a new choice
    # of channels: they were fixed by the first attempt.
    again = reminder.record_attempt(("webhook",), {"feed": None, "email": None}, NOW, POLICY)
    assert [(type(e), e.channel) for e in again] == [(ReminderSent, "email")]
    delivered = Reminder.from_history(history + first + again)
    assert delivered.status is ReminderStatus.SENT and not delivered.awaiting_delivery


def test_a_cancellation_stops_the_retries_of_a_reminder_already_sent_elsewhere():
    history = _pending()
    down = Failure("webhook-failed", "ConnectError: refused")
    history += Reminder.from_history(history).record_attempt(
        ("feed", "webhook"), {"feed": None, "webhook": down}, NOW, POLICY
    )
    (cancelled,) = Reminder.from_history(history).cancel(NOW, "homework-completed")
    reminder = Reminder.from_history([*history, cancelled])
    assert reminder.status is ReminderStatus.SENT and not reminder.awaiting_delivery
    assert reminder.record_attempt(("webhook",), {"webhook": down}, NOW, POLICY) == []
    assert reminder.defer(NOW + DAY, NOW) == []


def test_failed_attempts_back_off_then_fail_with_the_reason_code():
    history = _pending()
    error = Failure("webhook-failed", "HTTP 500")
    waits = []
    for _ in range(POLICY.max_attempts - 1):
        (event,) = Reminder.from_history(history).record_attempt(
            ("webhook",), {"webhook": error}, NOW, POLICY
        )
        assert isinstance(event, DeliveryAttemptFailed)
        waits.append(event.next_attempt_at - NOW)
        history.append(event)
    assert waits == [timedelta(seconds=10), timedelta(seconds=20)]
    (last,) = Reminder.from_history(history).record_attempt(
        ("webhook",), {"webhook": error}, NOW, POLICY
    )
    assert isinstance(last, ReminderFailed)
    assert (last.channel, last.reason) == ("webhook", "webhook-failed")
    reminder = Reminder.from_history([*history, last])
    assert (reminder.status, reminder.total_attempts) == (ReminderStatus.FAILED, 3)
    assert reminder.record_attempt(("webhook",), {"webhook": None}, NOW, POLICY) == []


def test_webhook_failures_recorded_with_the_earlier_codes_read_as_one():
    history = _pending()
    for channel, code in (("webhook", "webhook-unreachable"), ("email", "smtp-rejected")):
        history.append(
            ReminderFailed(
                clinic_id="northside",
                reminder_id=history[0].reminder_id,
                recipient_id="ana",
                channel=channel,
                failed_at=NOW,
                reason=code,
            )
        )
    failed = Reminder.from_history(history).failed
    assert failed == {"webhook": "webhook-failed", "email": "smtp-rejected"}


def test_the_first_attempt_fixes_the_channels_even_if_cancelled_meanwhile():
    history = _pending()
    cancelled = history + Reminder.from_history(history).cancel(NOW, "homework-completed")
    events = Reminder.from_history(cancelled).record_attempt(
        ("email", "feed"), {"email": None, "feed": Failure("no-address")}, NOW, POLICY
    )
    assert [type(e) for e in events] == [ReminderSent]  # the failure is not retried
    reminder = Reminder.from_history(cancelled + events)
    assert (reminder.status, reminder.channels) == (ReminderStatus.SENT, ("email",))
    assert Reminder.from_history(history).channels_to_try(("feed", "feed")) == ("feed",)


def test_sent_wins_over_a_cancel_in_either_order():
    planned = _pending()
    reminder = Reminder.from_history(planned)
    cancelled = reminder.cancel(NOW, "homework-completed")
    sent = reminder.record_attempt(("email",), {"email": None}, NOW, POLICY)
    # The email went out while the cancellation was being recorded: it still counts as sent.
    after_cancel = Reminder.from_history(planned + cancelled)
    assert [
        type(e) for e in after_cancel.record_attempt(("email",), {"email": None}, NOW, POLICY)
    ] == [ReminderSent]
    # ... but a failure then is not retried.
    failure = {"email": Failure("no-address")}
    assert (
        Reminder.from_history(planned + cancelled).record_attempt(("email",), failure, NOW, POLICY)
        == []
    )
    assert Reminder.from_history(planned + cancelled + sent).status is ReminderStatus.SENT
    assert Reminder.from_history(planned + sent + cancelled).status is ReminderStatus.SENT


def test_backoff_is_capped():
    assert POLICY.delay_after(10) == timedelta(seconds=30)
    # Many attempts do not overflow the doubling.
    assert POLICY.delay_after(10_000) == timedelta(seconds=30)


def test_every_reminder_kind_has_a_subject_and_words_even_without_facts():
    # Facts recorded before a kind had any (or an older copy of them) still render.
    for kind in get_args(ReminderKind):
        message = render(kind, ReminderFacts(), "ana", ZoneInfo("UTC"))
        assert message.subject and message.body, kind
