"""The OAuth2 endpoints partner applications talk to, outside the API description (their
requests and errors are RFC 6749's, form-encoded and `application/json`, not problem+json):

- `GET /oauth/authorize`: Rapport's consent page (server-rendered HTML, no script, no external
  resource), or the RFC's error: redirected to the client when the client and redirect URI are
  known good, shown on a page (400) otherwise — a request naming an unregistered redirect URI is
  never redirected;
- `POST /oauth/authorize`: the user's decision, with their email and password (the page is the
  sign-in, so no cookie session exists to forge: a cross-site POST cannot consent without the
  password); allowed → consent recorded and a code sent to the client, denied → `access_denied`;
- `POST /oauth/token`, `/oauth/revoke` (RFC 7009), `/oauth/introspect` (RFC 7662), under
  their rate limits (per application, and per client IP for failed client authentication): a
  429 is problem+json that also carries RFC 6749's `error` member (`OAuthRateLimited`);
- `GET /.well-known/oauth-authorization-server`: the server's metadata (RFC 8414).

The protocol is authlib's (app/services/identity/oauth_server.py); this module turns HTTP into
its plain request and its answers back into HTTP.
"""

from __future__ import annotations

import json
from html import escape
from typing import Annotated, Literal
from urllib.parse import urlsplit

from fastapi import APIRouter, Form, Request, Response, status
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse

from app.db import Session
from app.deps import AppSettings, ClientIp, IdentityService, Now
from app.errors import InvalidCredentials, RateLimited
from app.services.identity.oauth import EndpointName
from app.services.identity.oauth_server import (
    AuthorizationRefused,
    ConsentRequest,
    HttpRequest,
    OAuthResponse,
)
from app.services.identity.scopes import (
    CLIENT_CREDENTIALS_SCOPES,
    OAUTH_SCOPES,
    SCOPE_DESCRIPTIONS,
)

router = APIRouter(include_in_schema=False)

AUTHORIZE_PATH = "/oauth/authorize"
TOKEN_PATH = "/oauth/token"  # noqa: S105  (a path, not a secret)
REVOKE_PATH = "/oauth/revoke"
INTROSPECT_PATH = "/oauth/introspect"
# The consent form's own fields: never handed to authlib as OAuth parameters.
_PAGE_FIELDS = frozenset({"email", "password", "decision"})
# Frames, scripts and every external resource refused: the page is one document and a form.
_PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
    "frame-ancestors 'none'; base-uri 'none'",
    "Referrer-Policy": "no-referrer",
}
_STYLE = (
    "body{font:16px/1.5 system-ui,sans-serif;max-width:34rem;margin:3rem auto;padding:0 1rem}"
    "code{background:#f2f2f2;padding:0 .2em}ul{padding-left:1.2rem}"
    "label{display:block;margin:.6rem 0 .2rem}input[type=email],input[type=password]"
    "{width:100%;padding:.4rem;box-sizing:border-box}button{margin:1rem .6rem 0 0;"
    "padding:.5rem 1.2rem;font-size:1rem}.error{color:#a00}"
)


def _http_request(
    request: Request, settings_url: str, params: list[tuple[str, str]]
) -> HttpRequest:
    return HttpRequest(
        method=request.method,
        uri=settings_url + request.url.path,
        params=params,
        authorization=request.headers.get("authorization"),
    )


async def _form(request: Request) -> list[tuple[str, str]]:
    form = await request.form()
    return [(name, value) for name, value in form.multi_items() if isinstance(value, str)]


def _oauth_http(answer: OAuthResponse) -> Response:
    headers = dict(answer.headers)
    if answer.status in (301, 302, 303, 307):
        return RedirectResponse(headers.pop("Location"), status_code=302, headers=headers)
    headers.pop("Content-Type", None)
    return JSONResponse(answer.body, status_code=answer.status, headers=headers)


def _html(status_code: int, title: str, body: str) -> HTMLResponse:
    page = f"""<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)} · Rapport</title><style>{_STYLE}</style></head>
<body><h1>{escape(title)}</h1>
{body}
</body></html>
"""
    return HTMLResponse(page, status_code=status_code, headers=_PAGE_HEADERS)


def _refused_page(refused: AuthorizationRefused) -> HTMLResponse:
    return _html(
        status.HTTP_400_BAD_REQUEST,
        "This application's request cannot be completed",
        f"<p>Rapport did not send you back to the application, because its request is not "
        f"valid: <code>{escape(refused.error)}</code>: {escape(refused.description)}.</p>"
        "<p>Nothing was shared with it. Tell the application's makers, or close this page.</p>",
    )


def _consent_page(
    consent: ConsentRequest,
    params: list[tuple[str, str]],
    *,
    status_code: int = status.HTTP_200_OK,
    error: str | None = None,
    email: str = "",
) -> HTMLResponse:
    client = consent.client
    scopes = "".join(
        f"<li><code>{escape(s)}</code>: {escape(SCOPE_DESCRIPTIONS.get(s, s))}</li>"
        for s in consent.scopes
    )
    hidden = "".join(
        f'<input type="hidden" name="{escape(name)}" value="{escape(value)}">'
        for name, value in params
        if name not in _PAGE_FIELDS
    )
    website = (
        f' (<a href="{escape(client.website)}" rel="noopener noreferrer">'
        f"{escape(client.website)}</a>)"
        if client.website
        else ""
    )
    back_to = escape(urlsplit(consent.redirect_uri).netloc or consent.redirect_uri)
    problem = f'<p class="error" role="alert">{escape(error)}</p>' if error else ""
    body = f"""<p><strong>{escape(client.name)}</strong>{website} asks to act for you on Rapport.
It will be able to:</p>
<ul>{scopes}</ul>
<p>It will act as you, within these permissions only, and will never see your password. You can
revoke its access at any time (<code>GET /v1/me/oauth-consents</code>).</p>
{problem}
<form method="post" action="{AUTHORIZE_PATH}">
{hidden}
<label for="email">Your Rapport email</label>
<input id="email" type="email" name="email" value="{escape(email)}" autocomplete="username"
 maxlength="320">
<label for="password">Password</label>
<input id="password" type="password" name="password" autocomplete="current-password"
 maxlength="200">
<button type="submit" name="decision" value="allow">Allow</button>
<button type="submit" name="decision" value="deny" formnovalidate>Deny</button>
</form>
<p>Either way you go back to <code>{back_to}</code>.</p>"""
    return _html(status_code, f"Allow {client.name} to use your account?", body)


@router.get(AUTHORIZE_PATH)
async def authorize_page(
    request: Request, session: Session, identity: IdentityService, settings: AppSettings, now: Now
) -> Response:
    params = list(request.query_params.multi_items())
    checked = await identity.oauth.consent_request(
        session, _http_request(request, settings.public_url, params), now
    )
    if isinstance(checked, AuthorizationRefused):
        return _refused_page(checked)
    if isinstance(checked, OAuthResponse):
        return _oauth_http(checked)
    return _consent_page(checked, params)


@router.post(AUTHORIZE_PATH)
async def authorize_decision(
    request: Request,
    session: Session,
    identity: IdentityService,
    settings: AppSettings,
    now: Now,
    ip: ClientIp,
    decision: Annotated[Literal["allow", "deny"], Form()],
    email: Annotated[str, Form(max_length=320)] = "",
    password: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    params = [(n, v) for n, v in await _form(request) if n not in _PAGE_FIELDS]
    oauth_request = _http_request(request, settings.public_url, params)
    checked = await identity.oauth.consent_request(session, oauth_request, now)
    if isinstance(checked, AuthorizationRefused):
        return _refused_page(checked)
    if isinstance(checked, OAuthResponse):
        return _oauth_http(checked)
    user = None
    if decision == "allow":
        try:
            user = await identity.check_password(session, email, password, ip)
        except (InvalidCredentials, RateLimited) as refused:
            code = status.HTTP_429_TOO_MANY_REQUESTS if isinstance(refused, RateLimited) else 401
            page = _consent_page(
                checked, params, status_code=code, error=refused.detail, email=email
            )
            page.headers.update(refused.headers)
            return page
    answer = await identity.oauth.decide(session, oauth_request, user, now)
    if isinstance(answer, AuthorizationRefused):
        return _refused_page(answer)
    return _oauth_http(answer)


async def _endpoint(
    name: EndpointName,
    request: Request,
    session: Session,
    identity: IdentityService,
    settings: AppSettings,
    now: Now,
    ip: str,
) -> Response:
    oauth_request = _http_request(request, settings.public_url, await _form(request))
    return _oauth_http(await identity.oauth.endpoint(session, name, oauth_request, now, ip))


@router.post(TOKEN_PATH)
async def oauth_token(
    request: Request,
    session: Session,
    identity: IdentityService,
    settings: AppSettings,
    now: Now,
    ip: ClientIp,
) -> Response:
    return await _endpoint("token", request, session, identity, settings, now, ip)


@router.post(REVOKE_PATH)
async def oauth_revoke(
    request: Request,
    session: Session,
    identity: IdentityService,
    settings: AppSettings,
    now: Now,
    ip: ClientIp,
) -> Response:
    return await _endpoint("revocation", request, session, identity, settings, now, ip)


@router.post(INTROSPECT_PATH)
async def oauth_introspect(
    request: Request,
    session: Session,
    identity: IdentityService,
    settings: AppSettings,
    now: Now,
    ip: ClientIp,
) -> Response:
    return await _endpoint("introspection", request, session, identity, settings, now, ip)


@router.get("/.well-known/oauth-authorization-server")
async def oauth_metadata(settings: AppSettings) -> Response:
    base = settings.public_url
    metadata = {
        "issuer": base,
        "authorization_endpoint": base + AUTHORIZE_PATH,
        "token_endpoint": base + TOKEN_PATH,
        "revocation_endpoint": base + REVOKE_PATH,
        "introspection_endpoint": base + INTROSPECT_PATH,
        "scopes_supported": sorted(OAUTH_SCOPES),
        "response_types_supported": ["code"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": [
            "client_secret_basic",
            "client_secret_post",
            "none",
        ],
        "revocation_endpoint_auth_methods_supported": [
            "client_secret_basic",
            "client_secret_post",
            "none",
        ],
        "introspection_endpoint_auth_methods_supported": [
            "client_secret_basic",
            "client_secret_post",
        ],
        "service_documentation": base + "/docs",
        "rapport_client_credentials_scopes": sorted(CLIENT_CREDENTIALS_SCOPES),
    }
    return Response(json.dumps(metadata), media_type="application/json")
