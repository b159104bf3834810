"""What every command sent should have left behind, and the verdict against what was found.

Pure code: no I/O. A command names its *effects*: an event in a service's store (counted by
type and stream), a row in a projection (present or not), or a counter in a projection (its
value). An accepted command expects each of its effects once more; a rejected one expects
nothing; one whose answer never arrived (the connection broke mid-request) is *in doubt* and is
judged by its own service's event store: committed there, it must be everywhere downstream too.
"""

import enum
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

# (service, what, key): ("goals", "event:homework-completed", "homework-<id>"),
# ("sessions", "row:notes_homework.completed", "<id>"), ("goals", "counter:homework_completed",
# "<goal id>").
Effect = tuple[str, str, str]


class Outcome(enum.Enum):
    ACCEPTED = "accepted"  # a 2xx answer
    REJECTED = "rejected"  # an error answer (4xx/5xx)
    IN_DOUBT = "in doubt"  # no answer: the request may or may not have been applied


@dataclass
class Command:
    kind: str
    effects: list[Effect]  # the first is the command's own event in its own service's store
    outcome: Outcome | None = None
    status: int | None = None
    error: str | None = None  # why no answer came (in doubt), e.g. "ReadTimeout"

    @property
    def own_event(self) -> Effect:
        return self.effects[0]


@dataclass
class Verdict:
    accepted: int = 0
    rejected: int = 0
    in_doubt: int = 0
    in_doubt_committed: int = 0
    lost: int = 0  # accepted (or committed in doubt), but an effect is missing
    duplicated: int = 0  # an effect is there more often than the commands allow
    leaked: int = 0  # rejected, yet an effect of it is there
    examples: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.lost or self.duplicated or self.leaked)


def judge(commands: Iterable[Command], found: Mapping[Effect, int]) -> Verdict:
    """Compare the commands' expected effects with what was found (effect -> count or value)."""
    commands = [c for c in commands if c.outcome is not None]
    verdict = Verdict()
    low: Counter[Effect] = Counter()
    high: Counter[Effect] = Counter()
    applied: list[Command] = []
    refused: list[Command] = []
    # Accepted first, so an in-doubt command is judged committed only by an event beyond theirs.
    order = {Outcome.ACCEPTED: 0, Outcome.REJECTED: 1, Outcome.IN_DOUBT: 2}
    for command in sorted(commands, key=lambda c: order[c.outcome]):  # type: ignore[index]
        if command.outcome is Outcome.ACCEPTED:
            verdict.accepted += 1
            committed = True
        elif command.outcome is Outcome.REJECTED:
            verdict.rejected += 1
            committed = False
        else:
            verdict.in_doubt += 1
            committed = found.get(command.own_event, 0) > low[command.own_event]
            verdict.in_doubt_committed += committed
        if committed:
            applied.append(command)
            for effect in command.effects:
                low[effect] += 1
                high[effect] += 1
        else:
            refused.append(command)
    for command in applied:
        missing = [e for e in command.effects if found.get(e, 0) < low[e]]
        extra = [e for e in command.effects if found.get(e, 0) > high[e]]
        if missing:
            verdict.lost += 1
            _example(verdict, f"lost {command.kind}: {missing[0]}")
        if extra:
            verdict.duplicated += 1
            _example(verdict, f"duplicated {command.kind}: {extra[0]} x{found[extra[0]]}")
    for command in refused:
        left = [e for e in command.effects if found.get(e, 0) > high[e]]
        if left:
            verdict.leaked += 1
            _example(verdict, f"{command.kind} answered {command.status} left {left[0]}")
    return verdict


def missing_effects(commands: Iterable[Command], found: Mapping[Effect, int]) -> int:
    """How many accepted commands still lack an effect: zero once the suite has converged."""
    wanted: Counter[Effect] = Counter()
    for command in commands:
        if command.outcome is Outcome.ACCEPTED:
            for effect in command.effects:
                wanted[effect] += 1
    return sum(1 for effect, count in wanted.items() if found.get(effect, 0) < count)


def _example(verdict: Verdict, text: str) -> None:
    if len(verdict.examples) < 5:
        verdict.examples.append(text)


def answers(commands: Iterable[Command]) -> str:
    """The error answers by status, and why answers were missing: '404 x20, ReadError x2'."""
    counts = Counter(
        str(c.status) if c.outcome is Outcome.REJECTED else str(c.error)
        for c in commands
        if c.outcome in (Outcome.REJECTED, Outcome.IN_DOUBT)
    )
    return ", ".join(f"{what} x{n}" for what, n in counts.most_common()) or "none"
