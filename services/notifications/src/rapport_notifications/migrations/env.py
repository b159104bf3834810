"""Alembic's entry, at start-up and from the command line (services/notifications/alembic.ini)."""

from rapport_notifications.settings import NotificationsSettings
from rapport_notifications.tables import metadata
from rapport_shared.runtime.alembic_env import run_service_env

run_service_env("notifications", NotificationsSettings, metadata)
