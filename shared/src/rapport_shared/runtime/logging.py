"""structlog: JSON when not on a terminal, console otherwise; every line carries the service and,
inside a request or an event, the correlation id (bound by rapport_shared.telemetry.context);
secrets and clinical free text are redacted (rapport_shared.security.redaction).

Libraries log through the standard library (uvicorn, Alembic, nats-py, SQLAlchemy, asyncio). Their
records go through the same processors, redaction and renderer (a stdlib handler with structlog's
ProcessorFormatter on the root logger), at the same level, so no line escapes as plain text, nor
unredacted, and their INFO lines are kept like the service's own."""

import logging
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

from rapport_shared.security.redaction import redact

# The libraries whose loggers may have been given handlers of their own (uvicorn does so when
# run with its default log config, as a server in a test or an embedder may be): those go, and
# their records propagate to the root's handler like every other library's.
_LIBRARIES = ("uvicorn", "uvicorn.error", "uvicorn.access", "alembic", "nats", "sqlalchemy")
# At INFO SQLAlchemy logs every statement and its parameters (clinical data among them), however
# the engine was made: its loggers stay at WARNING whatever the level setting.
_QUIETER = {"sqlalchemy": logging.WARNING}


class _CurrentStderr:
    """Whatever sys.stderr is when a line is written, not when logging was configured (a
    redirected or test-captured stream may have been replaced, or closed, since)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


class _LibraryLines(logging.StreamHandler):  # type: ignore[type-arg]
    """The root logger's handler for library records; one per process (configuring again, as
    each service runtime started in a test process does, replaces it)."""


def configure_logging(service: str, log_format: str = "auto", level: str = "info") -> None:
    as_json = log_format == "json" or (log_format == "auto" and not sys.stderr.isatty())
    threshold = logging.getLevelNamesMapping().get(level.upper(), logging.INFO)

    def add_service(
        _logger: Any, _name: str, event_dict: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        event_dict.setdefault("service", service)
        return event_dict

    renderer: Any = (
        structlog.processors.JSONRenderer() if as_json else structlog.dev.ConsoleRenderer()
    )
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        add_service,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[*shared, structlog.processors.format_exc_info, redact, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(threshold),
        logger_factory=structlog.PrintLoggerFactory(_CurrentStderr()),  # type: ignore[arg-type]
        cache_logger_on_first_use=False,
    )
    _route_library_records(shared, renderer, threshold)


def _route_library_records(shared: list[Any], renderer: Any, threshold: int) -> None:
    handler = _LibraryLines(_CurrentStderr())
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                redact,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _LibraryLines)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(threshold)
    for name in _LIBRARIES:
        library = logging.getLogger(name)
        for own in list(library.handlers):
            library.removeHandler(own)
        library.propagate = True
        library.setLevel(logging.NOTSET)  # the root's, i.e. the setting
    for name, quietest in _QUIETER.items():
        logging.getLogger(name).setLevel(max(threshold, quietest))
