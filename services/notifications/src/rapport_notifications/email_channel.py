"""The email channel: one reminder, one message, over SMTP (aiosmtplib)."""

from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime

import aiosmtplib

from rapport_notifications.domain.messages import Message
from rapport_notifications.domain.model import Failure
from rapport_notifications.settings import NotificationsSettings
from rapport_shared.contracts.notifications import FailureReason


class DeliveryFailed(Exception):
    def __init__(self, failure: Failure) -> None:
        super().__init__(failure.detail)
        self.failure = failure


# The server never answered (or went away): a later attempt may reach it. Anything else is the
# server saying no (a refused sender or recipient, a failed login).
_UNREACHABLE = (
    aiosmtplib.SMTPConnectError,
    aiosmtplib.SMTPTimeoutError,
    aiosmtplib.SMTPServerDisconnected,
    OSError,
)


class EmailChannel:
    def __init__(self, settings: NotificationsSettings) -> None:
        self._settings = settings

    async def send(self, *, to: str, message: Message, reference: str) -> None:
        """reference names the reminder: retries of one reminder share one Message-ID, so mail
        systems can tell a repeat from a new message."""
        settings = self._settings
        email = EmailMessage()
        email["From"] = settings.smtp_sender
        email["To"] = to
        email["Subject"] = message.subject
        email["Date"] = format_datetime(datetime.now(UTC))
        domain = settings.smtp_sender.rpartition("@")[2] or "rapport.local"
        email["Message-ID"] = f"<{reference}@{domain}>"
        email.set_content(message.body)
        password = settings.smtp_password
        try:
            await aiosmtplib.send(
                email,
                hostname=settings.smtp_host,
                port=settings.smtp_port,
                username=settings.smtp_username,
                password=password.get_secret_value() if password else None,
                start_tls=settings.smtp_starttls,
                timeout=settings.smtp_timeout_seconds,
            )
        except (aiosmtplib.SMTPException, OSError) as error:
            reason: FailureReason = (
                "smtp-unreachable" if isinstance(error, _UNREACHABLE) else "smtp-rejected"
            )
            raise DeliveryFailed(Failure(reason, f"{type(error).__name__}: {error}")) from error
