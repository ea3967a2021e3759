"""What a stranger touches first: CORS for a browser frontend, the onboarding return and refresh
pages (and their default URLs following the configured host and port), the docs pages' assets
served by the app itself."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from app.main import create_app
from app.settings import Settings
from rapport_dev.stripe_sandbox.testing import RunningSandbox
from tests.stripe_support import ServedApp, influencer_account

ONBOARDING = "/v1/influencers/me/payouts/onboarding"
PREFLIGHT = {
    "Access-Control-Request-Method": "POST",
    "Access-Control-Request-Headers": "authorization,content-type,idempotency-key",
}


def preflight(origin: str) -> dict[str, str]:
    return {"Origin": origin, **PREFLIGHT}


# --- CORS -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "origin", ["http://localhost:5173", "http://127.0.0.1:3000", "http://[::1]:8080"]
)
async def test_development_default_answers_a_localhost_preflight(
    client: httpx.AsyncClient, origin: str
) -> None:
    response = await client.options("/v1/briefs", headers=preflight(origin))
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == origin
    assert "POST" in response.headers["access-control-allow-methods"]
    allowed = response.headers["access-control-allow-headers"].lower()
    assert {"authorization", "content-type", "idempotency-key"} <= set(allowed.split(","))
    assert response.headers["x-request-id"]


async def test_a_cross_origin_answer_exposes_the_request_id_and_errors_carry_cors_headers(
    client: httpx.AsyncClient,
) -> None:
    origin = "http://localhost:5173"
    response = await client.get("/v1/me", headers={"Origin": origin})
    assert response.status_code == 401  # a problem answer is readable by the browser too
    assert response.headers["access-control-allow-origin"] == origin
    assert "x-request-id" in response.headers["access-control-expose-headers"].lower()


async def test_development_default_refuses_other_origins(client: httpx.AsyncClient) -> None:
    response = await client.options("/v1/briefs", headers=preflight("https://evil.example"))
    assert response.status_code == 400
    assert "access-control-allow-origin" not in response.headers
    plain = await client.get("/healthz", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in plain.headers


def production_settings(settings: Settings, **overrides: Any) -> Settings:
    values = settings.model_dump() | {
        "environment": "production",
        "secret_key": "p" * 48,
        "database_url": "postgresql+asyncpg://rapport@db.invalid:5432/rapport",
        "stripe_api_base": "",
        "stripe_api_key": "sk_test_production_like",
        "stripe_webhook_secret": "whsec_production_like",
        "public_url": "https://api.rapport.example",
        "onboarding_return_url": "",
        "onboarding_refresh_url": "",
    }
    return Settings(**(values | overrides))


async def _preflight_on(application: Any, origin: str) -> httpx.Response:
    # A preflight never reaches the routes or the database: the middleware answers it.
    transport = httpx.ASGITransport(app=application)
    async with httpx.AsyncClient(transport=transport, base_url="http://rapport.test") as c:
        return await c.options("/v1/briefs", headers=preflight(origin))


async def test_production_allows_no_origin_unless_configured(settings: Settings) -> None:
    production = production_settings(settings, cors_origins=None)
    assert production.cors_origin_list == [] and production.cors_origin_regex is None
    refused = await _preflight_on(create_app(production), "http://localhost:5173")
    assert refused.status_code == 400
    assert "access-control-allow-origin" not in refused.headers

    configured = create_app(
        production_settings(settings, cors_origins="https://app.rapport.example, https://x.io/")
    )
    allowed = await _preflight_on(configured, "https://x.io")
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == "https://x.io"
    assert (await _preflight_on(configured, "http://localhost:5173")).status_code == 400


async def test_configured_origins_replace_the_localhost_default(settings: Settings) -> None:
    configured = create_app(
        Settings(**(settings.model_dump() | {"cors_origins": "https://app.rapport.example"}))
    )
    assert (await _preflight_on(configured, "http://localhost:5173")).status_code == 400
    ok = await _preflight_on(configured, "https://app.rapport.example")
    assert ok.headers["access-control-allow-origin"] == "https://app.rapport.example"


# --- onboarding URLs and pages --------------------------------------------------------------


def test_onboarding_urls_follow_the_configured_host_and_port() -> None:
    on_9000 = Settings(port=9000, onboarding_return_url="", onboarding_refresh_url="")
    assert on_9000.public_url == "http://127.0.0.1:9000"
    assert on_9000.onboarding_return_url == "http://127.0.0.1:9000/payouts/onboarding/return"
    assert on_9000.onboarding_refresh_url == "http://127.0.0.1:9000/payouts/onboarding/refresh"
    # Bound to every interface, a browser on this machine reaches it at 127.0.0.1.
    everywhere = Settings(host="0.0.0.0", port=8080)  # noqa: S104
    assert everywhere.onboarding_return_url == "http://127.0.0.1:8080/payouts/onboarding/return"
    named = Settings(host="rapport.local", port=8001)
    assert named.onboarding_refresh_url == "http://rapport.local:8001/payouts/onboarding/refresh"


def test_onboarding_urls_follow_the_public_url_and_explicit_values_win() -> None:
    public = Settings(public_url="https://api.rapport.example/")
    assert public.onboarding_return_url == "https://api.rapport.example/payouts/onboarding/return"
    explicit = Settings(onboarding_return_url="https://app.rapport.example/done", port=9000)
    assert explicit.onboarding_return_url == "https://app.rapport.example/done"
    assert explicit.onboarding_refresh_url == "http://127.0.0.1:9000/payouts/onboarding/refresh"


def test_production_onboarding_urls_come_from_the_https_public_url(settings: Settings) -> None:
    production = production_settings(settings)
    assert production.onboarding_return_url == (
        "https://api.rapport.example/payouts/onboarding/return"
    )
    with pytest.raises(ValueError, match="RAPPORT_PUBLIC_URL"):
        production_settings(settings, public_url="")  # http://127.0.0.1:8000 is not https


async def test_return_and_refresh_pages_say_what_happened_and_the_next_step(
    client: httpx.AsyncClient,
) -> None:
    done = await client.get("/payouts/onboarding/return")
    assert done.status_code == 200
    assert done.headers["content-type"].startswith("text/html")
    assert "back from Stripe" in done.text
    assert "GET /v1/influencers/me/payouts/account" in done.text
    assert ONBOARDING in done.text

    expired = await client.get("/payouts/onboarding/refresh")
    assert expired.status_code == 200
    assert "link expired" in expired.text
    assert f"call <code>POST {ONBOARDING}</code> again" in expired.text
    # Pages for browsers, not API operations.
    paths = (await client.get("/openapi.json")).json()["paths"]
    assert not any(p.startswith("/payouts/") for p in paths)


async def test_finishing_onboarding_at_the_sandbox_lands_on_a_page_rapport_serves(
    stripe_api: httpx.AsyncClient,
    stripe_sandbox: RunningSandbox,
    sandbox_webhooks: ServedApp,
) -> None:
    # The app sandbox_webhooks serves uses the default URLs, derived from the test settings.
    account, _ = await influencer_account(stripe_api)
    link = await stripe_api.post(ONBOARDING, headers=account.headers)
    assert link.status_code == 201, link.text
    async with httpx.AsyncClient(trust_env=False) as browser:
        visit = await browser.get(link.json()["onboarding_url"], follow_redirects=False)
    assert visit.status_code == 303
    location = httpx.URL(visit.headers["location"])
    assert location.path == "/payouts/onboarding/return"
    # The same path on the served app answers the page (the host and port are the settings').
    async with httpx.AsyncClient(trust_env=False) as browser:
        page = await browser.get(f"{sandbox_webhooks.url}{location.path}")
    assert page.status_code == 200 and "back from Stripe" in page.text
    assert stripe_sandbox.wait_for_webhooks()


# --- docs assets ----------------------------------------------------------------------------


async def test_docs_pages_load_their_scripts_from_the_app_itself(
    client: httpx.AsyncClient,
) -> None:
    for page, assets in {
        "/docs": ["swagger-ui-bundle.js", "swagger-ui.css"],
        "/redoc": ["redoc.standalone.js"],
    }.items():
        html = (await client.get(page)).text
        assert "cdn." not in html and "fonts.googleapis" not in html, page
        for asset in assets:
            assert f'"/static/docs/{asset}"' in html, (page, asset)
            served = await client.get(f"/static/docs/{asset}")
            assert served.status_code == 200 and len(served.content) > 100_000, asset
    redirect = await client.get("/docs/oauth2-redirect")
    assert redirect.status_code == 200
