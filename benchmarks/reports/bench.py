"""Cost of measurement (app/services/measurement/): the redirect's click, a brief's report and
its CSV, and a chart.

    .venv/bin/python benchmarks/reports/bench.py 100 1000

For each size N: a scratch SQLite database (a temporary directory) holding one brief with N
funded contracts, each with 3 published deliverables (a self-reported and a platform-API metric
report each), a tracked link with 50 hits (40 counted, 5 repeats, 5 bots over 30 days), a promo
code and 5 orders (one refunded in part) — rows inserted directly, foreign keys not enforced.
Then, timed: 200 redirects (`links.follow`, each its own transaction, as `GET /r/{code}` runs
it), the brief's report (`facts.gather` + the report's arithmetic), its CSV, and the clicks chart
(its data, then SVG and PNG). Results: README.md beside this file.
"""

from __future__ import annotations

import asyncio
import random
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from app.models import (
    Base,
    Contract,
    Conversion,
    ConversionRefund,
    Deliverable,
    Influencer,
    LinkClick,
    MetricReport,
    PromoCode,
    Side,
    TrackedLink,
)
from app.services.measurement import charts, facts, links, reports

T0 = datetime(2026, 11, 1, tzinfo=UTC)
NOW = T0 + timedelta(days=30)
BRIEF, BRAND = "brf_bench", "brd_bench"


def _rows(n: int, rng: random.Random) -> dict[Any, list[dict[str, Any]]]:
    rows: dict[Any, list[dict[str, Any]]] = {m: [] for m in (
        Influencer, Contract, Deliverable, MetricReport, TrackedLink, LinkClick, PromoCode,
        Conversion, ConversionRefund,
    )}  # fmt: skip
    for k in range(n):
        ctr, inf = f"ctr_{k:026d}", f"inf_{k:026d}"
        rows[Influencer].append({"id": inf, "display_name": f"Creator {k}", "created_at": T0})
        rows[Contract].append(
            {
                "id": ctr, "bid_id": f"bid_{k}", "offer_id": f"ofr_{k}", "brief_id": BRIEF,
                "brand_id": BRAND, "influencer_id": inf, "state": "active", "price": 120_000,
                "currency": "EUR", "accepted_at": T0, "funding_due_at": T0, "funded_at": T0,
                "created_at": T0,
                "terms": {"kpis": [{"metric": "impressions", "target": 50_000},
                                   {"metric": "clicks", "target": 30}]},
            }
        )  # fmt: skip
        for unit in range(3):
            dlv = f"dlv_{k}_{unit}"
            rows[Deliverable].append(
                {"id": dlv, "contract_id": ctr, "position": unit, "key": "reels", "unit": unit,
                 "type": "instagram_reel", "due_date": date(2026, 11, 20), "state": "published",
                 "published_at": T0 + timedelta(days=unit + 1), "late": False, "created_at": T0}
            )  # fmt: skip
            for version, source in enumerate(("self_reported", "platform_api")):
                rows[MetricReport].append(
                    {"id": f"mtr_{k}_{unit}_{version}", "deliverable_id": dlv, "contract_id": ctr,
                     "reported_by": Side.influencer, "source": source, "version_no": 1,
                     "impressions": rng.randint(5_000, 50_000), "reach": rng.randint(3_000, 30_000),
                     "likes": rng.randint(100, 3_000), "comments": rng.randint(0, 200),
                     "measured_at": T0 + timedelta(days=unit + 2 + version), "created_at": T0}
                )  # fmt: skip
        lnk = f"lnk_{k:026d}"
        rows[TrackedLink].append(
            {"id": lnk, "code": f"c{k:09d}", "contract_id": ctr, "brand_id": BRAND,
             "influencer_id": inf, "target_url": "https://shop.example/oats",
             "utm": {"utm_source": "instagram"}, "created_at": T0}
        )  # fmt: skip
        for hit in range(50):
            at = T0 + timedelta(minutes=rng.randint(0, 30 * 24 * 60 - 1))
            kind = "counted" if hit < 40 else ("repeat" if hit < 45 else "bot")
            rows[LinkClick].append(
                {"id": f"clk_{k}_{hit}", "link_id": lnk, "contract_id": ctr, "at": at,
                 "day": at.date(), "visitor_key": f"{rng.getrandbits(128):032x}", "kind": kind,
                 "referrer_host": rng.choice([None, "www.instagram.com", "l.instagram.com"])}
            )  # fmt: skip
        pmc = f"pmc_{k:026d}"
        rows[PromoCode].append(
            {"id": pmc, "brand_id": BRAND, "contract_id": ctr, "influencer_id": inf,
             "code": f"CODE{k}", "created_at": T0}
        )  # fmt: skip
        for order in range(5):
            cnv = f"cnv_{k}_{order}"
            rows[Conversion].append(
                {"id": cnv, "brand_id": BRAND, "order_id": f"{k}-{order}", "contract_id": ctr,
                 "influencer_id": inf, "attributed_by": "link", "link_id": lnk, "amount": 4_990,
                 "currency": "EUR", "refunded": 1_000 if order == 0 else 0,
                 "occurred_at": T0 + timedelta(days=order * 5), "created_at": T0}
            )  # fmt: skip
        rows[ConversionRefund].append(
            {"id": f"cnr_{k}", "conversion_id": f"cnv_{k}_0", "contract_id": ctr,
             "refund_id": "r-1", "amount": 1_000, "currency": "EUR",
             "occurred_at": T0 + timedelta(days=6), "created_at": T0}
        )  # fmt: skip
    return rows


def _ms(start: float) -> float:
    return (time.perf_counter() - start) * 1000


async def run(n: int, directory: Path) -> str:
    engine = create_async_engine(f"sqlite+aiosqlite:///{directory / f'reports{n}.db'}")
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    async with sessions() as session, session.begin():
        for model, values in _rows(n, random.Random(1)).items():
            for i in range(0, len(values), 5_000):
                await session.execute(insert(model), values[i : i + 5_000])

    secret = b"bench-visitor-secret-0123456789abcdef"
    hits = 200
    start = time.perf_counter()
    for i in range(hits):
        async with sessions() as session, session.begin():
            await links.follow(
                session,
                f"c{i % n:09d}",
                links.Hit(f"198.51.100.{i % 250}", "Mozilla/5.0 Chrome/131.0", None, {}),
                NOW,
                secret=secret,
                repeat_window=timedelta(minutes=30),
            )
    redirect_ms = _ms(start) / hits

    async with sessions() as session:
        start = time.perf_counter()
        gathered = await facts.gather(session, Contract.brief_id == BRIEF, funded_only=True)
        gather_ms = _ms(start)
        start = time.perf_counter()
        doc = reports._brief_report(BRIEF, BRAND, "Bench", gathered, 0, NOW)
        compose_ms = _ms(start)
        start = time.perf_counter()
        text = reports.to_csv(doc)
        csv_ms = _ms(start)
        start = time.perf_counter()
        lines = {f.contract_id: charts.Line(f.influencer_name) for f in gathered}
        await charts._measured_lines(session, list(lines), "clicks", None, lines)
        chart = charts._chart("Bench", "clicks", None, lines, NOW, len(gathered))
        chart_data_ms = _ms(start)
    start = time.perf_counter()
    svg = charts.render(chart, "svg")
    svg_ms = _ms(start)
    start = time.perf_counter()
    png = charts.render(chart, "png")
    png_ms = _ms(start)
    await engine.dispose()
    assert len(doc["creators"]) == n and text.count("\r\n") == n + 2
    return (
        f"| {n:,} | {redirect_ms:.1f} | {gather_ms:.0f} | {compose_ms:.0f} | {csv_ms:.0f} | "
        f"{chart_data_ms:.0f} | {svg_ms:.0f} ({len(svg) // 1024} KiB) | "
        f"{png_ms:.0f} ({len(png) // 1024} KiB) |"
    )


async def main(sizes: list[int]) -> None:
    print(
        "| contracts | redirect ms/click | report: gather ms | arithmetic ms | CSV ms | "
        "chart data ms | SVG ms | PNG ms |"
    )
    print("|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            print(await run(n, Path(tmp)), flush=True)


if __name__ == "__main__":
    asyncio.run(main([int(a) for a in sys.argv[1:]] or [100, 1000]))
