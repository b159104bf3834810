"""The lifecycle, note-format, signing and addendum rules of the session aggregate, without I/O."""

import hashlib
import json
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest

from rapport_sessions.domain.events import AddendumWritten, CancellationExplained
from rapport_sessions.domain.model import Session, SessionStatus, schedule
from rapport_sessions.domain.notes import MAX_SECTION_CHARS, SECTIONS, content_sha256
from rapport_shared.contracts.errors import DomainError, InvalidState
from rapport_shared.contracts.sessions import (
    NoteSigned,
    SessionCancelled,
    SessionNoShow,
    SessionStarted,
)

NOW = datetime(2026, 11, 22, 15, 0, tzinfo=UTC)

SOAP = {
    "subjective": "slept better",
    "objective": "calm",
    "assessment": "improving",
    "plan": "walk",
}


def session(starts_at: datetime = NOW - timedelta(hours=1)) -> Session:
    return Session.from_history([schedule(uuid4(), "northside", "alice", "kim", starts_at)])


def applied(target: Session, *events: object) -> Session:
    for event in events:
        target.apply(event)  # type: ignore[arg-type]
    return target


def started() -> Session:
    s = session()
    return applied(s, s.start(NOW))


def cancelled() -> Session:
    s = session()
    return applied(s, *s.cancel(NOW, "client-request", None))


def no_show() -> Session:
    s = session()
    return applied(s, s.record_no_show(NOW))


def closed() -> Session:
    s = session()
    return applied(s, *s.close(NOW, None, [], []))


def signed() -> Session:
    s = session()
    applied(s, s.record_note("SOAP", SOAP, NOW))
    return applied(s, s.sign_note("kim", NOW))


# --- lifecycle ---------------------------------------------------------------------------------


def test_starting_a_scheduled_session_puts_it_in_progress() -> None:
    s = session()
    event = s.start(NOW)
    assert isinstance(event, SessionStarted)
    assert (event.session_id, event.client_id, event.counselor_id) == (
        s.session_id,
        "alice",
        "kim",
    )
    applied(s, event)
    assert (s.status, s.started_at, s.version) == (SessionStatus.IN_PROGRESS, NOW, 2)


def test_a_session_in_progress_closes() -> None:
    s = started()
    applied(s, *s.close(NOW + timedelta(hours=1), None, [], []))
    assert s.status is SessionStatus.CLOSED


def test_a_scheduled_session_may_still_close_directly() -> None:
    assert closed().status is SessionStatus.CLOSED


def test_cancelling_keeps_the_explanation_in_a_private_event() -> None:
    s = session()
    events = s.cancel(NOW, "counselor-unavailable", "flu")
    cancel, explained = events
    assert isinstance(cancel, SessionCancelled) and cancel.public
    assert (cancel.reason, cancel.cancelled_at) == ("counselor-unavailable", NOW)
    assert "flu" not in cancel.model_dump_json()
    assert isinstance(explained, CancellationExplained) and not explained.public
    applied(s, *events)
    assert s.status is SessionStatus.CANCELLED
    assert s.cancellation is not None
    assert (s.cancellation.reason, s.cancellation.explanation) == ("counselor-unavailable", "flu")
    assert s.version == 3


def test_a_cancellation_without_explanation_is_one_event() -> None:
    assert len(session().cancel(NOW, "other", None)) == 1


@pytest.mark.parametrize("explanation", ["", "  \n", "x" * 2001])
def test_a_cancellation_explanation_must_say_something_and_fit(explanation: str) -> None:
    with pytest.raises(DomainError) as raised:
        session().cancel(NOW, "other", explanation)
    assert (raised.value.field, raised.value.status) == ("explanation", 422)


def test_a_no_show_is_recorded_once_the_session_was_due() -> None:
    s = session()
    event = s.record_no_show(NOW)
    assert isinstance(event, SessionNoShow) and event.recorded_at == NOW
    assert applied(s, event).status is SessionStatus.NO_SHOW
    early = session(starts_at=NOW + timedelta(hours=1))
    with pytest.raises(InvalidState):
        early.record_no_show(NOW)


@pytest.mark.parametrize(
    ("make", "commands"),
    [
        (started, ("start", "cancel", "no_show")),
        (closed, ("start", "cancel", "no_show", "close")),
        (cancelled, ("start", "cancel", "no_show", "close", "note")),
        (no_show, ("start", "cancel", "no_show", "close")),
    ],
)
def test_transitions_out_of_turn_are_conflicts(make: object, commands: tuple[str, ...]) -> None:
    s: Session = make()  # type: ignore[operator]
    attempts = {
        "start": lambda: s.start(NOW),
        "cancel": lambda: s.cancel(NOW, "other", None),
        "no_show": lambda: s.record_no_show(NOW),
        "close": lambda: s.close(NOW, None, [], []),
        "note": lambda: s.record_note("free", {"text": "x"}, NOW),
    }
    for command in commands:
        with pytest.raises(InvalidState) as raised:
            attempts[command]()
        assert raised.value.status == 409, command


# --- note formats ------------------------------------------------------------------------------


@pytest.mark.parametrize("note_format", sorted(SECTIONS))
def test_each_format_takes_exactly_its_sections(note_format: str) -> None:
    sections = {name: f"{name} text" for name in SECTIONS[note_format]}
    event = session().record_note(note_format, dict(reversed(sections.items())), NOW)
    assert (event.format, list(event.sections)) == (note_format, list(SECTIONS[note_format]))
    for missing in SECTIONS[note_format]:
        partial = {k: v for k, v in sections.items() if k != missing}
        with pytest.raises(DomainError) as raised:
            session().record_note(note_format, partial, NOW)
        assert raised.value.field == f"sections.{missing}"
    for bad in ("", " \n\t", "x" * (MAX_SECTION_CHARS + 1)):
        name = SECTIONS[note_format][-1]
        with pytest.raises(DomainError) as raised:
            session().record_note(note_format, {**sections, name: bad}, NOW)
        assert raised.value.field == f"sections.{name}"
    with pytest.raises(DomainError) as raised:
        session().record_note(note_format, {**sections, "mood": "fine"}, NOW)
    assert (raised.value.field, raised.value.status) == ("sections.mood", 422)


def test_an_unknown_format_is_refused() -> None:
    with pytest.raises(DomainError) as raised:
        session().record_note("PIRP", {"text": "x"}, NOW)
    assert raised.value.field == "format"


# --- signing and addenda -----------------------------------------------------------------------


def test_signing_records_who_when_and_the_hash_of_the_canonical_content() -> None:
    s = session()
    applied(s, s.record_note("SOAP", SOAP, NOW))
    event = s.sign_note("dr-lee", NOW + timedelta(minutes=1))
    assert isinstance(event, NoteSigned) and event.public
    canonical = json.dumps(
        {"format": "SOAP", "sections": SOAP, "session_id": str(s.session_id)},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    ).encode()
    assert event.content_sha256 == hashlib.sha256(canonical).hexdigest()
    assert event.content_sha256 == content_sha256(s.session_id, "SOAP", SOAP)
    assert (event.signed_by, event.signed_at) == ("dr-lee", NOW + timedelta(minutes=1))
    assert "slept better" not in event.model_dump_json()
    applied(s, event)
    assert s.record.signature is not None
    assert s.record.signature.content_sha256 == event.content_sha256


def test_the_hash_changes_with_any_character_of_the_note() -> None:
    session_id = uuid4()
    assert content_sha256(session_id, "SOAP", SOAP) != content_sha256(
        session_id, "SOAP", {**SOAP, "plan": "walk "}
    )


def test_there_must_be_a_note_to_sign_and_it_is_signed_once() -> None:
    with pytest.raises(InvalidState):
        session().sign_note("kim", NOW)
    with pytest.raises(InvalidState):
        signed().sign_note("kim", NOW)


def test_a_signed_note_cannot_be_replaced_only_amended() -> None:
    s = signed()
    before = s.note
    with pytest.raises(InvalidState) as raised:
        s.record_note("free", {"text": "rewritten"}, NOW)
    assert raised.value.status == 409
    first = s.add_addendum("kim", "late detail", "client called after", NOW)
    second = s.add_addendum("dr-lee", "correction", "dose was 10mg", NOW + timedelta(hours=1))
    assert isinstance(first, AddendumWritten) and not first.public
    applied(s, first, second)
    assert s.note == before
    assert [(a.author, a.reason, a.text) for a in s.record.addenda] == [
        ("kim", "late detail", "client called after"),
        ("dr-lee", "correction", "dose was 10mg"),
    ]


def test_addenda_need_a_signed_note_a_reason_and_text() -> None:
    s = session()
    applied(s, s.record_note("free", {"text": "x"}, NOW))
    with pytest.raises(InvalidState):
        s.add_addendum("kim", "why", "what", NOW)
    for reason, text, field in (
        ("", "t", "reason"),
        ("r", " ", "text"),
        ("r", "x" * 20_001, "text"),
    ):
        with pytest.raises(DomainError) as raised:
            signed().add_addendum("kim", reason, text, NOW)
        assert raised.value.field == field


def test_replaying_a_full_history_equals_the_live_session() -> None:
    live = session()
    history = [schedule(live.session_id, "northside", "alice", "kim", live.starts_at)]
    for command in (
        lambda: [live.start(NOW)],
        lambda: [live.record_note("DAP", {"data": "d", "assessment": "a", "plan": "p"}, NOW)],
        lambda: list(live.close(NOW, None, [], [])),
        lambda: [live.sign_note("kim", NOW)],
        lambda: [live.add_addendum("kim", "r", "t", NOW)],
    ):
        for event in command():
            live.apply(event)
            history.append(event)
    assert Session.from_history(history) == live
