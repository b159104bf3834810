"""`rapport`: the operator's command line. It talks to each service's /admin endpoints.

    rapport status
    rapport dlq list [--service goals]
    rapport dlq show|replay|discard ID --service goals
    rapport rebuild goals.progress

Service URLs default to the local suite (ports 8101-8103); override them with
RAPPORT_SESSIONS_URL, RAPPORT_GOALS_URL, RAPPORT_NOTIFICATIONS_URL.
"""

import argparse
import json
import os
import sys
from typing import Any

import httpx

from rapport_shared.localsuite import SERVICES


def service_url(service: str) -> str:
    default = f"http://127.0.0.1:{SERVICES[service]}"
    return os.environ.get(f"RAPPORT_{service.upper()}_URL", default).rstrip("/")


def _call(method: str, service: str, path: str) -> Any:
    response = httpx.request(method, f"{service_url(service)}/admin{path}", timeout=60)
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
            f"events={state['events']} outbox_backlog={state['outbox_backlog']} "
            f"oldest_unpublished={state['outbox_oldest_age_seconds']:.1f}s"
        )
        for consumer in state["consumers"]:
            lag = "?" if consumer["lag"] is None else int(consumer["lag"])
            print(
                f"  consumer {consumer['name']:<24} lag={lag} "
                f"behind_for={consumer['projection_lag_seconds']:.1f}s "
                f"dead_letters={consumer['dead_letters']}"
            )


def dlq(args: argparse.Namespace) -> None:
    services = [args.service] if args.service else list(SERVICES)
    if args.action == "list":
        for service in services:
            for letter in _call("GET", service, "/dead-letters"):
                print(
                    f"{service}:{letter['id']} consumer={letter['consumer']} "
                    f"subject={letter['subject']} deliveries={letter['deliveries']} "
                    f"error={letter['error'][:120]}"
                )
        return
    if args.id is None or args.service is None:
        raise SystemExit(f"dlq {args.action} needs an ID and --service")
    method, suffix = {
        "show": ("GET", ""),
        "replay": ("POST", "/replay"),
        "discard": ("DELETE", ""),
    }[args.action]
    result = _call(method, args.service, f"/dead-letters/{args.id}{suffix}")
    print(json.dumps(result, indent=2) if result is not None else f"discarded {args.id}")


def rebuild(args: argparse.Namespace) -> None:
    service, _, projection = args.projection.partition(".")
    if service not in SERVICES or not projection:
        raise SystemExit("name the projection as <service>.<projection>, e.g. goals.progress")
    result = _call("POST", service, f"/projections/{projection}/rebuild")
    print(f"rebuilt {args.projection} in {result['seconds']}s")


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="rapport", description="Operate a Rapport deployment.")
    commands = root.add_subparsers(dest="command", required=True)
    commands.add_parser("status", help="per service: readiness, outbox backlog, consumer lag")
    letters = commands.add_parser("dlq", help="dead letters: list, show, replay, discard")
    letters.add_argument("action", choices=["list", "show", "replay", "discard"])
    letters.add_argument("id", nargs="?", type=int)
    letters.add_argument("--service", choices=list(SERVICES))
    rebuilding = commands.add_parser("rebuild", help="rebuild a projection from the events")
    rebuilding.add_argument("projection", help="<service>.<projection>, e.g. goals.progress")
    return root


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    {"status": status, "dlq": dlq, "rebuild": rebuild}[args.command](args)


if __name__ == "__main__":
    main(sys.argv[1:])
