"""Who is calling, may they call this route, and have they called too often.

One dependency, `Authenticator(*scopes)`, authenticates the caller from `Authorization: Bearer …`,
takes one request from the credential's rate limit, and checks that the credential carries every
required scope. Routes take it through `Annotated` aliases (`BriefWriter`, …) so the requirement
is visible on the route and in OpenAPI's security requirements.

Credentials: a password sign-in's access token (JWT), an API key (`rk_live_…`/`rk_test_…`) and a
partner application's OAuth access token (`roa_…`, app/services/identity/oauth.py), each resolved
to a `Principal` (`app/services/identity/credentials.py`). The scope catalogue is
`app/services/identity/scopes.py`. Object-level access is not decided here: services filter their
queries by the principal's account, whatever the credential.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import Depends, Request, Response, params
from fastapi.security import OAuth2PasswordBearer, SecurityScopes
from sqlalchemy import String, bindparam, select

from app.db import Session, primary_instead, writable
from app.errors import InsufficientScope, InvalidToken, NotAuthenticated
from app.models import User
from app.resources import resources_of
from app.security import TokenError
from app.services.identity.credentials import Principal, looks_like_api_key, user_principal
from app.services.identity.scopes import SCOPE_DESCRIPTIONS, USER_SCOPES, Scope, scopes_for
from app.services.identity.users import Identity

__all__ = ["USER_SCOPES", "Authenticator", "Principal", "Scope", "scopes_for"]

oauth2_scheme = OAuth2PasswordBearer(
    tokenUrl="/v1/auth/token", scopes=SCOPE_DESCRIPTIONS, auto_error=False
)


def _identity(request: Request) -> Identity:
    # The identity service holds the process's rate limiter and the API keys' service.
    return resources_of(request.app).identity


def _now(request: Request) -> datetime:
    return resources_of(request.app).clock.now()


# The account behind a password sign-in's token, read on every request (a deleted account's
# tokens stop working at once): a Core statement built once, two columns, no ORM entity — the
# ORM's `session.get(User)` was a fifth of a single-brief read's CPU (benchmarks/api/README.md).
_USERS = User.__table__.c
_ACCOUNT = select(_USERS.id, _USERS.is_operator).where(
    _USERS.id == bindparam("user_id", type_=String())
)


async def _principal(request: Request, session: Session, token: str) -> Principal:
    identity, now = _identity(request), _now(request)
    if looks_like_api_key(token):
        return await identity.api_keys.authenticate(session, token, now)
    if identity.oauth.looks_like_token(token):
        return await identity.oauth.authenticate(session, token, now)
    try:
        claims = identity.access_tokens.verify(token, now)
    except TokenError as exc:
        raise InvalidToken(str(exc)) from exc
    user = (await session.execute(_ACCOUNT, {"user_id": claims.subject})).first()
    if user is None:
        raise InvalidToken("the access token's account no longer exists")
    return user_principal(user, claims.scopes, identity.settings.rate_limit_default_plan)


async def _authenticate(
    request: Request,
    response: Response,
    security_scopes: SecurityScopes,
    session: Session,
    token: Annotated[str | None, Depends(oauth2_scheme)],
) -> Principal:
    if not token:
        raise NotAuthenticated(
            "Send a bearer token: `Authorization: Bearer <access_token, rk_… API key or roa_… "
            "OAuth token>`"
        )
    try:
        principal = await _principal(request, session, token)
    except InvalidToken:
        # Read from the replica: an account or API key made a moment ago may not be there yet.
        primary = primary_instead(session)
        if primary is None:
            raise
        async with primary() as again:
            principal = await _principal(request, again, token)
    # Counted before the scope check (a caller probing scopes spends its quota too) and before
    # the route runs: a refused request has changed nothing.
    limiter = _identity(request).rate_limiter
    quota = await limiter.consume(
        limiter.plan(principal.plan),
        principal.rate_limit_key,
        "This credential made too many requests; retry after the time in Retry-After",
    )
    if quota is not None:
        response.headers.update(quota.headers())
    missing = [s for s in security_scopes.scopes if s not in principal.scopes]
    if missing:
        raise InsufficientScope(
            f"This call needs the scope(s): {', '.join(missing)}", required_scopes=missing
        )
    api_keys, now = _identity(request).api_keys, _now(request)
    if principal.credential_id is not None and api_keys.use_to_record(principal, now):
        # A replica cannot record it: the primary does (without a transaction, as on any
        # `@reads_only` route).
        async with writable(session) as writer:
            await api_keys.touch(writer, principal.credential_id, now)
    return principal


def Authenticator(*scopes: Scope) -> params.Security:
    # The class `fastapi.Security()` builds (that function is typed `Any`, to fit a default).
    return params.Security(dependency=_authenticate, scopes=[s.value for s in scopes])


CurrentUser = Annotated[Principal, Authenticator(Scope.profile)]
ApiKeyManager = Annotated[Principal, Authenticator(Scope.api_keys_manage)]
BrandReader = Annotated[Principal, Authenticator(Scope.brands_read)]
BrandWriter = Annotated[Principal, Authenticator(Scope.brands_write)]
InfluencerReader = Annotated[Principal, Authenticator(Scope.listings_read)]
InfluencerWriter = Annotated[Principal, Authenticator(Scope.listings_write)]
CatalogueReader = Annotated[Principal, Authenticator(Scope.catalogue_read)]
BriefReader = Annotated[Principal, Authenticator(Scope.briefs_read)]
BriefWriter = Annotated[Principal, Authenticator(Scope.briefs_write)]
BidReader = Annotated[Principal, Authenticator(Scope.bids_read)]
BidWriter = Annotated[Principal, Authenticator(Scope.bids_write)]
NegotiationWriter = Annotated[Principal, Authenticator(Scope.negotiation_write)]
ContractReader = Annotated[Principal, Authenticator(Scope.contracts_read)]
ContractWriter = Annotated[Principal, Authenticator(Scope.contracts_write)]
DeliverableWriter = Annotated[Principal, Authenticator(Scope.deliverables_write)]
PaymentReader = Annotated[Principal, Authenticator(Scope.payments_read)]
PaymentWriter = Annotated[Principal, Authenticator(Scope.payments_write)]
Operator = Annotated[Principal, Authenticator(Scope.operator)]
AppManager = Annotated[Principal, Authenticator(Scope.apps_manage)]
