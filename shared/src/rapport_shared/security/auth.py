"""Bearer tokens: who is calling (subject), for which clinic, in which role.

Two ways to check a token (docs/security.md):
- HS256 with a local secret, on the embedded default: RAPPORT_AUTH_SECRET, or else the file
  <data_dir>/auth-secret, generated once (mode 0600) by whichever process needs it first, so
  `make run`, the services and `rapport token` agree without configuration;
- RS256 against an identity provider's JWKS (RAPPORT_AUTH_JWKS_URL) in production, with the
  issuer and audience checked when they are configured.
"""

import asyncio
import os
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal, get_args

import jwt

from rapport_shared.contracts.clinic import is_clinic_slug

Role = Literal["clinic-admin", "counselor", "client", "auditor", "operator"]
ROLES: tuple[str, ...] = get_args(Role)
# The operator runs the deployment (/admin: status, dead letters, rebuilds) for every clinic
# and reaches no clinical data; its clinic claim is this wildcard and nothing else.
ALL_CLINICS = "*"
SECRET_FILE = "auth-secret"
DEFAULT_TTL = timedelta(hours=8)
# Tolerated clock difference between the token's issuer and this service.
LEEWAY_SECONDS = 30
# Verified tokens kept per verifier (a client sends the same token with every request), and how
# long one is trusted without checking its signature again: well under the JWKS key cache's
# own lifetime, so a key the identity provider withdraws is not honoured for longer than before.
CACHED_TOKENS = 4096
CACHED_SECONDS = 60.0


class InvalidToken(Exception):
    """Missing, malformed, badly signed, expired, or with claims that make no sense."""


@dataclass(frozen=True)
class Principal:
    sub: str
    clinic: str
    role: Role


def principal_from_claims(claims: dict[str, Any]) -> Principal:
    sub, clinic, role = claims.get("sub"), claims.get("clinic"), claims.get("role")
    if not isinstance(sub, str) or not sub or len(sub) > 64:
        raise InvalidToken("the token has no usable subject (sub)")
    if role not in ROLES:
        raise InvalidToken(f"role must be one of {', '.join(ROLES)}")
    if role == "operator":
        if clinic != ALL_CLINICS:
            raise InvalidToken("an operator token's clinic is '*'")
    elif not isinstance(clinic, str) or not is_clinic_slug(clinic):
        raise InvalidToken("the token's clinic is not a clinic id")
    return Principal(sub=sub, clinic=clinic, role=role)


class TokenVerifier:
    def __init__(
        self,
        *,
        secret: str | None = None,
        jwks_url: str | None = None,
        issuer: str | None = None,
        audience: str | None = None,
    ) -> None:
        if (secret is None) == (jwks_url is None):
            raise ValueError("give either a secret (HS256) or a JWKS URL (RS256)")
        self._secret = secret
        self._jwks = jwt.PyJWKClient(jwks_url, cache_keys=True) if jwks_url else None
        self._issuer = issuer
        self._audience = audience
        self.verified = VerifiedTokens()

    async def verify(self, token: str) -> Principal:
        principal = self.verified.get(token)
        if principal is not None:
            return principal
        if self._jwks is None:
            claims = self._decode(token, self._secret, "HS256")
        else:
            try:
                # PyJWKClient fetches over blocking urllib (once, then from its cache): off the
                # loop.
                signing_key = await asyncio.to_thread(self._jwks.get_signing_key_from_jwt, token)
            except jwt.PyJWTError as error:
                raise InvalidToken(str(error)) from None
            claims = self._decode(token, signing_key.key, "RS256")
        principal = principal_from_claims(claims)
        self.verified.put(token, principal, claims)
        return principal

    def _decode(self, token: str, key: Any, algorithm: str) -> dict[str, Any]:
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[algorithm],  # never the token's own choice ("none", HS/RS confusion)
                issuer=self._issuer,
                audience=self._audience,
                leeway=LEEWAY_SECONDS,
                options={"require": ["exp", "sub"], "verify_aud": self._audience is not None},
            )
        except jwt.PyJWTError as error:
            raise InvalidToken(str(error)) from None
        return claims


class VerifiedTokens:
    """Tokens that passed every check, by their exact text: the signature, issuer and audience
    of the same text cannot change, so only time can make one invalid. Each is kept while PyJWT
    would still accept it (the same leeway on exp, nbf and iat) and at most CACHED_SECONDS;
    refused tokens are never kept. Bounded: the oldest entry makes room for a new one."""

    def __init__(
        self,
        size: int = CACHED_TOKENS,
        seconds: float = CACHED_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.size, self.seconds, self.clock = size, seconds, clock
        self._entries: dict[str, tuple[Principal, float, float]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, token: str) -> Principal | None:
        entry = self._entries.get(token)
        if entry is None:
            return None
        principal, valid_from, valid_until = entry
        if valid_from <= self.clock() < valid_until:
            return principal
        del self._entries[token]
        return None

    def put(self, token: str, principal: Principal, claims: dict[str, Any]) -> None:
        now = self.clock()
        # PyJWT: expired when exp <= now - leeway; not yet valid when nbf or iat > now + leeway.
        valid_until = min(int(claims["exp"]) + LEEWAY_SECONDS, now + self.seconds)
        starts = [int(claims[name]) for name in ("nbf", "iat") if name in claims]
        valid_from = max(starts, default=now) - LEEWAY_SECONDS
        if len(self._entries) >= self.size:
            del self._entries[next(iter(self._entries))]
        self._entries[token] = (principal, valid_from, valid_until)


def local_secret(data_dir: str | Path) -> str:
    """The embedded default's HS256 secret: read <data_dir>/auth-secret, creating it once."""
    path = Path(data_dir) / SECRET_FILE
    if path.exists():
        return _read_secret(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_name(f".{SECRET_FILE}.{os.getpid()}.{secrets.token_hex(4)}")
    descriptor = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(secrets.token_urlsafe(48))
    try:
        # link() publishes the complete file or fails if another process won the race: no
        # reader ever sees a half-written secret, and every process ends up with the same one.
        os.link(staging, path)
    except FileExistsError:
        pass
    finally:
        staging.unlink()
    return _read_secret(path)


def _read_secret(path: Path) -> str:
    secret = path.read_text().strip()
    if not secret:
        raise RuntimeError(f"{path} is empty; delete it to have a new secret generated")
    return secret


def mint_token(
    secret: str,
    *,
    sub: str,
    clinic: str,
    role: str,
    ttl: timedelta = DEFAULT_TTL,
    issuer: str | None = None,
    audience: str | None = None,
) -> str:
    """An HS256 token for local use (`rapport token`, the demo, tests)."""
    principal_from_claims({"sub": sub, "clinic": clinic, "role": role})  # refuse nonsense early
    now = datetime.now(UTC)
    claims: dict[str, Any] = {"sub": sub, "clinic": clinic, "role": role, "iat": now}
    claims["exp"] = now + ttl
    if issuer:
        claims["iss"] = issuer
    if audience:
        claims["aud"] = audience
    return jwt.encode(claims, secret, algorithm="HS256")
