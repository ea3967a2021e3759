"""How each kind of object looks in a public event, and who may see it.

Part of the top layer, with app/services/wiring.py (the only module that imports this one): it
renders objects of every domain with the API's output schemas (app/schemas), so an event's
`data.object` is what `GET` on that object returns — minus the fields that depend on who asks
(`side`, `allowed_actions`, `unread_count`), since an event goes to both parties. The audience is
the object's parties: the brand and/or the influencer of its deal.
tests/test_events.py compares each rendering with the API's answer, so the two cannot drift.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from app.models import (
    Bid,
    Brief,
    BriefState,
    Contract,
    Deliverable,
    Dispute,
    Draft,
    Milestone,
    MilestoneDeliverable,
    Offer,
    Payout,
    Side,
    Transfer,
)
from app.models.contract import late_at
from app.schemas.briefs import BriefOut
from app.schemas.contracts import (
    ContractDeliverableOut,
    ContractOut,
    ExclusivityWindowOut,
    MilestoneOut,
)
from app.schemas.delivery import (
    DeliverableDetailOut,
    DisputeOut,
    DraftOut,
    ExtensionOut,
    PaymentDisputeOut,
    ProofOut,
)
from app.schemas.money import PayoutOut
from app.schemas.negotiation import BidOut, BidTimelineOut, OfferOut, TermsOut
from app.schemas.webhooks import TransferOut
from app.services.catalogue import briefs
from app.services.delivery import deliverables
from app.services.delivery.contracts import milestone_links
from app.services.money import stripe_disputes
from app.services.negotiation.offers import latest_versions, offer_views
from app.services.workflow import events
from app.services.workflow.events import EventObject, ObjectView

# Fields of an output schema that say what the *caller* is or may do: not part of an event.
CALLER_FIELDS: Final = frozenset({"side", "allowed_actions", "unread_count"})


def _dump(model: BaseModel) -> dict[str, Any]:
    return model.model_dump(mode="json", exclude=set(CALLER_FIELDS) & set(type(model).model_fields))


async def _contract(session: AsyncSession, contract_id: str) -> Contract:
    contract = await session.scalar(
        select(Contract)
        .where(Contract.id == contract_id)
        .options(selectinload(Contract.deliverables), selectinload(Contract.milestones))
        .execution_options(populate_existing=True)
    )
    assert contract is not None
    return contract


async def brief_object(session: AsyncSession, brief: Brief) -> EventObject:
    out = BriefOut(
        **briefs.document(brief),
        budget_warning=briefs.budget_warning(brief),
        created_at=brief.created_at,
        updated_at=brief.updated_at,
    )
    return EventObject(_dump(out), brand_id=brief.brand_id, influencer_id=None)


async def bid_object(session: AsyncSession, bid: Bid) -> EventObject:
    version = (await latest_versions(session, [bid.id])).get(bid.id)
    latest_offer_id = None
    if version is not None:
        latest_offer_id = await session.scalar(
            select(Offer.id).where(Offer.bid_id == bid.id, Offer.version == version)
        )
    contract_id = await session.scalar(
        select(Contract.id).where(Contract.bid_id == bid.id, Contract.period_no == 1)
    )
    out = BidOut(
        id=bid.id,
        brief_id=bid.brief_id,
        brand_id=bid.brand_id,
        influencer_id=bid.influencer_id,
        state=bid.state,
        version=bid.version,
        price=bid.price,
        currency=bid.currency,
        deliverables=bid.deliverables,
        timeline=BidTimelineOut.model_validate(bid.timeline),
        pitch=bid.pitch,
        side=Side.brand,
        allowed_actions=[],
        latest_offer_id=latest_offer_id,
        contract_id=contract_id,
        message_count=bid.message_count,
        unread_count=0,
        created_at=bid.created_at,
    )
    return EventObject(_dump(out), brand_id=bid.brand_id, influencer_id=bid.influencer_id)


async def offer_object(session: AsyncSession, offer: Offer) -> EventObject:
    (view,) = await offer_views(session, [offer])
    bid = await session.get(Bid, offer.bid_id)
    assert bid is not None
    out = OfferOut(
        id=offer.id,
        bid_id=offer.bid_id,
        version=offer.version,
        author=offer.author_side,
        state=offer.state,
        terms=TermsOut.model_validate(offer.terms),
        expires_at=offer.expires_at,
        created_at=offer.created_at,
        responded_at=offer.responded_at,
        latest=view.latest,
        contract_id=view.contract_id,
    )
    return EventObject(_dump(out), brand_id=bid.brand_id, influencer_id=bid.influencer_id)


async def contract_object(session: AsyncSession, contract: Contract) -> EventObject:
    c = await _contract(session, contract.id)
    links = await milestone_links(session, [c])
    exclusivity = None
    if c.exclusivity_category and c.exclusivity_from and c.exclusivity_until:
        exclusivity = ExclusivityWindowOut(
            category=c.exclusivity_category, starts_on=c.exclusivity_from, until=c.exclusivity_until
        )
    out = ContractOut(
        id=c.id,
        bid_id=c.bid_id,
        offer_id=c.offer_id,
        brief_id=c.brief_id,
        brand_id=c.brand_id,
        influencer_id=c.influencer_id,
        state=c.state,
        price=c.price,
        currency=c.currency,
        terms=TermsOut.model_validate(c.terms),
        accepted_at=c.accepted_at,
        funding_due_at=c.funding_due_at,
        funded_at=c.funded_at,
        ended_at=c.ended_at,
        exclusivity=exclusivity,
        programme_id=c.programme_id,
        period_no=c.period_no,
        deliverables=[ContractDeliverableOut.model_validate(d) for d in c.deliverables],
        milestones=[_milestone_out(m, links.get(m.id, [])) for m in c.milestones],
        side=Side.brand,
        allowed_actions=[],
        created_at=c.created_at,
    )
    return EventObject(_dump(out), brand_id=c.brand_id, influencer_id=c.influencer_id)


def _milestone_out(m: Milestone, deliverable_ids: list[str]) -> MilestoneOut:
    return MilestoneOut(
        id=m.id,
        position=m.position,
        name=m.name,
        amount=m.amount,
        currency=m.currency,
        on_completion=m.on_completion,
        deliverable_ids=deliverable_ids,
        state=m.state,
    )


async def _parties(session: AsyncSession, contract_id: str) -> tuple[str, str]:
    row = (
        await session.execute(
            select(Contract.brand_id, Contract.influencer_id).where(Contract.id == contract_id)
        )
    ).one()
    return row[0], row[1]


async def milestone_object(session: AsyncSession, milestone: Milestone) -> EventObject:
    ids = list(
        await session.scalars(
            select(MilestoneDeliverable.deliverable_id)
            .join(Deliverable, Deliverable.id == MilestoneDeliverable.deliverable_id)
            .where(MilestoneDeliverable.milestone_id == milestone.id)
            .order_by(Deliverable.position)
        )
    )
    brand_id, influencer_id = await _parties(session, milestone.contract_id)
    return EventObject(_dump(_milestone_out(milestone, ids)), brand_id, influencer_id)


async def deliverable_object(session: AsyncSession, deliverable: Deliverable) -> EventObject:
    contract = await session.get(Contract, deliverable.contract_id)
    assert contract is not None
    (v,) = await deliverables.views(session, contract, Side.brand.value, [deliverable])
    d, terms = v.deliverable, v.contract.terms
    out = DeliverableDetailOut(
        id=d.id,
        contract_id=d.contract_id,
        position=d.position,
        key=d.key,
        unit=d.unit,
        type=d.type,
        platform=deliverables.platform_of(d),
        due_date=d.due_date,
        late_at=late_at(d.due_date),
        state=d.state,
        late=d.late,
        late_since=d.late_since,
        draft_required=v.draft_required,
        approval_policy=str(terms.get("approval_policy")),
        revision_cap=int(terms.get("revision_cap", 0)),
        revisions_used=v.revisions_used,
        published_at=d.published_at,
        confirmed_at=d.confirmed_at,
        cancelled_at=d.cancelled_at,
        latest_draft=DraftOut.model_validate(v.latest_draft) if v.latest_draft else None,
        proof=ProofOut.model_validate(v.proof) if v.proof else None,
        open_extension=(
            ExtensionOut.model_validate(v.open_extension) if v.open_extension else None
        ),
        milestone_ids=v.milestone_ids,
        side=Side.brand,
        allowed_actions=[],
    )
    return EventObject(_dump(out), brand_id=contract.brand_id, influencer_id=contract.influencer_id)


async def draft_object(session: AsyncSession, draft: Draft) -> EventObject:
    brand_id, influencer_id = await _parties(session, draft.contract_id)
    return EventObject(_dump(DraftOut.model_validate(draft)), brand_id, influencer_id)


async def dispute_object(session: AsyncSession, dispute: Dispute) -> EventObject:
    out = DisputeOut.model_validate(dispute)
    found = (await stripe_disputes.by_dispute_record(session, [dispute.id])).get(dispute.id)
    if found is not None:
        out.payment_dispute = PaymentDisputeOut.model_validate(found)
    brand_id, influencer_id = await _parties(session, dispute.contract_id)
    return EventObject(_dump(out), brand_id, influencer_id)


async def transfer_object(session: AsyncSession, transfer: Transfer) -> EventObject:
    brand_id, influencer_id = await _parties(session, transfer.contract_id)
    return EventObject(_dump(TransferOut.model_validate(transfer)), brand_id, influencer_id)


async def payout_object(session: AsyncSession, payout: Payout) -> EventObject:
    out = PayoutOut(
        id=payout.id,
        stripe_payout_id=payout.stripe_payout_id,
        amount=payout.amount,
        currency=payout.currency,
        status=payout.status,
        failure_code=payout.failure_code,
        failure_message=payout.failure_message,
        arrival_date=payout.arrival_date,
        updated_at=payout.updated_at,
    )
    return EventObject(_dump(out), brand_id=None, influencer_id=payout.influencer_id)


OBJECT_VIEWS: Final[Mapping[str, ObjectView]] = {
    "brief": brief_object,
    "bid": bid_object,
    "offer": offer_object,
    "contract": contract_object,
    "deliverable": deliverable_object,
    "draft": draft_object,
    "milestone": milestone_object,
    "dispute": dispute_object,
    "transfer": transfer_object,
    "payout": payout_object,
}

PAYOUT_STATUSES: Final = ("pending", "in_transit", "paid", "failed", "canceled")

# Event types that no machine declares (the machines' own are derived from their tables).
EXTRA_EVENT_TYPES: Final[Mapping[str, frozenset[str]]] = {
    "brief": frozenset(
        {"brief.updated", *(f"brief.{BriefState(s).value}" for s in briefs.TRANSITIONS.values())}
    ),
    # A new object's first event names its first state.
    "bid": frozenset({"bid.submitted"}),
    "contract": frozenset({"contract.awaiting_funding"}),
    "dispute": frozenset({"dispute.open", "dispute.escalated"}),
    "transfer": frozenset({"transfer.created", "transfer.reversed"}),
    "payout": frozenset(f"payout.{s}" for s in PAYOUT_STATUSES),
}


async def brief_changed(session: AsyncSession, brief: Brief, now: datetime) -> None:
    """The brief-change hook: `brief.<state>` when its state moved since its last event,
    `brief.updated` for an edit."""
    state = BriefState(brief.state).value
    last = await events.last_event(session, "brief", brief.id)
    if last is None:
        moved = state != BriefState.draft.value
    else:
        moved = last.payload.get("data", {}).get("object", {}).get("state") != state
    await events.emit(session, "brief", brief, f"brief.{state}" if moved else "brief.updated", now)
