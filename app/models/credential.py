"""API keys: a user's long-lived, scoped credentials for integrations (brands and partners).

Only a keyed hash of the secret is stored (`app/services/identity/credentials.py` says why HMAC
and not argon2). A rotation makes a new key in the same family and gives the old one an
`expires_at`: both work until then. Revocation is immediate.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, JsonDoc, created_at_column, public_id_column


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[str] = public_id_column("api_key")
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    # "live" (rk_live_, production) or "test" (rk_test_, every other environment).
    mode: Mapped[str] = mapped_column(String(4))
    # HMAC-SHA256 of the whole key, hex: the lookup on every request.
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # What the owner sees in lists to tell keys apart: `rk_live_AbCd…wxyz`.
    hint: Mapped[str] = mapped_column(String(40))
    scopes: Mapped[list[str]] = mapped_column(JsonDoc)
    # The rate-limit plan (Settings.rate_limit_plans); set by operators.
    plan: Mapped[str] = mapped_column(String(40))
    # The first key of a rotation chain: its keys share one rate-limit bucket.
    family_id: Mapped[str] = mapped_column(String(40), index=True)
    rotated_from_id: Mapped[str | None] = mapped_column(String(40), default=None)
    rotated_to_id: Mapped[str | None] = mapped_column(String(40), default=None)
    created_at: Mapped[datetime] = created_at_column()
    expires_at: Mapped[datetime | None] = mapped_column(default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)
    last_used_at: Mapped[datetime | None] = mapped_column(default=None)
