"""Alembic's entry, at start-up and from the command line (services/goals/alembic.ini)."""

from rapport_goals.settings import GoalsSettings
from rapport_goals.tables import metadata
from rapport_shared.runtime.alembic_env import run_service_env

run_service_env("goals", GoalsSettings, metadata)
