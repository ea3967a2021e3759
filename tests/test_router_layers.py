"""Routers are thin: they parse, authorise, call a service and shape the response — no queries.

Read statically from the source of every module in app/routers: a router that imports SQLAlchemy
or calls a query method on a session (`session.execute(…)`, `session.get(…)` …) fails here, so
the query moves into the service of its domain, where the rules live."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROUTERS = sorted((Path(__file__).resolve().parent.parent / "app" / "routers").glob("*.py"))
QUERY_METHODS = {
    "execute", "scalar", "scalars", "get", "stream", "stream_scalars",
    "add", "add_all", "delete", "flush", "merge", "refresh", "commit", "rollback",
}  # fmt: skip


def queries_in(source: str) -> list[str]:
    """Each SQLAlchemy import and each query-method call on a `session`, as `line: what`."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "sqlalchemy":
            found.append(f"{node.lineno}: from {node.module} import …")
        elif isinstance(node, ast.Import):
            found += [
                f"{node.lineno}: import {a.name}"
                for a in node.names
                if a.name.split(".")[0] == "sqlalchemy"
            ]
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in QUERY_METHODS
            and isinstance(node.func.value, ast.Name)
            and "session" in node.func.value.id
        ):
            found.append(f"{node.lineno}: {node.func.value.id}.{node.func.attr}(…)")
    return found


@pytest.mark.parametrize("path", ROUTERS, ids=lambda p: p.name)
def test_a_router_runs_no_query(path: Path) -> None:
    assert queries_in(path.read_text()) == []


def test_the_check_sees_a_query() -> None:
    source = (
        "from sqlalchemy import select\n"
        "async def route(session):\n"
        "    return await session.get(User, 1)\n"
    )
    assert queries_in(source) == ["1: from sqlalchemy import …", "3: session.get(…)"]
    assert queries_in("async def route(session):\n    return await service.get(session, 1)\n") == []
