"""First-party measurement (docs/reports.md): tracked links, promo codes, conversion posts."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, ConfigDict, Discriminator, Field, StringConstraints, Tag

from app.models.measurement import Attribution
from app.schemas.catalogue import Currency, Money, Url
from app.schemas.common import Input, Output, Text200
from app.services.measurement.links import CODE_PATTERN

UtmValue = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=1, max_length=200, pattern=r"^[^\x00-\x1f]+$"
    ),
]
PromoCodeText = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Za-z0-9_-]{3,40}$"),
    Field(description="3-40 letters, digits, `-` or `_`; stored upper case", examples=["MIA10"]),
]
OrderId = Annotated[
    str,
    StringConstraints(min_length=1, max_length=200, pattern=r"^[!-~]+$"),
    Field(description="The shop's own id (printable ASCII, no spaces)", examples=["1001"]),
]
LinkCode = Annotated[
    str,
    StringConstraints(pattern=CODE_PATTERN),
    Field(description="The `rapport_link` parameter of the landing page", examples=["k7m2x9q4pa"]),
]


# --- tracked links ------------------------------------------------------------------------------


class UtmIn(Input):
    """The UTM parameters the brand chooses; set ones replace the page's own of the same name."""

    utm_source: UtmValue | None = None
    utm_medium: UtmValue | None = None
    utm_campaign: UtmValue | None = None
    utm_term: UtmValue | None = None
    utm_content: UtmValue | None = None


class LinkIn(Input):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "target_url": "https://nordicoat.example/race-week",
                    "utm": {
                        "utm_source": "instagram",
                        "utm_medium": "influencer",
                        "utm_campaign": "race-week",
                    },
                    "label": "Reel 1, link in bio",
                }
            ]
        }
    )

    target_url: Url = Field(description="Where the link leads: http(s), no user:password part")
    utm: UtmIn = Field(default_factory=UtmIn)
    label: Text200 | None = None


class ReferrerOut(Output):
    host: str = Field(description="The Referer's host, or `(direct)`")
    clicks: int


class LinkStatsOut(Output):
    clicks: int = Field(description="Counted clicks: not bots, not repeats")
    unique_visitors: int = Field(description="Distinct visitor keys (per day) among human hits")
    repeat_clicks: int = Field(description="The same visitor again within the repeat window")
    bot_clicks: int = Field(description="Crawlers, link previews, prefetches: never counted")
    last_click_at: datetime | None
    referrers: list[ReferrerOut] = Field(description="The top 10 referrer hosts of counted clicks")


class LinkOut(Output):
    id: str = Field(examples=["lnk_01JD3M8ZQ4X2V6R9T0A1B2C3D4"])
    code: str = Field(examples=["k7m2x9q4pa"])
    url: str = Field(
        description="The link to publish: Rapport's redirect",
        examples=["https://rapport.example/r/k7m2x9q4pa"],
    )
    contract_id: str
    influencer_id: str
    target_url: str
    destination: str = Field(
        description="Where the redirect sends a visitor: the page, the UTM parameters and "
        "`rapport_link`",
        examples=[
            "https://nordicoat.example/race-week?utm_source=instagram&rapport_link=k7m2x9q4pa"
        ],
    )
    utm: dict[str, str]
    label: str | None
    created_at: datetime
    stats: LinkStatsOut


# --- promo codes --------------------------------------------------------------------------------


class PromoCodeIn(Input):
    code: PromoCodeText


class MoneyAmountOut(Output):
    currency: str = Field(examples=["EUR"])
    amount: int = Field(description="Minor units")


class PromoCodeOut(Output):
    id: str = Field(examples=["pmc_01JD3M8ZQ4X2V6R9T0A1B2C3D4"])
    code: str = Field(examples=["MIA10"])
    contract_id: str
    influencer_id: str
    created_at: datetime
    conversions: int = Field(description="Orders with this code, not refunded in full")
    revenue: list[MoneyAmountOut] = Field(description="Their revenue net of refunds, per currency")


# --- the brand's conversion secret --------------------------------------------------------------


class ConversionSecretOut(Output):
    brand_id: str
    secret: str | None = Field(
        description="Shown once, when made or rotated (null when read later)",
        examples=["rcs_Qm9vZ2xlIGlzIG5vdCBhIHNlY3JldCwgYnV0IHRoaXMgaXM"],
    )
    created_at: datetime
    rotated_at: datetime | None
    previous_secret_expires_at: datetime | None = Field(
        description="Until when posts signed with the previous secret are still accepted"
    )


# --- conversion posts ---------------------------------------------------------------------------


class OrderIn(Input):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "type": "order",
                    "order_id": "1001",
                    "amount": 4990,
                    "currency": "EUR",
                    "occurred_at": "2026-11-24T12:00:00Z",
                    "link_code": "k7m2x9q4pa",
                }
            ]
        }
    )

    type: Literal["order"]
    order_id: OrderId
    amount: Money
    currency: Currency
    occurred_at: AwareDatetime | None = Field(None, description="When ordered (default: now)")
    link_code: LinkCode | None = None
    promo_code: PromoCodeText | None = None


class RefundIn(Input):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"type": "refund", "order_id": "1001", "refund_id": "r-1", "amount": 1000}]
        }
    )

    type: Literal["refund"]
    order_id: OrderId
    refund_id: OrderId = Field(description="The shop's id of the refund, unique per order")
    amount: Annotated[Money, Field(ge=1)]
    currency: Currency | None = Field(None, description="The order's; checked when given")
    occurred_at: AwareDatetime | None = Field(None, description="When refunded (default: now)")


def _conversion_type(value: Any) -> str | None:
    found = value.get("type") if isinstance(value, dict) else getattr(value, "type", None)
    return found if found in ("order", "refund") else None


# A callable discriminator: `Input`'s before-validators rule out `Field(discriminator=…)`.
ConversionIn = Annotated[
    Annotated[OrderIn, Tag("order")] | Annotated[RefundIn, Tag("refund")],
    Discriminator(
        _conversion_type,
        custom_error_type="conversion_type",
        custom_error_message="`type` must be `order` or `refund`",
    ),
]


class ConversionRefundOut(Output):
    refund_id: str = Field(examples=["r-1"])
    amount: int = Field(examples=[1000])
    occurred_at: datetime


class ConversionOut(Output):
    id: str = Field(examples=["cnv_01JD3M8ZQ4X2V6R9T0A1B2C3D4"])
    order_id: str = Field(examples=["1001"])
    contract_id: str
    influencer_id: str
    attributed_by: Attribution
    link_id: str | None = Field(examples=["lnk_01JD3M8ZQ4X2V6R9T0A1B2C3D4"])
    promo_code_id: str | None = Field(examples=[None])
    amount: int = Field(examples=[4990])
    refunded: int = Field(examples=[1000])
    net: int = Field(description="amount - refunded, minor units", examples=[3990])
    currency: str
    occurred_at: datetime
    created_at: datetime
    duplicate: bool = Field(False, description="True when this post had been received before")
    refund: ConversionRefundOut | None = Field(None, description="The refund this post recorded")
