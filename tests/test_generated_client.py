"""A client generated from `openapi/openapi.json` by `openapi-python-client` (no warning; the
`generated` fixture of tests/generated_client_support.py), used against the app served by uvicorn
to run the deal: brief → open → bid → offer → counter → accept → contract, with typed models both
ways."""

from __future__ import annotations

from contextlib import ExitStack
from typing import Any

from app.main import create_app
from tests.factories import PASSWORD, bid_body, brief_body, listing_body, offer_body
from tests.stripe_support import serve_app


def _sign_up(mod: Any, client: Any, email: str, name: str) -> Any:
    register = mod("api.auth.register")
    user = register.sync(
        client=client, body=mod("models").RegisterIn(email=email, password=PASSWORD, full_name=name)
    )
    assert type(user).__name__ == "UserOut", user
    form = mod("models").IssueTokenForm(username=email, password=PASSWORD)
    token = mod("api.auth.issue_token").sync(client=client, body=form)
    assert type(token).__name__ == "TokenOut", token
    return mod("client").AuthenticatedClient(base_url=client._base_url, token=token.access_token)


async def test_a_generated_client_runs_the_deal(generated, settings, clock):
    mod = generated
    models = mod("models")
    with serve_app(create_app(settings, clock=clock)) as served, ExitStack() as clients:
        anonymous = clients.enter_context(mod("client").Client(base_url=served.url))
        brand_side = clients.enter_context(
            _sign_up(mod, anonymous, "gen-brand@example.com", "Brand Owner")
        )
        creator = clients.enter_context(
            _sign_up(mod, anonymous, "gen-creator@example.com", "Mia Runs")
        )

        brand = mod("api.brands.create_brand").sync(
            client=brand_side, body=models.BrandIn(name="Nordic Oat Co.")
        )
        assert isinstance(brand, models.BrandOut), brand
        brief = mod("api.briefs.create_brief").sync(
            client=brand_side, body=models.BriefIn.from_dict(brief_body(brand.id))
        )
        assert isinstance(brief, models.BriefOut), brief
        opened = mod("api.briefs.open_brief").sync(brief.id, client=brand_side)
        assert opened.state == models.BriefState.OPEN

        listing = mod("api.influencers.create_own_profile").sync(
            client=creator, body=models.InfluencerIn.from_dict(listing_body())
        )
        assert isinstance(listing, models.InfluencerOut), listing
        bid = mod("api.negotiation.submit_bid").sync(
            brief.id, client=creator, body=models.BidIn.from_dict(bid_body())
        )
        assert isinstance(bid, models.BidOut), bid

        make_offer = mod("api.negotiation.make_offer")
        offer = make_offer.sync(
            bid.id, client=brand_side, body=models.OfferIn.from_dict(offer_body())
        )
        assert isinstance(offer, models.OfferOut), offer
        counter = make_offer.sync(
            bid.id,
            client=creator,
            body=models.OfferIn.from_dict(
                offer_body(
                    price=130_000,
                    payment_schedule=[
                        {"name": "Reels live", "amount": 70_000, "deliverables": ["reels"]},
                        {"name": "Wrap-up", "amount": 60_000, "on_completion": True},
                    ],
                )
            ),
        )
        assert isinstance(counter, models.OfferOut), counter
        assert counter.terms.price == 130_000

        # Read the counter-offer, take its ETag, and accept it conditionally; the body (optional)
        # is left out.
        read = mod("api.negotiation.get_offer").sync_detailed(counter.id, client=brand_side)
        etag = read.headers["etag"]
        accepted = mod("api.negotiation.accept_offer").sync(
            counter.id, client=brand_side, if_match=etag
        )
        assert isinstance(accepted, models.OfferOut), accepted
        assert accepted.contract_id

        contract = mod("api.contracts.get_contract").sync(accepted.contract_id, client=creator)
        assert isinstance(contract, models.ContractOut), contract
        assert contract.price == 130_000 and contract.terms.price == 130_000
        page = mod("api.contracts.list_contracts").sync(client=brand_side)
        assert [c.id for c in page.data] == [contract.id]
