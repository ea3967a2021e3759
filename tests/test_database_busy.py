"""SQLite has one writer lock. When a request cannot get it within the busy timeout, the answer
is a retryable 503 problem and nothing changes — never a 500 (seen from outside: concurrent
sign-ups during a bulk load answered 500 "database is locked")."""

from __future__ import annotations

import sqlite3
from typing import Any

import pytest
from sqlalchemy import func, select

from app.main import create_app
from app.models import User
from tests.conftest import BACKEND

pytestmark = pytest.mark.skipif(
    BACKEND != "sqlite", reason="SQLite's single writer lock; PostgreSQL has row locks instead"
)


async def test_a_write_that_cannot_get_the_lock_is_a_503_and_changes_nothing(
    make_settings_for: Any, make_client: Any, database: Any, clock: Any
) -> None:
    settings = make_settings_for(sqlite_busy_timeout_ms=50)
    application = create_app(settings, clock=clock)
    path = settings.sqlite_path()
    holder = sqlite3.connect(path, isolation_level=None, timeout=5)
    try:
        holder.execute("BEGIN IMMEDIATE")  # another writer holds the lock throughout
        async with make_client(application) as client:
            response = await client.post(
                "/v1/auth/register",
                json={
                    "email": "busy@example.com",
                    "password": "a long passphrase",
                    "full_name": "B",
                },
            )
        assert response.status_code == 503, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.headers["retry-after"] == "1"
        assert response.json()["type"].endswith("/database-busy")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
        await application.state.resources.database.dispose()
    async with database.sessionmaker() as session:
        count = await session.scalar(
            select(func.count()).select_from(User).where(User.email == "busy@example.com")
        )
    assert count == 0
