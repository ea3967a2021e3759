"""Cost of the matching's relationship component (app/services/relationships/performance.py).

    .venv/bin/python benchmarks/relationships/bench.py 1000 10000

For each size N: a scratch SQLite database (a temporary directory) with N finished contracts
spread over N/3 creators and N/20 brands, each with 3 deliverables (published on or after their
due date at random), 3 drafts (half with changes requested), 3 proofs (9 in 10 disclosed), 3
self-reported metric reports and 2 ratings — rows inserted directly, foreign keys not enforced
(only the tables the history reads are filled). Then `relationship_scores` twice: the first read
(the history pass) and the next ranking (the process keeps the pass while nothing changed).
Results: README.md beside this file.
"""

from __future__ import annotations

import asyncio
import random
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from app.models import Base, Contract, Deliverable, Draft, MetricReport, Proof, Side
from app.models.relationship import Rating
from app.services.relationships.performance import relationship_scores

T0 = datetime(2026, 1, 1, tzinfo=UTC)


async def run(n: int, directory: Path) -> str:
    engine = create_async_engine(f"sqlite+aiosqlite:///{directory / f'history{n}.db'}")
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    rng = random.Random(1)
    creators = [f"inf_{i:026d}" for i in range(max(1, n // 3))]
    brands = [f"brd_{i:026d}" for i in range(max(1, n // 20))]
    async with sessions() as session, session.begin():
        for k in range(n):
            contract_id = f"ctr_{k:026d}"
            session.add(
                Contract(
                    id=contract_id,
                    bid_id=f"bid_{k}",
                    offer_id=f"ofr_{k}",
                    brief_id="brf_bench",
                    brand_id=rng.choice(brands),
                    influencer_id=rng.choice(creators),
                    state="completed",
                    price=100_000,
                    currency="EUR",
                    terms={"revision_cap": 2, "kpis": [{"metric": "impressions", "target": 1000}]},
                    accepted_at=T0,
                    funding_due_at=T0,
                    ended_at=T0 + timedelta(days=30),
                )
            )
            for unit in range(3):
                deliverable_id = f"dlv_{k}_{unit}"
                session.add(
                    Deliverable(
                        id=deliverable_id,
                        contract_id=contract_id,
                        position=unit,
                        key="reels",
                        unit=unit,
                        type="instagram_reel",
                        due_date=date(2026, 1, 20),
                        state="confirmed",
                        published_at=T0 + timedelta(days=rng.randint(5, 25)),
                    )
                )
                session.add(
                    Draft(
                        id=f"drf_{k}_{unit}",
                        deliverable_id=deliverable_id,
                        contract_id=contract_id,
                        version_no=1,
                        required=True,
                        caption="",
                        media_urls=[],
                        notes="",
                        state=rng.choice(["approved", "changes_requested"]),
                        submitted_at=T0,
                        review_due_at=T0,
                        disclosure={},
                    )
                )
                session.add(
                    Proof(
                        id=f"prf_{k}_{unit}",
                        deliverable_id=deliverable_id,
                        contract_id=contract_id,
                        version_no=1,
                        url="https://instagram.example/p/bench",
                        published_at=T0,
                        platform_post_id="bench",
                        caption="",
                        disclosure={"passed": rng.random() < 0.9},
                        state="confirmed",
                        submitted_at=T0,
                        verification_due_at=T0,
                    )
                )
                session.add(
                    MetricReport(
                        id=f"mtr_{k}_{unit}",
                        deliverable_id=deliverable_id,
                        contract_id=contract_id,
                        reported_by=Side.influencer,
                        source="self_reported",
                        version_no=1,
                        impressions=rng.randint(100, 900),
                        measured_at=T0,
                    )
                )
            for side in (Side.brand, Side.influencer):
                session.add(
                    Rating(
                        id=f"rtg_{k}_{side.value}",
                        contract_id=contract_id,
                        brand_id=brands[0],
                        influencer_id=creators[0],
                        rater_side=side,
                        scores={"quality": {"score": rng.randint(1, 5), "text": ""}},
                        created_at=T0 + timedelta(days=31),
                    )
                )
    took: list[float] = []
    async with sessions() as session:
        for _ in range(2):
            start = time.perf_counter()
            scores = await relationship_scores(session, brands[0], date(2026, 6, 1))
            took.append(time.perf_counter() - start)
    await engine.dispose()
    return (
        f"{n} finished contracts, {len(creators)} creators ({len(scores)} scored): "
        f"first read {took[0] * 1000:.0f} ms, next ranking {took[1] * 1000:.0f} ms"
    )


def main() -> None:
    sizes = [int(a) for a in sys.argv[1:]] or [1000, 10000]
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            print(asyncio.run(run(n, Path(tmp))))


if __name__ == "__main__":
    main()
