"""The `rapport` command."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

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
    from app.demo import DEMO_ACCOUNTS, DEMO_PASSWORD, seed_demo
    from app.main import create_app
    from app.migrations_state import upgrade

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
    typer.echo(f"Rapport API on http://{host}:{port} — docs at http://{host}:{port}/docs")
    uvicorn.run(create_app(settings), host=host, port=port, log_config=None)


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
    from app.integrations.stripe_sandbox.server import run_sandbox

    typer.echo(f"Stripe sandbox on http://{host}:{port}")
    run_sandbox(host=host, port=port, webhook_url=webhook_url, webhook_secret=webhook_secret)


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
