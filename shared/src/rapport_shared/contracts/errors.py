"""Domain errors: pure, raised by aggregates; the HTTP layer turns them into problem+json."""


class DomainError(Exception):
    """A command broke a rule. status is the HTTP status it maps to; field names the input."""

    status = 422
    title = "Rule violated"

    def __init__(self, detail: str, field: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.field = field


class NotFound(DomainError):
    status = 404
    title = "Not found"


class InvalidState(DomainError):
    """The command does not fit the aggregate's current state (e.g. closing a closed session)."""

    status = 409
    title = "Conflict with current state"
