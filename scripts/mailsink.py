"""A local SMTP server for `make run`: every reminder the notifications service sends really
travels over SMTP and lands as an .eml file under .rapport/mail/."""

import itertools
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller


class MaildirHandler:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        existing = len(list(directory.glob("*.eml")))
        self._numbers = itertools.count(existing + 1)

    async def handle_DATA(self, _server: Any, _session: Any, envelope: Any) -> str:  # noqa: N802
        path = self.directory / f"{next(self._numbers):05d}.eml"
        path.write_bytes(envelope.original_content or envelope.content)
        print(f"  mail -> {', '.join(envelope.rcpt_tos)} ({path})", flush=True)
        return "250 Message accepted for delivery"


def start_mailsink(directory: Path, port: int) -> Controller:
    controller = Controller(MaildirHandler(directory), hostname="127.0.0.1", port=port)
    controller.start()
    return controller
