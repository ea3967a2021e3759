"""Share of voice: a brand's part of what was published on Rapport about a topic.

The market is every published deliverable (a proof was accepted or is pending, not cancelled)
of a contract whose brief names the topic, published in the period; the brand's part is those of
its own briefs. Four measures, each the brand's figure over the market's: posts (deliverables),
impressions, reach and engagements (likes + comments + shares + saves), the figures being each
deliverable's current metric report of the best source that carries them (as in the campaign
report). Each side says how many of its deliverables' figures came from each source, and how
many have none, so a market made of self-reports reads as one.

Only the brand's members see it, and only the brand's own figures and the market's totals —
never another brand's name or figures. When fewer than `MIN_BRANDS` brands published on the
topic in the period, the market's figures (and the shares) are withheld: with one other brand,
the market less the brand's own figures would be that brand's.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import InvalidRequest
from app.models import BriefTopic, Contract, Deliverable, DeliverableState
from app.services.measurement.arithmetic import ENGAGEMENT_PARTS, RATE_PLACES
from app.services.measurement.facts import best_per_deliverable, current_reports
from app.services.relationships.records import require_member

MIN_BRANDS = 3
MEASURES = ("posts", "impressions", "reach", "engagements")
NOT_REPORTED = "not_reported"


def _share(own: int, market: int, measure: str) -> tuple[str | None, str | None]:
    if market == 0:
        return None, f"no {measure} on the topic in the period: a share is undefined"
    return str((Decimal(own) / Decimal(market)).quantize(RATE_PLACES)), None


async def share_of_voice(
    session: AsyncSession,
    user_id: str,
    brand_id: str,
    topic: str,
    now: datetime,
    *,
    since: date | None,
    until: date | None,
) -> dict[str, Any]:
    await require_member(session, user_id, brand_id)
    until = until or now.date()
    if since is not None and since > until:
        raise InvalidRequest.field("since", f"is after until ({until.isoformat()})", "order")
    where: list[ColumnElement[bool]] = [
        BriefTopic.topic == topic,
        Deliverable.published_at.is_not(None),
        Deliverable.state != DeliverableState.cancelled.value,
        # The day's last instant, not the next day's first: `until` may be date.max.
        Deliverable.published_at <= datetime.combine(until, time.max, UTC),
    ]
    if since is not None:
        where.append(Deliverable.published_at >= datetime.combine(since, time(0), UTC))
    published = (
        await session.execute(
            select(Deliverable.id, Deliverable.contract_id, Contract.brand_id)
            .join(Contract, Contract.id == Deliverable.contract_id)
            .join(BriefTopic, BriefTopic.brief_id == Contract.brief_id)
            .where(*where)
        )
    ).all()
    brand_of = {d: b for d, _, b in published}
    contracts = sorted({c for _, c, _ in published})
    reports = await current_reports(session, contracts) if contracts else []
    own_ids = {d for d, b in brand_of.items() if b == brand_id}
    totals: dict[str, dict[str, int]] = {m: {"brand": 0, "market": 0} for m in MEASURES}
    sources: dict[str, dict[str, Counter[str]]] = {
        m: {"brand": Counter(), "market": Counter()} for m in MEASURES
    }
    totals["posts"] = {"brand": len(own_ids), "market": len(brand_of)}
    # A post is known from its accepted proof on Rapport, not from anyone's report.
    sources["posts"] = {
        "brand": Counter(rapport=len(own_ids)),
        "market": Counter(rapport=len(brand_of)),
    }
    for measure in ("impressions", "reach", "engagements"):
        fields = ENGAGEMENT_PARTS if measure == "engagements" else (measure,)
        values: dict[str, int] = {}
        found: dict[str, set[str]] = {}
        for f in fields:
            for deliverable_id, r in best_per_deliverable(reports, f).items():
                if deliverable_id not in brand_of:
                    continue
                values[deliverable_id] = values.get(deliverable_id, 0) + int(r[f])
                found.setdefault(deliverable_id, set()).add(str(r["source"]))
        for deliverable_id in brand_of:
            sides = ("brand", "market") if deliverable_id in own_ids else ("market",)
            for side in sides:
                totals[measure][side] += values.get(deliverable_id, 0)
                for source in sorted(found.get(deliverable_id, {NOT_REPORTED})):
                    sources[measure][side][source] += 1
    brands = len(set(brand_of.values()))
    shown = brands >= MIN_BRANDS
    withheld = (
        None
        if shown
        else f"{brands} brand(s) published on this topic in the period; the market's figures "
        f"are shown from {MIN_BRANDS}, so that no other brand's figures can be worked out"
    )
    measures = []
    for measure in MEASURES:
        own, market = totals[measure]["brand"], totals[measure]["market"]
        share, reason = _share(own, market, measure) if shown else (None, withheld)
        measures.append(
            {
                "measure": measure,
                "brand": own,
                "market": market if shown else None,
                "share": share,
                "reason": reason,
                "brand_sources": dict(sorted(sources[measure]["brand"].items())),
                "market_sources": (
                    dict(sorted(sources[measure]["market"].items())) if shown else None
                ),
            }
        )
    return {
        "brand_id": brand_id,
        "topic": topic,
        "since": since,
        "until": until,
        "generated_at": now,
        "brands": brands,
        "market_shown": shown,
        "withheld_reason": withheld,
        "measures": measures,
    }
