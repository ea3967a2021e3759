"""The OAuth2 authorization server: authlib's grants and endpoints on Rapport's tables.

The protocol is authlib's (`authlib.oauth2`): parsing and validating the authorization request,
client authentication (`client_secret_basic`, `client_secret_post`, `none` for public clients),
the authorization code grant with PKCE (RFC 7636, S256 only, required of every client), refresh
tokens, client credentials, revocation (RFC 7009) and introspection (RFC 7662), and the RFC 6749
error responses. This module only tells authlib where things are stored and what Rapport's rules
are:

- tokens, codes and client secrets are random, prefixed (`roa_` access, `ror_` refresh, `roc_`
  code, `rcs_` client secret: a leaked one is recognisable) and stored as a keyed hash only;
- a code is claimed by a compare-and-set when it is exchanged: a second exchange (a reused code)
  is `invalid_grant` and revokes every token issued from it (RFC 6749 §4.1.2);
- a refresh rotates: the presented refresh token and its access token stop working and a new
  pair is issued in the same family; a refresh token presented again after its rotation is a
  leak, so the whole family is revoked (OAuth 2.0 Security BCP §4.14);
- revoking any token of a grant revokes the grant (every token of its family; RFC 7009 §2.1
  allows it); introspection answers only about the asking client's own tokens (another
  client's token is `{"active": false}`, RFC 7662 §2.2).

authlib is synchronous; Rapport's database is not. Each flow runs inside
`AsyncSession.run_sync`, which hands it the session's synchronous face: the grants' hooks below
query through that, in the request's one transaction (SQLAlchemy's documented bridge; no thread,
no second connection). A server object is built per request around that session and the clock's
`now`: registering three grants and two endpoints costs microseconds.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from authlib.oauth2 import AuthorizationServer, OAuth2Error, OAuth2Request
from authlib.oauth2.rfc6749 import (
    AuthorizationCodeMixin,
    ClientMixin,
    InvalidGrantError,
    InvalidRequestError,
    InvalidScopeError,
    OAuth2Payload,
    TokenMixin,
    grants,
    scope_to_list,
)
from authlib.oauth2.rfc6750 import BearerTokenGenerator
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc7662 import IntrospectionEndpoint
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session as SyncSession

from app.db import rowcount
from app.ids import new_id
from app.models import OAuthAuthorizationCode, OAuthClient, OAuthConsent, OAuthToken, User
from app.services.identity.scopes import CLIENT_CREDENTIALS_SCOPES, OAUTH_SCOPES
from app.settings import Settings

# The prefix of each kind of OAuth secret (issued tokens, codes, client secrets).
PREFIX = {"access": "roa_", "refresh": "ror_", "code": "roc_", "client": "rcs_"}
# RFC 6749 §4.1.2 recommends at most ten minutes; a browser round trip needs seconds.
CODE_TTL = timedelta(minutes=5)

GrantType = Literal["authorization_code", "refresh_token", "client_credentials"]
GRANT_TYPES: tuple[GrantType, ...] = ("authorization_code", "refresh_token", "client_credentials")
SECRET_METHODS = ["client_secret_basic", "client_secret_post"]


class SecretHasher:
    """A keyed hash (HMAC-SHA256 under the app's secret) of every OAuth secret, one label per
    kind. Fast, like the API keys' (credentials.py says why not argon2): these are 256 random
    bits, looked up by their digest."""

    def __init__(self, settings: Settings) -> None:
        self._key = settings.secret_key.get_secret_value().encode()

    def hash(self, kind: str, value: str) -> str:
        message = f"rapport-oauth-{kind}\0{value}".encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()


def new_secret(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(32)


# --- the HTTP request, as the router hands it over (no Starlette here) --------------------------


@dataclass(frozen=True)
class HttpRequest:
    """An OAuth request's parts: `params` are the query (authorization endpoint) or the form
    fields (every POST), in order, repeats kept (authlib refuses repeated parameters)."""

    method: str
    # The endpoint's public URL (Settings.public_url + path): authlib refuses plain http except
    # on loopback addresses.
    uri: str
    params: list[tuple[str, str]]
    authorization: str | None = None


@dataclass(frozen=True)
class OAuthResponse:
    """What authlib answers: a JSON body or a redirect (`Location` in the headers)."""

    status: int
    body: dict[str, Any]
    headers: list[tuple[str, str]]


@dataclass(frozen=True)
class ConsentRequest:
    """A valid authorization request, waiting for the user's decision."""

    client: OAuthClient
    scopes: list[str]
    redirect_uri: str
    state: str | None


@dataclass(frozen=True)
class AuthorizationRefused:
    """An authorization request that must not go back to the client: the client is unknown or
    the redirect URI is not one it registered (RFC 6749 §4.1.2.1: never redirect then)."""

    error: str
    description: str


class _Payload(OAuth2Payload):
    def __init__(self, params: list[tuple[str, str]]) -> None:
        lists: defaultdict[str, list[str]] = defaultdict(list)
        for name, value in params:
            lists[name].append(value)
        self._datalist = lists
        self._data = {name: values[0] for name, values in lists.items()}

    @property
    def data(self) -> dict[str, str]:
        return self._data

    @property
    def datalist(self) -> defaultdict[str, list[str]]:
        return self._datalist


class _Request(OAuth2Request):
    def __init__(self, request: HttpRequest) -> None:
        headers = {"Authorization": request.authorization} if request.authorization else {}
        super().__init__(request.method, request.uri, headers=headers)
        self.payload = _Payload(request.params)

    @property
    def args(self) -> dict[str, str]:
        data: dict[str, str] = self.payload.data
        return data

    @property
    def form(self) -> dict[str, str]:
        data: dict[str, str] = self.payload.data
        return data


# --- Rapport's rows as authlib's models ---------------------------------------------------------


class _Client(ClientMixin):
    def __init__(self, row: OAuthClient, hasher: SecretHasher, now: datetime) -> None:
        self.row = row
        self._hasher = hasher
        self._now = now

    def get_client_id(self) -> str:
        return self.row.id

    def get_default_redirect_uri(self) -> str | None:
        # Only an application with one registered URI may leave `redirect_uri` out.
        uris = self.row.redirect_uris
        return uris[0] if len(uris) == 1 else None

    def get_allowed_scope(self, scope: str | None) -> str | None:
        """The scopes asked for, if every one is registered for the application; else None
        (`invalid_scope`: a request is granted as asked or refused, never silently narrowed).
        A request must name its scopes."""
        requested = set(scope_to_list(scope) or [])
        if not requested or not requested <= set(self.row.scopes):
            return None
        return " ".join(sorted(requested))

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        # Exact string comparison with a registered URI (RFC 9700 §4.1.3): no prefixes, no
        # wildcards.
        return redirect_uri in self.row.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        """The current secret, or the one a rotation replaced while its overlap runs."""
        row = self.row
        if row.secret_hash is None:
            return False
        given = self._hasher.hash("client", client_secret)
        if hmac.compare_digest(given, row.secret_hash):
            return True
        overlap_ends = row.previous_secret_expires_at
        return (
            row.previous_secret_hash is not None
            and overlap_ends is not None
            and self._now < overlap_ends
            and hmac.compare_digest(given, row.previous_secret_hash)
        )

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        if self.row.confidential:
            return method in SECRET_METHODS
        # A public client proves nothing; it may exchange its code (with PKCE), refresh and
        # revoke, but not introspect.
        return method == "none" and endpoint in ("token", "revocation")

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code" and "authorization_code" in self.row.grant_types

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in self.row.grant_types


class _Code(AuthorizationCodeMixin):
    def __init__(self, row: OAuthAuthorizationCode) -> None:
        self.row = row
        self.code_challenge = row.code_challenge
        self.code_challenge_method = row.code_challenge_method

    def get_redirect_uri(self) -> str:
        return self.row.redirect_uri

    def get_scope(self) -> str:
        return " ".join(self.row.scopes)


class _Token(TokenMixin):
    def __init__(self, row: OAuthToken, kind: Literal["access", "refresh"], now: datetime) -> None:
        self.row = row
        self.kind = kind
        self._now = now

    def check_client(self, client: _Client) -> bool:
        return self.row.client_id == client.get_client_id()

    def get_scope(self) -> str:
        return " ".join(self.row.scopes)

    def get_expires_in(self) -> int:
        return int((self.row.access_expires_at - self.row.issued_at).total_seconds())

    def expires_at(self) -> datetime:
        if self.kind == "refresh" and self.row.refresh_expires_at is not None:
            return self.row.refresh_expires_at
        return self.row.access_expires_at

    def is_expired(self) -> bool:
        return self.expires_at() <= self._now

    def is_revoked(self) -> bool:
        return self.row.revoked_at is not None


# --- the grants ---------------------------------------------------------------------------------


class _S256Challenge(CodeChallenge):
    """PKCE for every client, S256 only (OAuth 2.1; RFC 9700 §2.1.1)."""

    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        data = grant.request.payload.data
        if not data.get("code_challenge"):
            raise InvalidRequestError(
                "PKCE is required: send code_challenge (S256 of your code_verifier) and "
                "code_challenge_method=S256"
            )
        if data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("code_challenge_method must be S256")
        super().validate_code_challenge(grant, redirect_uri)


class _AuthorizationCodeGrant(grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = [*SECRET_METHODS, "none"]
    server: _Server

    def generate_authorization_code(self) -> str:
        return new_secret(PREFIX["code"])

    def save_authorization_code(self, code: str, request: _Request) -> None:
        server, data = self.server, request.payload.data
        server.session.add(
            OAuthAuthorizationCode(
                id=new_id("oauth_code"),
                code_hash=server.hasher.hash("code", code),
                client_id=request.client.get_client_id(),
                user_id=request.user.id,
                # As sent: when it was left out, the token request may leave it out too.
                redirect_uri=data.get("redirect_uri") or "",
                scopes=scope_to_list(request.scope),
                code_challenge=data["code_challenge"],
                code_challenge_method=data["code_challenge_method"],
                created_at=server.now,
                expires_at=server.now + CODE_TTL,
            )
        )
        server.session.flush()

    def query_authorization_code(self, code: str, client: _Client) -> _Code | None:
        server = self.server
        row = server.session.scalar(
            select(OAuthAuthorizationCode).where(
                OAuthAuthorizationCode.code_hash == server.hasher.hash("code", code)
            )
        )
        if row is None or row.client_id != client.get_client_id():
            return None
        # Claimed now, whatever follows (a wrong verifier spends the code too): of two
        # exchanges, racing or not, exactly one gets past this compare-and-set.
        claimed = server.session.execute(
            update(OAuthAuthorizationCode)
            .where(OAuthAuthorizationCode.id == row.id, OAuthAuthorizationCode.used_at.is_(None))
            .values(used_at=server.now)
            .execution_options(synchronize_session=False)
        )
        if rowcount(claimed) != 1:
            server.revoke_family(row.id)
            raise InvalidGrantError(
                "This authorization code was already used; the tokens issued from it are revoked"
            )
        if row.expires_at <= server.now:
            raise InvalidGrantError("This authorization code has expired; ask the user again")
        return _Code(row)

    def delete_authorization_code(self, authorization_code: _Code) -> None:
        # Nothing left to do: the code was spent when it was claimed.
        return None

    def authenticate_user(self, authorization_code: _Code) -> User | None:
        row = authorization_code.row
        consented = self.server.session.scalar(
            select(OAuthConsent.id).where(
                OAuthConsent.user_id == row.user_id,
                OAuthConsent.client_id == row.client_id,
                OAuthConsent.revoked_at.is_(None),
            )
        )
        if consented is None:
            # The user revoked the application between the consent and the exchange.
            raise InvalidGrantError("The user has revoked this application's access")
        return self.server.session.get(User, row.user_id)


class _RefreshTokenGrant(grants.RefreshTokenGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = [*SECRET_METHODS, "none"]
    INCLUDE_NEW_REFRESH_TOKEN = True
    server: _Server

    def authenticate_refresh_token(self, refresh_token: str) -> _Token | None:
        server = self.server
        row = server.session.scalar(
            select(OAuthToken).where(
                OAuthToken.refresh_token_hash == server.hasher.hash("refresh", refresh_token)
            )
        )
        if row is None or row.client_id != self.request.client.get_client_id():
            return None
        if row.refresh_used_at is not None:
            server.revoke_family(row.family_id)
            raise InvalidGrantError(
                "This refresh token was already used; every token of its grant is revoked"
            )
        requested = set(scope_to_list(self.request.payload.scope) or [])
        if not requested <= set(row.scopes):
            raise InvalidScopeError("A refresh cannot widen the scopes the user granted")
        # Rotation: the presented token (and its access token) end here. The compare-and-set
        # makes one of two racing refreshes the winner and the other a reuse.
        claimed = server.session.execute(
            update(OAuthToken)
            .where(
                OAuthToken.id == row.id,
                OAuthToken.refresh_used_at.is_(None),
                OAuthToken.revoked_at.is_(None),
                OAuthToken.refresh_expires_at > server.now,
            )
            .values(refresh_used_at=server.now, revoked_at=server.now)
            .execution_options(synchronize_session=False)
        )
        if rowcount(claimed) != 1:
            used_at = server.session.scalar(
                select(OAuthToken.refresh_used_at).where(OAuthToken.id == row.id)
            )
            if used_at is not None:
                server.revoke_family(row.family_id)
                raise InvalidGrantError(
                    "This refresh token was already used; every token of its grant is revoked"
                )
            return None  # revoked or expired: invalid_grant
        return _Token(row, "refresh", server.now)

    def authenticate_user(self, refresh_token: _Token) -> User | None:
        user_id = refresh_token.row.user_id
        return None if user_id is None else self.server.session.get(User, user_id)

    def revoke_old_credential(self, refresh_token: _Token) -> None:
        # Done when it was claimed, before the new tokens were made.
        return None


class _ClientCredentialsGrant(grants.ClientCredentialsGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = SECRET_METHODS
    server: _Server

    def validate_token_request(self) -> None:
        super().validate_token_request()
        client: _Client = self.request.client
        requested = set(scope_to_list(self.request.payload.scope) or CLIENT_CREDENTIALS_SCOPES)
        allowed = set(client.row.scopes) & CLIENT_CREDENTIALS_SCOPES
        if not requested <= allowed:
            raise InvalidScopeError(
                "An application acting for itself may hold only: "
                + ", ".join(sorted(allowed or CLIENT_CREDENTIALS_SCOPES))
                + " (registered for it)"
            )
        self.request.scope = " ".join(sorted(requested))

    def create_token_response(self) -> tuple[int, dict[str, Any], list[tuple[str, str]]]:
        # authlib's, with the scope resolved above (it would pass the raw request's).
        token = self.generate_token(scope=self.request.scope, include_refresh_token=False)
        self.save_token(token)
        return 200, token, self.TOKEN_RESPONSE_HEADER


# --- revocation and introspection ---------------------------------------------------------------


class _Revocation(RevocationEndpoint):
    CLIENT_AUTH_METHODS = [*SECRET_METHODS, "none"]
    server: _Server

    def query_token(self, token_string: str, token_type_hint: str | None) -> _Token | None:
        return self.server.find_token(token_string)

    def revoke_token(self, token: _Token, request: _Request) -> None:
        self.server.revoke_family(token.row.family_id)


class _Introspection(IntrospectionEndpoint):
    CLIENT_AUTH_METHODS = SECRET_METHODS
    server: _Server

    def query_token(self, token_string: str, token_type_hint: str | None) -> _Token | None:
        return self.server.find_token(token_string)

    def check_permission(self, token: _Token, client: _Client, request: _Request) -> bool:
        # Only the client the token was issued to: another's is `active: false`, as if unknown.
        return token.check_client(client)

    def introspect_token(self, token: _Token) -> dict[str, Any]:
        row = token.row
        body: dict[str, Any] = {
            "active": True,
            "client_id": row.client_id,
            "scope": token.get_scope(),
            "sub": row.user_id or row.client_id,
            "iss": self.server.settings.public_url,
            "iat": int(row.issued_at.timestamp()),
            "exp": int(token.expires_at().timestamp()),
        }
        if token.kind == "access":
            body["token_type"] = "Bearer"  # noqa: S105  (the type's name, not a secret)
        return body


# --- the server -----------------------------------------------------------------------------------


class _Server(AuthorizationServer):
    def __init__(
        self, session: SyncSession, now: datetime, settings: Settings, hasher: SecretHasher
    ) -> None:
        super().__init__(scopes_supported=sorted(OAUTH_SCOPES))
        self.session = session
        self.now = now
        self.settings = settings
        self.hasher = hasher
        self.register_token_generator(
            "default",
            BearerTokenGenerator(
                lambda **_: new_secret(PREFIX["access"]),
                lambda **_: new_secret(PREFIX["refresh"]),
                lambda client, grant_type: settings.oauth_access_token_ttl_seconds,
            ),
        )
        self.register_grant(_AuthorizationCodeGrant, [_S256Challenge(required=True)])
        self.register_grant(_RefreshTokenGrant)
        self.register_grant(_ClientCredentialsGrant)
        self.register_endpoint(_Revocation)
        self.register_endpoint(_Introspection)

    # authlib's framework hooks

    def query_client(self, client_id: str) -> _Client | None:
        row = self.session.scalar(
            select(OAuthClient).where(OAuthClient.id == client_id, OAuthClient.revoked_at.is_(None))
        )
        return None if row is None else _Client(row, self.hasher, self.now)

    def save_token(self, token: dict[str, Any], request: _Request) -> None:
        grant_type = request.payload.grant_type
        if grant_type == "authorization_code":
            family_id = request.authorization_code.row.id
        elif grant_type == "refresh_token":
            family_id = request.refresh_token.row.family_id
        else:
            family_id = new_id("oauth_token")
        refresh = token.get("refresh_token")
        refresh_ttl = timedelta(seconds=self.settings.oauth_refresh_token_ttl_seconds)
        self.session.add(
            OAuthToken(
                id=new_id("oauth_token"),
                client_id=request.client.get_client_id(),
                user_id=request.user.id if request.user is not None else None,
                family_id=family_id,
                scopes=scope_to_list(token.get("scope")) or [],
                access_token_hash=self.hasher.hash("access", token["access_token"]),
                refresh_token_hash=self.hasher.hash("refresh", refresh) if refresh else None,
                issued_at=self.now,
                access_expires_at=self.now + timedelta(seconds=token["expires_in"]),
                refresh_expires_at=self.now + refresh_ttl if refresh else None,
            )
        )
        self.session.flush()

    def create_oauth2_request(self, request: HttpRequest | _Request) -> _Request:
        return request if isinstance(request, _Request) else _Request(request)

    def create_json_request(self, request: object) -> None:
        raise NotImplementedError("Rapport's OAuth endpoints take no JSON requests")

    def handle_response(
        self, status: int, body: Any, headers: list[tuple[str, str]]
    ) -> OAuthResponse:
        return OAuthResponse(status, body if isinstance(body, dict) else {}, list(headers))

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        return None

    # shared by the grants and endpoints

    def find_token(self, token_string: str) -> _Token | None:
        if token_string.startswith(PREFIX["refresh"]):
            column, kind = OAuthToken.refresh_token_hash, "refresh"
        elif token_string.startswith(PREFIX["access"]):
            column, kind = OAuthToken.access_token_hash, "access"
        else:
            return None
        row = self.session.scalar(
            select(OAuthToken).where(column == self.hasher.hash(kind, token_string))
        )
        return None if row is None else _Token(row, kind, self.now)  # type: ignore[arg-type]

    def revoke_family(self, family_id: str) -> None:
        self.session.execute(
            update(OAuthToken)
            .where(OAuthToken.family_id == family_id, OAuthToken.revoked_at.is_(None))
            .values(revoked_at=self.now)
            .execution_options(synchronize_session=False)
        )


# --- the flows, each run inside AsyncSession.run_sync ---------------------------------------------


@dataclass(frozen=True)
class OAuthFlows:
    settings: Settings
    hasher: SecretHasher

    def _server(self, session: SyncSession, now: datetime) -> _Server:
        return _Server(session, now, self.settings, self.hasher)

    @staticmethod
    def _refused(server: _Server, error: OAuth2Error) -> OAuthResponse | AuthorizationRefused:
        if error.redirect_uri:
            # The client and its redirect URI are known good: the error goes back to it.
            response: OAuthResponse = server.handle_error_response(None, error)
            return response
        return AuthorizationRefused(str(error.error), str(error.get_error_description() or ""))

    def consent(
        self, session: SyncSession, request: HttpRequest, now: datetime
    ) -> ConsentRequest | OAuthResponse | AuthorizationRefused:
        """Checks an authorization request before the consent page is shown."""
        server = self._server(session, now)
        try:
            grant = server.get_consent_grant(server.create_oauth2_request(request))
        except OAuth2Error as error:
            return self._refused(server, error)
        return ConsentRequest(
            client=grant.client.row,
            scopes=scope_to_list(grant.request.scope),
            redirect_uri=grant.redirect_uri,
            state=grant.request.payload.state,
        )

    def decide(
        self, session: SyncSession, request: HttpRequest, user: User | None, now: datetime
    ) -> OAuthResponse | AuthorizationRefused:
        """The user's answer: with `user`, consent is recorded and a code goes to the client;
        without (denied), `access_denied` goes back."""
        server = self._server(session, now)
        try:
            oauth_request = server.create_oauth2_request(request)
            grant = server.get_consent_grant(oauth_request, end_user=user)
        except OAuth2Error as error:
            return self._refused(server, error)
        if user is not None:
            scopes = scope_to_list(grant.request.scope)
            record_consent(session, user.id, grant.client.row.id, scopes, now)
        response: OAuthResponse = server.create_authorization_response(
            oauth_request, grant_user=user, grant=grant
        )
        return response

    def identify(
        self,
        session: SyncSession,
        name: Literal["token", "revocation", "introspection"],
        request: HttpRequest,
        now: datetime,
    ) -> str | None:
        """The application a token, revocation or introspection request authenticates as
        (authlib's client authentication, as the endpoint itself will run it), or None when it
        fails: no client named, an unknown or revoked one, a wrong or expired secret, a method
        the endpoint refuses. Reads only; the endpoint then runs (`endpoint`) or, over a rate
        limit, does not."""
        server = self._server(session, now)
        methods = [*SECRET_METHODS, "none"] if name != "introspection" else SECRET_METHODS
        try:
            client = server.authenticate_client(
                server.create_oauth2_request(request), methods, name
            )
        except OAuth2Error:
            return None
        client_id: str = client.get_client_id()
        return client_id

    def endpoint(
        self,
        session: SyncSession,
        name: Literal["token", "revocation", "introspection"],
        request: HttpRequest,
        now: datetime,
    ) -> OAuthResponse:
        """The token, revocation or introspection endpoint."""
        server = self._server(session, now)
        try:
            oauth_request = server.create_oauth2_request(request)
        except OAuth2Error as error:  # insecure transport: not even parsed
            response: OAuthResponse = server.handle_error_response(None, error)
            return response
        if name == "token":
            response = server.create_token_response(oauth_request)
        else:
            response = server.create_endpoint_response(name, oauth_request)
        return response


def record_consent(
    session: SyncSession, user_id: str, client_id: str, scopes: list[str], now: datetime
) -> OAuthConsent:
    """The user's consent to the application, one row per pair: its scopes grow with each
    consent (a revoked consent starts again from what was just granted)."""
    consent = session.scalar(
        select(OAuthConsent).where(
            OAuthConsent.user_id == user_id, OAuthConsent.client_id == client_id
        )
    )
    if consent is None:
        fresh = OAuthConsent(
            id=new_id("oauth_consent"),
            user_id=user_id,
            client_id=client_id,
            scopes=sorted(set(scopes)),
            created_at=now,
            updated_at=now,
        )
        try:
            with session.begin_nested():
                session.add(fresh)
                session.flush()
            return fresh
        except IntegrityError:
            # The same user consented in another request just now: add to that row.
            consent = session.scalars(
                select(OAuthConsent).where(
                    OAuthConsent.user_id == user_id, OAuthConsent.client_id == client_id
                )
            ).one()
    granted = set(scopes) if consent.revoked_at is not None else set(consent.scopes) | set(scopes)
    consent.scopes = sorted(granted)
    consent.revoked_at = None
    consent.updated_at = now
    session.flush()
    return consent
