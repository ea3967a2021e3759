from __future__ import annotations

from fastapi import APIRouter, Response, status

from app.auth import BrandReader, BrandWriter, CurrentUser
from app.db import Session
from app.deps import Now
from app.errors import AUTH_PROBLEMS, Forbidden, problem_responses
from app.models import Brand, BrandMember, BrandRole, User
from app.pagination import Page, Pagination, page_of
from app.schemas.brands import (
    BrandIn,
    BrandInvitationOut,
    BrandOut,
    BrandPatch,
    InvitationIn,
    MemberOut,
    RoleIn,
)
from app.services.identity import brands as service
from app.services.identity.brands import (
    AlreadyMember,
    BrandHasActivity,
    BrandNotFound,
    InvitationNotFound,
    InvitationNotPending,
    InvitationPending,
    LastOwner,
    MemberNotFound,
)
from app.services.identity.users import get_user

router = APIRouter(tags=["brands"])


def _brand_out(brand: Brand, role: BrandRole) -> BrandOut:
    return BrandOut(
        id=brand.id,
        name=brand.name,
        website=brand.website,
        category=brand.category,
        values=brand.values,
        competitor_brands=brand.competitor_brands,
        competitor_categories=brand.competitor_categories,
        blocked_influencers=brand.blocked_influencers,
        role=role,
        created_at=brand.created_at,
        updated_at=brand.updated_at,
    )


def _member_out(member: BrandMember, user: User) -> MemberOut:
    return MemberOut(
        user_id=user.id,
        email=user.email,
        full_name=user.full_name,
        role=member.role,
        joined_at=member.created_at,
    )


@router.post(
    "/v1/brands",
    status_code=status.HTTP_201_CREATED,
    summary="Create a brand; you become its owner",
    description="The brand profile (website, category, values, competitors, blocked "
    "influencers) is optional; `blocked_influencers` is only ever shown to the brand's members.",
    responses=problem_responses(*AUTH_PROBLEMS),
)
async def create_brand(body: BrandIn, principal: BrandWriter, session: Session) -> BrandOut:
    profile = body.model_dump(mode="json", exclude={"name"})
    return _brand_out(*await service.create_brand(session, principal.user_id, body.name, profile))


@router.get(
    "/v1/brands",
    summary="The brands you are a member of",
    description="Every brand you belong to, with your role in each, oldest first. Brands you are "
    "not a member of never appear.",
    responses=problem_responses(*AUTH_PROBLEMS),
)
async def list_brands(principal: BrandReader, session: Session, page: Pagination) -> Page[BrandOut]:
    rows, cursor = await service.list_brands(session, principal.user_id, page)
    return Page[BrandOut](**page_of([_brand_out(b, r) for b, r in rows], cursor))


@router.get(
    "/v1/brands/{brand_id}",
    summary="A brand you are a member of",
    description="A brand you belong to, with your role. Another tenant's brand answers 404, "
    "never 403.",
    responses=problem_responses(*AUTH_PROBLEMS, BrandNotFound),
)
async def get_brand(brand_id: str, principal: BrandReader, session: Session) -> BrandOut:
    return _brand_out(*await service.get_brand(session, principal.user_id, brand_id))


@router.patch(
    "/v1/brands/{brand_id}",
    summary="Change a brand (owners and admins)",
    description="Owners and admins only (a member gets 403 `forbidden`). Fields sent replace the "
    "stored ones whole; `null` clears `website` or `category`; fields left out stay as they are.",
    responses=problem_responses(*AUTH_PROBLEMS, BrandNotFound, Forbidden),
)
async def update_brand(
    brand_id: str, body: BrandPatch, principal: BrandWriter, session: Session
) -> BrandOut:
    changes = body.model_dump(mode="json", exclude_unset=True)
    return _brand_out(*await service.update_brand(session, principal.user_id, brand_id, changes))


@router.delete(
    "/v1/brands/{brand_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a brand (owners)",
    description="Refused (409 `brand-has-activity`) while the brand has contracts or briefs that "
    "are open, closed or completed; its drafts and cancelled briefs are deleted with it.",
    responses=problem_responses(*AUTH_PROBLEMS, BrandNotFound, Forbidden, BrandHasActivity),
)
async def delete_brand(brand_id: str, principal: BrandWriter, session: Session) -> Response:
    await service.delete_brand(session, principal.user_id, brand_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/v1/brands/{brand_id}/members",
    summary="The brand's members",
    description="The brand's members with their roles. Visible to the brand's members only.",
    responses=problem_responses(*AUTH_PROBLEMS, BrandNotFound),
)
async def list_members(
    brand_id: str, principal: BrandReader, session: Session, page: Pagination
) -> Page[MemberOut]:
    rows, cursor = await service.list_members(session, principal.user_id, brand_id, page)
    return Page[MemberOut](**page_of([_member_out(m, u) for m, u in rows], cursor))


@router.patch(
    "/v1/brands/{brand_id}/members/{user_id}",
    summary="Change a member's role",
    description="Admins change members and admins; only owners grant or take the owner role. "
    "The last owner cannot be demoted.",
    responses=problem_responses(
        *AUTH_PROBLEMS, BrandNotFound, MemberNotFound, Forbidden, LastOwner
    ),
)
async def change_member_role(
    brand_id: str, user_id: str, body: RoleIn, principal: BrandWriter, session: Session
) -> MemberOut:
    member = await service.change_role(session, principal.user_id, brand_id, user_id, body.role)
    return _member_out(member, await get_user(session, member.user_id))


@router.delete(
    "/v1/brands/{brand_id}/members/{user_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Remove a member, or leave (your own user id)",
    description="Anyone may leave; admins remove members, owners remove anyone. The last owner "
    "cannot leave.",
    responses=problem_responses(
        *AUTH_PROBLEMS, BrandNotFound, MemberNotFound, Forbidden, LastOwner
    ),
)
async def remove_member(
    brand_id: str, user_id: str, principal: BrandWriter, session: Session
) -> Response:
    await service.remove_member(session, principal.user_id, brand_id, user_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/v1/brands/{brand_id}/invitations",
    status_code=status.HTTP_201_CREATED,
    summary="Invite someone by email",
    description="The invitee accepts with POST /v1/me/brand-invitations/{id}/accept after signing "
    "in with that email. Invitations expire after 7 days.",
    responses=problem_responses(
        *AUTH_PROBLEMS, BrandNotFound, Forbidden, AlreadyMember, InvitationPending
    ),
)
async def invite_member(
    brand_id: str, body: InvitationIn, principal: BrandWriter, session: Session, now: Now
) -> BrandInvitationOut:
    invitation = await service.invite(
        session, principal.user_id, brand_id, body.email, body.role, now
    )
    return BrandInvitationOut.model_validate(invitation)


@router.get(
    "/v1/brands/{brand_id}/invitations",
    summary="The brand's invitations, newest first",
    description="Every invitation the brand sent, in any state (pending, accepted, declined, "
    "revoked, expired), newest first.",
    responses=problem_responses(*AUTH_PROBLEMS, BrandNotFound),
)
async def list_brand_invitations(
    brand_id: str, principal: BrandReader, session: Session, page: Pagination
) -> Page[BrandInvitationOut]:
    rows, cursor = await service.list_brand_invitations(session, principal.user_id, brand_id, page)
    items = [BrandInvitationOut.model_validate(i) for i in rows]
    return Page[BrandInvitationOut](**page_of(items, cursor))


@router.delete(
    "/v1/brands/{brand_id}/invitations/{invitation_id}",
    summary="Revoke a pending invitation",
    description="Owners and admins withdraw an invitation nobody has answered yet; the invitee "
    "can no longer accept it. An invitation already answered is a 409.",
    responses=problem_responses(
        *AUTH_PROBLEMS, BrandNotFound, InvitationNotFound, Forbidden, InvitationNotPending
    ),
)
async def revoke_invitation(
    brand_id: str, invitation_id: str, principal: BrandWriter, session: Session, now: Now
) -> BrandInvitationOut:
    invitation = await service.revoke_invitation(
        session, principal.user_id, brand_id, invitation_id, now
    )
    return BrandInvitationOut.model_validate(invitation)


@router.get(
    "/v1/me/brand-invitations",
    tags=["me"],
    summary="Pending brand invitations sent to your email",
    description="Invitations to join a brand, addressed to the email of your account and still "
    "waiting for your answer.",
    responses=problem_responses(*AUTH_PROBLEMS),
)
async def list_my_invitations(
    principal: CurrentUser, session: Session, page: Pagination
) -> Page[BrandInvitationOut]:
    rows, cursor = await service.list_my_invitations(session, principal.user_id, page)
    items = [BrandInvitationOut.model_validate(i) for i in rows]
    return Page[BrandInvitationOut](**page_of(items, cursor))


@router.post(
    "/v1/me/brand-invitations/{invitation_id}/accept",
    tags=["me"],
    summary="Accept a brand invitation",
    description="You join the brand with the role the invitation names. The invitation must be "
    "addressed to your email and still pending; if you already belong to the brand it is a 409.",
    responses=problem_responses(
        *AUTH_PROBLEMS, InvitationNotFound, InvitationNotPending, AlreadyMember
    ),
)
async def accept_invitation(
    invitation_id: str, principal: BrandWriter, session: Session, now: Now
) -> BrandInvitationOut:
    invitation = await service.respond_to_invitation(
        session, principal.user_id, invitation_id, True, now
    )
    return BrandInvitationOut.model_validate(invitation)


@router.post(
    "/v1/me/brand-invitations/{invitation_id}/decline",
    tags=["me"],
    summary="Decline a brand invitation",
    description="You turn the invitation down; the brand sees it as declined. The invitation "
    "must be addressed to your email and still pending.",
    responses=problem_responses(*AUTH_PROBLEMS, InvitationNotFound, InvitationNotPending),
)
async def decline_invitation(
    invitation_id: str, principal: BrandWriter, session: Session, now: Now
) -> BrandInvitationOut:
    invitation = await service.respond_to_invitation(
        session, principal.user_id, invitation_id, False, now
    )
    return BrandInvitationOut.model_validate(invitation)
