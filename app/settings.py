"""All configuration in one class. Every field is read from the environment as `RAPPORT_<NAME>`.

docs/configuration.md lists every setting; a test keeps that page in step with this class.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from limits import parse as parse_limits
from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

DEV_SECRET_KEY = "dev-only-insecure-secret-change-me-0123456789abcdef"  # noqa: S105
# The local Stripe sandbox (`rapport stripe-sandbox`, docs/stripe-sandbox.md) and its dev secrets.
DEV_STRIPE_API_KEY = "sk_test_rapport_sandbox"
DEV_STRIPE_API_BASE = "http://127.0.0.1:12111"
DEV_STRIPE_WEBHOOK_SECRET = "whsec_rapport_dev_only_webhook_secret"  # noqa: S105
STRIPE_SECRET_KEY_PREFIXES = ("sk_live_", "sk_test_", "rk_live_", "rk_test_")
# How often each API process checks its read replica's lag (app/replica.py); the read-your-
# writes window must cover the largest lag allowed plus this.
REPLICA_CHECK_SECONDS = 0.5


def _access_log_fraction(value: str) -> float:
    text = value.strip().lower()
    if text in ("on", "true", "1"):
        return 1.0
    if text in ("off", "false", "0"):
        return 0.0
    try:
        fraction = float(text)
    except ValueError:
        fraction = -1.0
    if not 0.0 <= fraction <= 1.0:
        raise ValueError("RAPPORT_ACCESS_LOG must be on, off, or a fraction between 0 and 1")
    return fraction


class Settings(BaseSettings):
    """Secrets are `SecretStr` (read with `.get_secret_value()`), so a logged or printed Settings
    shows `**********`; the database URL stays a `str` (the engine, Alembic and the CLI read it
    as one) and only its password is masked in `repr`."""

    model_config = SettingsConfigDict(env_prefix="RAPPORT_", env_file=None, extra="ignore")

    environment: Literal["development", "test", "production"] = Field(
        "development", description="production refuses insecure defaults"
    )
    database_url: str = Field(
        "sqlite+aiosqlite:///./var/rapport.db",
        description="SQLAlchemy async URL: sqlite+aiosqlite:///path or postgresql+asyncpg://…",
    )
    database_pool_size: int = Field(10, description="PostgreSQL connection pool size")
    # --- read replicas (docs/deployment.md#read-replicas) ---------------------------------------
    database_replica_url: str | None = Field(
        None,
        description="a streaming read replica (hot standby) of the database: the catalogue's "
        "reads (`@reads_only` routes) come from it, everything else from the primary; unset: "
        "every read on the primary",
    )
    database_replica_max_lag_seconds: float = Field(
        1.0,
        gt=0,
        le=3600,
        description="a replica further behind the primary than this is not read from (its reads "
        "go to the primary until it catches up)",
    )
    read_your_writes_seconds: float = Field(
        2.0,
        gt=0,
        le=3600,
        description="after a credential's successful write, its catalogue reads go to the primary "
        "for this long; at least the replica's largest lag plus the 0.5 s between lag checks",
    )
    database_echo: bool = Field(False, description="log every SQL statement")
    sqlite_busy_timeout_ms: int = Field(
        10_000,
        ge=0,
        description="SQLite: how long a writer waits for the write lock before the request "
        "answers 503 database-busy",
    )

    secret_key: SecretStr = Field(
        SecretStr(DEV_SECRET_KEY), description="HMAC key for access tokens (≥ 32 chars)"
    )
    jwt_issuer: str = Field("rapport", description="`iss` claim issued and required")
    jwt_audience: str = Field("rapport-api", description="`aud` claim issued and required")
    access_token_ttl_seconds: int = Field(900, description="access token lifetime (15 min)")
    refresh_token_ttl_seconds: int = Field(
        30 * 24 * 3600, description="refresh token lifetime (30 days)"
    )
    oauth_access_token_ttl_seconds: int = Field(
        3600, ge=60, description="partner applications' OAuth access token lifetime (1 h)"
    )
    oauth_refresh_token_ttl_seconds: int = Field(
        60 * 24 * 3600,
        ge=60,
        description="partner applications' OAuth refresh token lifetime (60 days; each refresh "
        "issues a new one)",
    )
    oauth_retention_days: int = Field(
        30,
        ge=1,
        description="days a spent or expired authorization code and a grant's ended tokens are "
        "kept before the worker deletes them",
    )

    password_time_cost: int = Field(3, description="argon2id iterations")
    password_memory_cost_kib: int = Field(65536, description="argon2id memory in KiB")
    password_parallelism: int = Field(4, description="argon2id lanes")

    login_window_seconds: int = Field(900, description="window of the login rate limits")
    login_max_failures_per_account: int = Field(
        5, description="failed logins per email per window before 429"
    )
    login_max_attempts_per_ip: int = Field(30, description="logins per client IP per window")

    # --- rate limits (docs/api-conventions.md) -------------------------------------------------
    redis_url: str | None = Field(
        None,
        description="Redis shared by every API process for the rate limits "
        "(`redis://host:6379/0`); unset: counted in process memory (embedded mode)",
    )
    redis_key_prefix: str = Field(
        "rapport",
        description="prefix of Rapport's keys in that Redis (several deployments, one Redis)",
    )
    rate_limit_plans: dict[str, str] = Field(
        default_factory=lambda: {"standard": "600/minute", "partner": "3000/minute"},
        description="requests per credential per window, by plan, JSON "
        '(`{"standard": "600/minute"}`; a `limits` expression: '
        "N/second, N/minute, N/hour, N per 10 seconds …)",
    )
    rate_limit_default_plan: str = Field(
        "standard",
        description="plan of password sign-ins and of new API keys (operators move a key to "
        "another plan)",
    )

    oauth_client_rate_limit: str = Field(
        "600/minute",
        description="requests per partner application to /oauth/token, /oauth/revoke and "
        "/oauth/introspect together (a `limits` expression)",
    )
    oauth_failed_auth_rate_limit: str = Field(
        "20/15 minutes",
        description="requests to those endpoints per client IP whose client authentication "
        "fails (unknown client, wrong or expired secret, none given)",
    )

    max_body_bytes: int = Field(1_048_576, description="requests with a larger body get 413")
    page_size_default: int = Field(20, description="`limit` when the caller gives none")
    page_size_max: int = Field(100, description="largest accepted `limit`")

    matching_index_dir: str = Field(
        "var/matching-index",
        description="where the matching index's generations are written (one subdirectory per "
        "database); every API process of a node maps the same files, so the node holds one "
        "copy. Empty: each process builds its own in memory",
    )
    matching_threads: int = Field(
        0, ge=0, le=256, description="threads that run rankings off the event loop; 0: one per core"
    )

    log_level: str = Field("INFO", description="root log level")
    log_json: bool = Field(True, description="JSON log lines (false: plain text)")
    access_log: str = Field(
        "on",
        description="one log line per request: `on`, `off`, or the fraction of requests logged "
        "(`0.01`: one in a hundred, drawn at random); answers of 500 and above are always logged",
    )

    host: str = Field("127.0.0.1", description="`rapport serve` bind address")
    port: int = Field(8000, description="`rapport serve` port")
    public_url: str = Field(
        "",
        description="base URL browsers reach Rapport at; empty: http://<host>:<port> "
        "(127.0.0.1 when bound to every interface)",
    )
    cors_origins: str | None = Field(
        None,
        description="browser origins allowed to call the API, comma-separated (`*` = any); "
        "unset: localhost origins outside production, none in production",
    )
    demo_data: bool = Field(True, description="`rapport serve` seeds demo data into an empty DB")

    embedded_worker: bool | None = Field(
        None,
        description="run the worker (timers, outbox relay) inside the API process; "
        "unset: on for SQLite, off for PostgreSQL (run `rapport worker` processes there)",
    )
    worker_poll_seconds: float = Field(
        1.0, description="how long an idle worker waits before looking for due work again"
    )

    # --- negotiation (docs/negotiation.md) -----------------------------------------------------
    offer_expiry_hours: int = Field(
        72, ge=1, le=720, description="an offer's lifetime when it names no `expires_at`"
    )
    contract_funding_window_hours: int = Field(
        168,
        ge=1,
        le=720,
        description="time to fund a contract after acceptance, unless the terms say otherwise",
    )

    # --- delivery (docs/delivery.md) -----------------------------------------------------------
    dispute_escalation_hours: int = Field(
        168,
        ge=1,
        le=24 * 90,
        description="an unsettled dispute is escalated to the operators after this long",
    )

    # --- outbound webhooks (docs/partners.md) -------------------------------------------------
    webhooks_allow_private: bool | None = Field(
        None,
        description="let webhook endpoints resolve to private, loopback or link-local addresses; "
        "unset: allowed in development and test, refused in production",
    )
    webhook_timeout_seconds: float = Field(
        10.0, gt=0, le=60, description="time one webhook delivery attempt may take in all"
    )
    webhook_secret_overlap_hours: int = Field(
        24,
        ge=0,
        le=24 * 30,
        description="after a secret rotation, the old secret still signs (a second signature) "
        "for this long",
    )

    # --- measurement: tracked links and conversions (docs/reports.md) -------------------------
    tracking_repeat_window_minutes: int = Field(
        30,
        ge=1,
        le=24 * 60,
        description="a tracked link's click by a visitor who had a counted click on it less than "
        "this long ago is a repeat, not counted again",
    )
    conversion_tolerance_seconds: int = Field(
        300,
        ge=1,
        le=3600,
        description="largest accepted age (or skew) of a conversion post's signed timestamp",
    )
    conversion_secret_overlap_hours: int = Field(
        24,
        ge=0,
        le=24 * 30,
        description="after a conversion secret's rotation, the old secret still verifies for "
        "this long",
    )

    # --- Stripe (docs/payments.md) -------------------------------------------------------------
    stripe_api_key: SecretStr = Field(
        SecretStr(DEV_STRIPE_API_KEY), description="Stripe secret key (sk_live_/sk_test_/rk_…)"
    )
    stripe_api_base: str | None = Field(
        DEV_STRIPE_API_BASE,
        description="base URL of a Stripe sandbox; empty/None = real Stripe (api.stripe.com)",
    )
    stripe_webhook_secret: SecretStr = Field(
        SecretStr(DEV_STRIPE_WEBHOOK_SECRET),
        description="whsec_ signing secret(s) of our webhook endpoints, comma-separated",
    )
    stripe_webhook_tolerance_seconds: int = Field(
        300, description="largest accepted age (or skew) of a webhook's signed timestamp"
    )
    stripe_timeout_seconds: float = Field(30.0, description="timeout of one call to Stripe")
    stripe_connect_country: str = Field(
        "US",
        description="the platform's Stripe country: creators' Express accounts are created in "
        "their own country, with the recipient service agreement when it is not this one",
    )
    # Empty = derived from public_url (itself from host and port), so a local run on another
    # port still lands on the pages Rapport serves (app/routers/pages.py).
    onboarding_return_url: str = Field(
        "",
        description="where Stripe sends an influencer who finished onboarding; "
        "empty: <public_url>/payouts/onboarding/return",
    )
    onboarding_refresh_url: str = Field(
        "",
        description="where Stripe sends an influencer whose onboarding link expired; "
        "empty: <public_url>/payouts/onboarding/refresh",
    )

    # --- money: funding, fees, payouts (docs/payments.md) ---------------------------------------
    brand_fee_bps: int = Field(
        500,
        ge=0,
        le=10_000,
        description="brand-side service fee in basis points of the agreed price (500 = 5 %), "
        "added to what the brand pays; never deducted from the influencer's price",
    )
    brand_fee_fixed: dict[str, int] = Field(
        default_factory=dict,
        description='fixed brand fee per currency in minor units, JSON (`{"USD": 30}`); '
        "added to the percentage",
    )
    payout_mode: Literal["automatic", "per_transfer"] = Field(
        "automatic",
        description="automatic: Stripe pays connected accounts out on their schedule and we "
        "record payout.* events; per_transfer: Rapport creates a payout for each transfer "
        "(manual payout schedules, and the sandbox, which has no automatic payouts)",
    )
    money_hold_recheck_minutes: int = Field(
        60,
        ge=1,
        le=24 * 60,
        description="how often a release or transfer held by a dispute looks again",
    )

    @model_validator(mode="after")
    def _derive_public_urls(self) -> Settings:
        # Declared before the production checks, which pydantic runs after it.
        if not self.public_url:
            host = "127.0.0.1" if self.host in ("", "0.0.0.0", "::") else self.host  # noqa: S104
            if ":" in host:
                host = f"[{host}]"
            self.public_url = f"http://{host}:{self.port}"
        self.public_url = self.public_url.rstrip("/")
        if not self.onboarding_return_url:
            self.onboarding_return_url = f"{self.public_url}/payouts/onboarding/return"
        if not self.onboarding_refresh_url:
            self.onboarding_refresh_url = f"{self.public_url}/payouts/onboarding/refresh"
        return self

    @model_validator(mode="after")
    def _refuse_insecure_production(self) -> Settings:
        if self.environment == "production":
            secret_key = self.secret_key.get_secret_value()
            if secret_key == DEV_SECRET_KEY or len(secret_key) < 32:
                raise ValueError("RAPPORT_SECRET_KEY must be set to ≥ 32 random chars")
            if self.database_url.startswith("sqlite"):
                raise ValueError("production needs PostgreSQL (RAPPORT_DATABASE_URL)")
        return self

    @model_validator(mode="after")
    def _check_replica(self) -> Settings:
        if self.database_replica_url is None:
            return self
        if self.is_sqlite or not self.database_replica_url.startswith("postgresql"):
            raise ValueError(
                "RAPPORT_DATABASE_REPLICA_URL is a PostgreSQL standby of a PostgreSQL "
                "RAPPORT_DATABASE_URL (postgresql+asyncpg://…)"
            )
        least = self.database_replica_max_lag_seconds + REPLICA_CHECK_SECONDS
        if self.read_your_writes_seconds < least:
            raise ValueError(
                "RAPPORT_READ_YOUR_WRITES_SECONDS must be at least "
                f"RAPPORT_DATABASE_REPLICA_MAX_LAG_SECONDS + {REPLICA_CHECK_SECONDS} "
                f"(the lag is checked every {REPLICA_CHECK_SECONDS} s), "
                "or a client could read from a replica that has not replayed its write"
            )
        return self

    @model_validator(mode="after")
    def _check_rate_limit_plans(self) -> Settings:
        for name, text in self.rate_limit_plans.items():
            try:
                parse_limits(text)
            except ValueError as exc:
                raise ValueError(f"RAPPORT_RATE_LIMIT_PLANS: plan {name!r}: {exc}") from exc
        for name in ("oauth_client_rate_limit", "oauth_failed_auth_rate_limit"):
            try:
                parse_limits(getattr(self, name))
            except ValueError as exc:
                raise ValueError(f"RAPPORT_{name.upper()}: {exc}") from exc
        if self.rate_limit_default_plan not in self.rate_limit_plans:
            raise ValueError(
                "RAPPORT_RATE_LIMIT_DEFAULT_PLAN must name a plan of RAPPORT_RATE_LIMIT_PLANS"
            )
        return self

    @field_validator("access_log")
    @classmethod
    def _access_log_is_on_off_or_a_fraction(cls, value: str) -> str:
        _access_log_fraction(value)
        return value

    @property
    def access_log_fraction(self) -> float:
        """The share of requests the access log writes a line for (1.0 = every one)."""
        return _access_log_fraction(self.access_log)

    @field_validator("database_replica_url", mode="before")
    @classmethod
    def _empty_replica_is_none(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("stripe_api_base", mode="before")
    @classmethod
    def _empty_base_is_real_stripe(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @model_validator(mode="after")
    def _refuse_stripe_sandbox_in_production(self) -> Settings:
        # Separate from the check above, which runs first: its messages stay what they were.
        if self.environment == "production":
            if self.stripe_api_base is not None:
                raise ValueError("production talks to real Stripe: unset RAPPORT_STRIPE_API_BASE")
            key = self.stripe_api_key.get_secret_value()
            if key == DEV_STRIPE_API_KEY or not key.startswith(STRIPE_SECRET_KEY_PREFIXES):
                raise ValueError(
                    "RAPPORT_STRIPE_API_KEY must be a real Stripe secret key (sk_live_/sk_test_)"
                )
            secrets = self.stripe_webhook_secrets
            if (
                not secrets
                or DEV_STRIPE_WEBHOOK_SECRET in secrets
                or not all(s.startswith("whsec_") for s in secrets)
            ):
                raise ValueError(
                    "RAPPORT_STRIPE_WEBHOOK_SECRET must be the endpoints' whsec_ secret(s)"
                )
            for name in ("onboarding_return_url", "onboarding_refresh_url"):
                if not getattr(self, name).startswith("https://"):
                    raise ValueError(
                        f"RAPPORT_{name.upper()} must be an https:// URL "
                        "(set RAPPORT_PUBLIC_URL to Rapport's https:// address)"
                    )
        return self

    @property
    def stripe_webhook_secrets(self) -> list[str]:
        """Every accepted signing secret (platform and Connect endpoints; old and new during a
        rotation)."""
        secret = self.stripe_webhook_secret.get_secret_value()
        return [s.strip() for s in secret.split(",") if s.strip()]

    @property
    def cors_origin_list(self) -> list[str]:
        """Exact origins allowed by CORS (empty when none, or when the localhost default holds)."""
        if self.cors_origins is None:
            return []
        return [o.strip().rstrip("/") for o in self.cors_origins.split(",") if o.strip()]

    @property
    def cors_origin_regex(self) -> str | None:
        """The development default: any port of localhost, 127.0.0.1 or [::1]."""
        if self.cors_origins is not None or self.environment == "production":
            return None
        return r"https?://(localhost|127\.0\.0\.1|\[::1\])(:[0-9]+)?"

    @property
    def webhooks_allow_private_targets(self) -> bool:
        if self.webhooks_allow_private is None:
            return self.environment != "production"
        return self.webhooks_allow_private

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def runs_embedded_worker(self) -> bool:
        return self.is_sqlite if self.embedded_worker is None else self.embedded_worker

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        for name, value in super().__repr_args__():
            masked = name in ("database_url", "database_replica_url") and value is not None
            yield name, (_masked_url(value) if masked else value)

    def sqlite_path(self) -> Path | None:
        if not self.is_sqlite:
            return None
        path = self.database_url.split(":///", 1)[1]
        return None if path in ("", ":memory:") else Path(path)


def _masked_url(url: str) -> str:
    """The URL with its password (if any) shown as ***."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        # Not a URL SQLAlchemy can parse: show none of it rather than a possible password.
        return "<unparsed database URL>"


@lru_cache
def get_settings() -> Settings:
    return Settings()
