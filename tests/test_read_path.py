"""The read path made cheap for `make bench-api` (benchmarks/api/README.md) stays correct.

- The pool does not ping a connection before every checkout: a connection that died in the pool
  (the database restarted, a proxy dropped it) costs one request a retryable 503 problem — never
  a 500 — and the next request is served on a fresh connection.
- The brief reads (`@reads_only`) run without a transaction on PostgreSQL (no `BEGIN`/`COMMIT`
  round trips), the other routes keep theirs, and the read-only session refuses to write.
- `RAPPORT_ACCESS_LOG` turns the access log's line per request on, off, or to a sample.
- JSON columns are decoded by orjson where it reads exactly what the json module reads, by json
  elsewhere; the brief reads answer from rows (no ORM entity) what the entity would answer.
"""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from app.main import create_app
from app.models import Brand
from app.settings import Settings
from tests.conftest import BACKEND
from tests.factories import (
    assert_problem,
    create_brand,
    create_brief,
    create_listing,
    register,
)

postgresql_only = pytest.mark.skipif(
    BACKEND != "postgresql", reason="server-side connections that can be terminated"
)


@postgresql_only
async def test_a_pooled_connection_that_died_is_a_503_once_then_served(
    client: httpx.AsyncClient, database: Any
) -> None:
    account = await register(client)
    assert (await client.get("/v1/me", headers=account.headers)).status_code == 200
    # The server ends every connection of the app's pool, as a restart would; this connection,
    # outside the pool, does it. Only this pool's: ending every connection of the database also
    # ended the other session apps' pooled ones, and a later test's first request was a 503.
    pool: Any = database.engine.sync_engine.pool
    pids = [
        record.dbapi_connection.driver_connection.get_server_pid()
        for record in list(pool._pool._queue._queue)  # asyncio.Queue of the idle records
        if record.dbapi_connection is not None
    ]
    admin = create_async_engine(database.engine.url, poolclass=NullPool)
    try:
        async with admin.connect() as conn:
            ended = await conn.scalar(
                text(
                    "SELECT count(pg_terminate_backend(pid)) FROM unnest(CAST(:pids AS int[])) pid"
                ),
                {"pids": pids},
            )
    finally:
        await admin.dispose()
    assert ended >= 1

    lost = await client.get("/v1/me", headers=account.headers)
    assert_problem(lost, 503, "service-unavailable")
    assert lost.headers["retry-after"] == "1"

    again = await client.get("/v1/me", headers=account.headers)
    assert again.status_code == 200, again.text
    assert again.json()["id"] == account.id


@postgresql_only
async def test_brief_reads_run_without_a_transaction_other_routes_keep_theirs(
    client: httpx.AsyncClient, database: Any
) -> None:
    owner = await register(client)
    brand = await create_brand(client, owner)
    brief = await create_brief(client, owner, brand["id"], state="open")
    reader = await register(client)
    in_transaction: list[bool] = []

    def _seen(conn: Any, *_args: Any) -> None:
        # The asyncpg connection's own view: inside a transaction block or not.
        in_transaction.append(conn.connection.dbapi_connection._connection.is_in_transaction())

    event.listen(database.engine.sync_engine, "after_cursor_execute", _seen)
    try:
        one = await client.get(f"/v1/briefs/{brief['id']}", headers=reader.headers)
        listed = await client.get("/v1/briefs", headers=reader.headers)
        reads = list(in_transaction)
        in_transaction.clear()
        me = await client.get("/v1/me", headers=reader.headers)
    finally:
        event.remove(database.engine.sync_engine, "after_cursor_execute", _seen)
    assert one.status_code == 200, one.text
    assert one.json()["id"] == brief["id"]
    assert listed.status_code == 200, listed.text
    assert [b["id"] for b in listed.json()["data"]] == [brief["id"]]
    assert reads and not any(reads), reads  # the account, the brief; the account, the page
    assert me.status_code == 200, me.text
    assert in_transaction and all(in_transaction), in_transaction


@postgresql_only
async def test_matches_run_without_a_transaction_on_the_primary(
    client: httpx.AsyncClient, database: Any
) -> None:
    """`GET /v1/briefs/{id}/matches` only reads: no `BEGIN`/`COMMIT` round trips (issue 13 item
    6); the index's refresh reads rows too (a listing created since the last ranking)."""
    owner = await register(client)
    brand = await create_brand(client, owner)
    brief = await create_brief(client, owner, brand["id"], state="open")
    path = f"/v1/briefs/{brief['id']}/matches"
    assert (await client.get(path, headers=owner.headers)).status_code == 200
    listing = await create_listing(client, await register(client))
    in_transaction: list[bool] = []

    def _seen(conn: Any, *_args: Any) -> None:
        in_transaction.append(conn.connection.dbapi_connection._connection.is_in_transaction())

    event.listen(database.engine.sync_engine, "after_cursor_execute", _seen)
    try:
        r = await client.get(path, headers=owner.headers)
    finally:
        event.remove(database.engine.sync_engine, "after_cursor_execute", _seen)
    assert r.status_code == 200, r.text
    assert [m["listing_id"] for m in r.json()["data"]] == [listing["id"]]
    assert in_transaction and not any(in_transaction), in_transaction


@postgresql_only
async def test_the_read_only_session_refuses_to_write(database: Any) -> None:
    assert database.read_sessionmaker is not None
    async with database.read_sessionmaker() as session:
        session.add(Brand(name="Never"))
        with pytest.raises(RuntimeError, match="reads_only"):
            await session.flush()


def test_access_log_setting_is_on_off_or_a_fraction() -> None:
    assert Settings(access_log="on").access_log_fraction == 1.0
    assert Settings(access_log="off").access_log_fraction == 0.0
    assert Settings(access_log="0.01").access_log_fraction == 0.01
    for wrong in ("sometimes", "1.5", "-0.1"):
        with pytest.raises(ValueError, match="RAPPORT_ACCESS_LOG"):
            Settings(access_log=wrong)


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.mark.parametrize(
    ("setting", "low", "high"), [("on", 60, 60), ("off", 0, 0), ("0.5", 12, 48)]
)
async def test_access_log_writes_every_line_none_or_a_sample(
    setting: str, low: int, high: int, make_settings_for: Any, make_client: Any, clock: Any
) -> None:
    root_level = logging.getLogger().level
    application = create_app(make_settings_for(access_log=setting, log_level="INFO"), clock=clock)
    lines = _Lines()
    logger = logging.getLogger("rapport.access")
    logger.addHandler(lines)
    try:
        async with make_client(application) as client:
            for _ in range(60):
                assert (await client.get("/healthz")).status_code == 200
    finally:
        logger.removeHandler(lines)
        logging.getLogger().setLevel(root_level)
        await application.state.resources.database.dispose()
    assert low <= len(lines.records) <= high
    assert all(r.__dict__["path"] == "/healthz" for r in lines.records)


@pytest.mark.parametrize(
    "document",
    [
        '{"a": [1, 2.5, "x", null, true], "b": {"c": -3}}',
        "9223372036854775807",
        "18446744073709551615",
        "18446744073709551616",  # orjson: a float
        "-9223372036854775809",  # orjson: a float
        '{"id": "inf_1234567890123456789012"}',
        "[1e400, -1e400]",  # orjson refuses
        "NaN",  # orjson refuses
        '"\\ud800"',  # a lone surrogate: orjson refuses
        "1.7976931348623157e308",
        "0.1",
    ],
)
def test_json_columns_read_what_the_json_module_reads(document: str) -> None:
    import json
    import math

    from app.models.base import read_json

    expected, got = json.loads(document), read_json(document)
    assert repr(got) == repr(expected) and type(got) is type(expected)
    if isinstance(expected, float) and math.isnan(expected):
        assert math.isnan(got)


async def test_a_brief_read_as_a_row_answers_what_its_entity_answers(
    client: httpx.AsyncClient, database: Any
) -> None:
    from app.routers.briefs import _out
    from app.services.catalogue import briefs as service

    owner = await register(client)
    brand = await create_brand(client, owner)
    brief = await create_brief(client, owner, brand["id"])
    listed = await client.get("/v1/briefs", headers=owner.headers)
    shown = await client.get(f"/v1/briefs/{brief['id']}", headers=owner.headers)
    assert shown.json() == brief and listed.json()["data"] == [brief]
    async with database.sessionmaker() as session:
        entity = await service.get_brief(session, owner.id, brief["id"])
        row = await service.read_brief(session, owner.id, brief["id"])
        assert _out(row) == _out(entity)
