"""One fault, start to finish: a fresh suite, the load with the fault beside it, convergence,
and the check of every command against the databases."""

import asyncio
import random
import time
from collections import Counter
from dataclasses import dataclass, field

from chaos.faults import Fault, Notes
from chaos.http import Api
from chaos.ledger import Verdict, answers, judge, missing_effects
from chaos.load import Load
from chaos.observe import Databases
from chaos.suite import Suite


@dataclass
class Result:
    fault: Fault
    commands: int
    verdict: Verdict
    converge_seconds: float | None  # None: not converged within the deadline
    load_seconds: float
    notes: Notes
    answers: str
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.verdict.ok and self.converge_seconds is not None and not self.problems


async def run_fault(
    fault: Fault,
    commands: int,
    *,
    seed: int = 6,
    deadline: float = 180.0,
    keep: bool = False,
    per_second: float | None = None,
) -> Result:
    suite = Suite(cluster=fault.cluster, goals_on_postgres=fault.goals_on_postgres)
    try:
        await asyncio.to_thread(suite.start)
    except BaseException:
        await asyncio.to_thread(suite.stop, keep)  # what did start must not outlive the run
        raise
    api = Api(suite.urls)
    databases = Databases(suite.database_urls)
    try:
        load = Load(api, commands, seed=seed, per_second=per_second)
        started = time.monotonic()
        sent, notes = await asyncio.gather(
            load.run(), fault.inject(suite, load, random.Random(seed))
        )
        assert load.finished_at is not None
        converged = await converge(api, databases, load, notes, deadline)
        seconds = None if converged is None else converged - load.finished_at
        verdict = judge(sent, await databases.effects())
        problems = [f"failed: {what}" for what, held in notes.checks if not held]
        problems += await _dead_letter_problems(databases, notes)
        return Result(
            fault,
            len(sent),
            verdict,
            seconds,
            load.finished_at - started,
            notes,
            answers(sent),
            problems,
        )
    finally:
        await api.close()
        await databases.dispose()
        await asyncio.to_thread(suite.stop, keep)


async def converge(
    api: Api, databases: Databases, load: Load, notes: Notes, deadline: float
) -> float | None:
    """Poll until every accepted command's effects are everywhere, every outbox is empty, every
    consumer has caught up and the expected dead letters are in; the moment, or None."""
    give_up = time.monotonic() + deadline
    while time.monotonic() < give_up:
        try:
            done = (
                missing_effects(load.sent, await databases.effects()) == 0
                and await databases.outbox_backlog() == 0
                and len(await databases.dead_letters()) >= len(notes.dead_letters)
                and await _consumers_caught_up(api)
            )
        except Exception:  # noqa: BLE001 - a database restarting: poll again
            done = False
        if done:
            return time.monotonic()
        await asyncio.sleep(0.5)
    return None


async def _consumers_caught_up(api: Api) -> bool:
    for service in api.urls:
        status = await api.get(service, "/admin/status")
        if any(consumer["lag"] for consumer in status["consumers"]):
            return False
    return True


async def _dead_letter_problems(databases: Databases, notes: Notes) -> list[str]:
    """Each expected dead letter once, with its reason, at the consumer that read it; none else
    (every real event was processed)."""
    found = await databases.dead_letters()
    if found:
        at = Counter(f"{d.service}/{d.consumer}" for d in found)
        notes.add(f"dead letters: {', '.join(f'{c} x{n}' for c, n in sorted(at.items()))}")
        reasons = {d.error.split(":")[0][:70] for d in found}
        notes.add(f"their reasons: {'; '.join(sorted(reasons)[:4])}")
    unexpected = list(found)
    problems = []
    for service, consumer, payload in notes.dead_letters:
        match = [
            d
            for d in unexpected
            if (d.service, d.consumer, d.payload) == (service, consumer, payload)
        ]
        if len(match) != 1 or not match[0].error:
            problems.append(f"{service}/{consumer}: injected message dead-lettered {len(match)}x")
        for letter in match:
            unexpected.remove(letter)
    problems += [
        f"unexpected dead letter {d.service}/{d.consumer}: {d.error[:120]}" for d in unexpected[:5]
    ]
    return problems
