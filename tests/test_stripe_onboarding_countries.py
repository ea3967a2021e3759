"""Creators anywhere (issue 11, item 7): the Express account is created in the creator's own
country, with Stripe's recipient service agreement when the platform pays across borders, and
a country Stripe Connect does not support is refused before Stripe is asked. Real SDK, real
HTTP to the sandbox; the requests the gateway sends are observed on the wire (an httpx event
hook on the gateway's own client), not replaced."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from app.integrations.stripe import StripeGateway
from app.models import PayoutAccount
from app.services.money.payouts import CONNECT_COUNTRIES, service_agreement
from rapport_dev.stripe_sandbox.testing import RunningSandbox
from tests.factories import assert_problem, create_influencer, register

ONBOARDING = "/v1/influencers/me/payouts/onboarding"


@asynccontextmanager
async def account_requests(app: FastAPI, **settings: Any) -> AsyncIterator[list[dict]]:
    """The app's gateway replaced by one whose `POST /v1/accounts` bodies are recorded."""
    sent: list[dict[str, list[str]]] = []
    original = app.state.resources
    config = original.settings.model_copy(update=settings)
    gateway = StripeGateway(config)

    async def record(request: httpx.Request) -> None:
        if request.method == "POST" and request.url.path == "/v1/accounts":
            sent.append(parse_qs(request.content.decode()))

    gateway._http._client_async.event_hooks["request"].append(record)  # type: ignore[attr-defined]
    app.state.resources = replace(original, stripe=gateway, settings=config)
    try:
        yield sent
    finally:
        app.state.resources = original
        await gateway.aclose()


async def _onboard(api: httpx.AsyncClient, country: str | None) -> tuple[httpx.Response, Any]:
    account = await register(api)
    await create_influencer(api, account, country=country)
    return await api.post(ONBOARDING, headers=account.headers), account


@pytest.mark.parametrize(
    ("country", "agreement"), [("US", None), ("FR", "recipient"), ("SE", "recipient")]
)
async def test_the_account_is_created_in_the_creators_country(
    stripe_app: FastAPI,
    stripe_api: httpx.AsyncClient,
    stripe_sandbox: RunningSandbox,
    country: str,
    agreement: str | None,
) -> None:
    async with account_requests(stripe_app, stripe_connect_country="US") as sent:
        response, _ = await _onboard(stripe_api, country)
    assert response.status_code == 201, response.text
    created = stripe_sandbox.client().v1.accounts.retrieve(response.json()["account_id"])
    assert created.country == country
    assert created.type == "express"
    assert len(sent) == 1
    assert sent[0]["country"] == [country]
    assert sent[0].get("tos_acceptance[service_agreement]") == ([agreement] if agreement else None)
    # Transfers only: a recipient account cannot take payments.
    assert sent[0]["capabilities[transfers][requested]"] == ["true"]
    assert "capabilities[card_payments][requested]" not in sent[0]
    async with stripe_app.state.resources.database.sessionmaker() as session:
        row = await session.scalar(select(PayoutAccount))
        assert row is not None and row.country == country


@pytest.mark.parametrize("country", ["NG", "RU", "IN"])
async def test_a_country_stripe_connect_does_not_support_is_a_clear_422(
    stripe_api: httpx.AsyncClient, stripe_sandbox: RunningSandbox, country: str
) -> None:
    response, account = await _onboard(stripe_api, country)
    body = assert_problem(response, 422, "payout-country-unsupported")
    assert country in body["detail"] and "SE" in body["detail"]
    assert body["errors"][0]["field"] == "country"
    assert list(stripe_sandbox.client().v1.accounts.list().data) == []
    database = stripe_api._transport.app.state.resources.database  # type: ignore[attr-defined]
    async with database.sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(PayoutAccount)) == 0
    status = (await stripe_api.get(f"{ONBOARDING[:-11]}/account", headers=account.headers)).json()
    assert status["status"] == "not_started"


async def test_a_profile_without_a_country_is_asked_for_one(
    stripe_api: httpx.AsyncClient, stripe_sandbox: RunningSandbox
) -> None:
    response, _ = await _onboard(stripe_api, None)
    body = assert_problem(response, 422, "payout-country-required")
    assert body["errors"][0]["field"] == "country"
    assert list(stripe_sandbox.client().v1.accounts.list().data) == []


def test_cross_border_means_outside_the_platforms_country() -> None:
    assert service_agreement("US", "US") is None
    assert service_agreement("FR", "US") == "recipient"
    assert service_agreement("US", "FR") == "recipient"
    # A transfers-only account abroad is a recipient one, in Europe too.
    assert service_agreement("SE", "FR") == "recipient"
    assert service_agreement("FR", "fr") is None
    assert {"US", "FR", "SE", "GB", "JP"} <= CONNECT_COUNTRIES
    assert not {"NG", "RU", "IN"} & CONNECT_COUNTRIES


@pytest.mark.parametrize("country", ["US", "FR", "SE"])
async def test_stripe_accepts_the_accounts_when_it_is_strict_about_them(
    stripe_api: httpx.AsyncClient, stripe_sandbox: RunningSandbox, country: str
) -> None:
    # The sandbox as strict as Stripe: supported countries, the recipient agreement across
    # borders, single-use links, capabilities that take time.
    stripe_sandbox.set_options(strict_accounts=True)
    response, _ = await _onboard(stripe_api, country)
    assert response.status_code == 201, response.text
    created = stripe_sandbox.client().v1.accounts.retrieve(response.json()["account_id"])
    assert created.country == country
    expected = "full" if country == "US" else "recipient"
    assert (created.to_dict()["tos_acceptance"].get("service_agreement") or "full") == expected
