"""Payout onboarding and the payout account's status."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from app.models.payout_account import PayoutAccountState


class OnboardingLinkOut(BaseModel):
    account_id: str = Field(description="Your Stripe connected account (acct_…)")
    onboarding_url: str = Field(description="Open it to finish onboarding at Stripe; single use")
    expires_at: datetime = Field(description="The link stops working then; ask for a new one")


PayoutState = PayoutAccountState


class PayoutAccountOut(BaseModel):
    status: PayoutState = Field(
        description="not_started (no account yet), onboarding (details not submitted), "
        "restricted (Stripe needs more), enabled (transfers and payouts possible), "
        "account_unknown (Stripe no longer knows the account: onboard again)"
    )
    account_id: str | None = Field(description="Your Stripe connected account, once created")
    payouts_enabled: bool = Field(description="Stripe can pay out to your bank")
    transfers_enabled: bool = Field(description="Rapport can transfer released money to you")
    charges_enabled: bool
    details_submitted: bool = Field(description="You completed Stripe's onboarding form")
    requirements_due: list[str] = Field(
        description="What Stripe still needs from you (past due first)"
    )
    disabled_reason: str | None = Field(description="Stripe's reason when the account is limited")
    money_waits: bool = Field(
        description="True until payouts are enabled: released money is held, not lost"
    )
    note: str = Field(description="What the status means for your money")
    updated_at: datetime | None = Field(description="When we last heard from Stripe")
