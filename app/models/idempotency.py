"""Stored first responses of POSTs that carried an `Idempotency-Key` (Stripe's semantics)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, JsonDoc, created_at_column


class IdempotencyRecord(Base):
    __tablename__ = "idempotency_records"
    __table_args__ = (UniqueConstraint("scope", "key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    # Whose key: the authenticated account, or the client address for anonymous calls.
    scope: Mapped[str] = mapped_column(String(100))
    key: Mapped[str] = mapped_column(String(255))
    fingerprint: Mapped[str] = mapped_column(String(64))
    # Always `done`: a record is committed with its request's changes and response. Versions
    # before that committed `in_progress` claims with a lease (`locked_until`); app/idempotency.py
    # takes such leftovers over. `locked_until` is kept (the time the answer was stored).
    state: Mapped[str] = mapped_column(String(20))
    locked_until: Mapped[datetime] = mapped_column()
    status_code: Mapped[int | None] = mapped_column(Integer, default=None)
    response_headers: Mapped[list[Any] | None] = mapped_column(JsonDoc, default=None)
    response_body: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    created_at: Mapped[datetime] = created_at_column()
    expires_at: Mapped[datetime] = mapped_column(index=True)
