"""What reminders say: short, warm and specific, built only from codes, dates and times (no free
text travels on the bus), with times shown in the recipient's own time zone."""

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from rapport_notifications.domain.events import ReminderFacts
from rapport_shared.contracts.goals import Instrument, RefusalReason
from rapport_shared.contracts.notifications import ReminderKind
from rapport_shared.contracts.sessions import HomeworkType

TASKS: dict[HomeworkType, str] = {
    "self-assessment": "self-assessment",
    "symptom-log": "symptom log",
    "psychoeducation": "reading",
    "journaling": "journal entry",
    "modality-specific": "practice exercise",
    "other": "homework",
}

SUBJECTS: dict[ReminderKind, str] = {
    "homework-due": "A reminder about your homework",
    "recognition": "Well done!",
    "next-session": "Your next session",
    "goal-review": "Time to check in on your goal",
    "unsigned-note": "A session note is waiting for your signature",
    "alliance-alert": "Alliance alert: check in with your client",
    "plan-item-refused": "Part of an agreed plan was not set up",
    "risk-alert": "Risk alert: please contact your client today",
    "measure-due": "A short questionnaire for you",
}

# What each reason code of plan-item-refused means, for the counselor who agreed the plan.
REFUSAL_REASONS: dict[RefusalReason, str] = {
    "due-date-past": "its due date had passed",
    "milestone-after-due-date": "a milestone fell after the goal's due date",
    "gas-scale-levels": "its GAS scale did not describe the five levels once each",
    "gas-weight": "its GAS weight was not above 0",
    "review-cadence": "its review interval was out of range",
    "due-before-assignment": "it was due before the session closed",
    "time-zone-unknown": "its time zone is not known",
    "weekdays-not-weekly": "it named weekdays for a daily recurrence",
    "until-before-first": "its recurrence ended before its first occurrence",
    "too-many-occurrences": "its recurrence held too many occurrences",
    "goal-index": "it pointed at no goal of the plan",
    "goal-refused": "the goal it serves was not set up either",
    "rule-broken": "it broke one of the goals service's rules",
    "invalid-item": "it could not be read",
}


# What a risk item asks about, in a counselor's words.
RISK_ITEMS: dict[tuple[str, int], str] = {
    ("PHQ-9", 9): "thoughts of being better off dead or of self-harm",
}


# How a client knows each measure.
INSTRUMENTS: dict[Instrument, str] = {
    "PHQ-9": "PHQ-9",
    "GAD-7": "GAD-7",
    "ORS": "Outcome Rating Scale (ORS)",
    "SRS": "Session Rating Scale (SRS)",
}


@dataclass(frozen=True)
class Message:
    subject: str
    body: str


def render(kind: ReminderKind, facts: ReminderFacts, client_id: str, zone: ZoneInfo) -> Message:
    return Message(SUBJECTS[kind], _BODIES[kind](facts, client_id, zone))


def day(moment: datetime, zone: ZoneInfo) -> str:
    local = moment.astimezone(zone)
    return f"{local:%A} {local.day} {local:%B}"


def day_and_time(moment: datetime, zone: ZoneInfo) -> str:
    return f"{day(moment, zone)} at {moment.astimezone(zone):%H:%M} ({zone.key})"


def _task(facts: ReminderFacts, zone: ZoneInfo) -> str:
    task = f"your {TASKS[facts.homework_type or 'other']}"
    if facts.occurrence_at is None:
        return task
    return f"{task} for {day(facts.occurrence_at, zone)}"


def _homework_due(facts: ReminderFacts, _client: str, zone: ZoneInfo) -> str:
    if facts.occurrence_at is None:
        return "A gentle reminder: your homework is due soon."
    return (
        f"A gentle reminder: {_task(facts, zone)} is due "
        f"at {facts.occurrence_at.astimezone(zone):%H:%M} ({zone.key})."
    )


def _recognition(facts: ReminderFacts, _client: str, zone: ZoneInfo) -> str:
    return f"Well done on completing {_task(facts, zone)}! Every step between sessions counts."


def _next_session(facts: ReminderFacts, _client: str, zone: ZoneInfo) -> str:
    if facts.session_at is None:
        return "A reminder: your next session is coming up soon."
    return f"A reminder: your next session is on {day_and_time(facts.session_at, zone)}."


def _goal_review(facts: ReminderFacts, _client: str, _zone: ZoneInfo) -> str:
    goal = f"your {facts.goal_type} goal" if facts.goal_type else "your goal"
    since = f" It has been {facts.review_every_days} days." if facts.review_every_days else ""
    return f"Time for a check-in on {goal}: how is it going?{since}"


def _unsigned_note(facts: ReminderFacts, client: str, zone: ZoneInfo) -> str:
    when = f" that closed on {day_and_time(facts.session_at, zone)}" if facts.session_at else ""
    return f"The note for your session with {client}{when} is not signed yet."


def _alliance_alert(facts: ReminderFacts, client: str, _zone: ZoneInfo) -> str:
    score = ""
    if facts.srs_total is not None and facts.srs_threshold is not None:
        score = f" ({facts.srs_total}, below {facts.srs_threshold})"
    return (
        f"{client}'s Session Rating Scale total{score} suggests a strain in your working "
        "alliance: consider checking in with them."
    )


def _plan_item_refused(facts: ReminderFacts, client: str, zone: ZoneInfo) -> str:
    item = "An item"
    if facts.refused_kind is not None and facts.refused_index is not None:
        item = f"The {_ordinal(facts.refused_index + 1)} {facts.refused_kind}"
    when = f" on {day_and_time(facts.session_at, zone)}" if facts.session_at else ""
    why = f", because {REFUSAL_REASONS[facts.refused_reason]}" if facts.refused_reason else ""
    return (
        f"{item} of the plan you agreed with {client}{when} was not set up{why}. The rest of "
        "the plan was. Please look at the session's plan and agree it again."
    )


def _risk_alert(facts: ReminderFacts, client: str, _zone: ZoneInfo) -> str:
    answer = "answered a risk item"
    if facts.risk_instrument and facts.risk_item is not None and facts.risk_score is not None:
        asks = RISK_ITEMS.get((facts.risk_instrument, facts.risk_item))
        about = f" ({asks})" if asks else ""
        answer = (
            f"answered item {facts.risk_item} of the {facts.risk_instrument}{about} "
            f"with {facts.risk_score}"
        )
    plan = f" Their safety plan: {facts.safety_plan_path}." if facts.safety_plan_path else ""
    return (
        f"{client} {answer}. Please assess their risk today and acknowledge the flag once you "
        f"have.{plan}"
    )


def _measure_due(facts: ReminderFacts, _client: str, zone: ZoneInfo) -> str:
    if facts.measure_instrument is None:
        return "Please fill in your questionnaire: it helps you and your counselor see how you are."
    name = INSTRUMENTS[facts.measure_instrument]
    by = f" by {day_and_time(facts.measure_deadline, zone)}" if facts.measure_deadline else ""
    match facts.measure_timing:
        case "before-session":
            on = f" on {day_and_time(facts.measure_due_at, zone)}" if facts.measure_due_at else ""
            return (
                f"Please fill in your {name} before your session{on}: it takes a few minutes and "
                "helps you and your counselor make the most of it."
            )
        case "session-start":
            return f"Please fill in your {name} at the start of your session."
        case "session-end":
            return f"Please fill in your {name} about the session you have just had{by}."
        case _:
            return f"Time for your regular {name}: please fill it in{by}."


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


_BODIES = {
    "homework-due": _homework_due,
    "recognition": _recognition,
    "next-session": _next_session,
    "goal-review": _goal_review,
    "unsigned-note": _unsigned_note,
    "alliance-alert": _alliance_alert,
    "plan-item-refused": _plan_item_refused,
    "risk-alert": _risk_alert,
    "measure-due": _measure_due,
}
