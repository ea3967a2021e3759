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


def _brief_rows(sync_conn):
    from sqlalchemy import text

    return sync_conn.execute(text("SELECT id, platform_coverage FROM briefs ORDER BY id")).all()


async def test_0024_gives_existing_briefs_platform_coverage_preferred(scratch_database_url):
    """Briefs written before `platform_coverage` existed read `preferred` (today's ranking)
    after the migration; the column takes only the three values; the downgrade removes it."""
    from datetime import UTC, date, datetime

    from sqlalchemy import text
    from sqlalchemy.exc import IntegrityError

    url = scratch_database_url
    await asyncio.to_thread(upgrade, url, "0023")
    engine = create_async_engine(url)
    at = datetime(2026, 11, 24, 10, tzinfo=UTC)
    day = date(2026, 12, 10)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO brands (id, name, created_at, updated_at) "
                    "VALUES ('brd_old', 'Oatly', :at, :at)"
                ),
                {"at": at},
            )
            await conn.execute(
                text(
                    "INSERT INTO briefs (id, brand_id, state, version, title, objective, "
                    "description, must_haves, target_audience, topics, platforms, deliverables, "
                    "currency, budget_total, per_influencer_min, per_influencer_max, "
                    "application_deadline, content_due, publish_start, publish_end, "
                    "terms_defaults, kpis, visibility, search_text, created_at, updated_at) "
                    "VALUES ('brf_old', 'brd_old', 'open', 1, 'Old', 'awareness', '', '[]', "
                    "'{}', '[]', '[\"youtube\", \"podcast\"]', '[]', 'EUR', 1000, 10, 100, "
                    ":day, :day, :day, :day, '{}', '[]', 'public', '', :at, :at)"
                ),
                {"at": at, "day": day},
            )
    finally:
        await engine.dispose()
    await asyncio.to_thread(upgrade, url)
    assert await _run(url, _brief_rows) == [("brf_old", "preferred")]
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                text("UPDATE briefs SET platform_coverage = 'alternatives' WHERE id = 'brf_old'")
            )
        try:
            async with engine.begin() as conn:
                await conn.execute(
                    text("UPDATE briefs SET platform_coverage = 'sometimes' WHERE id = 'brf_old'")
                )
        except IntegrityError:
            pass
        else:
            raise AssertionError("an unknown platform_coverage was stored")
    finally:
        await engine.dispose()
    assert await _run(url, _brief_rows) == [("brf_old", "alternatives")]
    await asyncio.to_thread(downgrade, url, "0023")
    columns = await _run(url, lambda c: {col["name"] for col in inspect(c).get_columns("briefs")})
    assert "platform_coverage" not in columns and "match_weights" in columns
    await asyncio.to_thread(upgrade, url)
    assert await _run(url, _brief_rows) == [("brf_old", "preferred")]
