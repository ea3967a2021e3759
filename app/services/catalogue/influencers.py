"""Influencer listings: the profile is the listing (docs/design/catalogue-shapes.md).

- An influencer (a user) has at most one listing and is the only one who changes it and its
  social accounts. Every write recomputes the listing's search columns and side tables
  (`app.services.catalogue.search_columns`) in the same transaction.
- A handle is unique per platform, case-insensitively (`social_accounts.handle_key`); a clash
  is `HandleTaken` (409) and nothing of the request is written.
- Everyone with the catalogue scope reads every listing (`get_listing`, `search_listings`).
  Listings are public by nature: there is nothing tenant-private on them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, exists, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from app.clock import rfc3339
from app.errors import Conflict, InvalidRequest, NotFound
from app.models import Influencer, ListingCountry, ListingRate, ListingTopic, SocialAccount
from app.pagination import PageParams, SortKey, paginate
from app.services.catalogue.search_columns import (
    as_date,
    like_pattern,
    reindex_listing,
    search_terms,
)


class InfluencerProfileExists(Conflict):
    slug, title = "influencer-profile-exists", "You already have an influencer profile"


class InfluencerProfileNotFound(NotFound):
    slug, title = "influencer-profile-not-found", "You have no influencer profile yet"


class ListingNotFound(NotFound):
    slug, title = "listing-not-found", "No such influencer listing"


class SocialAccountNotFound(NotFound):
    slug, title = "social-account-not-found", "No such social account on your listing"


class HandleTaken(Conflict):
    slug, title = "handle-taken", "This handle is already listed on that platform"


def _with_accounts(stmt: Select[Influencer]) -> Select[Influencer]:
    return stmt.options(selectinload(Influencer.accounts)).execution_options(populate_existing=True)


async def _reload(session: AsyncSession, listing_id: str) -> Influencer:
    listing = await session.scalar(
        _with_accounts(select(Influencer)).where(Influencer.id == listing_id)
    )
    assert listing is not None
    return listing


async def _accounts(session: AsyncSession, listing_id: str) -> Sequence[SocialAccount]:
    return (
        await session.scalars(
            select(SocialAccount)
            .where(SocialAccount.influencer_id == listing_id)
            .order_by(SocialAccount.position, SocialAccount.id)
        )
    ).all()


async def _write_account(
    session: AsyncSession, account: SocialAccount, changes: dict[str, Any] | None = None
) -> None:
    """Insert `account` (no `changes`) or apply `changes` to it, inside a savepoint: a handle
    clash is `HandleTaken` and leaves the transaction usable."""
    platform = account.platform
    handle = (changes or {}).get("handle", account.handle)
    try:
        async with session.begin_nested():
            if changes is None:
                session.add(account)
            else:
                for field, value in changes.items():
                    setattr(account, field, value)
                account.handle_key = account.handle.lower()
            await session.flush()
    except IntegrityError as exc:
        raise HandleTaken(
            f"{handle} is already listed on {platform}", platform=platform, handle=handle
        ) from exc


def _columns(fields: dict[str, Any]) -> dict[str, Any]:
    """JSON-shaped listing fields → column values (the one date column)."""
    if fields.get("unavailable_until") is not None:
        fields = fields | {"unavailable_until": as_date(fields["unavailable_until"])}
    return fields


POSTED_AT_SKEW = timedelta(minutes=5)  # clocks differ a little; a post from the future is wrong


def check_posts(account: Mapping[str, Any], now: datetime | None, field: str) -> None:
    """A post that went live in the future is a mistake (a clock or a time zone): 422 naming
    the post, nothing written. `account` is JSON-shaped; `field` is its path in the body."""
    if now is None:
        return
    for k, post in enumerate(account.get("recent_posts") or ()):
        posted_at = datetime.fromisoformat(post["posted_at"])
        if posted_at > now + POSTED_AT_SKEW:
            raise InvalidRequest.field(
                f"{field}recent_posts.{k}.posted_at",
                f"is in the future (now is {rfc3339(now)})",
                "in_future",
            )


def _account(listing_id: str, fields: dict[str, Any], position: int) -> SocialAccount:
    return SocialAccount(
        influencer_id=listing_id, position=position, handle_key=fields["handle"].lower(), **fields
    )


# --- your own listing -----------------------------------------------------------------------------


async def create_profile(
    session: AsyncSession,
    user_id: str,
    fields: dict[str, Any],
    accounts: Sequence[dict[str, Any]] = (),
    *,
    now: datetime | None = None,
) -> Influencer:
    """`fields` and `accounts` are JSON-shaped (`model_dump(mode="json")`); with `now`, posts
    dated after it are refused (`check_posts`)."""
    for k, account_fields in enumerate(accounts):
        check_posts(account_fields, now, f"accounts.{k}.")
    profile = Influencer(user_id=user_id, **_columns(fields))
    try:
        async with session.begin_nested():
            session.add(profile)
            await session.flush()
    except IntegrityError as exc:
        raise InfluencerProfileExists(
            "You already have an influencer profile; change it with PATCH /v1/influencers/me"
        ) from exc
    for position, account_fields in enumerate(accounts):
        await _write_account(session, _account(profile.id, account_fields, position))
    await reindex_listing(session, profile, await _accounts(session, profile.id))
    return await _reload(session, profile.id)


async def _own(session: AsyncSession, user_id: str) -> Influencer:
    profile = await session.scalar(
        _with_accounts(select(Influencer)).where(Influencer.user_id == user_id)
    )
    if profile is None:
        raise InfluencerProfileNotFound("Create it with POST /v1/influencers/me")
    return profile


async def get_own_profile(session: AsyncSession, user_id: str) -> Influencer:
    return await _own(session, user_id)


async def update_own_profile(
    session: AsyncSession, user_id: str, changes: dict[str, Any]
) -> Influencer:
    """`changes` holds only the fields sent, JSON-shaped; they replace the stored ones whole."""
    profile = await _own(session, user_id)
    for field, value in _columns(changes).items():
        setattr(profile, field, value)
    await reindex_listing(session, profile, profile.accounts)
    return await _reload(session, profile.id)


# --- your accounts -------------------------------------------------------------------------------


async def list_own_accounts(session: AsyncSession, user_id: str) -> list[SocialAccount]:
    return list((await _own(session, user_id)).accounts)


async def add_account(
    session: AsyncSession, user_id: str, fields: dict[str, Any], *, now: datetime | None = None
) -> SocialAccount:
    check_posts(fields, now, "")
    profile = await _own(session, user_id)
    last = max((a.position for a in profile.accounts), default=-1)
    account = _account(profile.id, fields, last + 1)
    await _write_account(session, account)
    await reindex_listing(session, profile, await _accounts(session, profile.id))
    return account


async def _own_account(
    session: AsyncSession, user_id: str, account_id: str
) -> tuple[Influencer, SocialAccount]:
    profile = await _own(session, user_id)
    account = next((a for a in profile.accounts if a.id == account_id), None)
    if account is None:
        raise SocialAccountNotFound(f"No account {account_id} on your listing")
    return profile, account


async def update_account(
    session: AsyncSession,
    user_id: str,
    account_id: str,
    changes: dict[str, Any],
    *,
    now: datetime | None = None,
) -> SocialAccount:
    check_posts(changes, now, "")
    profile, account = await _own_account(session, user_id, account_id)
    await _write_account(session, account, changes)
    await reindex_listing(session, profile, await _accounts(session, profile.id))
    return account


async def delete_account(session: AsyncSession, user_id: str, account_id: str) -> None:
    profile, account = await _own_account(session, user_id, account_id)
    await session.delete(account)
    await session.flush()
    await reindex_listing(session, profile, await _accounts(session, profile.id))


# --- the public catalogue ---------------------------------------------------------------------


async def get_listing(session: AsyncSession, listing_id: str) -> Influencer:
    listing = await session.scalar(
        _with_accounts(select(Influencer)).where(Influencer.id == listing_id)
    )
    if listing is None:
        raise ListingNotFound(f"No listing {listing_id}")
    return listing


@dataclass(frozen=True)
class ListingFilters:
    """Every filter narrows (AND); a list matches any of its values (OR)."""

    q: str | None = None
    platform: Sequence[str] = ()
    topic: Sequence[str] = ()
    country: Sequence[str] = ()
    min_country_share: float | None = None
    home_country: str | None = None
    deliverable_type: Sequence[str] = ()
    currency: str | None = None
    price_min: int | None = None
    price_max: int | None = None
    followers_min: int | None = None
    followers_max: int | None = None
    available: bool | None = None
    sort: str = "-created"


LISTING_SORTS: dict[str, list[SortKey]] = {
    "created": [SortKey(Influencer.created_at), SortKey(Influencer.id)],
    "-created": [SortKey(Influencer.created_at, True), SortKey(Influencer.id, True)],
    "followers": [SortKey(Influencer.max_followers), SortKey(Influencer.id)],
    "-followers": [SortKey(Influencer.max_followers, True), SortKey(Influencer.id, True)],
}


def _check_ranges(f: ListingFilters) -> None:
    if (f.price_min is not None or f.price_max is not None) and f.currency is None:
        raise InvalidRequest.field(
            "currency",
            "is required with price_min/price_max (amounts differ by currency)",
            "required_with_price",
        )
    for low, high, name in (
        (f.price_min, f.price_max, "price_min"),
        (f.followers_min, f.followers_max, "followers_min"),
    ):
        if low is not None and high is not None and low > high:
            raise InvalidRequest.field(name, "must not be above its maximum", "min_above_max")


def listing_conditions(f: ListingFilters) -> list[ColumnElement[bool]]:
    """The WHERE clauses of a catalogue search (shared with anything that filters listings)."""
    where: list[ColumnElement[bool]] = []
    for term in search_terms(f.q):
        where.append(Influencer.search_text.like(like_pattern(term), escape="\\"))
    followers: list[ColumnElement[bool]] = []
    if f.followers_min is not None:
        followers.append(SocialAccount.followers >= f.followers_min)
    if f.followers_max is not None:
        followers.append(SocialAccount.followers <= f.followers_max)
    if f.platform:
        # With a platform, the follower range applies to the account on that platform.
        where.append(
            exists().where(
                SocialAccount.influencer_id == Influencer.id,
                SocialAccount.platform.in_(f.platform),
                *followers,
            )
        )
    else:
        if f.followers_min is not None:
            where.append(Influencer.max_followers >= f.followers_min)
        if f.followers_max is not None:
            where.append(Influencer.max_followers <= f.followers_max)
    if f.topic:
        where.append(
            exists().where(
                ListingTopic.influencer_id == Influencer.id, ListingTopic.topic.in_(f.topic)
            )
        )
    if f.country:
        share = (
            ListingCountry.share >= f.min_country_share
            if f.min_country_share is not None
            else ListingCountry.share > 0
        )
        where.append(
            exists().where(
                ListingCountry.influencer_id == Influencer.id,
                ListingCountry.country.in_(f.country),
                share,
            )
        )
    if f.home_country:
        where.append(Influencer.country == f.home_country)
    rates: list[ColumnElement[bool]] = []
    if f.deliverable_type:
        rates.append(ListingRate.deliverable_type.in_(f.deliverable_type))
    if f.currency is not None and (f.price_min is not None or f.price_max is not None):
        rates.append(ListingRate.currency == f.currency)
        if f.price_min is not None:
            rates.append(ListingRate.amount >= f.price_min)
        if f.price_max is not None:
            rates.append(ListingRate.amount <= f.price_max)
    if rates:
        where.append(exists().where(ListingRate.influencer_id == Influencer.id, and_(*rates)))
    if f.available is not None:
        where.append(Influencer.available == f.available)
    return where


async def search_listings(
    session: AsyncSession, filters: ListingFilters, page: PageParams
) -> tuple[list[Influencer], str | None]:
    _check_ranges(filters)
    stmt = _with_accounts(select(Influencer)).where(*listing_conditions(filters))
    return await paginate(session, stmt, LISTING_SORTS[filters.sort], page)
