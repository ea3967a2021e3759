"""Does the configured Stripe know the Stripe objects our database names? (docs/payments.md,
"When Stripe forgets").

A wiped sandbox, or a key of another Stripe account, leaves the database naming accounts and
PaymentIntents that Stripe answers `resource_missing` for: onboarding, transfers and payouts
then fail for the creators concerned. `check_stored_stripe_ids` samples a few stored ids (the
most recently updated payout accounts and PaymentIntents: cheap, a handful of GETs, each answer
cached for a while) and says plainly what it found; `/readyz` shows it and `rapport serve`
prints it at startup. The creators concerned recover by onboarding again
(app/services/money/payouts.py replaces an account Stripe does not know).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import create_database
from app.integrations.stripe import StripeGateway, StripeGatewayError, StripeUnavailable
from app.models import Payment, PayoutAccount
from app.services.money.payouts import ACCOUNT_UNKNOWN, account_unknown
from app.services.money.stripe_problems import end_transaction

SAMPLE_ACCOUNTS = 3
SAMPLE_PAYMENTS = 2
CHECK_TIMEOUT_SECONDS = 5.0
# An id's answer is reused for this long: /readyz may be polled every few seconds.
CACHE_SECONDS = 30.0


@dataclass
class StripeCheck:
    # ok | unknown_objects | unreachable | refused | skipped (nothing stored yet)
    status: str
    checked: int = 0
    unknown: int = 0
    example: str | None = None
    # Payout accounts already known to be unknown to Stripe (their creators must onboard again).
    accounts_to_reonboard: int = 0
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.status in ("ok", "skipped")


@dataclass
class _Cache:
    answers: dict[str, tuple[bool, float]] = field(default_factory=dict)


_CACHE = _Cache()


async def _known(
    object_id: str, fetch: Callable[[str], Awaitable[Any]], now: float, cache: _Cache
) -> bool:
    """True when Stripe knows the object; raises the gateway error when it cannot say."""
    cached = cache.answers.get(object_id)
    if cached is not None and now - cached[1] < CACHE_SECONDS:
        return cached[0]
    try:
        await fetch(object_id)
        known = True
    except StripeGatewayError as exc:
        if not account_unknown(exc):
            raise
        known = False
    cache.answers[object_id] = (known, now)
    return known


async def check_stored_stripe_ids(
    session: AsyncSession,
    gateway: StripeGateway,
    *,
    within_seconds: float = CHECK_TIMEOUT_SECONDS,
    cache: _Cache | None = None,
) -> StripeCheck:
    cache = cache if cache is not None else _CACHE
    accounts = list(
        await session.scalars(
            select(PayoutAccount.stripe_account_id)
            .order_by(PayoutAccount.updated_at.desc())
            .limit(SAMPLE_ACCOUNTS)
        )
    )
    intents = list(
        await session.scalars(
            select(Payment.payment_intent_id)
            .order_by(Payment.updated_at.desc())
            .limit(SAMPLE_PAYMENTS)
        )
    )
    marked_rows = list(
        await session.scalars(
            select(PayoutAccount.stripe_account_id)
            .where(PayoutAccount.disabled_reason == ACCOUNT_UNKNOWN)
            .order_by(PayoutAccount.updated_at.desc())
            .limit(1)
        )
    )
    marked = int(
        await session.scalar(
            select(func.count())
            .select_from(PayoutAccount)
            .where(PayoutAccount.disabled_reason == ACCOUNT_UNKNOWN)
        )
        or 0
    )
    await end_transaction(session)
    if not accounts and not intents:
        return StripeCheck("skipped", detail="no Stripe ids stored yet")
    samples: list[tuple[str, Callable[[str], Awaitable[Any]]]] = [
        *((a, gateway.retrieve_account) for a in accounts),
        *((i, gateway.retrieve_payment_intent) for i in intents),
    ]
    now = time.monotonic()
    unknown: list[str] = []
    try:
        async with asyncio.timeout(within_seconds):
            for object_id, fetch in samples:
                if not await _known(object_id, fetch, now, cache):
                    unknown.append(object_id)
    except (StripeUnavailable, TimeoutError) as exc:
        late = f"no answer in {within_seconds} s"
        reason = exc.message if isinstance(exc, StripeUnavailable) else late
        return StripeCheck(
            "unreachable",
            accounts_to_reonboard=marked,
            detail=f"Stripe could not be reached to check the stored Stripe ids: {reason}",
        )
    except StripeGatewayError as exc:
        return StripeCheck(
            "refused",
            accounts_to_reonboard=marked,
            detail=f"Stripe refused to show a stored object ({exc.code or exc.http_status}: "
            f"{exc.message}); is RAPPORT_STRIPE_API_KEY the key of this platform?",
        )
    if not unknown and not marked:
        return StripeCheck(
            "ok",
            checked=len(samples),
            detail=f"the {len(samples)} sampled Stripe ids are known to Stripe",
        )
    example = unknown[0] if unknown else marked_rows[0]
    return StripeCheck(
        "unknown_objects",
        checked=len(samples),
        unknown=len(unknown),
        example=example,
        accounts_to_reonboard=marked,
        detail=f"{len(unknown)} of {len(samples)} sampled Stripe ids stored in the database "
        "are unknown to the configured Stripe"
        + (f", and {marked} payout account(s) were found unknown to it" if marked else "")
        + f" (e.g. {example}): its data was reset (a wiped sandbox) or RAPPORT_STRIPE_API_KEY "
        "belongs to another Stripe account. Creators whose payout account is unknown must start "
        "payout onboarding again.",
    )


async def startup_report(settings: Any, *, wait_seconds: float = 10.0) -> str | None:
    """For `rapport serve`: one plain line when the stored Stripe ids do not match the
    configured Stripe (None when they do, or nothing is stored). Waits a little for a sandbox
    that was just started beside the API."""
    database = create_database(settings)
    gateway = StripeGateway(settings)
    try:
        deadline = time.monotonic() + wait_seconds
        while True:
            async with database.sessionmaker() as session:
                check = await check_stored_stripe_ids(session, gateway, cache=_Cache())
            if check.status != "unreachable" or time.monotonic() >= deadline:
                break
            await asyncio.sleep(0.5)
    finally:
        await gateway.aclose()
        await database.dispose()
    if check.ok:
        return None
    return f"WARNING Stripe: {check.detail}"
