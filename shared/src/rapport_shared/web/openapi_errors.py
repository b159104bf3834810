"""What every operation's OpenAPI entry says about errors, so clients (and the schemathesis fuzz
run) can hold the services to it: every 4xx and 5xx is problem+json, and commands take an
optional Idempotency-Key header.

FastAPI documents 422 as its own {"detail": [...]} shape, which the services never send; that
entry is replaced, not added to.
"""

from typing import Any

from fastapi import FastAPI

from rapport_shared.web.idempotency.keys import COMMAND_METHODS, HEADER, KEY_PATTERN, MAX_KEY_LENGTH
from rapport_shared.web.problems import PLAIN_STATUS, PROBLEM, known_kinds

PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "RFC 9457 problem details; errors names each offending field",
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string", "format": "uri-reference"},
        "title": {"type": "string"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "detail": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["field", "message"],
                "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
            },
        },
    },
}

IDEMPOTENCY_PARAMETER: dict[str, Any] = {
    "name": HEADER,
    "in": "header",
    "required": False,
    "description": "Send the same key again to get the first response instead of a second write",
    "schema": {"type": "string", "pattern": KEY_PATTERN, "maxLength": MAX_KEY_LENGTH},
}


def _problem_response(description: str) -> dict[str, Any]:
    schema = {"$ref": "#/components/schemas/Problem"}
    return {"description": description, "content": {PROBLEM: {"schema": schema}}}


def problem_schema() -> dict[str, Any]:
    """PROBLEM_SCHEMA, its type naming every kind the service can answer with (docs/api.md)."""
    kinds = known_kinds()
    lines = [f"- {kind.uri}: {kind.title} ({kind.status})" for kind in kinds]
    lines.append(f"- {PLAIN_STATUS}: nothing beyond the HTTP status (unknown route, wrong method)")
    type_ = {
        **PROBLEM_SCHEMA["properties"]["type"],
        "description": "The kind of problem; tell kinds apart by it:\n" + "\n".join(lines),
        "examples": [kind.uri for kind in kinds] + [PLAIN_STATUS],
    }
    return {**PROBLEM_SCHEMA, "properties": {**PROBLEM_SCHEMA["properties"], "type": type_}}


def add_error_documentation(schema: dict[str, Any]) -> dict[str, Any]:
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components["Problem"] = problem_schema()
    for unused in ("HTTPValidationError", "ValidationError"):
        components.pop(unused, None)
    for path_item in schema.get("paths", {}).values():
        for method, operation in path_item.items():
            responses = operation.setdefault("responses", {})
            responses.pop("422", None)
            responses["4XX"] = _problem_response("The request was refused; nothing changed")
            responses["5XX"] = _problem_response("The service failed; nothing changed")
            if method.upper() in COMMAND_METHODS:
                operation.setdefault("parameters", []).append(IDEMPOTENCY_PARAMETER)
    return schema


def document_errors(app: FastAPI) -> None:
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = add_error_documentation(generate())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
