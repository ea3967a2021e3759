"""The one catalogue of scopes, and who may hold which.

Every /v1 route names the scope(s) it needs (`app/auth.py`'s `Authenticator`, visible in OpenAPI's
security requirements). Every kind of credential carries a set of these scopes:

- a password sign-in's access token carries every scope its account holds (`scopes_for`);
- an API key carries the subset its creator chose, never more than the creator held then;
- an OAuth access token carries the scopes the user consented to (`OAUTH_SCOPES` at most: a
  partner application never manages the user's own credentials, nor operates the platform); a
  client-credentials token, the application acting for itself, carries `CLIENT_CREDENTIALS_SCOPES`
  at most (the public catalogue).

Whatever the credential says, a request is granted only `credential scopes ∩ scopes_for(user)`
as the account stands now, so a credential never does more than its user could (an operator
demoted after making a key loses `operator` on that key too). Object-level rules (which brand's
briefs, which contracts) are the services' queries, the same for every credential kind.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from typing import Protocol


class Scope(enum.StrEnum):
    profile = "profile"
    api_keys_manage = "api_keys:manage"
    brands_read = "brands:read"
    brands_write = "brands:write"
    listings_read = "listings:read"
    listings_write = "listings:write"
    catalogue_read = "catalogue:read"
    briefs_read = "briefs:read"
    briefs_write = "briefs:write"
    bids_read = "bids:read"
    bids_write = "bids:write"
    negotiation_write = "negotiation:write"
    contracts_read = "contracts:read"
    contracts_write = "contracts:write"
    deliverables_write = "deliverables:write"
    payments_read = "payments:read"
    payments_write = "payments:write"
    webhooks_manage = "webhooks:manage"
    apps_manage = "apps:manage"
    reports_read = "reports:read"
    tracking_write = "tracking:write"
    operator = "operator"


SCOPE_DESCRIPTIONS: dict[str, str] = {
    Scope.profile: "Read your own account and the brand invitations addressed to you",
    Scope.api_keys_manage: "Create, list, rotate and revoke your API keys",
    Scope.brands_read: "Read the brands you are a member of, their members and invitations",
    Scope.brands_write: "Manage brands you belong to: profile, members, invitations",
    Scope.listings_read: "Read your influencer listing and its social accounts",
    Scope.listings_write: "Create and change your influencer listing and its social accounts",
    Scope.catalogue_read: "Read public influencer listings, fair-rate guidance, disclosure checks",
    Scope.briefs_read: "Read open briefs and your brands' own briefs, their matches, and the "
    "briefs recommended to your listing",
    Scope.briefs_write: "Create, change and move the briefs of brands you belong to",
    Scope.bids_read: "Read the invitations, bids, offers and messages you are a party to",
    Scope.bids_write: "Invite influencers to briefs, bid, withdraw, shortlist and decline bids",
    Scope.negotiation_write: "Make, accept and reject offers, and send messages as a party",
    Scope.contracts_read: "Read the contracts you are a party to: deliverables, drafts, proof, "
    "extensions, metrics and disputes",
    Scope.contracts_write: "Cancel contracts before funding, open and withdraw disputes",
    Scope.deliverables_write: "Submit and review drafts, post and answer proof, ask for and "
    "answer extensions, report metrics",
    Scope.payments_read: "Read a contract's funding, your earnings and your payout account",
    Scope.payments_write: "Fund contracts and start payout onboarding",
    Scope.webhooks_manage: "Manage outbound webhook endpoints",
    Scope.apps_manage: "Register and revoke partner applications (OAuth clients), and list and "
    "revoke the access you granted to applications",
    Scope.reports_read: "Read campaign reports, charts and share of voice of your brands, the "
    "reports, tracked links and promo codes of your contracts, and your brands' conversions",
    Scope.tracking_write: "Make tracked links and promo codes for your brands' contracts, and "
    "make or rotate a brand's conversion secret",
    Scope.operator: "Platform operations (operators only)",
}

ALL_SCOPES: frozenset[str] = frozenset(s.value for s in Scope)
# A signed-in person holds every scope a person can hold; operators also hold `operator`.
USER_SCOPES: frozenset[str] = ALL_SCOPES - {Scope.operator.value}


# What a partner application may be granted by a user's consent: everything a person holds but
# the management of their own credentials and applications (an application could otherwise mint
# itself an API key that outlives the consent).
OAUTH_SCOPES: frozenset[str] = USER_SCOPES - {Scope.api_keys_manage.value, Scope.apps_manage.value}
# What an application may hold for itself (client credentials): the public catalogue.
CLIENT_CREDENTIALS_SCOPES: frozenset[str] = frozenset({Scope.catalogue_read.value})


class Account(Protocol):
    """What scopes depend on: a `User`, or a row of its columns (app/auth.py reads two)."""

    @property
    def id(self) -> str: ...

    @property
    def is_operator(self) -> bool: ...


def scopes_for(user: Account) -> frozenset[str]:
    """Every scope the account holds now."""
    return ALL_SCOPES if user.is_operator else USER_SCOPES


def unknown_scopes(scopes: Iterable[str]) -> list[str]:
    return sorted(set(scopes) - ALL_SCOPES)
