"""A finished contract's history as rows, for the relationship benchmarks (bench.py and
rank_lift.py beside this file): one contract, its deliverables with their drafts, proof and
metric report, and its ratings — inserted directly into a scratch database, foreign keys not
enforced (only the tables `relationships.performance` reads are filled)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from app.models import Contract, Deliverable, Draft, MetricReport, Proof, Side
from app.models.relationship import Rating


@dataclass
class Work:
    """One deliverable as it went: due and published, each draft version's outcome, whether
    the published post was disclosed, and the impressions reported for it."""

    due: dt.date
    published_at: dt.datetime
    draft_states: list[str] = field(default_factory=lambda: ["approved"])
    disclosed: bool = True
    impressions: int = 1000
    source: str = "platform_api"


@dataclass
class Review:
    """One side's rating of the contract, a score per dimension."""

    side: Side
    scores: dict[str, int]
    at: dt.datetime


def finished_contract(
    contract_id: str,
    brand_id: str,
    influencer_id: str,
    *,
    accepted: dt.datetime,
    ended: dt.datetime,
    works: list[Work],
    reviews: list[Review],
) -> list[Any]:
    """The rows of a completed contract (EUR 1,000.00, revision cap 2, a 1,000-impression KPI)."""
    rows: list[Any] = [
        Contract(
            id=contract_id,
            bid_id=f"bid_{contract_id}",
            offer_id=f"ofr_{contract_id}",
            brief_id="brf_history",
            brand_id=brand_id,
            influencer_id=influencer_id,
            state="completed",
            price=100_000,
            currency="EUR",
            terms={"revision_cap": 2, "kpis": [{"metric": "impressions", "target": 1000}]},
            accepted_at=accepted,
            funding_due_at=accepted,
            funded_at=accepted,
            ended_at=ended,
        )
    ]
    for unit, work in enumerate(works, start=1):
        did = f"dlv_{contract_id}_{unit}"
        rows.append(
            Deliverable(
                id=did,
                contract_id=contract_id,
                position=unit,
                key="reels",
                unit=unit,
                type="instagram_reel",
                due_date=work.due,
                state="confirmed",
                published_at=work.published_at,
            )
        )
        rows.extend(
            Draft(
                id=f"drf_{did}_{version}",
                deliverable_id=did,
                contract_id=contract_id,
                version_no=version,
                required=True,
                caption="#ad",
                media_urls=[],
                notes="",
                state=state,
                submitted_at=accepted,
                review_due_at=accepted,
                disclosure={},
            )
            for version, state in enumerate(work.draft_states, start=1)
        )
        rows.append(
            Proof(
                id=f"prf_{did}",
                deliverable_id=did,
                contract_id=contract_id,
                version_no=1,
                url="https://instagram.example/p/history",
                published_at=work.published_at,
                platform_post_id="history",
                caption="#ad",
                disclosure={"passed": work.disclosed},
                state="confirmed",
                submitted_at=work.published_at,
                verification_due_at=work.published_at,
            )
        )
        rows.append(
            MetricReport(
                id=f"mtr_{did}",
                deliverable_id=did,
                contract_id=contract_id,
                reported_by=Side.influencer,
                source=work.source,
                version_no=1,
                impressions=work.impressions,
                measured_at=work.published_at,
            )
        )
    rows.extend(
        Rating(
            id=f"rtg_{contract_id}_{review.side.value}",
            contract_id=contract_id,
            brand_id=brand_id,
            influencer_id=influencer_id,
            rater_side=review.side,
            scores={d: {"score": s, "text": ""} for d, s in review.scores.items()},
            created_at=review.at,
        )
        for review in reviews
    )
    return rows
