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
        environment="production", secret_key="s" * 40, database_url="postgresql+asyncpg://x/y"
    )
    assert ok.environment == "production"
