"""Benchmark `rapport seed`: load N generated listings into a fresh PostgreSQL database, time it,
then time a few catalogue searches on the loaded data, and drop the database.

    .venv/bin/python benchmarks/seed/bench.py --listings 1000000 --brands 1000 --briefs 1000 \
        --json benchmarks/seed/results.json

The load is the real command (`rapport seed`, run as a subprocess against the scratch database);
its wall-clock time is the headline figure. See README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy import text

ROOT = Path(__file__).resolve().parents[2]
RAPPORT = str(ROOT / ".venv" / "bin" / "rapport")
SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
DATABASE = "rapport_seed_bench"

# Catalogue searches timed on the loaded data (the listing filters of GET /v1/influencers).
QUERIES: dict[str, dict[str, Any]] = {
    "newest (no filter)": {},
    "top followers": {"sort": "-followers"},
    "topic": {"topic": ["running"]},
    "platform + followers": {"platform": ["youtube"], "followers_min": 100_000},
    "country share": {"country": ["SE"], "min_country_share": 20},
    "rate in range": {
        "deliverable_type": ["instagram_reel"],
        "currency": "EUR",
        "price_min": 10_000,
        "price_max": 50_000,
    },
    "text search (1 word)": {"q": "sourdough"},
    "text search (2 words)": {"q": "vegan tofu"},
    "everything": {
        "q": "vegan",
        "topic": ["vegan-food"],
        "platform": ["instagram"],
        "country": ["DE"],
        "available": True,
        "sort": "-followers",
    },
}


async def _admin(sql: str) -> None:
    conn = await asyncpg.connect(SERVER)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def _database_facts(url: str) -> dict[str, Any]:
    conn = await asyncpg.connect(url.replace("+asyncpg", ""))
    try:
        size = await conn.fetchval("SELECT pg_database_size(current_database())")
        version = await conn.fetchval("SHOW server_version")
        rows = {
            table: await conn.fetchval(f'SELECT count(*) FROM "{table}"')  # noqa: S608
            for table in (
                "influencers",
                "social_accounts",
                "listing_topics",
                "listing_countries",
                "listing_rates",
                "brands",
                "briefs",
            )
        }
    finally:
        await conn.close()
    return {"database_mb": round(size / 2**20), "postgres": version, "rows": rows}


async def _time_queries(url: str, repeat: int) -> dict[str, dict[str, float]]:
    from app.db import create_database
    from app.pagination import PageParams
    from app.services.catalogue.influencers import ListingFilters, search_listings
    from app.settings import Settings

    database = create_database(Settings(database_url=url))
    timings: dict[str, dict[str, float]] = {}
    try:
        async with database.sessionmaker() as session:
            await session.execute(text("SELECT 1"))
            for name, params in QUERIES.items():
                filters = ListingFilters(**params)
                samples = []
                found = 0
                for _ in range(repeat):
                    started = time.perf_counter()
                    rows, cursor = await search_listings(
                        session, filters, PageParams(limit=20, cursor=None)
                    )
                    samples.append((time.perf_counter() - started) * 1000)
                    found = len(rows)
                    if cursor:  # the second page, through the cursor
                        started = time.perf_counter()
                        await search_listings(session, filters, PageParams(20, cursor))
                        samples.append((time.perf_counter() - started) * 1000)
                    session.expunge_all()
                timings[name] = {
                    "p50_ms": round(statistics.median(samples), 1),
                    "max_ms": round(max(samples), 1),
                    "page_rows": found,
                }
    finally:
        await database.dispose()
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--listings", type=int, default=1_000_000)
    parser.add_argument("--brands", type=int, default=1000)
    parser.add_argument("--briefs", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=5, help="runs of each timed search")
    parser.add_argument("--json", type=Path, help="append the run to this results file")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args()

    url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{DATABASE}"
    env = os.environ | {"RAPPORT_DATABASE_URL": url}
    asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)'))
    asyncio.run(_admin(f'CREATE DATABASE "{DATABASE}"'))
    try:
        subprocess.run([RAPPORT, "migrate"], env=env, check=True, capture_output=True)  # noqa: S603
        load_before = os.getloadavg()[0]
        started = time.perf_counter()
        seed = subprocess.run(  # noqa: S603
            [RAPPORT, "seed", "--no-migrate", "--listings", str(args.listings), "--brands",
             str(args.brands), "--briefs", str(args.briefs), "--seed", str(args.seed)],
            env=env, check=True, capture_output=True, text=True,
        )  # fmt: skip
        wall = time.perf_counter() - started
        load_after = os.getloadavg()[0]
        summary = seed.stdout.strip().splitlines()[-1]
        phases = {
            name: float(seconds)
            for name, seconds in re.findall(r"(\w+) ([\d.]+) s", summary.split("(", 2)[-1])
        }
        facts = asyncio.run(_database_facts(url))
        queries = asyncio.run(_time_queries(url, args.repeat))
    finally:
        if not args.keep:
            asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)'))

    run = {
        "date": date(2026, 11, 24).isoformat(),
        "listings": args.listings,
        "brands": args.brands,
        "briefs": args.briefs,
        "seed": args.seed,
        "seed_wall_s": round(wall, 1),
        "listings_per_s": round(args.listings / wall),
        "phases_s": phases,
        "load_average_1m_before": round(load_before, 1),
        "load_average_1m_after": round(load_after, 1),
        **facts,
        "search_ms": queries,
        "machine": {
            "cpu_count": os.cpu_count(),
            "processor": platform.machine(),
            "python": platform.python_version(),
        },
    }
    print(json.dumps(run, indent=2))
    if args.json:
        # Every run is kept: on a shared machine the load average explains the spread.
        existing = json.loads(args.json.read_text()) if args.json.exists() else {"runs": []}
        existing["runs"].append(run)
        args.json.write_text(json.dumps(existing, indent=2) + "\n")


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
