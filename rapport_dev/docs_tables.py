"""The transition tables in `docs/*.md`, generated from the code's own `StateMachine.describe()`.

A table lives in a doc between two markers::

    <!-- transitions: offer -->
    …generated, do not edit…
    <!-- /transitions -->

`python -m rapport_dev.docs_tables` rewrites every such block from the machine of that kind;
`--check` only reports the stale ones and exits 1 (tests/test_docs_tables.py runs it), so a
changed transition cannot leave its doc behind. The prose around a table stays hand-written.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

DOCS = Path(__file__).resolve().parent.parent / "docs"
BLOCK = re.compile(
    r"(?P<open><!-- transitions: (?P<kind>[a-z_]+) -->\n)(?P<body>.*?)"
    r"(?P<close><!-- /transitions -->)",
    re.S,
)
_ACTOR_ORDER = ("brand", "influencer", "operator", "system")


def machines() -> Mapping[str, Any]:
    """Every machine the app declares (app/services/wiring.py), by kind — not the process's
    registry, where a test may have installed machines of its own."""
    from app.services.wiring import MACHINES

    return {machine.kind: machine for machine in MACHINES}


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def table(rows: list[dict[str, Any]]) -> str:
    """One machine's table in Markdown: action, from, to, who, what it checks and does."""
    lines = [
        "| action | from | to | who | checks and effects |",
        "|---|---|---|---|---|",
    ]
    for row in rows:
        who = ", ".join(a for a in _ACTOR_ORDER if a in row["actors"])
        what = row["description"] or (f"guard `{row['guard']}`" if row["guard"] else "")
        sources = ", ".join(row["from"])
        lines.append(f"| `{row['action']}` | {sources} | {row['to']} | {who} | {_cell(what)} |")
    return "\n".join(lines) + "\n"


def render(text: str, known: Mapping[str, Any]) -> str:
    """`text` with every transitions block regenerated; an unknown kind is an error."""

    def replace(match: re.Match[str]) -> str:
        kind = match["kind"]
        if kind not in known:
            raise KeyError(f"no state machine of kind {kind!r} (known: {', '.join(sorted(known))})")
        return match["open"] + table(known[kind].describe()) + match["close"]

    return BLOCK.sub(replace, text)


def stale(docs: Path = DOCS) -> list[Path]:
    """The docs whose generated tables differ from the code."""
    known = machines()
    return [p for p in sorted(docs.glob("*.md")) if render(p.read_text(), known) != p.read_text()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="report stale docs, change nothing")
    args = parser.parse_args(argv)
    known = machines()
    changed = []
    for path in sorted(DOCS.glob("*.md")):
        before = path.read_text()
        after = render(before, known)
        if after != before:
            changed.append(path)
            if not args.check:
                path.write_text(after)
    for path in changed:
        print(f"{'stale' if args.check else 'regenerated'}: {path.relative_to(DOCS.parent)}")
    return 1 if (args.check and changed) else 0


if __name__ == "__main__":
    sys.exit(main())
