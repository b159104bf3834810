"""Events on the bus carry ids, codes, dates and scores, never free text or names (issue 4).

Walks every published contract, through nested models, tuples, dicts and optionals, and fails on
any free-text string (a str with no pattern and no fixed set of values) and on any field named
like a note body, a journal, a summary, a name, an email, a phone number, an address,
instructions or a description. session-closed's sealed wording passes: it is ciphertext under the
suite key (its pattern says so), not text.
"""

import types
import typing
from datetime import UTC, date, datetime
from enum import Enum
from typing import Annotated, Any, ClassVar, Literal, Union
from uuid import UUID, uuid4

import pytest
from pydantic import BaseModel, ValidationError

from rapport_shared.contracts import ALL_CONTRACTS
from rapport_shared.contracts.base import SEALED_PATTERN, EventContract, PersonId
from rapport_shared.contracts.plan import AgreedGoal
from rapport_shared.contracts.sessions import SessionClosed

FORBIDDEN_NAMES = frozenset(
    {
        "note",
        "notes",
        "body",
        "journal",
        "summary",
        "name",
        "email",
        "phone",
        "address",
        "instructions",
        "description",
    }
)
_CLEAR = (bool, int, float, date, datetime, UUID, type(None))


def forbidden_fields(model: type[BaseModel], path: str | None = None) -> list[str]:
    """The dotted paths of every field of model that could carry free text or a name."""
    found = []
    for name, field in model.model_fields.items():
        where = f"{path or model.__name__}.{name}"
        if FORBIDDEN_NAMES & set(name.lower().split("_")):
            found.append(f"{where} (named like free text)")
        found += _free_text(field.annotation, list(field.metadata), where)
    return found


def _free_text(annotation: Any, metadata: list[Any], where: str) -> list[str]:
    origin = typing.get_origin(annotation)
    if origin is Annotated:
        inner, *more = typing.get_args(annotation)
        return _free_text(inner, metadata + more, where)
    if annotation is str:
        patterned = any(getattr(item, "pattern", None) for item in metadata)
        return [] if patterned else [f"{where} (free-text str)"]
    if origin is Literal or (isinstance(annotation, type) and issubclass(annotation, Enum)):
        return []
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return forbidden_fields(annotation, where)
    if origin in (Union, types.UnionType, tuple, list, dict, frozenset, set):
        return [
            problem
            for arg in typing.get_args(annotation)
            if arg is not Ellipsis
            for problem in _free_text(arg, [], f"{where}[]")
        ]
    if annotation in _CLEAR:
        return []
    return [f"{where} (unknown type {annotation!r}: judge it and teach this test)"]


def _id(contract: type[EventContract]) -> str:
    return contract.event_type


@pytest.mark.parametrize("contract", ALL_CONTRACTS, ids=_id)
def test_a_published_contract_carries_no_free_text_or_names(
    contract: type[EventContract],
) -> None:
    assert contract.public
    assert forbidden_fields(contract) == []


def test_the_only_sealed_field_is_session_closeds_plan_wording() -> None:
    sealed = [
        f"{contract.__name__}.{name}"
        for contract in ALL_CONTRACTS
        for name, field in contract.model_fields.items()
        if any(getattr(m, "pattern", None) == SEALED_PATTERN for m in _metadata(field.annotation))
    ]
    assert sealed == ["SessionClosed.sealed_wording"]


def _metadata(annotation: Any) -> list[Any]:
    if typing.get_origin(annotation) is Annotated:
        return list(typing.get_args(annotation)[1:])
    return [m for arg in typing.get_args(annotation) for m in _metadata(arg)]


# --- the walk itself finds what it must ----------------------------------------------------


class _Nested(BaseModel):
    due: date
    label: str


class _Leaky(EventContract):
    event_type: ClassVar[str] = "leaky"
    service: ClassVar[str] = "test"

    client_id: PersonId
    items: tuple[_Nested, ...] = ()
    by_code: dict[str, _Nested] = {}
    display_name: Annotated[str, "not a constraint"] = ""
    summary_code: Literal["a", "b"] = "a"
    maybe: str | None = None


def test_the_walk_finds_free_text_and_names_however_deeply_nested() -> None:
    assert forbidden_fields(_Leaky) == [
        "_Leaky.items[].label (free-text str)",
        "_Leaky.by_code[] (free-text str)",
        "_Leaky.by_code[].label (free-text str)",
        "_Leaky.display_name (named like free text)",
        "_Leaky.display_name (free-text str)",
        "_Leaky.summary_code (named like free text)",
        "_Leaky.maybe[] (free-text str)",
    ]


def test_a_worded_plan_cannot_be_slipped_into_session_closed() -> None:
    worded = AgreedGoal(
        description="Sleep by 23:00", measure="m", target="t", due_date=date.today()
    )
    with pytest.raises(ValidationError):
        SessionClosed(
            clinic_id="northside",
            session_id=uuid4(),
            client_id="ana",
            counselor_id="kim",
            closed_at=datetime.now(UTC),
            goals=(worded,),
        )
