"""Campaign reports and share of voice (docs/reports.md)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import Field

from app.schemas.common import Output
from app.schemas.measurement import MoneyAmountOut

Source = Literal["rapport", "platform_api", "screenshot", "self_reported"]


class ReportCountOut(Output):
    value: int | None = Field(
        description="Null when nobody reported or measured it (`reason`)", examples=[1180]
    )
    sources: list[Source] = Field(
        description="Where the value comes from: rapport (measured by Rapport), platform_api, "
        "screenshot, self_reported",
        examples=[["rapport"]],
    )
    verified: bool = Field(description="True only when every source is rapport or platform_api")
    reason: str | None = Field(examples=[None])
    reported: int | None = Field(
        description="For a figure Rapport measured: what the parties' reports say, to compare",
        examples=[5000],
    )


class ReportMoneyOut(Output):
    currency: str = Field(examples=["EUR"])
    amount: int = Field(description="Minor units (net of refunds for revenue)", examples=[249500])
    sources: list[Source] = Field(examples=[["rapport"]])
    verified: bool


class ReportRatioOut(Output):
    value: str | None = Field(
        description="A decimal number as text (exact), or null with `reason`",
        pattern=r"^-?[0-9]+(\.[0-9]+)?$",
        examples=["1.0169"],
    )
    unit: str = Field(
        description="The currency of a cost per result (major units), or `ratio`", examples=["EUR"]
    )
    formula: str = Field(examples=["spend / clicks"])
    reason: str | None = Field(
        description="Why the value is null (a zero or missing denominator)", examples=[None]
    )


class ReportKpiOut(Output):
    metric: str = Field(examples=["impressions"])
    target: int = Field(
        description="Agreed in the terms (summed over contracts in a total)", examples=[200000]
    )
    actual: int | None = Field(examples=[48000])
    sources: list[Source] = Field(examples=[["self_reported"]])
    attainment: str | None = Field(
        description="actual / target, 4 decimals",
        pattern=r"^[0-9]+(\.[0-9]+)?$",
        examples=["0.2400"],
    )
    met: bool | None = Field(examples=[False])
    reason: str | None = Field(examples=[None])
    contracts: int = Field(description="Contracts whose targets are summed here")


class ReportFiguresOut(Output):
    impressions: ReportCountOut
    reach: ReportCountOut
    likes: ReportCountOut
    comments: ReportCountOut
    shares: ReportCountOut
    saves: ReportCountOut
    engagements: ReportCountOut = Field(description="likes + comments + shares + saves")
    clicks: ReportCountOut = Field(description="Measured by Rapport when the contract has a link")
    unique_visitors: ReportCountOut
    conversions: ReportCountOut = Field(
        description="Measured by Rapport when the contract has a link or promo code"
    )


class ReportRatiosOut(Output):
    cpm: ReportRatioOut
    cpe: ReportRatioOut
    cpc: ReportRatioOut
    cpa: ReportRatioOut
    roas: ReportRatioOut
    engagement_rate: ReportRatioOut
    click_through_rate: ReportRatioOut
    conversion_rate: ReportRatioOut


class EngagementMeasureOut(Output):
    engagements: ReportCountOut
    engagement_rate: ReportRatioOut


class AwarenessMeasureOut(Output):
    reach: ReportCountOut
    impressions: ReportCountOut


class BrandTrafficMeasureOut(Output):
    clicks: ReportCountOut
    click_through_rate: ReportRatioOut


class SalesMeasureOut(Output):
    conversions: ReportCountOut
    revenue: list[ReportMoneyOut]
    roas: ReportRatioOut


class BrandMeasuresOut(Output):
    """What brands value: engagement, awareness, traffic, sales."""

    engagement: EngagementMeasureOut
    awareness: AwarenessMeasureOut
    traffic: BrandTrafficMeasureOut
    sales: SalesMeasureOut


class CreatorTrafficMeasureOut(Output):
    clicks: ReportCountOut
    unique_visitors: ReportCountOut


class ReEngagementMeasureOut(Output):
    count: int
    description: str


class CreatorMeasuresOut(Output):
    """What creators value: traffic, shares, re-engagement by the brand, impressions, likes."""

    traffic: CreatorTrafficMeasureOut
    shares: ReportCountOut
    re_engagement: ReEngagementMeasureOut
    impressions: ReportCountOut
    likes: ReportCountOut


class MeasuresOut(Output):
    brand: BrandMeasuresOut
    creator: CreatorMeasuresOut


class TrackingOut(Output):
    tracked_links: bool
    promo_codes: bool
    clicks: int
    repeat_clicks: int
    bot_clicks: int
    unique_visitors: int


class CreatorReportOut(Output):
    """One contract: one creator's results."""

    contract_id: str
    influencer_id: str
    influencer_name: str
    state: str
    currency: str
    spend: MoneyAmountOut
    figures: ReportFiguresOut
    revenue: list[ReportMoneyOut] = Field(description="Per currency, never converted")
    ratios: ReportRatiosOut
    kpis: list[ReportKpiOut]
    measures: MeasuresOut
    tracking: TrackingOut


class CurrencyTotalOut(Output):
    """The contracts whose spend is in one currency, together."""

    currency: str
    spend: MoneyAmountOut
    figures: ReportFiguresOut
    revenue: list[ReportMoneyOut]
    ratios: ReportRatiosOut
    kpis: list[ReportKpiOut]
    measures: MeasuresOut


class OverallOut(Output):
    contracts: int
    figures: ReportFiguresOut | None = Field(description="Counts over every contract (no money)")
    spend: list[ReportMoneyOut] = Field(description="Per currency, never summed across them")
    revenue: list[ReportMoneyOut]


class BriefReportOut(Output):
    brief_id: str
    brand_id: str
    title: str
    generated_at: datetime
    currencies: list[str]
    contracts_left_out: int = Field(description="The brief's contracts never funded (not shown)")
    creators: list[CreatorReportOut]
    totals: list[CurrencyTotalOut] = Field(description="One per currency of spend")
    overall: OverallOut
    notes: list[str]


class ContractReportOut(CreatorReportOut):
    brief_id: str
    brand_id: str
    generated_at: datetime
    notes: list[str]


# --- share of voice -----------------------------------------------------------------------------


class ShareMeasureOut(Output):
    measure: Literal["posts", "impressions", "reach", "engagements"]
    brand: int = Field(description="The brand's figure")
    market: int | None = Field(description="Every brand's on the topic; null when withheld")
    share: str | None = Field(
        description="brand / market, 4 decimals", pattern=r"^[0-9]+(\.[0-9]+)?$", examples=["0.25"]
    )
    reason: str | None
    brand_sources: dict[str, int] = Field(
        description="The brand's deliverables per source of this figure (`not_reported`: none)"
    )
    market_sources: dict[str, int] | None


class ShareOfVoiceOut(Output):
    brand_id: str
    topic: str = Field(examples=["running"])
    since: date | None
    until: date
    generated_at: datetime
    brands: int = Field(description="Brands that published on the topic in the period")
    market_shown: bool
    withheld_reason: str | None
    measures: list[ShareMeasureOut]
