"""Secrets in Settings never show in its repr or str (a logged or printed Settings is safe)."""

from __future__ import annotations

from datetime import UTC, datetime

import jwt
import pytest

from app.security import AccessTokens
from app.settings import Settings

SECRET_KEY = "k3y-" + "s" * 40
STRIPE_KEY = "sk_live_" + "x" * 24
WEBHOOK_SECRETS = "whsec_first_" + "w" * 20 + ", whsec_second_" + "v" * 20
DB_PASSWORD = "hunter2-db-password"


def _settings() -> Settings:
    return Settings(
        environment="production",
        secret_key=SECRET_KEY,
        database_url=f"postgresql+asyncpg://rapport:{DB_PASSWORD}@db.internal:5432/rapport",
        stripe_api_key=STRIPE_KEY,
        stripe_api_base=None,
        stripe_webhook_secret=WEBHOOK_SECRETS,
        public_url="https://app.rapport.example",
    )


def test_repr_and_str_show_no_secret() -> None:
    settings = _settings()
    for shown in (repr(settings), str(settings)):
        for secret in (SECRET_KEY, STRIPE_KEY, "whsec_first_", "whsec_second_", DB_PASSWORD):
            assert secret not in shown
    # What is not secret still shows, so the repr stays useful.
    assert "db.internal:5432/rapport" in repr(settings)
    assert "rapport:***@" in repr(settings)


def test_readers_get_the_secret_values() -> None:
    settings = _settings()
    assert settings.secret_key.get_secret_value() == SECRET_KEY
    assert settings.stripe_api_key.get_secret_value() == STRIPE_KEY
    assert settings.stripe_webhook_secrets == [
        "whsec_first_" + "w" * 20,
        "whsec_second_" + "v" * 20,
    ]
    # The database URL is read whole by the engine and Alembic; only the repr masks it.
    assert DB_PASSWORD in settings.database_url
    # Tokens are signed with the secret value, not with its mask.
    now = datetime(2026, 1, 1, tzinfo=UTC)
    token, _ = AccessTokens(settings).issue("usr_1", frozenset(), now)
    assert AccessTokens(settings).verify(token, now).subject == "usr_1"
    with pytest.raises(jwt.InvalidSignatureError):
        # Times are not checked here (the test clock is not the wall clock), the key is.
        jwt.decode(token, "**********", algorithms=["HS256"], options={"verify_exp": False})


def test_an_unparseable_database_url_is_not_shown() -> None:
    settings = Settings(database_url="not a url with password p4ss")
    assert "p4ss" not in repr(settings)
