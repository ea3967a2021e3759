"""Charts of a brief's report: one line per creator, a figure's cumulative value per day, drawn
with matplotlib (Agg, no display, no network) as SVG or PNG.

The series follow the report's own rules (facts.py): a figure Rapport measures for the contract
(clicks once it has a tracked link; conversions and revenue once it has a link or a promo code)
comes from the clicks and orders themselves — counted clicks per day, orders on the day they
happened less those refunded in full on the day of the last refund, revenue net of each refund
on its day; any other figure comes from the metric reports: per deliverable the series (party
and source) of the report the report uses, each version counting from its `measured_at`, the
deliverables summed. Each line's legend says where its numbers come from ("measured by
Rapport", "platform API", "screenshot", "self-reported"), so a self-reported line reads as one.
At most `MAX_LINES` creators are drawn (the largest at the end); the title says when more exist.
The days run from the first figure to today, at most `MAX_DAYS`.
"""

from __future__ import annotations

import io
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Literal

import matplotlib
import numpy as np
from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import InvalidRequest
from app.models import ClickKind, Contract, Conversion, ConversionRefund, LinkClick, MetricReport
from app.services.measurement import facts as facts_module
from app.services.measurement.arithmetic import ENGAGEMENT_PARTS, Facts
from app.services.measurement.reports import brief_for_brand, major

# SVG ids are random unless salted: the same chart is then the same bytes (cacheable, testable).
matplotlib.rcParams["svg.hashsalt"] = "rapport-report"

ChartMetric = Literal[
    "impressions", "reach", "likes", "shares", "engagements", "clicks", "conversions", "revenue"
]
ChartFormat = Literal["svg", "png"]
MEDIA_TYPES = {"svg": "image/svg+xml", "png": "image/png"}
MAX_LINES = 12
MAX_DAYS = 366
SOURCE_LABELS = {
    "rapport": "measured by Rapport",
    "platform_api": "platform API",
    "screenshot": "screenshot",
    "self_reported": "self-reported",
}


@dataclass
class Line:
    label: str
    points: list[tuple[datetime, int]] = field(default_factory=list)  # (from when, delta or value)
    sources: set[str] = field(default_factory=set)
    cumulative: bool = False  # points are changes (measured) rather than readings (reports)


@dataclass(frozen=True)
class Chart:
    title: str
    y_label: str
    currency: str | None
    days: list[date]
    lines: list[tuple[str, list[int]]]


def _measured(f: Facts, metric: str) -> bool:
    if metric == "clicks":
        return f.has_links
    if metric in ("conversions", "revenue"):
        return f.tracked
    return False


async def chart_data(
    session: AsyncSession,
    user_id: str,
    brief_id: str,
    metric: ChartMetric,
    currency: str | None,
    now: datetime,
) -> Chart:
    brief = await brief_for_brand(session, user_id, brief_id)
    all_facts = await facts_module.gather(session, Contract.brief_id == brief.id, funded_only=True)
    if metric == "revenue":
        currency = currency or brief.currency
    elif currency is not None:
        raise InvalidRequest.field("currency", "only a revenue chart takes a currency", "unused")
    measured = [f.contract_id for f in all_facts if _measured(f, metric)]
    reported = [f.contract_id for f in all_facts if not _measured(f, metric)]
    lines: dict[str, Line] = {}
    for f in all_facts:
        lines[f.contract_id] = Line(f.influencer_name)
    await _measured_lines(session, measured, metric, currency, lines)
    await _reported_lines(session, reported, metric, currency, lines)
    return _chart(brief.title, metric, currency, lines, now, len(all_facts))


async def _measured_lines(
    session: AsyncSession,
    ids: Sequence[str],
    metric: str,
    currency: str | None,
    lines: dict[str, Line],
) -> None:
    if not ids:
        return
    for i in ids:
        lines[i].cumulative = True
        lines[i].sources.add("rapport")
    if metric == "clicks":
        rows = await session.execute(
            select(LinkClick.contract_id, LinkClick.at).where(
                LinkClick.contract_id.in_(ids), LinkClick.kind == ClickKind.counted
            )
        )
        for contract_id, at in rows:
            lines[contract_id].points.append((at, 1))
        return
    orders = select(Conversion.contract_id, Conversion.occurred_at, Conversion.amount).where(
        Conversion.contract_id.in_(ids)
    )
    refunds = select(
        ConversionRefund.contract_id, ConversionRefund.occurred_at, ConversionRefund.amount
    ).where(ConversionRefund.contract_id.in_(ids))
    if metric == "revenue":
        orders = orders.where(Conversion.currency == currency)
        refunds = refunds.where(ConversionRefund.currency == currency)
        for contract_id, at, amount in await session.execute(orders):
            lines[contract_id].points.append((at, int(amount)))
        for contract_id, at, amount in await session.execute(refunds):
            lines[contract_id].points.append((at, -int(amount)))
        return
    for contract_id, at, _ in await session.execute(orders):
        lines[contract_id].points.append((at, 1))
    gone = await session.execute(
        select(Conversion.contract_id, func.max(ConversionRefund.occurred_at))
        .join(ConversionRefund, ConversionRefund.conversion_id == Conversion.id)
        .where(Conversion.contract_id.in_(ids), Conversion.refunded >= Conversion.amount)
        .group_by(Conversion.id, Conversion.contract_id)
    )
    for contract_id, at in gone:
        lines[contract_id].points.append((at, -1))


def _value(row: Any, metric: str) -> int | None:
    if metric == "engagements":
        parts = [row[p] for p in ENGAGEMENT_PARTS]
        return None if all(p is None for p in parts) else sum(int(p or 0) for p in parts)
    value = row[metric]
    return None if value is None else int(value)


async def _reported_lines(
    session: AsyncSession,
    ids: Sequence[str],
    metric: str,
    currency: str | None,
    lines: dict[str, Line],
) -> None:
    if not ids:
        return
    fields = ENGAGEMENT_PARTS if metric == "engagements" else (metric,)
    rows = await session.execute(
        select(
            MetricReport.deliverable_id,
            MetricReport.contract_id,
            MetricReport.reported_by,
            MetricReport.source,
            MetricReport.version_no,
            MetricReport.measured_at,
            MetricReport.superseded_at,
            MetricReport.currency,
            *(getattr(MetricReport, f) for f in fields),
        ).where(MetricReport.contract_id.in_(ids))
    )
    reports = [
        r
        for r in rows.mappings()
        if _value(r, metric) is not None and (metric != "revenue" or r["currency"] == currency)
    ]
    # The series the report uses per deliverable: the best current report's party and source.
    chosen: dict[str, tuple[tuple[int, float], tuple[str, str]]] = {}
    for r in reports:
        if r["superseded_at"] is not None:
            continue
        key = (facts_module.source_rank(str(r["source"])), -r["measured_at"].timestamp())
        seen = chosen.get(r["deliverable_id"])
        if seen is None or key < seen[0]:
            chosen[r["deliverable_id"]] = (key, (str(r["reported_by"]), str(r["source"])))
    per_deliverable: dict[str, list[tuple[datetime, int, int]]] = defaultdict(list)
    owner: dict[str, str] = {}
    for r in reports:
        series = chosen.get(r["deliverable_id"])
        if series is None or series[1] != (str(r["reported_by"]), str(r["source"])):
            continue
        value = _value(r, metric)
        assert value is not None
        per_deliverable[r["deliverable_id"]].append((r["measured_at"], r["version_no"], value))
        owner[r["deliverable_id"]] = r["contract_id"]
        lines[r["contract_id"]].sources.add(str(r["source"]))
    # Readings become changes: each deliverable's value steps from one reading to the next.
    for deliverable_id, readings in per_deliverable.items():
        readings.sort()
        previous = 0
        for at, _, value in readings:
            lines[owner[deliverable_id]].points.append((at, value - previous))
            previous = value


def _chart(
    title: str,
    metric: str,
    currency: str | None,
    lines: dict[str, Line],
    now: datetime,
    creators: int,
) -> Chart:
    today = now.date()
    times = [at for line in lines.values() for at, _ in line.points if at <= now]
    start = min((t.date() for t in times), default=today)
    start = max(start, today - timedelta(days=MAX_DAYS - 1))
    days = [start + timedelta(days=i) for i in range((today - start).days + 1)]
    ends = [
        datetime.combine(d + timedelta(days=1), datetime.min.time(), tzinfo=now.tzinfo)
        for d in days
    ]
    drawn: list[tuple[str, list[int]]] = []
    for line in lines.values():
        changes = sorted(p for p in line.points if p[0] <= now)
        stamps = [at for at, _ in changes]
        running, totals = 0, []
        sums = [0]
        for _, delta in changes:
            running += delta
            sums.append(running)
        for end in ends:
            totals.append(sums[bisect_right(stamps, end - timedelta(microseconds=1))])
        sources = ", ".join(
            SOURCE_LABELS[s] for s in sorted(line.sources, key=list(SOURCE_LABELS).index)
        )
        label = f"{line.label} ({sources or 'no figures'})"
        drawn.append((label, totals))
    drawn.sort(key=lambda d: (-(d[1][-1] if d[1] else 0), d[0]))
    name = metric.replace("_", " ")
    heading = f"{title}: {name} per creator, cumulative"
    if len(drawn) > MAX_LINES:
        heading += f" (top {MAX_LINES} of {creators})"
    y_label = f"{name} ({currency})" if metric == "revenue" else name
    return Chart(heading, y_label, currency, days, drawn[:MAX_LINES])


def render(chart: Chart, fmt: ChartFormat) -> bytes:
    """The chart as SVG or PNG bytes (CPU-bound: call it in a worker thread)."""
    figure = Figure(figsize=(9.6, 5.4), dpi=100)
    axes = figure.add_subplot()
    days = np.array(chart.days, dtype="datetime64[D]")
    for label, totals in chart.lines:
        axes.step(days, totals, where="post", label=label, linewidth=1.8)
    if not chart.lines:
        axes.text(0.5, 0.5, "No contract with figures yet", ha="center", transform=axes.transAxes)
    axes.set_title(chart.title, fontsize=11)
    axes.set_ylabel(chart.y_label)
    # matplotlib's stubs leave the date locator and formatter untyped.
    locator = AutoDateLocator()  # type: ignore[no-untyped-call]
    axes.xaxis.set_major_locator(locator)
    axes.xaxis.set_major_formatter(ConciseDateFormatter(locator))  # type: ignore[no-untyped-call]
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    if chart.currency is not None:
        currency = chart.currency
        axes.yaxis.set_major_formatter(FuncFormatter(lambda v, _: major(int(v), currency)))
    axes.set_ylim(bottom=0)
    axes.grid(True, alpha=0.3)
    if chart.lines:
        axes.legend(loc="upper left", fontsize=8)
    figure.tight_layout()
    out = io.BytesIO()
    metadata: dict[str, Any] = {"Date": None} if fmt == "svg" else {"Software": None}
    figure.savefig(out, format=fmt, metadata=metadata)
    return out.getvalue()
