"""Disputes: opened and withdrawn by a contract's parties, resolved by operators
(app/services/delivery/disputes.py, docs/delivery.md)."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Query, status

from app.auth import ContractReader, ContractWriter, Operator
from app.db import Session
from app.deps import AppSettings, Now
from app.errors import AUTH_PROBLEMS, InvalidTransition, problem_responses
from app.models import Dispute, DisputeState
from app.pagination import Page, Pagination, page_of
from app.schemas.delivery import (
    DisputeIn,
    DisputeOut,
    MilestoneStateOut,
    OperatorDisputeOut,
    PaymentDisputeOut,
    ReasonOptionalIn,
    ResolveIn,
)
from app.services.delivery import disputes as service
from app.services.delivery.contracts import ContractNotFound
from app.services.delivery.disputes import DisputeNotFound
from app.services.money import stripe_disputes
from app.services.workflow.state_machine import (
    ActorNotAllowed,
    ConcurrentTransition,
    TransitionRefused,
)

router = APIRouter()

MOVES = (InvalidTransition, ActorNotAllowed, ConcurrentTransition, TransitionRefused)


async def _outs(session: Session, disputes: list[Dispute]) -> list[DisputeOut]:
    """The disputes with Stripe's side attached to those opened for a chargeback."""
    stripe_side = await stripe_disputes.by_dispute_record(session, [d.id for d in disputes])
    outs = []
    for dispute in disputes:
        out = DisputeOut.model_validate(dispute)
        if (found := stripe_side.get(dispute.id)) is not None:
            out.payment_dispute = PaymentDisputeOut.model_validate(found)
        outs.append(out)
    return outs


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
    description="Every dispute raised on this contract, newest first. Only the contract's "
    "parties can read them.",
    responses=problem_responses(*AUTH_PROBLEMS, ContractNotFound),
)
async def list_contract_disputes(
    contract_id: str, principal: ContractReader, session: Session, page: Pagination
) -> Page[DisputeOut]:
    rows, cursor = await service.list_contract_disputes(
        session, principal.user_id, contract_id, page
    )
    return Page[DisputeOut](**page_of(await _outs(session, rows), cursor))


@router.get(
    "/v1/disputes/{dispute_id}",
    tags=["delivery"],
    summary="A dispute (its contract's parties)",
    description="One dispute: who raised it, why, its state and, once decided, the resolution. "
    "Only the contract's parties can read it.",
    responses=problem_responses(*AUTH_PROBLEMS, DisputeNotFound),
)
async def get_dispute(dispute_id: str, principal: ContractReader, session: Session) -> DisputeOut:
    dispute, _ = await service.load_dispute(session, principal.user_id, dispute_id)
    return (await _outs(session, [dispute]))[0]


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


@router.get(
    "/v1/contracts/{contract_id}/payment-disputes",
    tags=["delivery"],
    summary="Disputes of the funding charge by the brand's bank, newest first (both parties)",
    description="Stripe's disputes on the contract's funding charge: inquiries (which freeze "
    "nothing) and chargebacks (which froze the contract's money under the dispute record "
    "`dispute_id`), with Stripe's status, reason, amount, evidence due date, and the money "
    "Stripe withdrew, reinstated and charged as a dispute fee.",
    responses=problem_responses(*AUTH_PROBLEMS, ContractNotFound),
)
async def list_payment_disputes(
    contract_id: str, principal: ContractReader, session: Session, page: Pagination
) -> Page[PaymentDisputeOut]:
    rows, cursor = await stripe_disputes.contract_payment_disputes(
        session, principal.user_id, contract_id, page
    )
    outs = [PaymentDisputeOut.model_validate(row) for row in rows]
    return Page[PaymentDisputeOut](**page_of(outs, cursor))


# --- operators ----------------------------------------------------------------------------------


@router.get(
    "/v1/operator/payment-disputes",
    tags=["operator"],
    summary="Every dispute of a funding charge (inquiries and chargebacks), newest first",
    description="Disputes a card holder opened against a brand's funding charge (Stripe "
    "inquiries and chargebacks), newest first, optionally only some Stripe statuses. Operators "
    "only.",
    responses=problem_responses(*AUTH_PROBLEMS),
)
async def list_all_payment_disputes(
    principal: Operator,
    session: Session,
    page: Pagination,
    status: Annotated[
        list[str], Query(default_factory=list, description="Only these Stripe statuses")
    ],
) -> Page[PaymentDisputeOut]:
    rows, cursor = await stripe_disputes.all_payment_disputes(session, status, page)
    outs = [PaymentDisputeOut.model_validate(row) for row in rows]
    return Page[PaymentDisputeOut](**page_of(outs, cursor))


async def _operator_out(session: Session, dispute: Dispute) -> OperatorDisputeOut:
    view = await service.operator_view(session, dispute)
    return OperatorDisputeOut.model_validate(
        {
            **(await _outs(session, [dispute]))[0].model_dump(),
            "contract_state": view.contract.state,
            "opened_by_user": dispute.opened_by_user,
            "resolved_by": dispute.resolved_by,
            "unreleased_amount": view.unreleased_amount,
            "milestones": [MilestoneStateOut.model_validate(m) for m in view.milestones],
        }
    )


@router.get(
    "/v1/operator/disputes",
    tags=["operator"],
    summary="Disputes, oldest first (`state=open&state=escalated` is the queue)",
    description="Disputes between brands and creators, oldest first, optionally only some "
    "states. Operators only.",
    responses=problem_responses(*AUTH_PROBLEMS),
)
async def list_disputes(
    principal: Operator,
    session: Session,
    page: Pagination,
    state: Annotated[
        list[DisputeState],
        Query(default_factory=list, description="Only disputes in these states"),
    ],
) -> Page[OperatorDisputeOut]:
    rows, cursor = await service.list_disputes(session, state, page)
    outs = [await _operator_out(session, d) for d in rows]
    return Page[OperatorDisputeOut](**page_of(outs, cursor))


@router.get(
    "/v1/operator/disputes/{dispute_id}",
    tags=["operator"],
    summary="One dispute, with its contract's milestones",
    description="One dispute with its contract's milestones and how much of each is released, to "
    "decide how to resolve it. Operators only.",
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
