from pydantic_settings import SettingsConfigDict

from rapport_shared.settings import ServiceSettings


class GoalsSettings(ServiceSettings):
    """RAPPORT_GOALS_* plus the suite-wide RAPPORT_* settings."""

    model_config = SettingsConfigDict(env_prefix="RAPPORT_GOALS_")

    port: int = 8102
