"""Passwords (argon2id) and access tokens (HS256 JWTs with exp, iss, aud required)."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from app.settings import Settings

ACCESS_TOKEN_ALGORITHM = "HS256"  # noqa: S105 - an algorithm name
CLOCK_SKEW_SECONDS = 30


class Passwords:
    def __init__(self, settings: Settings) -> None:
        # argon2-cffi's PasswordHasher is argon2id by default.
        self._hasher = PasswordHasher(
            time_cost=settings.password_time_cost,
            memory_cost=settings.password_memory_cost_kib,
            parallelism=settings.password_parallelism,
        )
        # Verified against when the email is unknown, so both paths cost the same time.
        self._dummy_hash = self._hasher.hash(secrets.token_urlsafe(16))

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    def verify(self, password_hash: str | None, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash or self._dummy_hash, password) and (
                password_hash is not None
            )
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, password_hash: str) -> bool:
        return self._hasher.check_needs_rehash(password_hash)


@dataclass(frozen=True)
class AccessClaims:
    subject: str
    scopes: frozenset[str]
    expires_at: datetime


class TokenError(Exception):
    pass


class AccessTokens:
    def __init__(self, settings: Settings) -> None:
        self._key = settings.secret_key.get_secret_value()
        self._issuer = settings.jwt_issuer
        self._audience = settings.jwt_audience
        self.ttl = timedelta(seconds=settings.access_token_ttl_seconds)

    def issue(self, subject: str, scopes: frozenset[str], now: datetime) -> tuple[str, datetime]:
        expires_at = now + self.ttl
        claims = {
            "sub": subject,
            "iss": self._issuer,
            "aud": self._audience,
            "iat": int(now.timestamp()),
            "exp": int(expires_at.timestamp()),
            "jti": secrets.token_hex(8),
            "scope": " ".join(sorted(scopes)),
        }
        return jwt.encode(claims, self._key, algorithm=ACCESS_TOKEN_ALGORITHM), expires_at

    def verify(self, token: str, now: datetime) -> AccessClaims:
        try:
            # One algorithm only: `none` and every other algorithm is refused by PyJWT.
            # Times are checked below against the application's clock, not the wall clock.
            claims = jwt.decode(
                token,
                self._key,
                algorithms=[ACCESS_TOKEN_ALGORITHM],
                audience=self._audience,
                issuer=self._issuer,
                options={
                    "require": ["exp", "iat", "iss", "aud", "sub"],
                    "verify_exp": False,
                    "verify_iat": False,
                    "verify_nbf": False,
                },
            )
        except jwt.PyJWTError as exc:
            raise TokenError("the access token is invalid") from exc
        subject, scope = claims.get("sub"), claims.get("scope", "")
        exp, iat = claims.get("exp"), claims.get("iat")
        if not (
            isinstance(subject, str)
            and isinstance(scope, str)
            and isinstance(exp, int)
            and isinstance(iat, int)
        ):
            raise TokenError("the access token is invalid")
        moment = int(now.timestamp())
        if exp <= moment:
            raise TokenError("the access token has expired")
        if iat > moment + CLOCK_SKEW_SECONDS:
            raise TokenError("the access token is not valid yet")
        return AccessClaims(
            subject=subject,
            scopes=frozenset(scope.split()),
            expires_at=datetime.fromtimestamp(exp, UTC),
        )


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()
