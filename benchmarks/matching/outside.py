"""Relevance from outside: worlds of three generators, loaded through the HTTP API, ranked by
`GET /v1/briefs/{id}/matches`, scored against each generator's planted truth. A fourth,
world4 (rapport_dev/world4/), is held out: never tuned on, run only with `--generators world4`.

    .venv/bin/python benchmarks/matching/outside.py --seeds 1 2 3 --creators 3000 --briefs 40 \
        --json benchmarks/matching/outside.json --markdown benchmarks/matching/outside.md

Per world (generator x seed): a fresh SQLite (or, with --database-url, PostgreSQL) database,
the app served by uvicorn in a child process, every creator registered and its listing
created with `POST /v1/influencers/me`, one brand owner creating the brands and the briefs
(`POST /v1/brands`, `POST /v1/briefs`, `POST /v1/briefs/{id}/open`), then for every brief
`/matches?limit=10` with the default weights and once per component with that component's
weight set to 0 (`weights=name:0`, the public parameter). Reported: NDCG@10 (gains
2^grade - 1), the share of top-10 slots held by fake-follower and by over-exposed accounts,
the same for the follower-count baseline (largest account on the brief's platform among the
creators with that platform, available and not refusing the category), and the ablation.

`--in-process` skips HTTP and ranks an index built from the same bodies: the tuning loop
(seconds instead of minutes). Tuning happens on one generator only; see README.md.

`--brief-setting` sets each brief's `platform_coverage` as its generator's own truth reads the
brief's platforms (`BRIEF_SETTING`: world3 grades a creator missing one 0, so `required`;
world4 takes them as alternatives; the seed generator and world2 are left unset). Its rows are
labelled "world4 (platform_coverage=alternatives)" etc.: a separate measurement of what the
setting buys a brand that states it, never the default ranking's figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from benchmarks.common import cpu_model, free_port  # noqa: E402

COMPONENTS = (
    "topic_relevance",
    "audience_fit",
    "authenticity",
    "engagement_quality",
    "price_fit",
    "over_exposure",
    "relationship",
)


# --brief-setting: the brief's `platform_coverage` each generator's truth means (None: unset).
BRIEF_SETTING: dict[str, str | None] = {
    "world2": None,
    "seed": None,
    "world3": "required",
    "world4": "alternatives",
}


@dataclass
class Case:
    generator: str
    seed: int
    creators: list[dict[str, Any]]  # POST /v1/influencers/me bodies
    brands: list[dict[str, Any]]  # POST /v1/brands bodies
    briefs: list[dict[str, Any]]  # POST /v1/briefs bodies without brand_id
    brief_brand: list[int]
    grades: list[dict[int, int]]  # per brief: creator index -> grade (> 0 only)
    fake: set[int] = field(default_factory=set)
    over: set[int] = field(default_factory=set)


# --------------------------------------------------------------------------------------
# Worlds


def world2_case(seed: int, today: date, creators: int, briefs: int) -> Case:
    from rapport_dev.world2 import FAKE_KINDS, api_brief, generate_world

    w = generate_world(creators=creators, briefs=briefs, seed=seed, today=today)
    brand_index = {name: k for k, name in enumerate(w.brands)}
    return Case(
        generator="world2",
        seed=seed,
        creators=[c.body for c in w.creators],
        brands=[{"name": name} for name in w.brands],
        briefs=[api_brief(b, "") for b in w.briefs],
        brief_brand=[brand_index[b["brand"]] for b in w.briefs],
        grades=[{k: g for k, g in enumerate(row) if g > 0} for row in w.truth],
        fake={k for k, c in enumerate(w.creators) if c.kind in FAKE_KINDS},
        over={k for k, c in enumerate(w.creators) if c.kind == "overexposed"},
    )


def api_takes_posts() -> bool:
    """Whether this API accepts per-post metrics and comment samples on an account."""
    from app.schemas.influencers import AccountIn

    return "recent_posts" in AccountIn.model_fields


def world3_case(seed: int, today: date, creators: int, briefs: int) -> Case:
    from rapport_dev.world3 import FAKE_KINDS, OVER_KINDS, generate_world

    w = generate_world(creators=creators, briefs=briefs, seed=seed, today=today)
    detail = api_takes_posts()
    return Case(
        generator="world3",
        seed=seed,
        creators=[c.detail_body if detail else c.body for c in w.creators],
        brands=w.brands,
        briefs=w.briefs,
        brief_brand=w.brief_brand,
        grades=[{k: g for k, g in enumerate(row) if g > 0} for row in w.truth],
        fake={k for k, c in enumerate(w.creators) if c.kind in FAKE_KINDS},
        over={k for k, c in enumerate(w.creators) if c.kind in OVER_KINDS},
    )


def seed_case(seed: int, today: date, creators: int, briefs: int) -> Case:
    from rapport_dev.seed.generator import (
        TruthBuilder,
        iter_influencer_batches,
        make_brands,
        make_briefs_with_latent,
    )

    brand_rows = make_brands(10, seed)
    brief_rows, latents = make_briefs_with_latent(briefs, brand_rows, seed, today)
    builder = TruthBuilder(latents, seed)
    listings: list[dict[str, Any]] = []
    over_ids: set[str] = set()
    for batch in iter_influencer_batches(creators, seed, now=today):
        builder.add(batch)
        listings.extend(batch.listings)
        over_ids.update(
            lid for lid, o in zip(batch.ids, batch.latent.overexposed.tolist(), strict=True) if o
        )
    truth = builder.result()
    index_of = {d["id"]: k for k, d in enumerate(listings)}
    bodies = []
    for d in listings:
        body = {k: v for k, v in d.items() if k != "id"}
        body["accounts"] = [{k: v for k, v in a.items() if k != "id"} for a in d["accounts"]]
        bodies.append(body)
    brand_index = {b["id"]: k for k, b in enumerate(brand_rows)}
    brand_bodies = [
        {k: v for k, v in b.items() if k not in ("id", "blocked_influencers")} for b in brand_rows
    ]
    return Case(
        generator="seed",
        seed=seed,
        creators=bodies,
        brands=brand_bodies,
        briefs=[
            {k: v for k, v in b.items() if k not in ("id", "brand_id", "state")} for b in brief_rows
        ],
        brief_brand=[brand_index[b["brand_id"]] for b in brief_rows],
        grades=[
            {index_of[lid]: g for lid, g in truth.briefs[b["id"]].items() if g > 0}
            for b in brief_rows
        ],
        fake={index_of[lid] for lid in truth.fake_listings if lid in index_of},
        over={index_of[lid] for lid in over_ids},
    )


def world4_case(seed: int, today: date, creators: int, briefs: int) -> Case:
    """world4 (rapport_dev/world4/): held out, never tuned on; reported as is."""
    from rapport_dev.world4 import generate_world

    world = generate_world(creators=creators, briefs=briefs, seed=seed, today=today)
    bodies = [c.body for c in world.creators]
    if not api_takes_posts():
        bodies = [
            {
                **b,
                "accounts": [
                    {k: v for k, v in a.items() if k not in ("recent_posts", "comment_samples")}
                    for a in b["accounts"]
                ],
            }
            for b in bodies
        ]
    return Case(
        generator="world4",
        seed=seed,
        creators=bodies,
        brands=world.brands,
        briefs=[b.body for b in world.briefs],
        brief_brand=[b.brand for b in world.briefs],
        grades=world.grades,
        fake=world.fake,
        over=world.over,
    )


def with_brief_setting(case: Case) -> Case:
    """The case with every brief's `platform_coverage` set as its generator's truth means it
    (`BRIEF_SETTING`), its rows labelled so that they are never read as the default's."""
    setting = BRIEF_SETTING.get(case.generator)
    if setting is None:
        case.generator = f"{case.generator} (platform_coverage unset)"
        return case
    case.briefs = [{**b, "platform_coverage": setting} for b in case.briefs]
    case.generator = f"{case.generator} (platform_coverage={setting})"
    return case


# --------------------------------------------------------------------------------------
# Scoring


def ndcg10(ranked: list[int], grades: dict[int, int]) -> float:
    dcg = sum((2 ** grades.get(k, 0) - 1) / math.log2(i + 2) for i, k in enumerate(ranked[:10]))
    ideal = sorted(grades.values(), reverse=True)[:10]
    idcg = sum((2**g - 1) / math.log2(i + 2) for i, g in enumerate(ideal))
    return dcg / idcg if idcg > 0 else float("nan")


def followers_baseline(case: Case, b: int) -> list[int]:
    brief = case.briefs[b]
    platforms = set(brief.get("platforms") or ())
    start = (brief.get("timeline") or {}).get("publish_start") or ""
    scored = []
    for k, c in enumerate(case.creators):
        if brief.get("category") in (c.get("refused_categories") or ()):
            continue
        if not c.get("available", True) and (c.get("unavailable_until") or "9999") >= start:
            continue
        reach = max(
            (a["followers"] for a in c.get("accounts") or () if a["platform"] in platforms),
            default=None,
        )
        if reach is not None:
            scored.append((-reach, k))
    return [k for _, k in sorted(scored)[:10]]


def summarise(case: Case, rankings: dict[str, list[list[int]]]) -> dict[str, Any]:
    """rankings: variant ("default", "followers", "no_<component>") -> per brief top 10."""
    out: dict[str, Any] = {"generator": case.generator, "seed": case.seed}
    for variant, per_brief in rankings.items():
        scores = [ndcg10(r, g) for r, g in zip(per_brief, case.grades, strict=True)]
        scores = [s for s in scores if not math.isnan(s)]
        slots = sum(len(r) for r in per_brief) or 1
        fake = sum(k in case.fake for r in per_brief for k in r)
        over = sum(k in case.over for r in per_brief for k in r)
        out[variant] = {
            "ndcg10": round(sum(scores) / max(len(scores), 1), 4),
            "briefs_below_085": sum(s < 0.85 for s in scores),
            "fake_share_top10": round(fake / slots, 4),
            "overexposed_share_top10": round(over / slots, 4),
            "bad_share_top10": round((fake + over) / slots, 4),
        }
    return out


# --------------------------------------------------------------------------------------
# In process (tuning)


def run_in_process(case: Case, today: date, ablation: bool) -> dict[str, Any]:
    from app.services.matching import ListingIndex, rank

    ids = [f"inf_{k:06d}" for k in range(len(case.creators))]
    index = ListingIndex.build(
        [{**c, "id": lid} for lid, c in zip(ids, case.creators, strict=True)], as_of=today
    )
    row = {lid: k for k, lid in enumerate(ids)}
    variants: dict[str, dict[str, float] | None] = {"default": None}
    if ablation:
        variants |= {f"no_{c}": {c: 0.0} for c in COMPONENTS}
    rankings: dict[str, list[list[int]]] = {v: [] for v in variants}
    for b, brief in enumerate(case.briefs):
        doc = {**brief, "id": f"brf_{b:04d}", "brand_id": f"brd_{case.brief_brand[b]}"}
        for name, w in variants.items():
            rankings[name].append(
                [row[m.listing_id] for m in rank(index, doc, weights=w, limit=10)]
            )
    rankings["followers"] = [followers_baseline(case, b) for b in range(len(case.briefs))]
    return summarise(case, rankings)


# --------------------------------------------------------------------------------------
# Through the API


class Server:
    """The app under uvicorn in a child process, on a fresh database."""

    def __init__(self, database_url: str | None, postgresql: bool = False) -> None:
        self.tmp = tempfile.TemporaryDirectory(prefix="rapport-outside-")
        self.pg_name: str | None = None
        if postgresql:
            # A fresh database per world on the local server (127.0.0.1:5432, user postgres).
            self.pg_name = f"rapport_outside_{secrets.token_hex(4)}"
            createdb = shutil.which("createdb") or "/usr/bin/createdb"
            subprocess.run(  # noqa: S603 - the PostgreSQL client tools
                [createdb, "-h", "127.0.0.1", "-U", "postgres", self.pg_name], check=True
            )
            database_url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{self.pg_name}"
        self.url = database_url or f"sqlite+aiosqlite:///{self.tmp.name}/outside.db"
        self.port = free_port()
        self.env = {
            **os.environ,
            "RAPPORT_DATABASE_URL": self.url,
            "RAPPORT_DEMO_DATA": "false",
            "RAPPORT_LOG_LEVEL": "WARNING",
            # Cheap password hashing and no login throttle: thousands of sign-ups from one IP.
            "RAPPORT_PASSWORD_TIME_COST": "1",
            "RAPPORT_PASSWORD_MEMORY_COST_KIB": "1024",
            "RAPPORT_PASSWORD_PARALLELISM": "1",
            "RAPPORT_LOGIN_MAX_ATTEMPTS_PER_IP": "1000000",
            "RAPPORT_PAGE_SIZE_MAX": "100",
            # The shared index files of this world live and go with its temporary directory.
            "RAPPORT_MATCHING_INDEX_DIR": f"{self.tmp.name}/matching-index",
        }
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Server:
        py = sys.executable
        subprocess.run(  # noqa: S603 - our own interpreter and module
            [py, "-m", "app.cli", "migrate"],
            env=self.env,
            cwd=ROOT,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        code = (
            "import uvicorn; from app.main import create_app; "
            f"uvicorn.run(create_app(), host='127.0.0.1', port={self.port}, log_level='warning')"
        )
        self.proc = subprocess.Popen([py, "-c", code], env=self.env, cwd=ROOT)  # noqa: S603
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return self
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("the API did not start")

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=30)
        self.tmp.cleanup()
        if self.pg_name:
            dropdb = shutil.which("dropdb") or "/usr/bin/dropdb"
            subprocess.run(  # noqa: S603 - the PostgreSQL client tools
                [dropdb, "-h", "127.0.0.1", "-U", "postgres", self.pg_name], check=False
            )

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"


async def _post(client: Any, url: str, **kwargs: Any) -> Any:
    """POST, retried (up to 5 times) on a 503 `database-busy`: SQLite has one writer, and a
    write that cannot get the lock within its busy timeout is refused with nothing changed
    (tests/test_database_busy.py), so retrying after its Retry-After is what a client does."""
    for attempt in range(5):
        r = await client.post(url, **kwargs)
        if r.status_code != 503:
            return r
        await asyncio.sleep(float(r.headers.get("retry-after", "1")) * (attempt + 1) / 2)
    return r


async def _account(client: Any, email: str) -> dict[str, str]:
    r = await _post(
        client,
        "/v1/auth/register",
        json={"email": email, "password": "bench-pass-1234", "full_name": "B"},
    )
    assert r.status_code == 201, r.text
    r = await _post(
        client, "/v1/auth/token", data={"username": email, "password": "bench-pass-1234"}
    )
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


async def load_and_rank(case: Case, base: str, ablation: bool) -> dict[str, Any]:
    import httpx

    timings: dict[str, float] = {}
    async with httpx.AsyncClient(base_url=base, timeout=120) as client:
        t0 = time.perf_counter()
        sem = asyncio.Semaphore(4)
        listing_id: dict[int, str] = {}
        # An e-mail's local part: "world4 (platform_coverage=alternatives)" -> "world4".
        who = f"{case.generator.split()[0]}-{case.seed}"

        async def creator(k: int) -> None:
            async with sem:
                h = await _account(client, f"{who}-{k}@outside.example")
                r = await _post(client, "/v1/influencers/me", json=case.creators[k], headers=h)
                assert r.status_code == 201, r.text
                listing_id[k] = r.json()["id"]

        await asyncio.gather(*(creator(k) for k in range(len(case.creators))))
        timings["load_creators_s"] = round(time.perf_counter() - t0, 1)
        owner = await _account(client, f"{who}-owner@outside.example")
        brand_ids = []
        for body in case.brands:
            r = await client.post("/v1/brands", json=body, headers=owner)
            assert r.status_code == 201, r.text
            brand_ids.append(r.json()["id"])
        brief_ids = []
        for b, body in enumerate(case.briefs):
            r = await client.post(
                "/v1/briefs",
                json={**body, "brand_id": brand_ids[case.brief_brand[b]]},
                headers=owner,
            )
            assert r.status_code == 201, r.text
            bid = r.json()["id"]
            r = await client.post(f"/v1/briefs/{bid}/open", headers=owner)
            assert r.status_code == 200, r.text
            brief_ids.append(bid)
        timings["load_total_s"] = round(time.perf_counter() - t0, 1)

        row = {lid: k for k, lid in listing_id.items()}
        variants: dict[str, str | None] = {"default": None}
        if ablation:
            variants |= {f"no_{c}": f"{c}:0" for c in COMPONENTS}
        rankings: dict[str, list[list[int]]] = {v: [] for v in variants}
        latencies: list[float] = []
        t1 = time.perf_counter()
        for bid in brief_ids:
            for name, w in variants.items():
                params: dict[str, Any] = {"limit": 10}
                if w:
                    params["weights"] = w
                t = time.perf_counter()
                r = await client.get(f"/v1/briefs/{bid}/matches", params=params, headers=owner)
                latencies.append(time.perf_counter() - t)
                assert r.status_code == 200, r.text
                rankings[name].append([row[m["listing_id"]] for m in r.json()["data"]])
        timings["rank_s"] = round(time.perf_counter() - t1, 1)
    rankings["followers"] = [followers_baseline(case, b) for b in range(len(case.briefs))]
    out = summarise(case, rankings)
    lat = sorted(latencies[1:]) or [0.0]
    out["http_matches_p50_ms"] = round(1000 * lat[len(lat) // 2], 1)
    out["http_matches_p95_ms"] = round(1000 * lat[int(len(lat) * 0.95)], 1)
    out |= timings
    return out


# --------------------------------------------------------------------------------------
# Report


def _machine() -> dict[str, Any]:
    return {"nproc": os.cpu_count(), "cpu": cpu_model(), "python": platform.python_version()}


def markdown(payload: dict[str, Any]) -> str:
    m = payload["machine"]
    lines = [
        "# Matching from outside: results",
        "",
        f"Run {payload.get('started') or payload['date']} to {payload.get('finished', '?')} "
        f"on {m['nproc']} CPUs ({m['cpu']}), shared with other work (load average at the end "
        "of each world in the table), "
        f"mode `{payload['mode']}`, "
        f"{payload['creators']} creators x {payload['briefs']} briefs per world. "
        "Generated by `benchmarks/matching/outside.py`; see README.md for what is measured. "
        f"Tuned on: {payload['tuned_on']}.",
        "",
        "| world | NDCG@10 | briefs < 0.85 | fake % top 10 | over-exposed % top 10 "
        "| followers NDCG@10 | followers fake+over % | HTTP p95 ms | load avg |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for w in payload["worlds"]:
        d, f = w["default"], w["followers"]
        lines.append(
            f"| {w['generator']} seed {w['seed']} | {d['ndcg10']:.3f} | {d['briefs_below_085']} "
            f"| {100 * d['fake_share_top10']:.1f} | {100 * d['overexposed_share_top10']:.1f} "
            f"| {f['ndcg10']:.3f} | {100 * f['bad_share_top10']:.1f} "
            f"| {w.get('http_matches_p95_ms', '-')} | {w.get('load_average_1m', '-')} |"
        )
    if any("platform_coverage" in w["generator"] for w in payload["worlds"]):
        lines += [
            "",
            'Rows named "(platform_coverage=…)" were run with `--brief-setting`: every brief '
            "of that generator states its platforms as the generator's truth reads them "
            '(world3: `required`, world4: `alternatives`; "unset": the default). They '
            "measure what the brief setting buys a brand that states it, not the default "
            "ranking.",
        ]
    if any("no_topic_relevance" in w for w in payload["worlds"]):
        lines += [
            "",
            "Ablation: NDCG@10 with one component's weight set to 0 (`weights=name:0`); "
            "in brackets the fake + over-exposed share of top-10 slots.",
            "",
            "| world | default | " + " | ".join(f"no {c}" for c in COMPONENTS) + " |",
            "|---|---:|" + "---:|" * len(COMPONENTS),
        ]
        for w in payload["worlds"]:
            if "no_topic_relevance" not in w:
                continue  # run with --no-ablation (e.g. the --brief-setting rows)
            cells = [
                f"{w[v]['ndcg10']:.3f} ({100 * w[v]['bad_share_top10']:.0f}%)"
                for v in ("default", *(f"no_{c}" for c in COMPONENTS))
            ]
            lines.append(f"| {w['generator']} seed {w['seed']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--generators", nargs="+", default=["world2", "seed", "world3", "world4"])
    ap.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    ap.add_argument("--creators", type=int, default=3000)
    ap.add_argument("--briefs", type=int, default=40)
    ap.add_argument("--in-process", action="store_true")
    ap.add_argument("--no-ablation", action="store_true")
    ap.add_argument("--database-url", default=None, help="a fresh, empty database (else SQLite)")
    ap.add_argument(
        "--postgresql", action="store_true", help="a fresh local PostgreSQL database per world"
    )
    ap.add_argument(
        "--tuned-on",
        default="rounds 4-9: diagnosed on rapport_dev/world3 seeds 31-33, rapport_dev/seed "
        "seeds 21-23 and rapport_dev/world2 seeds 11-13 (round 3: world3 31-33; round 2: world2 "
        "11-13 and seed 21-23; rounds 6-9 also rapport_dev/world4 41-43), in process; never on "
        "the reported seeds 1-3. The held-out figures of world3 and world4 (before any tuning "
        "on them) are in outside-world3-heldout.md and outside-world4-heldout.md, rounds 4-8 "
        "in outside-round4.md to outside-round8.md",
    )
    ap.add_argument(
        "--brief-setting",
        action="store_true",
        help="set every brief's platform_coverage as its generator's truth means it (world3: "
        "required, world4: alternatives, others unset); rows labelled apart from the default's",
    )
    ap.add_argument("--json")
    ap.add_argument(
        "--append",
        action="store_true",
        help="merge into --json (a world run again replaces its row): one world per call",
    )
    ap.add_argument("--markdown")
    args = ap.parse_args()
    today = datetime.now(UTC).date()
    makers = {
        "world2": world2_case,
        "seed": seed_case,
        "world3": world3_case,
        "world4": world4_case,
    }
    worlds = []
    started = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    for gen in args.generators:
        for seed in args.seeds:
            case = makers[gen](seed, today, args.creators, args.briefs)
            if args.brief_setting:
                case = with_brief_setting(case)
            t = time.perf_counter()
            if args.in_process:
                result = run_in_process(case, today, not args.no_ablation)
            else:
                with Server(args.database_url, args.postgresql) as server:
                    result = asyncio.run(load_and_rank(case, server.base, not args.no_ablation))
            result["wall_s"] = round(time.perf_counter() - t, 1)
            result["load_average_1m"] = round(os.getloadavg()[0], 1)
            d = result["default"]
            print(
                f"{case.generator} seed {seed}: NDCG@10 {d['ndcg10']:.3f} "
                f"({d['briefs_below_085']} briefs < 0.85), fake {d['fake_share_top10']:.1%}, "
                f"over-exposed {d['overexposed_share_top10']:.1%}; followers "
                f"{result['followers']['ndcg10']:.3f}  [{result['wall_s']} s]",
                flush=True,
            )
            worlds.append(result)
    payload = {
        "date": today.isoformat(),
        "started": started,
        "finished": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": _machine(),
        "mode": "in-process"
        if args.in_process
        else ("http, PostgreSQL" if args.postgresql else "http, SQLite"),
        "creators": args.creators,
        "briefs": args.briefs,
        "tuned_on": args.tuned_on,
        "worlds": worlds,
    }
    if args.append and args.json and Path(args.json).exists():
        old = json.loads(Path(args.json).read_text())
        ran = {(w["generator"], w["seed"]) for w in worlds}
        kept = [w for w in old["worlds"] if (w["generator"], w["seed"]) not in ran]
        order = {g: k for k, g in enumerate(("world2", "seed", "world3", "world4"))}
        payload["worlds"] = sorted(
            kept + worlds,
            key=lambda w: (
                order.get(w["generator"].split(" ")[0], 9),
                " " in w["generator"],  # --brief-setting's rows after the default's
                w["seed"],
            ),
        )
        payload["started"] = old.get("started", payload["started"])
    if args.json:
        Path(args.json).write_text(json.dumps(payload, indent=1) + "\n")
    if args.markdown:
        Path(args.markdown).write_text(markdown(payload))


if __name__ == "__main__":
    main()
