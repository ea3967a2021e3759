"""The suite's reset between tests (tests/conftest.py `empty_tables`): it empties every table of
the migrated database and restarts generated ids, so no test sees another test's rows."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import func, inspect, select, table, text

from app.db import Database
from app.models import IdempotencyRecord
from tests.conftest import RESET_TABLES, empty_tables
from tests.factories import T0, active_contract, create_brief, create_listing, register


async def _database_tables(database: Database) -> set[str]:
    async with database.engine.connect() as conn:
        names = await conn.run_sync(lambda sync: inspect(sync).get_table_names())
    return set(names) - {"alembic_version"}


async def _row_counts(database: Database) -> dict[str, int]:
    async with database.engine.connect() as conn:
        return {
            name: (await conn.execute(select(func.count()).select_from(table(name)))).scalar_one()
            for name in sorted(await _database_tables(database))
        }


def _non_empty(counts: dict[str, int]) -> dict[str, int]:
    # `listing_changes` keeps the deletions the reset itself logs (tests/conftest.py): tombstones
    # of listings no longer there, which `_no_listing_but_tombstones` checks.
    return {name: count for name, count in counts.items() if count and name != "listing_changes"}


async def _no_listing_but_tombstones(database: Database) -> None:
    async with database.engine.connect() as conn:
        live = await conn.scalar(
            text("SELECT count(*) FROM listing_changes c JOIN influencers i ON i.id = c.listing_id")
        )
    assert live == 0


async def _new_idempotency_record_id(database: Database) -> int:
    record = IdempotencyRecord(
        scope="test-isolation",
        key="k",
        fingerprint="f" * 64,
        state="done",
        locked_until=T0,
        expires_at=T0 + timedelta(days=1),
    )
    async with database.sessionmaker() as session, session.begin():
        session.add(record)
        await session.flush()
        return record.id


async def test_the_reset_names_every_table_the_migrations_create(database: Database) -> None:
    # A table created by a migration but missing from the models would keep its rows between
    # tests: the reset's list must be exactly the database's tables.
    assert set(RESET_TABLES) == await _database_tables(database)
    assert len(RESET_TABLES) == len(set(RESET_TABLES))


async def test_the_reset_empties_every_table_and_restarts_ids(
    client: httpx.AsyncClient, app: Any, database: Database
) -> None:
    # Every test before this one was followed by a reset: the table starts empty at id 1.
    assert _non_empty(await _row_counts(database)) == {}
    assert await _new_idempotency_record_id(database) == 1
    deal, _ = await active_contract(client, app)
    await create_listing(client, await register(client))
    await create_brief(client, deal.brand_owner, deal.brand["id"])
    filled = _non_empty(await _row_counts(database))
    assert len(filled) >= 10, filled  # the reset below has real rows to remove

    await empty_tables(database)

    assert _non_empty(await _row_counts(database)) == {}
    await _no_listing_but_tombstones(database)
    assert await _new_idempotency_record_id(database) == 1


async def test_the_reset_leaves_the_schema_usable(database: Database) -> None:
    # Foreign keys stay on (SQLite) and nothing is left mid-transaction after a reset.
    await empty_tables(database)
    async with database.engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            assert (await conn.execute(text("PRAGMA foreign_keys"))).scalar_one() == 1
    assert await _new_idempotency_record_id(database) == 1
