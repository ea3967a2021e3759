"""All configuration in one class. Every field is read from the environment as `RAPPORT_<NAME>`.

docs/configuration.md lists every setting; a test keeps that page in step with this class.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_SECRET_KEY = "dev-only-insecure-secret-change-me-0123456789abcdef"  # noqa: S105


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RAPPORT_", env_file=None, extra="ignore")

    environment: Literal["development", "test", "production"] = Field(
        "development", description="production refuses insecure defaults"
    )
    database_url: str = Field(
        "sqlite+aiosqlite:///./var/rapport.db",
        description="SQLAlchemy async URL: sqlite+aiosqlite:///path or postgresql+asyncpg://…",
    )
    database_pool_size: int = Field(10, description="PostgreSQL connection pool size")
    database_echo: bool = Field(False, description="log every SQL statement")

    secret_key: str = Field(DEV_SECRET_KEY, description="HMAC key for access tokens (≥ 32 chars)")
    jwt_issuer: str = Field("rapport", description="`iss` claim issued and required")
    jwt_audience: str = Field("rapport-api", description="`aud` claim issued and required")
    access_token_ttl_seconds: int = Field(900, description="access token lifetime (15 min)")
    refresh_token_ttl_seconds: int = Field(
        30 * 24 * 3600, description="refresh token lifetime (30 days)"
    )

    password_time_cost: int = Field(3, description="argon2id iterations")
    password_memory_cost_kib: int = Field(65536, description="argon2id memory in KiB")
    password_parallelism: int = Field(4, description="argon2id lanes")

    login_window_seconds: int = Field(900, description="window of the login rate limits")
    login_max_failures_per_account: int = Field(
        5, description="failed logins per email per window before 429"
    )
    login_max_attempts_per_ip: int = Field(30, description="logins per client IP per window")

    max_body_bytes: int = Field(1_048_576, description="requests with a larger body get 413")
    page_size_default: int = Field(20, description="`limit` when the caller gives none")
    page_size_max: int = Field(100, description="largest accepted `limit`")

    log_level: str = Field("INFO", description="root log level")
    log_json: bool = Field(True, description="JSON log lines (false: plain text)")

    host: str = Field("127.0.0.1", description="`rapport serve` bind address")
    port: int = Field(8000, description="`rapport serve` port")
    demo_data: bool = Field(True, description="`rapport serve` seeds demo data into an empty DB")

    @model_validator(mode="after")
    def _refuse_insecure_production(self) -> Settings:
        if self.environment == "production":
            if self.secret_key == DEV_SECRET_KEY or len(self.secret_key) < 32:
                raise ValueError("RAPPORT_SECRET_KEY must be set to ≥ 32 random chars")
            if self.database_url.startswith("sqlite"):
                raise ValueError("production needs PostgreSQL (RAPPORT_DATABASE_URL)")
        return self

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def sqlite_path(self) -> Path | None:
        if not self.is_sqlite:
            return None
        path = self.database_url.split(":///", 1)[1]
        return None if path in ("", ":memory:") else Path(path)


@lru_cache
def get_settings() -> Settings:
    return Settings()
