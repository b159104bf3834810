"""Erasure by crypto-shredding, across the services running as processes on SQLite files and a
real nats-server: after a clinic admin erases a client, no database file of any service (nor its
-wal or -shm) holds that client's notes, journal, plan, name or email, nor the key that encrypted
them; another client's words stay readable through the API while never being in the files in
clear.

The plaintext scan reads every table of every service's database, as the database itself lists
them (so a table added later is scanned too: the Idempotency-Key store, the audit log, dead
letters and the outbox among them), the raw database files with their WAL, and every file of the
broker's store, before and after the erasure. Every file the suite made is its owner's only."""

import contextlib
import secrets
import sqlite3
import stat
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from rapport_devtools.natsserver import NatsServer
from rapport_devtools.testing import ClinicAdminAuth, eventually

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
        # Contact details, not clinical words: kept in clear by notifications until erasure.
        self.email = f"{client_id}-{tag}@example.org"
        self.session_id = ""
        self.homework_id = ""
        self.close_request: dict[str, Any] = {}

    @property
    def words(self) -> list[str]:
        return [self.name, self.note, self.goal, self.instructions, self.journal]

    def key(self, command: str) -> dict[str, str]:
        """An Idempotency-Key header: the answers the services keep for replays hold the words."""
        return {"Idempotency-Key": f"{self.client_id}-{command}"}


def database_files(data_dir: Path) -> dict[str, bytes]:
    return {
        path.name: path.read_bytes()
        for service in SERVICES
        for path in data_dir.glob(f"{service}.db*")  # the database, its -wal and -shm
    }


# Tables each service must have among those its database lists (a sanity check that the scan
# reads the right files; it scans whatever else there is too).
EXPECTED_TABLES = {"idempotency_keys", "audit_log", "dead_letters", "outbox", "events"}


def table_contents(data_dir: Path) -> dict[str, bytes]:
    """Every value of every row of every table of each service's database, by table, with the
    tables enumerated from the database itself (sqlite_master)."""
    contents = {}
    for service in SERVICES:
        uri = f"file:{data_dir / f'{service}.db'}?mode=ro"
        with contextlib.closing(sqlite3.connect(uri, uri=True)) as conn:
            names = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            for (name,) in names.fetchall():
                rows = conn.execute(f'SELECT * FROM "{name}"').fetchall()  # noqa: S608
                values = [v if isinstance(v, bytes) else str(v).encode() for r in rows for v in r]
                contents[f"{service}.{name}"] = b"\x00".join(values)
    return contents


def broker_files(store_dir: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(store_dir)): p.read_bytes() for p in store_dir.rglob("*") if p.is_file()
    }


def everything(data_dir: Path, store_dir: Path) -> dict[str, bytes]:
    """What the scan reads: tables, database files (with -wal and -shm), the broker's store."""
    return {**table_contents(data_dir), **database_files(data_dir), **broker_files(store_dir)}


def not_owner_only(*roots: Path) -> list[str]:
    return [
        f"{path}: {stat.filemode(path.stat().st_mode)}"
        for root in roots
        for path in (root, *root.rglob("*"))
        if path.stat().st_mode & 0o077
    ]


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


async def record(http: httpx.AsyncClient, s: str, g: str, n: str, client: Client) -> None:
    """A profile, a session with a note, closed with a plan, the homework done with a journal
    entry, and an email address for reminders: every kind of free text the services keep about
    a client, the commands sent with Idempotency-Keys."""
    now = datetime.now(UTC)
    base = f"/clinics/{CLINIC}/clients/{client.client_id}"
    profile = await http.put(
        f"{s}{base}/profile", json={"display_name": client.name, "updated_by": "admin-1"}
    )
    assert profile.status_code == 200, profile.text
    created = await http.post(
        f"{s}/clinics/{CLINIC}/sessions",
        headers=client.key("schedule"),
        json={
            "client_id": client.client_id,
            "counselor_id": "dr-okafor",
            "starts_at": (now - timedelta(hours=1)).isoformat(),
        },
    )
    assert created.status_code == 201, created.text
    client.session_id = created.json()["session_id"]
    session = f"{s}/clinics/{CLINIC}/sessions/{client.session_id}"
    client.close_request = close_body(client, now)
    noted = await http.post(
        f"{session}/notes", json={"body": client.note}, headers=client.key("note")
    )
    assert noted.status_code == 201, noted.text
    closed = await http.post(
        f"{session}/close",
        headers=client.key("close"),
        json=client.close_request,
    )
    assert closed.status_code == 200, closed.text
    assert client.goal in closed.text  # the answer the sessions service keeps holds the plan
    recipient = await http.put(
        f"{n}/clinics/{CLINIC}/recipients/{client.client_id}", json={"email": client.email}
    )
    assert recipient.status_code == 200, recipient.text

    async def assigned() -> Any:
        r = await http.get(f"{g}{base}/homework")
        return r.json() if r.status_code == 200 and r.json() else None

    [homework] = await eventually(assigned, timeout=20)
    assert homework["instructions"] == client.instructions  # unsealed and decrypted
    client.homework_id = homework["homework_id"]
    done = await http.post(
        f"{g}/clinics/{CLINIC}/homework/{client.homework_id}/complete",
        headers=client.key("complete"),
        json={"journal": client.journal},
    )
    assert done.status_code == 200, done.text


def close_body(client: Client, now: datetime) -> dict[str, Any]:
    return {
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
    }


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
    running_suite, nats_server: NatsServer, tmp_path
):
    s, g, n = (running_suite[k].url for k in SERVICES)
    data_dir, store_dir = tmp_path / "data", nats_server.store_dir
    ana, ben = Client("client-ana"), Client("client-ben")
    async with httpx.AsyncClient(auth=ClinicAdminAuth(), timeout=10) as http:
        for client in (ana, ben):
            await record(http, s, g, n, client)
            assert await readable(http, s, g, client) == client.words
        # Encrypted at rest: not one word of either client is in any table, database file or
        # the broker's store in clear, Idempotency-Key answers included.
        tables = table_contents(data_dir)
        for service in SERVICES:
            assert {f"{service}.{name}" for name in EXPECTED_TABLES} <= set(tables)
        assert tables["sessions.idempotency_keys"] and tables["goals.idempotency_keys"]
        words = [w.encode() for w in ana.words + ben.words]
        assert found_in(everything(data_dir, store_dir), words) == []
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

        def email_gone() -> bool:
            """Notifications purged the address, and cleared its WAL of the old pages."""
            return found_in(everything(data_dir, store_dir), [ana.email.encode()]) == []

        await eventually(email_gone, timeout=20)
        erased_words = [w.encode() for w in [*ana.words, ana.email]]
        assert found_in(everything(data_dir, store_dir), erased_words) == []

        # A replay of what was asked about her answers 410, with nothing of her words, and
        # runs nothing again.
        closed_again = await http.post(
            f"{s}/clinics/{CLINIC}/sessions/{ana.session_id}/close",
            headers=ana.key("close"),
            json=ana.close_request,
        )
        completed_again = await http.post(
            f"{g}/clinics/{CLINIC}/homework/{ana.homework_id}/complete",
            headers=ana.key("complete"),
            json={"journal": ana.journal},
        )
        for replay in (closed_again, completed_again):
            assert replay.status_code == 410, replay.text
            assert not [w for w in ana.words if w in replay.text]

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
        assert found_in(everything(data_dir, store_dir), words) == []

    # Databases and their WAL, keys, logs, the broker's store: the owner's only.
    assert not_owner_only(data_dir, tmp_path / "logs", store_dir) == []
