"""`make bench-api`: Rapport against a minimal Starlette + asyncpg app doing the same work.

    .venv/bin/python benchmarks/api/bench.py --json benchmarks/api/results.json \
        --markdown benchmarks/api/results.md [--duration 15] [--profile benchmarks/api/profile]

1. A scratch PostgreSQL database on 127.0.0.1:5432 (user postgres), migrated by `rapport migrate`
   and filled by `rapport seed` (the bulk loader: brands, briefs, listings); the caller is an
   account registered, signed in and given an influencer listing through Rapport's HTTP API.
2. One uvicorn process for each side (`serve.py`); the bodies of every route are compared
   (parsed JSON equal) before anything is measured.
3. Per route, runs of `--duration` seconds with wrk at `--connections`, alternated between the
   sides for `--rounds` rounds after a warm-up. Per run: req/s (wrk), the server process's CPU
   (utime + stime from /proc/<pid>/stat) divided by the requests served, and wrk's own CPU
   (so a saturated load generator would show).
4. Round trips: fresh server processes connect through `wirecount.py`, a proxy that counts the
   protocol messages after which the client waits for PostgreSQL (Query and Sync); after a
   warm-up, `--count-requests` sequential requests per route, counts divided by requests.
5. `--profile DIR`: py-spy samples Rapport's process during one more single-brief run; the
   flame graph and the top costs by package go to DIR and to the results.

Ratios are Rapport ÷ minimal requests per second.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))
from wirecount import WireCounter  # noqa: E402

from benchmarks.common import (  # noqa: E402
    cpu_model,
    free_port,
    git_commit,
    kernel,
    process_cpu_seconds,
)

# The interpreter running this script, on the tree this script is in (PYTHONPATH=ROOT), so a
# copy of the repository at any commit benchmarks its own code.
PYTHON = sys.executable
RAPPORT = [PYTHON, "-c", "from app.cli import main; main()"]
PY_SPY = str(Path(sys.executable).parent / "py-spy")
PG_HOST, PG_PORT = "127.0.0.1", 5432
ADMIN_URL = f"postgresql://postgres@{PG_HOST}:{PG_PORT}/postgres"
# A name of its own per run: two runs at once (two sessions, two worktrees) must not drop or
# seed each other's database.
DATABASE = f"rapport_api_bench_{secrets.token_hex(4)}"
SECRET = "bench-api-secret-0123456789abcdef0123456789abcdef"  # noqa: S105 - a scratch key
PASSWORD = "correct horse battery staple"  # noqa: S105 - a scratch account
ROUTES = ("healthz", "get_brief", "list_briefs")
# Settings a run may set for Rapport from the environment (recorded in the results).
ENV_SHOWN = ("RAPPORT_ACCESS_LOG", "RAPPORT_LOG_LEVEL", "RAPPORT_DATABASE_POOL_SIZE")
ACCESS_LOG = "0.01"
SIDES = ("rapport", "minimal")


def say(message: str) -> None:
    print(message, flush=True)


# --- the machine and the processes -------------------------------------------------------------


def machine() -> dict[str, Any]:
    return {
        "cpu_model": cpu_model(),
        "cores": os.cpu_count(),
        "kernel": kernel(),
        "python": platform.python_version(),
    }


def system_busy() -> tuple[int, int]:
    with open("/proc/stat") as stat:
        values = [int(v) for v in stat.readline().split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


class Server:
    def __init__(self, side: str, database_url: str, logdir: Path) -> None:
        self.side = side
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "RAPPORT_DATABASE_URL": database_url,
            "RAPPORT_SECRET_KEY": SECRET,
            # One token for the whole run (the runs together outlast the default 15 minutes).
            "RAPPORT_ACCESS_TOKEN_TTL_SECONDS": "86400",
            # The per-credential rate limit still counts every request (its cost is measured)
            # but one caller's thousands of requests a second must not be refused.
            "RAPPORT_RATE_LIMIT_PLANS": '{"standard": "1000000000/minute"}',
            "RAPPORT_RATE_LIMIT_DEFAULT_PLAN": "standard",
            # One request in a hundred logged, as a busy production would run (`on` measures
            # the default: every request).
            "RAPPORT_ACCESS_LOG": os.environ.get("RAPPORT_ACCESS_LOG", ACCESS_LOG),
        }
        self.log = logdir / f"{side}-{self.port}.log"
        with open(self.log, "wb") as out:
            self.process = subprocess.Popen(  # noqa: S603 - our interpreter, our script
                [PYTHON, str(HERE / "serve.py"), side, "--port", str(self.port)],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{side} server exited; see {self.log}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{side} server did not answer within 60 s; see {self.log}")

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


# --- the scratch database ----------------------------------------------------------------------


async def admin(sql: str) -> None:
    conn = await asyncpg.connect(ADMIN_URL)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def fetch(database: str, sql: str, *args: Any) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(f"postgresql://postgres@{PG_HOST}:{PG_PORT}/{database}")
    try:
        return list(await conn.fetch(sql, *args))
    finally:
        await conn.close()


def prepare_database(args: argparse.Namespace) -> str:
    url = f"postgresql+asyncpg://postgres@{PG_HOST}:{PG_PORT}/{DATABASE}"
    asyncio.run(admin(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)'))
    asyncio.run(admin(f'CREATE DATABASE "{DATABASE}"'))
    env = {**os.environ, "RAPPORT_DATABASE_URL": url, "PYTHONPATH": str(ROOT)}
    say(f"· migrating {DATABASE} (rapport migrate)")
    subprocess.run([*RAPPORT, "migrate"], env=env, check=True, cwd=ROOT)  # noqa: S603
    say(
        f"· seeding {args.briefs} briefs of {args.brands} brands and {args.listings} listings "
        "(rapport seed)"
    )
    subprocess.run(  # noqa: S603
        [
            *RAPPORT,
            "seed",
            "--no-migrate",
            "--listings",
            str(args.listings),
            "--brands",
            str(args.brands),
            "--briefs",
            str(args.briefs),
            "--seed",
            "1",
        ],
        env=env,
        check=True,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
    )
    return url


def create_caller(rapport: Server) -> str:
    """A creator: registered, signed in and listed through Rapport's API. Returns a token."""
    spec = json.loads((ROOT / "openapi" / "openapi.json").read_text())
    listing = spec["components"]["schemas"]["InfluencerIn"]["examples"][0]
    with httpx.Client(base_url=rapport.url, timeout=30) as client:
        email = "bench-reader@example.com"
        response = client.post(
            "/v1/auth/register",
            json={"email": email, "password": PASSWORD, "full_name": "Bench Reader"},
        )
        response.raise_for_status()
        response = client.post("/v1/auth/token", data={"username": email, "password": PASSWORD})
        response.raise_for_status()
        token: str = response.json()["access_token"]
        response = client.post(
            "/v1/influencers/me", json=listing, headers={"Authorization": f"Bearer {token}"}
        )
        response.raise_for_status()
    return token


# --- load --------------------------------------------------------------------------------------


def wrk_script(workdir: Path, route: str, brief_ids: list[str]) -> tuple[str, Path | None]:
    if route == "healthz":
        return "/healthz", None
    if route == "list_briefs":
        return "/v1/briefs", None
    script = workdir / "get_brief.lua"
    ids = ", ".join(f'"{i}"' for i in brief_ids)
    script.write_text(
        f"local ids = {{{ids}}}\n"
        "local n = 0\n"
        "request = function()\n"
        "  n = n + 1\n"
        '  return wrk.format("GET", "/v1/briefs/" .. ids[(n % #ids) + 1])\n'
        "end\n"
    )
    return "/v1/briefs/{id}", script


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()  # type: ignore[union-attr]
    return float(number) * _UNITS[unit]


def run_wrk(
    server: Server,
    route: str,
    token: str,
    script: Path | None,
    args: argparse.Namespace,
    duration: float,
    label: str,
) -> dict[str, Any]:
    path = {"healthz": "/healthz", "list_briefs": "/v1/briefs", "get_brief": "/"}[route]
    command = [
        "wrk",
        "-t",
        str(args.threads),
        "-c",
        str(args.connections),
        "-d",
        f"{max(1, round(duration))}s",
    ]
    command += ["--latency", "--timeout", "30s", "-H", f"Authorization: Bearer {token}"]
    if script is not None:
        command += ["-s", str(script)]
    command.append(server.url + path)
    cpu_before, busy_before = process_cpu_seconds(server.pid), system_busy()
    started = time.monotonic()
    wrk = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)  # noqa: S603
    tty = sys.stdout.isatty()
    while True:
        try:
            _, status, usage = os.wait4(wrk.pid, os.WNOHANG)
        except ChildProcessError:
            break
        if _ != 0:
            break
        if tty:
            print(
                f"\r  {label} … {time.monotonic() - started:4.0f}/{duration:.0f} s",
                end="",
                flush=True,
            )
        time.sleep(0.5)
    wall = time.monotonic() - started
    cpu_after, busy_after = process_cpu_seconds(server.pid), system_busy()
    output = wrk.stdout.read() if wrk.stdout else ""
    wrk.returncode = os.waitstatus_to_exitcode(status)
    if tty:
        print("\r", end="")
    if wrk.returncode != 0:
        raise RuntimeError(f"wrk failed: {output}")
    requests = int(re.search(r"(\d+) requests in", output).group(1))  # type: ignore[union-attr]
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    errors = re.search(r"Socket errors: (.*)", output)
    latency = dict(re.findall(r"^\s+(50|90|99)%\s+(\S+)\s*$", output, re.M))
    server_cpu = cpu_after - cpu_before
    result = {
        "req_per_s": rps,
        "requests": requests,
        "non_2xx": int(non2xx.group(1)) if non2xx else 0,
        "socket_errors": errors.group(1) if errors else None,
        "p50_ms": _ms(latency["50"]) if "50" in latency else None,
        "p99_ms": _ms(latency["99"]) if "99" in latency else None,
        "server_cpu_s": round(server_cpu, 3),
        "cpu_ms_per_request": round(server_cpu * 1000 / max(requests, 1), 4),
        "server_cpu_share": round(server_cpu / wall, 3),
        "loadgen_cpu_share": round((usage.ru_utime + usage.ru_stime) / wall, 3),
        "load_average_1min": round(os.getloadavg()[0], 2),
        "machine_busy_share": round(
            (busy_after[0] - busy_before[0]) / max(busy_after[1] - busy_before[1], 1), 3
        ),
    }
    if result["non_2xx"] or (errors and re.search(r"(connect|read|write) [1-9]", errors.group(1))):
        raise RuntimeError(f"{label}: errors under load: {output}")
    return result


# --- round trips -------------------------------------------------------------------------------


async def count_round_trips(
    database_url: str, token: str, brief_ids: list[str], requests: int, logdir: Path
) -> dict[str, dict[str, Any]]:
    counter = WireCounter(PG_HOST, PG_PORT)
    port = await counter.start()
    proxied = database_url.replace(f"@{PG_HOST}:{PG_PORT}/", f"@127.0.0.1:{port}/")
    paths = {
        "healthz": lambda i: "/healthz",
        "get_brief": lambda i: f"/v1/briefs/{brief_ids[i % len(brief_ids)]}",
        "list_briefs": lambda i: "/v1/briefs",
    }
    found: dict[str, dict[str, Any]] = defaultdict(dict)
    try:
        for side in SIDES:
            server = await asyncio.to_thread(Server, side, proxied, logdir)
            try:
                headers = {"Authorization": f"Bearer {token}"}
                async with httpx.AsyncClient(base_url=server.url, headers=headers) as client:
                    for route in ROUTES:
                        for i in range(20):  # warm: the pool connected, statements prepared
                            (await client.get(paths[route](i))).raise_for_status()
                        before = counter.counts.snapshot()
                        for i in range(requests):
                            (await client.get(paths[route](i))).raise_for_status()
                        delta = counter.counts.since(before)
                        found[route][side] = {
                            "round_trips_per_request": round(delta.round_trips / requests, 2),
                            "simple_queries_per_request": {
                                text: round(n / requests, 2) for text, n in delta.simple.items()
                            },
                            "extended_per_request": round(delta.extended / requests, 2),
                            "parses_per_request": round(delta.parses / requests, 3),
                        }
            finally:
                await asyncio.to_thread(server.stop)
    finally:
        await counter.stop()
    return found


# --- profile -----------------------------------------------------------------------------------

_FRAME = re.compile(r"^(?P<function>.*) \((?P<path>[^():]+):\d+\)$")


def _package(path: str) -> str:
    """`sqlalchemy/orm/session.py` → sqlalchemy; `uuid.py` → uuid; `app/auth.py` → app."""
    first = path.split("/", 1)[0]
    return first.removesuffix(".py") if "/" not in path else first


def summarise_profile(raw: Path, top: int = 60) -> dict[str, Any]:
    """Shares of py-spy's samples (raw, collapsed stacks) by package and by function.

    *Innermost*: each sample once, for the package of its innermost frame (where the time is
    spent). *Inclusive*: each sample for every package or function on its stack.
    """
    total = 0
    packages: Counter[str] = Counter()
    innermost: Counter[str] = Counter()
    functions: Counter[str] = Counter()
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = [m for m in map(_FRAME.match, stack.split(";")) if m]
        if not frames:
            continue
        innermost[_package(frames[-1]["path"])] += count
        for name in {_package(m["path"]) for m in frames}:
            packages[name] += count
        for name in {f"{m['function']} ({m['path']})" for m in frames}:
            functions[name] += count

    def share(n: int) -> float:
        return round(100 * n / max(total, 1), 1)

    return {
        "samples": total,
        "packages_innermost_pct": {k: share(v) for k, v in innermost.most_common(20)},
        "packages_inclusive_pct": {k: share(v) for k, v in packages.most_common(20)},
        "functions_inclusive_pct": [
            {"function": k, "pct": share(v)} for k, v in functions.most_common(top)
        ],
    }


def profile_rapport(
    server: Server,
    token: str,
    script: Path | None,
    args: argparse.Namespace,
    outdir: Path,
    logdir: Path,
) -> dict[str, Any]:
    outdir.mkdir(parents=True, exist_ok=True)
    svg, raw = outdir / "get_brief.svg", logdir / "get_brief.txt"
    duration = max(5, int(args.duration))
    common = ["--pid", str(server.pid), "--duration", str(duration), "--rate", "200"]
    common += ["--nonblocking"]
    spies = [
        subprocess.Popen(  # noqa: S603 - the venv's py-spy on our own server
            [PY_SPY, "record", *common, *output],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for output in (["-o", str(svg)], ["--format", "raw", "-o", str(raw)])
    ]
    time.sleep(1)
    run_wrk(server, "get_brief", token, script, args, duration + 1, "profiling rapport get_brief")
    for spy in spies:
        spy.wait(60)
    summary = summarise_profile(raw)
    summary["flamegraph"] = str(svg.relative_to(ROOT)) if svg.is_relative_to(ROOT) else str(svg)
    return summary


# --- report ------------------------------------------------------------------------------------


def aggregate(runs: list[dict[str, Any]]) -> dict[str, Any]:
    requests = sum(r["requests"] for r in runs)
    cpu = sum(r["server_cpu_s"] for r in runs)
    return {
        "req_per_s": round(statistics.median(r["req_per_s"] for r in runs), 1),
        "cpu_ms_per_request": round(cpu * 1000 / max(requests, 1), 3),
        "p50_ms": statistics.median(r["p50_ms"] for r in runs if r["p50_ms"] is not None),
        "p99_ms": statistics.median(r["p99_ms"] for r in runs if r["p99_ms"] is not None),
        "loadgen_cpu_share_max": max(r["loadgen_cpu_share"] for r in runs),
        "runs": runs,
    }


ROUTE_LABELS = {
    "healthz": "`GET /healthz`",
    "get_brief": "`GET /v1/briefs/{id}`",
    "list_briefs": "`GET /v1/briefs` (first page)",
}


def markdown(results: dict[str, Any]) -> str:
    m, s = results["machine"], results["settings"]
    lines = [
        "# API benchmark: Rapport against a minimal Starlette + asyncpg app",
        "",
        f"{results['date']} · {m['cpu_model']}, {m['cores']} cores · Python {m['python']} · "
        f"PostgreSQL {results['postgres']} · commit `{results['commit']}`",
        "",
        f"One uvicorn process per side; wrk, {s['connections']} connections, "
        f"{s['threads']} thread, {s['duration_s']:g} s per run, {s['rounds']} alternated "
        f"rounds; {s['briefs']} briefs. Produced by `make bench-api` (benchmarks/api/bench.py). "
        f"Rapport's settings: defaults but "
        + ", ".join(f"`{k}={v}`" for k, v in s.get("rapport_env", {}).items())
        + " (and the scratch database, secret, token lifetime and rate-limit plan).",
        "",
        "| route | Rapport req/s | minimal req/s | ratio | Rapport CPU ms/req | minimal CPU "
        "ms/req | CPU ratio | Rapport round trips | minimal round trips |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for route in ROUTES:
        r = results["routes"][route]
        a, b = r["rapport"], r["minimal"]
        lines.append(
            f"| {ROUTE_LABELS[route]} | {a['req_per_s']:,.0f} | {b['req_per_s']:,.0f} | "
            f"**{r['ratio']:.2f}** | {a['cpu_ms_per_request']:.3f} | "
            f"{b['cpu_ms_per_request']:.3f} | {r['cpu_ratio']:.2f} | "
            f"{a.get('round_trips_per_request', '-')} | "
            f"{b.get('round_trips_per_request', '-')} |"
        )
    lines += ["", "Round trips per request, by kind (Rapport):", ""]
    for route in ROUTES:
        a = results["routes"][route]["rapport"]
        if "round_trip_kinds" in a:
            kinds = a["round_trip_kinds"]
            simple = ", ".join(f"`{t}` {n:g}" for t, n in kinds["simple"].items())
            lines.append(
                f"- {ROUTE_LABELS[route]}: {kinds['extended']:g} extended-protocol "
                f"(statements){'; simple: ' + simple if simple else ''}"
            )
    loadgen = max(
        results["routes"][r][side]["loadgen_cpu_share_max"] for r in ROUTES for side in SIDES
    )
    busy = max(
        run["machine_busy_share"]
        for r in ROUTES
        for side in SIDES
        for run in results["routes"][r][side]["runs"]
    )
    load = max(
        run.get("load_average_1min", 0.0)
        for r in ROUTES
        for side in SIDES
        for run in results["routes"][r][side]["runs"]
    )
    lines += [
        "",
        "*ratio*: Rapport ÷ minimal requests per second (median of the runs). *CPU ratio*: "
        "minimal ÷ Rapport CPU per request (the server process's user + system time over the "
        "requests it served): what the ratio would be with both sides CPU-bound on one core, "
        "and steadier than req/s when other work shares the machine. Round trips are counted "
        "on the wire (benchmarks/api/wirecount.py), sequential requests after a warm-up.",
        "",
        f"The load generator (wrk) used at most {loadgen:.0%} of one core in any run; the "
        f"machine was at most {busy:.0%} busy (all cores, everything running) during a run"
        + (f", load average up to {load:.1f}" if load else "")
        + " (the machine is shared: other work slows both sides).",
    ]
    below = [ROUTE_LABELS[r] for r in ROUTES if results["routes"][r]["ratio"] < 0.5]
    if below:
        lines += [
            "",
            f"**Target not met** (every ratio ≥ 0.5) for {', '.join(below)}: what is left and "
            "why, with the profile that shows it, is written down in "
            "[README.md](README.md#what-is-left-every-ratio-is-still-below-05).",
        ]
    if results.get("profile"):
        p = results["profile"]
        lines += [
            "",
            f"## Profile of Rapport's single-brief read (py-spy, {p['samples']} samples)",
            "",
            "Share of samples by package: *innermost* counts each sample once, for the package "
            "of its innermost frame (where the time goes); *inclusive* counts it for every "
            "package on its stack.",
            "",
            "| package | innermost % | inclusive % |",
            "|---|---:|---:|",
            *[
                f"| {k} | {v} | {p['packages_inclusive_pct'].get(k, 0)} |"
                for k, v in p["packages_innermost_pct"].items()
            ],
            "",
            "Functions below the request plumbing (middleware, routing), by inclusive share:",
            "",
            "| function | % |",
            "|---|---:|",
            *[
                f"| `{f['function']}` | {f['pct']} |"
                for f in p["functions_inclusive_pct"]
                if f["pct"] < 50
            ][:20],
            "",
            f"Flame graph: `{p['flamegraph']}`.",
        ]
    if results.get("history"):
        lines += ["", "## Earlier runs", "", "| date | commit | healthz | get brief | list |"]
        lines.append("|---|---|---:|---:|---:|")
        for h in results["history"]:
            lines.append(
                f"| {h['date']} | `{h['commit']}` | {h['ratio_healthz']:.2f} | "
                f"{h['ratio_get_brief']:.2f} | {h['ratio_list_briefs']:.2f} |"
            )
    return "\n".join(lines) + "\n"


# --- main --------------------------------------------------------------------------------------


def compare_bodies(rapport: Server, minimal: Server, token: str, brief_ids: list[str]) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    paths = ["/healthz", "/v1/briefs", *[f"/v1/briefs/{i}" for i in brief_ids]]
    with httpx.Client(headers=headers, timeout=30) as client:
        for path in paths:
            a = client.get(rapport.url + path)
            b = client.get(minimal.url + path)
            if a.status_code != 200 or b.status_code != 200 or a.json() != b.json():
                raise RuntimeError(f"{path}: the two sides answer differently")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=15, help="seconds per run (15)")
    parser.add_argument("--warmup", type=float, default=3, help="seconds of warm-up per side")
    parser.add_argument("--rounds", type=int, default=2, help="alternated rounds per route")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections (16)")
    parser.add_argument("--threads", type=int, default=1, help="wrk threads (1)")
    parser.add_argument("--briefs", type=int, default=10_000)
    parser.add_argument("--brands", type=int, default=200)
    parser.add_argument("--listings", type=int, default=2_000)
    parser.add_argument("--count-requests", type=int, default=200)
    parser.add_argument("--routes", nargs="+", choices=ROUTES, default=list(ROUTES))
    parser.add_argument("--profile", type=Path, help="py-spy Rapport's single-brief read here")
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--markdown", type=Path, help="write results.md here")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    parser.add_argument("--label", help="what was measured (default: the git commit)")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("needs wrk: apt-get install -y wrk (Debian's package)")

    started = time.monotonic()
    logdir = Path(tempfile.mkdtemp(prefix="bench-api-"))
    say(f"bench-api: {machine()['cpu_model']}, {os.cpu_count()} cores; logs in {logdir}")
    database_url = prepare_database(args)
    servers: dict[str, Server] = {}
    try:
        servers["rapport"] = Server("rapport", database_url, logdir)
        token = create_caller(servers["rapport"])
        servers["minimal"] = Server("minimal", database_url, logdir)
        rows = asyncio.run(
            fetch(
                DATABASE,
                "SELECT id FROM briefs WHERE state = 'open' AND visibility = 'public' ORDER BY id",
            )
        )
        brief_ids = [r["id"] for r in random.Random(1).sample(rows, min(100, len(rows)))]
        compare_bodies(servers["rapport"], servers["minimal"], token, brief_ids)
        say("· both sides answer the same JSON on every route")

        runs: dict[str, dict[str, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
        total = len(args.routes) * args.rounds * 2
        done = 0
        for route in args.routes:
            _, script = wrk_script(logdir, route, brief_ids)
            for side in SIDES:
                run_wrk(
                    servers[side], route, token, script, args, args.warmup, f"warm {side} {route}"
                )
            for round_ in range(args.rounds):
                order = SIDES if round_ % 2 == 0 else SIDES[::-1]
                for side in order:
                    done += 1
                    label = f"[{done}/{total}] {route} {side}"
                    result = run_wrk(
                        servers[side], route, token, script, args, args.duration, label
                    )
                    runs[route][side].append(result)
                    say(
                        f"  {label}: {result['req_per_s']:,.0f} req/s, "
                        f"{result['cpu_ms_per_request']:.3f} ms CPU/req, p99 "
                        f"{result['p99_ms']:.1f} ms, "
                        f"wrk {result['loadgen_cpu_share']:.0%} of a core"
                    )
        profile = None
        if args.profile:
            say("· profiling Rapport's single-brief read with py-spy")
            _, script = wrk_script(logdir, "get_brief", brief_ids)
            profile = profile_rapport(servers["rapport"], token, script, args, args.profile, logdir)
    finally:
        for server in servers.values():
            server.stop()

    try:
        say(f"· counting round trips ({args.count_requests} sequential requests per route)")
        trips = asyncio.run(
            count_round_trips(database_url, token, brief_ids, args.count_requests, logdir)
        )
        postgres = asyncio.run(fetch("postgres", "SHOW server_version"))[0][0]
    finally:
        if args.keep:
            say(f"· kept the scratch database {DATABASE}")
        else:
            asyncio.run(admin(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)'))

    routes: dict[str, Any] = {}
    for route in args.routes:
        entry: dict[str, Any] = {}
        for side in SIDES:
            entry[side] = aggregate(runs[route][side])
            t = trips[route][side]
            entry[side]["round_trips_per_request"] = t["round_trips_per_request"]
            entry[side]["round_trip_kinds"] = {
                "simple": t["simple_queries_per_request"],
                "extended": t["extended_per_request"],
                "parses": t["parses_per_request"],
            }
        entry["ratio"] = round(entry["rapport"]["req_per_s"] / entry["minimal"]["req_per_s"], 3)
        # CPU per request, minimal ÷ Rapport: the ratio one core would give each side when both
        # are CPU-bound; it moves less than req/s when other work shares the machine.
        entry["cpu_ratio"] = round(
            entry["minimal"]["cpu_ms_per_request"] / entry["rapport"]["cpu_ms_per_request"], 3
        )
        routes[route] = entry
    results: dict[str, Any] = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": args.label or git_commit(),
        "machine": machine(),
        "postgres": postgres,
        "settings": {
            # Rapport's settings given to the run (the rest are Rapport's defaults).
            "rapport_env": {"RAPPORT_ACCESS_LOG": ACCESS_LOG}
            | {k: v for k, v in os.environ.items() if k in ENV_SHOWN},
            "duration_s": args.duration,
            "rounds": args.rounds,
            "connections": args.connections,
            "threads": args.threads,
            "briefs": args.briefs,
            "brands": args.brands,
            "listings": args.listings,
            "load_generator": "wrk",
            "round_trips": "counted on the wire (benchmarks/api/wirecount.py)",
        },
        **{f"ratio_{route}": routes[route]["ratio"] for route in args.routes},
        "routes": routes,
        "profile": profile,
        "elapsed_s": round(time.monotonic() - started, 1),
    }
    if args.json:
        history: list[dict[str, Any]] = []
        if args.json.exists():
            previous = json.loads(args.json.read_text())
            history = previous.get("history", [])
            if all(f"ratio_{r}" in previous for r in ROUTES):
                history.append(
                    {k: previous[k] for k in ("date", "commit")}
                    | {f"ratio_{r}": previous[f"ratio_{r}"] for r in ROUTES}
                )
        results["history"] = history
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    if args.markdown and len(args.routes) == len(ROUTES):
        args.markdown.write_text(markdown(results))
    say("")
    for route in args.routes:
        r = routes[route]
        say(
            f"{route:12} rapport {r['rapport']['req_per_s']:>8,.0f} req/s "
            f"{r['rapport']['cpu_ms_per_request']:.3f} ms/req "
            f"{r['rapport']['round_trips_per_request']} trips | minimal "
            f"{r['minimal']['req_per_s']:>8,.0f} req/s {r['minimal']['cpu_ms_per_request']:.3f} "
            f"ms/req {r['minimal']['round_trips_per_request']} trips | ratio {r['ratio']:.2f}"
        )
    say(f"done in {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
