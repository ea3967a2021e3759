"""Partner applications (OAuth clients): register, list, rotate the secret, revoke; the consents
a user gave applications: list, revoke. The OAuth protocol endpoints themselves are in
app/routers/oauth.py."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Response, status

from app.auth import AppManager, Operator
from app.db import Session
from app.deps import IdentityService, Now
from app.errors import AUTH_PROBLEMS, Forbidden, problem_responses
from app.models import OAuthClient
from app.pagination import Page, Pagination, page_of
from app.schemas.oauth import (
    OAuthClientCreatedOut,
    OAuthClientIn,
    OAuthClientOut,
    OAuthClientSecretRotateIn,
    OAuthConsentOut,
    OperatorOAuthClientIn,
)
from app.services.identity.oauth import (
    ClientFields,
    ConsentView,
    IssuedClient,
    OAuthClientBrandNotFound,
    OAuthClientNotFound,
    OAuthClientOwnerNotFound,
    OAuthClientSecretNotRotatable,
    OAuthConsentNotFound,
    client_status,
)

router = APIRouter(tags=["oauth"])

_CLIENT_PATH = "/v1/oauth-clients/{client_id}"


def _out(client: OAuthClient) -> OAuthClientOut:
    names = OAuthClientOut.model_fields.keys() - {"status", "client_type"}
    fields = {name: getattr(client, name) for name in names}
    return OAuthClientOut.model_validate(
        {
            **fields,
            "client_type": "confidential" if client.confidential else "public",
            "status": client_status(client),
        }
    )


def _created(issued: IssuedClient, response: Response) -> OAuthClientCreatedOut:
    response.headers["Location"] = _CLIENT_PATH.format(client_id=issued.client.id)
    return OAuthClientCreatedOut.model_validate(
        {**_out(issued.client).model_dump(), "client_secret": issued.secret}
    )


def _fields(body: OAuthClientIn) -> ClientFields:
    return ClientFields(
        name=body.name,
        website=body.website,
        redirect_uris=list(body.redirect_uris),
        scopes=[s.value for s in body.scopes],
        grant_types=list(body.grant_types),
        confidential=body.client_type == "confidential",
        brand_id=body.brand_id,
    )


def _consent_out(view: ConsentView) -> OAuthConsentOut:
    consent, client = view.consent, view.client
    return OAuthConsentOut.model_validate(
        {
            "id": consent.id,
            "client": {"id": client.id, "name": client.name, "website": client.website},
            "scopes": consent.scopes,
            "created_at": consent.created_at,
            "updated_at": consent.updated_at,
        }
    )


@router.post(
    "/v1/oauth-clients",
    status_code=status.HTTP_201_CREATED,
    summary="Register a partner application (OAuth client)",
    description="An application that acts for the users who consent to it (authorization code "
    "with PKCE, on Rapport's consent page), and, if confidential, for itself on the public "
    "catalogue (client credentials). Yours, or a brand's you own or administer (`brand_id`). "
    "The response holds `client_secret` **this once** (confidential applications): only a "
    "keyed hash is stored. See docs/partners.md.",
    responses=problem_responses(*AUTH_PROBLEMS, OAuthClientBrandNotFound, Forbidden),
)
async def register_oauth_client(
    body: OAuthClientIn,
    principal: AppManager,
    session: Session,
    identity: IdentityService,
    now: Now,
    response: Response,
) -> OAuthClientCreatedOut:
    issued = await identity.oauth.register(session, principal.user_id, _fields(body), now)
    return _created(issued, response)


@router.get(
    "/v1/oauth-clients",
    summary="Your partner applications, newest first",
    description="The applications you registered and your brands' (as their owner or admin), "
    "revoked ones included, without their secrets.",
    responses=problem_responses(*AUTH_PROBLEMS),
)
async def list_oauth_clients(
    principal: AppManager, session: Session, identity: IdentityService, page: Pagination
) -> Page[OAuthClientOut]:
    rows, cursor = await identity.oauth.list_clients(session, principal.user_id, page)
    return Page[OAuthClientOut](**page_of([_out(c) for c in rows], cursor))


@router.get(
    _CLIENT_PATH,
    summary="One of your partner applications",
    description="Without its secret. An application you do not manage answers 404.",
    responses=problem_responses(*AUTH_PROBLEMS, OAuthClientNotFound),
)
async def get_oauth_client(
    client_id: str, principal: AppManager, session: Session, identity: IdentityService
) -> OAuthClientOut:
    return _out(await identity.oauth.get_client(session, principal.user_id, client_id))


@router.post(
    _CLIENT_PATH + "/rotate-secret",
    summary="Rotate a partner application's client secret",
    description="A new `client_secret`, in the response **this once**. The current secret "
    "keeps working beside it until `previous_secret_expires_at` (`now + overlap_seconds`, "
    "default 24 h, at most 30 days, 0 ends it now), so the application's servers can switch "
    "without downtime; then only the new one works. At most two secrets work at once: rotating "
    "again during an overlap ends the older secret at once. A public or revoked application is "
    "a 409.",
    responses=problem_responses(*AUTH_PROBLEMS, OAuthClientNotFound, OAuthClientSecretNotRotatable),
)
async def rotate_oauth_client_secret(
    client_id: str,
    principal: AppManager,
    session: Session,
    identity: IdentityService,
    now: Now,
    body: OAuthClientSecretRotateIn | None = None,
) -> OAuthClientCreatedOut:
    overlap = timedelta(seconds=(body or OAuthClientSecretRotateIn()).overlap_seconds)
    issued = await identity.oauth.rotate_secret(session, principal.user_id, client_id, overlap, now)
    return OAuthClientCreatedOut.model_validate(
        {**_out(issued.client).model_dump(), "client_secret": issued.secret}
    )


@router.delete(
    _CLIENT_PATH,
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Revoke a partner application",
    description="At once: its secret, its codes and every token it holds stop working "
    "(`invalid_client` / 401 `invalid-token`). It stays in your list as `revoked`. Revoking "
    "a revoked application is a no-op.",
    responses=problem_responses(*AUTH_PROBLEMS, OAuthClientNotFound),
)
async def revoke_oauth_client(
    client_id: str, principal: AppManager, session: Session, identity: IdentityService, now: Now
) -> Response:
    await identity.oauth.revoke_client(session, principal.user_id, client_id, now)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/v1/operator/oauth-clients",
    status_code=status.HTTP_201_CREATED,
    tags=["operator"],
    summary="Register a partner application for a partner's account",
    description="As `POST /v1/oauth-clients`, for the user `owner_user_id` (who then manages "
    "it). Operators only.",
    responses=problem_responses(
        *AUTH_PROBLEMS, OAuthClientOwnerNotFound, OAuthClientBrandNotFound, Forbidden
    ),
)
async def register_oauth_client_for(
    body: OperatorOAuthClientIn,
    principal: Operator,
    session: Session,
    identity: IdentityService,
    now: Now,
    response: Response,
) -> OAuthClientCreatedOut:
    issued = await identity.oauth.register(
        session, principal.user_id, _fields(body), now, owner_user_id=body.owner_user_id
    )
    return _created(issued, response)


@router.get(
    "/v1/me/oauth-consents",
    tags=["me"],
    summary="The applications you allowed to act for you",
    description="Each consent: the application and the scopes you granted it. Revoke one with "
    "`DELETE /v1/me/oauth-consents/{consent_id}`.",
    responses=problem_responses(*AUTH_PROBLEMS),
)
async def list_oauth_consents(
    principal: AppManager, session: Session, identity: IdentityService, page: Pagination
) -> Page[OAuthConsentOut]:
    views, cursor = await identity.oauth.list_consents(session, principal.user_id, page)
    return Page[OAuthConsentOut](**page_of([_consent_out(v) for v in views], cursor))


@router.delete(
    "/v1/me/oauth-consents/{consent_id}",
    tags=["me"],
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Revoke an application's access to your account",
    description="At once: every token the application holds for you stops working, and it "
    "must ask you again on the consent page.",
    responses=problem_responses(*AUTH_PROBLEMS, OAuthConsentNotFound),
)
async def revoke_oauth_consent(
    consent_id: str, principal: AppManager, session: Session, identity: IdentityService, now: Now
) -> Response:
    await identity.oauth.revoke_consent(session, principal.user_id, consent_id, now)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
