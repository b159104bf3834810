"""The load: closed-loop workers driving two clinics through the whole flow.

Each worker repeats a *unit*: schedule a session, close it with a plan (one goal, one homework:
the goals service derives both, notifications schedules a reminder, sessions shows them), record
a PHQ-9; a little later the plan's homework is completed (goals, then notifications and sessions
react). Completing homework the goals service has not derived yet is refused (404) and tried
again later, backing off. Every 50th command is one the services must refuse: closing an unknown
session, an invalid measure, closing a session twice.
"""

import asyncio
import heapq
import itertools
import random
import time
from uuid import UUID, uuid4

from chaos import commands
from chaos.commands import Sent
from chaos.http import Api
from chaos.ledger import Outcome

CLINICS = ("northside", "riverside")
CLIENTS_PER_CLINIC = 40
PROBE_EVERY = 50
COMPLETE_AFTER_SECONDS = 0.5
COMPLETE_ATTEMPTS = 20


class Load:
    def __init__(
        self,
        api: Api,
        target: int,
        workers: int = 12,
        seed: int = 6,
        per_second: float | None = None,
    ) -> None:
        """per_second: at most that many commands a second (None: as fast as the workers go),
        so that a short load still lasts as long as a fault needs to play out."""
        self.api, self.target, self.workers = api, target, workers
        self.per_second = per_second
        self._started = time.monotonic()
        self.sent: list[Sent] = []
        self._random = random.Random(seed)
        self._units = itertools.count()
        # (not before, tiebreak, clinic, session id, attempts): homework waiting to be completed
        self._completions: list[tuple[float, int, str, UUID, int]] = []
        self._closed: list[tuple[str, UUID]] = []
        self._tiebreak = itertools.count()
        self.finished_at: float | None = None

    @property
    def progress(self) -> float:
        return len(self.sent) / self.target

    def _done(self) -> bool:
        return len(self.sent) >= self.target

    async def run(self) -> list[Sent]:
        self._started = time.monotonic()
        await asyncio.gather(*(self._worker() for _ in range(self.workers)))
        self.finished_at = time.monotonic()
        return self.sent

    async def wait_for(self, fraction: float) -> None:
        """Return once that fraction of the commands has been sent (faults start mid-load)."""
        while self.progress < fraction and self.finished_at is None:  # noqa: ASYNC110
            await asyncio.sleep(0.05)

    async def _send(self, command: Sent) -> Sent:
        if self.per_second is not None:  # pacing the load generator itself, not a wait on it
            due = self._started + len(self.sent) / self.per_second
            await asyncio.sleep(max(0.0, due - time.monotonic()))
        self.sent.append(command)
        await self.api.send(command)
        if command.outcome is Outcome.IN_DOUBT or (command.status or 0) >= 500:
            await asyncio.sleep(0.1)  # the service is in trouble: don't spin on it
        if len(self.sent) % PROBE_EVERY == 0 and not self._done():
            await self._probe()
        return command

    async def _probe(self) -> None:
        clinic = self._random.choice(CLINICS)
        choice = self._random.randrange(3)
        if choice == 0:
            probe = commands.close_unknown(clinic)
        elif choice == 1:
            probe = commands.measure(clinic, "client-0", items=[9, 9, 9])
        elif self._closed:
            closed_clinic, session_id = self._random.choice(self._closed)
            probe = commands.close(closed_clinic, session_id)
            probe.kind = "close-session-again"
        else:
            return
        self.sent.append(probe)
        await self.api.send(probe)

    async def _worker(self) -> None:
        while not self._done():
            if self._completions and self._completions[0][0] <= time.monotonic():
                await self._complete(*heapq.heappop(self._completions)[2:])
            else:
                await self._unit()

    async def _unit(self) -> None:
        unit = next(self._units)
        clinic = CLINICS[unit % len(CLINICS)]
        client = f"client-{unit // len(CLINICS) % CLIENTS_PER_CLINIC}"
        session_id = uuid4()
        scheduled = await self._send(commands.schedule(clinic, session_id, client))
        refused = scheduled.outcome is Outcome.REJECTED
        if refused or self._done():  # in doubt: closing it shows whether it was applied
            return
        closed = await self._send(commands.close(clinic, session_id))
        if closed.outcome is not Outcome.REJECTED:
            self._closed.append((clinic, session_id))
            self._later(clinic, session_id, attempts=0)
        if not self._done():
            await self._send(commands.measure(clinic, client))

    async def _complete(self, clinic: str, session_id: UUID, attempts: int) -> None:
        command = await self._send(commands.complete(clinic, session_id))
        # Not derived yet (404), or the service was away: try again shortly.
        retry = command.status == 404 or (command.status or 0) >= 500
        if retry and attempts + 1 < COMPLETE_ATTEMPTS:
            # Backing off (1, 2, 4, 8, 8 ... s) keeps retries from crowding out new units.
            self._later(clinic, session_id, attempts + 1, delay=min(2.0**attempts, 8.0))

    def _later(self, clinic: str, session_id: UUID, attempts: int, delay: float = 0.0) -> None:
        moment = time.monotonic() + COMPLETE_AFTER_SECONDS + delay
        heapq.heappush(
            self._completions, (moment, next(self._tiebreak), clinic, session_id, attempts)
        )
