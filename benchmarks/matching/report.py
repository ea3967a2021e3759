"""Shared by throughput.py and memory.py: the machine, process memory, scaling.json / .md."""

from __future__ import annotations

import json
import os
import platform
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from benchmarks import common  # noqa: E402


def machine() -> dict[str, Any]:
    return {
        "cpu_model": common.cpu_model(),
        "cores": os.cpu_count(),
        "memory_gb": common.memory_gb(),
        "kernel": common.kernel(),
        "python": platform.python_version(),
    }


git_commit = common.git_commit


def smaps(pid: int) -> dict[str, float]:
    """RSS, PSS and private memory of a process, in MB (/proc/<pid>/smaps_rollup)."""
    values: dict[str, int] = {}
    with open(f"/proc/{pid}/smaps_rollup") as rollup:
        for line in rollup:
            parts = line.split()
            if len(parts) == 3 and parts[2] == "kB":
                values[parts[0].rstrip(":")] = int(parts[1])
    private = values.get("Private_Clean", 0) + values.get("Private_Dirty", 0)
    shared = values.get("Shared_Clean", 0) + values.get("Shared_Dirty", 0)
    return {
        "rss_mb": round(values.get("Rss", 0) / 1024, 1),
        "pss_mb": round(values.get("Pss", 0) / 1024, 1),
        "private_mb": round(private / 1024, 1),
        "shared_mb": round(shared / 1024, 1),
    }


def merge_json(path: Path, key: str, result: dict[str, Any]) -> None:
    data = json.loads(path.read_text()) if path.exists() else {}
    data[key] = result
    path.write_text(json.dumps(data, indent=2) + "\n")


def write_markdown(json_path: Path, md_path: Path) -> None:
    data = json.loads(json_path.read_text())
    lines = ["# Matching under load: throughput through HTTP, memory shared by a node", ""]
    http = data.get("http")
    if http:
        m = http["machine"]
        lines += [
            f"## Through HTTP at {http['listings']:,} listings",
            "",
            f"{http['date']}, commit {http['commit']}. Machine: {m['cores']} cores "
            f"({m['cpu_model']}), {m['memory_gb']} GB, Python {m['python']} — **shared with "
            "other sessions' work**: the load average is given per run. "
            f"Rapport under uvicorn, {http['workers']} worker processes, {http['database']}"
            + (
                " (kept from an earlier run, migrated to this commit)"
                if http.get("database_reused")
                else ""
            )
            + "; "
            f"`GET /v1/briefs/{{id}}/matches` over {http['briefs']} briefs, round robin, wrk.",
            "",
            "| concurrency | requests/s | p50 (ms) | p95 (ms) | p99 (ms) "
            "| API CPU per request (ms) | load average (1 min) |",
            "|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for run in http["runs"]:
            lines.append(
                f"| {run['concurrency']} | {run['req_per_s']:.1f} | {run['p50_ms']} | "
                f"{run['p95_ms']} | {run['p99_ms']} | {run['api_cpu_ms_per_request']} | "
                f"{run['load_average_1min']} |"
            )
        mem = ", ".join(
            f"RSS {p['rss_mb']:.0f} MB / PSS {p['pss_mb']:.0f} MB"
            for p in http["api_processes_memory_mb"]
        )
        first = (
            "First ranking (the node's index kept from an earlier run on this database, "
            "mapped, not built)"
            if http.get("index_reused")
            else "First ranking after `rapport seed` (the node's index built once, from the "
            "database)"
        )
        lines += [
            "",
            f"- {first}: {http['cold_first_ranking_s']} s; index generations written for the "
            f"{http['workers']} processes: {http['generations_written']}.",
            f"- API processes at the end: {mem}.",
            "",
        ]
    memory = data.get("memory")
    if memory:
        m = memory["machine"]
        lines += [
            f"## Memory of 1 and {memory['processes'][-1]} processes at "
            f"{memory['listings']:,} listings",
            "",
            f"{memory['date']}, commit {memory['commit']}. Machine: {m['cores']} cores, "
            f"{m['memory_gb']} GB, shared (load average {memory['load_average_1min']}). "
            f"Index built from {memory.get('generated', memory['listings']):,} listings of the "
            f"seed generator in {memory['build_s']} s, its rows tiled to "
            f"{memory['listings']:,} (ids made unique per copy: the same arrays per listing), "
            f"and written as one generation ({memory['generation_mb']:.0f} MB of files) in "
            f"{memory['write_s']} s; "
            f"`memory_bytes()`: {memory['index_mb']:.0f} MB, "
            f"{memory['bytes_per_listing']:.0f} bytes per listing. Each process maps the "
            f"generation and ranks {memory['briefs']} briefs (every column it reads is "
            "touched), then its memory is read from /proc/<pid>/smaps_rollup. A process "
            f"with the same imports and no index: RSS {memory['baseline']['rss_mb']:.0f} MB, "
            f"PSS {memory['baseline']['pss_mb']:.0f} MB.",
            "",
            "| processes | RSS, sum (MB) | PSS, sum (MB) | private, sum (MB) "
            "| PSS per process (MB) | ranking p50, wall / CPU (ms) |",
            "|---:|---:|---:|---:|---:|---:|",
        ]
        for run in memory["runs"]:
            lines.append(
                f"| {run['processes']} | {run['rss_sum_mb']:.0f} | {run['pss_sum_mb']:.0f} | "
                f"{run['private_sum_mb']:.0f} | "
                f"{', '.join(f'{p:.0f}' for p in run['pss_each_mb'])} | "
                f"{run['rank_p50_ms']} / {run.get('rank_cpu_p50_ms')} |"
            )
        lines += [
            "",
            "PSS divides each shared page among the processes that map it, so the PSS sum is "
            "what the node holds (a file page mapped by one process alone counts as private to "
            "it: hence the single process's private figure). Rankings touch every row but not "
            "the appends' headroom, so the resident index is a little under the file size. "
            "Without shared files (`RAPPORT_MATCHING_INDEX_DIR` empty) "
            f"each process builds its own copy: {memory['processes'][-1]} x "
            f"{memory['index_mb']:.0f} MB of index.",
            "",
        ]
    lines += [
        "Produced by `benchmarks/matching/throughput.py` and `benchmarks/matching/memory.py` "
        "(`make bench-matching`); see README.md.",
        "",
    ]
    md_path.write_text("\n".join(lines))
