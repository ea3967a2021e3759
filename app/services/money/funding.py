"""Funding: the brand pays price + brand fee into escrow (docs/payments.md, "Funding").

1. `start_funding` (`POST /v1/contracts/{id}/funding`, brand members): creates the contract's
   PaymentIntent — amount = price + fee, `transfer_group` = the contract, metadata naming the
   contract, Stripe idempotency key `funding:<contract id>` — and stores a `payments` row.
   Calling again returns the same PaymentIntent (with its `client_secret` for Stripe.js).
2. The brand confirms it with Stripe.js (production), or — against the sandbox only — through
   `POST /v1/contracts/{id}/funding/confirm` with a test payment method (`pm_card_visa`).
3. `payment_intent.succeeded` (the webhook inbox → worker): the ledger's funding entry
   (`book_funding`: escrow + fees, key `funding:<charge id>`) and the contract's `fund`
   transition (awaiting_funding → active), in one transaction. A payment that lands after the
   contract expired or was cancelled is booked and refunded in full, fee included.
   `payment_intent.payment_failed` keeps the contract awaiting funding and records the reason
   on the payment (`GET /v1/contracts/{id}/funding`).
4. The funding window's expiry (and a cancellation before funding) enqueues
   `money.cancel_funding`, which cancels the PaymentIntent at Stripe.

**Fees** (`brand_fee`): `fee = round_half_up(price * RAPPORT_BRAND_FEE_BPS / 10 000) +
RAPPORT_BRAND_FEE_FIXED[currency]`, in integer minor units (no floats): `(price * bps + 5 000)
// 10 000`. Zero-decimal currencies need nothing special: the price is already in yen. The
influencer's agreed price is never reduced: the whole price is escrowed for them.

Like app/services/money/payouts.py, the request ends its read transaction before each Stripe call so
no database transaction is open while Stripe answers.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import stripe
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import add_unique
from app.errors import Conflict, Forbidden, NotFound, Problem
from app.integrations.stripe import (
    StripeCardDeclined,
    StripeGateway,
    StripeGatewayError,
    StripeRequestRejected,
    StripeUnavailable,
    idempotency_key,
)
from app.models import Contract, Payment
from app.models.contract import DEAD_CONTRACT_STATES
from app.models.stripe_event import StripeEventOutcome
from app.services.delivery.contracts import CONTRACTS, ContractNotFound
from app.services.identity.tenancy import member_brands, party_filter
from app.services.money import ledger, settlement
from app.services.money.contract_money import charge_of, fresh_contract
from app.services.money.stripe_events import EventContext, Handled
from app.services.money.stripe_problems import (
    STRIPE_PROBLEMS,
    PaymentDeclined,
    PaymentMethodInvalid,
    PaymentParameterInvalid,
    PaymentStateConflict,
    call_stripe,
    create_once,
    end_transaction,
    stripe_problem,
)
from app.services.workflow.jobs import (
    REFUND_CONTRACT_TOPIC,
    ClaimedJob,
    JobContext,
    PermanentJobError,
)
from app.services.workflow.outbox import enqueue
from app.services.workflow.state_machine import Actor
from app.settings import Settings

logger = logging.getLogger("rapport.money.funding")

AWAITING_FUNDING = "awaiting_funding"


# --- problems -------------------------------------------------------------------------------


class FundingBrandOnly(Forbidden):
    slug, title = "funding-brand-only", "Only the contract's brand funds it"


class ContractNotFundable(Conflict):
    slug, title = "contract-not-fundable", "The contract is not awaiting funding"


class FundingNotStarted(Conflict):
    slug, title = "funding-not-started", "Start funding first (POST …/funding)"


class SandboxOnly(NotFound):
    slug, title = "sandbox-only", "This route exists only against the Stripe sandbox"


FUNDING_PROBLEMS: tuple[type[Problem], ...] = (
    ContractNotFound,
    FundingBrandOnly,
    ContractNotFundable,
    *STRIPE_PROBLEMS,
)
CONFIRM_PROBLEMS: tuple[type[Problem], ...] = (
    ContractNotFound,
    FundingBrandOnly,
    FundingNotStarted,
    SandboxOnly,
    PaymentDeclined,
    PaymentStateConflict,
    PaymentMethodInvalid,
    PaymentParameterInvalid,
    *STRIPE_PROBLEMS,
)


# --- fees -----------------------------------------------------------------------------------


def brand_fee(price: int, currency: str, settings: Settings) -> int:
    """The brand-side service fee for `price` minor units: basis points rounded half up, plus
    the fixed fee of the currency. Integers only."""
    if isinstance(price, bool) or not isinstance(price, int) or price < 0:
        raise ValueError(f"price must be a non-negative integer of minor units, not {price!r}")
    percentage = (price * settings.brand_fee_bps + 5_000) // 10_000
    fixed = {k.upper(): v for k, v in settings.brand_fee_fixed.items()}.get(currency.upper(), 0)
    return percentage + int(fixed)


# --- the brand's side -----------------------------------------------------------------------


def _metadata(
    contract_id: str, brand_id: str, price: int, fee: int, programme_id: str | None
) -> dict[str, str]:
    """What a funding PaymentIntent carries: enough to rebuild its row (`_payment_for_intent`)."""
    metadata = {
        "rapport_contract_id": contract_id,
        "rapport_brand_id": brand_id,
        "rapport_price": str(price),
        "rapport_fee": str(fee),
    }
    if programme_id:
        metadata["rapport_programme_id"] = programme_id
    return metadata


async def programme_customer(session: AsyncSession, programme_id: str) -> str | None:
    """The Stripe customer an ambassador programme's periods are charged to, once one was."""
    return await session.scalar(
        select(Payment.customer_id)
        .join(Contract, Contract.id == Payment.contract_id)
        .where(Contract.programme_id == programme_id, Payment.customer_id.is_not(None))
        .order_by(Payment.created_at)
        .limit(1)
    )


async def saved_card(session: AsyncSession, programme_id: str) -> tuple[str, str] | None:
    """(customer, payment method) the programme's next period is charged with: the card of its
    latest successful payment that Stripe keeps for later charges."""
    row = (
        await session.execute(
            select(Payment.customer_id, Payment.saved_payment_method_id)
            .join(Contract, Contract.id == Payment.contract_id)
            .where(
                Contract.programme_id == programme_id,
                Payment.status == "succeeded",
                Payment.customer_id.is_not(None),
                Payment.saved_payment_method_id.is_not(None),
            )
            .order_by(Contract.period_no.desc())
            .limit(1)
        )
    ).first()
    if row is None or row[0] is None or row[1] is None:
        return None
    return row[0], row[1]


@dataclass(frozen=True)
class Funding:
    contract_id: str
    contract_state: str
    payment: Payment
    client_secret: str | None
    intent_status: str


async def _brand_contract(session: AsyncSession, user_id: str, contract_id: str) -> Contract:
    """The contract, if the user is a party (404 otherwise) and on the brand's side (403)."""
    contract = await session.scalar(
        select(Contract)
        .where(Contract.id == contract_id, party_filter(Contract, user_id))
        .execution_options(populate_existing=True)
    )
    if contract is None:
        raise ContractNotFound(f"No contract {contract_id} that you are a party to")
    member = await session.scalar(
        select(Contract.id).where(
            Contract.id == contract_id, Contract.brand_id.in_(member_brands(user_id))
        )
    )
    if member is None:
        raise FundingBrandOnly("Only members of the contract's brand fund it")
    return contract


async def _payment(session: AsyncSession, contract_id: str) -> Payment | None:
    return await session.scalar(
        select(Payment)
        .where(Payment.contract_id == contract_id)
        .execution_options(populate_existing=True)
    )


async def start_funding(
    session: AsyncSession,
    gateway: StripeGateway,
    settings: Settings,
    user_id: str,
    contract_id: str,
    now: datetime,
) -> Funding:
    contract = await _brand_contract(session, user_id, contract_id)
    state, price, currency, brand_id, programme_id = (
        contract.state,
        contract.price,
        contract.currency,
        contract.brand_id,
        contract.programme_id,
    )
    payment = await _payment(session, contract_id)
    if payment is not None:
        intent_id = payment.payment_intent_id
        await end_transaction(session)
        intent = await call_stripe(gateway.retrieve_payment_intent(intent_id))
        return Funding(contract_id, state, payment, intent.client_secret, intent.status)
    if state != AWAITING_FUNDING:
        raise ContractNotFundable(
            f"Contract {contract_id} is {state}; only a contract awaiting funding can be funded",
            current_state=state,
        )
    fee = brand_fee(price, currency, settings)
    customer_id = await programme_customer(session, programme_id) if programme_id else None
    await end_transaction(session)
    if programme_id and customer_id is None:
        # An ambassador programme's renewals charge the card the brand pays this period with:
        # Stripe keeps it on a customer of the programme's (docs/payments.md, "Renewals").
        customer = await call_stripe(
            gateway.create_customer(
                idempotency_key=idempotency_key("customer", programme_id),
                metadata={"rapport_programme_id": programme_id, "rapport_brand_id": brand_id},
            )
        )
        customer_id = customer.id

    def create(key: str) -> Awaitable[stripe.PaymentIntent]:
        return gateway.create_payment_intent(
            amount=price + fee,
            currency=currency,
            customer=customer_id,
            setup_future_usage="off_session" if programme_id else None,
            transfer_group=contract_id,
            description=f"Rapport contract {contract_id}",
            metadata=_metadata(contract_id, brand_id, price, fee, programme_id),
            payment_method_types=["card"],
            idempotency_key=key,
        )

    intent = await create_once(
        create,
        idempotency_key("funding", contract_id),
        lambda: gateway.find_by_metadata("payment_intents", "rapport_contract_id", contract_id),
        what="PaymentIntent",
    )
    row = Payment(
        contract_id=contract_id,
        payment_intent_id=intent.id,
        amount=price,
        fee=fee,
        currency=currency,
        status=intent.status,
        customer_id=customer_id,
        created_at=now,
        updated_at=now,
    )
    if not await add_unique(session, row):
        # A concurrent call stored it first: the same key gave it the same PaymentIntent.
        stored = await _payment(session, contract_id)
        assert stored is not None
        row = stored
    logger.info("funding started", extra={"contract": contract_id, "payment_intent": intent.id})
    return Funding(contract_id, state, row, intent.client_secret, intent.status)


async def confirm_funding(
    session: AsyncSession,
    gateway: StripeGateway,
    settings: Settings,
    user_id: str,
    contract_id: str,
    payment_method: str,
    now: datetime,
) -> Funding:
    """Sandbox only: confirm the PaymentIntent with a test payment method, as Stripe.js would
    in the brand's browser. The contract becomes active when the webhook is processed."""
    if not gateway.uses_sandbox or settings.environment == "production":
        raise SandboxOnly("Confirm the PaymentIntent with Stripe.js and its client_secret")
    contract = await _brand_contract(session, user_id, contract_id)
    state = contract.state
    payment = await _payment(session, contract_id)
    if payment is None:
        raise FundingNotStarted(f"Contract {contract_id} has no PaymentIntent yet")
    if payment.status == "succeeded":
        # Stripe would refuse it too (payment_intent_unexpected_state); no need to ask.
        raise PaymentStateConflict(
            f"Contract {contract_id} is already paid (PaymentIntent {payment.payment_intent_id})",
            payment_intent_status=payment.status,
        )
    n = (
        await session.execute(
            update(Payment)
            .where(Payment.id == payment.id)
            .values(confirmations=Payment.confirmations + 1, updated_at=now)
            .returning(Payment.confirmations)
            .execution_options(synchronize_session=False)
        )
    ).scalar_one()
    intent_id = payment.payment_intent_id
    await end_transaction(session)
    try:
        intent = await gateway.confirm_payment_intent(
            intent_id,
            payment_method=payment_method,
            idempotency_key=idempotency_key("funding-confirm", intent_id, n),
        )
    except StripeCardDeclined as exc:
        await session.execute(
            update(Payment)
            .where(Payment.id == payment.id)
            .values(
                status="requires_payment_method",
                failure_code=exc.decline_code or exc.code,
                failure_message=exc.message,
                updated_at=now,
            )
            .execution_options(synchronize_session=False)
        )
        raise stripe_problem(exc) from exc
    except StripeGatewayError as exc:
        # A concurrent confirmation (a duplicate click) that won, an unknown payment method:
        # the caller's 409/422 in Stripe's words; only an outage is a 5xx.
        raise stripe_problem(exc, caller_params={"payment_method"}) from exc
    stored = await _payment(session, contract_id)
    assert stored is not None
    return Funding(contract_id, state, stored, intent.client_secret, intent.status)


async def funding_status(session: AsyncSession, user_id: str, contract_id: str) -> Funding:
    """Both parties: where the contract's funding stands (no client secret)."""
    contract = await session.scalar(
        select(Contract).where(Contract.id == contract_id, party_filter(Contract, user_id))
    )
    if contract is None:
        raise ContractNotFound(f"No contract {contract_id} that you are a party to")
    payment = await _payment(session, contract_id)
    if payment is None:
        raise FundingNotStarted(f"Contract {contract_id} has no PaymentIntent yet")
    return Funding(contract_id, contract.state, payment, None, payment.status)


# --- webhooks (the worker, through the inbox) -----------------------------------------------


async def _payment_for_intent(session: AsyncSession, intent: dict[str, Any]) -> Payment | None:
    payment = await session.scalar(
        select(Payment)
        .where(Payment.payment_intent_id == intent.get("id"))
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if payment is not None:
        return payment
    # The PaymentIntent was created but its row was never stored (the request died between
    # Stripe's answer and the commit): rebuild it from the metadata we sent.
    metadata = intent.get("metadata") or {}
    contract_id = metadata.get("rapport_contract_id")
    if not contract_id or await fresh_contract(session, contract_id) is None:
        return None
    try:
        price, fee = int(metadata["rapport_price"]), int(metadata["rapport_fee"])
    except (KeyError, ValueError):
        return None
    row = Payment(
        contract_id=contract_id,
        payment_intent_id=intent["id"],
        amount=price,
        fee=fee,
        currency=str(intent.get("currency", "")).upper(),
        status=intent.get("status") or "requires_payment_method",
        customer_id=intent.get("customer"),
    )
    if not await add_unique(session, row):
        return None
    return row


async def payment_succeeded(ctx: EventContext) -> Handled:
    session, intent = ctx.session, ctx.data_object
    payment = await _payment_for_intent(session, intent)
    if payment is None:
        return Handled(StripeEventOutcome.ignored, f"{intent.get('id')} funds no Rapport contract")
    charge_id = charge_of(intent)
    if charge_id is None:
        return Handled(StripeEventOutcome.ignored, f"{payment.payment_intent_id} has no charge")
    payment.status = "succeeded"
    payment.charge_id = charge_id
    payment.failure_code = payment.failure_message = None
    if intent.get("setup_future_usage") == "off_session" and intent.get("payment_method"):
        # Confirmed with a card Stripe now keeps (a programme's period): later periods use it.
        payment.customer_id = payment.customer_id or intent.get("customer")
        payment.saved_payment_method_id = str(intent["payment_method"])
    payment.succeeded_at = payment.succeeded_at or ctx.now
    payment.updated_at = ctx.now
    received = intent.get("amount_received") or intent.get("amount")
    # Contract first, then the ledger: the lock order of every money path.
    contract = await fresh_contract(session, payment.contract_id, lock=True)
    assert contract is not None
    actor = Actor("system", ctx.event.stripe_event_id)
    note = ""
    if contract.state == AWAITING_FUNDING:
        await CONTRACTS.fire(session, contract, "fund", actor, ctx.now, reason="payment succeeded")
        note = "contract active"
    await ledger.book_funding(
        session,
        payment.contract_id,
        payment.amount,
        payment.fee,
        payment.currency,
        charge_id,
        memo=f"PaymentIntent {payment.payment_intent_id}",
        now=ctx.now,
    )
    # What Stripe settled it as (currency, rate, Stripe's fee): app/services/money/settlement.py.
    settled = await settlement.book_charge_settlement(
        session,
        ctx.job,
        charge_id=charge_id,
        total=payment.total,
        currency=payment.currency,
        now=ctx.now,
    )
    if contract.state in DEAD_CONTRACT_STATES:
        await enqueue(
            session,
            REFUND_CONTRACT_TOPIC,
            {
                "contract_id": contract.id,
                "amount": "unreleased",
                "include_fee": True,
                "reason": f"paid after the contract was {contract.state}",
            },
            now=ctx.now,
            idempotency_key=f"{REFUND_CONTRACT_TOPIC}:{contract.id}:late-payment",
        )
        note = f"contract is {contract.state}: the payment is refunded in full"
    elif not note:
        note = f"contract is {contract.state}; funding booked"
    if settled:
        note += f"; {settled}"
    if received is not None and int(received) != payment.total:
        note += f"; Stripe received {received}, we expected {payment.total} (reconcile)"
        logger.error("funding amount mismatch", extra={"contract": contract.id})
    return Handled(StripeEventOutcome.applied, f"{charge_id} funded {contract.id}: {note}")


async def payment_failed(ctx: EventContext) -> Handled:
    intent = ctx.data_object
    payment = await _payment_for_intent(ctx.session, intent)
    if payment is None:
        return Handled(StripeEventOutcome.ignored, f"{intent.get('id')} funds no Rapport contract")
    if payment.status == "succeeded":
        return Handled(StripeEventOutcome.ignored, "the payment has succeeded since")
    error = intent.get("last_payment_error") or {}
    payment.status = intent.get("status") or "requires_payment_method"
    payment.failure_code = error.get("decline_code") or error.get("code")
    payment.failure_message = error.get("message") or "The payment failed"
    payment.updated_at = ctx.now
    return Handled(
        StripeEventOutcome.applied,
        f"{payment.contract_id} still awaits funding: {payment.failure_message}",
    )


# --- an ambassador programme's renewal: the saved card, charged while the brand is away --------


async def fund_renewal(ctx: JobContext, job: ClaimedJob) -> None:
    """`money.fund_renewal` `{contract_id}`: charge a programme's new period to the card the
    brand saved with an earlier one (off-session, confirmed at once), under the key
    `renewal-funding:<contract id>`; `payment_intent.succeeded` then books the funding and
    funds the contract like any other. A decline is recorded on the period's payment — status
    `requires_payment_method`, Stripe's code and message, which both parties see — and not
    retried: the brand may still pay the period itself (`POST …/funding`) within its funding
    window, else the programme lapses. Runs once per period however often it is run: a stored
    payment ends it, the key makes Stripe answer a repeat with the same PaymentIntent."""
    contract_id = str(job.payload["contract_id"])
    gateway = ctx.stripe()
    async with ctx.transaction() as s:
        contract = await fresh_contract(s, contract_id)
        if contract is None or contract.state != AWAITING_FUNDING:
            return
        if await _payment(s, contract_id) is not None:
            return  # charged already (a repeat of this job), or the brand is paying it
        card = await saved_card(s, contract.programme_id) if contract.programme_id else None
        price, currency, brand_id = contract.price, contract.currency, contract.brand_id
        programme_id = contract.programme_id
    if card is None:
        # Nothing to charge: the period waits for the brand's own payment (the programme's
        # read says so) and lapses with its funding window.
        logger.warning("renewal without a saved card", extra={"contract": contract_id})
        return
    customer_id, payment_method = card
    fee = brand_fee(price, currency, ctx.settings)
    key = idempotency_key("renewal-funding", contract_id)
    failure: tuple[str | None, str] | None = None
    try:
        intent = await gateway.create_payment_intent(
            amount=price + fee,
            currency=currency,
            customer=customer_id,
            payment_method=payment_method,
            off_session=True,
            confirm=True,
            transfer_group=contract_id,
            description=f"Rapport contract {contract_id}",
            metadata=_metadata(contract_id, brand_id, price, fee, programme_id),
            payment_method_types=["card"],
            idempotency_key=key,
        )
        intent_id, status = intent.id, intent.status
    except StripeCardDeclined as exc:
        if exc.payment_intent_id is None:
            raise PermanentJobError(f"the renewal's charge was declined: {exc.message}") from exc
        intent_id, status = exc.payment_intent_id, "requires_payment_method"
        failure = (exc.decline_code or exc.code, exc.message)
    except StripeUnavailable:
        # The outcome is unknown (Stripe replays a stored 5xx under the key): look it up.
        found = await gateway.find_by_metadata(
            "payment_intents", "rapport_contract_id", contract_id
        )
        if found is None:
            raise  # retried later, with the same key
        intent_id, status = found.id, found.status
    except StripeRequestRejected as exc:
        raise PermanentJobError(f"Stripe refused the renewal's charge: {exc.message}") from exc
    row = Payment(
        contract_id=contract_id,
        payment_intent_id=intent_id,
        amount=price,
        fee=fee,
        currency=currency,
        status=status,
        customer_id=customer_id,
        saved_payment_method_id=payment_method,
        failure_code=failure[0] if failure else None,
        failure_message=failure[1] if failure else None,
        created_at=ctx.now,
        updated_at=ctx.now,
    )
    if not await add_unique(ctx.session, row):
        # Its webhook was processed first and stored the row from the metadata: add what only
        # this job knows (the card), for the next period.
        await ctx.session.execute(
            update(Payment)
            .where(Payment.contract_id == contract_id, Payment.saved_payment_method_id.is_(None))
            .values(customer_id=customer_id, saved_payment_method_id=payment_method)
            .execution_options(synchronize_session=False)
        )
    logger.info(
        "renewal charged",
        extra={"contract": contract_id, "payment_intent": intent_id, "status": status},
    )


# --- the funding window ends: cancel the PaymentIntent --------------------------------------


async def cancel_funding(ctx: JobContext, job: ClaimedJob) -> None:
    contract_id = job.payload.get("contract_id") or job.payload.get("object_id")
    gateway = ctx.stripe()
    async with ctx.transaction() as s:
        payment = await _payment(s, contract_id) if contract_id else None
        if payment is None or payment.status in ("succeeded", "canceled"):
            return
        intent_id = payment.payment_intent_id
    try:
        intent = await gateway.cancel_payment_intent(
            intent_id, idempotency_key=idempotency_key("funding-cancel", contract_id)
        )
    except StripeRequestRejected as exc:
        intent = await gateway.retrieve_payment_intent(intent_id)
        if intent.status == "succeeded":
            # Paid just before the window closed: payment_intent.succeeded books and refunds it.
            logger.warning("funding paid as it expired", extra={"contract": contract_id})
            return
        if intent.status != "canceled":
            raise PermanentJobError(f"Stripe refused to cancel {intent_id}: {exc.message}") from exc
    await ctx.session.execute(
        update(Payment)
        .where(Payment.contract_id == contract_id, Payment.status != "succeeded")
        .values(status=intent.status, updated_at=ctx.now)
        .execution_options(synchronize_session=False)
    )
