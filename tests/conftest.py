"""Test fixtures: a real database per run (SQLite file, or a fresh PostgreSQL database), migrated
with Alembic, emptied after every test; the app over real ASGI; a frozen, movable clock.

Backend: `RAPPORT_TEST_BACKEND=postgresql` runs the suite on PostgreSQL (a database created for
the run and dropped after it; server from `RAPPORT_TEST_POSTGRES_URL`). Under `CI=true` an
unreachable PostgreSQL fails the run instead of skipping it.
"""

from __future__ import annotations

import asyncio
import atexit
import os
import secrets
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from app.clock import Clock
from app.db import Database, create_database
from app.main import create_app
from app.migrations_state import upgrade
from app.models import Base
from app.settings import Settings
from tests.factories import T0

# Stripe fixtures (the sandbox, an app pointed at it, served by uvicorn): tests/stripe_support.py
pytest_plugins = [
    "tests.stripe_support",
    "tests.money_support",
    # `generated`: a client generated from openapi/openapi.json (tests/generated_client_support.py)
    "tests.generated_client_support",
]

BACKEND = os.environ.get("RAPPORT_TEST_BACKEND", "sqlite")
POSTGRES_SERVER = os.environ.get(
    "RAPPORT_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
)
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
# Where the apps of this run write the matching index's generations (removed at exit).
MATCHING_INDEX_DIR = Path(tempfile.mkdtemp(prefix="rapport-matching-"))
atexit.register(shutil.rmtree, MATCHING_INDEX_DIR, ignore_errors=True)


# The longest files (each over 20 s on PostgreSQL): under pytest-xdist (`make test` runs
# `-n 2 --dist loadfile --no-loadscope-reorder`) files are handed to the workers in collection
# order, so these go first and the run does not end with one worker alone on one of them. Order
# only: a file missing from this list still runs.
LONGEST_FILES = (
    "test_schemathesis.py",
    "test_deployment.py",
    "test_money_event_order.py",
    "test_cli.py",
    "test_partner_onboarding.py",
    "test_serve_restart.py",
    "test_idempotency.py",
    "test_ledger.py",
    "test_authorization_matrix.py",
    "test_openapi.py",
    "test_browser_docs.py",
    "test_generated_client.py",
)


def pytest_report_header(config: pytest.Config) -> str:
    return f"rapport database backend: {BACKEND}"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if hasattr(config, "workerinput"):  # a pytest-xdist worker
        items.sort(key=lambda item: item.path.name not in LONGEST_FILES)  # stable: files whole


async def _admin(sql: str) -> None:
    engine = create_async_engine(POSTGRES_SERVER, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(sql))
    finally:
        await engine.dispose()


def _postgres_unreachable(exc: Exception) -> None:
    message = f"PostgreSQL at {POSTGRES_SERVER} is unreachable: {exc}"
    if IN_CI:
        pytest.exit(message + " (CI=true: this is a failure)", returncode=3)
    pytest.exit(message + " — the PostgreSQL suite is SKIPPED", returncode=0)


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    """Check PostgreSQL once, before any pytest-xdist worker starts: a worker's pytest.exit is
    an internal error to xdist, not the one-line skip (or CI failure) it is here."""
    if BACKEND == "postgresql" and not hasattr(session.config, "workerinput"):
        try:
            asyncio.run(_admin("SELECT 1"))
        except Exception as exc:
            _postgres_unreachable(exc)


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    if BACKEND == "sqlite":
        with tempfile.TemporaryDirectory(prefix="rapport-test-") as tmp:
            url = f"sqlite+aiosqlite:///{Path(tmp) / 'test.db'}"
            upgrade(url)
            yield url
        return
    if BACKEND != "postgresql":
        raise pytest.UsageError(f"unknown RAPPORT_TEST_BACKEND={BACKEND!r}")
    name = f"rapport_test_{secrets.token_hex(4)}"
    try:
        asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        _postgres_unreachable(exc)
    url = POSTGRES_SERVER.rsplit("/", 1)[0] + "/" + name
    try:
        upgrade(url)
        yield url
    finally:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def make_settings(database_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "environment": "test",
        "database_url": database_url,
        # Cheap hashing keeps the suite fast; production parameters are the defaults.
        "password_time_cost": 1,
        "password_memory_cost_kib": 1024,
        "password_parallelism": 1,
        "log_level": "WARNING",
        "demo_data": False,
        # The matching index's generation files: one directory per run, not the worktree's var/.
        "matching_index_dir": str(MATCHING_INDEX_DIR),
        # Load tests drive one credential hard; tests/test_rate_limits.py sets its own plans.
        "rate_limit_plans": {"standard": "100000/minute", "partner": "100000/minute"},
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture(scope="session")
def settings(database_url: str) -> Settings:
    return make_settings(database_url)


@pytest.fixture(scope="session")
def clock() -> Clock:
    return Clock(frozen_at=T0)


@pytest.fixture(autouse=True)
def _reset_clock(clock: Clock) -> None:
    clock.freeze(T0)


@pytest.fixture(scope="session")
async def app(settings: Settings, clock: Clock) -> AsyncIterator[Any]:
    application = create_app(settings, clock=clock)
    yield application
    await application.state.resources.database.dispose()


@pytest.fixture(scope="session")
async def database(app: Any) -> Database:
    return app.state.resources.database


# Every table of the schema, children first (the order DELETE needs with foreign keys on).
RESET_TABLES = [t.name for t in reversed(Base.metadata.sorted_tables)]
# All but `listing_changes`: deleting the listings logs their deletion there (its triggers), as
# any deletion behind the app's back would be, and the session's apps drop them from their
# matching index at their next ranking, which may come tests later. Emptied, the log would lose
# those tombstones and the apps' indexes would keep earlier tests' listings.
_CHANGE_LOG = "listing_changes"
_DELETES = "; ".join(f'DELETE FROM "{t}"' for t in RESET_TABLES if t != _CHANGE_LOG)
# What TRUNCATE ... RESTART IDENTITY did for the identity/serial columns: next value is the start.
# Not the change log's: its tombstones keep their numbers.
_RESTART_SEQUENCES = (
    "SELECT setval(s.seqrelid, s.seqstart, false) FROM pg_sequence s JOIN pg_depend d"
    " ON d.classid = 'pg_class'::regclass AND d.objid = s.seqrelid AND d.deptype IN ('a', 'i')"
    f" WHERE d.refobjid <> '{_CHANGE_LOG}'::regclass"
)


async def empty_tables(database: Database) -> None:
    """Delete every row of every table (tests/test_isolation.py proves none is missed) but the
    tombstones of `listing_changes`.

    One script, one round trip and one transaction. DELETE, not TRUNCATE: on PostgreSQL a
    TRUNCATE of the 64 tables cost ≈ 1 s (it swaps every table's files), DELETE of the few rows a
    test wrote ≈ 5 ms; on SQLite one script halves 64 separate statements."""
    async with database.engine.connect() as conn:
        driver = (await conn.get_raw_connection()).driver_connection
        if conn.dialect.name == "postgresql":
            # asyncpg runs a script without arguments as one implicit transaction.
            await driver.execute(f"{_DELETES}; {_RESTART_SEQUENCES}")
        else:
            await driver.executescript(f"BEGIN IMMEDIATE; {_DELETES}; COMMIT")


@pytest.fixture(autouse=True)
async def _isolated(request: pytest.FixtureRequest) -> AsyncIterator[None]:
    """Every test that touches the database starts from empty tables."""
    yield
    if "database" in request.fixturenames or "client" in request.fixturenames:
        await empty_tables(request.getfixturevalue("database"))
        # The session's apps count rate limits in memory: every test starts with full quotas
        # (sign-ins too: without this, the 31st sign-in of a run from the test IP was a 429).
        for name in ("app", "stripe_app"):
            if name in request.fixturenames:
                application = request.getfixturevalue(name)
                await application.state.resources.identity.rate_limiter.reset()


@pytest.fixture
async def client(app: Any, database: Database) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=("203.0.113.10", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://rapport.test") as c:
        yield c


@pytest.fixture
def make_client(app: Any, database: Database) -> Any:
    """Clients for other apps (other settings) or other client IPs."""

    def _make(application: Any = None, ip: str = "203.0.113.10") -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=application or app, client=(ip, 50000))
        return httpx.AsyncClient(transport=transport, base_url="http://rapport.test")

    return _make


@pytest.fixture
def make_settings_for(database_url: str) -> Any:
    def _make(**overrides: Any) -> Settings:
        return make_settings(overrides.pop("database_url", database_url), **overrides)

    return _make


@pytest.fixture
def database_factory() -> Any:
    return create_database


@contextmanager
def scratch_database(folder: Path, prefix: str) -> Iterator[str]:
    """An empty database of the suite's backend (a file in `folder`, or a PostgreSQL database
    named `<prefix>_<random>`), dropped after the context."""
    if BACKEND == "sqlite":
        yield f"sqlite+aiosqlite:///{folder / 'rapport.db'}"
        return
    name = f"{prefix}_{secrets.token_hex(4)}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    try:
        yield POSTGRES_SERVER.rsplit("/", 1)[0] + "/" + name
    finally:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def scratch_database_url(tmp_path: Path) -> Iterator[str]:
    """An empty database of the current backend, dropped after the test."""
    with scratch_database(tmp_path, "rapport_scratch") as url:
        yield url
