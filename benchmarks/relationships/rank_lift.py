"""The relationship component at work: a re-engaged strong performer moves up (issue 15).

    cd benchmarks/relationships && ../../.venv/bin/python rank_lift.py --listings 20000 \\
        --briefs 20 --seed 1 --json rank_lift.json --markdown rank_lift.md

1. A synthetic marketplace (rapport_dev.seed, as benchmarks/matching does) is indexed, and each
   brief — one per brand — is ranked with no history at all: the relationship component is 0.5
   (neutral) for everyone. From that neutral ranking two creators are picked per brief: the
   **strong performer** at neutral rank 15 (relevant, outside the first page of 10) and the
   **weak performer** at neutral rank 5.
2. A scratch SQLite database gets their history with the brief's brand — rows inserted directly
   (as bench.py beside this file), 3 finished contracts each, ended 120 days before the run's
   day: the strong one published every deliverable on time, needed no change request, met the
   KPI (1,200 impressions of 1,000) with a disclosed post and was rated 5/5; the weak one was
   late every time, used the whole revision cap, reached 30 % of the KPI, one post undisclosed
   per contract, rated 2/5.
3. The brand's re-engagement suggestions (`reengagement.suggestions`, 90 days: what
   `GET /v1/brands/{id}/re-engagement` answers) must name the strong performer, with its
   reason; the brand re-engages them — a new brief, ranked with the component read from that
   history (`performance.relationship_scores`, what `GET /v1/briefs/{id}/matches` passes to the
   ranker) — and the strong performer's rank is compared with the neutral one, with the
   default weights (relationship 0.05) and with a brief that weights it 0.20 (`match_weights`).

Results: rank_lift.md (and .json) beside this file; README.md explains them.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import platform
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from history import Review, Work, finished_contract

from app.models import Base, Side
from app.services.matching import rank
from app.services.matching.index import IndexBuilder, ListingIndex
from app.services.matching.scoring import DEFAULT_WEIGHTS
from app.services.relationships.performance import relationship_scores
from app.services.relationships.reengagement import suggestions
from rapport_dev.seed import (
    DEFAULT_NOW,
    iter_influencer_batches,
    make_brands,
    make_briefs_with_latent,
)

STRONG_AT, WEAK_AT, DEPTH = 15, 5, 500
ENDED_DAYS_AGO = 120
WEIGHTED = {**DEFAULT_WEIGHTS, "relationship": 0.20}


def build_index(listings: int, seed: int) -> ListingIndex:
    builder = IndexBuilder(as_of=DEFAULT_NOW)
    with tqdm(total=listings, desc="generate + index", unit="listing") as bar:
        for batch in iter_influencer_batches(listings, seed, now=DEFAULT_NOW):
            builder.add_many(batch.listings)
            bar.update(len(batch.listings))
    return builder.finish()


def position(ranked: list[str], listing_id: str) -> int | None:
    return ranked.index(listing_id) + 1 if listing_id in ranked else None


def history_rows(brand_id: str, influencer_id: str, strong: bool, now: dt.datetime) -> list[Any]:
    """Three finished contracts of a creator with a brand, good or poor on every figure."""
    rows: list[Any] = []
    for k in range(3):
        ended = now - dt.timedelta(days=ENDED_DAYS_AGO + 40 * k)
        accepted = ended - dt.timedelta(days=30)
        due = (accepted + dt.timedelta(days=20)).date()
        published = dt.datetime.combine(
            due + dt.timedelta(days=-2 if strong else 3), dt.time(12), tzinfo=dt.UTC
        )
        works = [
            Work(
                due=due,
                published_at=published,
                # the weak one: two change requests per deliverable (the whole cap)
                draft_states=["approved"] if strong else ["changes_requested"] * 2 + ["approved"],
                disclosed=strong or unit == 0,
                impressions=600 if strong else 150,
            )
            for unit in range(2)
        ]
        score = 5 if strong else 2
        review = Review(
            Side.brand,
            {d: score for d in ("quality", "timeliness", "communication")},
            ended + dt.timedelta(days=1),
        )
        rows += finished_contract(
            f"ctr_{influencer_id[4:]}{k}",
            brand_id,
            influencer_id,
            accepted=accepted,
            ended=ended,
            works=works,
            reviews=[review],
        )
    return rows


async def measure(index: ListingIndex, briefs: list[dict[str, Any]], db: Path) -> dict[str, Any]:
    now = dt.datetime.combine(DEFAULT_NOW, dt.time(12), tzinfo=dt.UTC)
    engine = create_async_engine(f"sqlite+aiosqlite:///{db}")
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    picks: list[dict[str, Any]] = []
    async with sessions() as session, session.begin():
        for brief in briefs:
            neutral = [m.listing_id for m in rank(index, brief, limit=DEPTH)]
            if len(neutral) < STRONG_AT:
                continue
            strong, weak = neutral[STRONG_AT - 1], neutral[WEAK_AT - 1]
            session.add_all(history_rows(brief["brand_id"], strong, True, now))
            session.add_all(history_rows(brief["brand_id"], weak, False, now))
            picks.append({"brief": brief, "neutral": neutral, "strong": strong, "weak": weak})
    rows: list[dict[str, Any]] = []
    async with sessions() as session:
        for pick in tqdm(picks, desc="rank with history", unit="brief"):
            rows.append(await _one(session, index, pick, now))
    await engine.dispose()
    return {"briefs": rows}


async def _one(
    session: AsyncSession, index: ListingIndex, pick: dict[str, Any], now: dt.datetime
) -> dict[str, Any]:
    brief, strong, weak = pick["brief"], pick["strong"], pick["weak"]
    brand_id = brief["brand_id"]
    suggested = await suggestions(session, brand_id, 90, now)
    mine = [s for s in suggested if s.influencer_id == strong]
    scores = await relationship_scores(session, brand_id, DEFAULT_NOW)
    out: dict[str, Any] = {
        "brief": brief["id"],
        "brand": brand_id,
        "suggested": bool(mine),
        "suggested_reason": mine[0].reason if mine else None,
        "weak_suggested": any(s.influencer_id == weak for s in suggested),
        "strong_component": round(scores[strong][0], 3),
        "weak_component": round(scores[weak][0], 3),
        "strong_reason": scores[strong][1],
    }
    for label, weights in (("default", None), ("weighted", WEIGHTED)):
        neutral = (
            pick["neutral"]
            if weights is None
            else [m.listing_id for m in rank(index, brief, weights=weights, limit=DEPTH)]
        )
        ranked = [
            m.listing_id
            for m in rank(index, brief, weights=weights, limit=DEPTH, relationship=scores)
        ]
        out[label] = {
            "strong_neutral": position(neutral, strong),
            "strong_with_history": position(ranked, strong),
            "weak_neutral": position(neutral, weak),
            "weak_with_history": position(ranked, weak),
        }
    return out


def summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "briefs": len(rows),
        "strong_suggested": sum(r["suggested"] for r in rows),
        "weak_suggested": sum(r["weak_suggested"] for r in rows),
        "strong_component_median": statistics.median(r["strong_component"] for r in rows),
        "weak_component_median": statistics.median(r["weak_component"] for r in rows),
    }
    for label in ("default", "weighted"):
        ups = [
            (r[label]["strong_neutral"] or DEPTH + 1) - (r[label]["strong_with_history"] or DEPTH)
            for r in rows
        ]
        downs = [
            (r[label]["weak_with_history"] or DEPTH + 1) - (r[label]["weak_neutral"] or DEPTH)
            for r in rows
        ]
        out[label] = {
            "strong_moved_up": sum(u > 0 for u in ups),
            "strong_into_top10": sum(
                (r[label]["strong_with_history"] or DEPTH + 1) <= 10 for r in rows
            ),
            "strong_places_up_median": statistics.median(ups),
            "strong_rank_median": statistics.median(
                r[label]["strong_with_history"] or DEPTH + 1 for r in rows
            ),
            "weak_moved_down": sum(d > 0 for d in downs),
            "weak_places_down_median": statistics.median(downs),
        }
    return out


def markdown(result: dict[str, Any]) -> str:
    s = result["summary"]
    lines = [
        "# The relationship component: a re-engaged strong performer moves up",
        "",
        f"{result['listings']:,} listings, {s['briefs']} briefs (one per brand), seed "
        f"{result['seed']}; {result['date']}, {result['machine']['processor']} "
        f"({result['machine']['cpu_count']} cores), Python {result['machine']['python']}. "
        "Made by `rank_lift.py` (its docstring says how).",
        "",
        f"- Re-engagement suggestions (90 days) named the strong performer for "
        f"{s['strong_suggested']} of {s['briefs']} brands, the weak one for "
        f"{s['weak_suggested']}.",
        f"- Relationship component (median): strong {s['strong_component_median']}, weak "
        f"{s['weak_component_median']}, everyone else 0.5.",
        "",
        "| weights | strong moved up | strong into the top 10 | strong: places up (median) "
        "| strong: rank with history (median) | weak moved down | weak: places down (median) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    names = (("default", "default (relationship 0.05)"), ("weighted", "relationship 0.20"))
    for label, name in names:
        d = s[label]
        lines.append(
            f"| {name} | {d['strong_moved_up']}/{s['briefs']} | {d['strong_into_top10']}/"
            f"{s['briefs']} | {d['strong_places_up_median']} | {d['strong_rank_median']} | "
            f"{d['weak_moved_down']}/{s['briefs']} | {d['weak_places_down_median']} |"
        )
    lines += [
        "",
        "Per brief (neutral rank → rank with the history; the strong performer starts at "
        f"{STRONG_AT}, the weak one at {WEAK_AT}):",
        "",
        "| brief | component strong / weak | default: strong | default: weak "
        "| 0.20: strong | 0.20: weak |",
        "|---|---|---|---|---|---|",
    ]
    for r in result["briefs"]:
        d, w = r["default"], r["weighted"]
        lines.append(
            f"| {r['brief']} | {r['strong_component']} / {r['weak_component']} | "
            f"{d['strong_neutral']} → {d['strong_with_history']} | "
            f"{d['weak_neutral']} → {d['weak_with_history']} | "
            f"{w['strong_neutral']} → {w['strong_with_history']} | "
            f"{w['weak_neutral']} → {w['weak_with_history']} |"
        )
    first = result["briefs"][0]
    lines += [
        "",
        f'The re-engagement reason for {first["brief"]}\'s brand: "{first["suggested_reason"]}"',
        "",
        f'The component\'s reason: "{first["strong_reason"]}"',
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listings", type=int, default=20_000)
    parser.add_argument("--briefs", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--markdown", type=Path)
    args = parser.parse_args()
    brands = make_brands(max(20, args.briefs), args.seed)
    briefs, _ = make_briefs_with_latent(args.briefs, brands, args.seed, DEFAULT_NOW)
    seen: set[str] = set()
    one_per_brand = [b for b in briefs if not (b["brand_id"] in seen or seen.add(b["brand_id"]))]
    index = build_index(args.listings, args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        measured = asyncio.run(measure(index, one_per_brand, Path(tmp) / "history.db"))
    result = {
        "listings": args.listings,
        "seed": args.seed,
        "date": dt.date.today().isoformat(),
        "machine": {
            "processor": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "summary": summary(measured["briefs"]),
        **measured,
    }
    print(json.dumps(result["summary"], indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    if args.markdown:
        args.markdown.write_text(markdown(result), encoding="utf-8")


if __name__ == "__main__":
    main()
