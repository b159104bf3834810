"""The email channel: one reminder, one message, over SMTP (aiosmtplib)."""

from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime

import aiosmtplib

from rapport_notifications.settings import NotificationsSettings


class DeliveryFailed(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class EmailChannel:
    def __init__(self, settings: NotificationsSettings) -> None:
        self._settings = settings

    async def send(self, *, to: str, subject: str, body: str, reference: str) -> None:
        """reference names the reminder: retries of one reminder share one Message-ID, so mail
        systems can tell a repeat from a new message."""
        settings = self._settings
        message = EmailMessage()
        message["From"] = settings.smtp_sender
        message["To"] = to
        message["Subject"] = subject
        message["Date"] = format_datetime(datetime.now(UTC))
        domain = settings.smtp_sender.rpartition("@")[2] or "rapport.local"
        message["Message-ID"] = f"<{reference}@{domain}>"
        message.set_content(body)
        password = settings.smtp_password
        try:
            await aiosmtplib.send(
                message,
                hostname=settings.smtp_host,
                port=settings.smtp_port,
                username=settings.smtp_username,
                password=password.get_secret_value() if password else None,
                start_tls=settings.smtp_starttls,
                timeout=settings.smtp_timeout_seconds,
            )
        except (aiosmtplib.SMTPException, OSError) as error:
            raise DeliveryFailed(f"{type(error).__name__}: {error}") from error
