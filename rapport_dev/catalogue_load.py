"""Bulk loader for catalogue documents (listings, brands, briefs in the shapes of
docs/design/catalogue-shapes.md, with their ids) — what `rapport seed` writes with.

It bypasses the API on purpose (a million listings through HTTP would take hours) but not the
catalogue's rules: every derived column and side-table row comes from
`services.catalogue.search_columns`, exactly as the API computes them, and the tests check that the
generator's documents pass the API's validation.

- PostgreSQL: rows stream through asyncpg's binary `COPY … FROM STDIN`
  (`copy_records_to_table`) on the SQLAlchemy connection's driver connection; building the next
  batch's rows (and generating it, when the caller's iterator is a generator) runs in a worker
  thread while the current batch is copied, so Python and the server work at the same time.
  With `bulk=True` (large seeds) the listing tables' foreign keys, unique constraints,
  secondary indexes and (but for `influencers`, which other tables reference) primary keys are
  dropped first and re-created after the last row — one sort per index
  and one anti-join per foreign key instead of a B-tree insert and a trigger per row, PostgreSQL's
  own advice for populating a database. Uniqueness and references are still checked, once, at
  the end (a duplicate handle fails the whole load). The DDL locks those tables until commit.
- SQLite: batched Core `insert()` executemany.

Everything loads in ONE transaction: a failed seed leaves nothing behind.
Seeded listings have no user account (`user_id` null); seeded brands have no members.
`created_at` is the time encoded in the document's ULID id, so creation order is meaningful.
"""

from __future__ import annotations

import asyncio
import gc
import multiprocessing
import queue
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import orjson
from asyncpg.exceptions import IntegrityConstraintViolationError
from sqlalchemy import Table, UniqueConstraint, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.schema import (
    AddConstraint,
    CreateIndex,
    DropConstraint,
    DropIndex,
    ExecutableDDLElement,
)

from app.clock import utcnow
from app.ids import _ALPHABET
from app.models import (
    Brand,
    Brief,
    BriefCountry,
    BriefDeliverableType,
    BriefPlatform,
    BriefTopic,
    Influencer,
    ListingCountry,
    ListingRate,
    ListingTopic,
    SocialAccount,
)
from app.services.catalogue.search_columns import (
    as_date,
    brief_search_text,
    brief_side_rows,
    listing_country_rows,
    listing_derived,
    listing_rate_rows,
    listing_topic_rows,
)

SQLITE_BATCH = 2_000  # rows per executemany on SQLite


class LoadConflict(Exception):
    """The documents clash with rows already there (or with each other): a duplicate id or
    handle, a dangling reference. Nothing was loaded."""


@dataclass
class LoadCounts:
    listings: int = 0
    accounts: int = 0
    brands: int = 0
    briefs: int = 0
    rows: dict[str, int] = field(default_factory=dict)

    def add(self, table: str, n: int) -> None:
        self.rows[table] = self.rows.get(table, 0) + n


def ulid_time(public_id: str) -> datetime:
    """The creation time encoded in a prefixed ULID id (`inf_01J…`)."""
    body = public_id.partition("_")[2]
    ms = 0
    for char in body[:10]:
        ms = ms * 32 + _ALPHABET.index(char)
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


# --- documents → rows (dicts of Python values, keyed by column) ---------------------------------


@dataclass
class Rows:
    """Rows for several tables, in insertion order (parents first)."""

    tables: dict[Table, list[dict[str, Any]]] = field(default_factory=dict)

    def extend(self, table: Table, rows: Iterable[dict[str, Any]]) -> None:
        self.tables.setdefault(table, []).extend(rows)


def listing_rows(listings: Sequence[Mapping[str, Any]], now: datetime) -> Rows:
    rows = Rows()
    influencers, accounts, topics, countries, rates = [], [], [], [], []
    for doc in listings:
        listing_id = doc["id"]
        created = ulid_time(listing_id)
        until = doc.get("unavailable_until")
        influencers.append(
            {
                "id": listing_id,
                "user_id": None,
                "display_name": doc["display_name"],
                "bio": doc.get("bio", ""),
                "country": doc.get("country"),
                "languages": doc.get("languages", []),
                "topics": doc.get("topics", []),
                "content_samples": doc.get("content_samples", []),
                "values": doc.get("values", []),
                "refused_categories": doc.get("refused_categories", []),
                "available": bool(doc.get("available", True)),
                "unavailable_until": as_date(until) if until else None,
                "audience": doc.get("audience", {}),
                "sponsored_posts": doc.get("sponsored_posts", []),
                "rate_card": doc.get("rate_card", []),
                **listing_derived(doc, doc.get("accounts", [])),
                "created_at": created,
                "updated_at": now,
            }
        )
        for position, account in enumerate(doc.get("accounts", [])):
            accounts.append(
                {
                    "id": account["id"],
                    "influencer_id": listing_id,
                    "platform": account["platform"],
                    "position": position,
                    "handle": account["handle"],
                    "handle_key": account["handle"].lower(),
                    "url": account["url"],
                    "followers": account["followers"],
                    # An average left out is unknown (null), not 0.
                    "avg_views": account.get("avg_views"),
                    "avg_likes": account.get("avg_likes"),
                    "avg_comments": account.get("avg_comments"),
                    "avg_shares": account.get("avg_shares"),
                    "avg_saves": account.get("avg_saves"),
                    "posts_per_week": float(account.get("posts_per_week", 0.0)),
                    "follower_history": account.get("follower_history", []),
                    "recent_posts": account.get("recent_posts", []),
                    "comment_samples": account.get("comment_samples", []),
                    "created_at": created,
                    "updated_at": now,
                }
            )
        topics += listing_topic_rows(listing_id, doc)
        countries += listing_country_rows(listing_id, doc)
        rates += listing_rate_rows(listing_id, doc)
    rows.extend(Influencer.__table__, influencers)  # type: ignore[arg-type]
    rows.extend(SocialAccount.__table__, accounts)  # type: ignore[arg-type]
    rows.extend(ListingTopic.__table__, topics)  # type: ignore[arg-type]
    rows.extend(ListingCountry.__table__, countries)  # type: ignore[arg-type]
    rows.extend(ListingRate.__table__, rates)  # type: ignore[arg-type]
    return rows


def brand_rows(brands: Sequence[Mapping[str, Any]], now: datetime) -> Rows:
    rows = Rows()
    rows.extend(
        Brand.__table__,  # type: ignore[arg-type]
        (
            {
                "id": b["id"],
                "name": b["name"],
                "website": b.get("website"),
                "category": b.get("category"),
                "values": b.get("values", []),
                "competitor_brands": b.get("competitor_brands", []),
                "competitor_categories": b.get("competitor_categories", []),
                "blocked_influencers": b.get("blocked_influencers", []),
                "created_at": ulid_time(b["id"]),
                "updated_at": now,
            }
            for b in brands
        ),
    )
    return rows


def brief_rows(briefs: Sequence[Mapping[str, Any]], now: datetime) -> Rows:
    rows = Rows()
    side: dict[Table, list[dict[str, Any]]] = {}
    main = []
    for doc in briefs:
        budget, timeline = doc["budget"], doc["timeline"]
        main.append(
            {
                "id": doc["id"],
                "brand_id": doc["brand_id"],
                "created_by": None,
                "state": doc.get("state", "draft"),
                "version": 1,
                "title": doc["title"],
                "objective": doc["objective"],
                "description": doc.get("description", ""),
                "must_haves": doc.get("must_haves", []),
                "category": doc.get("category"),
                "target_audience": doc.get("target_audience", {}),
                "topics": doc.get("topics", []),
                "platforms": doc["platforms"],
                "deliverables": doc["deliverables"],
                "currency": budget["currency"],
                "budget_total": budget["total"],
                "per_influencer_min": budget["per_influencer_min"],
                "per_influencer_max": budget["per_influencer_max"],
                "application_deadline": as_date(timeline["application_deadline"]),
                "content_due": as_date(timeline["content_due"]),
                "publish_start": as_date(timeline["publish_start"]),
                "publish_end": as_date(timeline["publish_end"]),
                "terms_defaults": doc.get("terms_defaults", {}),
                "kpis": doc.get("kpis", []),
                "visibility": doc.get("visibility", "public"),
                "match_weights": doc.get("match_weights"),
                "platform_coverage": doc.get("platform_coverage", "preferred"),
                "search_text": brief_search_text(doc),
                "created_at": ulid_time(doc["id"]),
                "updated_at": now,
            }
        )
        for model, side_rows in brief_side_rows(doc["id"], doc).items():
            side.setdefault(model.__table__, []).extend(side_rows)  # type: ignore[attr-defined]
    rows.extend(Brief.__table__, main)  # type: ignore[arg-type]
    for model in (BriefTopic, BriefPlatform, BriefCountry, BriefDeliverableType):
        rows.extend(model.__table__, side.get(model.__table__, []))  # type: ignore[arg-type]
    return rows


# --- writers ----------------------------------------------------------------------------------


def _json_columns(table: Table) -> frozenset[str]:
    return frozenset(c.name for c in table.columns if c.type._type_affinity.__name__ == "JSON")


class _Writer:
    """Turns rows into what the database takes (`prepare`, CPU only: may run in a worker
    thread) and writes that (`write_prepared`, on the connection)."""

    def prepare(self, rows: Rows) -> Any:
        return rows

    async def write_prepared(self, prepared: Any) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    async def write(self, rows: Rows) -> None:
        await self.write_prepared(self.prepare(rows))


class _SqliteWriter(_Writer):
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def write_prepared(self, prepared: Rows) -> None:
        for table, table_rows in prepared.tables.items():
            for start in range(0, len(table_rows), SQLITE_BATCH):
                await self.conn.execute(insert(table), table_rows[start : start + SQLITE_BATCH])


class _PostgresWriter(_Writer):
    """COPY in binary format; JSON columns travel as text (asyncpg's jsonb codec)."""

    def __init__(self, conn: AsyncConnection, driver: Any) -> None:
        self.conn = conn
        self.driver = driver

    @staticmethod
    def records(table: Table, table_rows: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
        columns = [c.name for c in table.columns]
        json_columns = _json_columns(table)
        if not json_columns:
            return [tuple(row[c] for c in columns) for row in table_rows]
        # orjson: the same text as json.dumps(separators=(",", ":"), ensure_ascii=False), ~7x
        # faster — JSON encoding is most of the loader's own CPU time.
        dumps = orjson.dumps
        return [
            tuple(dumps(row[c]).decode() if c in json_columns else row[c] for c in columns)
            for row in table_rows
        ]

    def prepare(self, rows: Rows) -> list[tuple[Table, list[tuple[Any, ...]]]]:
        return [(table, self.records(table, r)) for table, r in rows.tables.items()]

    async def write_prepared(self, prepared: list[tuple[Table, list[tuple[Any, ...]]]]) -> None:
        for table, records in prepared:
            if records:
                await self.driver.copy_records_to_table(
                    table.name, records=records, columns=[c.name for c in table.columns]
                )


class CatalogueLoader:
    """Loads documents into one open transaction; see the module docstring."""

    def __init__(self, writer: _Writer, now: datetime) -> None:
        self._writer = writer
        self.now = now
        self.counts = LoadCounts()
        # Seconds per phase: "rows" (writing rows), "indexes" (bulk mode's re-creation of
        # indexes and constraints), "analyze", "commit".
        self.timings: dict[str, float] = {}

    def _count(self, rows: Rows) -> None:
        for table, table_rows in rows.tables.items():
            self.counts.add(table.name, len(table_rows))

    async def add_brands(self, brands: Sequence[Mapping[str, Any]]) -> None:
        rows = brand_rows(brands, self.now)
        await self._writer.write(rows)
        self._count(rows)
        self.counts.brands += len(brands)

    async def add_briefs(self, briefs: Sequence[Mapping[str, Any]]) -> None:
        rows = brief_rows(briefs, self.now)
        await self._writer.write(rows)
        self._count(rows)
        self.counts.briefs += len(briefs)

    async def add_listings(self, listings: Sequence[Mapping[str, Any]]) -> None:
        rows = listing_rows(listings, self.now)
        await self._writer.write(rows)
        self._count(rows)
        self.counts.listings += len(listings)
        self.counts.accounts += len(rows.tables[SocialAccount.__table__])  # type: ignore[index]

    async def stream_listings(
        self,
        batches: Iterable[Sequence[Mapping[str, Any]]],
        progress: Callable[[int], None] | None = None,
    ) -> None:
        """Load every batch; the next batch is produced (and turned into rows) in a worker
        thread while the current one is written."""
        iterator: Iterator[Sequence[Mapping[str, Any]]] = iter(batches)
        writer = self._writer

        def produce() -> tuple[int, Rows, Any] | None:
            batch = next(iterator, None)
            if batch is None:
                return None
            rows = listing_rows(batch, self.now)
            return len(batch), rows, writer.prepare(rows)

        pending = await asyncio.to_thread(produce)
        while pending is not None:
            upcoming = asyncio.create_task(asyncio.to_thread(produce))
            try:
                n, rows, prepared = pending
                await writer.write_prepared(prepared)
            except BaseException:
                upcoming.cancel()
                raise
            self._count(rows)
            self.counts.listings += n
            self.counts.accounts += len(rows.tables[SocialAccount.__table__])  # type: ignore[index]
            if progress is not None:
                progress(n)
            pending = await upcoming


LISTING_TABLES: tuple[Table, ...] = tuple(
    model.__table__  # type: ignore[misc]
    for model in (Influencer, SocialAccount, ListingTopic, ListingCountry, ListingRate)
)


# `influencers.id` is referenced from other aggregates (bids, invitations …): its key stays.
REFERENCED: tuple[Table, ...] = (Influencer.__table__,)  # type: ignore[assignment]


def _bulk_ddl(
    tables: Sequence[Table], keep_primary_keys: Sequence[Table] = ()
) -> tuple[list[ExecutableDDLElement], list[ExecutableDDLElement]]:
    """(drop, re-create) statements for the tables' FKs, unique constraints and indexes, and
    their primary keys but those of `keep_primary_keys` (which other tables reference)."""
    drop: list[ExecutableDDLElement] = []
    indexes: list[ExecutableDDLElement] = []
    foreign_keys: list[ExecutableDDLElement] = []
    for table in tables:
        if table not in keep_primary_keys:
            drop.append(DropConstraint(table.primary_key))
            indexes.append(AddConstraint(table.primary_key))
        for fk in sorted(table.foreign_key_constraints, key=lambda c: str(c.name)):
            drop.append(DropConstraint(fk))
            foreign_keys.append(AddConstraint(fk))
        for unique in sorted(
            (c for c in table.constraints if isinstance(c, UniqueConstraint)),
            key=lambda c: str(c.name),
        ):
            drop.append(DropConstraint(unique))
            indexes.append(AddConstraint(unique))
        for index in sorted(table.indexes, key=lambda i: str(i.name)):
            drop.append(DropIndex(index))
            indexes.append(CreateIndex(index))
    return drop, indexes + foreign_keys


@asynccontextmanager
async def catalogue_loader(
    engine: AsyncEngine, now: datetime | None = None, *, bulk: bool = False
) -> AsyncIterator[CatalogueLoader]:
    """A loader inside one transaction: committed when the block ends, rolled back on error.
    `bulk` (PostgreSQL only; ignored on SQLite) defers the listing tables' indexes and
    constraints to the end of the load — worth it from tens of thousands of listings."""
    async with engine.begin() as conn:
        # The first statement through SQLAlchemy opens the driver's transaction, so the COPYs
        # below run inside it.
        await conn.execute(select(1))
        writer: _Writer
        postgres = conn.dialect.name == "postgresql"
        bulk = bulk and postgres
        drop, recreate = _bulk_ddl(LISTING_TABLES, REFERENCED) if bulk else ([], [])
        if postgres:
            raw = await conn.get_raw_connection()
            await conn.exec_driver_sql("SET LOCAL synchronous_commit = off")
            await conn.exec_driver_sql("SET LOCAL maintenance_work_mem = '512MB'")
            writer = _PostgresWriter(conn, raw.driver_connection)
        else:
            writer = _SqliteWriter(conn)
        try:
            for statement in drop:
                await conn.execute(statement)
            loader = CatalogueLoader(writer, now or utcnow())
            started = time.perf_counter()
            yield loader
            loader.timings["rows"] = time.perf_counter() - started
            started = time.perf_counter()
            for statement in recreate:
                await conn.execute(statement)
            loader.timings["indexes"] = time.perf_counter() - started
        except IntegrityError as exc:
            raise LoadConflict(str(exc.orig)) from exc
        except IntegrityConstraintViolationError as exc:  # COPY's errors come from asyncpg
            raise LoadConflict(str(exc)) from exc
        started = time.perf_counter()
        if postgres:
            for table in LISTING_TABLES:
                await conn.exec_driver_sql(f'ANALYZE "{table.name}"')
        loader.timings["analyze"] = time.perf_counter() - started
        committing = time.perf_counter()
    loader.timings["commit"] = time.perf_counter() - committing


# --- seeding (the generator's documents through the loader) -----------------------------------

BULK_THRESHOLD = 50_000  # listings from which deferred indexes and a generator process pay off
_QUEUE_DEPTH = 3  # generated batches waiting for the loader (each ~10k listings)


@dataclass
class SeedResult:
    counts: LoadCounts
    truth_written: bool
    brand_ids: list[str]
    timings: dict[str, float] = field(default_factory=dict)


def _generate_listings(
    out: Any, listings: int, seed: int, day: date, latents: list[Any], truth_path: str | None
) -> None:
    """The generator process: streams listing batches into `out`, then writes the truth."""
    from rapport_dev import seed as generator

    gc.disable()  # millions of short-lived containers and no cycles: the collector only costs
    try:
        truth = generator.TruthBuilder(latents, seed) if truth_path else None
        for batch in generator.iter_influencer_batches(listings, seed, now=day):
            if truth is not None:
                truth.add(batch)
            out.put(("batch", batch.listings))
        if truth is not None and truth_path:
            generator.write_truth(truth_path, truth.result())
        out.put(("done", None))
    except BaseException as exc:
        out.put(("error", f"{type(exc).__name__}: {exc}"))
        raise


def _from_process(process: Any, inbox: Any) -> Iterator[list[dict[str, Any]]]:
    while True:
        try:
            kind, payload = inbox.get(timeout=5)
        except queue.Empty:
            if not process.is_alive():
                raise RuntimeError(f"the generator process died ({process.exitcode})") from None
            continue
        if kind == "done":
            return
        if kind == "error":
            raise RuntimeError(f"the generator failed: {payload}")
        yield payload


async def seed_catalogue(
    engine: AsyncEngine,
    *,
    listings: int,
    brands: int,
    briefs: int,
    seed: int,
    truth_path: str | None = None,
    today: date | None = None,
    progress: Callable[[int], None] | None = None,
    parallel: bool | None = None,
) -> SeedResult:
    """Generate a marketplace with `rapport_dev.seed` and load it in one transaction.

    Brands first, then the listings as the generator streams them, then the briefs. From
    `BULK_THRESHOLD` listings (or with `parallel=True`) the generator runs in a process of its
    own, so generating, turning documents into rows and the database's work use both cores.
    The ground truth (which listings suit which brief, which are fake) is written to
    `truth_path` with the generator's writer — only once the load has committed — and never
    enters the database.
    """
    from rapport_dev import seed as generator

    day = today or generator.DEFAULT_NOW
    parallel = listings >= BULK_THRESHOLD if parallel is None else parallel
    brand_docs = generator.make_brands(brands, seed)
    brief_docs: list[dict[str, Any]] = []
    latents: list[Any] = []
    if briefs:
        brief_docs, latents = generator.make_briefs_with_latent(briefs, brand_docs, seed, day)
    pending_truth = f"{truth_path}.partial" if truth_path else None

    process = None
    if parallel:
        context = multiprocessing.get_context("spawn")
        inbox = context.Queue(maxsize=_QUEUE_DEPTH)
        process = context.Process(
            target=_generate_listings,
            args=(inbox, listings, seed, day, latents, pending_truth),
            name="rapport-seed-generator",
            daemon=True,
        )
        process.start()
        batches: Iterable[list[dict[str, Any]]] = _from_process(process, inbox)
    else:
        batches = _in_process(generator, listings, seed, day, latents, pending_truth)

    collecting = gc.isenabled()
    gc.disable()
    try:
        async with catalogue_loader(engine, bulk=listings >= BULK_THRESHOLD) as loader:
            await loader.add_brands(brand_docs)
            await loader.stream_listings(batches, progress)
            await loader.add_briefs(brief_docs)
    except BaseException:
        _settle_truth(pending_truth, None)
        raise
    finally:
        if collecting:
            gc.enable()
        if process is not None:
            if process.is_alive():
                process.terminate()  # only on failure: it has finished otherwise
            await asyncio.to_thread(process.join)
    _settle_truth(pending_truth, truth_path)
    return SeedResult(
        loader.counts, truth_path is not None, [b["id"] for b in brand_docs], loader.timings
    )


def _settle_truth(pending: str | None, final: str | None) -> None:
    """The truth file becomes visible only for a committed load; a failed one leaves none."""
    if pending is None:
        return
    if final is None:
        Path(pending).unlink(missing_ok=True)
    else:
        Path(pending).replace(final)


def _in_process(
    generator: Any,
    listings: int,
    seed: int,
    day: date,
    latents: list[Any],
    truth_path: str | None,
) -> Iterator[list[dict[str, Any]]]:
    truth = generator.TruthBuilder(latents, seed) if truth_path else None
    for batch in generator.iter_influencer_batches(listings, seed, now=day):
        if truth is not None:
            truth.add(batch)
        yield batch.listings
    if truth is not None and truth_path:
        generator.write_truth(truth_path, truth.result())
