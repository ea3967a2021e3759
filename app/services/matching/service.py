"""Matching over the catalogue: the per-process listing index and the two rankings.

Each API process holds one `ListingIndex` (app/services/matching/), built from the database on
first use and brought up to date before every ranking by upserting the listings changed since
the last look (`influencers.updated_at` at or after the watermark), so a listing edit shows in
the next ranking without a rebuild. Memory per listing is documented in
benchmarks/matching/README.md (≈ 720 bytes).

The service adds what only the database knows: the brand's blocked list, influencers bound by
another brand's exclusivity in the brief's category, and the relationship (completed contracts
with this brand).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
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


@dataclass
class ListingIndexHolder:
    """The process's index and its watermark; one refresh at a time."""

    index: ListingIndex | None = None
    watermark: datetime | None = None
    lock: asyncio.Lock | None = None
    # Listings already indexed at exactly the watermark: the refresh reads `>= watermark` (so a
    # listing written in the same instant is not missed) and skips these, rather than
    # re-indexing the latest listing on every ranking.
    at_watermark: set[str] = field(default_factory=set)

    async def current(self, session: AsyncSession, today: date) -> ListingIndex:
        if self.lock is None:
            self.lock = asyncio.Lock()
        async with self.lock:
            if self.index is None:
                await self._build(session, today)
            else:
                await self._refresh(session)
                # Listings only disappear when their account is deleted; a count that no longer
                # matches means one did, and the index is rebuilt rather than patched.
                total = await session.scalar(select(func.count()).select_from(Influencer))
                if total != len(self.index):
                    await self._build(session, today)
            assert self.index is not None
            return self.index

    async def _rows(self, session: AsyncSession, stmt: Any) -> list[Influencer]:
        return list((await session.scalars(_with_accounts(stmt))).unique().all())

    async def _build(self, session: AsyncSession, today: date) -> None:
        builder = IndexBuilder(as_of=today)
        self.watermark = await session.scalar(select(func.max(Influencer.updated_at)))
        self.at_watermark = set(
            await session.scalars(
                select(Influencer.id).where(Influencer.updated_at == self.watermark)
            )
        )
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

    async def _refresh(self, session: AsyncSession) -> None:
        assert self.index is not None
        if self.watermark is None:
            changed = await self._rows(session, select(Influencer))
        else:
            changed = await self._rows(
                session, select(Influencer).where(Influencer.updated_at >= self.watermark)
            )
        for row in changed:
            if row.updated_at == self.watermark and row.id in self.at_watermark:
                continue  # indexed already
            self.index.upsert(listing_document(row))
            if self.watermark is None or row.updated_at > self.watermark:
                self.watermark = row.updated_at
                self.at_watermark = set()
            if row.updated_at == self.watermark:
                self.at_watermark.add(row.id)


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
