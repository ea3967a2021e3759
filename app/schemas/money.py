"""Funding a contract and an influencer's earnings (docs/payments.md)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints

from app.schemas.common import Input

PaymentMethodId = Annotated[
    str, StringConstraints(pattern=r"^pm_[A-Za-z0-9_]{1,100}$"), Field(examples=["pm_card_visa"])
]


class FundingOut(BaseModel):
    contract_id: str
    contract_state: str = Field(
        description="awaiting_funding until the payment's webhook is processed, then active"
    )
    payment_intent_id: str = Field(description="The Stripe PaymentIntent (pi_…)")
    client_secret: str | None = Field(
        description="For Stripe.js `confirmCardPayment` in the brand's browser (POST only)"
    )
    amount: int = Field(description="The brand pays this: the price plus the fee (minor units)")
    price: int = Field(description="The agreed price, escrowed in full for the influencer")
    fee: int = Field(description="The brand-side service fee")
    currency: str
    status: str = Field(
        description="Stripe's PaymentIntent status: requires_payment_method, processing, "
        "succeeded, canceled …"
    )
    failure_code: str | None = Field(description="Why the last attempt failed (decline code)")
    failure_message: str | None
    charge_id: str | None = Field(description="The succeeded charge (ch_…)")


class ConfirmFundingIn(Input):
    payment_method: PaymentMethodId = Field(
        description="A sandbox test payment method: pm_card_visa succeeds, "
        "pm_card_chargeDeclined is declined"
    )


class MilestoneMoneyOut(BaseModel):
    milestone_id: str
    contract_id: str
    position: int
    name: str | None
    amount: int
    currency: str
    state: str = Field(description="The milestone's delivery state")
    money_state: str = Field(
        description="awaiting_funding, in_escrow, frozen, releasable, released, transferred, "
        "reversed, refund_pending, refunded, cancelled"
    )
    waiting_for: str | None = Field(
        description="What the money waits for: payouts_enabled (finish payout onboarding), "
        "dispute_resolution"
    )
    transfer_id: str | None = Field(description="The Stripe transfer (tr_…), once transferred")
    transferred: int = Field(description="Transferred to you, net of reversals")


class PayoutOut(BaseModel):
    id: str
    stripe_payout_id: str
    amount: int
    currency: str
    status: str = Field(description="pending, in_transit, paid, failed, canceled")
    failure_code: str | None = Field(description="Stripe's code when it failed")
    failure_message: str | None = Field(description="Stripe's reason when it failed")
    arrival_date: datetime | None
    updated_at: datetime


class CurrencyEarningsOut(BaseModel):
    currency: str
    in_escrow: int = Field(description="Funded by brands, not released to you yet")
    releasable: int = Field(description="Met, being released now")
    released: int = Field(description="Released to you, not transferred yet")
    transferred: int = Field(description="Transferred to your Stripe account (net of reversals)")
    paid_out: int = Field(description="Paid out to your bank")
    payouts_pending: int = Field(description="On its way to your bank")
    failed_payouts: list[PayoutOut] = Field(description="Payouts that failed, with the reason")


class EarningsOut(BaseModel):
    influencer_id: str
    payouts_enabled: bool
    transfers_enabled: bool
    currencies: list[CurrencyEarningsOut]
    milestones: list[MilestoneMoneyOut]
    payouts: list[PayoutOut] = Field(description="Every payout, newest first")
