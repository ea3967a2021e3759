"""Brands (organisations that post briefs and pay), their members and invitations."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import Enum, ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import (
    Base,
    JsonDoc,
    created_at_column,
    public_id_column,
    updated_at_column,
)


class BrandRole(enum.StrEnum):
    owner = "owner"
    admin = "admin"
    member = "member"


class InvitationState(enum.StrEnum):
    pending = "pending"
    accepted = "accepted"
    declined = "declined"
    revoked = "revoked"


def _enum(cls: type[enum.Enum], name: str) -> Enum:
    # Stored as plain strings with a CHECK, so adding a value is a small migration on both DBs.
    return Enum(cls, name=name, native_enum=False, create_constraint=True, length=20)


class Brand(Base):
    __tablename__ = "brands"

    id: Mapped[str] = public_id_column("brand")
    name: Mapped[str] = mapped_column(String(200))
    # The brand profile (docs/design/catalogue-shapes.md); lists are JSON documents.
    website: Mapped[str | None] = mapped_column(String(2048), default=None)
    category: Mapped[str | None] = mapped_column(String(60), default=None)
    values: Mapped[list[Any]] = mapped_column(JsonDoc, default=list, server_default=text("'[]'"))
    competitor_brands: Mapped[list[Any]] = mapped_column(
        JsonDoc, default=list, server_default=text("'[]'")
    )
    competitor_categories: Mapped[list[Any]] = mapped_column(
        JsonDoc, default=list, server_default=text("'[]'")
    )
    # Listing ids this brand never wants to see or hire; visible to the brand's members only.
    blocked_influencers: Mapped[list[Any]] = mapped_column(
        JsonDoc, default=list, server_default=text("'[]'")
    )
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()


class BrandMember(Base):
    __tablename__ = "brand_members"

    brand_id: Mapped[str] = mapped_column(
        ForeignKey("brands.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[str] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    role: Mapped[BrandRole] = mapped_column(_enum(BrandRole, "brand_role"))
    created_at: Mapped[datetime] = created_at_column()


class BrandInvitation(Base):
    __tablename__ = "brand_invitations"
    __table_args__ = (
        # At most one pending invitation per brand and email.
        Index(
            "uq_brand_invitations_pending",
            "brand_id",
            "email",
            unique=True,
            sqlite_where=text("state = 'pending'"),
            postgresql_where=text("state = 'pending'"),
        ),
    )

    id: Mapped[str] = public_id_column("brand_invitation")
    brand_id: Mapped[str] = mapped_column(ForeignKey("brands.id", ondelete="CASCADE"), index=True)
    email: Mapped[str] = mapped_column(String(320), index=True)
    role: Mapped[BrandRole] = mapped_column(_enum(BrandRole, "brand_role"))
    state: Mapped[InvitationState] = mapped_column(
        _enum(InvitationState, "brand_invitation_state"), default=InvitationState.pending
    )
    invited_by: Mapped[str | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    created_at: Mapped[datetime] = created_at_column()
    expires_at: Mapped[datetime] = mapped_column()
    responded_at: Mapped[datetime | None] = mapped_column(default=None)
