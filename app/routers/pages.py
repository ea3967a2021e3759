"""Pages for browsers, outside the API description: the Stripe onboarding return and refresh
pages, and `/docs` (Swagger UI) and `/redoc` served from files the app ships (the
`fastapi-offline` package's Swagger UI and ReDoc builds), so the docs render with no network."""

from __future__ import annotations

from html import escape
from pathlib import Path

import fastapi_offline
from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

# Swagger UI (swagger-ui-bundle.js, swagger-ui.css), ReDoc (redoc.standalone.js) and a favicon.
DOCS_ASSETS = Path(fastapi_offline.__file__).parent / "static"
DOCS_ASSETS_URL = "/static/docs"
ONBOARDING_PATH = "/v1/influencers/me/payouts/onboarding"
ACCOUNT_PATH = "/v1/influencers/me/payouts/account"

router = APIRouter(include_in_schema=False)


def _page(title: str, *paragraphs: str) -> HTMLResponse:
    body = "\n".join(f"<p>{p}</p>" for p in paragraphs)
    html = f"""<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)} · Rapport</title>
<style>body{{font:16px/1.5 system-ui,sans-serif;max-width:36rem;margin:4rem auto;padding:0 1rem}}
code{{background:#f2f2f2;padding:0 .2em}}</style></head>
<body><h1>{escape(title)}</h1>
{body}
<p><a href="/docs">API documentation</a></p>
</body></html>
"""
    return HTMLResponse(html, headers={"Cache-Control": "no-store"})


@router.get("/payouts/onboarding/return")
async def onboarding_return() -> HTMLResponse:
    # Stripe sends the influencer here when they leave onboarding, finished or not: Stripe's
    # account.updated webhook, not this visit, is what tells Rapport the account's state.
    return _page(
        "Payout onboarding: back from Stripe",
        "You have left Stripe's onboarding. You can close this page.",
        f"Next step: <code>GET {ACCOUNT_PATH}</code> shows <code>enabled</code> once Stripe "
        "has confirmed your details (usually within a minute). If it still lists details "
        f"Stripe needs, call <code>POST {ONBOARDING_PATH}</code> again and open the new "
        "<code>onboarding_url</code>.",
    )


@router.get("/payouts/onboarding/refresh")
async def onboarding_refresh() -> HTMLResponse:
    # Stripe sends the influencer here when the link expired or was already used.
    return _page(
        "Payout onboarding: link expired",
        "This onboarding link has expired or was already used; links work once and for a "
        "few minutes.",
        f"Next step: call <code>POST {ONBOARDING_PATH}</code> again for a fresh link and "
        "open its <code>onboarding_url</code>. Nothing you entered before is lost.",
    )


def install_pages(app: FastAPI) -> None:
    """The pages above, plus /docs and /redoc on the app's own copies of their scripts (the app
    must be created with docs_url=None and redoc_url=None)."""
    app.include_router(router)
    app.mount(DOCS_ASSETS_URL, StaticFiles(directory=DOCS_ASSETS), name="docs-assets")
    openapi_url = app.openapi_url or "/openapi.json"
    oauth2_redirect_url = "/docs/oauth2-redirect"
    favicon = f"{DOCS_ASSETS_URL}/favicon.png"

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_swagger_ui_html(
            openapi_url=root + openapi_url,
            title=f"{app.title} — Swagger UI",
            oauth2_redirect_url=root + oauth2_redirect_url,
            swagger_js_url=f"{root}{DOCS_ASSETS_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{DOCS_ASSETS_URL}/swagger-ui.css",
            swagger_favicon_url=root + favicon,
            swagger_ui_parameters={"persistAuthorization": True},
        )

    @app.get(oauth2_redirect_url, include_in_schema=False)
    async def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get("/redoc", include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_redoc_html(
            openapi_url=root + openapi_url,
            title=f"{app.title} — ReDoc",
            redoc_js_url=f"{root}{DOCS_ASSETS_URL}/redoc.standalone.js",
            redoc_favicon_url=root + favicon,
            with_google_fonts=False,
        )
