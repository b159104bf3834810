"""Settings common to every service, read from the environment (prefix RAPPORT_).

Suite-wide settings are RAPPORT_<NAME> (RAPPORT_NATS_URL); a service's own are
RAPPORT_<SERVICE>_<NAME> (RAPPORT_GOALS_DATABASE_URL, RAPPORT_GOALS_PORT).
"""

from typing import Literal

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from rapport_shared.security.auth import TokenVerifier, local_secret
from rapport_shared.web.forwarded import IPNetwork, parse_networks

# The services and their ports on the embedded default (`make run`, the `rapport` CLI's default
# URLs).
SERVICES = {"sessions": 8101, "goals": 8102, "notifications": 8103}


def suite_setting(name: str) -> AliasChoices:
    return AliasChoices(f"RAPPORT_{name.upper()}")


class ServiceSettings(BaseSettings):
    # Tests and embedders pass suite-wide settings by field name (nats_url=...) despite aliases.
    model_config = SettingsConfigDict(populate_by_name=True)

    nats_url: str = Field("nats://127.0.0.1:14222", validation_alias=suite_setting("nats_url"))
    log_format: Literal["auto", "json", "console"] = Field(
        "auto", validation_alias=suite_setting("log_format")
    )
    log_level: str = Field("info", validation_alias=suite_setting("log_level"))
    stream_replicas: int = Field(1, ge=1, le=5, validation_alias=suite_setting("stream_replicas"))
    data_dir: str = Field(".rapport", validation_alias=suite_setting("data_dir"))
    # OpenTelemetry tracing is off unless an OTLP/HTTP endpoint is given (e.g. http://otel:4318).
    otlp_endpoint: str | None = Field(None, validation_alias=suite_setting("otlp_endpoint"))
    # Bearer tokens (docs/security.md): HS256 with this secret, or, when unset, with the secret
    # file <data_dir>/auth-secret (generated once); RS256 from a JWKS URL in production.
    auth_secret: str | None = Field(None, validation_alias=suite_setting("auth_secret"))
    auth_jwks_url: str | None = Field(None, validation_alias=suite_setting("auth_jwks_url"))
    auth_issuer: str | None = Field(None, validation_alias=suite_setting("auth_issuer"))
    auth_audience: str | None = Field(None, validation_alias=suite_setting("auth_audience"))
    # Proxies whose Forwarded / X-Forwarded-For headers name the client (comma-separated IPs or
    # CIDRs; rapport_shared.web.forwarded). None by default: the audited address is the peer's.
    trusted_proxies: str = Field("", validation_alias=suite_setting("trusted_proxies"))

    host: str = "127.0.0.1"
    port: int = 8100
    database_url: str = ""
    # PostgreSQL connections this instance keeps open at most (all of them kept once opened).
    database_pool_size: int = Field(20, ge=1)
    relay_poll_interval_seconds: float = Field(1.0, gt=0)
    relay_batch_size: int = Field(500, ge=1)
    consumer_batch_size: int = Field(100, ge=1)
    consumer_max_deliveries: int = Field(5, ge=1)
    consumer_retry_base_seconds: float = Field(0.2, gt=0)
    # How long JetStream waits for an ack before it delivers again. Deliveries a crash or a lost
    # broker connection took with it come back only then: with 30 s, make chaos took 11-26 s to
    # converge after a kill -9 or a lost node. A batch still being applied that long is delivered
    # again and dropped as a duplicate by event id.
    consumer_ack_wait_seconds: float = Field(10.0, ge=1)
    # After a batch that was not full, how long the consumers of the events each command causes
    # wait before fetching again, so what arrives meanwhile is applied in one transaction. Off
    # where a user waits on the projection (the goals a closed session agreed); the services
    # whose projections nobody waits on by the millisecond set their own default.
    consumer_linger_seconds: float = Field(0.0, ge=0, le=5)
    # Hostile and careless input (docs/api.md, "Errors and limits"). A note of ten full sections
    # (10 x 20,000 characters) must still fit, hence more than the usual 64 KiB.
    max_body_bytes: int = Field(256 * 1024, ge=1024)
    # All of a request's header names and values together (a bearer token of a few KiB and the
    # usual headers fit many times over); more is refused with 431.
    max_header_bytes: int = Field(16 * 1024, ge=1024)
    # A completed Idempotency-Key answers replays this long, then it is forgotten.
    idempotency_retention_hours: float = Field(24.0, gt=0)
    # A key claimed by a request that never finished (its process died) is free again after this.
    idempotency_lease_seconds: float = Field(60.0, gt=0)
    idempotency_cleanup_interval_seconds: float = Field(600.0, gt=0)

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies_parse(cls, value: str) -> str:
        parse_networks(value)  # refused at startup, not at the first request
        return value

    def trusted_proxy_networks(self) -> tuple[IPNetwork, ...]:
        return parse_networks(self.trusted_proxies)

    def resolved_database_url(self, service: str) -> str:
        return self.database_url or f"sqlite+aiosqlite:///{self.data_dir}/{service}.db"


def hs256_secret(settings: ServiceSettings) -> str:
    return settings.auth_secret or local_secret(settings.data_dir)


def verifier_for(settings: ServiceSettings) -> TokenVerifier:
    if settings.auth_jwks_url:
        return TokenVerifier(
            jwks_url=settings.auth_jwks_url,
            issuer=settings.auth_issuer,
            audience=settings.auth_audience,
        )
    return TokenVerifier(
        secret=hs256_secret(settings), issuer=settings.auth_issuer, audience=settings.auth_audience
    )
