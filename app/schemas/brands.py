from __future__ import annotations

from datetime import datetime

from pydantic import EmailStr, Field

from app.models import BrandRole, InvitationState
from app.schemas.common import Input, Output, Text200


class BrandIn(Input):
    name: Text200


class BrandPatch(Input):
    name: Text200 | None = None


class BrandOut(Output):
    id: str = Field(examples=["brd_01JD3M8ZQ4X2V6R9T0A1B2C3D4"])
    name: str
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


class InvitationOut(Output):
    id: str = Field(examples=["bin_01JD3M8ZQ4X2V6R9T0A1B2C3D4"])
    brand_id: str
    email: str
    role: BrandRole
    state: InvitationState
    invited_by: str | None
    created_at: datetime
    expires_at: datetime
    responded_at: datetime | None
