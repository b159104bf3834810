"""docs/measures.md and the one table per instrument (rapport_goals.domain.instruments) agree."""

from pathlib import Path

from rapport_goals.domain.instruments import RULES

DOC = Path(__file__).parents[1] / "docs" / "measures.md"


def _rows() -> dict[str, list[str]]:
    rows = {}
    for line in DOC.read_text().splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if cells and cells[0] in RULES:
            rows[cells[0]] = cells
    return rows


def test_the_doc_lists_each_instrument_as_the_table_holds_it() -> None:
    rows = _rows()
    assert set(rows) == set(RULES)
    for name, rules in RULES.items():
        _, items, total, higher, bands, cutoff, change, other = rows[name]
        assert items == f"{rules.items} (0-{rules.item_max})"
        assert total == f"0-{rules.max_total}"
        assert higher == ("worse" if rules.direction == "lower is better" else "better")
        assert bands == ", ".join(f"{band} {lowest}" for lowest, band in rules.bands)
        if rules.clinical_cutoff is None:
            assert cutoff == "none"
        else:
            side = "at or above" if rules.direction == "lower is better" else "below"
            assert cutoff == f"{rules.clinical_cutoff} ({side})"
        assert change == ("none" if rules.reliable_change is None else str(rules.reliable_change))
        if rules.alliance_cutoff is not None:
            assert f"alliance cutoff {rules.alliance_cutoff}" in other
        for risk in rules.risk_items:
            assert f"item {risk.number} is a risk item" in other


def test_every_source_in_the_table_is_cited_in_the_doc() -> None:
    text = " ".join(DOC.read_text().split())
    for rules in RULES.values():
        for source in rules.sources:
            first_author = source.split(",")[0].split(" (")[0]
            assert first_author in text, f"{rules.instrument}: {first_author} not cited"
