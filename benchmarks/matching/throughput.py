"""Matching under concurrency, through HTTP: `GET /v1/briefs/{id}/matches` at c=1, 4, 16.

    .venv/bin/python benchmarks/matching/throughput.py --listings 100000 \
        --json benchmarks/matching/scaling.json --markdown benchmarks/matching/scaling.md

1. A scratch PostgreSQL database on 127.0.0.1:5432 (user postgres, a random name, dropped at the
   end), migrated by `rapport migrate` and filled by `rapport seed` (the bulk loader, behind the
   API's back: the case the index once re-read on every call). A caller is registered through
   the API and made a member of the seeded brands (one SQL insert: seeded brands have none).
2. Rapport under uvicorn with `--workers 2` (two processes on one port) and a fresh
   RAPPORT_MATCHING_INDEX_DIR: the first ranking builds the index once for the node, the other
   process maps the same generation files. The first call's time is reported apart (`cold_s`),
   with how many generations were written (1: one build for the two processes).
3. Per concurrency, wrk for `--duration` seconds over the seeded briefs (round robin):
   requests/s, p50 / p95 / p99 (wrk's own histogram), the API processes' CPU, the load average.
4. RSS and PSS of each API process at the end (/proc/<pid>/smaps_rollup).

The machine is shared: the load average is recorded with each run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))
from report import git_commit, machine, merge_json, smaps  # noqa: E402

from benchmarks.common import free_port  # noqa: E402
from benchmarks.common import process_cpu_seconds as cpu_seconds  # noqa: E402

PYTHON = sys.executable
RAPPORT = [PYTHON, "-c", "from app.cli import main; main()"]
PG = "postgresql://postgres@127.0.0.1:5432"
SECRET = "bench-matching-secret-0123456789abcdef0123456789abcdef"  # noqa: S105 - scratch key
PASSWORD = "correct horse battery staple"  # noqa: S105 - a scratch account


def say(message: str) -> None:
    print(message, flush=True)


async def sql(database: str, statement: str, *args: Any) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(f"{PG}/{database}")
    try:
        return list(await conn.fetch(statement, *args))
    finally:
        await conn.close()


def children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        found += [int(x) for x in text]
    return found


class Api:
    """`uvicorn --factory app.main:create_app --workers N` on a free port."""

    def __init__(self, database_url: str, index_dir: Path, workers: int, logdir: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "RAPPORT_DATABASE_URL": database_url,
            "RAPPORT_SECRET_KEY": SECRET,
            "RAPPORT_ACCESS_TOKEN_TTL_SECONDS": "86400",
            "RAPPORT_RATE_LIMIT_PLANS": '{"standard": "1000000000/minute"}',
            "RAPPORT_RATE_LIMIT_DEFAULT_PLAN": "standard",
            "RAPPORT_ACCESS_LOG": "0.01",
            "RAPPORT_DEMO_DATA": "false",
            "RAPPORT_MATCHING_INDEX_DIR": str(index_dir),
        }
        self.log = logdir / "api.log"
        command = [PYTHON, "-m", "uvicorn", "--factory", "app.main:create_app"]
        command += ["--host", "127.0.0.1", "--port", str(self.port), "--workers", str(workers)]
        # A worker builds the node's index on its first ranking; on a loaded machine its
        # health-check answer can take longer than uvicorn's default 5 s.
        command += [
            "--no-access-log",
            "--log-level",
            "warning",
            "--timeout-worker-healthcheck",
            "120",
        ]
        with open(self.log, "wb") as out:
            self.process = subprocess.Popen(  # noqa: S603 - our interpreter
                command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the API exited; see {self.log}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    if len(self.workers()) >= workers:
                        return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise RuntimeError(f"the API did not answer within 120 s; see {self.log}")

    def workers(self) -> list[int]:
        """The API processes (not multiprocessing's resource tracker)."""
        found = []
        for pid in children(self.process.pid):
            command = Path(f"/proc/{pid}/cmdline").read_bytes()
            if b"resource_tracker" not in command:
                found.append(pid)
        return found

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def exists(database: str) -> bool:
    found = asyncio.run(sql("postgres", "SELECT 1 FROM pg_database WHERE datname = $1", database))
    return bool(found)


def prepare(database: str, args: argparse.Namespace) -> tuple[str, bool]:
    """The database's URL, and whether it was kept from an earlier run."""
    url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{database}"
    env = {**os.environ, "RAPPORT_DATABASE_URL": url, "PYTHONPATH": str(ROOT)}
    if args.database and exists(database):
        # A database kept from an earlier run (--database): brought to this tree's schema, not
        # seeded again (a 100,000-listing seed takes minutes on the shared machine).
        say(f"· reusing {database} (migrating it to this tree's head)")
        subprocess.run([*RAPPORT, "migrate"], env=env, check=True, cwd=ROOT)  # noqa: S603
        return url, True
    asyncio.run(sql("postgres", f'CREATE DATABASE "{database}"'))
    say(f"· migrating {database}")
    subprocess.run([*RAPPORT, "migrate"], env=env, check=True, cwd=ROOT)  # noqa: S603
    say(f"· seeding {args.listings:,} listings, {args.brands} brands, {args.briefs} briefs")
    command = [*RAPPORT, "seed", "--no-migrate", "--listings", str(args.listings)]
    command += ["--brands", str(args.brands), "--briefs", str(args.briefs), "--seed", "1"]
    # The seed's own progress bar goes to the terminal.
    subprocess.run(command, env=env, check=True, cwd=ROOT)  # noqa: S603
    # The loader analyzes but does not vacuum, and this server runs without autovacuum: vacuum
    # as autovacuum would after a bulk insert, so the visibility map lets the index's change
    # probe count listings by an index-only scan (without it, a sequential scan of the table
    # per ranking: ~100 ms of PostgreSQL at 100,000 listings).
    say("· vacuum analyze (what autovacuum does after a bulk load)")
    asyncio.run(sql(database, "VACUUM ANALYZE"))
    return url, False


def caller(api: Api, database: str) -> tuple[str, list[str]]:
    """A brand member: registered through the API, then added to every seeded brand."""
    with httpx.Client(base_url=api.url, timeout=60) as client:
        email = "bench-matching@example.com"
        r = client.post(
            "/v1/auth/register",
            json={"email": email, "password": PASSWORD, "full_name": "Bench Matching"},
        )
        if r.status_code != 409:  # 409: registered by an earlier run on a kept database
            r.raise_for_status()
        r = client.post("/v1/auth/token", data={"username": email, "password": PASSWORD})
        r.raise_for_status()
        token: str = r.json()["access_token"]
    user = asyncio.run(sql(database, "SELECT id FROM users WHERE email = $1", email))[0]["id"]
    asyncio.run(
        sql(
            database,
            "INSERT INTO brand_members (brand_id, user_id, role, created_at) "
            "SELECT id, $1, 'owner', now() FROM brands ON CONFLICT DO NOTHING",
            user,
        )
    )
    rows = asyncio.run(sql(database, "SELECT id FROM briefs ORDER BY id"))
    return token, [row["id"] for row in rows]


def lua(workdir: Path, brief_ids: list[str]) -> Path:
    script = workdir / "matches.lua"
    ids = ", ".join(f'"{i}"' for i in brief_ids)
    script.write_text(
        f"local ids = {{{ids}}}\n"
        "local n = math.random(#ids)\n"
        "request = function()\n"
        "  n = n + 1\n"
        '  return wrk.format("GET", "/v1/briefs/" .. ids[(n % #ids) + 1] .. "/matches")\n'
        "end\n"
        "done = function(summary, latency, requests)\n"
        '  io.write(string.format("LAT %d %d %d\\n", latency:percentile(50),\n'
        "    latency:percentile(95), latency:percentile(99)))\n"
        '  io.write(string.format("SUM %d %d %d %d\\n", summary.requests, summary.duration,\n'
        "    summary.errors.status, summary.errors.connect + summary.errors.read\n"
        "    + summary.errors.write + summary.errors.timeout))\n"
        "end\n"
    )
    return script


def run_wrk(api: Api, token: str, script: Path, concurrency: int, duration: int) -> dict[str, Any]:
    workers = api.workers()
    before = {pid: cpu_seconds(pid) for pid in workers}
    command = ["wrk", "-t", str(min(concurrency, 2)), "-c", str(concurrency)]
    command += ["-d", f"{duration}s", "--timeout", "60s", "-s", str(script)]
    command += ["-H", f"Authorization: Bearer {token}", api.url]
    started = time.monotonic()
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)  # noqa: S603
    while proc.poll() is None:
        print(f"\r  c={concurrency:<3} {time.monotonic() - started:4.0f}/{duration} s", end="")
        sys.stdout.flush()
        time.sleep(1)
    print("\r", end="")
    output = proc.stdout.read() if proc.stdout else ""
    if proc.returncode != 0:
        raise RuntimeError(f"wrk failed: {output}")
    lat = sum_ = None
    for line in output.splitlines():
        if line.startswith("LAT "):
            lat = [int(x) / 1000 for x in line.split()[1:]]
        if line.startswith("SUM "):
            sum_ = [int(x) for x in line.split()[1:]]
    assert lat is not None and sum_ is not None, output
    requests, micros, bad_status, socket_errors = sum_
    cpu = sum(cpu_seconds(pid) - before[pid] for pid in workers)
    if bad_status or socket_errors:
        raise RuntimeError(f"c={concurrency}: {bad_status} non-2xx, {socket_errors} errors")
    return {
        "concurrency": concurrency,
        "requests": requests,
        "req_per_s": round(requests / (micros / 1e6), 1),
        "p50_ms": round(lat[0], 1),
        "p95_ms": round(lat[1], 1),
        "p99_ms": round(lat[2], 1),
        "api_cpu_ms_per_request": round(cpu * 1000 / max(requests, 1), 1),
        "load_average_1min": round(os.getloadavg()[0], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--listings", type=int, default=100_000)
    parser.add_argument("--brands", type=int, default=20)
    parser.add_argument("--briefs", type=int, default=50)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--duration", type=int, default=20, help="seconds per concurrency")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--markdown", type=Path)
    parser.add_argument(
        "--database",
        help="a scratch database name to seed once and keep (reused, not seeded, when it exists)",
    )
    parser.add_argument(
        "--index-dir",
        type=Path,
        help="the node's index directory, kept: a later run maps its generation instead of "
        "building (cold_s is then the mapping, not the build)",
    )
    parser.add_argument("--prepare-only", action="store_true", help="seed --database and stop")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("needs wrk on PATH")
    database = args.database or f"rapport_matching_bench_{secrets.token_hex(4)}"
    workdir = Path(tempfile.mkdtemp(prefix="rapport-matching-http-"))
    index_dir = args.index_dir or workdir / "index"
    api: Api | None = None
    try:
        url, database_reused = prepare(database, args)
        if args.prepare_only:
            return
        index_reused = any(index_dir.glob("*/gen-*"))
        say(f"· starting Rapport: uvicorn, {args.workers} worker processes")
        api = Api(url, index_dir, args.workers, workdir)
        token, brief_ids = caller(api, database)
        say(
            "· first ranking ("
            + (
                "maps the kept index"
                if index_reused
                else f"builds the node's index from {args.listings:,} listings"
            )
            + ")"
        )
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=api.url, timeout=600, headers=headers) as client:
            started = time.monotonic()
            client.get(f"/v1/briefs/{brief_ids[0]}/matches").raise_for_status()
            cold = time.monotonic() - started

            async def warm() -> None:
                async with httpx.AsyncClient(
                    base_url=api.url, timeout=600, headers=headers
                ) as aclient:
                    for _ in range(4):  # until both processes have mapped the generation
                        responses = await asyncio.gather(
                            *(aclient.get(f"/v1/briefs/{b}/matches") for b in brief_ids[:16])
                        )
                        for response in responses:
                            response.raise_for_status()

            asyncio.run(warm())
        generations = sorted(p.name for p in index_dir.glob("*/gen-*"))
        say(f"  cold {cold:.1f} s; generations written: {generations}")
        script = lua(workdir, brief_ids)
        runs = []
        for concurrency in args.concurrency:
            run = run_wrk(api, token, script, concurrency, args.duration)
            say(
                f"  c={concurrency:<3} {run['req_per_s']:7.1f} req/s  p50 {run['p50_ms']} ms  "
                f"p95 {run['p95_ms']} ms  (load average {run['load_average_1min']})"
            )
            runs.append(run)
        memory = [{"pid": pid, **smaps(pid)} for pid in api.workers()]
        result = {
            "kind": "http",
            "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "commit": git_commit(),
            "machine": machine(),
            "listings": args.listings,
            "briefs": len(brief_ids),
            "workers": args.workers,
            "database": (
                "PostgreSQL (scratch database, seeded by rapport seed, then VACUUM ANALYZE)"
            ),
            "database_reused": database_reused,
            "index_reused": index_reused,
            "cold_first_ranking_s": round(cold, 2),
            "generations_written": len(generations),
            "runs": runs,
            "api_processes_memory_mb": memory,
            "python": platform.python_version(),
        }
        if args.json:
            merge_json(args.json, "http", result)
        say(json.dumps(result["runs"]))
    finally:
        if api is not None:
            api.stop()
            shutil.copy(api.log, Path(tempfile.gettempdir()) / "rapport-matching-api.log")
        if not args.database:
            asyncio.run(sql("postgres", f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
        shutil.rmtree(workdir, ignore_errors=True)
    if args.markdown and args.json:
        from report import write_markdown

        write_markdown(args.json, args.markdown)


if __name__ == "__main__":
    main()
