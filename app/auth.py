"""Who is calling, and may they call this route.

One dependency, `Authenticator(*scopes)`, authenticates the caller from the `Authorization` header
and checks that the credential carries every required scope. Routes take it through `Annotated`
aliases (`CurrentUser`, …) so the requirement is visible on the route and in OpenAPI.

Credentials today: user access tokens (JWT). Partner API keys and OAuth2 client tokens plug in
here later as further `Principal` kinds with their own, narrower scope sets; routes do not change.
Object-level access is not decided here: services filter their queries by the principal.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import Depends, Request, Security
from fastapi.security import OAuth2PasswordBearer, SecurityScopes

from app.db import Session
from app.errors import InsufficientScope, InvalidToken, NotAuthenticated
from app.models import User
from app.security import TokenError


class Scope(enum.StrEnum):
    profile = "profile"  # read and change one's own account
    brands_read = "brands:read"
    brands_write = "brands:write"
    influencer_read = "influencer:read"
    influencer_write = "influencer:write"
    catalogue_read = "catalogue:read"
    briefs_write = "briefs:write"
    bids_read = "bids:read"
    bids_write = "bids:write"
    contracts_read = "contracts:read"
    contracts_write = "contracts:write"
    operator = "operator"


SCOPE_DESCRIPTIONS: dict[str, str] = {
    Scope.profile: "Read and change your own account",
    Scope.brands_read: "Read the brands you are a member of",
    Scope.brands_write: "Manage brands you belong to: profile, members, invitations",
    Scope.influencer_read: "Read your influencer profile",
    Scope.influencer_write: "Create and change your influencer profile",
    Scope.catalogue_read: "Read public briefs and influencer listings",
    Scope.briefs_write: "Create, change and move the briefs of brands you belong to",
    Scope.bids_read: "Read the bids, offers and messages you are a party to",
    Scope.bids_write: "Invite, bid, make and answer offers, and send messages as a party",
    Scope.contracts_read: "Read the contracts you are a party to",
    Scope.contracts_write: "Act on the contracts you are a party to (e.g. cancel before funding)",
    Scope.operator: "Platform operations (operators only)",
}

# A signed-in person acts with every scope a person can hold; operators also get `operator`.
USER_SCOPES: frozenset[str] = frozenset(s.value for s in Scope if s is not Scope.operator)

oauth2_scheme = OAuth2PasswordBearer(
    tokenUrl="/v1/auth/token", scopes=SCOPE_DESCRIPTIONS, auto_error=False
)


@dataclass(frozen=True)
class Principal:
    kind: Literal["user"]
    user_id: str
    scopes: frozenset[str]
    is_operator: bool = False

    def has(self, scope: str) -> bool:
        return scope in self.scopes


def scopes_for(user: User) -> frozenset[str]:
    return USER_SCOPES | {Scope.operator.value} if user.is_operator else USER_SCOPES


async def _authenticate(
    request: Request,
    security_scopes: SecurityScopes,
    session: Session,
    token: str | None = Depends(oauth2_scheme),
) -> Principal:
    if not token:
        raise NotAuthenticated("Send a bearer token: `Authorization: Bearer <access_token>`")
    try:
        claims = request.app.state.access_tokens.verify(token, request.app.state.clock.now())
    except TokenError as exc:
        raise InvalidToken(str(exc)) from exc
    user = await session.get(User, claims.subject)
    if user is None:
        raise InvalidToken("the access token's account no longer exists")
    # A token never grants more than the account holds now (an operator demoted mid-token).
    granted = claims.scopes & scopes_for(user)
    missing = [s for s in security_scopes.scopes if s not in granted]
    if missing:
        raise InsufficientScope(
            f"This call needs the scope(s): {', '.join(missing)}", required_scopes=missing
        )
    return Principal(kind="user", user_id=user.id, scopes=granted, is_operator=user.is_operator)


def Authenticator(*scopes: Scope) -> Any:
    return Security(_authenticate, scopes=[s.value for s in scopes])


CurrentUser = Annotated[Principal, Authenticator(Scope.profile)]
BrandReader = Annotated[Principal, Authenticator(Scope.brands_read)]
BrandWriter = Annotated[Principal, Authenticator(Scope.brands_write)]
InfluencerReader = Annotated[Principal, Authenticator(Scope.influencer_read)]
InfluencerWriter = Annotated[Principal, Authenticator(Scope.influencer_write)]
CatalogueReader = Annotated[Principal, Authenticator(Scope.catalogue_read)]
BriefWriter = Annotated[Principal, Authenticator(Scope.briefs_write)]
BidReader = Annotated[Principal, Authenticator(Scope.bids_read)]
BidWriter = Annotated[Principal, Authenticator(Scope.bids_write)]
ContractReader = Annotated[Principal, Authenticator(Scope.contracts_read)]
ContractWriter = Annotated[Principal, Authenticator(Scope.contracts_write)]
Operator = Annotated[Principal, Authenticator(Scope.operator)]
