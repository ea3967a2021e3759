"""A report's facts, read from the database: per contract, what was spent, what the parties
reported, what Rapport measured, the KPIs agreed in the terms and the brand's re-engagements.

- **spend**: the agreed price less the refunds from escrow that succeeded (a contract never
  funded has spent nothing); the brand's service fee is not part of it.
- **reported figures**: per deliverable and per metric, the current report (corrections
  supersede) of the best source that carries the metric — platform API, then screenshot, then
  self-reported, the latest measurement first — summed over the contract's deliverables, with
  the sources that contributed;
- **measured**: the counted clicks and unique visitors of the contract's tracked links, and the
  orders posted for it (not refunded in full) with their revenue net of refunds, per currency;
- **re-engagements**: the brand's invitations to the creator and new contracts with them after
  this contract was agreed.

Columns, not ORM objects; a fixed number of statements whatever the number of contracts.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import (
    Brief,
    BriefInvitation,
    ClickKind,
    Contract,
    Conversion,
    Influencer,
    LinkClick,
    MetricReport,
    PromoCode,
    Refund,
    TrackedLink,
)
from app.models.delivery import METRIC_FIELDS
from app.services.measurement.arithmetic import Count, Facts, Money
from app.services.relationships.performance import SOURCE_RANK


async def gather(
    session: AsyncSession, where: ColumnElement[bool], *, funded_only: bool
) -> list[Facts]:
    """Facts of the contracts matching `where`, oldest first."""
    stmt = select(
        Contract.id,
        Contract.brand_id,
        Contract.influencer_id,
        Contract.state,
        Contract.currency,
        Contract.price,
        Contract.funded_at,
        Contract.accepted_at,
        Contract.terms,
    ).where(where)
    if funded_only:
        stmt = stmt.where(Contract.funded_at.is_not(None))
    contracts = (await session.execute(stmt.order_by(Contract.accepted_at, Contract.id))).all()
    if not contracts:
        return []
    ids = [c.id for c in contracts]
    names = dict(
        (
            await session.execute(
                select(Influencer.id, Influencer.display_name).where(
                    Influencer.id.in_({c.influencer_id for c in contracts})
                )
            )
        ).all()
    )
    refunded = await _refunded(session, ids)
    reported, reported_revenue = await _reported(session, ids)
    links = await _count_by_contract(session, TrackedLink.contract_id, ids)
    codes = await _count_by_contract(session, PromoCode.contract_id, ids)
    clicks = await _clicks(session, ids)
    visitors = await _visitors(session, ids)
    orders, revenue = await _orders(session, ids)
    later = await _re_engagements(session, contracts)
    out = []
    for c in contracts:
        terms: dict[str, Any] = c.terms or {}
        kinds = clicks.get(c.id, {})
        out.append(
            Facts(
                contract_id=c.id,
                influencer_id=c.influencer_id,
                influencer_name=names.get(c.influencer_id, c.influencer_id),
                state=c.state,
                currency=c.currency,
                spend=(c.price - refunded.get(c.id, 0)) if c.funded_at is not None else 0,
                reported=reported.get(c.id, {}),
                reported_revenue=reported_revenue.get(c.id, {}),
                has_links=links.get(c.id, 0) > 0,
                has_promo_codes=codes.get(c.id, 0) > 0,
                clicks=kinds.get(ClickKind.counted.value, 0),
                unique_visitors=visitors.get(c.id, 0),
                repeat_clicks=kinds.get(ClickKind.repeat.value, 0),
                bot_clicks=kinds.get(ClickKind.bot.value, 0),
                conversions=orders.get(c.id, 0),
                revenue=revenue.get(c.id, {}),
                kpis=[
                    (str(k.get("metric")), int(k.get("target") or 0))
                    for k in terms.get("kpis") or []
                ],
                re_engagements=later.get(c.id, 0),
            )
        )
    return out


async def count_contracts(session: AsyncSession, where: ColumnElement[bool]) -> int:
    return int(await session.scalar(select(func.count()).select_from(Contract).where(where)) or 0)


async def _refunded(session: AsyncSession, ids: Sequence[str]) -> dict[str, int]:
    rows = await session.execute(
        select(Refund.contract_id, func.sum(Refund.amount))
        .where(Refund.contract_id.in_(ids), Refund.status == "succeeded")
        .group_by(Refund.contract_id)
    )
    return {contract_id: int(total or 0) for contract_id, total in rows}


def source_rank(source: str) -> int:
    return SOURCE_RANK.get(source, 3)


async def current_reports(session: AsyncSession, ids: Sequence[str]) -> list[Any]:
    """The current (not superseded) metric reports of these contracts."""
    columns = [getattr(MetricReport, f) for f in (*METRIC_FIELDS, "revenue")]
    rows = await session.execute(
        select(
            MetricReport.deliverable_id,
            MetricReport.contract_id,
            MetricReport.source,
            MetricReport.measured_at,
            MetricReport.currency,
            *columns,
        ).where(MetricReport.contract_id.in_(ids), MetricReport.superseded_at.is_(None))
    )
    return list(rows.mappings())


def best_per_deliverable(reports: Sequence[Any], metric: str) -> dict[str, Any]:
    """deliverable id → the report that gives `metric` for it (best source, then latest)."""
    best: dict[str, tuple[tuple[int, float], Any]] = {}
    for r in reports:
        if r[metric] is None:
            continue
        key = (source_rank(str(r["source"])), -r["measured_at"].timestamp())
        seen = best.get(r["deliverable_id"])
        if seen is None or key < seen[0]:
            best[r["deliverable_id"]] = (key, r)
    return {d: r for d, (_, r) in best.items()}


async def _reported(
    session: AsyncSession, ids: Sequence[str]
) -> tuple[dict[str, dict[str, Count]], dict[str, dict[str, Money]]]:
    reports = await current_reports(session, ids)
    values: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    sources: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for metric in METRIC_FIELDS:
        for r in best_per_deliverable(reports, metric).values():
            values[r["contract_id"]][metric] += int(r[metric])
            sources[r["contract_id"]][metric].add(str(r["source"]))
    counts = {
        contract_id: {
            m: Count(v, frozenset(sources[contract_id][m])) for m, v in per_metric.items()
        }
        for contract_id, per_metric in values.items()
    }
    revenue: dict[str, dict[str, Money]] = defaultdict(dict)
    for r in best_per_deliverable(reports, "revenue").values():
        currency = str(r["currency"])
        seen = revenue[r["contract_id"]].get(currency)
        amount = int(r["revenue"]) + (seen.amount if seen else 0)
        got = (seen.sources if seen else frozenset()) | {str(r["source"])}
        revenue[r["contract_id"]][currency] = Money(currency, amount, frozenset(got))
    return counts, revenue


async def _count_by_contract(
    session: AsyncSession, column: Any, ids: Sequence[str]
) -> dict[str, int]:
    rows = await session.execute(
        select(column, func.count()).where(column.in_(ids)).group_by(column)
    )
    return {contract_id: int(n) for contract_id, n in rows}


async def _clicks(session: AsyncSession, ids: Sequence[str]) -> dict[str, dict[str, int]]:
    rows = await session.execute(
        select(LinkClick.contract_id, LinkClick.kind, func.count())
        .where(LinkClick.contract_id.in_(ids))
        .group_by(LinkClick.contract_id, LinkClick.kind)
    )
    out: dict[str, dict[str, int]] = defaultdict(dict)
    for contract_id, kind, n in rows:
        out[contract_id][ClickKind(kind).value] = int(n)
    return out


async def _visitors(session: AsyncSession, ids: Sequence[str]) -> dict[str, int]:
    rows = await session.execute(
        select(LinkClick.contract_id, func.count(func.distinct(LinkClick.visitor_key)))
        .where(
            LinkClick.contract_id.in_(ids),
            LinkClick.kind.in_([ClickKind.counted, ClickKind.repeat]),
        )
        .group_by(LinkClick.contract_id)
    )
    return {contract_id: int(n) for contract_id, n in rows}


async def _orders(
    session: AsyncSession, ids: Sequence[str]
) -> tuple[dict[str, int], dict[str, dict[str, int]]]:
    rows = await session.execute(
        select(
            Conversion.contract_id,
            Conversion.currency,
            func.sum(Conversion.amount - Conversion.refunded),
            func.sum(case((Conversion.refunded < Conversion.amount, 1), else_=0)),
        )
        .where(Conversion.contract_id.in_(ids))
        .group_by(Conversion.contract_id, Conversion.currency)
    )
    orders: dict[str, int] = defaultdict(int)
    revenue: dict[str, dict[str, int]] = defaultdict(dict)
    for contract_id, currency, net, n in rows:
        orders[contract_id] += int(n or 0)
        revenue[contract_id][currency] = int(net or 0)
    return orders, revenue


async def _re_engagements(session: AsyncSession, contracts: Sequence[Any]) -> dict[str, int]:
    """Per contract: the brand's invitations to the creator and contracts with them agreed
    after it."""
    pairs = {(c.brand_id, c.influencer_id) for c in contracts}
    brands = {b for b, _ in pairs}
    creators = {i for _, i in pairs}
    times: dict[tuple[str, str], list[tuple[datetime, str]]] = defaultdict(list)
    agreed = await session.execute(
        select(Contract.brand_id, Contract.influencer_id, Contract.accepted_at, Contract.id).where(
            Contract.brand_id.in_(brands), Contract.influencer_id.in_(creators)
        )
    )
    for brand_id, influencer_id, at, contract_id in agreed:
        times[(brand_id, influencer_id)].append((at, contract_id))
    invited = await session.execute(
        select(Brief.brand_id, BriefInvitation.influencer_id, BriefInvitation.created_at)
        .join(Brief, Brief.id == BriefInvitation.brief_id)
        .where(Brief.brand_id.in_(brands), BriefInvitation.influencer_id.in_(creators))
    )
    for brand_id, influencer_id, at in invited:
        times[(brand_id, influencer_id)].append((at, ""))
    return {
        c.id: sum(
            1
            for at, other in times[(c.brand_id, c.influencer_id)]
            if at > c.accepted_at and other != c.id
        )
        for c in contracts
    }
