"""docs/configuration.md names every setting with its environment variable and default."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.settings import Settings

DOC = Path(__file__).resolve().parent.parent / "docs" / "configuration.md"


def test_every_setting_is_documented():
    text = DOC.read_text()
    missing = [
        f"RAPPORT_{name.upper()}"
        for name in Settings.model_fields
        if f"`RAPPORT_{name.upper()}`" not in text
    ]
    assert missing == [], f"document these settings in docs/configuration.md: {missing}"


def test_production_refuses_insecure_defaults():
    with pytest.raises(ValueError, match="SECRET_KEY"):
        Settings(environment="production", database_url="postgresql+asyncpg://x/y")
    with pytest.raises(ValueError, match="PostgreSQL"):
        Settings(environment="production", secret_key="s" * 40)
    ok = Settings(
        environment="production",
        secret_key="s" * 40,
        database_url="postgresql+asyncpg://x/y",
        # Production also needs real Stripe credentials (tests/test_stripe_gateway.py).
        stripe_api_key="sk_live_" + "k" * 24,
        stripe_api_base=None,
        stripe_webhook_secret="whsec_" + "w" * 32,
        onboarding_return_url="https://app.rapport.dev/payouts/return",
        onboarding_refresh_url="https://app.rapport.dev/payouts/refresh",
    )
    assert ok.environment == "production"
