from pydantic import Field
from pydantic_settings import SettingsConfigDict

from rapport_goals.domain.measures import DEFAULT_ALLIANCE_THRESHOLD
from rapport_goals.domain.progress import DEFAULT_UNREALISTIC_ADHERENCE
from rapport_shared.runtime.settings import ServiceSettings, suite_setting


class GoalsSettings(ServiceSettings):
    """RAPPORT_GOALS_* plus the suite-wide RAPPORT_* settings."""

    model_config = SettingsConfigDict(env_prefix="RAPPORT_GOALS_")

    port: int = 8102
    # The suite key that opens the plan wording sealed by the sessions service (the same value
    # as there; unset, the one under the data dir).
    plan_seal_key: str | None = Field(None, validation_alias=suite_setting("plan_seal_key"))
    # An SRS total below this raises an alliance alert to the counselor.
    alliance_threshold: int = DEFAULT_ALLIANCE_THRESHOLD
    # A goal whose homework adherence is below this (and whose GAS level has not risen over its
    # last three reviews) is flagged unrealistic.
    unrealistic_adherence_threshold: float = DEFAULT_UNREALISTIC_ADHERENCE
    # How often to look for homework occurrences that passed unfulfilled.
    missed_check_interval_seconds: float = 300.0
    # How long after its due time an open occurrence may still be completed (late) before it
    # is recorded as missed.
    missed_grace_hours: float = 24.0
    # How often the measure-ask round asks for the every-n-days measures that fell due and
    # records the asks past their deadline as missed.
    measure_round_interval_seconds: float = 300.0
