"""Passwords (argon2id) and access tokens (HS256 JWTs with exp, iss, aud required)."""

from __future__ import annotations

import hashlib
import secrets
from collections import OrderedDict
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
    # Tokens whose signature and claims were checked, newest last: a client sends the same token
    # with every request for its lifetime, and checking an HS256 signature and decoding the claims
    # was 6 % of a single-brief read's CPU. Only the token's own content is remembered (what it
    # says, and that this process's key signed it); its times are checked against the clock on
    # every use, and everything else a request checks (the account, the scopes it holds now, the
    # rate limit) is checked on every request as before.
    VERIFIED_CACHE_SIZE = 4096

    def __init__(self, settings: Settings) -> None:
        self._key = settings.secret_key.get_secret_value()
        self._issuer = settings.jwt_issuer
        self._audience = settings.jwt_audience
        self.ttl = timedelta(seconds=settings.access_token_ttl_seconds)
        self._verified: OrderedDict[str, tuple[AccessClaims, int]] = OrderedDict()

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
        content = self._verified.get(token)
        if content is None:
            content = self._decode(token)
            self._verified[token] = content
            if len(self._verified) > self.VERIFIED_CACHE_SIZE:
                self._verified.popitem(last=False)
        else:
            self._verified.move_to_end(token)
        claims, iat = content
        moment = int(now.timestamp())
        if claims.expires_at.timestamp() <= moment:
            raise TokenError("the access token has expired")
        if iat > moment + CLOCK_SKEW_SECONDS:
            raise TokenError("the access token is not valid yet")
        return claims

    def _decode(self, token: str) -> tuple[AccessClaims, int]:
        """The token's claims and issue time, once its signature, algorithm, issuer, audience
        and required claims are checked; raises TokenError otherwise."""
        try:
            # One algorithm only: `none` and every other algorithm is refused by PyJWT.
            # Times are checked in `verify` against the application's clock, not the wall clock.
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
        verified = AccessClaims(
            subject=subject,
            scopes=frozenset(scope.split()),
            expires_at=datetime.fromtimestamp(exp, UTC),
        )
        return verified, iat


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()
