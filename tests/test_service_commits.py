"""Services never commit (the session dependency does, once per request), except to end the
request's transaction before a Stripe call — and that is one helper,
`stripe_problems.end_transaction`, not a copy in every module that calls Stripe."""

from __future__ import annotations

import ast
from pathlib import Path

SERVICES = Path(__file__).resolve().parents[1] / "app" / "services"
HELPER = ("money/stripe_problems.py", "end_transaction")


def _commits(path: Path) -> list[tuple[str, int]]:
    """(enclosing function, line) of every `….commit()` call in the file."""
    tree = ast.parse(path.read_text(), str(path))
    found = []
    for function in ast.walk(tree):
        if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for node in ast.walk(function):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "commit"
            ):
                found.append((function.name, node.lineno))
    return found


def test_only_end_transaction_commits() -> None:
    commits = {
        (str(path.relative_to(SERVICES)), function): line
        for path in sorted(SERVICES.rglob("*.py"))
        for function, line in _commits(path)
    }
    assert list(commits) == [HELPER], commits
