"""The transition tables in docs/*.md are generated from the code (rapport_dev/docs_tables.py).

A changed transition that leaves its doc behind fails here; `python -m rapport_dev.docs_tables`
regenerates them."""

from __future__ import annotations

import re

from rapport_dev import docs_tables


def test_no_doc_is_stale() -> None:
    stale = docs_tables.stale()
    assert stale == [], (
        f"stale transition tables in {[p.name for p in stale]}: "
        "run `python -m rapport_dev.docs_tables`"
    )


def test_every_machine_is_documented_with_a_description_per_row() -> None:
    machines = docs_tables.machines()
    documented = {
        m["kind"]
        for p in docs_tables.DOCS.glob("*.md")
        for m in docs_tables.BLOCK.finditer(p.read_text())
    }
    assert set(machines) <= documented, f"machines without a table: {set(machines) - documented}"
    missing = [
        f"{kind}.{row['action']}"
        for kind, machine in machines.items()
        for row in machine.describe()
        if not row["description"].strip()
    ]
    assert missing == [], f"transitions without a description (the docs' text): {missing}"


def test_a_hand_edited_table_is_caught_and_regenerated() -> None:
    machines = docs_tables.machines()
    fresh = "intro\n<!-- transitions: offer -->\n<!-- /transitions -->\noutro\n"
    generated = docs_tables.render(fresh, machines)
    assert "| `accept` | open | accepted | brand, influencer |" in generated
    edited = re.sub(r"\| `accept` \| open \| accepted", "| `accept` | open | rejected", generated)
    assert edited != generated
    assert docs_tables.render(edited, machines) == generated
    assert generated.startswith("intro\n") and generated.endswith("outro\n")
