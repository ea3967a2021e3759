"""Promo codes, conversion secrets, and the orders and refunds a brand's shop posts.

**Promo codes** belong to one contract (and so one creator): letters, digits, `-` and `_`,
stored upper case, unique per brand (409 `promo-code-taken`). The brand makes them; both
parties read them.

**The conversion secret** (`rcs_…`) is the brand's, one per brand, shown once when made and at
each rotation (`POST /v1/brands/{id}/conversion-secret`, owners and admins). After a rotation
the previous secret still verifies for `RAPPORT_CONVERSION_SECRET_OVERLAP_HOURS` (24).

**A post** (`POST /v1/brands/{id}/conversions`) carries no bearer token: it is signed.
`Rapport-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + raw body)>` (several
`v1=` allowed). A post is refused with 401 when no `v1` verifies with the brand's secret(s)
(`conversion-signature-invalid`; also a brand without a secret, or a missing or malformed
header), then when `t` is further than `RAPPORT_CONVERSION_TOLERANCE_SECONDS` (300) from our
clock (`conversion-signature-expired`). Nothing is written for a refused post.

- `order`: the order id (unique per brand), amount and currency (integer minor units), when
  it happened, and its attribution: a tracked link's code (the `rapport_link` parameter the
  redirect added to the landing page) and/or a promo code of the brand. Both given must name
  the same contract. Posting the same order again is answered with the stored one and
  `duplicate: true`; the same order id with another amount, currency or attribution is 409
  `order-conflict`.
- `refund`: the order id, a refund id (unique per order) and an amount in the order's
  currency; refunds are netted: the order's `refunded` grows, its net revenue is amount -
  refunded, and an order refunded in full no longer counts as a conversion. A refund of more
  than what is left is 409 `refund-exceeds-order`; the same refund again is a duplicate, the
  same refund id with another amount 409 `refund-conflict`; a refund of an order never posted
  is 422.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import Conflict, Forbidden, InvalidRequest, NotFound, Problem
from app.models import (
    Attribution,
    BrandMember,
    BrandRole,
    Conversion,
    ConversionRefund,
    ConversionSecret,
    PromoCode,
    TrackedLink,
)
from app.pagination import PageParams, SortKey, paginate
from app.services.identity.brands import BrandNotFound
from app.services.measurement.links import brand_contract, party_contract

SECRET_PREFIX = "rcs_"  # noqa: S105 (a prefix, not a secret)
SIGNATURE_HEADER = "Rapport-Signature"


class ConversionSignatureInvalid(Problem):
    status, slug, title = 401, "conversion-signature-invalid", "The conversion's signature fails"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.headers["WWW-Authenticate"] = SIGNATURE_HEADER


class ConversionSignatureExpired(ConversionSignatureInvalid):
    slug, title = (
        "conversion-signature-expired",
        "The conversion's signed timestamp is outside the tolerance",
    )


class OrderConflict(Conflict):
    slug, title = "order-conflict", "This order id was posted with other figures"


class RefundConflict(Conflict):
    slug, title = "refund-conflict", "This refund id was posted with another amount"


class RefundExceedsOrder(Conflict):
    slug, title = "refund-exceeds-order", "The refund is more than what is left of the order"


class ConversionSecretNotFound(NotFound):
    slug, title = "conversion-secret-not-found", "The brand has no conversion secret yet"


class PromoCodeTaken(Conflict):
    slug, title = "promo-code-taken", "The brand has this promo code already"


POST_PROBLEMS: tuple[type[Problem], ...] = (
    ConversionSignatureInvalid,
    ConversionSignatureExpired,
    OrderConflict,
    RefundConflict,
    RefundExceedsOrder,
)


# --- the brand's secret -------------------------------------------------------------------------


async def _role(session: AsyncSession, user_id: str, brand_id: str) -> BrandRole:
    role = await session.scalar(
        select(BrandMember.role).where(
            BrandMember.brand_id == brand_id, BrandMember.user_id == user_id
        )
    )
    if role is None:
        raise BrandNotFound(f"No brand {brand_id} among your brands")
    return BrandRole(role)


async def rotate_secret(
    session: AsyncSession, user_id: str, brand_id: str, now: datetime, *, overlap: timedelta
) -> ConversionSecret:
    """A new secret (the first, or the next: the old one verifies until `now + overlap`)."""
    if await _role(session, user_id, brand_id) == BrandRole.member:
        raise Forbidden("Only a brand owner or admin can make the conversion secret")
    row = await session.scalar(
        select(ConversionSecret).where(ConversionSecret.brand_id == brand_id).with_for_update()
    )
    fresh = SECRET_PREFIX + secrets.token_urlsafe(32)
    if row is None:
        row = ConversionSecret(brand_id=brand_id, secret=fresh, created_at=now)
        session.add(row)
    else:
        row.previous_secret = row.secret
        row.previous_secret_expires_at = now + overlap
        row.secret = fresh
        row.rotated_at = now
    await session.flush()
    return row


async def secret_of(session: AsyncSession, user_id: str, brand_id: str) -> ConversionSecret:
    await _role(session, user_id, brand_id)
    row = await session.get(ConversionSecret, brand_id)
    if row is None:
        raise ConversionSecretNotFound(f"Brand {brand_id} has no conversion secret yet")
    return row


def sign(secret: str, timestamp: int, body: bytes) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


async def verify(
    session: AsyncSession,
    brand_id: str,
    body: bytes,
    header: str | None,
    now: datetime,
    *,
    tolerance: timedelta,
) -> None:
    """The post's signature verifies with the brand's secret (or the previous one, during a
    rotation's overlap), and its timestamp is within the tolerance of our clock."""
    if not header:
        raise ConversionSignatureInvalid(f"The {SIGNATURE_HEADER} header is missing")
    timestamp: int | None = None
    signatures: list[str] = []
    for item in header.split(","):
        name, _, value = item.strip().partition("=")
        if name == "t" and value.isdigit() and len(value) <= 12:
            timestamp = int(value)
        elif name == "v1":
            signatures.append(value.strip())
    if timestamp is None or not signatures:
        raise ConversionSignatureInvalid(
            f"{SIGNATURE_HEADER} must read `t=<unix seconds>,v1=<hex HMAC-SHA256>`"
        )
    row = await session.get(ConversionSecret, brand_id)
    keys: list[str] = []
    if row is not None:
        keys.append(row.secret)
        expires = row.previous_secret_expires_at
        if row.previous_secret and expires is not None and now < expires:
            keys.append(row.previous_secret)
    expected = [sign(key, timestamp, body) for key in keys]
    if not any(hmac.compare_digest(e, s) for e in expected for s in signatures):
        raise ConversionSignatureInvalid(
            f"No signature in {SIGNATURE_HEADER} verifies with brand {brand_id}'s conversion secret"
        )
    skew = abs(now.timestamp() - timestamp)
    if skew > tolerance.total_seconds():
        raise ConversionSignatureExpired(
            f"The signed timestamp is {int(skew)} s from our clock; at most "
            f"{int(tolerance.total_seconds())} s is accepted"
        )


# --- promo codes --------------------------------------------------------------------------------


async def create_promo_code(
    session: AsyncSession, user_id: str, contract_id: str, now: datetime, code: str
) -> PromoCode:
    contract = await brand_contract(session, user_id, contract_id)
    row = PromoCode(
        brand_id=contract.brand_id,
        contract_id=contract.id,
        influencer_id=contract.influencer_id,
        code=code.upper(),
        created_by_user=user_id,
        created_at=now,
    )
    try:
        async with session.begin_nested():
            session.add(row)
            await session.flush()
    except IntegrityError as exc:
        raise PromoCodeTaken(f"Promo code {code.upper()} is taken in this brand") from exc
    return row


async def list_promo_codes(
    session: AsyncSession, user_id: str, contract_id: str, page: PageParams
) -> tuple[list[PromoCode], str | None]:
    contract = await party_contract(session, user_id, contract_id)
    stmt = select(PromoCode).where(PromoCode.contract_id == contract.id)
    return await paginate(session, stmt, [SortKey(PromoCode.id)], page)


@dataclass
class CodeStats:
    conversions: int = 0
    # currency → net revenue in minor units
    revenue: dict[str, int] | None = None


async def promo_code_stats(session: AsyncSession, code_ids: Sequence[str]) -> dict[str, CodeStats]:
    stats = {i: CodeStats(revenue={}) for i in code_ids}
    if not code_ids:
        return stats
    rows = await session.execute(
        select(
            Conversion.promo_code_id,
            Conversion.currency,
            func.count(),
            func.sum(Conversion.amount - Conversion.refunded),
        )
        .where(Conversion.promo_code_id.in_(code_ids), Conversion.refunded < Conversion.amount)
        .group_by(Conversion.promo_code_id, Conversion.currency)
    )
    totals: dict[str, dict[str, int]] = defaultdict(dict)
    for code_id, currency, n, net in rows:
        if code_id is None:  # not selected (the filter names codes), but typed as optional
            continue
        stats[code_id].conversions += int(n)
        totals[code_id][currency] = int(net or 0)
    for code_id, revenue in totals.items():
        stats[code_id].revenue = dict(sorted(revenue.items()))
    return stats


# --- orders and refunds -------------------------------------------------------------------------


@dataclass(frozen=True)
class Order:
    order_id: str
    amount: int
    currency: str
    occurred_at: datetime | None
    link_code: str | None
    promo_code: str | None


@dataclass(frozen=True)
class RefundIn:
    order_id: str
    refund_id: str
    amount: int
    currency: str | None
    occurred_at: datetime | None


@dataclass
class Posted:
    conversion: Conversion
    duplicate: bool
    refund: ConversionRefund | None = None


def _when(occurred_at: datetime | None, now: datetime, tolerance: timedelta) -> datetime:
    if occurred_at is None:
        return now
    if occurred_at > now + tolerance:
        raise InvalidRequest.field("occurred_at", "is in the future", "in_future")
    return occurred_at


async def _attribution(
    session: AsyncSession, brand_id: str, order: Order
) -> tuple[str, str, TrackedLink | None, PromoCode | None]:
    link = promo = None
    if order.link_code:
        link = await session.scalar(
            select(TrackedLink).where(
                TrackedLink.code == order.link_code, TrackedLink.brand_id == brand_id
            )
        )
        if link is None:
            raise InvalidRequest.field(
                "link_code", f"no tracked link {order.link_code} of this brand", "unknown_link"
            )
    if order.promo_code:
        promo = await session.scalar(
            select(PromoCode).where(
                PromoCode.code == order.promo_code.upper(), PromoCode.brand_id == brand_id
            )
        )
        if promo is None:
            raise InvalidRequest.field(
                "promo_code", f"no promo code {order.promo_code} of this brand", "unknown_code"
            )
    if link is None and promo is None:
        raise InvalidRequest.field(
            "link_code", "an order names a link code or a promo code", "unattributed"
        )
    if link is not None and promo is not None and link.contract_id != promo.contract_id:
        raise InvalidRequest.field(
            "promo_code",
            f"belongs to another contract than link {link.code}; name one of them",
            "attribution_mismatch",
        )
    owner: TrackedLink | PromoCode | None = link if link is not None else promo
    assert owner is not None
    return owner.contract_id, owner.influencer_id, link, promo


def _same_order(row: Conversion, new: Conversion) -> bool:
    fields = ("amount", "currency", "contract_id", "link_id", "promo_code_id")
    return all(getattr(row, f) == getattr(new, f) for f in fields)


async def record_order(
    session: AsyncSession, brand_id: str, order: Order, now: datetime, *, tolerance: timedelta
) -> Posted:
    contract_id, influencer_id, link, promo = await _attribution(session, brand_id, order)
    row = Conversion(
        brand_id=brand_id,
        order_id=order.order_id,
        contract_id=contract_id,
        influencer_id=influencer_id,
        attributed_by=Attribution.link if link is not None else Attribution.promo_code,
        link_id=link.id if link is not None else None,
        promo_code_id=promo.id if promo is not None else None,
        amount=order.amount,
        currency=order.currency,
        refunded=0,
        occurred_at=_when(order.occurred_at, now, tolerance),
        created_at=now,
    )
    existing = await _order(session, brand_id, order.order_id)
    if existing is None:
        try:
            async with session.begin_nested():
                session.add(row)
                await session.flush()
            return Posted(row, duplicate=False)
        except IntegrityError:  # posted at the same moment by another request
            existing = await _order(session, brand_id, order.order_id)
            assert existing is not None
    if not _same_order(existing, row):
        raise OrderConflict(
            f"Order {order.order_id} was posted with amount {existing.amount} "
            f"{existing.currency} on contract {existing.contract_id}; it cannot change",
            conversion_id=existing.id,
        )
    return Posted(existing, duplicate=True)


async def _order(
    session: AsyncSession, brand_id: str, order_id: str, *, lock: bool = False
) -> Conversion | None:
    stmt = select(Conversion).where(
        Conversion.brand_id == brand_id, Conversion.order_id == order_id
    )
    if lock:
        stmt = stmt.with_for_update()
    return await session.scalar(stmt.execution_options(populate_existing=True))


async def record_refund(
    session: AsyncSession, brand_id: str, refund: RefundIn, now: datetime, *, tolerance: timedelta
) -> Posted:
    order = await _order(session, brand_id, refund.order_id, lock=True)
    if order is None:
        raise InvalidRequest.field(
            "order_id", f"no order {refund.order_id} was posted to this brand", "unknown_order"
        )
    if refund.currency is not None and refund.currency != order.currency:
        raise InvalidRequest.field(
            "currency", f"must be the order's currency {order.currency}", "currency_mismatch"
        )
    earlier = await session.scalar(
        select(ConversionRefund).where(
            ConversionRefund.conversion_id == order.id,
            ConversionRefund.refund_id == refund.refund_id,
        )
    )
    if earlier is not None:
        if earlier.amount != refund.amount:
            raise RefundConflict(
                f"Refund {refund.refund_id} of order {refund.order_id} was posted with amount "
                f"{earlier.amount}; it cannot change"
            )
        return Posted(order, duplicate=True, refund=earlier)
    left = order.amount - order.refunded
    if refund.amount > left:
        raise RefundExceedsOrder(
            f"Order {refund.order_id} has {left} {order.currency} left to refund, not "
            f"{refund.amount}",
            refundable=left,
        )
    row = ConversionRefund(
        conversion_id=order.id,
        contract_id=order.contract_id,
        refund_id=refund.refund_id,
        amount=refund.amount,
        currency=order.currency,
        occurred_at=_when(refund.occurred_at, now, tolerance),
        created_at=now,
    )
    session.add(row)
    order.refunded += refund.amount
    await session.flush()
    return Posted(order, duplicate=False, refund=row)


async def list_conversions(
    session: AsyncSession, user_id: str, brand_id: str, page: PageParams
) -> tuple[list[Conversion], str | None]:
    await _role(session, user_id, brand_id)
    stmt = select(Conversion).where(Conversion.brand_id == brand_id)
    return await paginate(session, stmt, [SortKey(Conversion.id, descending=True)], page)
