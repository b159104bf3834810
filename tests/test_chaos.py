"""The small chaos run in `make test`: faults 1, 2, 4, 5a and 5b of `make chaos` (docs/CHAOS.md), a
few hundred commands each, every fault on its own fresh suite of processes. Each must end with
every accepted command's effects in every store and projection exactly once, nothing left by a
refused command, and the fault's own checks held (bad messages dead-lettered with a reason,
same-id copies dropped by JetStream, commands accepted while NATS was down)."""

import asyncio

import pytest

from chaos.faults import FAULTS
from chaos.ledger import Command, Outcome, judge, missing_effects
from chaos.report import table
from chaos.run import Result, run_fault

COMMANDS = 250
# Two lanes side by side: the kill run mostly waits (a killed consumer's messages in hand are
# redelivered only after the 30 s ack wait), the others run one after another beside it.
LANES = [("kill",), ("nats", "malformed", "same-id", "new-id")]
# Six kills, each followed by a restart of a few seconds, must all fall within the load: unpaced,
# a few hundred commands can be over before the second one.
PACE = {"kill": 10.0}


async def _lane(keys: tuple[str, ...]) -> list[Result]:
    by_key = {fault.key: fault for fault in FAULTS}
    return [
        await run_fault(by_key[key], COMMANDS, deadline=90, per_second=PACE.get(key))
        for key in keys
    ]


@pytest.mark.e2e
@pytest.mark.timeout(300)
async def test_no_command_is_lost_or_applied_twice_under_faults():
    results = [r for lane in await asyncio.gather(*map(_lane, LANES)) for r in lane]
    report = table(results)
    print(report)
    for result in results:
        verdict = result.verdict
        assert result.ok, report
        assert verdict.lost == verdict.duplicated == verdict.leaked == 0, report
        assert verdict.accepted >= COMMANDS * 0.6, report  # the load really ran
        assert verdict.rejected > 0, report  # refused commands were sent, and checked too
    by_key = {r.fault.key: r for r in results}
    assert by_key["malformed"].notes.dead_letters, "no bad message injected"
    kill = by_key["kill"].notes.text
    assert {line.split()[2] for line in kill if line.startswith("kill -9")} == {
        "sessions",
        "goals",
        "notifications",
    }, kill


# --- the check itself (pure): a harness that cannot see a loss proves nothing ----------------

EVENT = ("goals", "event:homework-completed", "homework-1")
ROW = ("sessions", "row:notes_homework.completed", "1")


def _command(outcome: Outcome) -> Command:
    return Command("complete-homework", [EVENT, ROW], outcome=outcome, status=200)


def test_the_check_sees_a_lost_effect_a_duplicate_and_a_leak():
    accepted = _command(Outcome.ACCEPTED)
    assert judge([accepted], {EVENT: 1, ROW: 1}).ok
    assert judge([accepted], {EVENT: 1}).lost == 1  # the projection never got it
    assert judge([accepted], {EVENT: 2, ROW: 1}).duplicated == 1  # stored twice
    leaked = judge([_command(Outcome.REJECTED)], {EVENT: 1})
    assert (leaked.leaked, leaked.ok) == (1, False)
    assert missing_effects([accepted], {EVENT: 1}) == 1
    assert missing_effects([accepted], {EVENT: 1, ROW: 1}) == 0


def test_a_command_in_doubt_is_judged_by_its_own_event_store():
    in_doubt = _command(Outcome.IN_DOUBT)
    nowhere = judge([in_doubt], {})
    assert (nowhere.ok, nowhere.in_doubt, nowhere.in_doubt_committed) == (True, 1, 0)
    committed = judge([in_doubt], {EVENT: 1})  # applied, but downstream never saw it
    assert (committed.in_doubt_committed, committed.lost) == (1, 1)
    # Beside an accepted command with the same effects, one copy is the accepted one's.
    both = judge([in_doubt, _command(Outcome.ACCEPTED)], {EVENT: 1, ROW: 1})
    assert (both.ok, both.in_doubt_committed) == (True, 0)
