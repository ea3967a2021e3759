from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, EmailStr, Field

from app.models import BrandRole, InvitationState
from app.schemas.catalogue import UNIQUE, ListingId, Patch, Slug, Url, no_duplicates
from app.schemas.common import Input, Output, Text200

Slugs = Annotated[list[Slug], Field(max_length=30), AfterValidator(no_duplicates), UNIQUE]
Names = Annotated[list[Text200], Field(max_length=100), AfterValidator(no_duplicates), UNIQUE]
BlockedListings = Annotated[
    list[ListingId],
    Field(max_length=1000, description="Listing ids (`inf_…`) this brand never works with"),
    AfterValidator(no_duplicates),
    UNIQUE,
]


class BrandIn(Input):
    name: Text200
    website: Url | None = None
    category: Slug | None = None
    values: Slugs = Field(default_factory=list)
    competitor_brands: Names = Field(default_factory=list)
    competitor_categories: Slugs = Field(default_factory=list)
    blocked_influencers: BlockedListings = Field(default_factory=list)


class BrandPatch(Patch):
    """Fields sent replace the stored ones; `null` clears `website` and `category`."""

    nullable_fields = frozenset({"website", "category"})

    name: Text200 | None = None
    website: Url | None = None
    category: Slug | None = None
    values: Slugs | None = None
    competitor_brands: Names | None = None
    competitor_categories: Slugs | None = None
    blocked_influencers: BlockedListings | None = None


class BrandOut(Output):
    """A brand as its members see it (nobody else can read a brand)."""

    id: str = Field(examples=["brd_01JD3M8ZQ4X2V6R9T0A1B2C3D4"])
    name: str
    website: str | None
    category: str | None
    values: list[str]
    competitor_brands: list[str]
    competitor_categories: list[str]
    blocked_influencers: list[str] = Field(description="Visible to the brand's members only")
    role: BrandRole = Field(description="Your role in this brand")
    created_at: datetime
    updated_at: datetime


class MemberOut(Output):
    user_id: str
    email: str
    full_name: str
    role: BrandRole
    joined_at: datetime


class RoleIn(Input):
    role: BrandRole


class InvitationIn(Input):
    email: EmailStr
    role: BrandRole = BrandRole.member


class BrandInvitationOut(Output):
    id: str = Field(examples=["bin_01JD3M8ZQ4X2V6R9T0A1B2C3D4"])
    brand_id: str
    email: str
    role: BrandRole
    state: InvitationState
    invited_by: str | None
    created_at: datetime
    expires_at: datetime
    responded_at: datetime | None
