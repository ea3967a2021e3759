"""Users and their refresh tokens. (Sign-in attempts are counted by the rate limiter,
`app/services/identity/rate_limits.py`, not stored here.)"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, created_at_column, public_id_column, updated_at_column


class User(Base):
    __tablename__ = "users"

    id: Mapped[str] = public_id_column("user")
    # Stored normalised (trimmed, lower-cased), so uniqueness is case-insensitive everywhere.
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    full_name: Mapped[str] = mapped_column(String(200))
    is_operator: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()


class RefreshToken(Base):
    """One link of a rotation chain. Only the SHA-256 of the secret is stored.

    Every refresh marks the presented token used and issues the next one in the same family;
    presenting a used token again means it leaked, so the whole family is revoked.
    """

    __tablename__ = "refresh_tokens"

    id: Mapped[str] = public_id_column("refresh_token")
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    family_id: Mapped[str] = mapped_column(String(40), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = created_at_column()
    expires_at: Mapped[datetime] = mapped_column()
    used_at: Mapped[datetime | None] = mapped_column(default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)
