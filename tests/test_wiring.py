"""The one list of cross-domain reactions (app/services/wiring.py): every topic a job can be
enqueued under and every Stripe event type Rapport subscribes to has its handler after `wire()`,
every declared state machine is installed, and the worker runs without the web app."""

from __future__ import annotations

import ast
import asyncio
import importlib
import os
import pkgutil
import re
import subprocess
import sys
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select

import app.services
from app.db import Database
from app.models import Job, JobState, StripeEvent, StripeEventOutcome
from app.services import wiring
from app.services.catalogue import briefs
from app.services.money import stripe_events
from app.services.workflow import jobs, state_machine
from app.services.workflow.state_machine import StateMachine
from app.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "app"
JOBS_MODULE = "app.services.workflow.jobs"
# The names of the topic constants, and their values.
TOPIC_CONSTANTS: dict[str, str] = {
    name: value
    for name, value in vars(jobs).items()
    if name.endswith("_TOPIC") and isinstance(value, str)
}


def _sources() -> Iterator[tuple[Path, ast.Module]]:
    for path in sorted(APP.rglob("*.py")):
        yield path, ast.parse(path.read_text(), str(path))


def _where(path: Path, node: ast.AST) -> str:
    return f"{path.relative_to(ROOT)}:{getattr(node, 'lineno', '?')}"


def _called_name(call: ast.Call) -> str | None:
    if isinstance(call.func, ast.Name):
        return call.func.id
    if isinstance(call.func, ast.Attribute):
        return call.func.attr
    return None


def _topic_argument(call: ast.Call, position: int) -> ast.expr | None:
    for keyword in call.keywords:
        if keyword.arg == "topic":
            return keyword.value
    return call.args[position] if len(call.args) > position else None


def _functions(tree: ast.Module) -> Iterator[ast.FunctionDef | ast.AsyncFunctionDef]:
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            yield node


def _topic_position(function: ast.FunctionDef | ast.AsyncFunctionDef) -> int | None:
    names = [a.arg for a in (*function.args.posonlyargs, *function.args.args)]
    return names.index("topic") if "topic" in names else None


def _enqueuers(trees: list[tuple[Path, ast.Module]]) -> dict[str, int]:
    """Functions that put a job on the outbox under the topic they are given, by name, with the
    position of their `topic` argument: the outbox's `enqueue`, the transition effect
    `enqueue_job`, and any function that passes its own `topic` on to one of them."""
    found = {"enqueue": 1, "enqueue_job": 0}
    changed = True
    while changed:
        changed = False
        for _path, tree in trees:
            for function in _functions(tree):
                position = _topic_position(function)
                if position is None or function.name in found:
                    continue
                for call in ast.walk(function):
                    if not isinstance(call, ast.Call):
                        continue
                    name = _called_name(call)
                    if name not in found:
                        continue
                    topic = _topic_argument(call, found[name])
                    if isinstance(topic, ast.Name) and topic.id == "topic":
                        found[function.name] = position
                        changed = True
                        break
    return found


def _imported_from_jobs(tree: ast.Module) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == JOBS_MODULE:
            names.update(alias.asname or alias.name for alias in node.names)
    return names


def _undeclared_topics(trees: list[tuple[Path, ast.Module]]) -> list[str]:
    """Every enqueue in `trees` whose topic is not one of workflow/jobs.py's constants."""
    enqueuers = _enqueuers(trees)
    problems = []
    for path, tree in trees:
        from_jobs = _imported_from_jobs(tree)
        # Calls inside an enqueuer (nested functions too) may pass its own `topic` on: its
        # callers are checked instead.
        passing_on = {
            id(node)
            for function in _functions(tree)
            if _topic_position(function) is not None and function.name in enqueuers
            for node in ast.walk(function)
        }
        for call in ast.walk(tree):
            if not isinstance(call, ast.Call) or (name := _called_name(call)) not in enqueuers:
                continue
            topic = _topic_argument(call, enqueuers[name])
            if isinstance(topic, ast.Name):
                if topic.id == "topic" and id(call) in passing_on:
                    continue
                if topic.id in TOPIC_CONSTANTS:
                    if topic.id not in from_jobs:
                        problems.append(f"{_where(path, call)}: {topic.id} is not jobs.{topic.id}")
                    continue
            if isinstance(topic, ast.Attribute):
                owner = ast.unparse(topic.value)
                if owner == "jobs" and topic.attr in TOPIC_CONSTANTS:
                    continue
                # The running job's own topic (a job that re-enqueues itself to wait).
                if topic.attr == "topic" and owner in ("job", "ctx.job"):
                    continue
            described = ast.unparse(topic) if topic is not None else "no topic"
            problems.append(f"{_where(path, call)}: {name}({described}, …)")
    return sorted(problems, key=lambda p: (p.split(":")[0], int(p.split(":")[1])))


def test_every_enqueue_names_a_declared_topic() -> None:
    assert TOPIC_CONSTANTS, "app/services/workflow/jobs.py declares no topic"
    assert set(TOPIC_CONSTANTS.values()) == set(jobs.TOPICS)
    assert _undeclared_topics(list(_sources())) == []


def test_the_enqueue_check_finds_an_undeclared_topic() -> None:
    # The check above must be able to fail: a literal topic, a constant defined elsewhere, a
    # topic passed through a helper; and pass a constant of workflow/jobs.py.
    source = (
        "from app.services.workflow.jobs import PAYOUT_TOPIC\n"
        "RELEASE_TOPIC = 'money.release_milestone'\n"
        "async def later(ctx, topic, payload):\n"
        "    await enqueue(ctx.session, topic, payload, now=ctx.now)\n"
        "async def f(session, ctx, now):\n"
        "    await enqueue(session, 'money.nothing', {}, now=now)\n"
        "    await outbox.enqueue(session, RELEASE_TOPIC, {}, now=now)\n"
        "    await later(ctx, 'money.elsewhere', {})\n"
        "    await later(ctx, PAYOUT_TOPIC, {})\n"
        "    effect = enqueue_job(topic='money.effect')\n"
    )
    path = APP / "services" / "example.py"
    found = _undeclared_topics([(path, ast.parse(source))])
    assert found == [
        "app/services/example.py:6: enqueue('money.nothing', …)",
        "app/services/example.py:7: RELEASE_TOPIC is not jobs.RELEASE_TOPIC",
        "app/services/example.py:8: later('money.elsewhere', …)",
        "app/services/example.py:10: enqueue_job('money.effect', …)",
    ]


def test_each_topic_is_written_once() -> None:
    """A topic's string appears in app/ only where workflow/jobs.py defines it."""
    values = set(jobs.TOPICS)
    found = []
    for path, tree in _sources():
        if path == APP / "services" / "workflow" / "jobs.py":
            continue
        docstrings = {
            id(node.value)
            for node in ast.walk(tree)
            if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
        }
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and node.value in values:
                if id(node) not in docstrings:
                    found.append(f"{_where(path, node)}: {node.value!r}")
    assert found == []


def _unhandled(declared: Iterable[str], handlers: Mapping[str, Any]) -> list[str]:
    return sorted(t for t in declared if handlers.get(t) is None)


def test_every_declared_topic_has_a_handler_after_wire() -> None:
    wiring.wire()
    installed = {t: jobs.JOB_HANDLERS.get(t) for t in jobs.JOB_HANDLERS.topics()}
    assert _unhandled(jobs.TOPICS, installed) == []
    # …and nothing else: a handler for a topic nobody enqueues is dead code.
    assert set(installed) == set(jobs.TOPICS)
    assert installed == dict(wiring.JOB_HANDLERS)


def test_every_subscribed_stripe_event_type_has_a_real_handler_after_wire() -> None:
    wiring.wire()
    handlers = stripe_events.EVENT_HANDLERS
    assert _unhandled(stripe_events.SUBSCRIBED_EVENT_TYPES, handlers) == []
    # A handler for a type the endpoints do not subscribe to would never run.
    assert set(handlers) == set(stripe_events.SUBSCRIBED_EVENT_TYPES)
    assert handlers == dict(wiring.STRIPE_EVENT_HANDLERS)


def test_a_missing_handler_is_found() -> None:
    without_refunds = {
        t: h for t, h in wiring.JOB_HANDLERS.items() if t != jobs.REFUND_CONTRACT_TOPIC
    }
    assert _unhandled(jobs.TOPICS, without_refunds) == [jobs.REFUND_CONTRACT_TOPIC]
    without_payouts = {
        t: h for t, h in wiring.STRIPE_EVENT_HANDLERS.items() if t != "payout.failed"
    }
    assert _unhandled(stripe_events.SUBSCRIBED_EVENT_TYPES, without_payouts) == ["payout.failed"]


def _documented_types(heading: str) -> set[str]:
    text = (ROOT / "docs" / "payments.md").read_text()
    match = re.search(rf"\*\*{re.escape(heading)}\*\*(.*?)(?:\n\d+\. |\Z)", text, re.S)
    assert match is not None, heading
    return set(re.findall(r"`([a-z_]+(?:\.[a-z_]+)+)`", match.group(1)))


def test_the_docs_name_the_types_rapport_subscribes_to() -> None:
    platform = _documented_types("The platform endpoint")
    connect = _documented_types("The Connect endpoint")
    assert platform == stripe_events.PLATFORM_EVENT_TYPES
    assert connect == stripe_events.CONNECT_EVENT_TYPES


def test_wire_twice_installs_the_same() -> None:
    wiring.wire()
    first = (
        {t: jobs.JOB_HANDLERS.get(t) for t in jobs.JOB_HANDLERS.topics()},
        dict(stripe_events.EVENT_HANDLERS),
        list(stripe_events.ACCOUNT_UPDATED_HOOKS),
        list(briefs.CHANGE_HOOKS),
        dict(state_machine.MACHINES),
    )
    wiring.wire()
    second = (
        {t: jobs.JOB_HANDLERS.get(t) for t in jobs.JOB_HANDLERS.topics()},
        dict(stripe_events.EVENT_HANDLERS),
        list(stripe_events.ACCOUNT_UPDATED_HOOKS),
        list(briefs.CHANGE_HOOKS),
        dict(state_machine.MACHINES),
    )
    assert first == second
    assert first[2] == list(wiring.ACCOUNT_UPDATED_HOOKS)
    assert first[3] == list(wiring.BRIEF_CHANGE_HOOKS)


def _declared_machines() -> dict[str, StateMachine[Any]]:
    """Every state machine declared at the top of a module under app/services."""
    found: dict[str, StateMachine[Any]] = {}
    for module in pkgutil.walk_packages(app.services.__path__, "app.services."):
        loaded = importlib.import_module(module.name)
        for value in vars(loaded).values():
            if isinstance(value, StateMachine):
                found[value.kind] = value
    return found


def test_every_declared_machine_is_wired() -> None:
    declared = _declared_machines()
    listed = {m.kind: m for m in wiring.MACHINES}
    assert set(declared) - set(listed) == set(), "state machines missing from wiring.MACHINES"
    assert all(declared[kind] is listed[kind] for kind in declared)
    wiring.wire()
    assert all(state_machine.MACHINES[kind] is m for kind, m in listed.items())


def _imports(tree: ast.Module) -> Iterator[tuple[ast.AST, str]]:
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            yield node, node.module
        elif isinstance(node, ast.Import):
            for alias in node.names:
                yield node, alias.name


def test_services_import_neither_the_worker_nor_the_app() -> None:
    wrong = [
        f"{_where(path, node)}: {module}"
        for path, tree in _sources()
        if path.is_relative_to(APP / "services") or path.is_relative_to(APP / "worker")
        for node, module in _imports(tree)
        if module == "app.main"
        or (path.is_relative_to(APP / "services") and module.startswith("app.worker"))
    ]
    assert wrong == []


async def test_the_worker_process_handles_a_job_without_the_app(
    database: Database, settings: Settings
) -> None:
    """`rapport worker --once` in its own interpreter: it wires the handlers itself (never
    importing app.main) and processes a stored Stripe event with its real handler."""
    when = datetime(2001, 1, 1, tzinfo=UTC)  # long due, whatever the machine's clock says
    event = {
        "id": "evt_wiring_1",
        "object": "event",
        "type": "transfer.updated",
        "created": int(when.timestamp()),
        "livemode": False,
        "data": {"object": {"id": "tr_nobody", "object": "transfer"}},
    }
    async with database.sessionmaker() as session, session.begin():
        await stripe_events.record_event(session, event, when)

    env = {
        **os.environ,
        "RAPPORT_ENVIRONMENT": "test",
        "RAPPORT_DATABASE_URL": settings.database_url,
        "RAPPORT_LOG_LEVEL": "WARNING",
        "RAPPORT_DEMO_DATA": "false",
        "RAPPORT_EMBEDDED_WORKER": "false",
    }
    # `-X importtime` lists every module the process imports (on stderr).
    command = [sys.executable, "-X", "importtime", "-c", "from app.cli import cli; cli()"]
    done = await asyncio.to_thread(
        subprocess.run,
        [*command, "worker", "--once", "--concurrency", "1"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    imported = {
        line.rsplit("|", 1)[-1].strip()
        for line in done.stderr.splitlines()
        if line.startswith("import time:")
    }
    assert "app.worker.runner" in imported and "app.services.wiring" in imported
    assert "app.main" not in imported
    assert "'succeeded': 1" in done.stdout, done.stdout
    assert "0 OAuth codes, 0 OAuth tokens" in done.stdout, done.stdout

    async with database.sessionmaker() as session:
        stored = await session.scalar(
            select(StripeEvent).where(StripeEvent.stripe_event_id == "evt_wiring_1")
        )
        job = await session.scalar(select(Job).where(Job.topic == jobs.STRIPE_EVENT_TOPIC))
    assert job is not None and job.state == JobState.succeeded
    # The real handler (releases.transfer_updated) looked, not the "no handler" fallback.
    assert stored is not None and stored.outcome == StripeEventOutcome.ignored
    assert stored.note == "not a transfer Rapport recorded"
