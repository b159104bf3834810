"""The published event catalog: one JSON Schema per event contract, generated from the pydantic
models and checked in under docs/events/ (a test fails when the two drift apart).

    python -m rapport_shared.contracts.catalog docs/events
"""

import json
import sys
from pathlib import Path
from typing import Any

from rapport_shared.contracts import ALL_CONTRACTS
from rapport_shared.contracts.base import EventContract


def event_schema(contract: type[EventContract]) -> dict[str, Any]:
    schema = contract.model_json_schema(mode="serialization")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"https://rapport.dev/events/{contract.cloudevent_type()}.json",
        "x-cloudevents-type": contract.cloudevent_type(),
        "x-nats-subject": f"rapport.{{clinic_id}}.{contract.service}.{contract.event_type}",
        "x-schema-version": contract.schema_version,
        **schema,
        "description": (contract.__doc__ or "").strip() or schema.get("description", ""),
    }


def catalog() -> dict[str, str]:
    """File name -> JSON text, for every public contract."""
    return {
        f"{contract.cloudevent_type()}.json": json.dumps(event_schema(contract), indent=2) + "\n"
        for contract in ALL_CONTRACTS
        if contract.public
    }


def write_catalog(directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("rapport.*.json"):
        stale.unlink()
    for name, text in catalog().items():
        (directory / name).write_text(text)


if __name__ == "__main__":
    write_catalog(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/events"))
