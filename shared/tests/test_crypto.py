"""Encryption at rest under a client's key, and sealing for the bus: pure, no I/O but a tmp dir."""

import base64
import secrets
import stat

import pytest

from rapport_shared.contracts.plan import AgreedGoal, AgreedHomework, split
from rapport_shared.eventsourcing import crypto
from rapport_shared.eventsourcing.crypto import closing_plan, unseal_wording

KEY = secrets.token_bytes(32)


def test_a_token_opens_with_its_key_for_its_client_only() -> None:
    token = crypto.encrypt_text(KEY, "northside", "ana", "I argued with my sister")
    assert token.startswith("enc:v1:") and "sister" not in token
    assert crypto.decrypt_text(KEY, "northside", "ana", token) == "I argued with my sister"
    # The client is the associated data: copied onto another record, the token does not open.
    with pytest.raises(crypto.CryptoError):
        crypto.decrypt_text(KEY, "northside", "ben", token)
    with pytest.raises(crypto.CryptoError):
        crypto.decrypt_text(KEY, "riverside", "ana", token)
    with pytest.raises(crypto.CryptoError):
        crypto.decrypt_text(secrets.token_bytes(32), "northside", "ana", token)


def test_each_encryption_is_fresh_so_equal_texts_do_not_show() -> None:
    first, second = (crypto.encrypt_text(KEY, "northside", "ana", "same") for _ in range(2))
    assert first != second


def test_without_its_key_a_token_reads_as_erased_and_old_clear_text_as_itself() -> None:
    token = crypto.encrypt_text(KEY, "northside", "ana", "words")
    assert crypto.decrypt_text(None, "northside", "ana", token) == crypto.ERASED == ""
    assert crypto.decrypt_text(None, "northside", "ana", "stored before 0003") == (
        "stored before 0003"
    )


def test_sealed_wording_opens_only_with_the_suite_key() -> None:
    goal = AgreedGoal(
        description="Sleep by 23:00", measure="nights", target="5", due_date="2030-01-01"
    )
    task = AgreedHomework(instructions="Keep a sleep diary", due_at="2030-01-01T09:00:00Z")
    fields = closing_plan([goal], [task], KEY)
    assert "Sleep" not in fields["sealed_wording"] and "diary" not in fields["sealed_wording"]
    assert unseal_wording(KEY, fields["sealed_wording"]) == split([goal], [task])[2]
    with pytest.raises(crypto.CryptoError):
        unseal_wording(secrets.token_bytes(32), fields["sealed_wording"])
    # A client key's token is not a seal, and the other way round.
    with pytest.raises(crypto.CryptoError):
        crypto.unseal(KEY, crypto.encrypt_text(KEY, "northside", "ana", "x"))


def test_the_local_seal_key_is_made_once_owner_only_and_then_reused(tmp_path) -> None:
    first = crypto.plan_seal_key(None, str(tmp_path / "data"))
    path = tmp_path / "data" / crypto.SEAL_KEY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert crypto.plan_seal_key(None, str(tmp_path / "data")) == first
    assert len(first) == 32
    assert list((tmp_path / "data").iterdir()) == [path]  # no draft left behind


def test_a_configured_seal_key_wins_and_must_be_32_bytes(tmp_path) -> None:
    configured = base64.urlsafe_b64encode(KEY).decode()
    assert crypto.plan_seal_key(configured, str(tmp_path)) == KEY
    assert not (tmp_path / crypto.SEAL_KEY_FILE).exists()
    with pytest.raises(ValueError, match="32 bytes"):
        crypto.plan_seal_key(base64.urlsafe_b64encode(b"short").decode(), str(tmp_path))
