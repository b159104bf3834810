"""The table: fault x (commands accepted, lost, duplicated, seconds to converge), with the
rest of each run's ledger beside it and its notes below."""

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from chaos.run import Result

COLUMNS = (
    ("fault", 38),
    ("commands", 8),
    ("accepted", 8),
    ("lost", 4),
    ("duplicated", 10),
    ("converge s", 10),
    ("refused", 7),
    ("leaked", 6),
    ("in doubt", 11),
    ("ok", 3),
)


def rows(results: list["Result"]) -> list[list[str]]:
    table = []
    for r in results:
        v = r.verdict
        table.append(
            [
                r.fault.title,
                str(r.commands),
                str(v.accepted),
                str(v.lost),
                str(v.duplicated),
                "-" if r.converge_seconds is None else f"{r.converge_seconds:.1f}",
                str(v.rejected),
                str(v.leaked),
                f"{v.in_doubt} ({v.in_doubt_committed} in)",
                "yes" if r.ok else "NO",
            ]
        )
    return table


def table(results: list["Result"]) -> str:
    lines = [
        "",
        " | ".join(name.ljust(width) for name, width in COLUMNS),
        "-+-".join("-" * width for _, width in COLUMNS),
    ]
    for row in rows(results):
        lines.append(
            " | ".join(cell.ljust(width) for cell, (_, width) in zip(row, COLUMNS, strict=True))
        )
    lines.append("")
    for r in results:
        lines.append(f"{r.fault.title} (load {r.load_seconds:.0f} s)")
        lines.append(f"    refused / in doubt: {r.answers}")
        lines += [f"    {line}" for line in r.notes.text + r.verdict.examples + r.problems]
    return "\n".join(lines)
