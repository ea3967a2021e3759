"""Exclusivity: a deal another brand's running exclusivity forbids is refused (docs/negotiation.md).

Terms with `exclusivity: {category, days > 0}` bind the influencer from acceptance until `days`
after the last deliverable is due (the contract's `exclusivity_from` … `exclusivity_until`). A
deal with another brand conflicts when it is in that category (its brief's category or the
exclusivity it asks for) and its work (today … its last due date) overlaps that window, while the
binding contract is not expired or cancelled (`RELEASING_STATES`). The check runs when an offer
is made (services/negotiation/offers.py) and again when it is accepted, by the contract's
creation (services/delivery/contracts.py, with the influencer's row locked, so two brands'
acceptances cannot both pass): 409 `exclusivity-conflict`, naming the contract and the last day.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import Conflict
from app.models import Bid, Brief, Contract
from app.models.contract import RELEASING_STATES
from app.services.negotiation.terms import deal_categories, last_due_date


class ExclusivityConflict(Conflict):
    slug, title = "exclusivity-conflict", "The influencer is bound by another brand's exclusivity"


async def check_exclusivity(
    session: AsyncSession,
    influencer_id: str,
    brand_id: str,
    categories: Iterable[str],
    start: date,
    end: date,
) -> None:
    """Refuse a deal in `categories` from `start` to `end` that another brand's running
    exclusivity forbids."""
    categories = sorted(set(categories))
    if not categories:
        return
    binding = await session.scalar(
        select(Contract)
        .where(
            Contract.influencer_id == influencer_id,
            Contract.brand_id != brand_id,
            Contract.state.not_in(RELEASING_STATES),
            Contract.exclusivity_category.in_(categories),
            Contract.exclusivity_from <= end,
            Contract.exclusivity_until >= start,
        )
        .order_by(Contract.exclusivity_until.desc(), Contract.id)
        .limit(1)
    )
    if binding is not None:
        raise ExclusivityConflict(
            f"The influencer is exclusive to another brand in {binding.exclusivity_category} "
            f"until {binding.exclusivity_until} (contract {binding.id}); a deal in that category "
            "cannot overlap it",
            contract_id=binding.id,
            category=binding.exclusivity_category,
            exclusive_until=binding.exclusivity_until.isoformat()
            if binding.exclusivity_until
            else None,
        )


async def check_terms_exclusivity(
    session: AsyncSession, bid: Bid, brief: Brief, terms: dict[str, Any], now: datetime
) -> None:
    """The exclusivity check for an offer's terms on a bid."""
    await check_exclusivity(
        session,
        bid.influencer_id,
        bid.brand_id,
        deal_categories(terms, brief),
        now.date(),
        last_due_date(terms),
    )
