"""Metric reports of published deliverables.

Both parties report figures (impressions, reach, likes, comments, shares, saves, clicks,
conversions, revenue in minor units with its currency) and say where they come from
(`self_reported`, `platform_api`, `screenshot`). A **series** is one party's reports from one
source for one deliverable; posting to a series again is a *correction*: version n+1, which
supersedes version n (kept, with `superseded_at` / `superseded_by_id`). The list shows the
latest version of each series and the whole history. Counts are never negative (422); a
deliverable reports only once published (409 `deliverable-not-published`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.clock import rfc3339
from app.errors import Conflict, InvalidRequest
from app.models import DeliverableState, MetricReport
from app.models.delivery import METRIC_FIELDS, MetricSource
from app.services.delivery.deliverables import load_deliverable

D = DeliverableState
REPORTABLE_STATES = frozenset({D.published.value, D.confirmed.value, D.proof_disputed.value})
MAX_HISTORY = 500


class DeliverableNotPublished(Conflict):
    slug, title = "deliverable-not-published", "Only a published deliverable has metrics"


async def report(
    session: AsyncSession,
    user_id: str,
    deliverable_id: str,
    now: datetime,
    *,
    source: MetricSource,
    values: dict[str, int | None],
    revenue: int | None,
    currency: str | None,
    measured_at: datetime | None,
    evidence_url: str | None,
    note: str | None,
) -> MetricReport:
    # The deliverable's row lock serialises a series' versions (SQLite serialises anyway).
    loaded = await load_deliverable(session, user_id, deliverable_id, lock=True)
    deliverable, contract = loaded.deliverable, loaded.contract
    if deliverable.state not in REPORTABLE_STATES:
        raise DeliverableNotPublished(
            f"Deliverable {deliverable.id} is {deliverable.state}; metrics are reported once "
            "it is published",
            current_state=deliverable.state,
        )
    if all(values.get(f) is None for f in METRIC_FIELDS) and revenue is None:
        raise InvalidRequest.field("body", "report at least one figure", "missing")
    measured_at = measured_at or now
    if measured_at > now:
        raise InvalidRequest.field(
            "measured_at", f"is in the future (now is {rfc3339(now)})", "in_future"
        )
    if revenue is not None and currency is None:
        currency = contract.currency
    side = loaded.party.side
    previous = await session.scalar(
        select(MetricReport)
        .where(
            MetricReport.deliverable_id == deliverable.id,
            MetricReport.reported_by == side,
            MetricReport.source == source,
            MetricReport.superseded_at.is_(None),
        )
        .execution_options(populate_existing=True)
    )
    count = await session.scalar(
        select(func.count())
        .select_from(MetricReport)
        .where(MetricReport.deliverable_id == deliverable.id)
    )
    if (count or 0) >= MAX_HISTORY:
        raise Conflict(f"Deliverable {deliverable.id} has {MAX_HISTORY} metric reports already")
    row = MetricReport(
        deliverable_id=deliverable.id,
        contract_id=contract.id,
        reported_by=side,
        reported_by_user=user_id,
        source=source,
        version_no=(previous.version_no + 1) if previous else 1,
        supersedes_id=previous.id if previous else None,
        revenue=revenue,
        currency=currency if revenue is not None else None,
        measured_at=measured_at,
        evidence_url=evidence_url,
        note=note,
        created_at=now,
        **{f: values.get(f) for f in METRIC_FIELDS},
    )
    session.add(row)
    await session.flush()
    if previous is not None:
        previous.superseded_at = now
        previous.superseded_by_id = row.id
        await session.flush()
    return row


async def list_reports(session: AsyncSession, user_id: str, deliverable_id: str) -> dict[str, Any]:
    """`latest`: the current version of every series; `history`: every version, newest first
    (a deliverable holds at most `MAX_HISTORY` reports, so this is one bounded list)."""
    loaded = await load_deliverable(session, user_id, deliverable_id)
    rows = list(
        await session.scalars(
            select(MetricReport)
            .where(MetricReport.deliverable_id == loaded.deliverable.id)
            .order_by(
                MetricReport.created_at.desc(),
                MetricReport.version_no.desc(),
                MetricReport.id.desc(),
            )
        )
    )
    latest = sorted(
        (r for r in rows if r.superseded_at is None),
        key=lambda r: (str(r.reported_by), str(r.source)),
    )
    return {"deliverable_id": loaded.deliverable.id, "latest": latest, "history": rows}
