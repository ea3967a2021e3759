"""Payout onboarding: an influencer's Stripe Express account, and what it allows (docs/payments.md).

`start_onboarding` creates the influencer's Express account the first time (Stripe idempotency
key `account:<influencer id>`, so a retry after a lost answer finds the same account) and
returns a fresh onboarding link on every call (key `account-link:<influencer id>:<n>`, `n`
counted on the row). `payout_status` reads what we know; `account.updated` webhooks keep it
current (`apply_account_event`, dispatched by app/services/stripe_events.py).

Talking to Stripe in the middle of a request: like the outbox relay, this service never keeps a
database transaction open across a call to the outside world (on SQLite an open transaction
holds the database's write lock). It ends the request's transaction before each Stripe call —
what it read or wrote until then never needs undoing if the call fails — and the session starts
a new one on its next statement. This is the one place a service ends a transaction, and only
for that reason.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import add_unique
from app.integrations.stripe import StripeGateway, idempotency_key
from app.models import Influencer, PayoutAccount, User
from app.models.stripe_event import StripeEventOutcome
from app.services.influencers import get_own_profile
from app.services.stripe_problems import (  # noqa: F401 - re-exported for the routes
    PaymentProviderRejected,
    PaymentProviderUnavailable,
    call_stripe,
)
from app.settings import Settings

logger = logging.getLogger("rapport.payouts")

T = TypeVar("T")


@dataclass(frozen=True)
class OnboardingLink:
    account_id: str
    url: str
    expires_at: datetime


@dataclass(frozen=True)
class PayoutStatus:
    state: str  # not_started, onboarding, restricted, enabled
    account: PayoutAccount | None

    @property
    def money_waits(self) -> bool:
        return self.state != "enabled"

    @property
    def note(self) -> str:
        return _NOTES[self.state]


_NOTES = {
    "not_started": "You cannot be paid yet: start payout onboarding. Money released to you "
    "waits, safely held, until payouts are enabled.",
    "onboarding": "Finish Stripe onboarding to be paid. Money released to you waits, safely "
    "held, until payouts are enabled.",
    "restricted": "Stripe needs more information before it can pay you (see requirements_due). "
    "Money released to you waits, safely held, until payouts are enabled.",
    "enabled": "Payouts are enabled: released money is transferred to your Stripe account and "
    "paid out to your bank.",
}


async def _end_transaction(session: AsyncSession) -> None:
    """Commit what the request did so far, so no transaction is open during a Stripe call
    (see the module docstring)."""
    if session.in_transaction():
        await session.commit()


async def _stripe(call: Awaitable[T]) -> T:
    return await call_stripe(call)


def apply_account_snapshot(row: PayoutAccount, account: Mapping[str, Any]) -> None:
    """Copy a Stripe account object's status into our row."""
    row.charges_enabled = bool(account.get("charges_enabled"))
    row.payouts_enabled = bool(account.get("payouts_enabled"))
    row.details_submitted = bool(account.get("details_submitted"))
    capabilities = account.get("capabilities") or {}
    transfers = capabilities.get("transfers") or "inactive"
    # 2020-08-27 gives the status as a string; newer versions may nest it.
    row.transfers_capability = (
        transfers.get("status", "inactive") if isinstance(transfers, Mapping) else str(transfers)
    )
    requirements = account.get("requirements") or {}
    due: list[str] = []
    for field in [
        *(requirements.get("past_due") or []),
        *(requirements.get("currently_due") or []),
    ]:
        if field not in due:
            due.append(field)
    row.requirements_due = due
    row.disabled_reason = requirements.get("disabled_reason")
    if account.get("country"):
        row.country = account["country"]


async def start_onboarding(
    session: AsyncSession,
    gateway: StripeGateway,
    settings: Settings,
    user_id: str,
) -> OnboardingLink:
    influencer: Influencer = await get_own_profile(session, user_id)
    influencer_id = influencer.id
    user = await session.get(User, user_id)
    email = user.email if user is not None else None
    account = await session.get(PayoutAccount, influencer_id)
    account_id = account.stripe_account_id if account is not None else None
    await _end_transaction(session)

    if account_id is None:
        created = await _stripe(
            gateway.create_express_account(
                country=settings.stripe_connect_country,
                email=email,
                metadata={"rapport_influencer_id": influencer_id, "rapport_user_id": user_id},
                idempotency_key=idempotency_key("account", influencer_id),
            )
        )
        row = PayoutAccount(
            influencer_id=influencer_id,
            stripe_account_id=created.id,
            country=settings.stripe_connect_country,
            links_issued=0,
        )
        apply_account_snapshot(row, created.to_dict())
        if not await add_unique(session, row):
            # A concurrent call stored it first; with the same idempotency key Stripe gave both
            # calls the same account.
            logger.info("payout account stored concurrently", extra={"influencer": influencer_id})
        account_id = created.id

    issued = (
        await session.execute(
            update(PayoutAccount)
            .where(PayoutAccount.influencer_id == influencer_id)
            .values(links_issued=PayoutAccount.links_issued + 1)
            .returning(PayoutAccount.links_issued)
            .execution_options(synchronize_session=False)
        )
    ).scalar_one()
    await _end_transaction(session)

    link = await _stripe(
        gateway.create_account_link(
            account_id=account_id,
            refresh_url=settings.onboarding_refresh_url,
            return_url=settings.onboarding_return_url,
            idempotency_key=idempotency_key("account-link", influencer_id, issued),
        )
    )
    return OnboardingLink(
        account_id=account_id,
        url=link.url,
        expires_at=datetime.fromtimestamp(link.expires_at, UTC),
    )


def _state(account: PayoutAccount | None) -> str:
    if account is None:
        return "not_started"
    if account.payouts_enabled and account.transfers_capability == "active":
        return "enabled"
    if not account.details_submitted:
        return "onboarding"
    return "restricted"


async def payout_status(session: AsyncSession, user_id: str) -> PayoutStatus:
    influencer = await get_own_profile(session, user_id)
    account = await session.get(PayoutAccount, influencer.id)
    return PayoutStatus(_state(account), account)


async def payout_account_for(session: AsyncSession, influencer_id: str) -> PayoutAccount | None:
    """The influencer's payout account, if onboarding has started (for the money flows)."""
    return await session.get(PayoutAccount, influencer_id)


def can_receive_transfers(account: PayoutAccount | None) -> bool:
    """True when a Stripe transfer to the influencer can be made now."""
    return account is not None and account.transfers_capability == "active"


# --- account.updated (dispatched by app/services/stripe_events.py) ----------------------------


async def apply_account_event(
    session: AsyncSession, account: Mapping[str, Any], event_created: datetime
) -> tuple[StripeEventOutcome, str]:
    account_id = account.get("id")
    row = await session.scalar(
        select(PayoutAccount)
        .where(PayoutAccount.stripe_account_id == account_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if row is None:
        return StripeEventOutcome.ignored, f"no influencer has the Stripe account {account_id}"
    if row.last_event_at is not None and event_created < row.last_event_at:
        return (
            StripeEventOutcome.ignored,
            "older than the account.updated already applied "
            f"({row.last_event_at.isoformat()}); not applied",
        )
    before = row.payouts_enabled
    apply_account_snapshot(row, account)
    row.last_event_at = event_created
    await session.flush()
    change = (
        "payouts enabled"
        if row.payouts_enabled and not before
        else "payouts disabled"
        if before and not row.payouts_enabled
        else f"payouts_enabled={str(row.payouts_enabled).lower()}"
    )
    due = len(row.requirements_due)
    return StripeEventOutcome.applied, f"{change}; {due} requirement(s) due"
