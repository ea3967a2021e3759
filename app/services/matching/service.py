"""Matching over the catalogue: the per-process listing index and the two rankings.

Each API process holds one `ListingIndex` (app/services/matching/), built from the database on
first use. Before every ranking one query (`ListingIndexHolder.probe`: the rows of
`listing_changes`, which database triggers write, newer than what the index has seen) says
whether anything changed; only listings changed since then are read (by id, once) and upserted
or removed, so a listing edit or deletion shows in the next ranking without a rebuild, and a
bulk load made behind the index's back (`rapport seed`) is read once — or taken in by one
rebuild when it is large — never on every ranking. The probe costs O(changes), not O(listings).
Concurrent callers share that work. Memory per listing is documented in
benchmarks/matching/README.md (≈ 720 bytes).

The service adds what only the database knows: the brand's blocked list, influencers bound by
another brand's exclusivity in the brief's category, and the relationship (completed contracts
with this brand).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Boolean, String, cast, func, literal, null, select, text, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import InvalidRequest, NotFound
from app.models import Brand, Brief, BriefState, Contract, Influencer
from app.models.contract import RELEASING_STATES
from app.models.relationship import Relationship, RelationshipStatus
from app.schemas.influencers import ListingOut
from app.services.catalogue.briefs import BriefNotFound, document, readable_by
from app.services.catalogue.influencers import _with_accounts
from app.services.identity.tenancy import member_brands
from app.services.matching import ListingIndex, Match, rank, rank_briefs_for_listing
from app.services.matching.index import IndexBuilder
from app.services.matching.scoring import RankFilters, filtered_out_reason, resolve_weights
from app.services.matching.store import IndexStore, release_freed_memory
from app.settings import Settings

T = TypeVar("T")

logger = logging.getLogger("rapport.matching")

PAGE = 2000  # listings read per query while building


class ListingNotMatched(NotFound):
    slug, title = "listing-not-found", "No such listing"


def listing_document(row: Influencer) -> dict[str, Any]:
    """The listing as the API shows it: the shape the index is built from."""
    return ListingOut.model_validate(row).model_dump(mode="json")


def parse_weights(raw: str | None) -> dict[str, float] | None:
    """`topic_relevance:0.5,price_fit:0.1` → weights; bad input is a 422 naming `weights`."""
    if not raw:
        return None
    weights: dict[str, float] = {}
    try:
        for part in raw.split(","):
            name, _, value = part.partition(":")
            weights[name.strip()] = float(value)
        resolve_weights(weights)
    except ValueError as exc:
        raise InvalidRequest.field(
            "weights", str(exc) or "is not name:number,…", "weights"
        ) from exc
    return weights


async def listing_names(session: AsyncSession, listing_ids: list[str]) -> dict[str, str]:
    """Display names of ranked listings, for the response (the index holds no names)."""
    rows = await session.execute(
        select(Influencer.id, Influencer.display_name).where(Influencer.id.in_(listing_ids))
    )
    return {listing_id: name for listing_id, name in rows}


async def brief_titles(session: AsyncSession, brief_ids: list[str]) -> dict[str, str]:
    """Titles of ranked briefs, for the response."""
    rows = await session.execute(select(Brief.id, Brief.title).where(Brief.id.in_(brief_ids)))
    return {brief_id: title for brief_id, title in rows}


# A change set larger than this (and than REBUILD_SHARE of the index) is taken in by one
# rebuild rather than listing by listing: an upsert costs about ten times a built row.
REBUILD_ABOVE = 2000
REBUILD_SHARE = 0.05
ID_PAGE = 1000  # listings read by id per query when refreshing


# The rows of `listing_changes` (migration 0023) the index has not seen, and the new horizon,
# in one statement (one snapshot). `:after` is the holder's horizon; NULL (a build) asks only
# for the horizon and the rows at or after it. Without a change the join finds nothing: an
# index lookup, whatever the number of listings.
#
# PostgreSQL: the horizon is the oldest transaction still running (the snapshot's xmin); every
# transaction that commits later has an id at or above it, so asking for `txid >= horizon`
# next time misses nothing, whatever order transactions commit in (a sequence's numbers are
# not in commit order). Rows of transactions that had committed are returned again while an
# older one runs: `seen` skips those.
_PROBE_POSTGRES = text(
    "WITH now AS (SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint AS horizon) "
    "SELECT now.horizon, c.txid, c.seq, c.listing_id FROM now "
    "LEFT JOIN listing_changes AS c ON c.txid >= coalesce(CAST(:after AS bigint), now.horizon)"
)
# SQLite: one writer at a time, and `seq` (AUTOINCREMENT) is assigned under its lock: commit
# order. The horizon is the highest `seq`.
_PROBE_SQLITE = text(
    "WITH now AS (SELECT coalesce(max(seq), 0) AS horizon FROM listing_changes) "
    "SELECT now.horizon, c.txid, c.seq, c.listing_id FROM now "
    "LEFT JOIN listing_changes AS c ON c.seq > coalesce(:after, now.horizon)"
)


@dataclass(frozen=True)
class Probe:
    """What one cheap query says about the listings: the new horizon and the changes (txid on
    PostgreSQL else None, seq, listing id) after the holder's horizon."""

    horizon: int
    changes: tuple[tuple[int | None, int, str], ...]


@dataclass
class ListingIndexHolder:
    """The process's index and its horizon; one refresh or build at a time.

    Before every ranking one query (`probe`: the `listing_changes` rows after the holder's
    horizon; an index lookup that finds nothing when nothing changed) says whether anything
    changed. Only the listings changed since are read, by id, once, and upserted; one no longer
    there is removed. A change set larger than `rebuild_above` (and a twentieth of the index)
    is one rebuild instead. Concurrent callers wait on the same lock, so they share one build
    or refresh, never start their own.

    With a `store` (RAPPORT_MATCHING_INDEX_DIR), builds are written as a generation of files
    that every process of the node maps (`store.IndexStore`): one process builds (a node-wide
    file lock), the others map its files; each process checks CURRENT (a stat) before every
    ranking and moves to a newer generation when one appears. Each process then applies the
    listings changed since the generation's horizon itself.

    Rankings run in a thread pool (`run`), holding a read share of the index (`reading`): an
    in-place change waits until the rankings using the index have finished, and a new index
    (a build, a generation) replaces the object without disturbing them.
    """

    index: ListingIndex | None = None
    # Changes after `horizon` are not in the index yet, but for `seen` ((txid, seq) of
    # PostgreSQL rows at or after the horizon that are in it; see `_PROBE_POSTGRES`).
    horizon: int | None = None
    seen: frozenset[tuple[int, int]] = frozenset()
    rebuild_above: int = REBUILD_ABOVE
    store: IndexStore | None = None
    threads: int = 0  # ranking threads; 0: one per core
    lock: asyncio.Lock | None = None
    builds: int = 0  # full builds made by this holder (observable by tests and the benchmark)
    generation: str | None = None  # the mapped generation's name, with a store
    _token: tuple[int, int, int] | None = None
    _readers: int = 0
    _idle: asyncio.Event | None = None
    _executor: ThreadPoolExecutor | None = None

    @classmethod
    def for_settings(cls, settings: Settings) -> ListingIndexHolder:
        directory = settings.matching_index_dir
        store = (
            IndexStore.for_database(Path(directory), settings.database_url) if directory else None
        )
        if store is not None:
            try:
                store.check_writable()
            except OSError as exc:
                # A read-only working directory (a container's, say) must not break /matches:
                # the process builds its own index in memory, as with the setting empty.
                logger.warning(
                    "matching index directory %s is not writable (%s): each process builds "
                    "its own index in memory; set RAPPORT_MATCHING_INDEX_DIR to a writable "
                    "directory to share one per node",
                    store.root,
                    exc,
                )
                store = None
        return cls(store=store, threads=settings.matching_threads)

    async def current(self, session: AsyncSession, today: date) -> ListingIndex:
        """The index, up to date. For use on the event loop only (no read share is held):
        rankings use `reading` and `run`."""
        if self.lock is None:
            self.lock = asyncio.Lock()
        async with self.lock:
            return await self._up_to_date(session, today)

    @asynccontextmanager
    async def reading(self, session: AsyncSession, today: date) -> AsyncIterator[ListingIndex]:
        """The index, up to date, not changed in place until the block ends."""
        if self.lock is None:
            self.lock = asyncio.Lock()
        async with self.lock:
            index = await self._up_to_date(session, today)
            self._readers += 1
        try:
            yield index
        finally:
            self._readers -= 1
            if self._readers == 0 and self._idle is not None:
                self._idle.set()

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """`fn(*args, **kwargs)` in the ranking threads (numpy releases the GIL in its loops),
        so a ranking never holds the event loop."""
        if self._executor is None:
            self._executor = ThreadPoolExecutor(
                max_workers=self.threads or os.cpu_count() or 1,
                thread_name_prefix="rapport-matching",
            )
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(fn, *args, **kwargs))

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None

    async def _drained(self) -> None:
        """Wait until no ranking uses the index (called with the lock held, so no new one
        starts)."""
        while self._readers:
            if self._idle is None:
                self._idle = asyncio.Event()
            self._idle.clear()
            await self._idle.wait()

    async def _up_to_date(self, session: AsyncSession, today: date) -> ListingIndex:
        if self.store is not None and self.store.token() != self._token:
            self._adopt(today)
        if self.index is None:
            await self._build(session, today, await self.probe(session))
        else:
            await self._catch_up(session, today)
        if self.store is not None and self.index is not None and self.index.wants_compaction():
            await self._build(session, today, await self.probe(session))
        assert self.index is not None
        return self.index

    def _adopt(self, today: date) -> bool:
        """Map the store's CURRENT generation if it is new to this holder and built for today
        (an index is built as of a day: its sponsored-post windows count back from it)."""
        assert self.store is not None
        token = self.store.token()
        name = self.store.current_name()
        if name is None or name == self.generation:
            self._token = token
            return False
        found = self.store.load(name)
        self._token = token  # tried: not again until CURRENT changes
        if found is None or found.index.as_of != today:
            return False
        stamp = found.stamp
        if "horizon" not in stamp:  # written before listing_changes: its changes are unknown
            return False
        self.index, self.generation = found.index, found.name
        self.horizon = int(stamp["horizon"])
        self.seen = frozenset((int(t), int(q)) for t, q in stamp["seen"])
        return True

    async def probe(self, session: AsyncSession) -> Probe:
        postgres = session.get_bind().dialect.name == "postgresql"
        stmt = _PROBE_POSTGRES if postgres else _PROBE_SQLITE
        rows = (await session.execute(stmt, {"after": self.horizon})).all()
        changes = tuple((txid, seq, lid) for _, txid, seq, lid in rows if lid is not None)
        return Probe(horizon=int(rows[0][0]), changes=changes)

    def _unseen(self, probe: Probe) -> list[str]:
        """The listings changed since the index last looked."""
        return sorted({lid for t, q, lid in probe.changes if (t or 0, q) not in self.seen})

    def _advance(self, probe: Probe) -> None:
        """The index holds every change the probe returned: move to its horizon."""
        self.horizon = probe.horizon
        # PostgreSQL's rows at or after the new horizon come back next time (SQLite's: none).
        self.seen = frozenset(
            (t, q) for t, q, _ in probe.changes if t is not None and t >= probe.horizon
        )

    async def _catch_up(self, session: AsyncSession, today: date) -> None:
        probe = await self.probe(session)
        changed = self._unseen(probe)
        if changed:
            await self._refresh(session, today, probe, changed)
        else:
            self._advance(probe)

    async def _rows(self, session: AsyncSession, stmt: Any) -> list[Influencer]:
        return list((await session.scalars(_with_accounts(stmt))).unique().all())

    async def _rows_by_id(self, session: AsyncSession, ids: list[str]) -> list[Influencer]:
        rows: list[Influencer] = []
        for k in range(0, len(ids), ID_PAGE):
            part = ids[k : k + ID_PAGE]
            rows += await self._rows(session, select(Influencer).where(Influencer.id.in_(part)))
        return rows

    def _too_many(self, changed: int) -> bool:
        assert self.index is not None
        return changed > max(self.rebuild_above, int(len(self.index) * REBUILD_SHARE))

    async def _build(self, session: AsyncSession, today: date, probe: Probe) -> None:
        """A full build: in memory, or (with a store) one per node, written and mapped."""
        if self.store is None:
            await self._build_in_memory(session, today, probe)
            return
        start = self._token
        while True:
            with self.store.try_lock() as held:
                if held:
                    if self.store.token() != start and self._adopt(today):
                        break  # another process wrote one while this one waited
                    await self._build_in_memory(session, today, probe)
                    assert self.index is not None
                    stamp = {"horizon": self.horizon, "seen": sorted(self.seen)}
                    await asyncio.to_thread(self.store.write, self.index, stamp)
                    # Map the files just written: the built arrays are freed, and this process
                    # shares the page cache's copy like the others.
                    self.generation = None
                    adopted = self._adopt(today)
                    release_freed_memory()
                    if not adopted:
                        raise RuntimeError(
                            f"the index generation written in {self.store.root} cannot be read back"
                        )
                    return
            # Another process is building: wait for it (never blocking the loop), then map it.
            await asyncio.sleep(0.05)
        # Adopted another process's generation: bring it up to date from its horizon.
        await self._catch_up(session, today)

    async def _build_in_memory(self, session: AsyncSession, today: date, probe: Probe) -> None:
        builder = IndexBuilder(as_of=today)
        after = ""
        while True:
            page = await self._rows(
                session,
                select(Influencer).where(Influencer.id > after).order_by(Influencer.id).limit(PAGE),
            )
            if not page:
                break
            # The listing documents (pydantic) and the features are CPU work: off the loop, so
            # other requests keep moving. The rows are loaded (accounts included): no I/O there.
            await asyncio.to_thread(_add_page, builder, page)
            after = page[-1].id
        self.index = await asyncio.to_thread(builder.finish)
        self.index.auto_compact = self.store is None
        self.builds += 1
        # The probe was read before the pages: a listing written since is after its horizon
        # and read again by the next refresh (an upsert of what is there: harmless).
        self._advance(probe)

    async def _refresh(
        self, session: AsyncSession, today: date, probe: Probe, changed: list[str]
    ) -> None:
        assert self.index is not None
        if self._too_many(len(changed)):
            await self._build(session, today, probe)
            return
        rows = await self._rows_by_id(session, changed)
        await self._drained()
        there = {row.id for row in rows}
        for lid in changed:
            if lid not in there:  # deleted
                self.index.remove(lid)
        for row in rows:
            self.index.upsert(listing_document(row))
        self._advance(probe)


def _add_page(builder: IndexBuilder, page: list[Influencer]) -> None:
    builder.add_many([listing_document(row) for row in page])


async def _left_out(
    session: AsyncSession, brand_id: str, category: str | None, today: date
) -> tuple[set[str], dict[str, str]]:
    """Influencers bound to another brand's exclusivity in the brief's category today, and the
    ones the brand marked do_not_work (a relationship row) with its reason: one statement
    (UNION ALL), one round trip on every ranking."""
    refused = select(
        Relationship.influencer_id,
        Relationship.status_reason,
        literal(True, Boolean).label("refused"),
    ).where(
        Relationship.brand_id == brand_id,
        Relationship.status == RelationshipStatus.do_not_work,
    )
    stmt: Any = refused
    if category:
        bound = select(Contract.influencer_id, cast(null(), String), literal(False, Boolean)).where(
            Contract.brand_id != brand_id,
            Contract.exclusivity_category == category,
            Contract.exclusivity_until >= today,
            Contract.state.not_in(RELEASING_STATES),
        )
        stmt = union_all(refused, bound)
    conflicts: set[str] = set()
    marked: dict[str, str] = {}
    for influencer_id, reason, is_refused in await session.execute(stmt):
        if is_refused:
            marked[influencer_id] = reason or "no reason given"
        else:
            conflicts.add(influencer_id)
    return conflicts, marked


# The relationship component's source: app/services/wiring.py fills it with the relationships
# domain's performance history (issue 15; a higher layer, so a hook). Empty, the brand's own
# contracts give the component (`_relationship`).
RelationshipScores = Callable[[AsyncSession, str, date], Awaitable[Mapping[str, tuple[float, str]]]]
RELATIONSHIP_SCORES: list[RelationshipScores] = []


async def relationship_component(
    session: AsyncSession, brand_id: str, today: date
) -> dict[str, tuple[float, str]]:
    if not RELATIONSHIP_SCORES:
        return await _relationship(session, brand_id)
    scores: dict[str, tuple[float, str]] = {}
    for source in RELATIONSHIP_SCORES:
        scores.update(await source(session, brand_id, today))
    return scores


async def _relationship(session: AsyncSession, brand_id: str) -> dict[str, tuple[float, str]]:
    """Past contracts with this brand: completed ones lift the component above neutral."""
    result = await session.execute(
        select(Contract.influencer_id, Contract.state, func.count())
        .where(Contract.brand_id == brand_id)
        .group_by(Contract.influencer_id, Contract.state)
    )
    done: dict[str, int] = {}
    other: dict[str, int] = {}
    for influencer_id, state, count in result:
        (done if state == "completed" else other)[influencer_id] = (
            done if state == "completed" else other
        ).get(influencer_id, 0) + count
    scores: dict[str, tuple[float, str]] = {}
    for influencer_id in done.keys() | other.keys():
        completed = done.get(influencer_id, 0)
        value = min(1.0, 0.5 + 0.15 * completed) if completed else 0.55
        reason = (
            f"{completed} completed contract(s) with this brand"
            if completed
            else "worked with this brand before (no completed contract yet)"
        )
        scores[influencer_id] = (value, reason)
    return scores


@dataclass(frozen=True)
class BriefMatches:
    brief: Brief
    matches: list[Match]
    next_cursor: str | None
    excluded: dict[str, str]
    weights: dict[str, float]
    notes: list[str]


async def matches_for_brief(
    session: AsyncSession,
    holder: ListingIndexHolder,
    user_id: str,
    brief_id: str,
    *,
    today: date,
    weights: Mapping[str, float] | None,
    limit: int,
    cursor: str | None,
    explain: list[str],
    filters: RankFilters | None = None,
) -> BriefMatches:
    # The brief and its brand's blocked list in one statement (not a Brand entity).
    row = (
        await session.execute(
            select(Brief, Brand.blocked_influencers)
            .outerjoin(Brand, Brand.id == Brief.brand_id)
            .where(Brief.id == brief_id, Brief.brand_id.in_(member_brands(user_id)))
        )
    ).first()
    if row is None:
        raise BriefNotFound(f"No brief {brief_id} among your brands' briefs")
    brief, blocked_list = row
    blocked = set(blocked_list or [])
    # do_not_work (issue 15) filters like the blocked list; `explain` names it with the reason.
    conflicts, refused = await _left_out(session, brief.brand_id, brief.category, today)
    blocked |= set(refused)
    relationship = await relationship_component(session, brief.brand_id, today)
    doc = document(brief)
    # The request's weights, else the brief's own, else the defaults.
    used = weights if weights is not None else brief.match_weights
    notes: list[str] = []
    excluded: dict[str, str] = {}
    async with holder.reading(session, today) as index:
        try:
            # The ranking (numpy over every listing) runs in the ranking threads.
            found = await holder.run(
                rank,
                index,
                doc,
                weights=used,
                limit=limit + 1,
                offset_cursor=cursor,
                filters=filters,
                blocked_ids=blocked,
                exclusivity_conflicts=conflicts,
                relationship=relationship,
                notes=notes,
            )
        except ValueError as exc:
            field = "cursor" if cursor and "cursor" in str(exc).lower() else "weights"
            raise InvalidRequest.field(field, str(exc), field) from exc
        for listing_id in explain:
            reason = filtered_out_reason(
                index,
                doc,
                listing_id,
                filters=filters,
                blocked_ids=blocked,
                exclusivity_conflicts=conflicts,
            )
            if listing_id in refused:
                reason = f"your brand marked this influencer do_not_work: {refused[listing_id]}"
            excluded[listing_id] = reason or "not excluded: it is ranked"
    page, more = found[:limit], len(found) > limit
    next_cursor = page[-1].cursor if more and page else None
    return BriefMatches(brief, page, next_cursor, excluded, resolve_weights(used), notes)


async def recommended_briefs(
    session: AsyncSession,
    holder: ListingIndexHolder,
    user_id: str,
    *,
    today: date,
    weights: Mapping[str, float] | None,
    limit: int,
) -> list[Any]:
    listing = await session.scalar(
        _with_accounts(select(Influencer)).where(Influencer.user_id == user_id)
    )
    if listing is None:
        raise ListingNotMatched("Create your listing first: POST /v1/influencers/me")
    briefs = list(
        await session.scalars(
            select(Brief)
            .where(Brief.state == BriefState.open, readable_by(user_id))
            .order_by(Brief.id)
            .limit(5000)
        )
    )
    conflicts = set()
    bound = await session.execute(
        select(Contract.exclusivity_category, Contract.brand_id).where(
            Contract.influencer_id == listing.id,
            Contract.exclusivity_until >= today,
            Contract.state.not_in(RELEASING_STATES),
        )
    )
    bound_categories = list(bound)
    for brief in briefs:
        if any(cat == brief.category and b != brief.brand_id for cat, b in bound_categories):
            conflicts.add(brief.id)
    blocked_by = {
        b.id
        for b in await session.scalars(
            select(Brand).where(Brand.id.in_({x.brand_id for x in briefs}))
        )
        if listing.id in (b.blocked_influencers or [])
    }
    # A brand that marked this creator do_not_work (issue 15) is not recommended to them either,
    # like one that blocked them (the response names no brand it left out, nor why).
    blocked_by |= set(
        await session.scalars(
            select(Relationship.brand_id).where(
                Relationship.influencer_id == listing.id,
                Relationship.status == RelationshipStatus.do_not_work,
            )
        )
    )
    try:
        async with holder.reading(session, today) as index:
            return await holder.run(
                rank_briefs_for_listing,
                listing_document(listing),
                [document(b) for b in briefs],
                index=index,
                weights=weights,
                limit=limit,
                exclusivity_conflicts=conflicts,
                blocked_by_brands=blocked_by,
            )
    except ValueError as exc:
        raise InvalidRequest.field("weights", str(exc), "weights") from exc


async def why_no_recommended_briefs(
    session: AsyncSession, holder: ListingIndexHolder, user_id: str, *, today: date
) -> str:
    """Why an influencer's recommended briefs are empty, in one sentence with the next step."""
    from collections import Counter

    listing = await session.scalar(
        _with_accounts(select(Influencer)).where(Influencer.user_id == user_id)
    )
    briefs = list(
        await session.scalars(
            select(Brief).where(Brief.state == BriefState.open, readable_by(user_id)).limit(5000)
        )
    )
    if not briefs:
        return "No open brief is visible to you: none is open yet, or the open ones are invite-only"
    if listing is None or not listing.accounts:
        return (
            "Your listing has no social accounts, and every brief names the platforms it wants: "
            "add one with POST /v1/influencers/me/accounts"
        )
    async with holder.reading(session, today) as index:
        reasons = Counter(
            filtered_out_reason(index, document(b), listing.id)
            or "the brand blocked you, or an exclusivity clause of yours conflicts"
            for b in briefs
        )
    counted = "; ".join(
        f"{reason} ({n} brief{'s' if n > 1 else ''})" for reason, n in reasons.most_common(3)
    )
    return f"No open brief admits your listing ({len(briefs)} open): {counted}"
