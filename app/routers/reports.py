"""Campaign reports, their CSV and charts, and share of voice (docs/reports.md)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response
from starlette.concurrency import run_in_threadpool

from app.auth import Authenticator, Principal, Scope
from app.db import Session
from app.deps import Now
from app.errors import AUTH_PROBLEMS, problem_responses
from app.schemas.catalogue import Currency
from app.schemas.reports import BriefReportOut, ContractReportOut, ShareOfVoiceOut
from app.services.catalogue.briefs import BriefNotFound
from app.services.delivery.contracts import ContractNotFound
from app.services.identity.brands import BrandNotFound
from app.services.measurement import charts, reports, share_of_voice
from app.services.measurement.charts import ChartFormat, ChartMetric

router = APIRouter(tags=["reports"])

ReportReader = Annotated[Principal, Authenticator(Scope.reports_read)]
ReportFormat = Annotated[
    Literal["json", "csv"],
    Query(description="`csv`: the same report as CSV (a row per contract, a total per currency)"),
]

CSV_EXAMPLE = (
    "scope,contract_id,influencer_id,influencer_name,currency,spend,impressions,…\r\n"
    "contract,ctr_01JD3M8ZQ4X2V6R9T0A1B2C3D4,inf_01JD3M8ZQ4X2V6R9T0A1B2C3D4,Mia Runs,EUR,"
    "1200.00,48000,…\r\n"
)


def _csv_response(doc: dict[str, Any], name: str) -> Response:
    return Response(
        reports.to_csv(doc),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
    )


def _with_csv(description: str) -> dict[int | str, dict[str, Any]]:
    return {
        200: {
            "description": description,
            "content": {"text/csv": {"schema": {"type": "string"}, "example": CSV_EXAMPLE}},
        }
    }


@router.get(
    "/v1/briefs/{brief_id}/report",
    response_model=BriefReportOut,
    summary="The brief's campaign report: per creator and in total",
    description="Brand members. Per funded contract (per creator) and one total per currency: "
    "reach, impressions, engagement, clicks, conversions, revenue and spend; CPM, CPE, CPC, CPA "
    "and ROAS; each KPI of the terms against its target; the brand's measures beside the "
    "creator's. Every figure names its sources — measured by Rapport (tracked links, signed "
    "conversions), platform API, screenshot or self-reported — and `verified` says whether it "
    "is more than a claim. Money is never summed across currencies; a zero or missing "
    "denominator gives null with a reason. `format=csv` for a spreadsheet.",
    responses={
        **problem_responses(*AUTH_PROBLEMS, BriefNotFound),
        **_with_csv("The report (JSON, or CSV with `format=csv`)"),
    },
)
async def brief_report(
    brief_id: str,
    principal: ReportReader,
    session: Session,
    now: Now,
    format: ReportFormat = "json",
) -> Any:
    doc = await reports.brief_report(session, principal.user_id, brief_id, now)
    if format == "csv":
        return _csv_response(doc, f"report-{brief_id}")
    return BriefReportOut.model_validate(doc)


@router.get(
    "/v1/contracts/{contract_id}/report",
    response_model=ContractReportOut,
    summary="One contract's campaign report",
    description="Both parties. The contract's part of the brief's report: its figures with "
    "their sources, costs per result, ROAS, KPIs against the terms and both sides' measures. "
    "`format=csv` for a spreadsheet.",
    responses={
        **problem_responses(*AUTH_PROBLEMS, ContractNotFound),
        **_with_csv("The report (JSON, or CSV with `format=csv`)"),
    },
)
async def contract_report(
    contract_id: str,
    principal: ReportReader,
    session: Session,
    now: Now,
    format: ReportFormat = "json",
) -> Any:
    doc = await reports.contract_report(session, principal.user_id, contract_id, now)
    if format == "csv":
        return _csv_response(doc, f"report-{contract_id}")
    return ContractReportOut.model_validate(doc)


@router.get(
    "/v1/briefs/{brief_id}/report/chart",
    response_class=Response,
    summary="A chart of the brief's report: one line per creator over time (SVG or PNG)",
    description="Brand members. The cumulative value per day of one figure, one line per "
    "creator (at most 12, the largest), each labelled with its sources so a self-reported line "
    "reads as one. Drawn by matplotlib on the server.",
    responses={
        **problem_responses(*AUTH_PROBLEMS, BriefNotFound),
        200: {
            "description": "The chart",
            "content": {
                "image/svg+xml": {
                    "schema": {"type": "string"},
                    "example": '<svg xmlns="http://www.w3.org/2000/svg" width="691pt" …>',
                },
                "image/png": {
                    "schema": {"type": "string", "format": "binary"},
                    "example": "(PNG image bytes, 960 x 540)",
                },
            },
        },
    },
)
async def brief_chart(
    brief_id: str,
    principal: ReportReader,
    session: Session,
    now: Now,
    metric: Annotated[ChartMetric, Query(description="The figure drawn")] = "impressions",
    format: Annotated[ChartFormat, Query(description="`svg` or `png`")] = "svg",
    currency: Annotated[
        Currency | None,
        Query(description="Revenue charts only: the currency drawn (default: the brief's)"),
    ] = None,
) -> Response:
    chart = await charts.chart_data(session, principal.user_id, brief_id, metric, currency, now)
    image = await run_in_threadpool(charts.render, chart, format)
    return Response(image, media_type=charts.MEDIA_TYPES[format])


@router.get(
    "/v1/brands/{brand_id}/share-of-voice",
    summary="The brand's share of voice on a topic",
    description="Brand members. The brand's published deliverables on the topic, and their "
    "impressions, reach and engagements, against every brand's on Rapport in the period, with "
    "the sources of the figures on both sides. No other brand is named; the market's figures "
    "are withheld while fewer than 3 brands published on the topic.",
    responses=problem_responses(*AUTH_PROBLEMS, BrandNotFound),
)
async def brand_share_of_voice(
    brand_id: str,
    principal: ReportReader,
    session: Session,
    now: Now,
    topic: Annotated[
        str,
        Query(
            pattern=r"^[a-z0-9]+(?:-[a-z0-9]+)*$",
            min_length=1,
            max_length=60,
            description="A brief topic (slug), e.g. `running`",
        ),
    ],
    since: Annotated[date | None, Query(description="First day (UTC) of publication")] = None,
    until: Annotated[date | None, Query(description="Last day (UTC); default today")] = None,
) -> ShareOfVoiceOut:
    doc = await share_of_voice.share_of_voice(
        session, principal.user_id, brand_id, topic, now, since=since, until=until
    )
    return ShareOfVoiceOut.model_validate(doc)
