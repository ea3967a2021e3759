"""Contracts: read by their two parties; cancelled by either before funding
(app/services/delivery/contracts.py, docs/negotiation.md)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

from fastapi import APIRouter, Query

from app.auth import ContractReader, ContractWriter
from app.db import Session
from app.deps import Now
from app.errors import AUTH_PROBLEMS, InvalidTransition, problem_responses
from app.models import Contract, ContractState, Side
from app.pagination import Page, Pagination, page_of
from app.schemas.contracts import (
    ContractDeliverableOut,
    ContractOut,
    ExclusivityWindowOut,
    MilestoneOut,
)
from app.schemas.negotiation import ReasonIn, TermsOut
from app.schemas.workflow import TransitionOut
from app.services.delivery import contracts as service
from app.services.delivery.contracts import CONTRACTS, ContractNotFound
from app.services.negotiation.bids import sides
from app.services.workflow.state_machine import (
    ActorNotAllowed,
    ConcurrentTransition,
    TransitionRefused,
)

router = APIRouter(tags=["contracts"])


async def _outs(session: Session, user_id: str, rows: Sequence[Contract]) -> list[ContractOut]:
    links = await service.milestone_links(session, rows)
    side_of = await sides(session, user_id, rows)
    out = []
    for c in rows:
        side = side_of[c.id]
        exclusivity = None
        if c.exclusivity_category and c.exclusivity_from and c.exclusivity_until:
            exclusivity = ExclusivityWindowOut(
                category=c.exclusivity_category,
                starts_on=c.exclusivity_from,
                until=c.exclusivity_until,
            )
        out.append(
            ContractOut(
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
                milestones=[
                    MilestoneOut(
                        id=m.id,
                        position=m.position,
                        name=m.name,
                        amount=m.amount,
                        currency=m.currency,
                        on_completion=m.on_completion,
                        deliverable_ids=links.get(m.id, []),
                        state=m.state,
                    )
                    for m in c.milestones
                ],
                side=side,
                allowed_actions=CONTRACTS.allowed_actions(c.state, side.value),
                created_at=c.created_at,
            )
        )
    return out


@router.get(
    "/v1/contracts",
    summary="Your contracts, both sides",
    description="Contracts of your brands and your own as an influencer, newest first.",
    responses=problem_responses(*AUTH_PROBLEMS),
)
async def list_contracts(
    principal: ContractReader,
    session: Session,
    page: Pagination,
    state: Annotated[
        list[ContractState],
        Query(default_factory=list, description="Only contracts in these states (e.g. `active`)"),
    ],
    brand_id: Annotated[
        str | None, Query(max_length=40, description="Only this brand's contracts")
    ] = None,
    side: Annotated[
        Side | None,
        Query(description="`brand`: your brands' contracts; `influencer`: your own"),
    ] = None,
) -> Page[ContractOut]:
    rows, cursor = await service.list_contracts(
        session, principal.user_id, page, states=state, brand_id=brand_id, side=side
    )
    return Page[ContractOut](**page_of(await _outs(session, principal.user_id, rows), cursor))


@router.get(
    "/v1/contracts/{contract_id}",
    summary="A contract",
    description="The accepted terms, deliverables and milestones; the two parties only.",
    responses=problem_responses(*AUTH_PROBLEMS, ContractNotFound),
)
async def get_contract(
    contract_id: str, principal: ContractReader, session: Session
) -> ContractOut:
    contract, _ = await service.load_contract(session, principal.user_id, contract_id)
    (out,) = await _outs(session, principal.user_id, [contract])
    return out


@router.post(
    "/v1/contracts/{contract_id}/cancel",
    summary="Cancel a contract before work starts",
    description="Either party: awaiting_funding → cancelled; or, once funded, active → "
    "cancelled while no work has started, with a full refund (docs/delivery.md). 409 in any "
    "other state, or when work has started.",
    responses=problem_responses(
        *AUTH_PROBLEMS,
        ContractNotFound,
        InvalidTransition,
        ActorNotAllowed,
        ConcurrentTransition,
        TransitionRefused,
    ),
)
async def cancel_contract(
    contract_id: str,
    principal: ContractWriter,
    session: Session,
    now: Now,
    body: ReasonIn | None = None,
) -> ContractOut:
    reason = body.reason if body is not None else None
    await service.cancel_contract(session, principal.user_id, contract_id, now, reason)
    contract, _ = await service.load_contract(session, principal.user_id, contract_id)
    (out,) = await _outs(session, principal.user_id, [contract])
    return out


@router.get(
    "/v1/contracts/{contract_id}/transitions",
    summary="The contract's audit trail",
    description="Every transition of the contract, oldest first; the two parties only.",
    responses=problem_responses(*AUTH_PROBLEMS, ContractNotFound),
)
async def list_contract_transitions(
    contract_id: str, principal: ContractReader, session: Session, page: Pagination
) -> Page[TransitionOut]:
    rows, cursor = await service.contract_transitions(session, principal.user_id, contract_id, page)
    return Page[TransitionOut](**page_of([TransitionOut.model_validate(t) for t in rows], cursor))
