"""The matching index's lifecycle (issue 16 item 2): a bulk load made behind its back (the seed
writes listings without the API) is taken in once, never re-read on every ranking; concurrent
callers share one build or refresh.

Real database (SQLite, or PostgreSQL with RAPPORT_TEST_BACKEND=postgresql), the real bulk
loader; what is counted is listings the ORM loaded (an event), not timings."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import delete, event, func, select

from app.models import Influencer
from app.services.matching.service import ListingIndexHolder
from rapport_dev import seed as generator
from rapport_dev.catalogue_load import catalogue_loader
from tests.factories import T0

TODAY = T0.date()


@pytest.fixture(scope="module")
def listings() -> list[dict]:
    return list(generator.generate_marketplace(60, 3, 2, 11, now=TODAY).listings)


@pytest.fixture
def loaded() -> Iterator[list[str]]:
    """Ids of the listings the ORM loads while the test runs."""
    seen: list[str] = []

    def on_load(target: Influencer, _context: object) -> None:
        seen.append(target.id)

    event.listen(Influencer, "load", on_load)
    try:
        yield seen
    finally:
        event.remove(Influencer, "load", on_load)


async def _load(database, docs, when) -> None:
    async with catalogue_loader(database.engine, now=when) as loader:
        await loader.add_listings(docs)


async def _current(database, holder: ListingIndexHolder):
    async with database.sessionmaker() as session:
        return await holder.current(session, TODAY)


async def test_a_bulk_load_behind_the_index_is_read_once(database, listings, loaded):
    """`rapport seed` writes every listing with one `updated_at`; the index once read all of
    them again before every ranking until a listing was written through the API."""
    await _load(database, listings[:10], T0)
    holder = ListingIndexHolder()
    index = await _current(database, holder)
    assert len(index) == 10 and holder.builds == 1
    await _load(database, listings[10:40], T0 + timedelta(minutes=1))
    loaded.clear()
    index = await _current(database, holder)
    assert len(index) == 40 and sorted(loaded) == sorted(d["id"] for d in listings[10:40])
    loaded.clear()
    for _ in range(5):
        index = await _current(database, holder)
    assert loaded == [] and len(index) == 40 and holder.builds == 1


async def test_concurrent_callers_share_one_refresh(database, listings, loaded):
    await _load(database, listings[:10], T0)
    holder = ListingIndexHolder()
    await _current(database, holder)
    await _load(database, listings[10:30], T0 + timedelta(minutes=1))
    loaded.clear()
    found = await asyncio.gather(*(_current(database, holder) for _ in range(16)))
    assert {len(index) for index in found} == {30}
    # Each new listing read once (not once per caller), and no rebuild.
    assert sorted(loaded) == sorted(d["id"] for d in listings[10:30]) and holder.builds == 1


async def test_concurrent_callers_share_one_build(database, listings):
    """A change set above the threshold is one rebuild, which 16 callers wait for together."""
    await _load(database, listings[:10], T0)
    holder = ListingIndexHolder(rebuild_above=5)
    found = await asyncio.gather(*(_current(database, holder) for _ in range(16)))
    assert {len(index) for index in found} == {10} and holder.builds == 1
    await _load(database, listings[10:60], T0 + timedelta(minutes=1))
    found = await asyncio.gather(*(_current(database, holder) for _ in range(16)))
    assert {len(index) for index in found} == {60} and holder.builds == 2
    assert len({id(index) for index in found}) == 1


async def test_listings_committed_late_or_deleted_are_reconciled(database, listings, loaded):
    """A listing committed with an `updated_at` older than the watermark (its transaction
    began before a newer write committed), or deleted, shows in the count: ids are compared."""
    await _load(database, listings[:10], T0 + timedelta(minutes=5))
    holder = ListingIndexHolder()
    await _current(database, holder)
    await _load(database, listings[10:12], T0)  # older than the watermark
    async with database.sessionmaker() as session, session.begin():
        await session.execute(delete(Influencer).where(Influencer.id == listings[0]["id"]))
    loaded.clear()
    index = await _current(database, holder)
    assert sorted(loaded) == sorted(d["id"] for d in listings[10:12])
    assert listings[0]["id"] not in index and listings[10]["id"] in index and len(index) == 11
    async with database.sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(Influencer)) == 11
    loaded.clear()
    await _current(database, holder)
    assert loaded == [] and holder.builds == 1
