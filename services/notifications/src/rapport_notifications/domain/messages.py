"""What reminders say to a client: short, warm, and specific to the task."""

from datetime import datetime, timedelta

from rapport_shared.contracts.notifications import ReminderKind

RECOGNITION_EXCERPT_CHARS = 60

SUBJECTS: dict[ReminderKind, str] = {
    "homework-due": "A reminder about your homework",
    "recognition": "Well done!",
}


def homework_due_message(due_at: datetime) -> str:
    """The task's words stay with the counselor's record: the bus never carries them."""
    zone = "UTC" if due_at.utcoffset() == timedelta(0) else f"UTC{due_at:%z}"
    when = f"{due_at:%A} {due_at.day} {due_at:%B} at {due_at:%H:%M} {zone}"
    return f"A gentle reminder: your homework is due {when}."


def recognition_message(instructions: str | None) -> str:
    if instructions is None:
        return "Well done on completing your homework! Every step between sessions counts."
    return f"Well done on completing your homework: {_excerpt(instructions)}"


def _excerpt(text: str) -> str:
    """The first RECOGNITION_EXCERPT_CHARS characters, not ending inside a word."""
    if len(text) <= RECOGNITION_EXCERPT_CHARS:
        return text
    cut = text[:RECOGNITION_EXCERPT_CHARS]
    if not text[RECOGNITION_EXCERPT_CHARS].isspace() and " " in cut:
        cut = cut.rsplit(" ", 1)[0]
    return cut.rstrip() + "..."
