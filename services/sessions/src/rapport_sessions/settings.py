"""The sessions service's settings: RAPPORT_SESSIONS_<NAME>, plus the suite-wide RAPPORT_<NAME>."""

from pydantic_settings import SettingsConfigDict

from rapport_shared.settings import ServiceSettings


class SessionsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="RAPPORT_SESSIONS_")

    port: int = 8101
