"""Who may do what: one pure function of the caller, the kind of action and its target.

The rules (docs/security.md has the full matrix):
- a token reaches only its own clinic; anything of another clinic is NOT_FOUND, exactly like
  something that does not exist, so existence never leaks;
- a client reaches only their own record (another client's is NOT_FOUND) and there only the
  client-facing reads and writes;
- counselors read their clinic's clients; writing to a client's clinical record needs the
  counselor to be on that client's care team, and nobody but a clinic admin acts in another
  person's name;
- auditors read everything in their clinic, the audit log included, and write nothing;
- clinic admins do everything in their clinic; operators (clinic '*') reach no clinical data.
"""

import enum
from dataclasses import dataclass

from rapport_shared.security.auth import Principal


class Action(enum.StrEnum):
    # Clinical reads for staff only: notes, the prep brief, the record as of a time, sessions.
    READ = "read"
    # Reads a client may also do on their own record: goals, homework, measures, progress,
    # reminders.
    CLIENT_READ = "client-read"
    # Writes to a client's clinical record: sessions, notes, goals, homework assignment.
    WRITE = "write"
    # Writes a client may also make on their own record: completing homework, recording a
    # self-report measure, their own contact address.
    CLIENT_WRITE = "client-write"
    # The clinic admin's own acts on a client: assigning the care team (and erasing a client).
    ADMINISTER = "administer"
    READ_AUDIT = "read-audit"


class Decision(enum.Enum):
    ALLOW = "allow"
    FORBIDDEN = "forbidden"  # 403: the caller may know the target exists, but may not do this
    NOT_FOUND = "not-found"  # 404: the caller may not even know whether the target exists


@dataclass(frozen=True)
class Target:
    clinic_id: str
    # The client whose record the action touches; None for clinic-wide actions (the audit log).
    client_id: str | None = None
    # The counselors assigned to that client.
    care_team: frozenset[str] = frozenset()
    # The people the request body names as its author (counselor_id, signed_by, ...).
    acting_as: frozenset[str] = frozenset()


_READS = frozenset({Action.READ, Action.CLIENT_READ})
_CLIENT_ACTIONS = frozenset({Action.CLIENT_READ, Action.CLIENT_WRITE})
_WRITES = frozenset({Action.WRITE, Action.CLIENT_WRITE})


def decide(principal: Principal, action: Action, target: Target) -> Decision:
    if principal.role == "operator" or principal.clinic != target.clinic_id:
        return Decision.NOT_FOUND
    if principal.role == "clinic-admin":
        return Decision.ALLOW
    if principal.role == "client":
        return _client(principal, action, target)
    if principal.role == "auditor":
        allowed = action in _READS or action is Action.READ_AUDIT
        return Decision.ALLOW if allowed else Decision.FORBIDDEN
    return _counselor(principal, action, target)


def needs_care_team(principal: Principal, action: Action) -> bool:
    """Whether decide() can depend on the target's care team: only for a counselor's write. The
    authorization dependency looks the team up only then (a query per request otherwise)."""
    return principal.role == "counselor" and action in _WRITES


def _client(principal: Principal, action: Action, target: Target) -> Decision:
    if target.client_id is None:
        return Decision.FORBIDDEN
    if target.client_id != principal.sub:
        return Decision.NOT_FOUND
    return Decision.ALLOW if action in _CLIENT_ACTIONS else Decision.FORBIDDEN


def _counselor(principal: Principal, action: Action, target: Target) -> Decision:
    if action in _READS:
        return Decision.ALLOW
    if action not in _WRITES or target.acting_as - {principal.sub}:
        return Decision.FORBIDDEN
    own = target.client_id == principal.sub and action is Action.CLIENT_WRITE
    if own or principal.sub in target.care_team:
        return Decision.ALLOW
    return Decision.FORBIDDEN
