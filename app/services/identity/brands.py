"""Brands and their membership rules.

Roles: owner > admin > member.
- Any member reads the brand and its members.
- Owners and admins edit the brand and invite; only owners invite or promote owners, delete the
  brand, or change another owner. Admins manage members but not owners.
- Anyone may leave; the last owner may not leave or be demoted (a brand always has an owner).
Every membership change locks the brand row first, so two owners demoting each other at once
cannot leave the brand ownerless.
A caller who is not a member gets 404 for the brand and everything under it — which is also
why the brand profile's `blocked_influencers` is seen by members only: no route shows a brand
to anyone else.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import add_unique, rowcount
from app.errors import Conflict, Forbidden, InvalidRequest, NotFound
from app.models import (
    Brand,
    BrandInvitation,
    BrandMember,
    BrandRole,
    Brief,
    BriefState,
    Contract,
    Influencer,
    InvitationState,
    User,
)
from app.pagination import PageParams, SortKey, paginate
from app.services.identity.tenancy import member_brands
from app.services.identity.users import normalise_email

INVITATION_TTL = timedelta(days=7)
_RANK = {BrandRole.member: 0, BrandRole.admin: 1, BrandRole.owner: 2}


class BrandNotFound(NotFound):
    slug, title = "brand-not-found", "No such brand"


class LastOwner(Conflict):
    slug, title = "last-owner", "A brand must keep at least one owner"


class AlreadyMember(Conflict):
    slug, title = "already-member", "This person is already a member of the brand"


class InvitationNotFound(NotFound):
    slug, title = "invitation-not-found", "No such invitation"


class InvitationNotPending(Conflict):
    slug, title = "invitation-not-pending", "The invitation is no longer pending"


class InvitationPending(Conflict):
    slug, title = "invitation-pending", "This email already has a pending invitation"


class BrandHasActivity(Conflict):
    slug, title = "brand-has-activity", "The brand has briefs or contracts and cannot be deleted"


class MemberNotFound(NotFound):
    slug, title = "member-not-found", "No such member"


async def _membership(
    session: AsyncSession, brand_id: str, user_id: str, *, lock: bool = False
) -> tuple[Brand, BrandMember]:
    stmt = select(Brand).where(Brand.id == brand_id)
    if lock:
        stmt = stmt.with_for_update()
    brand = await session.scalar(stmt)
    member = await session.get(BrandMember, (brand_id, user_id)) if brand else None
    if brand is None or member is None:
        raise BrandNotFound(f"No brand {brand_id} among your brands")
    return brand, member


def _require(member: BrandMember, at_least: BrandRole, action: str) -> None:
    if _RANK[member.role] < _RANK[at_least]:
        raise Forbidden(f"Only a brand {at_least.value} or above can {action}")


async def _owner_count(session: AsyncSession, brand_id: str) -> int:
    return (
        await session.scalar(
            select(func.count()).where(
                BrandMember.brand_id == brand_id, BrandMember.role == BrandRole.owner
            )
        )
        or 0
    )


# --- brands -----------------------------------------------------------------------------------


async def _check_blocked(session: AsyncSession, listing_ids: list[str]) -> None:
    """Blocked influencers must be listings that exist (listings are public: no leak)."""
    if not listing_ids:
        return
    found = set(await session.scalars(select(Influencer.id).where(Influencer.id.in_(listing_ids))))
    errors = [
        {
            "field": f"blocked_influencers.{i}",
            "message": f"no listing {listing_id}",
            "rule": "unknown_influencer",
        }
        for i, listing_id in enumerate(listing_ids)
        if listing_id not in found
    ]
    if errors:
        raise InvalidRequest(f"blocked_influencers: {errors[0]['message']}", errors)


async def create_brand(
    session: AsyncSession, user_id: str, name: str, profile: dict[str, Any] | None = None
) -> tuple[Brand, BrandRole]:
    """`profile`: the brand profile's other fields (website, category, values, competitors,
    blocked influencers), JSON-shaped."""
    profile = profile or {}
    await _check_blocked(session, profile.get("blocked_influencers", []))
    brand = Brand(name=name, **profile)
    session.add(brand)
    await session.flush()
    session.add(BrandMember(brand_id=brand.id, user_id=user_id, role=BrandRole.owner))
    await session.flush()
    return brand, BrandRole.owner


async def get_brand(session: AsyncSession, user_id: str, brand_id: str) -> tuple[Brand, BrandRole]:
    brand, member = await _membership(session, brand_id, user_id)
    return brand, member.role


async def list_brands(
    session: AsyncSession, user_id: str, page: PageParams
) -> tuple[list[tuple[Brand, BrandRole]], str | None]:
    stmt = select(Brand).where(Brand.id.in_(member_brands(user_id)))
    brands, cursor = await paginate(session, stmt, [SortKey(Brand.id)], page)
    result = await session.execute(
        select(BrandMember.brand_id, BrandMember.role).where(
            BrandMember.user_id == user_id, BrandMember.brand_id.in_([b.id for b in brands])
        )
    )
    roles = {brand_id: role for brand_id, role in result}
    return [(b, roles[b.id]) for b in brands], cursor


async def update_brand(
    session: AsyncSession, user_id: str, brand_id: str, changes: dict[str, Any]
) -> tuple[Brand, BrandRole]:
    """`changes`: only the fields sent (JSON-shaped); each replaces the stored value."""
    brand, member = await _membership(session, brand_id, user_id)
    _require(member, BrandRole.admin, "edit the brand")
    if "blocked_influencers" in changes:
        await _check_blocked(session, changes["blocked_influencers"])
    for field, value in changes.items():
        setattr(brand, field, value)
    await session.flush()
    return brand, member.role


async def delete_brand(session: AsyncSession, user_id: str, brand_id: str) -> None:
    """Deletes a brand with its drafts and cancelled briefs. A brand that has contracts (money
    history) or briefs that influencers can see or bid on is refused: its counterparties'
    records must not vanish."""
    brand, member = await _membership(session, brand_id, user_id, lock=True)
    _require(member, BrandRole.owner, "delete the brand")
    contracts = await session.scalar(
        select(func.count()).select_from(Contract).where(Contract.brand_id == brand_id)
    )
    live_briefs = await session.scalar(
        select(func.count())
        .select_from(Brief)
        .where(
            Brief.brand_id == brand_id,
            Brief.state.not_in([BriefState.draft, BriefState.cancelled]),
        )
    )
    if contracts or live_briefs:
        raise BrandHasActivity(
            f"The brand has {contracts} contract(s) and {live_briefs} open, closed or completed "
            "brief(s); cancel what can be cancelled — a brand with contracts stays for the record",
            contracts=contracts,
            live_briefs=live_briefs,
        )
    await session.delete(brand)
    await session.flush()


# --- members ----------------------------------------------------------------------------------


async def list_members(
    session: AsyncSession, user_id: str, brand_id: str, page: PageParams
) -> tuple[list[tuple[BrandMember, User]], str | None]:
    await _membership(session, brand_id, user_id)
    stmt = select(BrandMember).where(BrandMember.brand_id == brand_id)
    members, cursor = await paginate(session, stmt, [SortKey(BrandMember.user_id)], page)
    users = {
        u.id: u
        for u in await session.scalars(
            select(User).where(User.id.in_([m.user_id for m in members]))
        )
    }
    return [(m, users[m.user_id]) for m in members], cursor


async def change_role(
    session: AsyncSession, user_id: str, brand_id: str, target_user_id: str, role: BrandRole
) -> BrandMember:
    _, me = await _membership(session, brand_id, user_id, lock=True)
    target = await session.get(BrandMember, (brand_id, target_user_id))
    if target is None:
        raise MemberNotFound(f"{target_user_id} is not a member of this brand")
    _require(me, BrandRole.admin, "change roles")
    if BrandRole.owner in (role, target.role):
        _require(me, BrandRole.owner, "grant or take the owner role")
    if (
        target.role == BrandRole.owner
        and role != BrandRole.owner
        and await _owner_count(session, brand_id) == 1
    ):
        raise LastOwner("Make someone else an owner before giving up the last owner role")
    target.role = role
    await session.flush()
    return target


async def remove_member(
    session: AsyncSession, user_id: str, brand_id: str, target_user_id: str
) -> None:
    _, me = await _membership(session, brand_id, user_id, lock=True)
    target = await session.get(BrandMember, (brand_id, target_user_id))
    if target is None:
        raise MemberNotFound(f"{target_user_id} is not a member of this brand")
    if target_user_id != user_id:
        _require(me, BrandRole.admin, "remove members")
        if target.role == BrandRole.owner:
            _require(me, BrandRole.owner, "remove an owner")
    if target.role == BrandRole.owner and await _owner_count(session, brand_id) == 1:
        raise LastOwner("The last owner cannot leave; make someone else an owner first")
    await session.delete(target)
    await session.flush()


# --- invitations ------------------------------------------------------------------------------


async def invite(
    session: AsyncSession, user_id: str, brand_id: str, email: str, role: BrandRole, now: datetime
) -> BrandInvitation:
    _, me = await _membership(session, brand_id, user_id, lock=True)
    _require(me, BrandRole.admin, "invite members")
    if role == BrandRole.owner:
        _require(me, BrandRole.owner, "invite an owner")
    email = normalise_email(email)
    existing_member = await session.scalar(
        select(BrandMember)
        .join(User, User.id == BrandMember.user_id)
        .where(BrandMember.brand_id == brand_id, User.email == email)
    )
    if existing_member is not None:
        raise AlreadyMember(f"{email} is already a member of this brand")
    invitation = BrandInvitation(
        brand_id=brand_id,
        email=email,
        role=role,
        invited_by=user_id,
        expires_at=now + INVITATION_TTL,
    )
    if not await add_unique(session, invitation):
        raise InvitationPending(f"{email} already has a pending invitation to this brand")
    return invitation


async def list_brand_invitations(
    session: AsyncSession, user_id: str, brand_id: str, page: PageParams
) -> tuple[list[BrandInvitation], str | None]:
    await _membership(session, brand_id, user_id)
    stmt = select(BrandInvitation).where(BrandInvitation.brand_id == brand_id)
    return await paginate(session, stmt, [SortKey(BrandInvitation.id, descending=True)], page)


async def revoke_invitation(
    session: AsyncSession, user_id: str, brand_id: str, invitation_id: str, now: datetime
) -> BrandInvitation:
    _, me = await _membership(session, brand_id, user_id)
    invitation = await session.scalar(
        select(BrandInvitation).where(
            BrandInvitation.id == invitation_id, BrandInvitation.brand_id == brand_id
        )
    )
    if invitation is None:
        raise InvitationNotFound()
    _require(me, BrandRole.admin, "revoke invitations")
    if invitation.state != InvitationState.pending:
        raise InvitationNotPending(f"The invitation is already {invitation.state.value}")
    invitation.state = InvitationState.revoked
    invitation.responded_at = now
    await session.flush()
    return invitation


async def _my_invitation(
    session: AsyncSession, user_id: str, invitation_id: str
) -> tuple[BrandInvitation, User]:
    user = await session.get(User, user_id)
    invitation = await session.get(BrandInvitation, invitation_id)
    if user is None or invitation is None or invitation.email != user.email:
        raise InvitationNotFound()
    return invitation, user


async def list_my_invitations(
    session: AsyncSession, user_id: str, page: PageParams
) -> tuple[list[BrandInvitation], str | None]:
    user = await session.get(User, user_id)
    email = user.email if user else ""
    stmt = select(BrandInvitation).where(
        BrandInvitation.email == email, BrandInvitation.state == InvitationState.pending
    )
    return await paginate(session, stmt, [SortKey(BrandInvitation.id, descending=True)], page)


async def respond_to_invitation(
    session: AsyncSession, user_id: str, invitation_id: str, accept: bool, now: datetime
) -> BrandInvitation:
    invitation, _ = await _my_invitation(session, user_id, invitation_id)
    if invitation.state != InvitationState.pending:
        raise InvitationNotPending(f"The invitation is already {invitation.state.value}")
    if invitation.expires_at <= now:
        raise InvitationNotPending("The invitation has expired; ask for a new one")
    # Compare-and-set on the state: of two answers racing, exactly one applies.
    new_state = InvitationState.accepted if accept else InvitationState.declined
    won = await session.execute(
        update(BrandInvitation)
        .where(
            BrandInvitation.id == invitation.id,
            BrandInvitation.state == InvitationState.pending,
        )
        .values(state=new_state, responded_at=now)
        .execution_options(synchronize_session="fetch")
    )
    if rowcount(won) != 1:
        raise InvitationNotPending("The invitation was answered meanwhile")
    if accept:
        if await session.get(BrandMember, (invitation.brand_id, user_id)) is not None:
            raise AlreadyMember("You are already a member of this brand")
        session.add(
            BrandMember(brand_id=invitation.brand_id, user_id=user_id, role=invitation.role)
        )
    await session.flush()
    await session.refresh(invitation)
    return invitation
