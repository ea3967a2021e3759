"""First-party measurement (issue 15 item 8, docs/reports.md): what Rapport counts itself.

- `tracked_links` (`lnk_…`): a contract's redirect `GET /r/{code}` to the brand's page, with the
  UTM parameters the brand chose. `brand_id` and `influencer_id` are the contract's, copied for
  the tenant filters.
- `link_clicks` (`clk_…`): one row per hit of a link: `counted` (a human click), `repeat` (the
  same visitor again within the repeat window) or `bot` (a crawler, a link preview, a prefetch).
  No IP address or user agent is stored: only `visitor_key`, a keyed hash of both with the UTC
  day and the brand, which cannot be linked across days or brands (docs/reports.md).
- `promo_codes` (`pmc_…`): a creator's code for one contract, unique per brand (upper case).
- `conversion_secrets`: each brand's signing secret for its shop's conversion posts (readable:
  an HMAC check needs the secret itself), and the previous one while a rotation's overlap lasts.
- `conversions` (`cnv_…`): one order posted by the brand's shop, unique by (brand, order id),
  attributed to a contract through a link code or a promo code; `refunded` is the sum of its
  refunds (`conversion_refunds`, `cnr_…`, unique by (order, refund id)). Amounts are integer
  minor units with their currency.
"""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any

from sqlalchemy import BigInteger, Date, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, JsonDoc, created_at_column, public_id_column
from app.models.brand import _enum


class ClickKind(enum.StrEnum):
    counted = "counted"
    repeat = "repeat"
    bot = "bot"


class Attribution(enum.StrEnum):
    link = "link"
    promo_code = "promo_code"


class TrackedLink(Base):
    __tablename__ = "tracked_links"
    __table_args__ = (Index("ix_tracked_links_contract_id_id", "contract_id", "id"),)

    id: Mapped[str] = public_id_column("tracked_link")
    code: Mapped[str] = mapped_column(String(16), unique=True)
    contract_id: Mapped[str] = mapped_column(ForeignKey("contracts.id", ondelete="CASCADE"))
    brand_id: Mapped[str] = mapped_column(ForeignKey("brands.id", ondelete="CASCADE"))
    influencer_id: Mapped[str] = mapped_column(ForeignKey("influencers.id", ondelete="CASCADE"))
    target_url: Mapped[str] = mapped_column(String(2048))
    # {"utm_source": "…", …}: only the parameters the brand chose.
    utm: Mapped[dict[str, Any]] = mapped_column(JsonDoc)
    label: Mapped[str | None] = mapped_column(String(200), default=None)
    created_by_user: Mapped[str | None] = mapped_column(String(40), default=None)
    created_at: Mapped[datetime] = created_at_column()


class LinkClick(Base):
    __tablename__ = "link_clicks"
    __table_args__ = (
        # The repeat check: this visitor's last counted click on this link.
        Index("ix_link_clicks_link_visitor_at", "link_id", "visitor_key", "at"),
        Index("ix_link_clicks_contract_id_at", "contract_id", "at"),
    )

    id: Mapped[str] = public_id_column("link_click")
    link_id: Mapped[str] = mapped_column(ForeignKey("tracked_links.id", ondelete="CASCADE"))
    contract_id: Mapped[str] = mapped_column(ForeignKey("contracts.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column()
    day: Mapped[date] = mapped_column(Date)
    visitor_key: Mapped[str] = mapped_column(String(32))
    kind: Mapped[ClickKind] = mapped_column(_enum(ClickKind, "click_kind"))
    # Why a hit is a bot ("user agent names a crawler: bot", "prefetch"); None otherwise.
    bot_reason: Mapped[str | None] = mapped_column(String(100), default=None)
    # The Referer's host only (never its path or query); None: no Referer.
    referrer_host: Mapped[str | None] = mapped_column(String(255), default=None)


class PromoCode(Base):
    __tablename__ = "promo_codes"
    __table_args__ = (
        UniqueConstraint("brand_id", "code", name="uq_promo_codes_brand_code"),
        Index("ix_promo_codes_contract_id_id", "contract_id", "id"),
    )

    id: Mapped[str] = public_id_column("promo_code")
    brand_id: Mapped[str] = mapped_column(ForeignKey("brands.id", ondelete="CASCADE"))
    contract_id: Mapped[str] = mapped_column(ForeignKey("contracts.id", ondelete="CASCADE"))
    influencer_id: Mapped[str] = mapped_column(ForeignKey("influencers.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(String(40))
    created_by_user: Mapped[str | None] = mapped_column(String(40), default=None)
    created_at: Mapped[datetime] = created_at_column()


class ConversionSecret(Base):
    __tablename__ = "conversion_secrets"

    brand_id: Mapped[str] = mapped_column(
        ForeignKey("brands.id", ondelete="CASCADE"), primary_key=True
    )
    # Kept readable: a signature needs the secret itself (as for webhook endpoints).
    secret: Mapped[str] = mapped_column(String(100))
    previous_secret: Mapped[str | None] = mapped_column(String(100), default=None)
    previous_secret_expires_at: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column()
    rotated_at: Mapped[datetime | None] = mapped_column(default=None)


class Conversion(Base):
    __tablename__ = "conversions"
    __table_args__ = (
        UniqueConstraint("brand_id", "order_id", name="uq_conversions_brand_order"),
        Index("ix_conversions_contract_id_occurred_at", "contract_id", "occurred_at"),
        Index("ix_conversions_brand_id_id", "brand_id", "id"),
    )

    id: Mapped[str] = public_id_column("conversion")
    brand_id: Mapped[str] = mapped_column(ForeignKey("brands.id", ondelete="CASCADE"))
    order_id: Mapped[str] = mapped_column(String(200))
    contract_id: Mapped[str] = mapped_column(ForeignKey("contracts.id", ondelete="CASCADE"))
    influencer_id: Mapped[str] = mapped_column(ForeignKey("influencers.id", ondelete="CASCADE"))
    attributed_by: Mapped[Attribution] = mapped_column(_enum(Attribution, "attribution"))
    link_id: Mapped[str | None] = mapped_column(
        ForeignKey("tracked_links.id", ondelete="SET NULL"), default=None
    )
    promo_code_id: Mapped[str | None] = mapped_column(
        ForeignKey("promo_codes.id", ondelete="SET NULL"), default=None
    )
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    refunded: Mapped[int] = mapped_column(BigInteger, default=0)
    occurred_at: Mapped[datetime] = mapped_column()
    created_at: Mapped[datetime] = created_at_column()


class ConversionRefund(Base):
    __tablename__ = "conversion_refunds"
    __table_args__ = (
        UniqueConstraint("conversion_id", "refund_id", name="uq_conversion_refunds_order_refund"),
        Index("ix_conversion_refunds_contract_id_occurred_at", "contract_id", "occurred_at"),
    )

    id: Mapped[str] = public_id_column("conversion_refund")
    conversion_id: Mapped[str] = mapped_column(ForeignKey("conversions.id", ondelete="CASCADE"))
    contract_id: Mapped[str] = mapped_column(ForeignKey("contracts.id", ondelete="CASCADE"))
    refund_id: Mapped[str] = mapped_column(String(200))
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    occurred_at: Mapped[datetime] = mapped_column()
    created_at: Mapped[datetime] = created_at_column()
