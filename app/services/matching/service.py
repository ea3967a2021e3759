"""Matching over the catalogue: the per-process listing index and the two rankings.

Each API process holds one `ListingIndex` (app/services/matching/), built from the database on
first use. Before every ranking one query (`ListingIndexHolder.probe`: the newest `updated_at`,
the count, the count at or after the watermark) says whether anything changed; only listings
changed since then are read (by id, once) and upserted, so a listing edit shows in the next
ranking without a rebuild, and a bulk load made behind the index's back (`rapport seed`) is read
once — or taken in by one rebuild when it is large — never on every ranking. Concurrent callers
share that work. Memory per listing is documented in benchmarks/matching/README.md (≈ 720 bytes).

The service adds what only the database knows: the brand's blocked list, influencers bound by
another brand's exclusivity in the brief's category, and the relationship (completed contracts
with this brand).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, select
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
    return {listing_id: name for listing_id, name in rows.tuples()}


async def brief_titles(session: AsyncSession, brief_ids: list[str]) -> dict[str, str]:
    """Titles of ranked briefs, for the response."""
    rows = await session.execute(select(Brief.id, Brief.title).where(Brief.id.in_(brief_ids)))
    return {brief_id: title for brief_id, title in rows.tuples()}


# A change set larger than this (and than REBUILD_SHARE of the index) is taken in by one
# rebuild rather than listing by listing: an upsert costs about ten times a built row.
REBUILD_ABOVE = 2000
REBUILD_SHARE = 0.05
ID_PAGE = 1000  # listings read by id per query when refreshing


@dataclass(frozen=True)
class Probe:
    """What one cheap query says about the listings: the newest `updated_at`, how many
    listings there are, and how many are at or after the index's watermark."""

    newest: datetime | None
    total: int
    at_or_after: int


@dataclass
class ListingIndexHolder:
    """The process's index and its watermark; one refresh or build at a time.

    Before every ranking one query (`probe`: newest `updated_at`, the count, the count at or
    after the watermark; an index lookup and a short range on ix_influencers_updated_at) says
    whether anything changed. Only the listings changed since the watermark are read, by id,
    once; a change set larger than `rebuild_above` (and a twentieth of the index) is one
    rebuild instead. A count that still differs (a listing deleted, or one committed with an
    `updated_at` older than the watermark) is reconciled by comparing ids. Concurrent callers
    wait on the same lock, so they share one build or refresh, never start their own.
    """

    index: ListingIndex | None = None
    watermark: datetime | None = None
    # How many listings have `updated_at` exactly at the watermark, all indexed: the probe
    # counts `>= watermark`, and only a count above this means a new write.
    at_watermark: int = 0
    rebuild_above: int = REBUILD_ABOVE
    lock: asyncio.Lock | None = None
    builds: int = 0  # full builds made (observable by tests and the benchmark)
    refreshes: int = 0  # refreshes that read changed listings

    async def current(self, session: AsyncSession, today: date) -> ListingIndex:
        if self.lock is None:
            self.lock = asyncio.Lock()
        async with self.lock:
            probe = await self.probe(session)
            if self.index is None:
                await self._build(session, today, probe)
            elif not self._unchanged(probe):
                await self._refresh(session, today, probe)
            assert self.index is not None
            return self.index

    async def probe(self, session: AsyncSession) -> Probe:
        since = self.watermark
        after = (
            func.count().filter(Influencer.updated_at >= since)
            if since is not None
            else func.count()
        )
        row = (
            await session.execute(
                select(func.max(Influencer.updated_at), func.count(), after).select_from(Influencer)
            )
        ).one()
        return Probe(newest=row[0], total=int(row[1]), at_or_after=int(row[2]))

    def _unchanged(self, probe: Probe) -> bool:
        assert self.index is not None
        return (
            probe.newest == self.watermark
            and probe.at_or_after == self.at_watermark
            and probe.total == len(self.index)
        )

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
        builder = IndexBuilder(as_of=today)
        after = ""
        while True:
            page = await self._rows(
                session,
                select(Influencer).where(Influencer.id > after).order_by(Influencer.id).limit(PAGE),
            )
            if not page:
                break
            builder.add_many([listing_document(row) for row in page])
            after = page[-1].id
        self.index = builder.finish()
        self.builds += 1
        # The probe was read before the pages: a listing written since is newer than it and
        # is picked up by the next refresh.
        self.watermark = probe.newest
        self.at_watermark = await self._count_at(session, probe.newest)

    async def _count_at(self, session: AsyncSession, when: datetime | None) -> int:
        if when is None:
            return 0
        found = await session.scalar(
            select(func.count()).select_from(Influencer).where(Influencer.updated_at == when)
        )
        return int(found or 0)

    async def _refresh(self, session: AsyncSession, today: date, probe: Probe) -> None:
        assert self.index is not None
        self.refreshes += 1
        changed: list[str] = []
        if probe.newest != self.watermark or probe.at_or_after != self.at_watermark:
            # Ids only (cheap), then the listings themselves, once. The listings exactly at the
            # watermark are all indexed unless their count grew (fewer: some were deleted, which
            # the id comparison below finds).
            stmt = select(Influencer.id, Influencer.updated_at)
            if self.watermark is not None:
                stmt = stmt.where(Influencer.updated_at >= self.watermark)
            stamped = [(lid, when) for lid, when in await session.execute(stmt)]
            at = [lid for lid, when in stamped if when == self.watermark]
            skip = len(at) <= self.at_watermark
            changed = [lid for lid, when in stamped if not (skip and when == self.watermark)]
            if self._too_many(len(changed)):
                await self._build(session, today, probe)
                return
        for row in await self._rows_by_id(session, changed):
            self.index.upsert(listing_document(row))
        self.watermark = probe.newest
        self.at_watermark = await self._count_at(session, probe.newest)
        if probe.total != len(self.index):
            await self._reconcile(session, today, probe)

    async def _reconcile(self, session: AsyncSession, today: date, probe: Probe) -> None:
        """Bring the index's ids in line with the table's: drop deleted listings, add ones
        committed with an `updated_at` older than the watermark."""
        assert self.index is not None
        ids = set(await session.scalars(select(Influencer.id)))
        for gone in [lid for lid in self.index.row_of if lid not in ids]:
            self.index.remove(gone)
        missing = sorted(ids.difference(self.index.row_of))
        if self._too_many(len(missing)):
            await self._build(session, today, probe)
            return
        for row in await self._rows_by_id(session, missing):
            self.index.upsert(listing_document(row))


async def _exclusivity_conflicts(
    session: AsyncSession, brand_id: str, category: str | None, today: date
) -> set[str]:
    """Influencers bound to another brand's exclusivity in this category today."""
    if not category:
        return set()
    rows = await session.scalars(
        select(Contract.influencer_id).where(
            Contract.brand_id != brand_id,
            Contract.exclusivity_category == category,
            Contract.exclusivity_until >= today,
            Contract.state.not_in(RELEASING_STATES),
        )
    )
    return set(rows)


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


async def do_not_work(session: AsyncSession, brand_id: str) -> dict[str, str]:
    """Creators the brand marked do_not_work (a relationship row), with its reason."""
    rows = await session.execute(
        select(Relationship.influencer_id, Relationship.status_reason).where(
            Relationship.brand_id == brand_id,
            Relationship.status == RelationshipStatus.do_not_work,
        )
    )
    return {influencer_id: reason or "no reason given" for influencer_id, reason in rows}


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
    brief = await session.scalar(
        select(Brief).where(Brief.id == brief_id, Brief.brand_id.in_(member_brands(user_id)))
    )
    if brief is None:
        raise BriefNotFound(f"No brief {brief_id} among your brands' briefs")
    brand = await session.get(Brand, brief.brand_id)
    blocked = set(brand.blocked_influencers or []) if brand else set()
    conflicts = await _exclusivity_conflicts(session, brief.brand_id, brief.category, today)
    # do_not_work (issue 15) filters like the blocked list; `explain` names it with the reason.
    refused = await do_not_work(session, brief.brand_id)
    blocked |= set(refused)
    relationship = await relationship_component(session, brief.brand_id, today)
    index = await holder.current(session, today)
    doc = document(brief)
    # The request's weights, else the brief's own, else the defaults.
    used = weights if weights is not None else brief.match_weights
    notes: list[str] = []
    try:
        found = rank(
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
    page, more = found[:limit], len(found) > limit
    excluded: dict[str, str] = {}
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
        return rank_briefs_for_listing(
            listing_document(listing),
            [document(b) for b in briefs],
            index=await holder.current(session, today),
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
    index = await holder.current(session, today)
    reasons = Counter(
        filtered_out_reason(index, document(b), listing.id)
        or "the brand blocked you, or an exclusivity clause of yours conflicts"
        for b in briefs
    )
    counted = "; ".join(
        f"{reason} ({n} brief{'s' if n > 1 else ''})" for reason, n in reasons.most_common(3)
    )
    return f"No open brief admits your listing ({len(briefs)} open): {counted}"
