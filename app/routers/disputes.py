"""Disputes: opened and withdrawn by a contract's parties, resolved by operators
(app/services/disputes.py, docs/delivery.md)."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Query, status
from sqlalchemy import select

from app.auth import ContractReader, ContractWriter, Operator
from app.db import Session
from app.deps import AppSettings, Now
from app.errors import AUTH_PROBLEMS, InvalidTransition, problem_responses
from app.models import Contract, Dispute, DisputeState, Milestone
from app.pagination import Page, Pagination, page_of
from app.schemas.delivery import (
    DisputeIn,
    DisputeOut,
    MilestoneStateOut,
    OperatorDisputeOut,
    ReasonOptionalIn,
    ResolveIn,
)
from app.services import disputes as service
from app.services.contracts import ContractNotFound
from app.services.disputes import UNRELEASED, DisputeNotFound
from app.services.state_machine import ActorNotAllowed, ConcurrentTransition, TransitionRefused

router = APIRouter()

MOVES = (InvalidTransition, ActorNotAllowed, ConcurrentTransition, TransitionRefused)


@router.post(
    "/v1/contracts/{contract_id}/disputes",
    status_code=status.HTTP_201_CREATED,
    tags=["delivery"],
    summary="Open a dispute (either party)",
    description="The contract (active or delivered) becomes `disputed`: its money is frozen — no "
    "milestone is released — until the opener withdraws the dispute or an operator resolves it. "
    "Work goes on. Unsettled after `RAPPORT_DISPUTE_ESCALATION_HOURS`, it is escalated.",
    responses=problem_responses(*AUTH_PROBLEMS, ContractNotFound, *MOVES),
)
async def open_dispute(
    contract_id: str,
    body: DisputeIn,
    principal: ContractWriter,
    session: Session,
    now: Now,
    settings: AppSettings,
) -> DisputeOut:
    dispute = await service.open_dispute(
        session,
        principal.user_id,
        contract_id,
        now,
        reason=body.reason,
        details=body.details,
        escalation=timedelta(hours=settings.dispute_escalation_hours),
    )
    return DisputeOut.model_validate(dispute)


@router.get(
    "/v1/contracts/{contract_id}/disputes",
    tags=["delivery"],
    summary="The contract's disputes, newest first",
    responses=problem_responses(*AUTH_PROBLEMS, ContractNotFound),
)
async def list_contract_disputes(
    contract_id: str, principal: ContractReader, session: Session, page: Pagination
) -> Page[DisputeOut]:
    rows, cursor = await service.list_contract_disputes(
        session, principal.user_id, contract_id, page
    )
    return Page[DisputeOut](**page_of([DisputeOut.model_validate(d) for d in rows], cursor))


@router.get(
    "/v1/disputes/{dispute_id}",
    tags=["delivery"],
    summary="A dispute (its contract's parties)",
    responses=problem_responses(*AUTH_PROBLEMS, DisputeNotFound),
)
async def get_dispute(dispute_id: str, principal: ContractReader, session: Session) -> DisputeOut:
    dispute, _ = await service.load_dispute(session, principal.user_id, dispute_id)
    return DisputeOut.model_validate(dispute)


@router.post(
    "/v1/disputes/{dispute_id}/withdraw",
    tags=["delivery"],
    summary="Withdraw your dispute",
    description="The party who opened it; the contract resumes and milestones met meanwhile are "
    "released.",
    responses=problem_responses(*AUTH_PROBLEMS, DisputeNotFound, *MOVES),
)
async def withdraw_dispute(
    dispute_id: str,
    principal: ContractWriter,
    session: Session,
    now: Now,
    body: ReasonOptionalIn | None = None,
) -> DisputeOut:
    reason = body.reason if body is not None else None
    dispute = await service.withdraw(session, principal.user_id, dispute_id, now, reason)
    return DisputeOut.model_validate(dispute)


# --- operators ----------------------------------------------------------------------------------


async def _operator_out(session: Session, dispute: Dispute) -> OperatorDisputeOut:
    contract = await session.get(Contract, dispute.contract_id, populate_existing=True)
    assert contract is not None
    milestones = list(
        await session.scalars(
            select(Milestone)
            .where(Milestone.contract_id == contract.id)
            .order_by(Milestone.position)
            .execution_options(populate_existing=True)
        )
    )
    return OperatorDisputeOut.model_validate(
        {
            **DisputeOut.model_validate(dispute).model_dump(),
            "contract_state": contract.state,
            "opened_by_user": dispute.opened_by_user,
            "resolved_by": dispute.resolved_by,
            "unreleased_amount": sum(m.amount for m in milestones if m.state in UNRELEASED),
            "milestones": [MilestoneStateOut.model_validate(m) for m in milestones],
        }
    )


@router.get(
    "/v1/operator/disputes",
    tags=["operator"],
    summary="Disputes, oldest first (`state=open&state=escalated` is the queue)",
    responses=problem_responses(*AUTH_PROBLEMS),
)
async def list_disputes(
    principal: Operator,
    session: Session,
    page: Pagination,
    state: list[DisputeState] = Query(
        default_factory=list, description="Only disputes in these states"
    ),
) -> Page[OperatorDisputeOut]:
    rows, cursor = await service.list_disputes(session, state, page)
    outs = [await _operator_out(session, d) for d in rows]
    return Page[OperatorDisputeOut](**page_of(outs, cursor))


@router.get(
    "/v1/operator/disputes/{dispute_id}",
    tags=["operator"],
    summary="One dispute, with its contract's milestones",
    responses=problem_responses(*AUTH_PROBLEMS, DisputeNotFound),
)
async def get_operator_dispute(
    dispute_id: str, principal: Operator, session: Session
) -> OperatorDisputeOut:
    return await _operator_out(session, await service.get_dispute(session, dispute_id))


@router.post(
    "/v1/operator/disputes/{dispute_id}/resolve",
    tags=["operator"],
    summary="Resolve a dispute: release, partial refund or full refund",
    description="The contract becomes `resolved`. `release`: every unreleased milestone is "
    "released (`money.release_milestone` each); `full_refund`: one `money.refund_contract` of "
    'everything unreleased (`amount: "unreleased"`); `partial_refund`: one `money.refund_contract` '
    "of `refund_amount` (≤ the unreleased amount), the remainder to the influencer. Audited with "
    "you as the actor and the note as the reason.",
    responses=problem_responses(*AUTH_PROBLEMS, DisputeNotFound, *MOVES),
)
async def resolve_dispute(
    dispute_id: str, body: ResolveIn, principal: Operator, session: Session, now: Now
) -> OperatorDisputeOut:
    dispute = await service.resolve(
        session,
        principal.user_id,
        dispute_id,
        now,
        resolution=body.resolution,
        refund_amount=body.refund_amount,
        note=body.note,
    )
    return await _operator_out(session, dispute)
