"""Memory of the matching index shared by a node's processes: RSS and PSS of 1 and 4 processes.

    .venv/bin/python benchmarks/matching/memory.py --listings 1000000 \
        --json benchmarks/matching/scaling.json --markdown benchmarks/matching/scaling.md

1. Builds the index from `--generate` of the seed generator's listings (no database: streamed in
   blocks into `IndexBuilder`, as bench.py does; a progress bar shows it), tiles its rows to
   `--listings` (ids made unique per copy: the arrays of a million listings, of the same shape
   per listing, without generating each one — the generator alone needs an hour for a million on
   the shared machine), and writes it as one generation (`app/services/matching/store.py`) into a
   scratch directory, as the API's first ranking does.
2. For each process count (1, then 4), starts that many processes which each map the
   generation (`IndexStore.load`) and rank `--briefs` briefs — the pages a ranking reads are then
   resident — and reads each one's RSS, PSS and private memory from /proc/<pid>/smaps_rollup.
   A process with the same imports and no index gives the baseline.

PSS counts a page shared by k processes as 1/k in each, so the PSS sum is the node's cost.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
from tqdm import tqdm

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))
from report import git_commit, machine, merge_json, smaps, write_markdown  # noqa: E402

from app.services.matching.index import IndexBuilder, ListingIndex  # noqa: E402
from app.services.matching.store import IndexStore  # noqa: E402
from rapport_dev.seed import (  # noqa: E402
    DEFAULT_NOW,
    iter_influencer_batches,
    make_brands,
    make_briefs_with_latent,
)

# Run by each measured process: map the generation, rank the briefs, say so, wait for stdin.
READER = """
import json, sys, time
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from app.services.matching import rank
from app.services.matching.store import IndexStore
root, briefs_file, load = Path(sys.argv[2]), Path(sys.argv[3]), sys.argv[4] == "1"
times, cpu = [], []
if load:
    store = IndexStore(root)
    generation = store.load(store.current_name())
    assert generation is not None, "generation unreadable"
    briefs = json.loads(briefs_file.read_text())
    for brief in briefs:
        t0, c0 = time.perf_counter(), time.process_time()
        rank(generation.index, brief, limit=10)
        times.append((time.perf_counter() - t0) * 1000)
        cpu.append((time.process_time() - c0) * 1000)
print(json.dumps({"times": times, "cpu": cpu}), flush=True)
sys.stdin.readline()
"""


def start_readers(count: int, root: Path, briefs: Path, load: bool) -> list[subprocess.Popen[str]]:
    return [
        subprocess.Popen(  # noqa: S603 - our interpreter, our script
            [sys.executable, "-c", READER, str(ROOT), str(root), str(briefs), "1" if load else "0"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(count)
    ]


def measure(count: int, root: Path, briefs: Path, load: bool = True) -> dict[str, Any]:
    procs = start_readers(count, root, briefs, load)
    try:
        times: list[float] = []
        cpu: list[float] = []
        for proc in procs:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            if not line:
                raise RuntimeError("a reader process failed")
            times += json.loads(line)["times"]
            cpu += json.loads(line)["cpu"]
        each = [smaps(proc.pid) for proc in procs]
    finally:
        for proc in procs:
            if proc.stdin is not None:
                proc.stdin.close()
            proc.wait(60)
    return {
        "processes": count,
        "rss_sum_mb": round(sum(p["rss_mb"] for p in each), 1),
        "pss_sum_mb": round(sum(p["pss_mb"] for p in each), 1),
        "private_sum_mb": round(sum(p["private_mb"] for p in each), 1),
        "pss_each_mb": [p["pss_mb"] for p in each],
        "rss_each_mb": [p["rss_mb"] for p in each],
        "rank_p50_ms": round(float(np.percentile(times, 50)), 1) if times else None,
        "rank_cpu_p50_ms": round(float(np.percentile(cpu, 50)), 1) if cpu else None,
    }


def tile(small: ListingIndex, copies: int) -> ListingIndex:
    """An index of `copies` x the small one's rows (ids made unique per copy): the arrays of a
    large catalogue, for measuring memory, without generating every listing (the generator
    makes 250-3,000 listings a second, depending on the shared machine's load)."""
    n0 = small.n
    n = n0 * copies
    big = ListingIndex(as_of=small.as_of)
    big.cap = n + max(1024, n // 16)
    for k, column in small.cols.items():
        shape = (column.shape[0], big.cap) if column.ndim == 2 else (big.cap,)
        out = np.empty(shape, dtype=column.dtype)
        out[..., :n] = np.tile(column[..., :n0], copies)
        out[..., n:] = column[..., n0 : n0 + 1] if n0 < small.cap else 0
        big.cols[k] = out
    big.n, big.n_dead = n, small.n_dead * copies
    for part in ("text", "topics"):
        csr = getattr(small, part).to_csr(n0)
        tiled = sp.vstack([csr] * copies, format="csr")
        getattr(big, part).build(tiled.indptr, tiled.indices, tiled.data, n)
    big.df = small.df * copies
    big.idf = small.idf.copy()
    big.stats, big.categories = small.stats, dict(small.categories)
    big.topic_profiles = dict(small.topic_profiles)
    big._set_ids([f"{small.ids[r]}{c:03d}" for c in range(copies) for r in range(n0)])
    return big


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--listings", type=int, default=1_000_000)
    parser.add_argument(
        "--generate",
        type=int,
        default=50_000,
        help="listings generated and indexed; the index is then tiled to --listings rows",
    )
    parser.add_argument("--briefs", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--json", type=Path)
    parser.add_argument("--markdown", type=Path)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="rapport-matching-memory-"))
    try:
        now = DEFAULT_NOW
        brands = make_brands(max(20, args.briefs), args.seed)
        briefs, _ = make_briefs_with_latent(args.briefs, brands, args.seed, now)
        briefs_file = workdir / "briefs.json"
        briefs_file.write_text(json.dumps(briefs, default=str))
        builder = IndexBuilder(as_of=now)
        started = time.perf_counter()
        generate = min(args.generate, args.listings)
        batches = iter_influencer_batches(generate, args.seed, now=now)
        with tqdm(total=generate, desc="generate + index", unit="listing") as bar:
            for batch in batches:
                builder.add_many(batch.listings)
                bar.update(len(batch.listings))
        print("fitting the index (IDF, medians, topic profiles) …", flush=True)
        index = builder.finish()
        build_s = time.perf_counter() - started
        copies = max(1, args.listings // generate)
        if copies > 1:
            print(f"tiling {generate:,} rows {copies} times …", flush=True)
            index = tile(index, copies)
        index_bytes = index.memory_bytes()
        per_listing = index.bytes_per_listing()
        listings = index.n
        print(f"writing the generation ({index_bytes / 2**20:.0f} MB in memory) …", flush=True)
        store = IndexStore(workdir / "index")
        t0 = time.perf_counter()
        name = store.write(index, {"horizon": 0, "seen": []})
        write_s = time.perf_counter() - t0
        generation_bytes = sum(p.stat().st_size for p in (store.root / name).iterdir())
        del index, builder
        print("baseline process (imports, no index) …", flush=True)
        baseline = measure(1, store.root, briefs_file, load=False)
        runs = []
        for count in args.processes:
            print(f"{count} process(es) mapping the generation and ranking …", flush=True)
            run = measure(count, store.root, briefs_file)
            print(
                f"  RSS sum {run['rss_sum_mb']:.0f} MB, PSS sum {run['pss_sum_mb']:.0f} MB, "
                f"private sum {run['private_sum_mb']:.0f} MB",
                flush=True,
            )
            runs.append(run)
        result = {
            "kind": "memory",
            "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "commit": git_commit(),
            "machine": machine(),
            "listings": listings,
            "generated": generate,
            "briefs": args.briefs,
            "build_s": round(build_s, 1),
            "write_s": round(write_s, 1),
            "index_mb": round(index_bytes / 2**20, 1),
            "bytes_per_listing": round(per_listing),
            "generation_mb": round(generation_bytes / 2**20, 1),
            "processes": args.processes,
            "baseline": {
                "rss_mb": baseline["rss_sum_mb"],
                "pss_mb": baseline["pss_sum_mb"],
            },
            "runs": runs,
            "load_average_1min": round(os.getloadavg()[0], 2),
        }
        print(json.dumps(result, indent=2))
        if args.json:
            merge_json(args.json, "memory", result)
        if args.json and args.markdown:
            write_markdown(args.json, args.markdown)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
