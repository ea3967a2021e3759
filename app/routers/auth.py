from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Response, status

from app.auth import CurrentUser
from app.db import Session
from app.deps import ClientIp, IdentityService, Now
from app.errors import (
    AUTH_PROBLEMS,
    InvalidCredentials,
    InvalidToken,
    RateLimited,
    RefreshTokenReused,
    problem_responses,
)
from app.schemas.auth import RefreshIn, RegisterIn, TokenOut, UserOut
from app.services.identity.users import EmailTaken, IssuedTokens, get_user

router = APIRouter(tags=["auth"])


def _token_out(tokens: IssuedTokens) -> TokenOut:
    return TokenOut(
        access_token=tokens.access_token,
        expires_in=tokens.expires_in,
        refresh_token=tokens.refresh_token,
        scope=tokens.scope,
    )


@router.post(
    "/v1/auth/register",
    status_code=status.HTTP_201_CREATED,
    summary="Create an account",
    description="Creates an account from an email, a password and a full name, and returns it. "
    "Sign in next with `POST /v1/auth/token`. An email already registered is a 409 `email-taken`.",
    responses=problem_responses(EmailTaken),
)
async def register(body: RegisterIn, session: Session, identity: IdentityService) -> UserOut:
    user = await identity.register(session, body.email, body.password, body.full_name)
    return UserOut.model_validate(user)


@router.post(
    "/v1/auth/token",
    summary="Sign in with email and password (OAuth2 password grant)",
    description="Form fields `username` (the email) and `password`. Returns a short-lived access "
    "token and a single-use refresh token. Rate-limited per account and per client IP; a wrong "
    "password and an unknown email fail the same way.",
    responses=problem_responses(InvalidCredentials, RateLimited),
)
async def issue_token(
    username: Annotated[str, Form(max_length=320, description="The account's email")],
    password: Annotated[str, Form(max_length=200)],
    session: Session,
    identity: IdentityService,
    now: Now,
    ip: ClientIp,
    grant_type: Annotated[str | None, Form(pattern="^password$")] = None,
    scope: Annotated[str, Form(description="Ignored: a user gets every user scope")] = "",
) -> TokenOut:
    return _token_out(await identity.login(session, username, password, ip, now))


@router.post(
    "/v1/auth/refresh",
    summary="Exchange a refresh token for new tokens",
    description="The presented refresh token is spent. Presenting a spent token again revokes "
    "every token issued from the same sign-in.",
    responses=problem_responses(InvalidToken, RefreshTokenReused),
)
async def refresh_token(
    body: RefreshIn, session: Session, identity: IdentityService, now: Now
) -> TokenOut:
    return _token_out(await identity.refresh(session, body.refresh_token, now))


@router.post(
    "/v1/auth/logout",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Sign out: revoke the refresh token and its whole sign-in",
    description="Always answers 204, whether or not the token was known (RFC 7009). Access "
    "tokens already issued stay valid until they expire (at most 15 minutes by default).",
    responses=problem_responses(),
)
async def logout(
    body: RefreshIn, session: Session, identity: IdentityService, now: Now
) -> Response:
    await identity.logout(session, body.refresh_token, now)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/v1/me",
    tags=["me"],
    summary="The signed-in account",
    description="Who the bearer token belongs to: id, email, name and whether the account is an "
    "operator.",
    responses=problem_responses(*AUTH_PROBLEMS),
)
async def get_me(principal: CurrentUser, session: Session) -> UserOut:
    return UserOut.model_validate(await get_user(session, principal.user_id))
