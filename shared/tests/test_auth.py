"""Bearer tokens: HS256 with the local secret, RS256 against a JWKS served over real HTTP, the
claims a token must carry, and the secret file the embedded default generates once."""

import json
import stat
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from rapport_shared.runtime.settings import ServiceSettings, verifier_for
from rapport_shared.security.auth import (
    LEEWAY_SECONDS,
    InvalidToken,
    Principal,
    TokenVerifier,
    VerifiedTokens,
    local_secret,
    mint_token,
)

SECRET = "a-test-secret-long-enough-for-hs256-0123456789"


def _claims(**overrides: Any) -> dict[str, Any]:
    now = datetime.now(UTC)
    claims = {
        "sub": "kim",
        "clinic": "northside",
        "role": "counselor",
        "exp": now + timedelta(hours=1),
    }
    return {k: v for k, v in {**claims, **overrides}.items() if v is not None}


async def test_a_minted_token_verifies_to_its_subject_clinic_and_role() -> None:
    token = mint_token(SECRET, sub="kim", clinic="northside", role="counselor")
    principal = await TokenVerifier(secret=SECRET).verify(token)
    assert principal == Principal("kim", "northside", "counselor")


@pytest.mark.parametrize(
    "token",
    [
        pytest.param(
            mint_token(SECRET + "x", sub="kim", clinic="northside", role="counselor"),
            id="other-secret",
        ),
        pytest.param(
            mint_token(
                SECRET, sub="kim", clinic="northside", role="counselor", ttl=timedelta(minutes=-5)
            ),
            id="expired",
        ),
        pytest.param(jwt.encode(_claims(exp=None), SECRET, algorithm="HS256"), id="no-exp"),
        pytest.param(jwt.encode(_claims(), None, algorithm="none"), id="alg-none"),
        pytest.param(jwt.encode(_claims(), SECRET, algorithm="HS512"), id="other-algorithm"),
        pytest.param(
            jwt.encode(_claims(role="superuser"), SECRET, algorithm="HS256"), id="unknown-role"
        ),
        pytest.param(
            jwt.encode(_claims(clinic="North Side"), SECRET, algorithm="HS256"),
            id="clinic-not-a-slug",
        ),
        pytest.param(
            jwt.encode(_claims(clinic="*"), SECRET, algorithm="HS256"), id="wildcard-not-operator"
        ),
        pytest.param(
            jwt.encode(_claims(role="operator"), SECRET, algorithm="HS256"),
            id="operator-of-one-clinic",
        ),
        pytest.param(jwt.encode(_claims(sub=""), SECRET, algorithm="HS256"), id="empty-subject"),
        pytest.param("not.a.token", id="garbage"),
    ],
)
async def test_tokens_that_are_refused(token: str) -> None:
    with pytest.raises(InvalidToken):
        await TokenVerifier(secret=SECRET).verify(token)


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC).timestamp()

    def __call__(self) -> float:
        return self.now


class Watched:
    """A verifier whose cache runs on a clock of the test's, a token of five minutes, and the
    tokens PyJWT decodes (that is, checks in full) from here on."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, cache_seconds: float) -> None:
        self.clock = Clock()
        self.verifier = TokenVerifier(secret=SECRET)
        self.verifier.verified = VerifiedTokens(seconds=cache_seconds, clock=self.clock)
        self.token = mint_token(
            SECRET, sub="kim", clinic="northside", role="counselor", ttl=timedelta(minutes=5)
        )
        self.claims = jwt.decode(self.token, options={"verify_signature": False})
        self.decoded: list[str] = []
        real = jwt.decode

        def decode(token: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
            self.decoded.append(token)
            return real(token, *args, **kwargs)

        monkeypatch.setattr(jwt, "decode", decode)

    async def checks_after_verifying_at(self, now: float) -> int:
        self.clock.now = now
        assert (await self.verifier.verify(self.token)).sub == "kim"
        return len(self.decoded)


async def test_a_verified_token_is_checked_again_only_once_it_may_have_expired(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    watched = Watched(monkeypatch, cache_seconds=3600)
    now, expires = watched.clock.now, watched.claims["exp"]
    assert [await watched.checks_after_verifying_at(now) for _ in range(3)] == [1, 1, 1]
    # PyJWT still accepts it a second before exp + leeway, and refuses it from then on: so does
    # the cache (the check after it is PyJWT's, on the real clock).
    assert await watched.checks_after_verifying_at(expires + LEEWAY_SECONDS - 1) == 1
    assert await watched.checks_after_verifying_at(expires + LEEWAY_SECONDS) == 2


async def test_a_token_is_checked_again_before_it_was_valid_and_after_the_cache_period(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    watched = Watched(monkeypatch, cache_seconds=60)
    assert await watched.checks_after_verifying_at(watched.clock.now) == 1
    # A clock set back before the token's time; then within the cache period, and past it
    # (though the token itself is still valid).
    set_back = watched.claims["iat"] - LEEWAY_SECONDS - 1
    assert await watched.checks_after_verifying_at(set_back) == 2
    assert await watched.checks_after_verifying_at(set_back + 59) == 2
    assert await watched.checks_after_verifying_at(set_back + 61) == 3


async def test_refused_tokens_are_not_remembered_and_the_cache_is_bounded() -> None:
    verifier = TokenVerifier(secret=SECRET)
    verifier.verified = VerifiedTokens(size=3)
    forged = mint_token(SECRET + "x", sub="kim", clinic="northside", role="counselor")
    for _ in range(2):
        with pytest.raises(InvalidToken):
            await verifier.verify(forged)
    assert len(verifier.verified) == 0
    tokens = [
        mint_token(SECRET, sub=f"person-{n}", clinic="northside", role="counselor")
        for n in range(5)
    ]
    for token in tokens:
        await verifier.verify(token)
    assert len(verifier.verified) == 3
    assert [(await verifier.verify(t)).sub for t in tokens] == [f"person-{n}" for n in range(5)]


async def test_issuer_and_audience_are_checked_when_configured() -> None:
    verifier = TokenVerifier(secret=SECRET, issuer="https://idp", audience="rapport")
    good = mint_token(
        SECRET,
        sub="k",
        clinic="northside",
        role="counselor",
        issuer="https://idp",
        audience="rapport",
    )
    assert (await verifier.verify(good)).sub == "k"
    for issuer, audience in (("https://other", "rapport"), ("https://idp", "other"), (None, None)):
        token = mint_token(
            SECRET, sub="k", clinic="northside", role="counselor", issuer=issuer, audience=audience
        )
        with pytest.raises(InvalidToken):
            await verifier.verify(token)


def test_the_local_secret_is_generated_once_private_and_shared(tmp_path: Path) -> None:
    # Several processes start at once on a fresh data directory: all must end with one secret.
    with ThreadPoolExecutor(8) as pool:
        secrets = set(pool.map(lambda _: local_secret(tmp_path / "data"), range(16)))
    [secret] = secrets
    assert len(secret) >= 32
    path = tmp_path / "data" / "auth-secret"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert local_secret(tmp_path / "data") == secret
    assert sorted(p.name for p in path.parent.iterdir()) == ["auth-secret"]  # no staging left


async def test_settings_choose_the_secret_then_the_file(tmp_path: Path) -> None:
    explicit = ServiceSettings(auth_secret=SECRET, data_dir=str(tmp_path))
    token = mint_token(SECRET, sub="k", clinic="northside", role="auditor")
    assert (await verifier_for(explicit).verify(token)).role == "auditor"
    assert not (tmp_path / "auth-secret").exists()
    from_file = verifier_for(ServiceSettings(data_dir=str(tmp_path)))
    file_token = mint_token(local_secret(tmp_path), sub="k", clinic="northside", role="auditor")
    assert (await from_file.verify(file_token)).sub == "k"
    with pytest.raises(InvalidToken):
        await from_file.verify(token)


@pytest.fixture(scope="module")
def signing_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def jwks_url(signing_key: rsa.RSAPrivateKey) -> Iterator[str]:
    """An identity provider's JWKS endpoint, over real HTTP on a free port."""
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(signing_key.public_key()))
    body = json.dumps({"keys": [{**jwk, "kid": "key-1", "use": "sig", "alg": "RS256"}]}).encode()

    class Jwks(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Jwks)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/.well-known/jwks.json"
    finally:
        server.shutdown()
        server.server_close()


async def test_rs256_tokens_verify_against_the_jwks(signing_key, jwks_url) -> None:
    verifier = TokenVerifier(jwks_url=jwks_url, issuer="https://idp", audience="rapport")
    claims = _claims(iss="https://idp", aud="rapport")
    token = jwt.encode(claims, signing_key, algorithm="RS256", headers={"kid": "key-1"})
    assert await verifier.verify(token) == Principal("kim", "northside", "counselor")

    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = jwt.encode(claims, stranger, algorithm="RS256", headers={"kid": "key-1"})
    unknown_kid = jwt.encode(claims, signing_key, algorithm="RS256", headers={"kid": "key-9"})
    hs256 = jwt.encode(claims, SECRET, algorithm="HS256", headers={"kid": "key-1"})
    for token in (forged, unknown_kid, hs256):
        with pytest.raises(InvalidToken):
            await verifier.verify(token)
