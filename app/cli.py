"""The `rapport` command."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import typer

from app.settings import get_settings

cli = typer.Typer(help="Rapport: influencer marketplace API", no_args_is_help=True)


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

    from app.db import create_database
    from app.main import create_app
    from app.migrations_state import upgrade
    from rapport_dev.demo import DEMO_ACCOUNTS, DEMO_PASSWORD, seed_demo

    settings = get_settings()
    if migrate_first:
        upgrade(settings.database_url)
    if settings.demo_data and settings.environment != "production":
        database = create_database(settings)
        seeded = asyncio.run(seed_demo(database, settings))
        asyncio.run(database.dispose())
        if seeded:
            typer.echo("seeded demo data")
        typer.echo(f"demo accounts (password {DEMO_PASSWORD}): {', '.join(DEMO_ACCOUNTS.values())}")
    host = host or settings.host
    port = port or settings.port
    _start_local_stripe_sandbox(settings, f"http://{host}:{port}/v1/stripe/webhooks")
    typer.echo(f"Rapport API on http://{host}:{port} — docs at http://{host}:{port}/docs")
    uvicorn.run(create_app(settings), host=host, port=port, log_config=None)


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
    ]
    child = subprocess.Popen(command)  # noqa: S603 - our own interpreter and module
    atexit.register(child.terminate)
    typer.echo(f"Stripe sandbox on {base} (webhooks to {webhook_url}); test card: pm_card_visa")


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
        typer.echo(f"timers: {vars(report.timers)}; jobs: {vars(report.jobs)}")


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
    from app.services.identity import Identity, normalise_email

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
) -> None:
    """Serve the local Stripe sandbox (development and tests only; see docs/stripe-sandbox.md)."""
    from rapport_dev.stripe_sandbox.server import run_sandbox

    typer.echo(f"Stripe sandbox on http://{host}:{port}")
    run_sandbox(host=host, port=port, webhook_url=webhook_url, webhook_secret=webhook_secret)


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
        None, help="the generator's 'today' (YYYY-MM-DD); default: the generator's fixed date"
    ),
    migrate_first: bool = typer.Option(True, "--migrate/--no-migrate", help="upgrade first"),
) -> None:
    """Generate a synthetic marketplace and bulk-load it into the configured database."""
    import time
    from datetime import date

    from tqdm import tqdm

    from app.db import create_database
    from app.migrations_state import upgrade
    from rapport_dev.catalogue_load import LoadConflict, seed_catalogue

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
                    today=date.fromisoformat(today) if today else None,
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
        None, help="only movements since this ISO date/time (UTC); default: everything"
    ),
    as_json: bool = typer.Option(False, "--json", help="print the report as JSON"),
) -> None:
    """Compare the ledger with Stripe; print every difference; exit 1 when there is any."""
    from datetime import UTC, datetime

    from app.db import create_database
    from app.integrations.stripe import StripeGateway
    from app.services.reconcile import reconcile as run_reconcile

    settings = get_settings()
    start = datetime.fromisoformat(since) if since else None
    if start is not None and start.tzinfo is None:
        start = start.replace(tzinfo=UTC)

    async def run() -> dict:
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
