"""`rapport token`: a token from the local secret (the environment's, else the data directory's
file), with the claims asked for and the lifetime given."""

from datetime import timedelta

import jwt
import pytest

from rapport_shared.runtime import cli
from rapport_shared.security.auth import local_secret

SECRET = "cli-test-secret-long-enough-for-hs256-0123456789"


def _mint(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, object]:
    cli.main(["token", *args])
    token = capsys.readouterr().out.strip()
    return dict(jwt.decode(token, SECRET, algorithms=["HS256"]))


def test_mints_the_claims_asked_for(monkeypatch, capsys) -> None:
    monkeypatch.setenv("RAPPORT_AUTH_SECRET", SECRET)
    claims = _mint(capsys, "--clinic", "northside", "--role", "counselor", "--sub", "kim")
    assert (claims["sub"], claims["clinic"], claims["role"]) == ("kim", "northside", "counselor")
    assert int(claims["exp"]) - int(claims["iat"]) == 8 * 3600
    short = _mint(capsys, "--clinic", "northside", "--role", "client", "--sub", "a", "--ttl", "15m")
    assert int(short["exp"]) - int(short["iat"]) == 900
    operator = _mint(capsys, "--role", "operator", "--sub", "olu")
    assert operator["clinic"] == "*"


def test_uses_the_data_directorys_secret_and_never_invents_one(
    monkeypatch, capsys, tmp_path
) -> None:
    monkeypatch.delenv("RAPPORT_AUTH_SECRET", raising=False)
    monkeypatch.setenv("RAPPORT_DATA_DIR", str(tmp_path))
    with pytest.raises(SystemExit, match="no local secret"):
        cli.main(["token", "--clinic", "northside", "--role", "auditor", "--sub", "ada"])
    assert not (tmp_path / "auth-secret").exists()
    secret = local_secret(tmp_path)  # as the services create it
    cli.main(["token", "--clinic", "northside", "--role", "auditor", "--sub", "ada"])
    token = capsys.readouterr().out.strip()
    assert jwt.decode(token, secret, algorithms=["HS256"])["role"] == "auditor"


@pytest.mark.parametrize(
    "args",
    [
        ["--clinic", "North Side", "--role", "counselor", "--sub", "kim"],
        ["--clinic", "northside", "--role", "operator", "--sub", "olu"],
        ["--role", "counselor", "--sub", "kim"],
    ],
)
def test_refuses_tokens_that_would_be_refused(monkeypatch, args: list[str]) -> None:
    monkeypatch.setenv("RAPPORT_AUTH_SECRET", SECRET)
    with pytest.raises(SystemExit):
        cli.main(["token", *args])


@pytest.mark.parametrize(
    ("text", "seconds"), [("900", 900), ("15m", 900), ("8h", 28800), ("7d", 604800)]
)
def test_ttl(text: str, seconds: int) -> None:
    assert cli.parse_ttl(text) == timedelta(seconds=seconds)
