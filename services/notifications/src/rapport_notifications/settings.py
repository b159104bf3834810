"""Settings of the notifications service (environment prefix RAPPORT_NOTIFICATIONS_)."""

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from rapport_shared.runtime.settings import ServiceSettings
from rapport_shared.web.egress import AllowList
from rapport_shared.web.egress_http import Egress


class NotificationsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="RAPPORT_NOTIFICATIONS_")

    port: int = 8103

    # How long before the due time a homework reminder comes, unless the homework says otherwise.
    reminder_lead_seconds: float = Field(86400.0, ge=0)
    # How long before a session starts the client is reminded of it.
    session_lead_seconds: float = Field(86400.0, ge=0)
    # How long after a session closed its counselor is reminded of a note still unsigned.
    unsigned_note_after_seconds: float = Field(86400.0, ge=0)
    # Lingering (ServiceSettings): nothing here is waited on (a reminder is due hours ahead; a
    # risk alert waits for the next delivery round, up to a second, anyway), and one event per
    # batch cost a third more CPU.
    consumer_linger_seconds: float = Field(0.05, ge=0, le=5)
    scheduler_interval_seconds: float = Field(1.0, gt=0)
    scheduler_batch_size: int = Field(20, ge=1)

    # Per channel: attempts before a delivery is recorded as failed.
    delivery_max_attempts: int = Field(5, ge=1)
    # The wait after the first failed attempt; it doubles after each further one, up to the cap.
    delivery_backoff_seconds: float = Field(30.0, gt=0)
    delivery_backoff_max_seconds: float = Field(3600.0, gt=0)
    # How long a claimed round of reminders stays reserved for the process delivering it; after
    # that (a crash mid-delivery) they are claimable again.
    delivery_claim_seconds: float = Field(600.0, gt=0)

    smtp_host: str = "127.0.0.1"
    smtp_port: int = Field(1025, ge=1, le=65535)
    smtp_sender: str = "reminders@rapport.local"
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = False
    smtp_timeout_seconds: float = Field(10.0, gt=0)

    webhook_timeout_seconds: float = Field(10.0, gt=0)
    # Comma-separated host[:port] that webhooks may reach over plain http and at internal
    # addresses (rapport_shared.web.egress): an operator's own receivers. Everything else must be
    # https to a public address.
    webhook_allowed_hosts: str = ""

    @field_validator("webhook_allowed_hosts")
    @classmethod
    def _allow_list(cls, value: str) -> str:
        AllowList.parse(value)  # a typo fails at startup, not at the first delivery
        return value

    @property
    def webhook_egress(self) -> Egress:
        return Egress(
            allowed=AllowList.parse(self.webhook_allowed_hosts),
            timeout_seconds=self.webhook_timeout_seconds,
        )

    @model_validator(mode="after")
    def _claims_outlast_a_round(self) -> "NotificationsSettings":
        # A round sends its reminders one by one, each on email and webhook at worst; a claim
        # lapsing before the last is sent would let another replica send that one too.
        slowest = self.scheduler_batch_size * (
            self.smtp_timeout_seconds + self.webhook_timeout_seconds
        )
        if self.delivery_claim_seconds <= slowest:
            raise ValueError(
                f"delivery_claim_seconds ({self.delivery_claim_seconds}) must exceed "
                "scheduler_batch_size x (smtp_timeout_seconds + webhook_timeout_seconds) "
                f"({slowest})"
            )
        return self
