"""Erasure by crypto-shredding, across the services running as processes on SQLite files and a
real nats-server: after a clinic admin erases a client, no database file of any service (nor its
-wal or -shm) holds that client's notes, journal, plan or name, nor the key that encrypted them;
another client's words stay readable through the API while never being in the files in clear."""

import secrets
import sqlite3
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from rapport_shared.testing import ClinicAdminAuth, eventually

pytestmark = pytest.mark.e2e

CLINIC = "northside"
SERVICES = ("sessions", "goals", "notifications")


class Client:
    """One client's record, every word of it unique to this test run."""

    def __init__(self, client_id: str) -> None:
        tag = secrets.token_hex(6)
        self.client_id = client_id
        self.name = f"Name-{client_id}-{tag}"
        self.note = f"Note-{client_id}-{tag}: sleeps badly since the move"
        self.goal = f"Goal-{client_id}-{tag}: in bed by 23:00"
        self.instructions = f"Homework-{client_id}-{tag}: keep a sleep diary"
        self.journal = f"Journal-{client_id}-{tag}: slept six hours"
        self.session_id = ""
        self.homework_id = ""

    @property
    def words(self) -> list[str]:
        return [self.name, self.note, self.goal, self.instructions, self.journal]


def database_files(data_dir: Path) -> dict[str, bytes]:
    return {
        path.name: path.read_bytes()
        for service in SERVICES
        for path in data_dir.glob(f"{service}.db*")  # the database, its -wal and -shm
    }


def found_in(files: dict[str, bytes], needles: list[bytes]) -> list[str]:
    return [
        f"{needle!r} in {name}"
        for name, data in files.items()
        for needle in needles
        if needle in data
    ]


def client_key(database: Path, client_id: str) -> bytes | None:
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as conn:
        row = conn.execute(
            "SELECT key FROM client_keys WHERE clinic_id = ? AND client_id = ?",
            (CLINIC, client_id),
        ).fetchone()
    return None if row is None else row[0]


async def record(http: httpx.AsyncClient, s: str, g: str, client: Client) -> None:
    """A profile, a session with a note, closed with a plan, and the homework done with a
    journal entry: every kind of free text the two services keep about a client."""
    now = datetime.now(UTC)
    base = f"/clinics/{CLINIC}/clients/{client.client_id}"
    profile = await http.put(
        f"{s}{base}/profile", json={"display_name": client.name, "updated_by": "admin-1"}
    )
    assert profile.status_code == 200, profile.text
    created = await http.post(
        f"{s}/clinics/{CLINIC}/sessions",
        json={
            "client_id": client.client_id,
            "counselor_id": "dr-okafor",
            "starts_at": (now - timedelta(hours=1)).isoformat(),
        },
    )
    assert created.status_code == 201, created.text
    client.session_id = created.json()["session_id"]
    session = f"{s}/clinics/{CLINIC}/sessions/{client.session_id}"
    noted = await http.post(f"{session}/notes", json={"body": client.note})
    assert noted.status_code == 201, noted.text
    closed = await http.post(
        f"{session}/close",
        json={
            "goals": [
                {
                    "description": client.goal,
                    "measure": "nights",
                    "target": "5 a week",
                    "due_date": str(date.today() + timedelta(days=30)),
                }
            ],
            "homework": [
                {
                    "instructions": client.instructions,
                    "due_at": (now + timedelta(days=2)).isoformat(),
                    "goal_index": 0,
                }
            ],
        },
    )
    assert closed.status_code == 200, closed.text

    async def assigned() -> Any:
        r = await http.get(f"{g}{base}/homework")
        return r.json() if r.status_code == 200 and r.json() else None

    [homework] = await eventually(assigned, timeout=20)
    assert homework["instructions"] == client.instructions  # unsealed and decrypted
    client.homework_id = homework["homework_id"]
    done = await http.post(
        f"{g}/clinics/{CLINIC}/homework/{client.homework_id}/complete",
        json={"journal": client.journal},
    )
    assert done.status_code == 200, done.text


async def readable(http: httpx.AsyncClient, s: str, g: str, client: Client) -> list[str]:
    """Every word of the client's record, as the APIs show it."""
    base = f"/clinics/{CLINIC}/clients/{client.client_id}"
    profile = (await http.get(f"{s}{base}/profile")).json()
    session = (await http.get(f"{s}/clinics/{CLINIC}/sessions/{client.session_id}")).json()
    notes = (await http.get(f"{s}{base}/notes")).json()
    [homework] = (await http.get(f"{g}{base}/homework")).json()
    journal = (await http.get(f"{g}/clinics/{CLINIC}/homework/{client.homework_id}/journal")).json()
    return [
        profile["display_name"],
        session["note"]["body"],
        notes["sessions"][0]["goals"][0]["description"],
        homework["instructions"],
        journal[0]["journal"],
    ]


async def test_an_erased_clients_words_and_key_are_gone_from_every_database_file(
    running_suite, tmp_path
):
    s, g = (running_suite[k].url for k in ("sessions", "goals"))
    data_dir = tmp_path / "data"
    ana, ben = Client("client-ana"), Client("client-ben")
    async with httpx.AsyncClient(auth=ClinicAdminAuth(), timeout=10) as http:
        for client in (ana, ben):
            await record(http, s, g, client)
            assert await readable(http, s, g, client) == client.words
        # Encrypted at rest: not one word of either client is in any file in clear.
        assert found_in(database_files(data_dir), [w.encode() for w in ana.words + ben.words]) == []
        keys = [client_key(data_dir / f"{svc}.db", ana.client_id) for svc in ("sessions", "goals")]
        assert all(key is not None and len(key) == 32 for key in keys)

        erased = await http.post(
            f"{s}/clinics/{CLINIC}/clients/{ana.client_id}/erasure", json={"erased_by": "admin-1"}
        )
        assert erased.status_code == 201, erased.text
        again = await http.post(
            f"{s}/clinics/{CLINIC}/clients/{ana.client_id}/erasure", json={"erased_by": "admin-1"}
        )
        assert again.status_code == 409

        async def goals_purged() -> bool:
            r = await http.get(f"{g}/clinics/{CLINIC}/clients/{ana.client_id}/homework")
            return r.status_code == 200 and r.json() == []

        await eventually(goals_purged, timeout=20)

        async def key_shredded() -> bool:
            """Both keys destroyed, and not left behind in free pages or a WAL either."""
            files = database_files(data_dir)
            gone = [
                client_key(data_dir / f"{svc}.db", ana.client_id) for svc in ("sessions", "goals")
            ]
            return gone == [None, None] and found_in(files, [k for k in keys if k]) == []

        await eventually(key_shredded, timeout=20)
        assert found_in(database_files(data_dir), [w.encode() for w in ana.words]) == []

        # The erased client: projections purged, the log's words unreadable, ids still there.
        base = f"/clinics/{CLINIC}/clients/{ana.client_id}"
        assert (await http.get(f"{s}{base}/notes")).json()["sessions"] == []
        assert (await http.get(f"{s}{base}/profile")).json()["display_name"] == ""
        session = (await http.get(f"{s}/clinics/{CLINIC}/sessions/{ana.session_id}")).json()
        assert (session["status"], session["note"]["body"]) == ("closed", "")
        assert session["goals"][0]["description"] == ""
        record_now = await http.get(
            f"{s}{base}/record", params={"as_of": datetime.now(UTC).isoformat()}
        )
        assert record_now.status_code == 200
        assert record_now.json()["sessions"][0]["note"]["body"] == ""
        refused = await http.put(
            f"{s}{base}/profile", json={"display_name": "back again", "updated_by": "admin-1"}
        )
        assert refused.status_code == 409

        # The other client is untouched, and rebuilds replay past the erasure.
        assert await readable(http, s, g, ben) == ben.words
        for url in (
            f"{s}/admin/projections/notes/rebuild",
            f"{g}/admin/projections/progress/rebuild",
        ):
            rebuilt = await http.post(url)
            assert rebuilt.status_code == 200, rebuilt.text
        assert (await http.get(f"{s}{base}/notes")).json()["sessions"] == []
        assert (await http.get(f"{g}{base}/homework")).json() == []
        assert await readable(http, s, g, ben) == ben.words
        assert found_in(database_files(data_dir), [w.encode() for w in ana.words + ben.words]) == []
