"""Every field of every request body of the three services is of a strict type: a number, a
boolean, a date or a time that pydantic's lax mode would convert from something else (12345 into
a time in 1970, "2" into a weight, true into an item score) fails this test, including fields a
later change adds. The behaviour itself is tested per service (test_strict_bodies.py)."""

import types
from datetime import date, datetime, time
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import pytest
from fastapi.routing import APIRoute
from fuzz_support import build
from pydantic import BaseModel, BeforeValidator, Strict

# Scalars pydantic converts in lax mode, and what makes each strict here.
_NUMBERS = (bool, int, float)
_TEXT_ONLY = (date, datetime, time)


def _strict(metadata: list[Any]) -> bool:
    return any(isinstance(m, Strict) and m.strict for m in metadata)


def _text_only(metadata: list[Any]) -> bool:
    # rapport_shared.web.request_models' before-validators letting only ISO text through.
    return any(
        isinstance(m, BeforeValidator) and m.func.__qualname__.startswith("_text_shaped")
        for m in metadata
    )


def lax_fields(annotation: Any, where: str, metadata: list[Any], seen: set[type]) -> list[str]:
    """The paths of the fields under `annotation` that lax mode would convert into."""
    origin = get_origin(annotation)
    if origin is Annotated:
        base, *more = get_args(annotation)
        return lax_fields(base, where, [*metadata, *more], seen)
    if origin is Literal:
        return []
    if origin in (Union, types.UnionType):
        return [
            found
            for arg in get_args(annotation)
            if arg is not type(None)
            for found in lax_fields(arg, where, metadata, seen)
        ]
    if origin is not None:  # list, tuple, dict: their items (and keys)
        return [
            found
            for arg in get_args(annotation)
            if arg is not Ellipsis
            for found in lax_fields(arg, f"{where}[]", [], seen)
        ]
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        if annotation in seen:
            return []
        seen.add(annotation)
        return [
            found
            for name, field in annotation.model_fields.items()
            for found in lax_fields(field.annotation, f"{where}.{name}", field.metadata, seen)
        ]
    if annotation in _NUMBERS and not _strict(metadata):
        return [where]
    if annotation in _TEXT_ONLY and not _text_only(metadata):
        return [where]
    return []


def api_routes(routes: list[Any]) -> list[APIRoute]:
    """The routes of an app, those of included routers too (FastAPI keeps them nested)."""
    found: list[APIRoute] = []
    for route in routes:
        if isinstance(route, APIRoute):
            found.append(route)
        included = getattr(route, "original_router", None)
        if included is not None:
            found += api_routes(included.routes)
    return found


def body_models(service: str, tmp_path: Any) -> dict[str, Any]:
    app = build(service, tmp_path, "nats://127.0.0.1:1")  # nothing is started
    return {
        f"{sorted(route.methods)[0]} {route.path}": route.body_field.field_info.annotation
        for route in api_routes(app.routes)
        if route.body_field is not None
    }


@pytest.mark.parametrize("service", ["sessions", "goals", "notifications"])
def test_every_request_body_field_is_strict(service, tmp_path):
    models = body_models(service, tmp_path)
    assert models, "no request bodies found: the walk is broken"
    lax = [
        found for route, model in models.items() for found in lax_fields(model, route, [], set())
    ]
    assert not lax, f"fields pydantic would convert into: {lax}"


def test_the_walk_finds_lax_fields():
    class Loose(BaseModel):
        count: int
        weight: float | None = None
        when: datetime
        nested: list[dict[str, tuple[int, ...]]] = []

    assert lax_fields(Loose, "Loose", [], set()) == [
        "Loose.count",
        "Loose.weight",
        "Loose.when",
        "Loose.nested[][][]",
    ]
