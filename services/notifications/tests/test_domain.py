"""The reminding rules, without I/O."""

from datetime import UTC, datetime, timedelta, timezone
from uuid import uuid4, uuid5

from notifications_support import assignment, completion_of

from rapport_notifications.domain.events import (
    DeliveryAttemptFailed,
    HomeworkAssignmentNoted,
    ReminderComposed,
)
from rapport_notifications.domain.messages import homework_due_message, recognition_message
from rapport_notifications.domain.model import (
    HOMEWORK_DUE,
    RECOGNITION,
    UNWORDED_HOMEWORK,
    Homework,
    Reminder,
    ReminderStatus,
    RetryPolicy,
    homework_reminder_time,
    schedule_reminder,
)
from rapport_shared.contracts.notifications import (
    ReminderCancelled,
    ReminderFailed,
    ReminderScheduled,
    ReminderSent,
)

NOW = datetime(2030, 3, 4, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)
POLICY = RetryPolicy(
    max_attempts=3, backoff=timedelta(seconds=10), max_backoff=timedelta(seconds=30)
)


def test_the_reminder_comes_the_lead_time_before_the_due_time():
    assert homework_reminder_time(NOW + 3 * DAY, NOW, DAY) == NOW + 2 * DAY


def test_the_reminder_is_due_now_when_the_lead_moment_has_passed_but_the_homework_is_not_due():
    assert homework_reminder_time(NOW + timedelta(hours=2), NOW, DAY) == NOW


def test_no_reminder_for_homework_already_due_or_past_due():
    assert homework_reminder_time(NOW, NOW, DAY) is None
    assert homework_reminder_time(NOW - timedelta(minutes=1), NOW, DAY) is None


def test_lead_time_arithmetic_respects_the_offset_of_the_due_time():
    due = datetime(2030, 3, 6, 9, 0, tzinfo=timezone(timedelta(hours=2)))  # 07:00 UTC
    assert homework_reminder_time(due, NOW, DAY) == datetime(2030, 3, 5, 7, 0, tzinfo=UTC)


def test_an_assignment_schedules_a_homework_due_reminder_for_the_client():
    assigned = assignment(due_at=NOW + 3 * DAY, client_id="ana")
    follow_up = Homework(assigned.homework_id).assign(assigned, NOW, DAY)

    assert follow_up.noted == [
        HomeworkAssignmentNoted(
            clinic_id=assigned.clinic_id,
            homework_id=assigned.homework_id,
            instructions=UNWORDED_HOMEWORK,
        )
    ]
    scheduled, composed = follow_up.new_reminder
    assert scheduled == ReminderScheduled(
        clinic_id=assigned.clinic_id,
        reminder_id=uuid5(assigned.homework_id, "homework-due"),
        recipient_id="ana",
        kind=HOMEWORK_DUE,
        due_at=NOW + 2 * DAY,
        homework_id=assigned.homework_id,
    )
    assert isinstance(composed, ReminderComposed)
    assert composed.message == homework_due_message(assigned.due_at)


def test_the_homework_own_lead_time_wins_over_the_default():
    assigned = assignment(due_at=NOW + 3 * DAY).model_copy(update={"reminder_lead_minutes": 90})
    scheduled, _ = Homework(assigned.homework_id).assign(assigned, NOW, DAY).new_reminder
    assert isinstance(scheduled, ReminderScheduled)
    assert scheduled.due_at == NOW + 3 * DAY - timedelta(minutes=90)


def test_an_assignment_already_past_due_is_noted_but_schedules_nothing():
    assigned = assignment(due_at=NOW - DAY)
    follow_up = Homework(assigned.homework_id).assign(assigned, NOW, DAY)
    assert len(follow_up.noted) == 1
    assert follow_up.new_reminder == []


def test_an_assignment_arriving_after_its_completion_schedules_nothing():
    assigned = assignment(due_at=NOW + 3 * DAY)
    homework = Homework(assigned.homework_id)
    completed = homework.complete(completion_of(assigned), NOW)
    homework = Homework.replay(assigned.homework_id, completed.noted)

    follow_up = homework.assign(assigned, NOW, DAY)
    assert len(follow_up.noted) == 1  # the instructions are still worth knowing
    assert follow_up.new_reminder == []


def test_a_repeated_assignment_or_completion_changes_nothing():
    assigned = assignment(due_at=NOW + 3 * DAY)
    history = Homework(assigned.homework_id).assign(assigned, NOW, DAY).noted
    history += (
        Homework.replay(assigned.homework_id, history).complete(completion_of(assigned), NOW).noted
    )
    homework = Homework.replay(assigned.homework_id, history)
    assert homework.assign(assigned, NOW, DAY).noted == []
    assert homework.complete(completion_of(assigned), NOW).noted == []
    assert homework.complete(completion_of(assigned), NOW).new_reminder == []


def test_completion_schedules_a_recognition_due_now_without_the_tasks_words():
    # homework-assigned no longer carries instructions (issue 4): nothing to quote.
    assigned = assignment(client_id="ben")
    homework = Homework.replay(
        assigned.homework_id, Homework(assigned.homework_id).assign(assigned, NOW, DAY).noted
    )

    scheduled, composed = homework.complete(completion_of(assigned), NOW).new_reminder
    assert isinstance(scheduled, ReminderScheduled)
    assert (scheduled.reminder_id, scheduled.kind, scheduled.due_at, scheduled.recipient_id) == (
        uuid5(assigned.homework_id, "recognition"),
        RECOGNITION,
        NOW,
        "ben",
    )
    assert isinstance(composed, ReminderComposed)
    assert composed.message == recognition_message(None)


def test_recognition_text():
    assert recognition_message("Walk for 20 minutes.") == (
        "Well done on completing your homework: Walk for 20 minutes."
    )
    exactly_60 = "x" * 60
    assert recognition_message(exactly_60).endswith(": " + exactly_60)
    assert recognition_message(exactly_60 + "y").endswith(": " + exactly_60 + "...")
    # Cut back to a whole word rather than end on "w...".
    ends_on_a_word = "Write down " * 10  # the 60th character closes the sixth "Write"
    assert recognition_message(ends_on_a_word).endswith(": " + "Write down " * 5 + "Write...")
    ends_inside_a_word = "Write down " * 5 + "everything, please"
    assert recognition_message(ends_inside_a_word).endswith(
        ": " + "Write down " * 4 + "Write down..."
    )
    generic = recognition_message(None)  # completion before the assignment was seen
    assert generic.startswith("Well done on completing your homework")


def test_the_homework_due_message_names_the_due_time_in_its_own_offset():
    due = datetime(2030, 3, 8, 18, 30, tzinfo=timezone(timedelta(hours=2)))
    message = homework_due_message(due)
    assert "Friday 8 March at 18:30 UTC+0200" in message
    assert "at 16:30 UTC." in homework_due_message(due.astimezone(UTC))


def _pending() -> list:
    return schedule_reminder(
        clinic_id="northside",
        homework_id=uuid4(),
        kind=HOMEWORK_DUE,
        recipient_id="ana",
        due_at=NOW,
        message="Your homework is due tomorrow.",
    )


def test_a_pending_reminder_is_cancelled_once():
    history = _pending()
    events = Reminder.replay(history).cancel(NOW)
    assert [type(e) for e in events] == [ReminderCancelled]
    reminder = Reminder.replay(history + events)
    assert reminder.status is ReminderStatus.CANCELLED
    assert reminder.cancel(NOW) == []


def test_a_sent_reminder_is_not_cancelled():
    history = _pending()
    history += Reminder.replay(history).record_sent(NOW)
    assert Reminder.replay(history).cancel(NOW) == []


def test_sent_wins_over_a_cancel_in_either_order():
    pending = _pending()
    reminder = Reminder.replay(pending)
    cancelled = reminder.cancel(NOW)
    sent = reminder.record_sent(NOW)
    # The email went out while the cancellation was being recorded: it still counts as sent.
    after_cancel = Reminder.replay(pending + cancelled)
    assert [type(e) for e in after_cancel.record_sent(NOW)] == [ReminderSent]
    assert Reminder.replay(pending + cancelled + sent).status is ReminderStatus.SENT
    assert Reminder.replay(pending + sent + cancelled).status is ReminderStatus.SENT


def test_failed_attempts_back_off_then_fail_with_the_reason_at_the_last_attempt():
    history = _pending()
    waits = []
    for _ in range(POLICY.max_attempts - 1):
        (event,) = Reminder.replay(history).record_failed_attempt("SMTP down", NOW, POLICY)
        assert isinstance(event, DeliveryAttemptFailed)
        waits.append(event.next_attempt_at - NOW)
        history.append(event)
    assert waits == [timedelta(seconds=10), timedelta(seconds=20)]

    (last,) = Reminder.replay(history).record_failed_attempt("SMTP still down", NOW, POLICY)
    assert isinstance(last, ReminderFailed)
    assert last.reason == "SMTP still down"
    reminder = Reminder.replay([*history, last])
    assert (reminder.status, reminder.attempts, reminder.failure_reason) == (
        ReminderStatus.FAILED,
        3,
        "SMTP still down",
    )
    assert reminder.record_failed_attempt("again", NOW, POLICY) == []
    assert reminder.record_sent(NOW) == []


def test_a_retried_reminder_waits_for_its_next_attempt_time():
    history = _pending()
    history += Reminder.replay(history).record_failed_attempt("busy", NOW, POLICY)
    reminder = Reminder.replay(history)
    assert (reminder.status, reminder.attempts) == (ReminderStatus.PENDING, 1)
    assert reminder.next_attempt_at == NOW + timedelta(seconds=10)


def test_backoff_is_capped():
    assert POLICY.delay_after(10) == timedelta(seconds=30)
