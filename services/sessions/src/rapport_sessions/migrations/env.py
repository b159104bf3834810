"""Alembic's entry, at start-up and from the command line (services/sessions/alembic.ini)."""

from rapport_sessions.settings import SessionsSettings
from rapport_sessions.tables import metadata
from rapport_shared.runtime.alembic_env import run_service_env

run_service_env("sessions", SessionsSettings, metadata)
