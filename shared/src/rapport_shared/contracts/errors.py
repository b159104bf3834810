"""Domain errors: pure, raised by aggregates; the HTTP layer turns them into problem+json.

Each kind of error names its RFC 9457 problem type: an absolute URI under PROBLEM_TYPES (the
spec warns that relative ones are resolved differently by different clients), stable once
published and listed in docs/api.md. A subclass that is a new kind of refusal says so with its
own problem_type; one that only narrows a kind (a plan rule is a rule) keeps its parent's.
"""

PROBLEM_TYPES = "https://rapport.dev/problems/"


class DomainError(Exception):
    """A command broke a rule. status is the HTTP status it maps to; field names the input."""

    status = 422
    title = "Rule violated"
    problem_type = PROBLEM_TYPES + "rule-violated"

    def __init__(self, detail: str, field: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.field = field


class NotFound(DomainError):
    status = 404
    title = "Not found"
    problem_type = PROBLEM_TYPES + "not-found"


class InvalidState(DomainError):
    """The command does not fit the aggregate's current state (e.g. closing a closed session)."""

    status = 409
    title = "Conflict with current state"
    problem_type = PROBLEM_TYPES + "invalid-state"
