"""The authorization policy, a pure function: every role against every action, on the caller's
own clinic and another, on an assigned client, an unassigned one and (for clients) their own
record and someone else's."""

import pytest

from rapport_shared.security.auth import Principal
from rapport_shared.security.policy import Action, Decision, Target, decide, needs_care_team

ALLOW, FORBIDDEN, NOT_FOUND = Decision.ALLOW, Decision.FORBIDDEN, Decision.NOT_FOUND
CLINIC = "northside"
ALICE = Target(CLINIC, "alice", care_team=frozenset({"kim"}))
BOB = Target(CLINIC, "bob", care_team=frozenset({"lee"}))
CLINIC_WIDE = Target(CLINIC)

ADMIN = Principal("ann", CLINIC, "clinic-admin")
KIM = Principal("kim", CLINIC, "counselor")
ALICE_HERSELF = Principal("alice", CLINIC, "client")
AUDITOR = Principal("ada", CLINIC, "auditor")
OPERATOR = Principal("olu", "*", "operator")

# (principal, action, target, decision): written out, so a change to the rules shows up here.
CASES = [
    # Clinic admins: everything in their clinic.
    *[(ADMIN, action, target, ALLOW) for action in Action for target in (ALICE, BOB)],
    (ADMIN, Action.READ_AUDIT, CLINIC_WIDE, ALLOW),
    # Counselors: read every client of the clinic, write only for assigned clients.
    (KIM, Action.READ, ALICE, ALLOW),
    (KIM, Action.READ, BOB, ALLOW),
    (KIM, Action.CLIENT_READ, BOB, ALLOW),
    (KIM, Action.WRITE, ALICE, ALLOW),
    (KIM, Action.WRITE, BOB, FORBIDDEN),
    (KIM, Action.CLIENT_WRITE, ALICE, ALLOW),
    (KIM, Action.CLIENT_WRITE, BOB, FORBIDDEN),
    (KIM, Action.ADMINISTER, ALICE, FORBIDDEN),
    (KIM, Action.READ_AUDIT, CLINIC_WIDE, FORBIDDEN),
    # ...their own contact address and reminders are theirs, though no client's record.
    (KIM, Action.CLIENT_WRITE, Target(CLINIC, "kim"), ALLOW),
    (KIM, Action.WRITE, Target(CLINIC, "kim"), FORBIDDEN),
    # Clients: their own client-facing reads and writes; nothing of anyone else's exists.
    (ALICE_HERSELF, Action.CLIENT_READ, ALICE, ALLOW),
    (ALICE_HERSELF, Action.CLIENT_WRITE, ALICE, ALLOW),
    (ALICE_HERSELF, Action.READ, ALICE, FORBIDDEN),
    (ALICE_HERSELF, Action.WRITE, ALICE, FORBIDDEN),
    (ALICE_HERSELF, Action.ADMINISTER, ALICE, FORBIDDEN),
    *[(ALICE_HERSELF, action, BOB, NOT_FOUND) for action in Action],
    (ALICE_HERSELF, Action.READ_AUDIT, CLINIC_WIDE, FORBIDDEN),
    # Auditors: read everything, the audit log included; write nothing.
    (AUDITOR, Action.READ, BOB, ALLOW),
    (AUDITOR, Action.CLIENT_READ, BOB, ALLOW),
    (AUDITOR, Action.READ_AUDIT, CLINIC_WIDE, ALLOW),
    (AUDITOR, Action.WRITE, ALICE, FORBIDDEN),
    (AUDITOR, Action.CLIENT_WRITE, ALICE, FORBIDDEN),
    (AUDITOR, Action.ADMINISTER, ALICE, FORBIDDEN),
    # Operators run the deployment and see no clinical data at all.
    *[(OPERATOR, action, ALICE, NOT_FOUND) for action in Action],
    (OPERATOR, Action.READ_AUDIT, CLINIC_WIDE, NOT_FOUND),
    # Another clinic: whatever the role, it is as if nothing were there.
    *[
        (Principal(p.sub, "riverside", p.role), action, target, NOT_FOUND)
        for p in (ADMIN, KIM, AUDITOR)
        for action in Action
        for target in (ALICE, CLINIC_WIDE)
    ],
    (Principal("alice", "riverside", "client"), Action.CLIENT_READ, ALICE, NOT_FOUND),
]


@pytest.mark.parametrize(("principal", "action", "target", "decision"), CASES)
def test_decision(principal: Principal, action: Action, target: Target, decision: Decision):
    assert decide(principal, action, target) is decision


@pytest.mark.parametrize("action", [Action.WRITE, Action.CLIENT_WRITE])
def test_only_a_clinic_admin_acts_in_someone_elses_name(action: Action) -> None:
    as_lee = Target(
        CLINIC, "alice", care_team=frozenset({"kim", "lee"}), acting_as=frozenset({"lee"})
    )
    as_self = Target(CLINIC, "alice", care_team=frozenset({"kim"}), acting_as=frozenset({"kim"}))
    assert decide(KIM, action, as_lee) is FORBIDDEN
    assert decide(KIM, action, as_self) is ALLOW
    assert decide(ADMIN, action, as_lee) is ALLOW


def test_a_client_naming_a_counselor_is_not_impersonating() -> None:
    # A self-report may say which counselor it is about (SRS rates the alliance with one).
    about_kim = Target(CLINIC, "alice", acting_as=frozenset({"kim"}))
    assert decide(ALICE_HERSELF, Action.CLIENT_WRITE, about_kim) is ALLOW


@pytest.mark.parametrize(("principal", "action", "target", "decision"), CASES)
def test_the_care_team_is_only_looked_up_when_the_decision_can_depend_on_it(
    principal: Principal, action: Action, target: Target, decision: Decision
) -> None:
    # The dependency skips the query when needs_care_team says no: the decision must then be
    # the same whoever is on the team, the caller included.
    if needs_care_team(principal, action):
        return
    for team in (frozenset(), frozenset({principal.sub}), frozenset({"kim", "lee"})):
        variant = Target(target.clinic_id, target.client_id, team, target.acting_as)
        assert decide(principal, action, variant) is decision


def test_a_counselors_writes_need_the_care_team() -> None:
    assert needs_care_team(KIM, Action.WRITE) and needs_care_team(KIM, Action.CLIENT_WRITE)
    assert not needs_care_team(KIM, Action.READ)
    assert not needs_care_team(ADMIN, Action.WRITE)
