"""The base of every event contract and the registry that loads stored or received events.

A contract is a pydantic model with a name, an owning service and a schema version. The registry
maps (name, version) to the model and upcasts older stored versions before validating, so the rest
of the code only ever sees the latest shape.
"""

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Annotated, Any, ClassVar

import pydantic
from pydantic import BaseModel, ConfigDict, StringConstraints

from rapport_shared.contracts.clinic import ClinicId

# Ids of people (clients, counselors) come from the organisation's own systems: opaque, short,
# and safe to put in a URL path.
PersonId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]
ShortText = Annotated[str, StringConstraints(min_length=1, max_length=2000, strip_whitespace=True)]
# rapport_shared.eventsourcing.crypto's two ciphertext forms: sealed for the bus (suite key),
# encrypted at rest (a client's key). URL-safe base64 of nonce + ciphertext + tag.
SEALED_PATTERN = r"^seal:v1:[A-Za-z0-9_-]+={0,2}$"
ENCRYPTED_PATTERN = r"^enc:v1:[A-Za-z0-9_-]+={0,2}$"


# pydantic's own check, in its Rust core: a Python validator per timestamp was a quarter of
# decoding a stored event (rebuilds, consumers). Its error type is "timezone_aware"; the HTTP
# layer words it as TIMEZONE_REQUIRED (rapport_shared.web.http).
# (As metadata of datetime, so that a field's annotation stays datetime for introspection.)
AwareDatetime = Annotated[datetime, pydantic.AwareDatetime]
TIMEZONE_REQUIRED = "must include a time zone offset, e.g. 2026-11-22T09:00:00Z"
Upcaster = Callable[[dict[str, Any]], dict[str, Any]]


class EventContract(BaseModel):
    # Tolerant reader: a field added in a compatible (same-version) change must not break older
    # consumers, so unknown fields are ignored rather than refused.
    model_config = ConfigDict(frozen=True, extra="ignore")

    event_type: ClassVar[str]
    service: ClassVar[str]
    schema_version: ClassVar[int] = 1
    # Private events stay in their service's store and never reach the bus.
    public: ClassVar[bool] = True
    # Upcasters from older versions of this contract, by the version they read.
    upcasters: ClassVar[dict[int, Upcaster]] = {}
    # Fields published on the bus but not kept in the producer's own event log.
    transport_only: ClassVar[frozenset[str]] = frozenset()
    # Free-text fields (str, or dict/tuple of str) that a service's own log keeps encrypted
    # under the client's key (rapport_shared.eventsourcing.crypto.KeyRing); only private events have
    # them.
    encrypted_fields: ClassVar[tuple[str, ...]] = ()

    clinic_id: ClinicId

    @classmethod
    def cloudevent_type(cls) -> str:
        return cloudevent_type(cls.service, cls.event_type, cls.schema_version)


def cloudevent_type(service: str, event_type: str, schema_version: int) -> str:
    return f"rapport.{service}.{event_type}.v{schema_version}"


def words_dropped(data: dict[str, Any]) -> dict[str, Any]:
    """The upcaster of a version that only removed free-text fields: the tolerant reader
    (extra="ignore") drops them, so the data itself needs no change."""
    return data


class UnknownEventType(LookupError):
    """The registry has no contract for this event name or version: a permanent failure."""


class EventRegistry:
    def __init__(self, contracts: Iterable[type[EventContract]] = ()) -> None:
        self._contracts: dict[str, type[EventContract]] = {}
        self._upcasters: dict[tuple[str, int], Upcaster] = {}
        for contract in contracts:
            self.register(contract)

    def register(self, contract: type[EventContract]) -> None:
        self._contracts[contract.event_type] = contract
        for from_version, upcast in contract.upcasters.items():
            self.register_upcaster(contract.event_type, from_version, upcast)

    def register_upcaster(self, event_type: str, from_version: int, upcast: Upcaster) -> None:
        """upcast turns the data of version from_version into version from_version + 1."""
        self._upcasters[(event_type, from_version)] = upcast

    def contract_for(self, event_type: str) -> type[EventContract]:
        try:
            return self._contracts[event_type]
        except KeyError:
            raise UnknownEventType(f"no contract for event type {event_type!r}") from None

    def contracts(self) -> list[type[EventContract]]:
        return list(self._contracts.values())

    def load(self, event_type: str, schema_version: int, data: dict[str, Any]) -> EventContract:
        contract = self.contract_for(event_type)
        if schema_version > contract.schema_version:
            raise UnknownEventType(
                f"{event_type} v{schema_version} is newer than the known v{contract.schema_version}"
            )
        for version in range(schema_version, contract.schema_version):
            upcast = self._upcasters.get((event_type, version))
            if upcast is None:
                raise UnknownEventType(f"no upcaster for {event_type} v{version}")
            data = upcast(data)
        return contract.model_validate(data)
