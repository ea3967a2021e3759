"""`make load`: the whole marketplace flow under load, with duplicate clicks and (with `--kill`)
processes killed mid-run, then the money's invariants checked.

What one run does (benchmarks/load/README.md has the details and the figures' meaning):

1. a scratch PostgreSQL database (dropped afterwards unless `--keep-db`), migrated once;
2. the project's Stripe sandbox (`rapport stripe-sandbox`, in memory, signed webhooks to the
   first API process), two API processes (`rapport serve --no-migrate` on two ports, the same
   settings) and two workers (`rapport worker`);
3. for `--duration` seconds, `--users` virtual users doing whole deals over HTTP, each request
   sent to the next API process in turn: brands sign up, post and open briefs, read matches;
   creators sign up, create listings, onboard payouts through the sandbox's link, read their
   recommended briefs and bid; the brand offers, the creator counters or accepts, the contract
   is funded through the sandbox (PaymentIntent confirmed with a test card), drafts are
   submitted and approved, proofs submitted and confirmed — each confirmation releases a
   milestone and the workers transfer it. Duplicate clicks are mixed in: one accept sent 10x
   at once, one offer sent 10x with the same Idempotency-Key, two funding confirmations at once;
4. a drain (the workers finish, the webhooks land), the sandbox's clock 7 days on so Stripe
   pays the creators out, another drain;
5. the checks: the ledger's invariants (the project's own `check_invariants`), exactly one
   transfer per released milestone (in the database and at the sandbox), no dead or stuck job,
   no unprocessed Stripe event, `rapport reconcile` finds no difference.

`--kill`: mid-run, `kill -9` of one worker (when it holds claimed jobs) and of the second API
process (the one that receives no webhooks); both restarted 5 s later. Every POST carries an
Idempotency-Key; a request whose connection died is retried with its key against the other
process until it gets a definitive answer, and the run counts the clients that never learn
their outcome. The dead worker's claimed jobs are watched until another worker finished them.

The harness speaks HTTP to the API and the sandbox; it reads the database only for the checks
and the progress line, and runs `rapport reconcile`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import itertools
import json
import os
import pkgutil
import platform
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx

# The checkout's own dev tools (the scratch clusters), whatever the venv installed.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from benchmarks.common import cpu_model, free_port, memory_gb
from rapport_dev.pgcluster import ScratchPair

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
RAPPORT = str(BIN / "rapport")
PASSWORD = "load-run-password-2026"  # noqa: S105 - a scratch database's users
WEBHOOK_SECRET = "whsec_rapport_load_run_webhook_secret"  # noqa: S105 - sandbox only
STRIPE_KEY = "sk_test_rapport_sandbox"
PROBLEM_BASE = "https://rapport.dev/problems/"
IN_USE = "idempotency-key-in-use"
CAPTION = "#ad Race-week oats: my breakfast before the long run."


# --- processes ------------------------------------------------------------------------------


# prctl(PR_SET_PDEATHSIG) looked up here, in the parent: the child, between fork and exec,
# only calls it (no import there, which another thread's lock could block).
try:
    import ctypes

    _PRCTL = ctypes.CDLL("libc.so.6", use_errno=True).prctl
except (OSError, AttributeError):  # not Linux / glibc
    _PRCTL = None
_PR_SET_PDEATHSIG, _SIGTERM = 1, int(signal.SIGTERM)


def _die_with_parent() -> None:
    """In the child before exec (Linux): SIGTERM when the harness dies, even by kill -9, so a
    stopped run never leaves API processes, workers or a sandbox behind (their own session keeps
    them out of the terminal's Ctrl+C, which the harness handles itself)."""
    if _PRCTL is not None:
        _PRCTL(_PR_SET_PDEATHSIG, _SIGTERM)


class Proc:
    """One child process (its own session, output to a log file), killable by its pid."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], logdir: Path) -> None:
        self.name, self.argv, self.env, self.logdir = name, argv, env, logdir
        self.popen: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        self.starts += 1
        log = open(self.logdir / f"{self.name}.{self.starts}.log", "wb")
        self.popen = subprocess.Popen(  # noqa: S603 - our own interpreter's scripts
            self.argv,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        log.close()

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    def kill9(self) -> None:
        assert self.popen is not None
        os.kill(self.popen.pid, signal.SIGKILL)
        self.popen.wait()

    def stop(self) -> None:
        if self.popen is None or self.popen.poll() is not None:
            return
        self.popen.terminate()
        try:
            self.popen.wait(10)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()


async def wait_http(url: str, within: float = 60.0, proc: Proc | None = None) -> None:
    deadline = time.monotonic() + within
    async with httpx.AsyncClient(timeout=2) as client:
        while time.monotonic() < deadline:
            if proc is not None and proc.popen is not None and proc.popen.poll() is not None:
                raise RuntimeError(f"{proc.name} exited ({proc.popen.returncode}); see its log")
            with contextlib.suppress(httpx.TransportError):
                if (await client.get(url)).status_code < 500:
                    return
            await asyncio.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {within} s")


@dataclass
class Cluster:
    db_name: str
    logdir: Path
    api_ports: list[int]
    sandbox_port: int
    env: dict[str, str]
    sandbox: Proc
    apis: list[Proc]
    workers: list[Proc]
    # `--scratch-primary` / `--replica`: PostgreSQL clusters of this run's own (else the server
    # at 5432); `replica`: the API processes read the catalogue from the standby.
    scratch: ScratchPair | None = None
    replica: bool = False
    server: str = "127.0.0.1:5432"

    @property
    def database_url(self) -> str:
        return f"postgresql://postgres@{self.server}/{self.db_name}"

    @property
    def admin_url(self) -> str:
        return f"postgresql://postgres@{self.server}/postgres"

    @property
    def standby_url(self) -> str | None:
        if self.scratch is None or self.scratch.standby is None:
            return None
        return self.scratch.standby.url(self.db_name, driver="postgresql")

    @property
    def api_urls(self) -> list[str]:
        return [f"http://127.0.0.1:{p}" for p in self.api_ports]

    @property
    def sandbox_url(self) -> str:
        return f"http://127.0.0.1:{self.sandbox_port}"

    @classmethod
    def create(cls, logdir: Path, postgres: str = "shared") -> Cluster:
        db_name = f"rapport_load_{datetime.now(UTC):%Y%m%d_%H%M%S}_{os.getpid()}"
        api_ports = [free_port(), free_port()]
        sandbox_port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("RAPPORT_")}
        env.update(
            {
                # The processes run the checkout this script is in, whatever the venv installed.
                "PYTHONPATH": str(ROOT),
                "RAPPORT_ENVIRONMENT": "development",
                "RAPPORT_DATABASE_URL": f"postgresql+asyncpg://postgres@127.0.0.1:5432/{db_name}",
                "RAPPORT_DEMO_DATA": "false",
                "RAPPORT_EMBEDDED_WORKER": "false",
                "RAPPORT_STRIPE_API_BASE": f"http://127.0.0.1:{sandbox_port}",
                "RAPPORT_STRIPE_API_KEY": STRIPE_KEY,
                "RAPPORT_STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
                # Both processes get the same settings: onboarding links return to the first.
                "RAPPORT_PUBLIC_URL": f"http://127.0.0.1:{api_ports[0]}",
                "RAPPORT_LOG_LEVEL": "WARNING",
                # Every virtual user signs in from 127.0.0.1: the per-IP login limit would
                # refuse the 31st sign-in of the window.
                "RAPPORT_LOGIN_MAX_ATTEMPTS_PER_IP": "1000000",
            }
        )
        webhook_url = f"http://127.0.0.1:{api_ports[0]}/v1/stripe/webhooks"
        sandbox = Proc(
            "sandbox",
            [
                RAPPORT,
                "stripe-sandbox",
                "--port",
                str(sandbox_port),
                "--webhook-url",
                webhook_url,
                "--webhook-secret",
                WEBHOOK_SECRET,
                "--webhook-clock",
                "wall",
            ],
            env,
            logdir,
        )
        apis = [
            Proc(f"api{i}", [RAPPORT, "serve", "--port", str(p), "--no-migrate"], env, logdir)
            for i, p in enumerate(api_ports)
        ]
        workers = [Proc(f"worker{i}", [RAPPORT, "worker"], env, logdir) for i in range(2)]
        cluster = cls(db_name, logdir, api_ports, sandbox_port, env, sandbox, apis, workers)
        if postgres != "shared":
            cluster.scratch = ScratchPair.create(
                progress=lambda line: print(f"  {line}", flush=True)
            )
            cluster.replica = postgres == "replica"
        return cluster

    async def start(self) -> None:
        if self.scratch is not None:
            # The processes share `env`: what is set here reaches every one of them.
            primary = await asyncio.to_thread(self.scratch.start_primary)
            self.server = f"127.0.0.1:{primary.port}"
            self.env["RAPPORT_DATABASE_URL"] = primary.url(self.db_name)
            # Two API processes: read-your-writes and the rate limits shared through Redis,
            # under a prefix of this run's; the plans generous (a load run, not a limit test).
            self.env["RAPPORT_REDIS_URL"] = "redis://127.0.0.1:6379/0"
            self.env["RAPPORT_REDIS_KEY_PREFIX"] = (
                f"rapport-load-{os.getpid()}-{uuid.uuid4().hex[:6]}"
            )
            self.env["RAPPORT_RATE_LIMIT_PLANS"] = json.dumps(
                {"standard": "100000/minute", "partner": "100000/minute"}
            )
        admin = await asyncpg.connect(self.admin_url)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{self.db_name}"')
            await admin.execute(f'CREATE DATABASE "{self.db_name}"')
        finally:
            await admin.close()
        await asyncio.to_thread(
            subprocess.run,
            [RAPPORT, "migrate"],
            env=self.env,
            cwd=ROOT,
            check=True,
            capture_output=True,
        )
        if self.replica:
            assert self.scratch is not None
            # A copy of the migrated primary, then streaming: the catalogue reads go there.
            standby = await asyncio.to_thread(self.scratch.add_standby)
            self.env["RAPPORT_DATABASE_REPLICA_URL"] = standby.url(self.db_name)
        self.sandbox.start()
        await wait_http(self.sandbox_url + "/_sandbox/clock", proc=self.sandbox)
        for api in self.apis:
            api.start()
        for api, url in zip(self.apis, self.api_urls, strict=True):
            await wait_http(url + "/healthz", proc=api)
        for worker in self.workers:
            worker.start()

    async def restart_api(self, index: int) -> None:
        self.apis[index].start()
        await wait_http(self.api_urls[index] + "/healthz", proc=self.apis[index])

    def stop(self) -> None:
        for proc in [*self.workers, *self.apis, self.sandbox]:
            with contextlib.suppress(Exception):
                proc.stop()

    async def drop(self) -> None:
        admin = await asyncpg.connect(self.admin_url)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{self.db_name}" WITH (FORCE)')
        finally:
            await admin.close()


# --- the client: stats, retries with the same key -----------------------------------------


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return 0.0
    k = max(0, min(len(sorted_values) - 1, round(q * (len(sorted_values) - 1))))
    return sorted_values[k]


@dataclass
class Stats:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    non_2xx: Counter[tuple[str, int, str, bool]] = field(default_factory=Counter)
    transport_errors: Counter[str] = field(default_factory=Counter)
    requests: int = 0
    deals: list[float] = field(default_factory=list)  # completion times (s since start)
    deal_failures: Counter[str] = field(default_factory=Counter)
    duplicates: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    retried: list[dict[str, Any]] = field(default_factory=list)
    # Catalogue reads by where they were read (`Rapport-Read-From`, with a replica).
    read_from: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    # Reads whose answer must show a write: the brand's own just-opened brief (read-your-
    # writes), the creator's read of a brief opened by another account (never a 404 or a draft).
    consistency: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    started: float = field(default_factory=time.monotonic)

    def record(self, route: str, status: int, problem: str, seconds: float, expected: bool) -> None:
        self.requests += 1
        self.latencies[route].append(seconds)
        if not 200 <= status < 300:
            self.non_2xx[(route, status, problem, expected)] += 1

    @property
    def count_5xx(self) -> int:
        return sum(n for (_, status, _, _), n in self.non_2xx.items() if status >= 500)

    @property
    def count_database_busy(self) -> int:
        """The 503s of a database that had no connection or lock free (a shared server full)."""
        return sum(
            n
            for (_, status, t, _), n in self.non_2xx.items()
            if (status, t) == (503, "database-busy")
        )

    def routes(self) -> dict[str, dict[str, float]]:
        out = {}
        for route, values in sorted(self.latencies.items()):
            s = sorted(values)
            out[route] = {
                "count": len(s),
                "p50_ms": round(percentile(s, 0.50) * 1000, 1),
                "p95_ms": round(percentile(s, 0.95) * 1000, 1),
                "p99_ms": round(percentile(s, 0.99) * 1000, 1),
            }
        return out


class Answer:
    def __init__(self, status: int, body: Any, headers: httpx.Headers) -> None:
        self.status, self.body, self.headers = status, body, headers

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def problem(self) -> str:
        if isinstance(self.body, dict) and isinstance(self.body.get("type"), str):
            return self.body["type"].removeprefix(PROBLEM_BASE)
        return "" if self.ok else "(no problem type)"

    def __getitem__(self, key: str) -> Any:
        return self.body[key]


class Failed(Exception):
    """A step of a deal got an answer it cannot go on from."""

    def __init__(self, route: str, answer: Answer | None, why: str = "") -> None:
        status = answer.status if answer else "-"
        problem = answer.problem if answer else why
        super().__init__(f"{route}: {status} {problem}")
        self.label = f"{route} → {status} {problem}".strip()


class Api:
    """The API's processes, each request sent to the next one in turn. Every POST carries an
    Idempotency-Key; a request that lost its connection (or met a 5xx, or a 409 because its key
    is still running) is sent again with the same key to the next process, until it gets a
    definitive answer or `retry_budget` seconds passed."""

    def __init__(self, urls: list[str], stats: Stats, retry_budget: float = 120.0) -> None:
        limits = httpx.Limits(max_connections=200, max_keepalive_connections=100)
        self.clients = [
            httpx.AsyncClient(base_url=u, timeout=httpx.Timeout(120.0), limits=limits) for u in urls
        ]
        self.turn = itertools.count()
        self.stats = stats
        self.retry_budget = retry_budget

    async def aclose(self) -> None:
        for client in self.clients:
            await client.aclose()

    async def call(
        self,
        method: str,
        route: str,
        *,
        token: str | None = None,
        json_body: Any = None,
        form: dict[str, str] | None = None,
        params: dict[str, Any] | None = None,
        key: str | None = None,
        may_fail: bool = False,
        **path: str,
    ) -> Answer:
        url = route.format(**path)
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        if method == "POST" and form is None:
            headers["Idempotency-Key"] = key or uuid.uuid4().hex
        label = f"{method} {route}"
        turn = next(self.turn)
        started = time.monotonic()
        attempts, transport_failures, server_errors = 0, 0, 0
        in_flight = False  # the connection died mid-request (not refused: the process was up)
        while True:
            attempts += 1
            client = self.clients[turn % len(self.clients)]
            t0 = time.perf_counter()
            try:
                response = await client.request(
                    method, url, headers=headers, json=json_body, data=form, params=params
                )
            except httpx.TransportError as exc:
                self.stats.transport_errors[label] += 1
                in_flight = in_flight or not isinstance(exc, httpx.ConnectError)
                transport_failures += 1
                turn += 1
                if time.monotonic() - started > self.retry_budget:
                    self._retried(label, headers, attempts, None, started, may_fail, in_flight)
                    raise Failed(label, None, "no answer (connection lost)") from None
                await asyncio.sleep(min(0.2 * attempts, 2.0))
                continue
            seconds = time.perf_counter() - t0
            try:
                body = response.json() if response.content else None
            except ValueError:
                body = None
            answer = Answer(response.status_code, body, response.headers)
            if "rapport-read-from" in response.headers:
                self.stats.read_from[label][response.headers["rapport-read-from"]] += 1
            in_use = answer.status == 409 and answer.problem == IN_USE
            # A POST is retried with its key after a 5xx; any request after a 503 that says
            # when (Retry-After: the database was full), as a well-behaved client does.
            told_to_wait = answer.status == 503 and "retry-after" in answer.headers
            retryable = in_use or (
                server_errors < 3 and answer.status >= 500 and (method == "POST" or told_to_wait)
            )
            # Expected: a duplicate click's loser, or the 409 a retry waits out; never a 5xx.
            expected = (may_fail and answer.status < 500) or in_use
            self.stats.record(label, answer.status, answer.problem, seconds, expected)
            if retryable and time.monotonic() - started < self.retry_budget:
                server_errors += answer.status >= 500
                turn += 1
                await asyncio.sleep(0.25 if in_use else 0.1)
                continue
            if transport_failures:
                self._retried(label, headers, attempts, answer, started, may_fail, in_flight)
            return answer

    def _retried(
        self,
        label: str,
        headers: dict[str, str],
        attempts: int,
        answer: Answer | None,
        started: float,
        may_fail: bool,
        in_flight: bool,
    ) -> None:
        definitive = answer is not None and not (answer.status == 409 and answer.problem == IN_USE)
        learned = definitive and answer is not None and (answer.ok or may_fail)
        self.stats.retried.append(
            {
                "route": label,
                "key": headers.get("Idempotency-Key"),
                "attempts": attempts,
                "status": answer.status if answer else None,
                "type": answer.problem if answer else "no answer",
                "replayed": bool(answer and answer.headers.get("idempotent-replayed")),
                "learned": learned,
                "in_flight": in_flight,
                "seconds": round(time.monotonic() - started, 2),
            }
        )


def need(answer: Answer, route: str, *statuses: int) -> Answer:
    if answer.status not in (statuses or (200, 201)):
        raise Failed(route, answer)
    return answer


# --- the marketplace's actors --------------------------------------------------------------


@dataclass
class User:
    email: str
    token: str


@dataclass
class Brand(User):
    brand_id: str


@dataclass
class Creator(User):
    account_id: str
    listing_id: str


class Market:
    def __init__(self, api: Api, sandbox_url: str, rng: random.Random) -> None:
        self.api, self.sandbox_url, self.rng = api, sandbox_url, rng
        self.brands: list[Brand] = []
        self.creators: list[Creator] = []
        self.browsers: list[User] = []
        self.opened: list[str] = []  # briefs opened so far: what browsers look at
        self.counter = itertools.count(1)
        today = datetime.now(UTC).date()
        self.dates = {
            "application_deadline": today + timedelta(days=10),
            "content_due": today + timedelta(days=20),
            "publish_start": today + timedelta(days=21),
            "publish_end": today + timedelta(days=45),
            "bid_start": today + timedelta(days=1),
            "reels_due": today + timedelta(days=28),
            "story_due": today + timedelta(days=33),
        }

    def d(self, name: str) -> str:
        value: date = self.dates[name]
        return value.isoformat()

    async def sign_up(self, prefix: str) -> User:
        email = f"{prefix}{next(self.counter)}-{uuid.uuid4().hex[:8]}@load.rapport.dev"
        route = "/v1/auth/register"
        need(
            await self.api.call(
                "POST",
                route,
                json_body={"email": email, "password": PASSWORD, "full_name": prefix.title()},
            ),
            route,
            201,
        )
        route = "/v1/auth/token"
        token = need(
            await self.api.call("POST", route, form={"username": email, "password": PASSWORD}),
            route,
            200,
        )["access_token"]
        return User(email, token)

    async def new_brand(self) -> Brand:
        user = await self.sign_up("brand")
        route = "/v1/brands"
        brand = need(
            await self.api.call(
                "POST", route, token=user.token, json_body={"name": f"Load Brand {user.email[:12]}"}
            ),
            route,
            201,
        )
        made = Brand(user.email, user.token, brand["id"])
        self.brands.append(made)
        return made

    async def new_creator(self) -> Creator:
        user = await self.sign_up("creator")
        route = "/v1/influencers/me"
        listing = need(
            await self.api.call("POST", route, token=user.token, json_body=self.listing()),
            route,
            201,
        )
        route = "/v1/influencers/me/payouts/onboarding"
        link = need(await self.api.call("POST", route, token=user.token), route, 201)
        # The creator opens Stripe's link: the sandbox completes onboarding and redirects back.
        async with httpx.AsyncClient(timeout=30) as browser:
            landed = await browser.get(link["onboarding_url"], follow_redirects=False)
        if landed.status_code not in (302, 303):
            raise Failed("GET onboarding_url", None, f"sandbox answered {landed.status_code}")
        route = "/v1/influencers/me/payouts/account"
        deadline = time.monotonic() + 90
        while True:
            account = need(await self.api.call("GET", route, token=user.token), route, 200)
            if account["status"] == "enabled":
                break
            if time.monotonic() > deadline:
                raise Failed(route, account, f"still {account['status']} after 90 s")
            await asyncio.sleep(0.5)
        made = Creator(user.email, user.token, link["account_id"], listing["id"])
        self.creators.append(made)
        return made

    def listing(self) -> dict[str, Any]:
        handle = f"loadcreator{next(self.counter)}{uuid.uuid4().hex[:6]}"
        return {
            "display_name": f"Creator {handle[-6:]}",
            "bio": "Plant-based recipes and trail running from Stockholm.",
            "country": "SE",
            "languages": ["sv", "en"],
            "topics": ["vegan-food", "running"],
            "content_samples": ["Five-minute oat bowls for race week"],
            "values": ["sustainability"],
            "refused_categories": ["alcohol", "gambling"],
            "available": True,
            "unavailable_until": None,
            "audience": {
                "countries": {"SE": 61.0, "NO": 12.0, "US": 27.0},
                "age_bands": {"18-24": 30.0, "25-34": 45.0, "35-44": 25.0},
                "genders": {"female": 70.0, "male": 28.0, "other": 2.0},
                "languages": {"sv": 60.0, "en": 40.0},
            },
            "accounts": [
                {
                    "platform": "instagram",
                    "handle": handle,
                    "url": f"https://instagram.example/{handle}",
                    "followers": 48200 + self.rng.randint(0, 20000),
                    "avg_views": 21000,
                    "avg_likes": 1900,
                    "avg_comments": 85,
                    "avg_shares": 40,
                    "avg_saves": 120,
                    "posts_per_week": 4.0,
                    "follower_history": [
                        {"date": "2026-06-01", "followers": 41000},
                        {"date": "2026-09-01", "followers": 46000},
                    ],
                }
            ],
            "sponsored_posts": [],
            "rate_card": [
                {"deliverable_type": "instagram_reel", "amount": 90000, "currency": "EUR"}
            ],
        }

    def brief(self, brand: Brand) -> dict[str, Any]:
        return {
            "brand_id": brand.brand_id,
            "title": f"Race-week breakfast #{next(self.counter)}",
            "objective": "awareness",
            "description": "Show how our oat drink fits a runner's breakfast.",
            "must_haves": ["show the carton", "link in bio"],
            "category": "food",
            "target_audience": {
                "countries": ["SE", "NO"],
                "age_bands": ["18-24", "25-34"],
                "genders": ["female"],
                "languages": ["sv"],
            },
            "topics": ["vegan-food", "running"],
            "platforms": ["instagram"],
            "deliverables": [{"type": "instagram_reel", "count": 2}],
            "budget": {
                "currency": "EUR",
                "total": 1_000_000,
                "per_influencer_min": 50_000,
                "per_influencer_max": 150_000,
            },
            "timeline": {
                "application_deadline": self.d("application_deadline"),
                "content_due": self.d("content_due"),
                "publish_start": self.d("publish_start"),
                "publish_end": self.d("publish_end"),
            },
            "terms_defaults": {
                "approval_policy": "first",
                "revision_cap": 2,
                "review_window_hours": 72,
                "usage_rights": {"channels": ["organic"], "days": 30},
                "exclusivity": {"category": "food", "days": 0},
                "disclosure_required": True,
            },
            "kpis": [{"metric": "impressions", "target": 200000}],
            "visibility": "public",
        }

    def offer(self, price: int) -> dict[str, Any]:
        half = price // 2
        return {
            "price": price,
            "deliverables": [
                {
                    "key": "reels",
                    "type": "instagram_reel",
                    "count": 2,
                    "due_date": self.d("reels_due"),
                },
                {
                    "key": "story",
                    "type": "instagram_story",
                    "count": 1,
                    "due_date": self.d("story_due"),
                },
            ],
            "payment_schedule": [
                {"name": "Reels live", "amount": half, "deliverables": ["reels"]},
                {"name": "Wrap-up", "amount": price - half, "on_completion": True},
            ],
        }

    # --- one deal, start to finish ------------------------------------------------------

    async def deal(self, stats: Stats) -> None:
        api, rng = self.api, self.rng
        brand, creator = rng.choice(self.brands), rng.choice(self.creators)
        b, c = brand.token, creator.token

        r = "/v1/briefs"
        brief = need(await api.call("POST", r, token=b, json_body=self.brief(brand)), r, 201)
        r = "/v1/briefs/{brief_id}/open"
        need(await api.call("POST", r, token=b, brief_id=brief["id"]), r, 200)
        self.opened.append(brief["id"])
        # The catalogue's reads (from the replica, where there is one). The brand reads its
        # brief back at once: it must be open (read-your-writes).
        r = "/v1/briefs/{brief_id}"
        own = need(await api.call("GET", r, token=b, brief_id=brief["id"]), r, 200)
        self.consistent(stats, "brand_reads_its_opened_brief", own["state"] == "open")
        r = "/v1/briefs/{brief_id}/matches"
        need(await api.call("GET", r, token=b, params={"limit": 5}, brief_id=brief["id"]), r, 200)
        if rng.random() < 0.3:
            r = "/v1/influencers/me/recommended-briefs"
            need(await api.call("GET", r, token=c, params={"limit": 3}), r, 200)

        # The creator finds the brief (opened by another account a moment ago) and reads it.
        if rng.random() < 0.5:
            r = "/v1/briefs"
            need(await api.call("GET", r, token=c, params={"limit": 10}), r, 200)
        r = "/v1/briefs/{brief_id}"
        seen = await api.call("GET", r, token=c, brief_id=brief["id"])
        self.consistent(
            stats, "creator_reads_a_brief_just_opened", seen.ok and seen["state"] == "open"
        )
        need(seen, r, 200)

        r = "/v1/briefs/{brief_id}/bids"
        bid_body = {
            "price": 100_000,
            "deliverables": [
                {"type": "instagram_reel", "count": 2, "due_date": self.d("reels_due")}
            ],
            "timeline": {
                "start_date": self.d("bid_start"),
                "end_date": self.d("publish_end"),
                "note": "",
            },
            "pitch": "Race-week oats, two reels.",
        }
        bid = need(
            await api.call("POST", r, token=c, json_body=bid_body, brief_id=brief["id"]),
            r,
            201,
        )

        # The brand looks at who bid, and around the catalogue.
        if rng.random() < 0.5:
            r = "/v1/influencers/{influencer_id}"
            need(await api.call("GET", r, token=b, influencer_id=creator.listing_id), r, 200)
        if rng.random() < 0.3:
            r = "/v1/influencers"
            need(await api.call("GET", r, token=b, params={"limit": 10}), r, 200)

        r = "/v1/bids/{bid_id}/offers"
        if rng.random() < 0.15:
            offer = await self.same_key_ten_times(stats, r, b, self.offer(120_000), bid["id"])
        else:
            offer = need(
                await api.call("POST", r, token=b, json_body=self.offer(120_000), bid_id=bid["id"]),
                r,
                201,
            )

        if rng.random() < 0.5:
            # The creator counters; the brand accepts the counter.
            r = "/v1/bids/{bid_id}/offers"
            counter = need(
                await api.call("POST", r, token=c, json_body=self.offer(126_000), bid_id=bid["id"]),
                r,
                201,
            )
            r = "/v1/offers/{offer_id}/accept"
            accepted = need(await api.call("POST", r, token=b, offer_id=counter["id"]), r, 200)
        elif rng.random() < 0.3:
            accepted = await self.accept_ten_times(stats, c, offer["id"])
        else:
            r = "/v1/offers/{offer_id}/accept"
            accepted = need(await api.call("POST", r, token=c, offer_id=offer["id"]), r, 200)
        contract_id = accepted["contract_id"]

        r = "/v1/contracts/{contract_id}/funding"
        need(await api.call("POST", r, token=b, contract_id=contract_id), r, 200)
        r = "/v1/contracts/{contract_id}/funding/confirm"
        pm = {"payment_method": "pm_card_visa"}
        if rng.random() < 0.2:
            answers = await asyncio.gather(
                *(
                    api.call(
                        "POST", r, token=b, json_body=pm, may_fail=True, contract_id=contract_id
                    )
                    for _ in range(2)
                )
            )
            wins = sum(a.ok for a in answers)
            stats.duplicates["funding_confirm_x2"]["runs"] += 1
            stats.duplicates["funding_confirm_x2"][f"{wins}_succeeded"] += 1
            if wins == 0 or any(a.status >= 500 for a in answers):
                stats.duplicates["funding_confirm_x2"]["violations"] += 1
            if wins == 0:
                raise Failed(r, answers[0])
        else:
            need(await api.call("POST", r, token=b, json_body=pm, contract_id=contract_id), r, 200)

        r = "/v1/contracts/{contract_id}"
        deadline = time.monotonic() + 90
        while True:
            contract = need(await api.call("GET", r, token=b, contract_id=contract_id), r, 200)
            if contract["state"] == "active":
                break
            if time.monotonic() > deadline:
                raise Failed(r, contract, f"still {contract['state']} 90 s after funding")
            await asyncio.sleep(0.5)

        published_at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        for deliverable in contract["deliverables"]:
            d_id = deliverable["id"]
            r = "/v1/deliverables/{deliverable_id}"
            got = need(await api.call("GET", r, token=c, deliverable_id=d_id), r, 200)
            if got["draft_required"]:
                r = "/v1/deliverables/{deliverable_id}/drafts"
                draft = need(
                    await api.call(
                        "POST",
                        r,
                        token=c,
                        json_body={
                            "caption": CAPTION,
                            "media_urls": [f"https://cdn.example/{d_id}.mp4"],
                        },
                        deliverable_id=d_id,
                    ),
                    r,
                    201,
                )
                r = "/v1/drafts/{draft_id}/approve"
                await self.clicks(stats, "approve_x2", r, b, 0.15, draft_id=draft["id"])
            r = "/v1/deliverables/{deliverable_id}/proof"
            proof = {
                "url": f"https://www.instagram.com/p/{d_id}",
                "published_at": published_at,
                "platform_post_id": d_id,
                "caption": CAPTION,
            }
            need(await api.call("POST", r, token=c, json_body=proof, deliverable_id=d_id), r, 201)
            r = "/v1/deliverables/{deliverable_id}/proof/confirm"
            await self.clicks(stats, "proof_confirm_x2", r, b, 0.15, deliverable_id=d_id)
        stats.deals.append(time.monotonic() - stats.started)
        if rng.random() < 0.2:
            r = "/v1/influencers/me/earnings"
            need(await api.call("GET", r, token=c), r, 200)

    async def new_browser(self) -> User:
        user = await self.sign_up("browser")
        self.browsers.append(user)
        return user

    async def browse(self, browser: User, end: float) -> None:
        """Someone reading the catalogue and writing nothing: a creator looking for briefs, a
        brand looking for creators (with a replica, these reads are the ones it takes)."""
        api, rng, t = self.api, self.rng, browser.token
        while time.monotonic() < end:
            pick = rng.random()
            if pick < 0.35 or not self.opened:
                r = "/v1/briefs"
                need(await api.call("GET", r, token=t, params={"limit": 20}), r, 200)
            elif pick < 0.65:
                r = "/v1/briefs/{brief_id}"
                need(await api.call("GET", r, token=t, brief_id=rng.choice(self.opened)), r, 200)
            elif pick < 0.85:
                r = "/v1/influencers"
                need(await api.call("GET", r, token=t, params={"limit": 20}), r, 200)
            else:
                r = "/v1/influencers/{influencer_id}"
                listing = rng.choice(self.creators).listing_id
                need(await api.call("GET", r, token=t, influencer_id=listing), r, 200)
            await asyncio.sleep(0.2)  # reading the page

    @staticmethod
    def consistent(stats: Stats, name: str, holds: bool) -> None:
        stats.consistency[name]["reads"] += 1
        if not holds:
            stats.consistency[name]["violations"] += 1

    async def clicks(
        self, stats: Stats, name: str, route: str, token: str, share: float, **path: str
    ) -> Answer:
        """A POST clicked once, or (`share` of the time) twice at once with two keys: one
        succeeds, the other is a 4xx or the same success — never a 5xx."""
        if self.rng.random() >= share:
            return need(await self.api.call("POST", route, token=token, **path), route, 200)
        answers = await asyncio.gather(
            *(self.api.call("POST", route, token=token, may_fail=True, **path) for _ in range(2))
        )
        wins = sum(a.ok for a in answers)
        counts = stats.duplicates[name]
        counts["runs"] += 1
        counts[f"{wins}_succeeded"] += 1
        for a in answers:
            if not a.ok:
                counts[f"refused {a.status} {a.problem}"] += 1
        if wins == 0 or any(a.status >= 500 for a in answers):
            counts["violations"] += 1
        if wins == 0:
            raise Failed(route, answers[0], name)
        return next(a for a in answers if a.ok)

    async def same_key_ten_times(
        self, stats: Stats, route: str, token: str, body: dict[str, Any], bid_id: str
    ) -> Answer:
        """One offer sent 10x at once with one Idempotency-Key: one offer, ten equal answers."""
        key = uuid.uuid4().hex
        answers = await asyncio.gather(
            *(
                self.api.call("POST", route, token=token, json_body=body, key=key, bid_id=bid_id)
                for _ in range(10)
            )
        )
        ids = {a.body.get("id") for a in answers if a.ok and isinstance(a.body, dict)}
        counts = stats.duplicates["same_key_x10"]
        counts["runs"] += 1
        counts["replayed_answers"] += sum(
            bool(a.headers.get("idempotent-replayed")) for a in answers
        )
        if len(ids) != 1 or not all(a.status == 201 for a in answers):
            counts["violations"] += 1
            raise Failed(route, next((a for a in answers if not a.ok), answers[0]), "same key x10")
        return answers[0]

    async def accept_ten_times(self, stats: Stats, token: str, offer_id: str) -> Answer:
        """The same accept clicked 10x at once (ten keys): one contract, nine refusals."""
        route = "/v1/offers/{offer_id}/accept"
        answers = await asyncio.gather(
            *(
                self.api.call("POST", route, token=token, may_fail=True, offer_id=offer_id)
                for _ in range(10)
            )
        )
        wins = [a for a in answers if a.ok]
        counts = stats.duplicates["accept_x10"]
        counts["runs"] += 1
        counts["accepted"] += len(wins)
        for a in answers:
            if not a.ok:
                counts[f"refused {a.status} {a.problem}"] += 1
        contracts = {a["contract_id"] for a in wins}
        if len(contracts) != 1 or any(a.status >= 500 for a in answers):
            counts["violations"] += 1
        if not wins:
            raise Failed(route, answers[0], "accept x10")
        return wins[0]


# --- the database: progress, takeover, checks ----------------------------------------------


async def job_counts(pool: asyncpg.Pool) -> dict[str, int]:
    rows = await pool.fetch(
        "SELECT state, (state = 'pending' AND run_after <= now()) AS due, count(*) "
        "FROM jobs GROUP BY 1, 2"
    )
    out: Counter[str] = Counter()
    for row in rows:
        out[row["state"]] += row["count"]
        if row["due"]:
            out["pending_due"] += row["count"]
    return dict(out)


async def connections(pool: asyncpg.Pool) -> tuple[int, int, int]:
    """(this run's database connections, all of the server's, its max_connections): the server
    is shared with whatever else runs on the machine (test suites), and a full one refuses."""
    row = await pool.fetchrow(
        "SELECT count(*) FILTER (WHERE datname = current_database()) AS ours, count(*) AS every, "
        "current_setting('max_connections')::int AS most FROM pg_stat_activity"
    )
    return row["ours"], row["every"], row["most"]


async def drain(pool: asyncpg.Pool, sandbox: httpx.AsyncClient, within: float) -> float:
    """Waits until Stripe's webhooks are sent and no job is due or running (twice in a row)."""
    started = time.monotonic()
    quiet = 0
    while time.monotonic() - started < within:
        with contextlib.suppress(httpx.HTTPError):
            await sandbox.post("/_sandbox/webhook/wait", json={"timeout_s": 10})
        counts = await job_counts(pool)
        unprocessed = await pool.fetchval(
            "SELECT count(*) FROM stripe_events WHERE processed_at IS NULL"
        )
        if counts.get("running", 0) == 0 and counts.get("pending_due", 0) == 0 and not unprocessed:
            quiet += 1
            if quiet >= 2:
                break
        else:
            quiet = 0
        await asyncio.sleep(1)
    return time.monotonic() - started


def find_check_invariants() -> Any:
    """The project's own `check_invariants(session)`, wherever the ledger module lives."""
    sys.path.insert(0, str(ROOT))
    for name in ("app.services.money.ledger", "app.services.ledger"):
        with contextlib.suppress(ModuleNotFoundError):
            module = importlib.import_module(name)
            if hasattr(module, "check_invariants"):
                return module.check_invariants
    services = importlib.import_module("app.services")
    for info in pkgutil.walk_packages(services.__path__, "app.services."):
        with contextlib.suppress(Exception):
            module = importlib.import_module(info.name)
            if hasattr(module, "check_invariants"):
                return module.check_invariants
    raise RuntimeError("no check_invariants found under app.services")


async def ledger_invariants(cluster: Cluster) -> list[str]:
    for name, value in cluster.env.items():
        if name.startswith("RAPPORT_"):
            os.environ[name] = value
    check_invariants = find_check_invariants()
    from app.db import create_database
    from app.settings import Settings

    database = create_database(Settings())
    try:
        async with database.sessionmaker() as session:
            return list(await check_invariants(session))
    finally:
        await database.dispose()


async def stripe_transfers(sandbox: httpx.AsyncClient) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    params: dict[str, Any] = {"limit": 100}
    while True:
        page = (await sandbox.get("/v1/transfers", params=params)).json()
        out.extend(page["data"])
        if not page.get("has_more"):
            return out
        params["starting_after"] = page["data"][-1]["id"]


async def checks(
    cluster: Cluster, pool: asyncpg.Pool, sandbox: httpx.AsyncClient
) -> dict[str, Any]:
    result: dict[str, Any] = {}
    problems = await ledger_invariants(cluster)
    result["ledger_invariant_violations"] = len(problems)
    result["ledger_invariant_problems"] = problems[:20]

    rows = await pool.fetch(
        "SELECT m.id, m.state, count(t.id) AS n FROM milestones m "
        "LEFT JOIN transfers t ON t.milestone_id = m.id GROUP BY m.id, m.state"
    )
    released = {r["id"] for r in rows if r["state"] == "released"}
    db_bad = [
        f"{r['id']} ({r['state']}): {r['n']} transfer row(s)"
        for r in rows
        if (r["state"] == "released") != (r["n"] == 1) or r["n"] > 1
    ]
    per_milestone: Counter[str] = Counter()
    for transfer in await stripe_transfers(sandbox):
        per_milestone[(transfer.get("metadata") or {}).get("rapport_milestone_id", "?")] += 1
    stripe_bad = [f"{m}: {n} Stripe transfers" for m, n in per_milestone.items() if n != 1]
    stripe_bad += [f"{m}: released, no Stripe transfer" for m in released - set(per_milestone)]
    stripe_bad += [f"{m}: transferred, not released" for m in set(per_milestone) - released]
    result["milestones"] = dict(Counter(r["state"] for r in rows))
    result["released_milestones"] = len(released)
    result["stripe_transfers"] = sum(per_milestone.values())
    result["transfer_per_milestone_violations"] = len(db_bad) + len(stripe_bad)
    result["transfer_per_milestone_problems"] = (db_bad + stripe_bad)[:20]

    result["jobs"] = await job_counts(pool)
    dead = await pool.fetch("SELECT id, topic, last_error FROM jobs WHERE state = 'dead'")
    stuck = await pool.fetch(
        "SELECT id, topic, state, locked_by, last_error FROM jobs "
        "WHERE state = 'running' OR (state = 'pending' AND run_after <= now())"
    )
    waiting = await pool.fetch(
        "SELECT id, topic, run_after, attempts, last_error FROM jobs "
        "WHERE state = 'pending' AND run_after > now()"
    )
    result["dead_jobs"] = [dict(r) for r in dead][:20]
    result["stuck_jobs"] = [dict(r) for r in stuck][:20]
    result["retrying_jobs"] = [
        {**dict(r), "run_after": r["run_after"].isoformat()} for r in waiting
    ][:20]
    result["lost_jobs"] = len(dead) + len(stuck)
    result["unprocessed_stripe_events"] = await pool.fetchval(
        "SELECT count(*) FROM stripe_events WHERE processed_at IS NULL"
    )
    result["idempotency_records_not_done"] = await pool.fetchval(
        "SELECT count(*) FROM idempotency_records WHERE state <> 'done'"
    )
    result["contracts"] = {
        r["state"]: r["count"]
        for r in await pool.fetch("SELECT state, count(*) FROM contracts GROUP BY state")
    }
    result["payouts"] = {
        r["status"]: r["count"]
        for r in await pool.fetch("SELECT status, count(*) FROM payouts GROUP BY status")
    }

    done = await asyncio.to_thread(
        subprocess.run,
        [RAPPORT, "reconcile", "--json"],
        env=cluster.env,
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    try:
        report = json.loads(done.stdout)
        result["reconcile_differences"] = len(report["differences"])
        result["reconcile_checked"] = report.get("checked")
        result["reconcile_problems"] = report["differences"][:20]
    except (ValueError, KeyError):
        result["reconcile_differences"] = None
        result["reconcile_problems"] = [done.stdout[-2000:], done.stderr[-2000:]]
    return result


# --- the kill ------------------------------------------------------------------------------


async def kill_and_restart(
    cluster: Cluster, pool: asyncpg.Pool, report: dict[str, Any], api_index: int = 1
) -> None:
    """kill -9 of worker 1 once it holds claimed jobs, and of API process `api_index`; both
    restarted 5 s later. Then watches the dead worker's claimed jobs until other workers
    finished them."""
    victim = cluster.workers[1]
    pattern = f"%:{victim.pid}:%"
    claimed: list[str] = []
    looked = time.monotonic()
    while time.monotonic() - looked < 20:
        claimed = [
            r["id"]
            for r in await pool.fetch(
                "SELECT id FROM jobs WHERE state = 'running' AND locked_by LIKE $1", pattern
            )
        ]
        if claimed:
            break
        await asyncio.sleep(0.005)
    victim.kill9()
    killed_at = time.monotonic()
    # What it held at the moment of death (a claim may have landed since the last look).
    claimed = [
        r["id"]
        for r in await pool.fetch(
            "SELECT id FROM jobs WHERE state = 'running' AND locked_by LIKE $1", pattern
        )
    ] or claimed
    cluster.apis[api_index].kill9()
    api_killed_at = time.monotonic()
    report["worker_pid"] = victim.pid
    report["api_killed"] = api_index
    report["worker_jobs_claimed_at_kill"] = len(claimed)
    report["worker_waited_for_claim_s"] = round(killed_at - looked, 2)

    async def restart() -> None:
        await asyncio.sleep(5)
        victim.start()
        await asyncio.sleep(max(0.0, 5 - (time.monotonic() - api_killed_at)))
        await cluster.restart_api(api_index)
        report["api_back_after_s"] = round(time.monotonic() - api_killed_at, 2)

    restarting = asyncio.create_task(restart())
    taken_over: dict[str, float] = {}
    while claimed and len(taken_over) < len(claimed) and time.monotonic() - killed_at < 400:
        rows = await pool.fetch(
            "SELECT id, state, locked_by FROM jobs WHERE id = ANY($1::text[])", claimed
        )
        for row in rows:
            # Finished by another worker (the dead one finishes nothing); a retry's backoff
            # or a dead letter counts as not taken over.
            if row["id"] not in taken_over and row["state"] == "succeeded":
                taken_over[row["id"]] = time.monotonic() - killed_at
        await asyncio.sleep(0.25)
    await restarting
    final = await pool.fetch(
        "SELECT id, topic, state, attempts, last_error FROM jobs WHERE id = ANY($1::text[])",
        claimed,
    )
    report["worker_jobs"] = [dict(r) for r in final]
    report["worker_jobs_finished"] = len(taken_over)
    report["worker_takeover_s"] = round(max(taken_over.values()), 2) if taken_over else None


# --- one run -------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    model = cpu_model()
    return {
        "cpu": model if model != "unknown" else platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "memory_gib": memory_gb(),
        "python": platform.python_version(),
        "os": f"{platform.system()} {platform.release()}",
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    logdir = Path(args.logs or tempfile.mkdtemp(prefix="rapport-load-"))
    logdir.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 - once, before anything runs
    postgres = "replica" if args.replica else "scratch" if args.scratch_primary else "shared"
    cluster = Cluster.create(logdir, postgres)
    mode = ("kill" if args.kill else "normal") + ("" if postgres == "shared" else f"-{postgres}")
    print(f"[{mode}] database {cluster.db_name}; logs in {logdir}", flush=True)
    stats = Stats()
    api = Api(cluster.api_urls, stats)
    pool: asyncpg.Pool | None = None
    sandbox = httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{cluster.sandbox_port}",
        headers={"Authorization": f"Bearer {STRIPE_KEY}"},
        timeout=60,
    )
    result: dict[str, Any] = {
        "mode": mode,
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "duration_s": args.duration,
        "users": args.users,
        "brands": args.brands,
        "creators": args.creators,
        "browsers": args.browsers,
        "seed": args.seed,
        # shared: the server at 5432; scratch: a primary cluster of this run's own; replica:
        # that primary and a streaming standby the catalogue reads come from.
        "postgres": postgres,
        # The machine is shared: what else ran shows here (2 cores: 2.0 is full).
        "load_average_before": round(os.getloadavg()[0], 2),
    }
    try:
        await cluster.start()
        pool = await asyncpg.create_pool(cluster.database_url, min_size=1, max_size=3)
        result["postgresql"] = (await pool.fetchval("SHOW server_version")).split()[0]
        market = Market(api, cluster.sandbox_url, random.Random(args.seed))
        stats.started = time.monotonic()
        # The cast: brands and creators sign up (creators onboard their payouts), at once.
        await asyncio.gather(
            *(market.new_brand() for _ in range(args.brands)),
            *(market.new_creator() for _ in range(args.creators)),
            *(market.new_browser() for _ in range(args.browsers)),
        )
        result["setup_s"] = round(time.monotonic() - stats.started, 1)
        print(
            f"[{mode}] {args.brands} brands and {args.creators} creators ready in "
            f"{result['setup_s']} s",
            flush=True,
        )

        stats.started = time.monotonic()
        end = stats.started + args.duration
        failures: list[str] = []

        async def user() -> None:
            while time.monotonic() < end:
                try:
                    await market.deal(stats)
                except Failed as exc:
                    stats.deal_failures[exc.label] += 1
                    if len(failures) < 30:
                        failures.append(str(exc))
                    await asyncio.sleep(0.5)

        peak = {"ours": 0, "every": 0, "max_connections": 0}
        lag = {"max_replay_lag_ms": 0.0, "samples": 0}

        async def replica_lag() -> str:
            if not cluster.replica:
                return ""
            row = await pool.fetchrow(
                "SELECT state, coalesce(extract(epoch FROM replay_lag), 0) * 1000 AS ms "
                "FROM pg_stat_replication"
            )
            if row is None:
                return " replica=absent"
            lag["max_replay_lag_ms"] = max(lag["max_replay_lag_ms"], float(row["ms"]))
            lag["samples"] += 1
            return f" replica={row['state']} replay_lag={float(row['ms']):.0f}ms"

        async def progress() -> None:
            last_t, last_req = 0.0, 0
            while True:
                await asyncio.sleep(args.progress)
                t = time.monotonic() - stats.started
                jobs = await job_counts(pool)
                ours, every, most = await connections(pool)
                peak["ours"], peak["every"] = max(peak["ours"], ours), max(peak["every"], every)
                peak["max_connections"] = most
                deals = len(stats.deals)
                print(
                    f"[{mode}] t={t:5.1f}s deals={deals} ({deals / t * 60:.0f}/min) "
                    f"req={stats.requests} ({(stats.requests - last_req) / (t - last_t):.0f}/s) "
                    f"non2xx={sum(stats.non_2xx.values())} 5xx={stats.count_5xx} "
                    f"conn_errors={sum(stats.transport_errors.values())} "
                    f"deal_failures={sum(stats.deal_failures.values())} "
                    f"jobs pending={jobs.get('pending', 0)} running={jobs.get('running', 0)} "
                    f"dead={jobs.get('dead', 0)} "
                    f"db_conn={ours}/{every}/{most}" + await replica_lag(),
                    flush=True,
                )
                last_t, last_req = t, stats.requests

        kill_report: dict[str, Any] = {}

        async def killer() -> None:
            await asyncio.sleep(args.duration * args.kill_at)
            print(
                f"[{mode}] kill -9: worker 1 (when it holds jobs) and API process {args.kill_api}",
                flush=True,
            )
            await kill_and_restart(cluster, pool, kill_report, args.kill_api)
            print(
                f"[{mode}] restarted; takeover {kill_report.get('worker_takeover_s')} s", flush=True
            )

        ticker = asyncio.create_task(progress())

        async def browser(who: User) -> None:
            while time.monotonic() < end:
                try:
                    await market.browse(who, end)
                except Failed as exc:
                    stats.deal_failures[f"browsing: {exc.label}"] += 1
                    await asyncio.sleep(0.5)

        tasks = [asyncio.create_task(user()) for _ in range(args.users)]
        tasks += [asyncio.create_task(browser(b)) for b in market.browsers]
        if args.kill:
            tasks.append(asyncio.create_task(killer()))
        await asyncio.gather(*tasks)
        ticker.cancel()
        window = [t for t in stats.deals if t <= args.duration]
        result["deals"] = len(window)
        result["deals_after_end"] = len(stats.deals) - len(window)
        result["deals_per_min"] = round(len(window) / args.duration * 60, 1)
        result["requests"] = stats.requests
        result["requests_per_s"] = round(stats.requests / (time.monotonic() - stats.started), 1)
        result["responses_5xx"] = stats.count_5xx
        result["responses_503_database_busy"] = stats.count_database_busy
        result["routes"] = stats.routes()
        result["non_2xx"] = [
            {"route": r, "status": s, "type": t, "expected": e, "count": n}
            for (r, s, t, e), n in sorted(stats.non_2xx.items(), key=lambda kv: -kv[1])
        ]
        result["transport_errors"] = dict(stats.transport_errors)
        result["db_connections_peak"] = peak
        result["load_average_after"] = round(os.getloadavg()[0], 2)
        result["deal_failures"] = dict(stats.deal_failures)
        result["deal_failure_examples"] = failures[:10]
        result["duplicates"] = {k: dict(v) for k, v in stats.duplicates.items()}
        result["read_from"] = {k: dict(v) for k, v in sorted(stats.read_from.items())}
        result["consistency"] = {k: dict(v) for k, v in sorted(stats.consistency.items())}
        if cluster.replica:
            served = Counter[str]()
            for counts in stats.read_from.values():
                served.update(counts)
            result["replica"] = {
                "reads_from_replica": served.get("replica", 0),
                "reads_from_primary": served.get("primary", 0),
                "max_replay_lag_ms": round(lag["max_replay_lag_ms"], 1),
                "lag_samples": lag["samples"],
            }
        if args.kill:
            retried = stats.retried
            result["kill"] = kill_report | {
                "retrying_clients": len(retried),
                "in_flight_at_kill": sum(r["in_flight"] for r in retried),
                "in_flight_learned": sum(r["in_flight"] and r["learned"] for r in retried),
                "learned_outcome": sum(r["learned"] for r in retried),
                "never_learned": sum(not r["learned"] for r in retried),
                "never_learned_examples": [r for r in retried if not r["learned"]][:10],
                "replayed_after_retry": sum(r["replayed"] for r in retried),
                "max_seconds_to_learn": max((r["seconds"] for r in retried), default=0),
            }

        print(f"[{mode}] load over: {result['deals']} deals; draining", flush=True)
        result["drain_s"] = round(await drain(pool, sandbox, args.drain_timeout), 1)
        # A week on Stripe's clock: funds become available, the daily schedule pays out.
        await sandbox.post("/_sandbox/clock", json={"advance": 7 * 86_400})
        result["payout_drain_s"] = round(await drain(pool, sandbox, args.drain_timeout), 1)
        print(f"[{mode}] checking", flush=True)
        result["checks"] = await checks(cluster, pool, sandbox)
        result["targets"] = targets(result)
        return result
    finally:
        if pool is not None:
            await pool.close()
        await api.aclose()
        await sandbox.aclose()
        cluster.stop()
        if cluster.scratch is not None:
            # Scratch clusters die with this process anyway (their servers are its children):
            # they are stopped and removed, --keep-db or not.
            cluster.scratch.stop()
        elif not args.keep_db:
            with contextlib.suppress(Exception):
                await cluster.drop()
        if not args.logs and not args.keep_logs:
            shutil.rmtree(logdir, ignore_errors=True)


def targets(result: dict[str, Any]) -> dict[str, bool]:
    c = result["checks"]
    out = {
        "no_5xx": result["responses_5xx"] == 0,
        "no_invariant_violation": c["ledger_invariant_violations"] == 0,
        "one_transfer_per_released_milestone": c["transfer_per_milestone_violations"] == 0,
        "no_reconcile_difference": c["reconcile_differences"] == 0,
        "no_lost_job": c["lost_jobs"] == 0,
        "no_duplicate_click_violation": all(
            d.get("violations", 0) == 0 for d in result["duplicates"].values()
        ),
        "reads_show_the_writes_they_must": all(
            d.get("violations", 0) == 0 for d in result.get("consistency", {}).values()
        ),
    }
    if "kill" in result:
        k = result["kill"]
        out["every_retrying_client_learns"] = k["never_learned"] == 0
        out["dead_worker_jobs_taken_over_within_30s"] = (
            k["worker_takeover_s"] is not None and k["worker_takeover_s"] <= 30
        )
    return out


# --- output --------------------------------------------------------------------------------


MODES = {
    "normal": "Normal run",
    "kill": "Kill run (`--kill`)",
    "normal-scratch": "Scratch primary, no replica (`--scratch-primary`)",
    "normal-replica": "Scratch primary and a streaming standby (`--replica`)",
    "kill-scratch": "Kill run on a scratch primary (`--kill --scratch-primary`)",
    "kill-replica": "Kill run with a streaming standby (`--kill --replica`)",
}
POSTGRES = {
    "shared": "the shared server at 5432",
    "scratch": "a scratch cluster of the run's own, Redis for the two API processes",
    "replica": "a scratch primary and a streaming standby serving the catalogue's reads, Redis "
    "for the two API processes",
}
CATALOGUE = (
    "GET /v1/briefs",
    "GET /v1/briefs/{brief_id}",
    "GET /v1/influencers",
    "GET /v1/influencers/{influencer_id}",
)


def _replica_comparison(runs: dict[str, Any]) -> list[str]:
    """The two `make load REPLICA=1` runs side by side."""
    without, with_ = runs.get("normal-scratch"), runs.get("normal-replica")
    if not (without and with_):
        return []
    lines = [
        "## With and without a read replica",
        "",
        f"The same run twice on a scratch primary: alone ({without['date']}, load average "
        f"{without.get('load_average_before')} → {without.get('load_average_after')}), and with "
        f"a streaming standby the catalogue's reads come from ({with_['date']}, "
        f"{with_.get('load_average_before')} → {with_.get('load_average_after')}).",
        "",
        "| figure | primary only | with the replica |",
        "|---|---:|---:|",
        f"| deals/min | {without['deals_per_min']} | {with_['deals_per_min']} |",
        f"| requests/s | {without['requests_per_s']} | {with_['requests_per_s']} |",
        f"| responses 5xx | {without['responses_5xx']} | {with_['responses_5xx']} |",
        "| targets met | "
        + " | ".join("all" if all(r["targets"].values()) else "NOT all" for r in (without, with_))
        + " |",
    ]
    for route in CATALOGUE:
        a, b = without["routes"].get(route), with_["routes"].get(route)
        if a and b:
            lines.append(
                f"| `{route}` p50 / p95 ms | {a['p50_ms']} / {a['p95_ms']} | "
                f"{b['p50_ms']} / {b['p95_ms']} |"
            )
    rep = with_.get("replica", {})
    lines += [
        f"| catalogue reads served by the replica | none | {rep.get('reads_from_replica')} of "
        f"{rep.get('reads_from_replica', 0) + rep.get('reads_from_primary', 0)} |",
        "",
    ]
    return lines


def _machine_line(m: dict[str, Any]) -> str:
    return (
        f"Machine: {m.get('cpu')}, {m.get('cores')} cores, {m.get('memory_gib')} GiB, "
        f"Python {m.get('python')}, {m.get('os')}."
    )


def render_markdown(doc: dict[str, Any]) -> str:
    lines = [
        "# Load under fire: results",
        "",
        "Written by `benchmarks/load/run.py` (`make load`); see benchmarks/load/README.md for",
        "what is measured. Two API processes, two workers, the Stripe sandbox and the load",
        "generator share one machine (each run names it).",
        "",
    ]
    runs = doc.get("runs", {})
    lines += _replica_comparison(runs)
    for mode in MODES:
        r = runs.get(mode)
        if not r:
            continue
        c = r["checks"]
        title = MODES[mode]
        lines += [
            f"## {title} — {r['date']}",
            "",
            f"{r['duration_s']} s, {r['users']} virtual users, {r['brands']} brands, "
            f"{r['creators']} creators, {r.get('browsers', 0)} browsers "
            f"(set-up {r['setup_s']} s), PostgreSQL "
            f"{r.get('postgresql')} ({POSTGRES[r.get('postgres', 'shared')]}). "
            f"Load average (1 min) before / after the load: "
            f"{r.get('load_average_before')} / {r.get('load_average_after')}.",
            "",
            # Older runs recorded one machine for the whole file.
            _machine_line(r.get("machine") or doc.get("machine", {})),
            "",
            "| figure | value |",
            "|---|---:|",
            f"| deals completed (every proof confirmed) | {r['deals']} |",
            f"| deals/min | {r['deals_per_min']} |",
            f"| requests (req/s) | {r['requests']} ({r['requests_per_s']}) |",
            f"| responses 5xx (of them 503 `database-busy`, retried) | {r['responses_5xx']} "
            f"({r.get('responses_503_database_busy', 0)}) |",
            f"| deals that failed a step | {sum(r['deal_failures'].values())} |",
            f"| ledger invariant violations | {c['ledger_invariant_violations']} |",
            f"| released milestones / Stripe transfers | {c['released_milestones']} / "
            f"{c['stripe_transfers']} |",
            f"| transfer-per-milestone violations | {c['transfer_per_milestone_violations']} |",
            f"| dead / stuck jobs | {len(c['dead_jobs'])} / {len(c['stuck_jobs'])} |",
            f"| jobs waiting for a retry | {len(c['retrying_jobs'])} |",
            f"| unprocessed Stripe events | {c['unprocessed_stripe_events']} |",
            f"| reconcile differences | {c['reconcile_differences']} |",
            "| payouts (by status, after the clock moved 7 days) | "
            + (", ".join(f"{k} {v}" for k, v in sorted(c["payouts"].items())) or "none")
            + " |",
        ]
        if "db_connections_peak" in r:
            p = r["db_connections_peak"]
            lines.append(
                f"| PostgreSQL connections at peak: this run / the server / max | "
                f"{p['ours']} / {p['every']} / {p['max_connections']} |"
            )
        if "replica" in r:
            rep = r["replica"]
            lines += [
                f"| catalogue reads from the replica / from the primary | "
                f"{rep['reads_from_replica']} / {rep['reads_from_primary']} |",
                f"| the standby's replay lag at most (sampled every progress line) | "
                f"{rep['max_replay_lag_ms']} ms |",
            ]
        for name, counts in r.get("consistency", {}).items():
            lines.append(
                f"| `{name}`: reads / stale | {counts.get('reads', 0)} / "
                f"{counts.get('violations', 0)} |"
            )
        if "kill" in r:
            k = r["kill"]
            lines += [
                f"| worker jobs claimed at kill / finished by another | "
                f"{k['worker_jobs_claimed_at_kill']} / {k['worker_jobs_finished']} |",
                f"| dead worker's jobs taken over after (s) | {k['worker_takeover_s']} |",
                f"| requests in flight at the kill / learned their outcome | "
                f"{k['in_flight_at_kill']} / {k['in_flight_learned']} |",
                f"| clients retrying with their key / never learned | "
                f"{k['retrying_clients']} / {k['never_learned']} |",
                f"| longest wait to learn (s) | {k['max_seconds_to_learn']} |",
            ]
        lines += [
            "",
            "Targets: "
            + ", ".join(f"{name} {'✓' if ok else '✗'}" for name, ok in r["targets"].items()),
            "",
        ]
        if r.get("read_from"):
            lines += [
                "Read from (`Rapport-Read-From`): "
                + "; ".join(
                    f"`{route}` " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
                    for route, counts in r["read_from"].items()
                ),
                "",
            ]
        if r["duplicates"]:
            lines += [
                "Duplicate clicks: "
                + "; ".join(
                    f"{name}: " + ", ".join(f"{k} {v}" for k, v in sorted(d.items()))
                    for name, d in sorted(r["duplicates"].items())
                ),
                "",
            ]
        lines += ["| route | n | p50 ms | p95 ms | p99 ms |", "|---|---:|---:|---:|---:|"]
        for route, s in r["routes"].items():
            lines.append(
                f"| `{route}` | {s['count']} | {s['p50_ms']} | {s['p95_ms']} | {s['p99_ms']} |"
            )
        lines += ["", "Every non-2xx answer (expected: a duplicate click's loser, or a retry):", ""]
        lines += ["| route | status | type | expected | n |", "|---|---:|---|---|---:|"]
        for e in r["non_2xx"]:
            lines.append(
                f"| `{e['route']}` | {e['status']} | {e['type']} | "
                f"{'yes' if e['expected'] else 'no'} | {e['count']} |"
            )
        if r["deal_failures"]:
            lines += ["", "Deals that stopped at a step:", ""]
            lines += [f"- {k}: {v}" for k, v in r["deal_failures"].items()]
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of load")
    parser.add_argument("--users", type=int, default=16, help="concurrent virtual users (deals)")
    parser.add_argument("--brands", type=int, default=8)
    parser.add_argument("--creators", type=int, default=12)
    parser.add_argument(
        "--browsers",
        type=int,
        default=0,
        help="accounts that only read the catalogue (make load REPLICA=1: 4)",
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--kill", action="store_true", help="kill -9 a worker and an API process")
    parser.add_argument(
        "--kill-api",
        type=int,
        choices=(0, 1),
        default=1,
        help="which API process to kill (0 receives the sandbox's webhooks)",
    )
    parser.add_argument("--kill-at", type=float, default=0.4, help="when, as a share of the run")
    parser.add_argument("--progress", type=float, default=5.0, help="seconds between lines")
    parser.add_argument("--drain-timeout", type=float, default=180.0)
    parser.add_argument("--json", type=Path, help="merge this run into a JSON file (by mode)")
    parser.add_argument("--markdown", type=Path, help="render the JSON file's runs here")
    parser.add_argument("--logs", help="keep the processes' logs in this folder")
    parser.add_argument("--keep-logs", action="store_true")
    parser.add_argument("--keep-db", action="store_true", help="leave the scratch database")
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--scratch-primary",
        action="store_true",
        help="a PostgreSQL cluster of this run's own (initdb, another port) instead of 5432",
    )
    where.add_argument(
        "--replica",
        action="store_true",
        help="that scratch primary plus a streaming standby of it (pg_basebackup -R); the API "
        "processes read the catalogue from the standby",
    )
    args = parser.parse_args()

    # SIGTERM (timeout, make interrupted) unwinds like Ctrl+C: the processes stop, the
    # scratch database is dropped.
    signal.signal(signal.SIGTERM, lambda signum, _frame: sys.exit(128 + signum))
    try:
        result = asyncio.run(run(args))
    except Failed as exc:  # the cast could not even sign up: nothing to measure
        sys.exit(f"load run stopped during set-up: {exc} (--logs DIR keeps the processes' logs)")
    doc: dict[str, Any] = {"runs": {}}
    if args.json and args.json.exists():
        with contextlib.suppress(ValueError):
            doc = json.loads(args.json.read_text())
    result["machine"] = machine()
    # Each run names its machine (older files had one for all their runs).
    doc_machine = doc.pop("machine", {})
    for earlier in doc.get("runs", {}).values():
        earlier.setdefault("machine", doc_machine)
    doc.setdefault("runs", {})[result["mode"]] = result
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(doc, indent=2, default=str) + "\n")
    if args.markdown:
        args.markdown.write_text(render_markdown(doc))
    summary = {k: result.get(k) for k in ("deals", "deals_per_min", "responses_5xx")}
    print(json.dumps({"summary": summary, "targets": result["targets"]}, indent=2))
    print(
        json.dumps(
            {k: v for k, v in result["checks"].items() if not k.endswith("problems")},
            indent=2,
            default=str,
        )[:4000]
    )


if __name__ == "__main__":
    main()
