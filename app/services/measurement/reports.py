"""Campaign reports: per brief (the brand's members) and per contract (both parties).

A report lists each contract — each creator — with its spend, figures (each with its sources),
costs per result, rates and ROAS, its KPIs against the targets agreed in the terms, and the
brand's measures (engagement, awareness, traffic, sales) beside the creator's (traffic, shares,
re-engagement, impressions, likes). The brief's report adds one total per currency of spend
(money is never summed across currencies) and an overall line of counts. A brief's contracts
that were never funded are left out (and counted). `csv_rows` flattens a report for
spreadsheets: money in the currency's major unit, cells that a spreadsheet would read as a
formula quoted.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Brief, Contract
from app.services.catalogue.briefs import BriefNotFound
from app.services.catalogue.currencies import minor_unit_exponent
from app.services.identity.tenancy import member_brands
from app.services.measurement import facts as facts_module
from app.services.measurement.arithmetic import (
    Block,
    Count,
    Facts,
    KpiResult,
    Money,
    Ratio,
    add_money,
    contract_block,
    currency_blocks,
    ordered,
    sum_figures,
)
from app.services.measurement.links import party_contract

COUNTS = (
    "impressions",
    "reach",
    "likes",
    "comments",
    "shares",
    "saves",
    "engagements",
    "clicks",
    "unique_visitors",
    "conversions",
)
RATIOS = (
    "cpm",
    "cpe",
    "cpc",
    "cpa",
    "roas",
    "engagement_rate",
    "click_through_rate",
    "conversion_rate",
)
NOTES = [
    "Money is in integer minor units of its currency and is never summed across currencies.",
    "A figure's sources: rapport (measured by Rapport), platform_api, screenshot, "
    "self_reported; `verified` is true only for rapport and platform_api figures.",
    "Spend is the agreed price less refunds from escrow; the brand's service fee is not in it.",
]


async def brief_for_brand(session: AsyncSession, user_id: str, brief_id: str) -> Brief:
    brief = await session.scalar(
        select(Brief).where(Brief.id == brief_id, Brief.brand_id.in_(member_brands(user_id)))
    )
    if brief is None:
        raise BriefNotFound(f"No brief {brief_id} of a brand you are a member of")
    return brief


# --- JSON-shaped parts --------------------------------------------------------------------------


def count_out(c: Count) -> dict[str, Any]:
    return {
        "value": c.value,
        "sources": ordered(c.sources),
        "verified": c.verified,
        "reason": c.reason,
        "reported": c.reported,
    }


def money_out(m: Money) -> dict[str, Any]:
    return {
        "currency": m.currency,
        "amount": m.amount,
        "sources": ordered(m.sources),
        "verified": m.verified,
    }


def ratio_out(r: Ratio) -> dict[str, Any]:
    return {
        "value": None if r.value is None else str(r.value),
        "unit": r.unit,
        "formula": r.formula,
        "reason": r.reason,
    }


def kpi_out(k: KpiResult) -> dict[str, Any]:
    return {
        "metric": k.metric,
        "target": k.target,
        "actual": k.actual,
        "sources": ordered(k.sources),
        "attainment": None if k.attainment is None else str(k.attainment),
        "met": k.met,
        "reason": k.reason,
        "contracts": k.contracts,
    }


def measures_out(b: Block) -> dict[str, Any]:
    c, r = b.figures.counts, b.ratios
    revenue = [money_out(m) for m in b.figures.revenue.values()]
    return {
        "brand": {
            "engagement": {
                "engagements": count_out(c["engagements"]),
                "engagement_rate": ratio_out(r["engagement_rate"]),
            },
            "awareness": {
                "reach": count_out(c["reach"]),
                "impressions": count_out(c["impressions"]),
            },
            "traffic": {
                "clicks": count_out(c["clicks"]),
                "click_through_rate": ratio_out(r["click_through_rate"]),
            },
            "sales": {
                "conversions": count_out(c["conversions"]),
                "revenue": revenue,
                "roas": ratio_out(r["roas"]),
            },
        },
        "creator": {
            "traffic": {
                "clicks": count_out(c["clicks"]),
                "unique_visitors": count_out(c["unique_visitors"]),
            },
            "shares": count_out(c["shares"]),
            "re_engagement": {
                "count": b.re_engagements,
                "description": "the brand's invitations and new contracts after this one",
            },
            "impressions": count_out(c["impressions"]),
            "likes": count_out(c["likes"]),
        },
    }


def block_out(b: Block) -> dict[str, Any]:
    return {
        "currency": b.currency,
        "spend": {"currency": b.currency, "amount": b.spend},
        "figures": {n: count_out(b.figures.counts[n]) for n in COUNTS},
        "revenue": [money_out(m) for m in b.figures.revenue.values()],
        "ratios": {n: ratio_out(b.ratios[n]) for n in RATIOS},
        "kpis": [kpi_out(k) for k in b.kpis],
        "measures": measures_out(b),
    }


def creator_out(f: Facts, block: Block | None = None) -> dict[str, Any]:
    return {
        "contract_id": f.contract_id,
        "influencer_id": f.influencer_id,
        "influencer_name": f.influencer_name,
        "state": f.state,
        **block_out(block or contract_block(f)),
        "tracking": {
            "tracked_links": f.has_links,
            "promo_codes": f.has_promo_codes,
            "clicks": f.clicks,
            "repeat_clicks": f.repeat_clicks,
            "bot_clicks": f.bot_clicks,
            "unique_visitors": f.unique_visitors,
        },
    }


def _brief_report(
    brief_id: str,
    brand_id: str,
    title: str,
    all_facts: Sequence[Facts],
    left_out: int,
    now: datetime,
) -> dict[str, Any]:
    blocks = [contract_block(f) for f in all_facts]
    overall = sum_figures([b.figures for b in blocks])
    spend = add_money({f.currency: Money(f.currency, f.spend)} for f in all_facts)
    return {
        "brief_id": brief_id,
        "brand_id": brand_id,
        "title": title,
        "generated_at": now,
        "currencies": sorted({f.currency for f in all_facts} | set(overall.revenue)),
        "contracts_left_out": left_out,
        "creators": [creator_out(f, b) for f, b in zip(all_facts, blocks, strict=True)],
        "totals": [block_out(b) for b in currency_blocks(all_facts)],
        "overall": {
            "contracts": len(all_facts),
            "figures": {n: count_out(overall.counts[n]) for n in COUNTS} if blocks else None,
            "spend": [money_out(m) for m in spend.values()],
            "revenue": [money_out(m) for m in overall.revenue.values()],
        },
        "notes": NOTES,
    }


async def brief_report(
    session: AsyncSession, user_id: str, brief_id: str, now: datetime
) -> dict[str, Any]:
    brief = await brief_for_brand(session, user_id, brief_id)
    in_brief = Contract.brief_id == brief.id
    all_facts = await facts_module.gather(session, in_brief, funded_only=True)
    every = await facts_module.count_contracts(session, in_brief)
    return _brief_report(
        brief.id, brief.brand_id, brief.title, all_facts, every - len(all_facts), now
    )


async def contract_report(
    session: AsyncSession, user_id: str, contract_id: str, now: datetime
) -> dict[str, Any]:
    contract = await party_contract(session, user_id, contract_id)
    [f] = await facts_module.gather(session, Contract.id == contract.id, funded_only=False)
    return {
        "brief_id": contract.brief_id,
        "brand_id": contract.brand_id,
        "generated_at": now,
        **creator_out(f),
        "notes": NOTES,
    }


# --- CSV ----------------------------------------------------------------------------------------

CSV_COLUMNS = (
    "scope",
    "contract_id",
    "influencer_id",
    "influencer_name",
    "currency",
    "spend",
    *(c for n in COUNTS for c in (n, f"{n}_sources")),
    "clicks_reported",
    "conversions_reported",
    "revenue",
    "revenue_sources",
    "revenue_other_currencies",
    *RATIOS,
    "kpis",
)
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def major(amount: int, currency: str) -> str:
    exponent = minor_unit_exponent(currency)
    return f"{Decimal(amount).scaleb(-exponent):.{exponent}f}"


def _cell(value: Any) -> str:
    text = "" if value is None else str(value)
    # A name such as "=HYPERLINK(…)" must stay text in a spreadsheet (CSV injection).
    return "'" + text if text.startswith(FORMULA_START) else text


def _kpis_text(kpis: Sequence[dict[str, Any]]) -> str:
    parts = []
    for k in kpis:
        actual = "n/a" if k["actual"] is None else k["actual"]
        verdict = {True: "met", False: "not met", None: "unknown"}[k["met"]]
        parts.append(f"{k['metric']} {actual}/{k['target']} {verdict}")
    return "; ".join(parts)


def _row(scope: str, block: dict[str, Any], who: dict[str, Any]) -> dict[str, str]:
    currency = block["currency"]
    row: dict[str, Any] = {
        "scope": scope,
        "contract_id": who.get("contract_id"),
        "influencer_id": who.get("influencer_id"),
        "influencer_name": who.get("influencer_name"),
        "currency": currency,
        "spend": major(block["spend"]["amount"], currency),
    }
    for n in COUNTS:
        figure = block["figures"][n]
        row[n] = figure["value"]
        row[f"{n}_sources"] = "+".join(figure["sources"])
    row["clicks_reported"] = block["figures"]["clicks"]["reported"]
    row["conversions_reported"] = block["figures"]["conversions"]["reported"]
    same = [m for m in block["revenue"] if m["currency"] == currency]
    row["revenue"] = major(same[0]["amount"], currency) if same else None
    row["revenue_sources"] = "+".join(same[0]["sources"]) if same else ""
    row["revenue_other_currencies"] = "; ".join(
        f"{m['currency']} {major(m['amount'], m['currency'])}"
        for m in block["revenue"]
        if m["currency"] != currency
    )
    for n in RATIOS:
        row[n] = block["ratios"][n]["value"]
    row["kpis"] = _kpis_text(block["kpis"])
    return {k: _cell(v) for k, v in row.items()}


def to_csv(report: dict[str, Any]) -> str:
    """The report as CSV: a row per contract, then a `total` row per currency."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    creators = report.get("creators", [report] if "contract_id" in report else [])
    for c in creators:
        writer.writerow(_row("contract", c, c))
    for total in report.get("totals", []):
        writer.writerow(_row("total", total, {}))
    return out.getvalue()
