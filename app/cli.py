"""The `rapport` command."""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, cast

import typer
from pydantic import ValidationError

from app.settings import Settings
from app.settings import get_settings as _load_settings

# The commands import what they need inside themselves: `rapport --help` or `rapport migrate`
# does not pay for the whole app (FastAPI, every service, numpy) it does not use.

cli = typer.Typer(
    help="Rapport: influencer marketplace API",
    no_args_is_help=True,
    # A mistake in a command line or the environment is one message, never a page of traceback.
    pretty_exceptions_show_locals=False,
)

DEV_TOOLS_HINT = (
    "the development tools (rapport_dev) are not installed here; "
    "from a checkout: pip install -e '.[dev]'"
)


def get_settings() -> Settings:
    """The settings, or one line per invalid RAPPORT_* variable and exit code 2."""
    try:
        return _load_settings()
    except ValidationError as exc:
        for error in exc.errors():
            field = ".".join(str(p) for p in error["loc"])
            name = f"RAPPORT_{field.upper()}: " if field else ""
            typer.echo(f"invalid configuration: {name}{error['msg']}", err=True)
        raise typer.Exit(2) from None


def _dev_tool(module: str, command: str) -> Any:
    """A module of rapport_dev (not in the production image), or one line saying how to get it."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name is None or not exc.name.startswith("rapport_dev"):
            raise
        typer.echo(f"rapport {command}: {DEV_TOOLS_HINT}", err=True)
        raise typer.Exit(1) from None


def _iso_date(value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a date in YYYY-MM-DD form") from None


def _iso_datetime(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(
            f"{value!r} is not an ISO date or date-time (2026-12-01 or 2026-12-01T09:00:00Z)"
        ) from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


@cli.command()
def migrate(revision: str = typer.Argument("head", help="Alembic revision to upgrade to")) -> None:
    """Upgrade the configured database's schema."""
    from app.migrations_state import upgrade

    settings = get_settings()
    upgrade(settings.database_url, revision)
    typer.echo(f"database at {revision}")


@cli.command()
def serve(
    host: str | None = typer.Option(None, help="bind address (default RAPPORT_HOST)"),
    port: int | None = typer.Option(None, help="port (default RAPPORT_PORT)"),
    migrate_first: bool = typer.Option(True, "--migrate/--no-migrate", help="upgrade first"),
) -> None:
    """Migrate, seed demo data into an empty database (when enabled), and serve the API."""
    import uvicorn

    from app.main import create_app
    from app.migrations_state import upgrade

    settings = get_settings()
    if host or port:
        # The onboarding return/refresh URLs and the sandbox's webhook URL follow them.
        overrides: dict[str, Any] = {k: v for k, v in {"host": host, "port": port}.items() if v}
        try:
            settings = Settings(**overrides)
        except ValidationError as exc:
            raise typer.BadParameter(str(exc.errors()[0]["msg"])) from None
    host, port = settings.host, settings.port
    if migrate_first:
        upgrade(settings.database_url)
    if settings.demo_data and settings.environment != "production":
        _seed_demo_data(settings)
    _start_local_stripe_sandbox(settings, f"http://{host}:{port}/v1/stripe/webhooks")
    from app.services.money.stripe_health import startup_report

    # Stored Stripe ids the configured Stripe does not know (a wiped sandbox, the wrong key).
    stripe_warning = asyncio.run(startup_report(settings))
    if stripe_warning:
        typer.echo(stripe_warning, err=True)
    typer.echo(f"Rapport API on http://{host}:{port} — docs at {settings.public_url}/docs")
    _exit_cleanly_on_sigterm()
    uvicorn.run(create_app(settings), host=host, port=port, log_config=None)


def _exit_cleanly_on_sigterm() -> None:
    """uvicorn shuts down on SIGTERM, then raises the signal again with the handler it found:
    this one turns it into a normal exit, so atexit stops the Stripe sandbox child instead of
    leaving it running on its port."""
    import signal

    def _exit(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, _exit)


def _seed_demo_data(settings: Settings) -> None:
    from app.db import create_database

    if importlib.util.find_spec("rapport_dev") is None:
        typer.echo(f"no demo data: {DEV_TOOLS_HINT}")
        return
    # By name, like every dev tool: the product never imports rapport_dev (import-linter).
    demo = importlib.import_module("rapport_dev.demo")

    database = create_database(settings)
    seeded = asyncio.run(demo.seed_demo(database, settings))
    asyncio.run(database.dispose())
    if seeded:
        typer.echo("seeded demo data")
    accounts = ", ".join(demo.DEMO_ACCOUNTS.values())
    typer.echo(f"demo accounts (password {demo.DEMO_PASSWORD}): {accounts}")


def _start_local_stripe_sandbox(settings: Any, webhook_url: str) -> None:
    """Outside production, when Stripe is configured as a local sandbox that is not running
    yet, start one beside the API (a child process, stopped with it) that signs its webhooks
    with our secret and sends them to our webhook endpoint."""
    import atexit
    import socket
    import subprocess
    import sys
    from urllib.parse import urlparse

    base = settings.stripe_api_base
    if settings.environment == "production" or not base:
        return
    url = urlparse(base)
    if url.hostname not in ("127.0.0.1", "localhost") or url.port is None:
        return
    with socket.socket() as probe:
        if probe.connect_ex((url.hostname, url.port)) == 0:
            typer.echo(f"Stripe sandbox already running at {base}")
            return
    if importlib.util.find_spec("rapport_dev") is None:
        typer.echo(f"no Stripe sandbox at {base} (payments will answer 503): {DEV_TOOLS_HINT}")
        return
    command = [
        sys.executable,
        "-m",
        "app.cli",
        "stripe-sandbox",
        "--host",
        url.hostname,
        "--port",
        str(url.port),
        "--webhook-url",
        webhook_url,
        "--webhook-secret",
        settings.stripe_webhook_secrets[0],
        # Its state beside the database, so a restart keeps the accounts and money the
        # database names; webhooks signed with wall time, as the API's clock never moves.
        "--state",
        str(_stripe_sandbox_state_path(settings)),
        "--webhook-clock",
        "wall",
    ]
    child = subprocess.Popen(command)  # noqa: S603 - our own interpreter and module
    atexit.register(child.terminate)
    if not _wait_until_listening(child, url.hostname, url.port):
        typer.echo(
            f"the Stripe sandbox did not start (exit code {child.poll()}, its output is above): "
            "payments will answer 503 until one runs at " + base,
            err=True,
        )
        return
    typer.echo(f"Stripe sandbox on {base} (webhooks to {webhook_url}); test card: pm_card_visa")


def _stripe_sandbox_state_path(settings: Any) -> Path:
    """`stripe-sandbox.json` beside the SQLite database (`var/` by default), or in `var/`."""
    database = settings.sqlite_path()
    folder = database.parent if database is not None else Path("var")
    return folder / "stripe-sandbox.json"


def _wait_until_listening(child: Any, host: str, port: int, timeout: float = 30.0) -> bool:
    """True once the child accepts connections; False when it died or never listened."""
    import socket
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if child.poll() is not None:
            return False
        with socket.socket() as probe:
            if probe.connect_ex((host, port)) == 0:
                return True
        time.sleep(0.1)
    return False


@cli.command()
def healthcheck(
    path: str = typer.Option("/healthz", help="the path to ask (/readyz checks the database)"),
    timeout: float = typer.Option(3.0, min=0.1, help="seconds to wait for the answer"),
) -> None:
    """Exit 0 when the API here answers 200 on RAPPORT_PORT (the image's health check)."""
    import urllib.error
    import urllib.request

    settings = get_settings()
    host = "127.0.0.1" if settings.host in ("", "0.0.0.0", "::") else settings.host  # noqa: S104
    url = f"http://{host}:{settings.port}{path}"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as answer:
            status = answer.status
    except (urllib.error.URLError, OSError) as exc:
        typer.echo(f"unhealthy: {url}: {getattr(exc, 'reason', exc)}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"healthy: {url} answered {status}")


@cli.command()
def worker(
    concurrency: int = typer.Option(4, min=1, help="jobs this process runs at once"),
    poll: float | None = typer.Option(
        None, help="seconds an idle worker waits (default RAPPORT_WORKER_POLL_SECONDS)"
    ),
    once: bool = typer.Option(False, "--once", help="one pass over due work, then exit"),
) -> None:
    """Fire due timers and relay outbox jobs until stopped (run any number on PostgreSQL)."""
    from app.worker.runner import run_worker_process

    settings = get_settings()
    report = asyncio.run(
        run_worker_process(
            settings,
            concurrency=concurrency,
            poll_interval=poll if poll is not None else settings.worker_poll_seconds,
            once=once,
        )
    )
    if report is not None:
        typer.echo(
            f"timers: {vars(report.timers)}; jobs: {vars(report.jobs)}; purged: "
            f"{report.idempotency_purged} idempotency records, {report.oauth_purged.codes} OAuth "
            f"codes, {report.oauth_purged.tokens} OAuth tokens"
        )


@cli.command()
def openapi(
    output: Path = typer.Option(Path("openapi/openapi.json"), help="where to write the spec"),
) -> None:
    """Write the OpenAPI document the app serves."""
    from app.main import create_app

    spec = create_app().openapi()
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(spec, indent=2, sort_keys=True, ensure_ascii=False) + "\n")
    typer.echo(f"wrote {output}")


@cli.command("create-operator")
def create_operator(
    email: str = typer.Argument(..., help="the operator's email"),
    full_name: str = typer.Option("Operator", help="display name"),
    password: str = typer.Option(..., prompt=True, hide_input=True, confirmation_prompt=True),
) -> None:
    """Create an operator account, or make an existing account an operator."""
    from sqlalchemy import select

    from app.db import create_database
    from app.models import User
    from app.security import AccessTokens, Passwords
    from app.services.identity.users import Identity, normalise_email

    settings = get_settings()

    async def run() -> str:
        database = create_database(settings)
        identity = Identity(settings, Passwords(settings), AccessTokens(settings))
        try:
            async with database.sessionmaker() as session, session.begin():
                user = await session.scalar(
                    select(User).where(User.email == normalise_email(email))
                )
                if user is None:
                    user = await identity.register(session, email, password, full_name)
                user.is_operator = True
                return user.id
        finally:
            await database.dispose()

    typer.echo(f"operator {asyncio.run(run())}")


@cli.command("stripe-sandbox")
def stripe_sandbox(
    host: str = typer.Option("127.0.0.1", help="bind address"),
    port: int = typer.Option(12111, help="port"),
    webhook_url: str | None = typer.Option(None, help="where to POST signed events"),
    webhook_secret: str | None = typer.Option(None, help="whsec_… signing secret"),
    state: Path | None = typer.Option(
        None, help="keep the whole state in this file (loaded if it exists); default: memory"
    ),
    webhook_clock: str = typer.Option(
        "sandbox",
        help="sign webhooks with the sandbox's clock, or 'wall' time (when the receiver's "
        "clock does not move with the sandbox's)",
    ),
) -> None:
    """Serve the local Stripe sandbox (development and tests only; see docs/stripe-sandbox.md)."""
    if webhook_clock not in ("sandbox", "wall"):
        raise typer.BadParameter("must be 'sandbox' or 'wall'", param_hint="--webhook-clock")
    run_sandbox = _dev_tool("rapport_dev.stripe_sandbox.server", "stripe-sandbox").run_sandbox
    kept = f", state in {state}" if state else ""
    typer.echo(f"Stripe sandbox on http://{host}:{port}{kept}")
    run_sandbox(
        host=host,
        port=port,
        webhook_url=webhook_url,
        webhook_secret=webhook_secret,
        state_path=state,
        webhook_signing_clock=webhook_clock,
    )


@cli.command()
def seed(
    listings: int = typer.Option(10_000, min=0, help="influencer listings to generate"),
    brands: int = typer.Option(100, min=0, help="brands to generate"),
    briefs: int = typer.Option(500, min=0, help="briefs to generate (needs brands)"),
    seed: int = typer.Option(1, help="generator seed: the same seed gives the same data"),
    truth: Path | None = typer.Option(
        None, help="write the ground truth (relevance grades, fakes) to this JSON file"
    ),
    today: str | None = typer.Option(
        None,
        help="the generator's 'today' (YYYY-MM-DD); default: the generator's fixed date",
        callback=_iso_date,
    ),
    migrate_first: bool = typer.Option(True, "--migrate/--no-migrate", help="upgrade first"),
) -> None:
    """Generate a synthetic marketplace and bulk-load it into the configured database."""
    import time

    from tqdm import tqdm

    from app.db import create_database
    from app.migrations_state import upgrade

    loader = _dev_tool("rapport_dev.catalogue_load", "seed")
    LoadConflict, seed_catalogue = loader.LoadConflict, loader.seed_catalogue
    if briefs and not brands:
        raise typer.BadParameter("briefs need at least one brand", param_hint="--brands")
    settings = get_settings()
    if migrate_first:
        upgrade(settings.database_url)

    async def run() -> None:
        database = create_database(settings)
        started = time.perf_counter()
        try:
            with tqdm(total=listings, unit="listing", unit_scale=True, desc="listings") as bar:
                result = await seed_catalogue(
                    database.engine,
                    listings=listings,
                    brands=brands,
                    briefs=briefs,
                    seed=seed,
                    truth_path=str(truth) if truth else None,
                    today=today,  # a date: _iso_date parsed it
                    progress=bar.update,
                )
        except LoadConflict as exc:
            typer.echo(f"nothing loaded: the data clashes with existing rows ({exc})")
            raise typer.Exit(1) from exc
        finally:
            await database.dispose()
        counts = result.counts
        phases = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in result.timings.items())
        typer.echo(
            f"loaded {counts.listings} listings ({counts.accounts} accounts), {counts.brands} "
            f"brands, {counts.briefs} briefs in {time.perf_counter() - started:.1f} s ({phases})"
        )
        if result.truth_written:
            typer.echo(f"ground truth written to {truth}")

    asyncio.run(run())


@cli.command()
def reconcile(
    since: str | None = typer.Option(
        None,
        help="only movements since this ISO date/time (UTC); default: everything",
        callback=_iso_datetime,
    ),
    as_json: bool = typer.Option(False, "--json", help="print the report as JSON"),
) -> None:
    """Compare the ledger with Stripe; print every difference; exit 1 when there is any."""
    from app.db import create_database
    from app.integrations.stripe import StripeGateway
    from app.services.money.reconcile import reconcile as run_reconcile

    settings = get_settings()
    # The option's callback parsed it: a datetime in UTC (typer types the option as its text).
    start = cast(datetime | None, since)

    async def run() -> dict[str, Any]:
        database = create_database(settings)
        gateway = StripeGateway(settings)
        try:
            async with database.sessionmaker() as session:
                report = await run_reconcile(session, gateway, since=start)
                return report.as_dict()
        finally:
            await gateway.aclose()
            await database.dispose()

    result = asyncio.run(run())
    if as_json:
        typer.echo(json.dumps(result, indent=2, sort_keys=True))
    else:
        checked = ", ".join(f"{n} {what}" for what, n in sorted(result["checked"].items()))
        typer.echo(f"checked {checked}")
        for d in result["differences"]:
            typer.echo(
                f"{d['kind']}: {d['object_id']} (contract {d['contract_id']}, {d['currency']}: "
                f"ledger {d['ledger_amount']}, stripe {d['stripe_amount']}) — {d['detail']}"
            )
        typer.echo(
            "no differences" if result["ok"] else f"{len(result['differences'])} difference(s)"
        )
    if not result["ok"]:
        raise typer.Exit(1)


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
