"""Cost of the matching's relationship component (app/services/relationships/performance.py).

    .venv/bin/python benchmarks/relationships/bench.py 1000 10000

For each size N: a scratch SQLite database (a temporary directory) with N finished contracts
spread over N/3 creators and N/20 brands, each with 3 deliverables (published on or after their
due date at random), a draft each (half with changes requested), 3 proofs (9 in 10 disclosed), 3
self-reported metric reports and 2 ratings — rows made by history.py beside this file (the one
builder rank_lift.py uses too) and inserted directly. Then `relationship_scores` twice: the
first read (the history pass) and the next ranking (the process keeps the pass while nothing
changed).
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

sys.path.insert(0, str(Path(__file__).resolve().parent))

from history import Review, Work, finished_contract
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from app.models import Base, Side
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
            works = [
                Work(
                    due=date(2026, 1, 20),
                    published_at=T0 + timedelta(days=rng.randint(5, 25)),
                    draft_states=[rng.choice(["approved", "changes_requested"])],
                    disclosed=rng.random() < 0.9,
                    impressions=rng.randint(100, 900),
                    source="self_reported",
                )
                for _ in range(3)
            ]
            reviews = [
                Review(side, {"quality": rng.randint(1, 5)}, T0 + timedelta(days=31))
                for side in (Side.brand, Side.influencer)
            ]
            session.add_all(
                finished_contract(
                    f"ctr_{k:026d}",
                    rng.choice(brands),
                    rng.choice(creators),
                    accepted=T0,
                    ended=T0 + timedelta(days=30),
                    works=works,
                    reviews=reviews,
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
