"""Payout onboarding: an influencer's Stripe Express account, and what it allows (docs/payments.md).

`start_onboarding` creates the influencer's Express account the first time (Stripe idempotency
key `account:<influencer id>`, so a retry after a lost answer finds the same account) and
returns a fresh onboarding link on every call (key `account-link:<influencer id>:<n>`, `n`
counted on the row). `payout_status` reads what we know; `account.updated` webhooks keep it
current (`apply_account_event`, dispatched by app/services/money/stripe_events.py).

Talking to Stripe in the middle of a request: like the outbox relay, this service never keeps a
database transaction open across a call to the outside world (on SQLite an open transaction
holds the database's write lock). It ends the request's transaction before each Stripe call —
what it read or wrote until then never needs undoing if the call fails — and the session starts
a new one on its next statement. This is the one place a service ends a transaction, and only
for that reason.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import stripe
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import add_unique, rowcount
from app.errors import InvalidRequest, Problem
from app.integrations.stripe import (
    StripeGateway,
    StripeGatewayError,
    StripeRequestRejected,
    idempotency_key,
)
from app.models import Influencer, Payout, PayoutAccount, Transfer, User
from app.models.payout_account import PayoutAccountState
from app.models.stripe_event import StripeEventOutcome
from app.services.catalogue.influencers import get_own_profile
from app.services.money.contract_money import stripe_id
from app.services.money.stripe_problems import (
    STRIPE_PROBLEMS,
    call_stripe,
    create_once,
    end_transaction,
    stripe_problem,
)
from app.services.workflow.jobs import ClaimedJob, JobContext, PermanentJobError
from app.services.workflow.outbox import enqueue
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
    state: PayoutAccountState
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
    "account_unknown": "Stripe does not know your payout account any more (Rapport's Stripe "
    "was reset, or it now uses another Stripe account): start payout onboarding again. Money "
    "released to you waits, safely held, until payouts are enabled.",
}

# `disabled_reason` Rapport writes on an account Stripe answered `resource_missing` for.
ACCOUNT_UNKNOWN = "rapport.account_unknown_to_stripe"
# Stripe's codes for "no such account (for this key)".
_UNKNOWN_ACCOUNT_CODES = frozenset({"resource_missing", "account_invalid"})

# How long a status read waits for Stripe before answering from what Rapport knows.
STATUS_CHECK_TIMEOUT_SECONDS = 5.0


# --- creators anywhere (docs/payments.md, "Creators anywhere") --------------------------------

# Countries where Stripe Connect holds Express accounts (Stripe's supported countries,
# https://stripe.com/global). A creator elsewhere is refused with a clear 422.
CONNECT_COUNTRIES = frozenset(
    "AE AT AU BE BG BR CA CH CY CZ DE DK EE ES FI FR GB GI GR HK HR HU IE IT JP LI LT LU LV "
    "MT MX MY NL NO NZ PL PT RO SE SG SI SK TH US".split()
)


class PayoutCountryRequired(InvalidRequest):
    slug, title = "payout-country-required", "Set your country before payout onboarding"


class PayoutCountryUnsupported(InvalidRequest):
    slug, title = "payout-country-unsupported", "Stripe cannot pay creators in this country"


ONBOARDING_PROBLEMS: tuple[type[Problem], ...] = (
    PayoutCountryRequired,
    PayoutCountryUnsupported,
    *STRIPE_PROBLEMS,
)


def connect_country(country: str | None) -> str:
    """The country of the creator's Express account: their profile's, if Stripe supports it."""
    if not country:
        raise PayoutCountryRequired(
            "Your profile has no country: set it (PATCH /v1/influencers/me) before starting "
            "payout onboarding; your Stripe account is created in it and cannot move later",
            [{"field": "country", "message": "required for payouts", "rule": "missing"}],
        )
    code = country.upper()
    if code not in CONNECT_COUNTRIES:
        raise PayoutCountryUnsupported(
            f"Stripe Connect cannot hold a payout account in {code}; supported countries: "
            + ", ".join(sorted(CONNECT_COUNTRIES)),
            [{"field": "country", "message": f"{code} is not supported", "rule": "unsupported"}],
        )
    return code


def service_agreement(country: str, platform_country: str) -> str | None:
    """`recipient` when the platform pays the account across borders (Stripe's cross-border
    payouts: a transfers-only account abroad exists only under this agreement — "You cannot
    request the `transfers` capability without the `card_payments` capability for accounts in
    FR"), None (Stripe's `full`) in the platform's own country."""
    return None if country == platform_country.upper() else "recipient"


def account_unknown(exc: StripeGatewayError) -> bool:
    """True when Stripe's refusal says it does not know the account (for this key)."""
    return isinstance(exc, StripeRequestRejected) and exc.code in _UNKNOWN_ACCOUNT_CODES


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
    influencer_id, profile_country = influencer.id, influencer.country
    user = await session.get(User, user_id)
    email = user.email if user is not None else None
    account = await session.get(PayoutAccount, influencer_id)
    account_id = account.stripe_account_id if account is not None else None
    # A new account is created in the creator's country: refuse an unusable one before Stripe.
    country = connect_country(profile_country) if account_id is None else None
    await end_transaction(session)

    def create_params(country: str) -> dict[str, Any]:
        return {
            "country": country,
            "email": email,
            "metadata": {"rapport_influencer_id": influencer_id, "rapport_user_id": user_id},
            "service_agreement": service_agreement(country, settings.stripe_connect_country),
            # per_transfer: Rapport asks for each payout; Stripe's schedule must not too.
            "payout_schedule": "manual" if settings.payout_mode == "per_transfer" else None,
        }

    if account_id is None:
        assert country is not None
        home: str = country  # narrowed for the lambda below
        created = await create_once(
            lambda key: gateway.create_express_account(**create_params(home), idempotency_key=key),
            idempotency_key("account", influencer_id),
            lambda: gateway.find_by_metadata("accounts", "rapport_influencer_id", influencer_id),
            what="Stripe account",
        )
        row = PayoutAccount(
            influencer_id=influencer_id,
            stripe_account_id=created.id,
            country=country,
            links_issued=0,
        )
        apply_account_snapshot(row, created.to_dict())
        if not await add_unique(session, row):
            # A concurrent call stored it first; with the same idempotency key Stripe gave both
            # calls the same account.
            logger.info("payout account stored concurrently", extra={"influencer": influencer_id})
        account_id = created.id

    try:
        link = await _account_link(session, gateway, settings, influencer_id, account_id)
    except StripeGatewayError as exc:
        if not account_unknown(exc):
            raise stripe_problem(exc) from exc
        # Stripe does not know the stored account (a wiped sandbox, a key of another Stripe
        # account): a fresh account replaces it, so the creator is not stuck. Its key names
        # the account it replaces, so a retry (or a concurrent call) gets the same new one.
        country = connect_country(profile_country)
        logger.warning(
            "payout account unknown to Stripe: replacing it",
            extra={"influencer": influencer_id, "stripe_account": account_id},
        )
        created = await create_once(
            lambda key: gateway.create_express_account(
                **create_params(country), idempotency_key=key
            ),
            idempotency_key("account", influencer_id, "replaces", account_id),
            lambda: gateway.find_by_metadata("accounts", "rapport_influencer_id", influencer_id),
            what="Stripe account",
        )
        await _replace_account(session, influencer_id, account_id, created.to_dict())
        account_id = created.id
        link = await _stripe(_account_link(session, gateway, settings, influencer_id, account_id))
    return OnboardingLink(
        account_id=account_id,
        url=link.url,
        expires_at=datetime.fromtimestamp(link.expires_at, UTC),
    )


async def _account_link(
    session: AsyncSession,
    gateway: StripeGateway,
    settings: Settings,
    influencer_id: str,
    account_id: str,
) -> stripe.AccountLink:
    """A fresh onboarding link: the n-th link has the key `account-link:<influencer>:<n>`."""
    issued = (
        await session.execute(
            update(PayoutAccount)
            .where(PayoutAccount.influencer_id == influencer_id)
            .values(links_issued=PayoutAccount.links_issued + 1)
            .returning(PayoutAccount.links_issued)
            .execution_options(synchronize_session=False)
        )
    ).scalar_one()
    await end_transaction(session)
    return await gateway.create_account_link(
        account_id=account_id,
        refresh_url=settings.onboarding_refresh_url,
        return_url=settings.onboarding_return_url,
        idempotency_key=idempotency_key("account-link", influencer_id, issued),
    )


async def _replace_account(
    session: AsyncSession, influencer_id: str, old_account_id: str, created: Mapping[str, Any]
) -> None:
    """Point the creator's row at the new Stripe account, its status from Stripe's answer
    (compare-and-set on the old id: a concurrent replacement wrote the same account)."""
    row = await session.scalar(
        select(PayoutAccount)
        .where(
            PayoutAccount.influencer_id == influencer_id,
            PayoutAccount.stripe_account_id == old_account_id,
        )
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if row is not None:
        row.stripe_account_id = created["id"]
        apply_account_snapshot(row, created)
        # Events of the old account say nothing about the new one.
        row.last_event_at = None
        await session.flush()
    await end_transaction(session)


def _state(account: PayoutAccount | None) -> PayoutAccountState:
    if account is None:
        return "not_started"
    if account.disabled_reason == ACCOUNT_UNKNOWN:
        return "account_unknown"
    if account.payouts_enabled and account.transfers_capability == "active":
        return "enabled"
    if not account.details_submitted:
        return "onboarding"
    return "restricted"


async def payout_status(
    session: AsyncSession, user_id: str, gateway: StripeGateway | None = None
) -> PayoutStatus:
    """What the creator's payout account allows. With a gateway, Stripe is asked whether it
    still knows the account (briefly; when it cannot answer, what Rapport knows is shown): an
    account Stripe does not know is never shown `enabled`."""
    influencer = await get_own_profile(session, user_id)
    account = await session.get(PayoutAccount, influencer.id)
    if account is not None and gateway is not None:
        account = await _check_known(session, gateway, account)
    return PayoutStatus(_state(account), account)


async def _check_known(
    session: AsyncSession, gateway: StripeGateway, account: PayoutAccount
) -> PayoutAccount:
    influencer_id, account_id = account.influencer_id, account.stripe_account_id
    marked = account.disabled_reason == ACCOUNT_UNKNOWN
    await end_transaction(session)
    try:
        found = await asyncio.wait_for(
            gateway.retrieve_account(account_id), STATUS_CHECK_TIMEOUT_SECONDS
        )
    except StripeGatewayError as exc:
        if not account_unknown(exc) or marked:
            return account
        await mark_account_unknown(session, account_id)
    except TimeoutError:
        return account
    else:
        if not marked:
            return account
        # Stripe knows it again (the right key is back): its own status, not our mark.
        row = await session.get(PayoutAccount, influencer_id, with_for_update=True)
        if row is not None and row.stripe_account_id == account_id:
            apply_account_snapshot(row, found.to_dict())
    refreshed = await session.get(PayoutAccount, influencer_id, populate_existing=True)
    assert refreshed is not None
    return refreshed


async def mark_account_unknown(session: AsyncSession, stripe_account_id: str) -> bool:
    """Stripe answered that it does not know this account: nothing can be transferred or paid
    to it (`can_receive_transfers` is False, the status says `account_unknown`) until the
    creator onboards again. True when a row was marked."""
    result = await session.execute(
        update(PayoutAccount)
        .where(PayoutAccount.stripe_account_id == stripe_account_id)
        .values(
            payouts_enabled=False,
            charges_enabled=False,
            transfers_capability="unknown",
            disabled_reason=ACCOUNT_UNKNOWN,
        )
        .execution_options(synchronize_session=False)
    )
    matched = rowcount(result)
    if matched:
        logger.warning(
            "payout account unknown to Stripe", extra={"stripe_account": stripe_account_id}
        )
    return bool(matched)


async def payout_account_for(session: AsyncSession, influencer_id: str) -> PayoutAccount | None:
    """The influencer's payout account, if onboarding has started (for the money flows)."""
    return await session.get(PayoutAccount, influencer_id)


def can_receive_transfers(account: PayoutAccount | None) -> bool:
    """True when a Stripe transfer to the influencer can be made now."""
    return account is not None and account.transfers_capability == "active"


# --- account.updated (dispatched by services/money/stripe_events.py) ----------------------------

_CAPABILITY_RANK = {"inactive": 0, "unknown": 0, "pending": 1, "active": 2}


def _rank(
    details_submitted: bool, transfers: str, due: int, payouts_enabled: bool
) -> tuple[int, int, int, int]:
    """How far onboarding got: details submitted, then the transfers capability's review,
    then fewer requirements due, then payouts enabled (compared as a tuple)."""
    return (
        int(details_submitted),
        _CAPABILITY_RANK.get(transfers, 0),
        -due,
        int(payouts_enabled),
    )


def _progress(account: Mapping[str, Any]) -> tuple[int, int, int, int]:
    probe = PayoutAccount(influencer_id="", stripe_account_id="", country="")
    apply_account_snapshot(probe, account)
    return _row_progress(probe)


def _row_progress(row: PayoutAccount) -> tuple[int, int, int, int]:
    return _rank(
        bool(row.details_submitted),
        row.transfers_capability,
        len(row.requirements_due or []),
        bool(row.payouts_enabled),
    )


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
    if (
        row.last_event_at is not None
        and event_created == row.last_event_at
        and _progress(account) < _row_progress(row)
    ):
        # Stripe's `created` has one-second resolution: onboarding's two account.updated
        # (capabilities pending, then active) often share it. Within a second the account's
        # own progress decides, so the earlier snapshot never undoes the later one.
        return (
            StripeEventOutcome.ignored,
            "same second as the account.updated already applied, and an earlier stage of "
            "onboarding; not applied",
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


# --- per_transfer payouts: in the currency Stripe holds, once the funds are available ---------

# A payout refused for want of available funds waits this long, doubling, up to a day, unless
# Stripe says when the funds become available (the balance transaction's `available_on`).
PAYOUT_WAIT_FIRST = timedelta(hours=1)
PAYOUT_WAIT_MAX = timedelta(days=1)
# Stripe's `available_on` is trusted up to this far ahead (its longest availability delays are
# about two weeks); further means the clocks disagree: look again then anyway.
PAYOUT_AVAILABLE_MAX = timedelta(days=14)

StorePayout = Callable[..., Awaitable[Any]]


@dataclass(frozen=True)
class PayoutPlan:
    transfer_id: str
    stripe_transfer_id: str
    influencer_id: str
    stripe_account: str
    amount: int
    currency: str
    amount_reversed: int
    # When Stripe makes the transferred funds available on the account (None: now / unknown).
    available_on: datetime | None = None


async def _plan_payout(session: AsyncSession, transfer_id: str) -> PayoutPlan | str:
    """What the payout of one of our transfers needs, or why there is nothing to do."""
    row = await session.get(Transfer, transfer_id)
    if row is None:
        raise PermanentJobError(f"no transfer {transfer_id}")
    if await session.scalar(select(Payout.id).where(Payout.transfer_id == transfer_id)):
        return "already paid out"
    account = await payout_account_for(session, row.influencer_id)
    if account is None or not account.payouts_enabled:
        return "payouts are not enabled"
    if row.amount - row.amount_reversed <= 0:
        return "the transfer was reversed"
    return PayoutPlan(
        transfer_id=transfer_id,
        stripe_transfer_id=row.stripe_transfer_id,
        influencer_id=row.influencer_id,
        stripe_account=account.stripe_account_id,
        amount=row.amount - row.amount_reversed,
        currency=row.currency,
        amount_reversed=row.amount_reversed,
    )


async def _as_held_by_stripe(gateway: StripeGateway, plan: PayoutPlan) -> PayoutPlan:
    """The transfer as it landed on the connected account: its balance transaction there says
    the currency (Stripe converts a transfer to a currency the account has a bank account in)
    and when the funds become available. Unknown (an older Stripe answer, a fake without
    `destination_payment`): the transfer's own amount and currency."""
    transfer = (await gateway.retrieve_transfer(plan.stripe_transfer_id)).to_dict()
    payment = stripe_id(transfer.get("destination_payment"))
    if payment is None:
        return plan
    found = await gateway.list_balance_transactions(
        stripe_account=plan.stripe_account, source=payment
    )
    if not found:
        return plan
    txn = found[0].to_dict()
    currency = str(txn.get("currency") or plan.currency).upper()
    landed = int(txn.get("net") or txn.get("amount") or 0)
    if currency == plan.currency.upper():
        amount = plan.amount
    elif plan.amount_reversed:
        # Part was reversed: the same share of what landed (rounded down: never more).
        amount = landed * plan.amount // (plan.amount + plan.amount_reversed)
    else:
        amount = landed
    available_on = None
    if txn.get("status") == "pending" and isinstance(txn.get("available_on"), int):
        available_on = datetime.fromtimestamp(txn["available_on"], UTC)
    return replace(plan, amount=amount, currency=currency, available_on=available_on)


def _payout_key(transfer_id: str, waits: int, attempt: int = 1) -> str:
    # A refusal or a 5xx is stored under its key at Stripe for 24 h: each retry after a
    # refusal (`wait<n>`), and each attempt after one that found nothing (`a<n>`), gets a key of
    # its own; the first attempt keeps `payout:<trf>`.
    parts: list[str] = [f"wait{waits}"] if waits else []
    if attempt > 1:
        parts.append(f"a{attempt}")
    return idempotency_key("payout", transfer_id, *parts)


async def _find_payout(gateway: StripeGateway, plan: PayoutPlan) -> dict[str, Any] | None:
    for payout in await gateway.list_payouts(stripe_account=plan.stripe_account):
        found = payout.to_dict()
        if (found.get("metadata") or {}).get("rapport_transfer_id") == plan.transfer_id:
            return found
    return None


async def _wait_for_funds(
    ctx: JobContext, job: ClaimedJob, plan: PayoutPlan, why: str, until: datetime | None
) -> None:
    """Look again later (a new job of the same topic), never dead-letter: the money is there,
    only not available yet."""
    waits = int(job.payload.get("waits", 0)) + 1
    backoff = min(PAYOUT_WAIT_MAX, PAYOUT_WAIT_FIRST * 2 ** (waits - 1))
    run_after = ctx.now + backoff
    if until is not None:
        # A minute after Stripe's date, within sane bounds (clocks may disagree).
        run_after = min(
            max(until + timedelta(minutes=1), ctx.now + timedelta(minutes=1)),
            ctx.now + PAYOUT_AVAILABLE_MAX,
        )
    await enqueue(
        ctx.session,
        job.topic,
        {**job.payload, "waits": waits},
        now=ctx.now,
        idempotency_key=f"{job.topic}:{plan.transfer_id}:wait:{waits}",
        run_after=run_after,
    )
    logger.info(
        "payout waits for available funds: %s",
        why,
        extra={"transfer": plan.transfer_id, "waits": waits, "run_after": run_after.isoformat()},
    )


async def pay_out_transfer(ctx: JobContext, job: ClaimedJob, store: StorePayout) -> None:
    """`money.payout_transfer` {transfer_id} (`RAPPORT_PAYOUT_MODE=per_transfer`): pay the
    transfer out to the creator's bank, in the currency Stripe holds it in, once Stripe has
    made the funds available. Funds still pending (a charge's funds are available only after
    Stripe's delay, and so is a `source_transaction` transfer's) → the job waits until then;
    a refusal with `balance_insufficient` → it waits and retries (backoff), never dead-letters.
    `store(session, payout, influencer_id, stripe_account, now, transfer_id)` records it."""
    transfer_id = job.payload["transfer_id"]
    gateway = ctx.stripe()
    async with ctx.transaction() as s:
        plan = await _plan_payout(s, transfer_id)
    if isinstance(plan, str):
        logger.info("no payout: %s", plan, extra={"transfer": transfer_id})
        return
    plan = await _as_held_by_stripe(gateway, plan)
    if plan.available_on is not None:
        await _wait_for_funds(
            ctx, job, plan, "the transferred funds are pending at Stripe", plan.available_on
        )
        return
    if plan.amount <= 0:
        return
    waits = int(job.payload.get("waits", 0))
    if job.attempts > 1:
        # An earlier attempt may have created it and lost the answer (Stripe replays a 5xx
        # under its key for 24 h): look for it before asking again, under a fresh key.
        found = await _find_payout(gateway, plan)
        if found is not None:
            await store(
                ctx.session,
                found,
                plan.influencer_id,
                plan.stripe_account,
                ctx.now,
                transfer_id,
            )
            return
    try:
        payout = await gateway.create_payout(
            amount=plan.amount,
            currency=plan.currency,
            stripe_account=plan.stripe_account,
            metadata={"rapport_transfer_id": transfer_id},
            idempotency_key=_payout_key(transfer_id, waits, job.attempts),
        )
    except StripeRequestRejected as exc:
        if exc.code == "balance_insufficient":
            await _wait_for_funds(ctx, job, plan, exc.message, None)
            return
        raise PermanentJobError(
            f"Stripe refused the payout of {transfer_id}: {exc.message}"
        ) from exc
    await store(
        ctx.session,
        payout.to_dict(),
        plan.influencer_id,
        plan.stripe_account,
        ctx.now,
        transfer_id,
    )
