"""Funding a contract (the brand) and earnings (the influencer): docs/payments.md."""

from __future__ import annotations

from fastapi import APIRouter

from app.auth import PaymentReader, PaymentWriter
from app.db import Session
from app.deps import AppSettings, AppStripe, Now
from app.errors import AUTH_PROBLEMS, problem_responses
from app.models import Payout
from app.schemas.money import (
    ConfirmFundingIn,
    CurrencyEarningsOut,
    EarningsOut,
    FundingOut,
    MilestoneMoneyOut,
    PayoutOut,
)
from app.services.catalogue.influencers import InfluencerProfileNotFound
from app.services.delivery.contracts import ContractNotFound
from app.services.money import earnings as earnings_service
from app.services.money import funding as service
from app.services.money.funding import (
    CONFIRM_PROBLEMS,
    FUNDING_PROBLEMS,
    Funding,
    FundingNotStarted,
)

router = APIRouter(tags=["payments"])


def _funding_out(found: Funding) -> FundingOut:
    p = found.payment
    return FundingOut(
        contract_id=found.contract_id,
        contract_state=found.contract_state,
        payment_intent_id=p.payment_intent_id,
        client_secret=found.client_secret,
        amount=p.total,
        price=p.amount,
        fee=p.fee,
        currency=p.currency,
        status=found.intent_status,
        failure_code=p.failure_code,
        failure_message=p.failure_message,
        charge_id=p.charge_id,
    )


@router.post(
    "/v1/contracts/{contract_id}/funding",
    summary="Fund a contract: the PaymentIntent for price + brand fee",
    description="Brand members of the contract's brand. Creates the contract's Stripe "
    "PaymentIntent (amount = price + the brand-side fee; the influencer's price is escrowed in "
    "full) the first time, and returns the same one on every later call. Confirm it in the "
    "browser with Stripe.js and `client_secret`; the contract becomes `active` when Stripe "
    "tells us the payment succeeded.",
    responses=problem_responses(*AUTH_PROBLEMS, *FUNDING_PROBLEMS),
)
async def fund_contract(
    contract_id: str,
    principal: PaymentWriter,
    session: Session,
    settings: AppSettings,
    now: Now,
    gateway: AppStripe,
) -> FundingOut:
    found = await service.start_funding(
        session, gateway, settings, principal.user_id, contract_id, now
    )
    return _funding_out(found)


@router.post(
    "/v1/contracts/{contract_id}/funding/confirm",
    summary="Sandbox only: confirm the funding with a test card",
    description="Development against the Stripe sandbox only (404 `sandbox-only` otherwise): "
    "confirms the PaymentIntent with a test payment method, as Stripe.js would in the brand's "
    "browser. `pm_card_visa` succeeds; a declined card answers 402 `payment-declined` and the "
    "reason is kept on the funding. The contract becomes active once the worker has processed "
    "Stripe's `payment_intent.succeeded`.",
    responses=problem_responses(*AUTH_PROBLEMS, *CONFIRM_PROBLEMS),
)
async def confirm_contract_funding(
    contract_id: str,
    body: ConfirmFundingIn,
    principal: PaymentWriter,
    session: Session,
    settings: AppSettings,
    now: Now,
    gateway: AppStripe,
) -> FundingOut:
    found = await service.confirm_funding(
        session,
        gateway,
        settings,
        principal.user_id,
        contract_id,
        body.payment_method,
        now,
    )
    return _funding_out(found)


@router.get(
    "/v1/contracts/{contract_id}/funding",
    summary="Where the contract's funding stands",
    description="Both parties: the PaymentIntent's status, amount, fee, and why the last "
    "payment attempt failed.",
    responses=problem_responses(*AUTH_PROBLEMS, ContractNotFound, FundingNotStarted),
)
async def get_contract_funding(
    contract_id: str, principal: PaymentReader, session: Session
) -> FundingOut:
    return _funding_out(await service.funding_status(session, principal.user_id, contract_id))


def _payout_out(p: Payout) -> PayoutOut:
    return PayoutOut(
        id=p.id,
        stripe_payout_id=p.stripe_payout_id,
        amount=p.amount,
        currency=p.currency,
        status=p.status,
        failure_code=p.failure_code,
        failure_message=p.failure_message,
        arrival_date=p.arrival_date,
        updated_at=p.updated_at,
    )


@router.get(
    "/v1/influencers/me/earnings",
    summary="Your earnings: in escrow, released, transferred, paid out",
    description="Per currency, and each milestone's money state: funded and held, releasable, "
    "released (and what it waits for), transferred to your Stripe account, paid out to your "
    "bank — and every failed payout with Stripe's reason.",
    responses=problem_responses(*AUTH_PROBLEMS, InfluencerProfileNotFound),
)
async def get_my_earnings(principal: PaymentReader, session: Session) -> EarningsOut:
    found = await earnings_service.earnings(session, principal.user_id)
    return EarningsOut(
        influencer_id=found.influencer_id,
        payouts_enabled=found.payouts_enabled,
        transfers_enabled=found.transfers_enabled,
        currencies=[
            CurrencyEarningsOut(
                currency=t.currency,
                in_escrow=t.in_escrow,
                releasable=t.releasable,
                released=t.released,
                transferred=t.transferred,
                paid_out=t.paid_out,
                payouts_pending=t.payouts_pending,
                failed_payouts=[_payout_out(p) for p in t.failed_payouts],
            )
            for t in found.currencies
        ],
        milestones=[
            MilestoneMoneyOut(
                milestone_id=m.milestone_id,
                contract_id=m.contract_id,
                position=m.position,
                name=m.name,
                amount=m.amount,
                currency=m.currency,
                state=m.state,
                money_state=m.money_state,
                waiting_for=m.waiting_for,
                transfer_id=m.transfer_id,
                transferred=m.transferred,
            )
            for m in found.milestones
        ],
        payouts=[_payout_out(p) for p in found.payouts],
    )
