"""The matching index's lifecycle (issue 16 item 2): a bulk load made behind its back (the seed
writes listings without the API) is taken in once, never re-read on every ranking; concurrent
callers share one build or refresh; the processes of a node map one generation of files (a
second process builds nothing), a rebuild swaps generations without disturbing a reader, and a
half-written generation is never read.

Real database (SQLite, or PostgreSQL with RAPPORT_TEST_BACKEND=postgresql), the real bulk
loader; what is counted is listings the ORM loaded (an event), not timings."""

from __future__ import annotations

import asyncio
import hashlib
import json
import shutil
import sys
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import delete, event, func, select, update

from app.models import Influencer
from app.services.matching.service import ListingIndexHolder
from app.services.matching.store import IndexStore
from rapport_dev import seed as generator
from rapport_dev.catalogue_load import catalogue_loader
from tests.conftest import BACKEND
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


async def test_listings_committed_late_or_deleted_are_seen(database, listings, loaded):
    """A listing committed with an `updated_at` older than the latest one (its transaction
    began before a newer write committed), or deleted, is in `listing_changes` (triggers)."""
    await _load(database, listings[:10], T0 + timedelta(minutes=5))
    holder = ListingIndexHolder()
    await _current(database, holder)
    await _load(database, listings[10:12], T0)  # older than the indexed ones
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


ANOTHER_PROCESS = """
import asyncio, sys
from sqlalchemy import text
from app.db import create_database
from app.settings import Settings

async def main() -> None:
    database = create_database(Settings(database_url=sys.argv[1]))
    async with database.engine.begin() as conn:
        await conn.execute(text("DELETE FROM influencers WHERE id = :id"), {"id": sys.argv[2]})
        await conn.execute(
            text("UPDATE social_accounts SET avg_likes = 12345 WHERE influencer_id = :id"),
            {"id": sys.argv[3]},
        )
    await database.dispose()

asyncio.run(main())
"""


async def test_a_deletion_and_an_account_change_by_another_process_are_seen(
    database, settings, listings, loaded
):
    """Another process deletes one listing and changes only an account of another (the
    listing's own row untouched: its `updated_at` did not move, so the index's old probe never
    saw that change). The next refresh removes the one and reads the other, and nothing else;
    nothing counts the listings."""
    await _load(database, listings[:10], T0)
    holder = ListingIndexHolder()
    await _current(database, holder)
    gone, changed = listings[3]["id"], listings[5]["id"]
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", ANOTHER_PROCESS, settings.database_url, gone, changed
    )
    assert await asyncio.wait_for(proc.wait(), timeout=120) == 0
    loaded.clear()
    index = await _current(database, holder)
    assert gone not in index and len(index) == 9 and loaded == [changed]
    loaded.clear()
    await _current(database, holder)
    assert loaded == [] and holder.builds == 1


@pytest.mark.skipif(BACKEND != "postgresql", reason="two writers at once: PostgreSQL's row locks")
async def test_a_write_committed_after_a_newer_one_is_seen(database, listings, loaded):
    """Transaction A writes listing 1 and commits only after transaction B has written listing
    2, committed, and a ranking has taken B's change in. A's change is older than B's (by
    `updated_at` and by sequence number) yet was not visible then: the index once missed it
    for good (its watermark had moved past it); now the probe asks from the oldest transaction
    still running at its last look, which was A."""
    await _load(database, listings[:10], T0)
    holder = ListingIndexHolder()
    await _current(database, holder)
    first, second = listings[1]["id"], listings[2]["id"]
    async with database.sessionmaker() as a, database.sessionmaker() as b:
        await a.execute(
            update(Influencer)
            .where(Influencer.id == first)
            .values(bio="first", updated_at=T0 + timedelta(minutes=1))
        )
        await b.execute(
            update(Influencer)
            .where(Influencer.id == second)
            .values(bio="second", updated_at=T0 + timedelta(minutes=2))
        )
        await b.commit()
        loaded.clear()
        await _current(database, holder)
        assert loaded == [second]
        await a.commit()
    loaded.clear()
    index = await _current(database, holder)
    assert loaded == [first] and len(index) == 10
    loaded.clear()
    await _current(database, holder)
    assert loaded == []


async def test_nothing_counts_the_listings_before_a_ranking(database, listings):
    """The probe reads `listing_changes` after the index's horizon: with nothing changed it
    finds no row, whatever the number of listings (the old probe counted them all)."""
    await _load(database, listings[:10], T0)
    holder = ListingIndexHolder()
    await _current(database, holder)
    statements: list[str] = []

    def before(conn, cursor, statement, *args) -> None:  # type: ignore[no-untyped-def]
        statements.append(statement)

    event.listen(database.engine.sync_engine, "before_cursor_execute", before)
    try:
        await _current(database, holder)
    finally:
        event.remove(database.engine.sync_engine, "before_cursor_execute", before)
    queries = [q for q in statements if not q.startswith("BEGIN")]  # SQLite's BEGIN IMMEDIATE
    assert len(queries) == 1 and "listing_changes" in queries[0]
    assert "influencers" not in queries[0] and "count(" not in queries[0].lower()
    async with database.sessionmaker() as session:
        probe = await holder.probe(session)
    assert probe.changes == ()


# --- the node's shared generations (app/services/matching/store.py) -------------------------

SECOND_PROCESS = """
import asyncio, json, sys
from datetime import date
from app.db import create_database
from app.services.matching.service import ListingIndexHolder
from app.services.matching.store import IndexStore
from app.settings import Settings

async def main() -> None:
    settings = Settings(database_url=sys.argv[1], matching_index_dir=sys.argv[2])
    database = create_database(settings)
    holder = ListingIndexHolder.for_settings(settings)
    async with database.sessionmaker() as session:
        index = await holder.current(session, date.fromisoformat(sys.argv[3]))
    with open("/proc/self/maps") as maps:
        mapped = [line.split()[-1] for line in maps if "/gen-" in line]
    await database.dispose()
    print(json.dumps({"builds": holder.builds, "generation": holder.generation,
                      "listings": len(index), "mapped": mapped}))

asyncio.run(main())
"""


def _store_holder(settings, root: Path, **kwargs) -> ListingIndexHolder:
    return ListingIndexHolder(store=IndexStore.for_database(root, settings.database_url), **kwargs)


def _files(directory: Path) -> dict[str, bytes]:
    return {p.name: hashlib.sha256(p.read_bytes()).digest() for p in sorted(directory.iterdir())}


async def test_a_second_process_maps_the_generation_instead_of_building(
    database, settings, listings, tmp_path
):
    await _load(database, listings[:30], T0)
    first = _store_holder(settings, tmp_path)
    index = await _current(database, first)
    assert first.builds == 1 and first.generation == "gen-00000001" and len(index) == 30
    generation = first.store.root / first.generation  # type: ignore[union-attr]
    assert isinstance(index.cols["authenticity"].base, np.memmap)  # mapped, not built arrays
    # A second app instance in this process, and a second process, map the same files.
    second = _store_holder(settings, tmp_path)
    again = await _current(database, second)
    assert second.builds == 0 and second.generation == first.generation and len(again) == 30
    for k, column in index.cols.items():
        assert np.array_equal(column, again.cols[k], equal_nan=True), k
    assert again.topic_names and again.topic_names == index.topic_names  # named in reasons
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        SECOND_PROCESS,
        settings.database_url,
        str(tmp_path),
        str(TODAY),
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), timeout=120)
    assert proc.returncode == 0
    other = json.loads(out)
    assert other["builds"] == 0 and other["generation"] == first.generation
    assert other["listings"] == 30
    assert {Path(p).parent for p in other["mapped"]} == {generation}


async def test_changes_stay_in_the_process_that_made_them(database, settings, listings, tmp_path):
    """An upsert writes into the mapped arrays copy-on-write: the files never change."""
    await _load(database, listings[:20], T0)
    holder = _store_holder(settings, tmp_path)
    await _current(database, holder)
    generation = holder.store.root / holder.generation  # type: ignore[union-attr]
    before = _files(generation)
    await _load(database, listings[20:23], T0 + timedelta(minutes=1))
    index = await _current(database, holder)
    assert len(index) == 23 and holder.builds == 1 and holder.generation == "gen-00000001"
    assert _files(generation) == before


async def test_a_rebuild_swaps_generations_under_a_reader(database, settings, listings, tmp_path):
    """A ranking holding generation 1 keeps it whole while another app writes generation 2;
    the holder moves to generation 2 on its next call."""
    await _load(database, listings[:10], T0)
    reader = _store_holder(settings, tmp_path)
    writer = _store_holder(settings, tmp_path, rebuild_above=5)
    async with database.sessionmaker() as session:
        async with reader.reading(session, TODAY) as index:
            await session.close()  # the share outlives the request's transaction (SQLite's lock)
            ids = sorted(index.row_of)
            await _load(database, listings[10:60], T0 + timedelta(minutes=1))
            assert len(await _current(database, writer)) == 60
            assert writer.generation == "gen-00000002" and writer.builds == 1
            # The reader's index is still generation 1, whole and readable.
            assert sorted(index.row_of) == ids and len(index) == 10
            assert np.isfinite(index.cols["authenticity"][: index.n]).all()
        index = await reader.current(session, TODAY)
    assert reader.generation == "gen-00000002" and len(index) == 60 and reader.builds == 1


async def test_a_half_written_generation_is_never_read(database, settings, listings, tmp_path):
    """A crash while writing leaves a .tmp directory (ignored, removed by the next writer); a
    generation whose files do not have the sizes its meta.json lists is not mapped either."""
    await _load(database, listings[:15], T0)
    holder = _store_holder(settings, tmp_path)
    await _current(database, holder)
    store = holder.store
    assert store is not None
    good = store.root / "gen-00000001"
    # A generation cut short: a copy of the good one with one array truncated, made CURRENT.
    broken = store.root / "gen-00000002"
    shutil.copytree(good, broken)
    meta = json.loads((broken / "meta.json").read_text())
    meta["number"] = 2
    (broken / "meta.json").write_text(json.dumps(meta))
    column = broken / "col.authenticity.npy"
    column.write_bytes(column.read_bytes()[:100])
    leftover = store.root / ".tmp-gen-00000003-999"
    leftover.mkdir()
    (leftover / "col.alive.npy").write_bytes(b"partial")
    (store.root / "CURRENT").write_text("gen-00000002")
    assert store.load("gen-00000002") is None
    fresh = _store_holder(settings, tmp_path)
    index = await _current(database, fresh)
    # It built and wrote a generation of its own rather than read the broken one.
    assert fresh.builds == 1 and fresh.generation == "gen-00000003" and len(index) == 15
    assert not leftover.exists() and store.current_name() == "gen-00000003"


async def test_an_unwritable_index_directory_falls_back_to_memory(
    database, settings, listings, tmp_path, caplog
):
    """The image's working directory belongs to root and the API runs as another user: with
    the default `var/matching-index` there, the first ranking failed creating the directory.
    Now the process says so once and builds its own index in memory."""
    await _load(database, listings[:10], T0)
    blocker = tmp_path / "a-file"
    blocker.write_text("")  # a directory below a file cannot be made, even by root
    with caplog.at_level("WARNING", logger="rapport.matching"):
        holder = ListingIndexHolder.for_settings(
            settings.model_copy(update={"matching_index_dir": str(blocker / "index")})
        )
    assert holder.store is None
    assert "is not writable" in caplog.text and "RAPPORT_MATCHING_INDEX_DIR" in caplog.text
    index = await _current(database, holder)
    assert len(index) == 10 and holder.builds == 1


async def test_rankings_run_off_the_loop_and_changes_wait_for_them(database, listings):
    """`run` ranks in a thread; an in-place change waits until the rankings holding the index
    (`reading`) are done, so a ranking never sees a half-applied upsert."""
    await _load(database, listings[:10], T0)
    holder = ListingIndexHolder()
    assert await holder.run(threading.get_ident) != threading.get_ident()
    async with database.sessionmaker() as session:
        async with holder.reading(session, TODAY) as index:
            await session.close()
            await _load(database, listings[10:12], T0 + timedelta(minutes=1))
            refresh = asyncio.ensure_future(_current(database, holder))
            for _ in range(20):
                await asyncio.sleep(0.01)
            assert not refresh.done() and len(index) == 10 and index.n == 10
        assert len(await refresh) == 12
    holder.close()
