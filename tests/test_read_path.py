"""The read path made cheap for `make bench-api` (benchmarks/api/README.md) stays correct.

- The pool does not ping a connection before every checkout: a connection that died in the pool
  (the database restarted, a proxy dropped it) costs one request a retryable 503 problem — never
  a 500 — and the next request is served on a fresh connection.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from tests.conftest import BACKEND
from tests.factories import assert_problem, register

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
    # outside the pool, does it.
    admin = create_async_engine(database.engine.url, poolclass=NullPool)
    try:
        async with admin.connect() as conn:
            ended = await conn.scalar(
                text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
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
