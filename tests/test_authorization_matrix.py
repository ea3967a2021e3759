"""The authorisation matrix (issue 16 item 5): every /v1 route, called as each kind of caller
against one real world built through the API, must answer the status class its row in `TABLE`
declares. A route without a row fails the test, so a new route forces a decision.

Callers: the brand's owner, a member of the same brand, another brand's owner, the influencer
party to the deal, another influencer, an operator, and anonymous. Tenancy
(docs/api-conventions.md): another tenant's object answers 404, never 403; no token is 401.
Besides the status, a 2xx answer must not carry an id its caller may not see: the deal's private
objects (bid, offer, contract, deliverable, draft, extension, dispute) for non-parties, the
brand's draft and invite-only briefs and pending invitation for anyone outside the brand.
`PROBES` adds reads with another object in the path or a filter (brand-private briefs, list
filters, an offer diffed against another deal's offer).

One test builds the world once, calls `PROBES` then every route in `TABLE` order (reads first,
destructive writes last, non-parties before parties on each route so a party's write cannot hide
a non-party's answer) and reports every mismatch at once. Parties' writes mostly meet a state
that refuses them (409) here: the matrix is about who may reach an object, the state machines
have their own tests.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
from fastapi.routing import APIRoute

from app.services.workflow.outbox import enqueue
from tests.delivery_support import proof_body
from tests.factories import (
    PASSWORD,
    Account,
    account_body,
    active_contract,
    add_member,
    bid_body,
    brief_body,
    create_brand,
    create_brief,
    create_listing,
    listing_body,
    make_offer,
    make_operator,
    offer_body,
    open_deal,
    register,
    unique_email,
)
from tests.oauth_support import REDIRECT_URI, connect, register_app

CALLERS = ("owner", "member", "other_brand", "influencer", "other_influencer", "operator", "anon")
# A party's write with a valid body may be refused by the object's state or rules: 409/422.
PARTY_WRITE = "2xx|409|422"


@dataclass(frozen=True)
class Row:
    """Expected status class per caller, in `CALLERS` order; `|` separates acceptable ones."""

    expected: tuple[str, ...]
    body: Any = None
    form: dict[str, str] | None = None
    query: dict[str, str] | None = None
    note: str = ""


def row(
    spec: str,
    body: Any = None,
    *,
    form: dict[str, str] | None = None,
    query: dict[str, str] | None = None,
    note: str = "",
) -> Row:
    expected = tuple(spec.split())
    assert len(expected) == len(CALLERS), spec
    return Row(expected, body, form, query, note)


# Routes whose callers are not users: not in the matrix, with the reason.
EXCLUDED = {
    "POST /v1/stripe/webhooks": "called by Stripe, authenticated by the signature header "
    "(tests/test_stripe_webhooks.py), not by a user's token",
}

_REASON = {"reason": "matrix"}

# owner member other_brand influencer other_influencer operator anon
TABLE: dict[str, Row] = {
    # --- auth: public by design; they authenticate by their body, not by a token ------------
    "POST /v1/auth/register": row(
        "2xx 2xx 2xx 2xx 2xx 2xx 2xx", "REGISTER", note="public: each call a fresh email"
    ),
    "POST /v1/auth/token": row(
        "2xx 2xx 2xx 2xx 2xx 2xx 2xx", form={}, note="public: signs in the world's owner"
    ),
    "POST /v1/auth/refresh": row(
        "401 401 401 401 401 401 401",
        {"refresh_token": "not-a-token"},
        note="authenticated by the body's refresh token, here a bogus one",
    ),
    "POST /v1/auth/logout": row(
        "2xx|401 2xx|401 2xx|401 2xx|401 2xx|401 2xx|401 2xx|401",
        {"refresh_token": "not-a-token"},
        note="logging out an unknown token reveals nothing either way",
    ),
    # --- the caller's own things: no tenant object in the path ---------------------------------
    "GET /v1/me": row("2xx 2xx 2xx 2xx 2xx 2xx 401"),
    "GET /v1/brands": row("2xx 2xx 2xx 2xx 2xx 2xx 401", note="lists the caller's brands"),
    "GET /v1/me/brand-invitations": row("2xx 2xx 2xx 2xx 2xx 2xx 401"),
    "GET /v1/influencers/me": row("404 404 404 2xx 2xx 404 401", note="404: no profile"),
    "GET /v1/influencers/me/accounts": row("404 404 404 2xx 2xx 404 401"),
    "GET /v1/influencers/me/recommended-briefs": row("404 404 404 2xx 2xx 404 401"),
    "GET /v1/influencers/me/payouts/account": row("404 404 404 2xx 2xx 404 401"),
    "GET /v1/influencers/me/earnings": row("404 404 404 2xx 2xx 404 401"),
    # relationships (issue 15): a creator's own history, visibility and returning brands
    "GET /v1/influencers/me/performance": row("404 404 404 2xx 2xx 404 401"),
    "PUT /v1/influencers/me/performance/visibility": row(
        "404 404 404 2xx 2xx 404 401", {"public": ["on_time", "ratings"]}
    ),
    "GET /v1/influencers/me/re-engaged-by": row("404 404 404 2xx 2xx 404 401"),
    # Before POST /v1/influencers/me below gives every caller a profile. No Stripe here: an
    # influencer's call stops at the unreachable gateway (503); tests/test_stripe_onboarding.py
    # covers the 2xx against the sandbox.
    "POST /v1/influencers/me/payouts/onboarding": row(
        "404 404 404 2xx|503 2xx|503 404 401", {}, note="Stripe unreachable here: 503"
    ),
    "GET /v1/bids": row("2xx 2xx 2xx 2xx 2xx 2xx 401", note="the caller's own bids"),
    "GET /v1/contracts": row("2xx 2xx 2xx 2xx 2xx 2xx 401", note="the caller's contracts"),
    # --- webhooks and events (issue 14): a brand's endpoints are its owners' and admins' -------
    "GET /v1/events": row("2xx 2xx 2xx 2xx 2xx 2xx 401", note="the events the caller may see"),
    "GET /v1/event-types": row("2xx 2xx 2xx 2xx 2xx 2xx 401"),
    "GET /v1/webhook-endpoints": row("2xx 2xx 2xx 2xx 2xx 2xx 401", note="the caller's own"),
    "POST /v1/webhook-endpoints": row(
        "2xx 403 404 404 404 404 401", "WEBHOOK", note="for the brand: owners and admins"
    ),
    "GET /v1/webhook-endpoints/{endpoint_id}": row("2xx 404 404 404 404 404 401"),
    "GET /v1/webhook-endpoints/{endpoint_id}/deliveries": row("2xx 404 404 404 404 404 401"),
    "PATCH /v1/webhook-endpoints/{endpoint_id}": row(
        "2xx 404 404 404 404 404 401", {"description": "matrix"}
    ),
    "POST /v1/webhook-endpoints/{endpoint_id}/rotate-secret": row("2xx 404 404 404 404 404 401"),
    "POST /v1/webhook-endpoints/{endpoint_id}/deliveries/{delivery_id}/redeliver": row(
        "2xx 404 404 404 404 404 401"
    ),
    # --- API keys: each caller's own; `key_id` is the owner's key -------------------------------
    "POST /v1/api-keys": row("2xx 2xx 2xx 2xx 2xx 2xx 401", "API_KEY"),
    "GET /v1/api-keys": row("2xx 2xx 2xx 2xx 2xx 2xx 401", note="the caller's own keys"),
    "GET /v1/api-keys/{key_id}": row("2xx 404 404 404 404 404 401"),
    "PUT /v1/operator/api-keys/{key_id}/plan": row(
        "403 403 403 403 403 2xx 401", {"plan": "partner"}, note="operators set plans"
    ),
    # --- partner applications (issue 14): each caller's own; `client_id` is the owner's -------
    "POST /v1/oauth-clients": row("2xx 2xx 2xx 2xx 2xx 2xx 401", "OAUTH_CLIENT"),
    "GET /v1/oauth-clients": row("2xx 2xx 2xx 2xx 2xx 2xx 401", note="the caller's own"),
    "GET /v1/oauth-clients/{client_id}": row("2xx 404 404 404 404 404 401"),
    "POST /v1/operator/oauth-clients": row(
        "403 403 403 403 403 2xx 401", "OPERATOR_OAUTH_CLIENT", note="operators, for a user"
    ),
    "GET /v1/me/oauth-consents": row("2xx 2xx 2xx 2xx 2xx 2xx 401", note="the caller's own"),
    # --- the catalogue: any signed-in user; the brief is `public` ---------------------------------
    "GET /v1/influencers": row("2xx 2xx 2xx 2xx 2xx 2xx 401"),
    "GET /v1/influencers/{influencer_id}": row("2xx 2xx 2xx 2xx 2xx 2xx 401"),
    "GET /v1/influencers/{influencer_id}/performance": row(
        "2xx 2xx 2xx 2xx 2xx 2xx 401", note="the figures the creator made public"
    ),
    "GET /v1/briefs": row("2xx 2xx 2xx 2xx 2xx 2xx 401"),
    "GET /v1/briefs/{brief_id}": row("2xx 2xx 2xx 2xx 2xx 2xx 401", note="a public brief"),
    "POST /v1/compliance/disclosure-check": row(
        "2xx 2xx 2xx 2xx 2xx 2xx 401", {"platform": "instagram", "text": "#ad oats"}
    ),
    "GET /v1/rates/estimate": row(
        "2xx 2xx 2xx 2xx 2xx 2xx 401",
        query={
            "platform": "instagram",
            "deliverable_type": "instagram_reel",
            "audience_size": "48200",
        },
    ),
    # --- brand reads --------------------------------------------------------------------------
    "GET /v1/brands/{brand_id}": row("2xx 2xx 404 404 404 404 401"),
    "GET /v1/brands/{brand_id}/members": row("2xx 2xx 404 404 404 404 401"),
    "GET /v1/brands/{brand_id}/invitations": row("2xx 2xx 404 404 404 404 401"),
    "GET /v1/briefs/{brief_id}/matches": row("2xx 2xx 404 404 404 404 401"),
    "GET /v1/briefs/{brief_id}/invitations": row("2xx 2xx 404 404 404 404 401"),
    "GET /v1/briefs/{brief_id}/bids": row("2xx 2xx 404 404 404 404 401"),
    # relationships (issue 15): the brand's own; notes, tags and reasons never leave it
    "GET /v1/brands/{brand_id}/relationships": row("2xx 2xx 404 404 404 404 401"),
    "GET /v1/brands/{brand_id}/relationships/{influencer_id}": row("2xx 2xx 404 404 404 404 401"),
    "GET /v1/brands/{brand_id}/relationships/{influencer_id}/timeline": row(
        "2xx 2xx 404 404 404 404 401"
    ),
    "GET /v1/brands/{brand_id}/relationships/{influencer_id}/performance": row(
        "2xx 2xx 404 404 404 404 401"
    ),
    "GET /v1/brands/{brand_id}/lists": row("2xx 2xx 404 404 404 404 401"),
    "GET /v1/brands/{brand_id}/lists/{list_id}": row("2xx 2xx 404 404 404 404 401"),
    "GET /v1/brands/{brand_id}/re-engagement": row("2xx 2xx 404 404 404 404 401"),
    # measurement (issue 15 items 6-8): reports, charts, share of voice, conversions, secret
    "GET /v1/briefs/{brief_id}/report": row("2xx 2xx 404 404 404 404 401"),
    "GET /v1/briefs/{brief_id}/report/chart": row("2xx 2xx 404 404 404 404 401"),
    "GET /v1/brands/{brand_id}/share-of-voice": row(
        "2xx 2xx 404 404 404 404 401", query={"topic": "running"}
    ),
    "GET /v1/brands/{brand_id}/conversions": row("2xx 2xx 404 404 404 404 401"),
    "GET /v1/brands/{brand_id}/conversion-secret": row(
        "2xx 2xx 404 404 404 404 401", note="whether it exists; the secret is never shown again"
    ),
    # --- negotiation reads --------------------------------------------------------------------
    "GET /v1/bids/{bid_id}": row("2xx 2xx 404 2xx 404 404 401"),
    "GET /v1/bids/{bid_id}/transitions": row("2xx 2xx 404 2xx 404 404 401"),
    "GET /v1/bids/{bid_id}/offers": row("2xx 2xx 404 2xx 404 404 401"),
    "GET /v1/bids/{bid_id}/messages": row("2xx 2xx 404 2xx 404 404 401"),
    "GET /v1/offers/{offer_id}": row("2xx 2xx 404 2xx 404 404 401"),
    "GET /v1/offers/{offer_id}/diff": row(
        "2xx 2xx 404 2xx 404 404 401", query={"against": "{offer_id}"}
    ),
    # --- contract and delivery reads ------------------------------------------------------------
    "GET /v1/contracts/{contract_id}": row("2xx 2xx 404 2xx 404 404 401"),
    "GET /v1/contracts/{contract_id}/transitions": row("2xx 2xx 404 2xx 404 404 401"),
    "GET /v1/contracts/{contract_id}/deliverables": row("2xx 2xx 404 2xx 404 404 401"),
    "GET /v1/contracts/{contract_id}/funding": row(
        "2xx|409 2xx|409 404 2xx|409 404 404 401",
        note="parties: 409 here, funded without Stripe (fund_directly): no funding record",
    ),
    "GET /v1/contracts/{contract_id}/disputes": row("2xx 2xx 404 2xx 404 404 401"),
    "GET /v1/contracts/{contract_id}/payment-disputes": row("2xx 2xx 404 2xx 404 404 401"),
    "GET /v1/deliverables/{deliverable_id}": row("2xx 2xx 404 2xx 404 404 401"),
    "GET /v1/deliverables/{deliverable_id}/drafts": row("2xx 2xx 404 2xx 404 404 401"),
    "GET /v1/deliverables/{deliverable_id}/extensions": row("2xx 2xx 404 2xx 404 404 401"),
    "GET /v1/deliverables/{deliverable_id}/metrics": row("2xx 2xx 404 2xx 404 404 401"),
    "GET /v1/drafts/{draft_id}": row("2xx 2xx 404 2xx 404 404 401"),
    "GET /v1/disputes/{dispute_id}": row("2xx 2xx 404 2xx 404 404 401"),
    "GET /v1/contracts/{contract_id}/ratings": row("2xx 2xx 404 2xx 404 404 401"),
    # ambassador programmes (issue 15): the deal's contract is period 1 of one
    "GET /v1/programmes": row("2xx 2xx 2xx 2xx 2xx 2xx 401", note="the caller's programmes"),
    "GET /v1/programmes/{programme_id}": row("2xx 2xx 404 2xx 404 404 401"),
    "GET /v1/programmes/{programme_id}/transitions": row("2xx 2xx 404 2xx 404 404 401"),
    "GET /v1/contracts/{contract_id}/report": row("2xx 2xx 404 2xx 404 404 401"),
    "GET /v1/contracts/{contract_id}/links": row("2xx 2xx 404 2xx 404 404 401"),
    "GET /v1/links/{link_id}": row("2xx 2xx 404 2xx 404 404 401"),
    "GET /v1/contracts/{contract_id}/promo-codes": row("2xx 2xx 404 2xx 404 404 401"),
    # --- operator -------------------------------------------------------------------------------
    "GET /v1/operator/jobs": row("403 403 403 403 403 2xx 401"),
    "GET /v1/operator/jobs/{job_id}": row("403 403 403 403 403 2xx 401"),
    "GET /v1/operator/transitions": row("403 403 403 403 403 2xx 401"),
    "GET /v1/operator/payment-disputes": row("403 403 403 403 403 2xx 401"),
    "GET /v1/operator/disputes": row("403 403 403 403 403 2xx 401"),
    "GET /v1/operator/disputes/{dispute_id}": row("403 403 403 403 403 2xx 401"),
    "POST /v1/operator/jobs/{job_id}/retry": row(
        "403 403 403 403 403 2xx|409 401",
        _REASON,
        note="operator: 409 when the job is not retryable",
    ),
    # --- the caller's own writes ------------------------------------------------------------------
    "POST /v1/brands": row("2xx 2xx 2xx 2xx 2xx 2xx 401", {"name": "Matrix brand"}),
    "POST /v1/influencers/me": row(
        "2xx 2xx 2xx 409 409 2xx 401",
        "LISTING",
        note="anyone may become an influencer; 409: has a profile already",
    ),
    "PATCH /v1/influencers/me": row("2xx 2xx 2xx 2xx 2xx 2xx 401", {"bio": "matrix"}),
    "POST /v1/influencers/me/accounts": row(
        "2xx|409 2xx|409 2xx|409 2xx|409 2xx|409 2xx|409 401",
        "ACCOUNT",
        note="one handle for all callers: the first adds it, the others get 409",
    ),
    "PATCH /v1/influencers/me/accounts/{account_id}": row(
        "404 404 404 2xx 404 404 401", {"followers": 50000}
    ),
    "POST /v1/me/brand-invitations/{invitation_id}/accept": row(
        "404 404 404 404 404 404 401", note="the invitation is addressed to someone else"
    ),
    "POST /v1/me/brand-invitations/{invitation_id}/decline": row(
        "404 404 404 404 404 404 401", note="the invitation is addressed to someone else"
    ),
    # --- brand writes ---------------------------------------------------------------------------
    "PATCH /v1/brands/{brand_id}": row("2xx 403 404 404 404 404 401", {"website": None}),
    "POST /v1/brands/{brand_id}/invitations": row("2xx 403 404 404 404 404 401", "INVITE"),
    "PATCH /v1/brands/{brand_id}/members/{user_id}": row(
        "2xx 403 404 404 404 404 401", {"role": "member"}
    ),
    "DELETE /v1/brands/{brand_id}/invitations/{invitation_id}": row("2xx 403 404 404 404 404 401"),
    "POST /v1/briefs": row("2xx 2xx 404 404 404 404 401", "BRIEF"),
    "PATCH /v1/briefs/{brief_id}": row(
        f"{PARTY_WRITE} {PARTY_WRITE} 404 404 404 404 401", {"description": "matrix"}
    ),
    "POST /v1/briefs/{brief_id}/invitations": row(
        f"{PARTY_WRITE} {PARTY_WRITE} 404 404 404 404 401", "BRIEF_INVITE"
    ),
    "POST /v1/brands/{brand_id}/relationships": row("2xx 2xx 404 404 404 404 401", "RELATIONSHIP"),
    "PATCH /v1/brands/{brand_id}/relationships/{influencer_id}": row(
        "2xx 2xx 404 404 404 404 401", {"notes": "matrix", "tags": ["matrix"]}
    ),
    "POST /v1/brands/{brand_id}/relationships/{influencer_id}/status": row(
        "2xx 2xx 404 404 404 404 401", {"status": "active", "reason": "matrix"}
    ),
    "POST /v1/brands/{brand_id}/lists": row(
        "2xx|409 2xx|409 404 404 404 404 401", {"name": "matrix"}, note="409: the name is taken"
    ),
    "PUT /v1/brands/{brand_id}/lists/{list_id}/influencers/{influencer_id}": row(
        "2xx 2xx 404 404 404 404 401"
    ),
    "DELETE /v1/brands/{brand_id}/lists/{list_id}/influencers/{influencer_id}": row(
        "2xx 2xx 404 404 404 404 401"
    ),
    # measurement (issue 15 item 8): the brand makes links, codes and its shop's secret
    "POST /v1/contracts/{contract_id}/links": row(
        "2xx 2xx 404 403 404 404 401",
        {"target_url": "https://shop.example/oats"},
        note="the creator reads the contract's links but does not make them (403)",
    ),
    "POST /v1/contracts/{contract_id}/promo-codes": row(
        "2xx|409 2xx|409 404 403 404 404 401",
        {"code": "MATRIX2"},
        note="one code for all callers: the member makes it, the owner then gets 409",
    ),
    "POST /v1/brands/{brand_id}/conversion-secret": row(
        "2xx 403 404 404 404 404 401", note="owners and admins"
    ),
    "POST /v1/brands/{brand_id}/conversions": row(
        "401 401 401 401 401 401 401",
        {
            "type": "order",
            "order_id": "1",
            "amount": 100,
            "currency": "EUR",
            "promo_code": "MATRIX",
        },
        note="the shop's post: authenticated by its Rapport-Signature, never by a bearer token",
    ),
    # --- negotiation writes ---------------------------------------------------------------------
    "POST /v1/briefs/{brief_id}/bids": row(
        "403 403 2xx 409 2xx 2xx 401",
        "BID",
        note="a public open brief: any influencer may bid (by now the other brand's owner and "
        "the operator have profiles); its own brand may not (403); one bid each (409)",
    ),
    "POST /v1/bids/{bid_id}/messages": row(
        f"{PARTY_WRITE} {PARTY_WRITE} 404 {PARTY_WRITE} 404 404 401", {"text": "hello"}
    ),
    "POST /v1/bids/{bid_id}/messages/read": row(
        f"{PARTY_WRITE} {PARTY_WRITE} 404 {PARTY_WRITE} 404 404 401", "READ"
    ),
    "POST /v1/bids/{bid_id}/shortlist": row(
        f"{PARTY_WRITE} {PARTY_WRITE} 404 403|404|409 404 404 401", _REASON
    ),
    "POST /v1/bids/{bid_id}/decline": row(
        f"{PARTY_WRITE} {PARTY_WRITE} 404 403|404|409 404 404 401", _REASON
    ),
    "POST /v1/bids/{bid_id}/offers": row(
        f"{PARTY_WRITE} {PARTY_WRITE} 404 {PARTY_WRITE} 404 404 401", "OFFER"
    ),
    "POST /v1/offers/{offer_id}/accept": row(
        f"403|409 403|409 404 {PARTY_WRITE} 404 404 401", _REASON
    ),
    "POST /v1/offers/{offer_id}/reject": row(
        f"403|409 403|409 404 {PARTY_WRITE} 404 404 401", _REASON
    ),
    "POST /v1/bids/{bid_id}/withdraw": row(
        f"403|409 403|409 404 {PARTY_WRITE} 404 404 401", _REASON
    ),
    # --- money (no Stripe here: a party's call may stop at the gateway) ---------------------------
    "POST /v1/contracts/{contract_id}/funding": row(
        "2xx|409 2xx|409 404 403 404 404 401",
        {},
        note="already funded here: 409; the influencer may see but not fund (403)",
    ),
    "POST /v1/contracts/{contract_id}/funding/confirm": row(
        "2xx|409 2xx|409 404 403 404 404 401",
        {"payment_method": "pm_card_visa"},
        note="already funded here: 409; the influencer may see but not fund (403)",
    ),
    # --- delivery writes -------------------------------------------------------------------------
    "POST /v1/deliverables/{deliverable_id}/drafts": row(
        f"403|409 403|409 404 {PARTY_WRITE} 404 404 401",
        {"caption": "#ad oats", "media_urls": ["https://cdn.example/a.jpg"]},
    ),
    "POST /v1/drafts/{draft_id}/request-changes": row(
        f"{PARTY_WRITE} {PARTY_WRITE} 404 403|409 404 404 401", {"feedback": "brighter"}
    ),
    "POST /v1/drafts/{draft_id}/approve": row(
        f"{PARTY_WRITE} {PARTY_WRITE} 404 403|409 404 404 401", {}
    ),
    "POST /v1/deliverables/{deliverable_id}/proof": row(
        f"403|409 403|409 404 {PARTY_WRITE} 404 404 401", "PROOF"
    ),
    "POST /v1/deliverables/{deliverable_id}/proof/confirm": row(
        f"{PARTY_WRITE} {PARTY_WRITE} 404 403|409 404 404 401", {}
    ),
    "POST /v1/deliverables/{deliverable_id}/proof/dispute": row(
        f"{PARTY_WRITE} {PARTY_WRITE} 404 403|409 404 404 401", _REASON
    ),
    "POST /v1/deliverables/{deliverable_id}/extensions": row(
        f"{PARTY_WRITE} {PARTY_WRITE} 404 {PARTY_WRITE} 404 404 401", "EXTENSION"
    ),
    "POST /v1/extensions/{extension_id}/accept": row(
        f"{PARTY_WRITE} {PARTY_WRITE} 404 403|409 404 404 401", {}
    ),
    "POST /v1/extensions/{extension_id}/decline": row(
        f"{PARTY_WRITE} {PARTY_WRITE} 404 403|409 404 404 401", {}
    ),
    "POST /v1/extensions/{extension_id}/withdraw": row(
        f"403|409 403|409 404 {PARTY_WRITE} 404 404 401", {}
    ),
    "POST /v1/deliverables/{deliverable_id}/metrics": row(
        f"{PARTY_WRITE} {PARTY_WRITE} 404 {PARTY_WRITE} 404 404 401",
        {"source": "self_reported", "impressions": 1000},
    ),
    "POST /v1/contracts/{contract_id}/disputes": row(
        f"{PARTY_WRITE} {PARTY_WRITE} 404 {PARTY_WRITE} 404 404 401", {"reason": "late"}
    ),
    "POST /v1/contracts/{contract_id}/ratings": row(
        f"{PARTY_WRITE} {PARTY_WRITE} 404 {PARTY_WRITE} 404 404 401",
        "RATING",
        note="parties: 409, the contract has not finished",
    ),
    "POST /v1/disputes/{dispute_id}/withdraw": row(
        f"{PARTY_WRITE} {PARTY_WRITE} 404 403|409 404 404 401", {}
    ),
    "POST /v1/operator/disputes/{dispute_id}/resolve": row(
        "403 403 403 403 403 2xx|409 401",
        {"resolution": "release", "note": "matrix"},
        note="operator: 409 once a party withdrew the dispute above",
    ),
    # --- destructive, last ------------------------------------------------------------------------
    "POST /v1/programmes/{programme_id}/notice": row(
        f"{PARTY_WRITE} {PARTY_WRITE} 404 {PARTY_WRITE} 404 404 401",
        _REASON,
        note="parties: the first gives notice, the others get 409",
    ),
    "POST /v1/deliverables/{deliverable_id}/cancel": row(
        f"{PARTY_WRITE} {PARTY_WRITE} 404 403|409 404 404 401", {}
    ),
    "POST /v1/contracts/{contract_id}/cancel": row(
        f"{PARTY_WRITE} {PARTY_WRITE} 404 {PARTY_WRITE} 404 404 401", _REASON
    ),
    "POST /v1/briefs/{brief_id}/open": row(f"{PARTY_WRITE} {PARTY_WRITE} 404 404 404 404 401"),
    "POST /v1/briefs/{brief_id}/close": row(f"{PARTY_WRITE} {PARTY_WRITE} 404 404 404 404 401"),
    "POST /v1/briefs/{brief_id}/complete": row(f"{PARTY_WRITE} {PARTY_WRITE} 404 404 404 404 401"),
    "POST /v1/briefs/{brief_id}/cancel": row(f"{PARTY_WRITE} {PARTY_WRITE} 404 404 404 404 401"),
    "DELETE /v1/brands/{brand_id}/lists/{list_id}": row(
        "2xx|404 2xx|404 404 404 404 404 401", note="404 once a member deleted it"
    ),
    "DELETE /v1/influencers/me/accounts/{account_id}": row("404 404 404 2xx 404 404 401"),
    "DELETE /v1/brands/{brand_id}/members/{user_id}": row("2xx 403 404 404 404 404 401"),
    "DELETE /v1/brands/{brand_id}": row("2xx|409 403 404 404 404 404 401"),
    "DELETE /v1/webhook-endpoints/{endpoint_id}": row("2xx 404 404 404 404 404 401"),
    "POST /v1/api-keys/{key_id}/rotate": row("2xx 404 404 404 404 404 401", {}),
    "DELETE /v1/api-keys/{key_id}": row("2xx 404 404 404 404 404 401"),
    "DELETE /v1/me/oauth-consents/{consent_id}": row(
        "404 404 404 2xx 404 404 401", note="the influencer's consent to the owner's application"
    ),
    "POST /v1/oauth-clients/{client_id}/rotate-secret": row("2xx 404 404 404 404 404 401", {}),
    "DELETE /v1/oauth-clients/{client_id}": row("2xx 404 404 404 404 404 401"),
}


# Reads beyond one row per route, run first: other objects in the path or in a filter. A filter
# only narrows the caller's own view (2xx for everyone signed in); every 2xx is also checked for
# ids its caller must not see (`World.hidden`).
PROBES: dict[str, tuple[str, Row]] = {
    "draft brief": ("GET /v1/briefs/{draft_brief_id}", row("2xx 2xx 404 404 404 404 401")),
    "invite-only brief, nobody invited": (
        "GET /v1/briefs/{invite_brief_id}",
        row("2xx 2xx 404 404 404 404 401"),
    ),
    "briefs filtered by the brand": (
        "GET /v1/briefs",
        row("2xx 2xx 2xx 2xx 2xx 2xx 401", query={"brand_id": "{brand_id}"}),
    ),
    "draft briefs filtered by the brand": (
        "GET /v1/briefs",
        row("2xx 2xx 2xx 2xx 2xx 2xx 401", query={"brand_id": "{brand_id}", "state": "draft"}),
    ),
    "contracts filtered by the brand": (
        "GET /v1/contracts",
        row("2xx 2xx 2xx 2xx 2xx 2xx 401", query={"brand_id": "{brand_id}"}),
    ),
    "bids filtered by the brief, brand side": (
        "GET /v1/bids",
        row("2xx 2xx 2xx 2xx 2xx 2xx 401", query={"brief_id": "{brief_id}", "side": "brand"}),
    ),
    "bids filtered by the brief, influencer side": (
        "GET /v1/bids",
        row("2xx 2xx 2xx 2xx 2xx 2xx 401", query={"brief_id": "{brief_id}", "side": "influencer"}),
    ),
    # `against` is a query parameter: the parties are told 422 "no offer <id>", word for word what
    # an id that exists nowhere gets (next probe), so the other deal's offer is not revealed.
    "offer diffed against another deal's offer": (
        "GET /v1/offers/{offer_id}/diff",
        row("422 422 404 422 404 404 401", query={"against": "{foreign_offer_id}"}),
    ),
    # Writes naming another tenant's object in the body.
    "a brief for another brand": (
        "POST /v1/briefs",
        row("404 404 2xx 404 404 404 401", "RIVAL_BRIEF"),
    ),
    "messages marked read up to another deal's message": (
        "POST /v1/bids/{bid_id}/messages/read",
        row("404|422 404|422 404 404|422 404 404 401", "READ_FOREIGN"),
    ),
    "offer diffed against an offer that exists nowhere": (
        "GET /v1/offers/{offer_id}/diff",
        row("422 422 404 422 404 404 401", query={"against": "ofr_00000000000000000000000000"}),
    ),
}


def v1_routes(app: Any) -> set[str]:
    """`METHOD path` of every /v1 route, walking included routers (FastAPI 0.165 wraps them)."""
    found: set[str] = set()

    def add(path: str, methods: set[str]) -> None:
        if path.startswith("/v1/"):
            found.update(f"{m} {path}" for m in methods if m not in ("HEAD", "OPTIONS"))

    for route in app.routes:
        if isinstance(route, APIRoute):
            add(route.path, route.methods)
        elif hasattr(route, "effective_route_contexts"):
            for ctx in route.effective_route_contexts():
                add(ctx.path, ctx.methods)
    return found


@dataclass
class World:
    callers: dict[str, Account | None]
    ids: dict[str, str]  # path parameter -> id
    hidden: dict[str, set[str]]  # caller -> ids that caller must never see
    bodies: dict[str, Any]


async def build_world(client: httpx.AsyncClient, app: Any) -> World:
    # The deal's contract is period 1 of an ambassador programme (issue 15).
    deal, contract = await active_contract(client, app, recurrence={"interval": "month"})
    owner, influencer = deal.brand_owner, deal.influencer
    member = await register(client)
    await add_member(client, deal.brand["id"], owner, member)
    extra = await register(client)  # the member whose role changes and who is removed
    await add_member(client, deal.brand["id"], owner, extra)
    other_brand_owner = await register(client)
    other_brand = await create_brand(client, other_brand_owner, name="Rival")
    other_influencer = await register(client)
    await create_listing(client, other_influencer)
    # The other brand and influencer have a deal of their own: the matrix's objects are not theirs.
    rival_deal = await open_deal(client, brand_owner=other_brand_owner, brand=other_brand)
    foreign_offer = await make_offer(client, other_brand_owner, rival_deal.bid["id"])
    foreign_message = await client.post(
        f"/v1/bids/{rival_deal.bid['id']}/messages",
        json={"text": "rival"},
        headers=rival_deal.influencer.headers,
    )
    assert foreign_message.status_code == 201, foreign_message.text
    # Briefs only the brand may see: a draft, and an open invite-only brief nobody was invited to.
    draft_brief = await create_brief(client, owner, deal.brand["id"])
    invite_brief = await create_brief(
        client, owner, deal.brand["id"], state="open", visibility="invite_only"
    )
    operator = await make_operator(client, app)
    h = owner.headers
    # The brand's webhook endpoint, before the events below (they become its deliveries).
    hook = await client.post(
        "/v1/webhook-endpoints",
        json={"url": "http://127.0.0.1:9/matrix", "brand_id": deal.brand["id"]},
        headers=h,
    )
    assert hook.status_code == 201, hook.text
    relationship = await client.get(
        f"/v1/brands/{deal.brand['id']}/relationships/{deal.listing['id']}", headers=h
    )
    assert relationship.status_code == 200, relationship.text
    shortlist = await client.post(
        f"/v1/brands/{deal.brand['id']}/lists", json={"name": "Matrix shortlist"}, headers=h
    )
    assert shortlist.status_code == 201, shortlist.text
    key = await client.post(
        "/v1/api-keys", json={"name": "matrix", "scopes": ["briefs:read"]}, headers=h
    )
    assert key.status_code == 201, key.text
    # The owner's partner application, to which the influencer consented.
    partner_app = await register_app(client, owner)
    await connect(client, partner_app, influencer, scope="profile")
    consents = await client.get("/v1/me/oauth-consents", headers=influencer.headers)
    assert consents.status_code == 200, consents.text
    link = await client.post(
        f"/v1/contracts/{contract['id']}/links",
        json={"target_url": "https://shop.example/oats"},
        headers=h,
    )
    assert link.status_code == 201, link.text
    promo = await client.post(
        f"/v1/contracts/{contract['id']}/promo-codes", json={"code": "MATRIX"}, headers=h
    )
    assert promo.status_code == 201, promo.text
    conversion_secret = await client.post(
        f"/v1/brands/{deal.brand['id']}/conversion-secret", headers=h
    )
    assert conversion_secret.status_code == 200, conversion_secret.text

    pending = await client.post(
        f"/v1/brands/{deal.brand['id']}/invitations",
        json={"email": unique_email("invitee"), "role": "member"},
        headers=h,
    )
    assert pending.status_code == 201, pending.text
    deliverable_id = contract["deliverables"][0]["id"]
    second_deliverable = contract["deliverables"][-1]["id"]
    draft = await client.post(
        f"/v1/deliverables/{deliverable_id}/drafts",
        json={"caption": "#ad oats", "media_urls": ["https://cdn.example/a.jpg"]},
        headers=influencer.headers,
    )
    assert draft.status_code == 201, draft.text
    extension = await client.post(
        f"/v1/deliverables/{second_deliverable}/extensions",
        json={"due_date": "2027-01-04", "reason": "travel"},
        headers=influencer.headers,
    )
    assert extension.status_code == 201, extension.text
    message = await client.post(
        f"/v1/bids/{deal.bid['id']}/messages", json={"text": "hi"}, headers=influencer.headers
    )
    assert message.status_code == 201, message.text
    dispute = await client.post(
        f"/v1/contracts/{contract['id']}/disputes", json={"reason": "late"}, headers=h
    )
    assert dispute.status_code == 201, dispute.text
    offers = await client.get(f"/v1/bids/{deal.bid['id']}/offers", headers=h)
    assert offers.status_code == 200, offers.text
    offer_id = offers.json()["data"][0]["id"]
    # A job for the operator's job routes, written the way the services write one.
    async with app.state.resources.database.sessionmaker() as session, session.begin():
        job = await enqueue(session, "matrix.noop", {}, now=app.state.resources.clock.now())
        job_id = job.id
    ids = {
        "brand_id": deal.brand["id"],
        "user_id": extra.id,
        "invitation_id": pending.json()["id"],
        "account_id": deal.listing["accounts"][0]["id"],
        "influencer_id": deal.listing["id"],
        "brief_id": deal.brief["id"],
        "bid_id": deal.bid["id"],
        "offer_id": offer_id,
        "contract_id": contract["id"],
        "deliverable_id": deliverable_id,
        "draft_id": draft.json()["id"],
        "extension_id": extension.json()["id"],
        "dispute_id": dispute.json()["id"],
        "job_id": job_id,
        "draft_brief_id": draft_brief["id"],
        "invite_brief_id": invite_brief["id"],
        "foreign_offer_id": foreign_offer["id"],
        "list_id": shortlist.json()["id"],
        "relationship_id": relationship.json()["id"],
        "key_id": key.json()["id"],
        "client_id": partner_app.client_id,
        "consent_id": consents.json()["data"][0]["id"],
        "programme_id": contract["programme_id"],
        "link_id": link.json()["id"],
        "promo_code_id": promo.json()["id"],
    }
    ids["endpoint_id"] = hook.json()["id"]
    logged = await client.get(f"/v1/webhook-endpoints/{ids['endpoint_id']}/deliveries", headers=h)
    ids["delivery_id"] = logged.json()["data"][0]["id"]
    private = {ids[k] for k in ("bid_id", "offer_id", "contract_id", "deliverable_id", "draft_id")}
    private |= {ids["extension_id"], ids["dispute_id"], ids["programme_id"]}
    private |= {ids["link_id"], ids["promo_code_id"]}
    brand_private = {ids["draft_brief_id"], ids["invite_brief_id"], ids["invitation_id"]}
    brand_private |= {ids["relationship_id"], ids["list_id"]}
    bodies = {
        "LISTING": listing_body(accounts=[]),
        "ACCOUNT": account_body(),
        "INVITE": {"email": unique_email("invitee"), "role": "member"},
        "BRIEF": brief_body(deal.brand["id"]),
        "BRIEF_INVITE": {"influencer_ids": [deal.listing["id"]]},
        "BID": bid_body(),
        "OFFER": offer_body(),
        "READ": {"up_to": message.json()["id"]},
        "PROOF": proof_body(),
        "EXTENSION": {"due_date": "2027-01-05", "reason": "illness"},
        "RIVAL_BRIEF": brief_body(other_brand["id"]),
        "READ_FOREIGN": {"up_to": foreign_message.json()["id"]},
        "RELATIONSHIP": {"influencer_id": ids["influencer_id"]},
        "RATING": {"scores": {"quality": {"score": 5, "text": "matrix"}}},
        "API_KEY": {"name": "matrix", "scopes": ["briefs:read", "bids:read"]},
        "OAUTH_CLIENT": {"name": "matrix", "redirect_uris": [REDIRECT_URI], "scopes": ["profile"]},
        "OPERATOR_OAUTH_CLIENT": {
            "name": "matrix",
            "redirect_uris": [REDIRECT_URI],
            "scopes": ["profile"],
            "owner_user_id": owner.id,
        },
    }
    bodies["WEBHOOK"] = {"url": "http://127.0.0.1:9/matrix2", "brand_id": deal.brand["id"]}
    callers: dict[str, Account | None] = {
        "owner": owner,
        "member": member,
        "other_brand": other_brand_owner,
        "influencer": influencer,
        "other_influencer": other_influencer,
        "operator": operator,
        "anon": None,
    }
    # The owner's API key is the owner's alone (operators see it to set its plan).
    own_key = {ids["key_id"]}
    hidden = {
        "other_brand": private | brand_private | own_key,
        "other_influencer": private | brand_private | own_key,
        "influencer": brand_private | own_key,
        "member": own_key,
    }
    # The application's secret is shown once, to no one after; its consent is the influencer's.
    for caller in ("owner", "member", "other_brand", "other_influencer", "operator", "influencer"):
        hidden[caller] = hidden.get(caller, set()) | {partner_app.secret}
    for caller in ("member", "other_brand", "other_influencer", "operator"):
        hidden[caller] |= {ids["consent_id"], ids["client_id"]}
    # The brand's webhook endpoint and its secret: its owners' and admins' alone; the conversion
    # secret is shown once, to its maker.
    for caller in ("member", "other_brand", "other_influencer", "influencer", "operator"):
        hidden[caller] = hidden.get(caller, set()) | {ids["endpoint_id"], hook.json()["secret"]}
        hidden[caller].add(conversion_secret.json()["secret"])
    return World(callers, ids, hidden, bodies)


def status_class(status: int) -> str:
    return "2xx" if 200 <= status < 300 else str(status)


# Non-parties first: a party's successful write must not change what a non-party is told.
CALL_ORDER = (
    "anon",
    "other_brand",
    "other_influencer",
    "operator",
    "member",
    "influencer",
    "owner",
)


async def test_every_route_answers_each_caller_as_its_row_declares(
    client: httpx.AsyncClient, app: Any
) -> None:
    routes = v1_routes(app)
    missing = sorted(routes - TABLE.keys() - EXCLUDED.keys())
    stale = sorted((TABLE.keys() | EXCLUDED.keys()) - routes)
    assert not missing, f"routes without a row in the authorisation matrix: {missing}"
    assert not stale, f"rows for routes that no longer exist: {stale}"

    world = await build_world(client, app)
    mismatches: list[str] = []
    leaks: list[str] = []
    rows = [(label, key, spec) for label, (key, spec) in PROBES.items()]
    rows += [(key, key, spec) for key, spec in TABLE.items()]
    for label, key, spec in rows:
        method, template = key.split(" ", 1)
        path = template.format(**world.ids)
        for caller in CALL_ORDER:
            account = world.callers[caller]
            headers = account.headers if account else {}
            kwargs: dict[str, Any] = {"headers": headers}
            if spec.form is not None:
                kwargs["data"] = {"username": world.callers["owner"].email, "password": PASSWORD}
            elif spec.body == "REGISTER":
                kwargs["json"] = {
                    "email": unique_email("matrix"),
                    "password": PASSWORD,
                    "full_name": "Matrix",
                }
            elif isinstance(spec.body, str):
                kwargs["json"] = world.bodies[spec.body]
            elif spec.body is not None:
                kwargs["json"] = spec.body
            elif method in ("POST", "PATCH"):
                kwargs["json"] = {}
            if spec.query is not None:
                kwargs["params"] = {k: v.format(**world.ids) for k, v in spec.query.items()}
            response = await client.request(method, path, **kwargs)
            got = status_class(response.status_code)
            want = spec.expected[CALLERS.index(caller)]
            if got not in want.split("|"):
                mismatches.append(
                    f"{label} as {caller}: {got} (declared {want}) {response.text[:160]}"
                )
            if got == "2xx":
                seen = sorted(i for i in world.hidden.get(caller, ()) if i in response.text)
                if seen:
                    leaks.append(f"{label} as {caller}: 2xx showing {seen}")
    assert not leaks, "non-parties see the deal's objects:\n" + "\n".join(leaks)
    assert not mismatches, f"{len(mismatches)} mismatches:\n" + "\n".join(mismatches)
