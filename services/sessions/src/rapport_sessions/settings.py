"""The sessions service's settings: RAPPORT_SESSIONS_<NAME>, plus the suite-wide RAPPORT_<NAME>."""

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from rapport_shared.runtime.settings import ServiceSettings, suite_setting


class SessionsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="RAPPORT_SESSIONS_")

    port: int = 8101
    # Lingering (ServiceSettings): the notes and prep brief show the goals a session agreed, read
    # by a person later, not within milliseconds; one goals event per batch cost a millisecond
    # of this service's CPU per closed session, the request path's CPU (docs/BENCHMARKS.md).
    consumer_linger_seconds: float = Field(0.05, ge=0, le=5)
    # The suite key sealing plan wording for the goals service (URL-safe base64 of 32 bytes);
    # unset, one is generated under the data dir. The goals service must have the same.
    plan_seal_key: str | None = Field(None, validation_alias=suite_setting("plan_seal_key"))
