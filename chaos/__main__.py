"""`make chaos`: every fault under load, then the table; non-zero exit if anything was lost,
duplicated or left behind by a refused command, or a fault's own check failed.

    uv run python -m chaos                          # all six faults, 5,000 commands each
    uv run python -m chaos --faults kill,nats --commands 500
"""

import argparse
import asyncio
import os
import sys
import time

from chaos.faults import BASELINES, FAULTS
from chaos.report import table
from chaos.run import Result, run_fault


async def main(keys: list[str], commands: int, keep: bool) -> list[Result]:
    results = []
    for fault in [f for f in FAULTS + BASELINES if f.key in keys]:
        started = time.monotonic()
        print(f"{fault.title}: {commands} commands ...", flush=True)
        result = await run_fault(fault, commands, keep=keep)
        # Other work on the machine slows the services: say how busy it was.
        load = os.getloadavg()[0]
        print(
            f"    done in {time.monotonic() - started:.0f} s (load average {load:.1f})", flush=True
        )
        results.append(result)
    return results


def cli() -> int:
    parser = argparse.ArgumentParser(prog="python -m chaos")
    parser.add_argument("--faults", default=",".join(f.key for f in FAULTS))
    parser.add_argument("--commands", type=int, default=5000, help="commands per fault")
    parser.add_argument("--keep", action="store_true", help="keep each run's scratch directory")
    args = parser.parse_args()
    keys = args.faults.split(",")
    known = [f.key for f in FAULTS + BASELINES]
    unknown = set(keys) - set(known)
    if unknown:
        parser.error(f"unknown faults {sorted(unknown)}; known: {known}")
    results = asyncio.run(main(keys, args.commands, args.keep))
    print(table(results))
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    sys.exit(cli())
