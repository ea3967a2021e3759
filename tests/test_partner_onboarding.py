"""A creator tool — a partner's OAuth2 application — onboards 1,000 creators (100 in the default
suite, 1,000 in `make test-deep`: RAPPORT_PARTNER_CREATORS) and runs a deal for
some of them, over real HTTP against `rapport serve` (its own process and scratch database, the
production rate limits, the wall clock: the deal's dates are counted from today), with the client
generated from `openapi/openapi.json` (the `generated` fixture, tests/generated_client_support.py).

Each creator signs up and consents on Rapport's consent page from their own browser (their own
loopback address, so their own sign-in bucket: the page asks for their password, under the
sign-in limits); the tool exchanges each code (PKCE) and, as that creator, creates their listing
with their account, then updates the account's figures (`listings:write`) — never a password,
never a sign-in of its own. Then a brand's brief; bids from some creators through the tool
(`bids:write`); the brand's offers; a creator's counter-offer accepted by the brand, another
creator accepting the brand's offer (`negotiation:write`); the contracts, read through the tool
(`contracts:read`).

Issue 14's "done when".
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import ssl
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

from app.models.influencer import Influencer, SocialAccount
from app.models.oauth import OAuthConsent
from app.settings import Settings
from tests.conftest import scratch_database
from tests.factories import PASSWORD, T0, Account, account_body, bid_body, brief_body, offer_body
from tests.oauth_support import (
    REDIRECT_URI,
    App,
    authorize_params,
    consent,
    exchange,
    pkce,
    redirected,
)
from tests.serve_support import Served, rapport_serve

# The default suite onboards 100 creators on each database (more than three times the sign-in
# limit of one address); `make test-deep` runs the whole 1,000 once, on PostgreSQL when it is
# reachable (about 6 minutes on a busy 2-core machine: it would double each database's suite).
CREATORS = int(os.environ.get("RAPPORT_PARTNER_CREATORS", "100"))
# What the creator tool asks each creator for (every scope a creator's side of a deal needs).
SCOPES = [
    "profile",
    "listings:read",
    "listings:write",
    "bids:read",
    "bids:write",
    "negotiation:write",
    "contracts:read",
]
CONCURRENCY = 4  # creators onboarding at once (the tool's workers)


def browser_address(i: int) -> str:
    """Creator `i`'s own address: 127.0.0.0/8 is all loopback, so each browser has one."""
    return f"127.{1 + i // 62500}.{(i // 250) % 250}.{1 + i % 250}"


class Traffic:
    """Every answer's status, and the fewest requests any of the tool's tokens had left."""

    def __init__(self) -> None:
        self.statuses: Counter[int] = Counter()
        self.least_remaining: int | None = None

    async def hook(self, response: httpx.Response) -> None:
        self.statuses[response.status_code] += 1
        found = re.search(r";r=(\d+);", response.headers.get("ratelimit", ""))
        if found and response.request.headers.get("authorization", "").startswith("Bearer roa_"):
            left = int(found.group(1))
            if self.least_remaining is None or left < self.least_remaining:
                self.least_remaining = left


def from_today(body: dict[str, Any]) -> dict[str, Any]:
    """A factory body (dates after T0, the suite's frozen clock) moved to the same dates after
    today: the served app runs on the wall clock."""
    shift = datetime.now(UTC).date() - T0.date()

    def moved(match: re.Match[str]) -> str:
        return (date.fromisoformat(match.group(0)) + shift).isoformat()

    return dict(json.loads(re.sub(r"\d{4}-\d{2}-\d{2}", moved, json.dumps(body))))


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Served, str]]:
    """`rapport serve` with the production limits, but one: each creator's code is one request
    to /oauth/token, and the default 120 a minute per application would hold 1,000 creators to
    8+ minutes; the operators raise it for a partner onboarding in bulk (partners.md)."""
    with (
        scratch_database(tmp_path, "rapport_partner") as url,
        rapport_serve(tmp_path, url, oauth_client_rate_limit="3000/minute") as server,
    ):
        yield server, url


async def test_a_creator_tool_onboards_a_thousand_creators_and_runs_a_deal(
    generated: Callable[[str], Any], served: tuple[Served, str]
) -> None:
    mod = generated
    models = mod("models")
    traffic = Traffic()
    hooks = {"response": [traffic.hook]}
    # The server's sign-in limits are the defaults: one address could not consent this often.
    assert Settings.model_fields["login_max_attempts_per_ip"].default < CREATORS
    server, database_url = served
    base = server.url
    # The tool's own server: one connection pool for every call it makes, whoever for.
    pool = httpx.AsyncHTTPTransport(limits=httpx.Limits(max_connections=CONCURRENCY))
    wait = httpx.Timeout(60)  # a loaded machine is slow, not wrong
    tool = httpx.AsyncClient(base_url=base, transport=pool, event_hooks=hooks, timeout=wait)
    anonymous = mod("client").Client(
        base_url=base, timeout=wait, httpx_args={"transport": pool, "event_hooks": hooks}
    )

    def as_user(token: str) -> Any:
        return mod("client").AuthenticatedClient(
            base_url=base,
            token=token,
            timeout=wait,
            httpx_args={"transport": pool, "event_hooks": hooks},
        )

    async def signed_in(email: str, name: str) -> Any:
        body = models.RegisterIn(email=email, password=PASSWORD, full_name=name)
        user = await mod("api.auth.register").asyncio(client=anonymous, body=body)
        assert isinstance(user, models.UserOut), user
        form = models.IssueTokenForm(username=email, password=PASSWORD)
        token = await mod("api.auth.issue_token").asyncio(client=anonymous, body=form)
        assert isinstance(token, models.TokenOut), token
        return as_user(token.access_token)

    # The tool's makers register it (their one sign-in).
    makers = await signed_in("makers@creatortool.example", "Tool Makers")
    registered = await mod("api.oauth.register_oauth_client").asyncio(
        client=makers,
        body=models.OAuthClientIn.from_dict(
            {
                "name": "Creator Tool",
                "website": "https://creatortool.example",
                "redirect_uris": [REDIRECT_URI],
                "scopes": SCOPES,
                "grant_types": ["authorization_code", "refresh_token"],
            }
        ),
    )
    assert isinstance(registered, models.OAuthClientCreatedOut), registered
    app = App(registered.id, registered.client_secret, registered.to_dict())
    tls = ssl.create_default_context()  # one for every browser (loading it costs ~0.1 s)

    async def creator_consents(i: int) -> tuple[str, dict[str, Any]]:
        """Creator `i`, in their browser: signs up, opens the consent page, allows."""
        email = f"creator{i}@example.com"
        transport = httpx.AsyncHTTPTransport(local_address=browser_address(i), verify=tls)
        async with httpx.AsyncClient(
            base_url=base, transport=transport, event_hooks=hooks, timeout=wait
        ) as browser:
            signed_up = await browser.post(
                "/v1/auth/register",
                json={"email": email, "password": PASSWORD, "full_name": f"Creator {i}"},
            )
            assert signed_up.status_code == 201, signed_up.text
            verifier, challenge = pkce()
            params = authorize_params(app, challenge, scope=" ".join(SCOPES))
            back = redirected(await consent(browser, params, Account("", email, "", "")))
        assert back["state"] == params["state"]
        # The tool's server gets the code on its redirect URI and exchanges it.
        tokens = await exchange(tool, app, back["code"], verifier)
        assert tokens.status_code == 200, tokens.text
        return email, tokens.json()

    async def onboard(i: int, access_token: str) -> tuple[str, str]:
        """The tool, as creator `i`: their listing with their account, then the account's
        latest figures."""
        creator = as_user(access_token)
        listing = await mod("api.influencers.create_own_profile").asyncio(
            client=creator,
            body=models.InfluencerIn.from_dict(
                {
                    "display_name": f"Creator {i}",
                    "country": "SE",
                    "languages": ["sv", "en"],
                    "topics": ["vegan-food", "running"],
                    "accounts": [account_body(handle=f"creator{i}", followers=40_000)],
                }
            ),
        )
        assert isinstance(listing, models.InfluencerOut), listing
        (account,) = listing.accounts
        updated = await mod("api.influencers.update_own_account").asyncio(
            account.id,
            client=creator,
            body=models.AccountPatch.from_dict({"followers": 40_000 + i, "avg_views": 9_000}),
        )
        assert isinstance(updated, models.AccountOut), updated
        assert updated.followers == 40_000 + i
        return listing.id, account.id

    tokens: dict[int, dict[str, Any]] = {}
    listings: dict[int, tuple[str, str]] = {}
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(CREATORS):
        queue.put_nowait(i)

    async def worker() -> None:
        while not queue.empty():
            i = queue.get_nowait()
            _, tokens[i] = await creator_consents(i)
            listings[i] = await onboard(i, tokens[i]["access_token"])

    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    assert len(listings) == CREATORS

    # A token of creator A cannot touch creator B's listing: B's account is not found.
    a, b = as_user(tokens[0]["access_token"]), listings[1]
    touched = await mod("api.influencers.update_own_account").asyncio_detailed(
        b[1], client=a, body=models.AccountPatch.from_dict({"followers": 1})
    )
    assert touched.status_code == 404, touched.content
    removed = await mod("api.influencers.delete_own_account").asyncio_detailed(b[1], client=a)
    assert removed.status_code == 404, removed.content
    own = await mod("api.influencers.get_own_profile").asyncio(client=a)
    assert isinstance(own, models.InfluencerOut) and own.id == listings[0][0]

    # The deal: a brand's brief, bids through the tool, offers, a counter, acceptances.
    brand_side = await signed_in("brand@nordicoat.example", "Brand Owner")
    brand = await mod("api.brands.create_brand").asyncio(
        client=brand_side, body=models.BrandIn(name="Nordic Oat Co.")
    )
    brief = await mod("api.briefs.create_brief").asyncio(
        client=brand_side, body=models.BriefIn.from_dict(from_today(brief_body(brand.id)))
    )
    opened = await mod("api.briefs.open_brief").asyncio(brief.id, client=brand_side)
    assert opened.state == models.BriefState.OPEN
    bidders = [as_user(tokens[i]["access_token"]) for i in (0, 1, 2)]
    bids = []
    for bidder in bidders:
        bid = await mod("api.negotiation.submit_bid").asyncio(
            brief.id, client=bidder, body=models.BidIn.from_dict(from_today(bid_body()))
        )
        assert isinstance(bid, models.BidOut), bid
        bids.append(bid)

    make_offer = mod("api.negotiation.make_offer")
    offers = [
        await make_offer.asyncio(
            bid.id, client=brand_side, body=models.OfferIn.from_dict(from_today(offer_body()))
        )
        for bid in bids[:2]
    ]
    assert all(isinstance(o, models.OfferOut) for o in offers), offers
    # Creator 0 counters through the tool; the brand accepts the counter.
    counter = await make_offer.asyncio(
        bids[0].id,
        client=bidders[0],
        body=models.OfferIn.from_dict(
            from_today(
                offer_body(
                    price=130_000,
                    payment_schedule=[
                        {"name": "Reels live", "amount": 70_000, "deliverables": ["reels"]},
                        {"name": "Wrap-up", "amount": 60_000, "on_completion": True},
                    ],
                )
            )
        ),
    )
    assert isinstance(counter, models.OfferOut), counter
    accept_offer, get_offer = (
        mod("api.negotiation.accept_offer"),
        mod("api.negotiation.get_offer"),
    )
    read = await get_offer.asyncio_detailed(counter.id, client=brand_side)
    first = await accept_offer.asyncio(counter.id, client=brand_side, if_match=read.headers["etag"])
    assert isinstance(first, models.OfferOut) and first.contract_id, first
    # Creator 1 accepts the brand's offer through the tool.
    read = await get_offer.asyncio_detailed(offers[1].id, client=bidders[1])
    second = await accept_offer.asyncio(
        offers[1].id, client=bidders[1], if_match=read.headers["etag"]
    )
    assert isinstance(second, models.OfferOut) and second.contract_id, second

    get_contract = mod("api.contracts.get_contract")
    contract = await get_contract.asyncio(first.contract_id, client=bidders[0])
    assert isinstance(contract, models.ContractOut), contract
    assert contract.price == 130_000
    contract = await get_contract.asyncio(second.contract_id, client=bidders[1])
    assert isinstance(contract, models.ContractOut) and contract.price == 120_000
    # Creator 2's token does not reach creator 0's contract.
    hidden = await get_contract.asyncio_detailed(first.contract_id, client=bidders[2])
    assert hidden.status_code == 404, hidden.content
    await tool.aclose()
    await pool.aclose()

    # Every creator's listing exists, with its account and its latest figures, and consent.
    engine = create_async_engine(database_url)
    async with AsyncSession(engine) as session:
        made = await session.scalar(select(func.count()).select_from(Influencer))
        assert made == CREATORS
        figures = dict(
            (await session.execute(select(SocialAccount.handle, SocialAccount.followers))).all()
        )
        assert figures == {f"creator{i}": 40_000 + i for i in range(CREATORS)}
        consents = await session.scalar(select(func.count()).select_from(OAuthConsent))
        assert consents == CREATORS
    await engine.dispose()
    # No rate limit was hit — not the sign-in limits, not the tool's per-token buckets — and
    # nothing failed: only the answers the flow expects.
    assert traffic.statuses[429] == 0, traffic.statuses
    assert set(traffic.statuses) <= {200, 201, 204, 302, 404}, traffic.statuses
    assert traffic.statuses[302] == CREATORS
    # The per-credential limits were there (the production plan's headers), and never close.
    assert traffic.least_remaining is not None and traffic.least_remaining > 500
