"""An influencer's payout onboarding (Stripe Connect Express) and payout account status."""

from __future__ import annotations

from fastapi import APIRouter, status

from app.auth import PaymentReader, PaymentWriter
from app.db import Session
from app.deps import AppSettings, AppStripe
from app.errors import AUTH_PROBLEMS, problem_responses
from app.schemas.payouts import OnboardingLinkOut, PayoutAccountOut
from app.services.catalogue.influencers import InfluencerProfileNotFound
from app.services.money import payouts as service

router = APIRouter(tags=["payouts"])


@router.post(
    "/v1/influencers/me/payouts/onboarding",
    status_code=status.HTTP_201_CREATED,
    summary="Start or continue payout onboarding at Stripe",
    description="Creates your Stripe Express account the first time — in your profile's "
    "country (422 `payout-country-required` without one, `payout-country-unsupported` where "
    "Stripe Connect cannot pay), with Stripe's recipient service agreement when the platform "
    "pays you across borders — and returns a fresh, single-use onboarding link on every call. "
    "If Stripe no longer knows your account (its data was reset, or Rapport uses another "
    "Stripe account), a fresh account replaces it. Open `onboarding_url`; Stripe sends you back "
    "to the app when you are done, and your payout status updates when Stripe tells us.",
    responses=problem_responses(
        *AUTH_PROBLEMS, InfluencerProfileNotFound, *service.ONBOARDING_PROBLEMS
    ),
)
async def start_payout_onboarding(
    principal: PaymentWriter, session: Session, settings: AppSettings, gateway: AppStripe
) -> OnboardingLinkOut:
    link = await service.start_onboarding(session, gateway, settings, principal.user_id)
    return OnboardingLinkOut(
        account_id=link.account_id, onboarding_url=link.url, expires_at=link.expires_at
    )


@router.get(
    "/v1/influencers/me/payouts/account",
    summary="Your payout account: can Rapport pay you yet?",
    description="What Rapport knows of your Stripe account, checked with Stripe (briefly; "
    "when Stripe cannot answer, the last known status): `account_unknown` when Stripe no "
    "longer knows the account — start onboarding again.",
    responses=problem_responses(*AUTH_PROBLEMS, InfluencerProfileNotFound),
)
async def get_payout_account(
    principal: PaymentReader, session: Session, gateway: AppStripe
) -> PayoutAccountOut:
    found = await service.payout_status(session, principal.user_id, gateway)
    account = found.account
    return PayoutAccountOut(
        status=found.state,
        account_id=account.stripe_account_id if account else None,
        payouts_enabled=bool(account and account.payouts_enabled),
        transfers_enabled=service.can_receive_transfers(account),
        charges_enabled=bool(account and account.charges_enabled),
        details_submitted=bool(account and account.details_submitted),
        requirements_due=list(account.requirements_due) if account else [],
        disabled_reason=account.disabled_reason if account else None,
        money_waits=found.money_waits,
        note=found.note,
        updated_at=account.updated_at if account else None,
    )
