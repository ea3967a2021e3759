"""API keys: make, list, rotate and revoke your own; operators set a key's rate-limit plan."""

from __future__ import annotations

from datetime import datetime, timedelta

from fastapi import APIRouter, Response, status

from app.auth import ApiKeyManager, Operator
from app.db import Session
from app.deps import IdentityService, Now
from app.errors import AUTH_PROBLEMS, problem_responses
from app.models import ApiKey
from app.pagination import Page, Pagination, page_of
from app.schemas.credentials import (
    ApiKeyCreatedOut,
    ApiKeyIn,
    ApiKeyOut,
    ApiKeyPlanIn,
    ApiKeyRotatedOut,
    ApiKeyRotateIn,
)
from app.services.identity.credentials import (
    ApiKeyNotFound,
    ApiKeyNotRotatable,
    IssuedKey,
    key_status,
)

router = APIRouter(tags=["api-keys"])

_KEY_PATH = "/v1/api-keys/{key_id}"


def _out(key: ApiKey, now: datetime) -> ApiKeyOut:
    return ApiKeyOut.model_validate({**_fields(key), "status": key_status(key, now)})


def _fields(key: ApiKey) -> dict[str, object]:
    names = ApiKeyOut.model_fields.keys() - {"status"}
    return {name: getattr(key, name) for name in names}


def _created(issued: IssuedKey, now: datetime) -> ApiKeyCreatedOut:
    return ApiKeyCreatedOut.model_validate(
        {**_out(issued.key, now).model_dump(), "secret": issued.secret}
    )


@router.post(
    "/v1/api-keys",
    status_code=status.HTTP_201_CREATED,
    summary="Make an API key",
    description="A key for an integration, acting as you with the scopes you name (a subset of "
    "the scopes of the credential making it: a key never does more than you can). The response "
    "holds the key itself, `secret`, **this once**: only a keyed hash is stored. Send it as "
    "`Authorization: Bearer rk_…`. Keys are `rk_live_…` in production and `rk_test_…` elsewhere.",
    responses=problem_responses(*AUTH_PROBLEMS),
)
async def create_api_key(
    body: ApiKeyIn,
    principal: ApiKeyManager,
    session: Session,
    identity: IdentityService,
    now: Now,
    response: Response,
) -> ApiKeyCreatedOut:
    issued = await identity.api_keys.create(
        session, principal, body.name, [s.value for s in body.scopes], body.expires_at, now
    )
    response.headers["Location"] = _KEY_PATH.format(key_id=issued.key.id)
    return _created(issued, now)


@router.get(
    "/v1/api-keys",
    summary="Your API keys, newest first",
    description="Every key you made, revoked and expired ones included, without their secrets.",
    responses=problem_responses(*AUTH_PROBLEMS),
)
async def list_api_keys(
    principal: ApiKeyManager,
    session: Session,
    identity: IdentityService,
    now: Now,
    page: Pagination,
) -> Page[ApiKeyOut]:
    rows, cursor = await identity.api_keys.list(session, principal.user_id, page)
    return Page[ApiKeyOut](**page_of([_out(k, now) for k in rows], cursor))


@router.get(
    _KEY_PATH,
    summary="One of your API keys",
    description="Without its secret. Another account's key answers 404.",
    responses=problem_responses(*AUTH_PROBLEMS, ApiKeyNotFound),
)
async def get_api_key(
    key_id: str, principal: ApiKeyManager, session: Session, identity: IdentityService, now: Now
) -> ApiKeyOut:
    return _out(await identity.api_keys.get(session, principal.user_id, key_id), now)


@router.post(
    _KEY_PATH + "/rotate",
    status_code=status.HTTP_201_CREATED,
    summary="Rotate an API key: a new key, the old one working for a while",
    description="Makes a new key with the old one's name, scopes and plan (its `secret` is in "
    "the response, this once). The old key keeps working until `now + overlap_seconds` "
    "(`previous.expires_at`), so deployments can switch without downtime. A revoked, expired or "
    "already rotated key is a 409.",
    responses=problem_responses(*AUTH_PROBLEMS, ApiKeyNotFound, ApiKeyNotRotatable),
)
async def rotate_api_key(
    key_id: str,
    principal: ApiKeyManager,
    session: Session,
    identity: IdentityService,
    now: Now,
    response: Response,
    body: ApiKeyRotateIn | None = None,
) -> ApiKeyRotatedOut:
    overlap = timedelta(seconds=(body or ApiKeyRotateIn()).overlap_seconds)
    issued, previous = await identity.api_keys.rotate(session, principal, key_id, overlap, now)
    response.headers["Location"] = _KEY_PATH.format(key_id=issued.key.id)
    return ApiKeyRotatedOut.model_validate(
        {**_created(issued, now).model_dump(), "previous": _out(previous, now)}
    )


@router.delete(
    _KEY_PATH,
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Revoke an API key",
    description="The key stops working at once (401 `invalid-token` from then on). It stays in "
    "your list as `revoked`. Revoking a revoked key is a no-op.",
    responses=problem_responses(*AUTH_PROBLEMS, ApiKeyNotFound),
)
async def revoke_api_key(
    key_id: str, principal: ApiKeyManager, session: Session, identity: IdentityService, now: Now
) -> Response:
    await identity.api_keys.revoke(session, principal.user_id, key_id, now)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.put(
    "/v1/operator/api-keys/{key_id}/plan",
    tags=["operator"],
    summary="Set an API key's rate-limit plan",
    description="Moves the key and every key of its rotation chain to a plan of "
    "`RAPPORT_RATE_LIMIT_PLANS`. Operators only.",
    responses=problem_responses(*AUTH_PROBLEMS, ApiKeyNotFound),
)
async def set_api_key_plan(
    key_id: str,
    body: ApiKeyPlanIn,
    principal: Operator,
    session: Session,
    identity: IdentityService,
    now: Now,
) -> ApiKeyOut:
    plans = frozenset(identity.rate_limiter.plans)
    return _out(await identity.api_keys.set_plan(session, key_id, body.plan, plans), now)
