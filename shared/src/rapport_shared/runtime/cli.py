"""`rapport`: the operator's command line. It talks to each service's /admin endpoints.

    rapport status
    rapport dlq list [--service goals]
    rapport dlq show|replay|discard ID --service goals
    rapport quarantine list [--service goals]
    rapport quarantine show|replay|discard POSITION --service goals
    rapport rebuild goals.progress
    rapport token --clinic northside --role counselor --sub kim [--ttl 8h]

Service URLs default to the local suite (ports 8101-8103); override them with
RAPPORT_SESSIONS_URL, RAPPORT_GOALS_URL, RAPPORT_NOTIFICATIONS_URL.

The /admin endpoints need an operator token: --token or RAPPORT_TOKEN, or else one minted from
the local HS256 secret (RAPPORT_AUTH_SECRET, or <RAPPORT_DATA_DIR>/auth-secret) as on the
embedded default. `token` mints a token from that same secret, for local use.
"""

import argparse
import json
import os
import re
import sys
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx

from rapport_shared.runtime.settings import SERVICES, ServiceSettings
from rapport_shared.security.auth import ALL_CLINICS, ROLES, SECRET_FILE, InvalidToken, mint_token

# An operator token the CLI mints for itself lives only as long as one command needs.
SELF_MINTED_TTL = timedelta(minutes=5)
_TTL = re.compile(r"^(\d+)([smhd]?)$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def service_url(service: str) -> str:
    default = f"http://127.0.0.1:{SERVICES[service]}"
    return os.environ.get(f"RAPPORT_{service.upper()}_URL", default).rstrip("/")


def local_secret_if_any() -> str | None:
    """The embedded default's secret, without creating one (the services create it)."""
    settings = ServiceSettings()
    if settings.auth_secret:
        return settings.auth_secret
    path = Path(settings.data_dir) / SECRET_FILE
    return path.read_text().strip() if path.exists() else None


def _admin_token() -> str:
    token = os.environ.get("RAPPORT_TOKEN")
    if token:
        return token
    secret = local_secret_if_any()
    if secret is None:
        raise SystemExit(
            "no token: pass --token or set RAPPORT_TOKEN (an operator token), or run where "
            "RAPPORT_AUTH_SECRET or <RAPPORT_DATA_DIR>/auth-secret is available"
        )
    return mint_token(
        secret, sub="rapport-cli", clinic=ALL_CLINICS, role="operator", ttl=SELF_MINTED_TTL
    )


def _call(method: str, service: str, path: str) -> Any:
    response = httpx.request(
        method,
        f"{service_url(service)}/admin{path}",
        headers={"Authorization": f"Bearer {_admin_token()}"},
        timeout=60,
    )
    if response.status_code >= 400:
        raise SystemExit(f"{service}: {response.status_code} {response.text}")
    return response.json() if response.content else None


def status(_: argparse.Namespace) -> None:
    for service in SERVICES:
        try:
            state = _call("GET", service, "/status")
        except httpx.HTTPError as error:
            print(f"{service:<14} unreachable ({error})")
            continue
        print(
            f"{service:<14} {'ready' if state['ready'] else 'NOT READY':<10} "
            f"broker={'connected' if state['broker_connected'] else 'DISCONNECTED'} "
            f"events={state['events']} outbox_backlog={state['outbox_backlog']} "
            f"oldest_unpublished={state['outbox_oldest_age_seconds']:.1f}s "
            f"quarantined={state['outbox_quarantined']}"
        )
        for consumer in state["consumers"]:
            lag = "?" if consumer["lag"] is None else int(consumer["lag"])
            print(
                f"  consumer {consumer['name']:<24} lag={lag} "
                f"behind_for={consumer['projection_lag_seconds']:.1f}s "
                f"dead_letters={consumer['dead_letters']}"
            )


def dlq(args: argparse.Namespace) -> None:
    def line(letter: dict[str, Any]) -> str:
        return (
            f"{letter['id']} consumer={letter['consumer']} subject={letter['subject']} "
            f"deliveries={letter['deliveries']} error={letter['error'][:120]}"
        )

    _held_messages(args, "/dead-letters", args.id, line)


def quarantined(args: argparse.Namespace) -> None:
    """Events the broker refused for good (rapport_shared.messaging.quarantine): replay one once its
    cause is fixed, or discard it."""

    def line(event: dict[str, Any]) -> str:
        return (
            f"{event['position']} event_id={event['event_id']} subject={event['subject']} "
            f"bytes={event['bytes']} at={event['quarantined_at']} reason={event['reason']}"
        )

    _held_messages(args, "/outbox/quarantine", args.position, line)


def _held_messages(
    args: argparse.Namespace, path: str, item: int | None, line: Callable[[dict[str, Any]], str]
) -> None:
    """list, show, replay or discard what a service holds back: dead letters, quarantined
    events."""
    if args.action == "list":
        for service in [args.service] if args.service else list(SERVICES):
            for held in _call("GET", service, path):
                print(f"{service}:{line(held)}")
        return
    if item is None or args.service is None:
        raise SystemExit(f"{args.command} {args.action} needs an ID and --service")
    method, suffix = {
        "show": ("GET", ""),
        "replay": ("POST", "/replay"),
        "discard": ("DELETE", ""),
    }[args.action]
    result = _call(method, args.service, f"{path}/{item}{suffix}")
    print(json.dumps(result, indent=2) if result is not None else f"discarded {item}")


def rebuild(args: argparse.Namespace) -> None:
    service, _, projection = args.projection.partition(".")
    if service not in SERVICES or not projection:
        raise SystemExit("name the projection as <service>.<projection>, e.g. goals.progress")
    result = _call("POST", service, f"/projections/{projection}/rebuild")
    print(f"rebuilt {args.projection} in {result['seconds']}s")


def parse_ttl(text: str) -> timedelta:
    match = _TTL.match(text.strip())
    if match is None or int(match.group(1)) == 0:
        raise argparse.ArgumentTypeError("a duration such as 900, 15m, 8h or 7d")
    return timedelta(seconds=int(match.group(1)) * _UNITS[match.group(2)])


def token(args: argparse.Namespace) -> None:
    secret = local_secret_if_any()
    if secret is None:
        raise SystemExit(
            f"no local secret: set RAPPORT_AUTH_SECRET, or start the suite once so that "
            f"<RAPPORT_DATA_DIR>/{SECRET_FILE} exists (make run)"
        )
    clinic = ALL_CLINICS if args.role == "operator" and args.clinic is None else args.clinic
    if clinic is None:
        raise SystemExit("--clinic is required (an operator's is '*')")
    try:
        print(mint_token(secret, sub=args.sub, clinic=clinic, role=args.role, ttl=args.ttl))
    except InvalidToken as error:
        raise SystemExit(f"cannot mint that token: {error}") from None


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="rapport", description="Operate a Rapport deployment.")
    root.add_argument("--token", help="an operator bearer token (default: RAPPORT_TOKEN)")
    commands = root.add_subparsers(dest="command", required=True)
    commands.add_parser(
        "status", help="per service: readiness, broker, outbox backlog and quarantine, lag"
    )
    letters = commands.add_parser("dlq", help="dead letters: list, show, replay, discard")
    letters.add_argument("action", choices=["list", "show", "replay", "discard"])
    letters.add_argument("id", nargs="?", type=int)
    letters.add_argument("--service", choices=list(SERVICES))
    held = commands.add_parser(
        "quarantine", help="events the broker refused for good: list, show, replay, discard"
    )
    held.add_argument("action", choices=["list", "show", "replay", "discard"])
    held.add_argument("position", nargs="?", type=int, help="the event's position (from list)")
    held.add_argument("--service", choices=list(SERVICES))
    rebuilding = commands.add_parser("rebuild", help="rebuild a projection from the events")
    rebuilding.add_argument("projection", help="<service>.<projection>, e.g. goals.progress")
    minting = commands.add_parser("token", help="mint an HS256 token from the local secret")
    minting.add_argument("--clinic", help="the clinic id ('*' for an operator)")
    minting.add_argument("--role", required=True, choices=ROLES)
    minting.add_argument("--sub", required=True, help="the subject: the person's id")
    minting.add_argument("--ttl", type=parse_ttl, default=timedelta(hours=8), help="e.g. 8h")
    return root


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    if args.token:
        os.environ["RAPPORT_TOKEN"] = args.token  # this process only: what _admin_token reads
    commands = {
        "status": status,
        "dlq": dlq,
        "quarantine": quarantined,
        "rebuild": rebuild,
        "token": token,
    }
    commands[args.command](args)


if __name__ == "__main__":
    main(sys.argv[1:])
