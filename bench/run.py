"""`make bench`: run every benchmark group, print the table, write bench/results/latest.json.

    uv run python -m bench.run                 # everything (about 2 minutes on 2 cores)
    uv run python -m bench.run --only append   # one or more groups, comma-separated

latest.json is the flat object of figures (null where a figure could not be measured; the
reason is printed and kept in latest-details.json with the raw numbers behind each ratio).
"""

import argparse
import asyncio
import json
import logging
import os
import sys
import time
import traceback
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import structlog

from bench import append, dispatch, pipeline, suite
from bench.common import Report, load_average, machine, postgres_reason, postgres_settings

RESULTS = Path(__file__).parent / "results"
BUSY = 1.0  # load average above which the run is flagged as disturbed

# name -> (comparison, target, unit); the order is the table's.
FIGURES: dict[str, tuple[str, float | None, str]] = {
    "append_ratio_vs_eventsourcing_sqlite": (">=", 1.5, "x"),
    "append_ratio_vs_eventsourcing_postgres": (">=", 1.5, "x"),
    "append_concurrent_ratio_vs_raw_postgres": (">=", 0.6, "x"),
    "http_commands_per_s": ("", None, "/s"),
    "http_p99_ms": ("", None, "ms"),
    "e2e_p50_ms": ("", None, "ms"),
    "e2e_p99_ms": ("<=", 50.0, "ms"),
    "pipeline_ratio_vs_raw_jetstream": (">=", 0.3, "x"),
    "rebuild_events_per_s_sqlite": (">=", 20000.0, "/s"),
    "dispatch_scaling_3_vs_1": (">=", 2.5, "x"),
    "rss_mb_max": ("<=", 150.0, "MB"),
}

Group = Callable[[Report, str | None], Awaitable[None]]
GROUPS: dict[str, tuple[Group, list[str]]] = {
    "append": (
        append.run,
        [
            "append_ratio_vs_eventsourcing_sqlite",
            "append_ratio_vs_eventsourcing_postgres",
            "append_concurrent_ratio_vs_raw_postgres",
        ],
    ),
    "pipeline": (pipeline.run, ["pipeline_ratio_vs_raw_jetstream"]),
    "suite": (
        suite.run,
        [
            "rebuild_events_per_s_sqlite",
            "http_commands_per_s",
            "http_p99_ms",
            "e2e_p50_ms",
            "e2e_p99_ms",
            "rss_mb_max",
        ],
    ),
    "dispatch": (dispatch.run, ["dispatch_scaling_3_vs_1"]),
}


def verdict(name: str, value: float | None) -> str:
    comparison, target, _ = FIGURES[name]
    if target is None:
        return ""
    if value is None:
        return "not measured"
    met = value >= target if comparison == ">=" else value <= target
    return "met" if met else "MISSED"


def table(report: Report) -> str:
    lines = [f"{'figure':42} {'value':>12}  {'target':>10}  verdict", "-" * 80]
    for name, (comparison, target, unit) in FIGURES.items():
        if name not in report.figures:
            continue
        value = report.figures[name]
        shown = (
            "null" if value is None else f"{value:,.3g}" if abs(value) < 100 else f"{value:,.0f}"
        )
        wanted = f"{comparison} {target:g}" if target is not None else ""
        lines.append(f"{name:42} {shown:>10} {unit:<3} {wanted:>9}  {verdict(name, value)}")
    for name, reason in report.missing.items():
        lines.append(f"  {name} is null: {reason}")
    return "\n".join(lines)


async def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.run",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--only", help=f"comma-separated groups: {', '.join(GROUPS)}")
    args = parser.parse_args(argv)
    chosen = args.only.split(",") if args.only else list(GROUPS)
    unknown = [name for name in chosen if name not in GROUPS]
    if unknown:
        parser.error(f"unknown group(s): {', '.join(unknown)}")

    # The shared parts log at info (stream created, ...): keep the bench's own output readable.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    report = Report()
    report.note("run", started=datetime.now(UTC).isoformat(timespec="seconds"), machine=machine())
    busy = load_average()
    report.note("run", load_average_at_start=busy)
    if busy is not None and busy > BUSY:
        print(
            f"warning: load average {busy} on {os.cpu_count()} cores: other work skews every figure"
        )
    postgres_missing = await postgres_reason()
    if postgres_missing is None:
        report.note("run", postgres=await postgres_settings())
    else:
        print(f"note: {postgres_missing}; its figures will be null", flush=True)
    started = time.perf_counter()
    for name in chosen:
        group, names = GROUPS[name]
        print(f"== {name} ...", flush=True)
        group_started = time.perf_counter()
        try:
            await group(report, postgres_missing)
        except Exception as error:  # noqa: BLE001 - one broken group must not hide the others
            traceback.print_exc()
            reason = f"the {name} group failed: {type(error).__name__}: {error}"
            report.skip([n for n in names if report.figures.get(n) is None], reason)
        seconds = round(time.perf_counter() - group_started, 1)
        report.note("run", **{f"{name}_seconds": seconds})
        print(f"   {name} took {seconds} s", flush=True)
    report.note("run", total_seconds=round(time.perf_counter() - started, 1))
    report.note("run", load_average_at_end=load_average())

    print()
    print(table(report))
    RESULTS.mkdir(parents=True, exist_ok=True)
    ordered = {name: report.figures[name] for name in FIGURES if name in report.figures}
    (RESULTS / "latest.json").write_text(json.dumps(ordered, indent=2) + "\n")
    details = {"figures": ordered, "missing": report.missing, **report.details}
    (RESULTS / "latest-details.json").write_text(json.dumps(details, indent=2, default=str) + "\n")
    print(f"\nwrote {RESULTS / 'latest.json'} in {report.details['run']['total_seconds']} s")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
