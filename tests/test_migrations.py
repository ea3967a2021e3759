"""Migrations round-trip on the suite's backend, and match the models exactly."""

from __future__ import annotations

import asyncio

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import create_async_engine

from app.migrations_state import downgrade, head_revision, upgrade
from app.models import Base


async def _run(url, fn):
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(fn)
    finally:
        await engine.dispose()


def _tables(sync_conn):
    return set(inspect(sync_conn).get_table_names()) - {"alembic_version"}


def _diff(sync_conn):
    context = MigrationContext.configure(
        sync_conn, opts={"compare_type": True, "compare_server_default": True}
    )
    return compare_metadata(context, Base.metadata)


def _revision(sync_conn):
    return MigrationContext.configure(sync_conn).get_current_revision()


async def test_upgrade_downgrade_upgrade(scratch_database_url):
    url = scratch_database_url
    await asyncio.to_thread(upgrade, url)
    assert await _run(url, _tables) == set(Base.metadata.tables)
    assert await _run(url, _revision) == head_revision()
    await asyncio.to_thread(downgrade, url, "base")
    assert await _run(url, _tables) == set()
    await asyncio.to_thread(upgrade, url)
    assert await _run(url, _tables) == set(Base.metadata.tables)


async def test_models_and_migrations_do_not_differ(scratch_database_url):
    await asyncio.to_thread(upgrade, scratch_database_url)
    diff = await _run(scratch_database_url, _diff)
    assert diff == [], f"models differ from migrations; write a migration: {diff}"
