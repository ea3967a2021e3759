"""Mistakes are 4xx, outages are 5xx (issue 11, item 4): a Stripe refusal the caller caused
becomes a typed 409/422 problem in Stripe's own words; 502/503 only when Stripe failed or could
not be reached, with `Retry-After`. Through the routes, the real SDK and the sandbox over HTTP."""

from __future__ import annotations

import asyncio

import httpx
from fastapi import FastAPI

from app.clock import Clock
from rapport_dev.stripe_sandbox.testing import RunningSandbox
from tests.factories import assert_problem, create_contract
from tests.money_support import Forwarder, fund, money_worker, settle


def _confirm_url(contract_id: str) -> str:
    return f"/v1/contracts/{contract_id}/funding/confirm"


async def test_confirming_an_already_paid_funding_is_a_409_in_stripes_words(
    stripe_app: FastAPI, stripe_api: httpx.AsyncClient, forwarder: Forwarder, clock: Clock
) -> None:
    deal, contract = await create_contract(stripe_api)
    paid = await fund(stripe_api, deal, contract["id"])
    assert paid.status_code == 200, paid.text
    # The webhook has not been processed yet: only Stripe knows it is paid.
    again = await stripe_api.post(
        _confirm_url(contract["id"]),
        json={"payment_method": "pm_card_visa"},
        headers=deal.brand_owner.headers,
    )
    body = assert_problem(again, 409, "payment-state-conflict")
    assert body["stripe_code"] == "payment_intent_unexpected_state"
    assert "status of succeeded" in body["stripe_message"]
    assert body["payment_intent_status"] == "succeeded"
    assert "Retry-After" not in again.headers

    # Once the webhook is processed, Rapport answers the same without asking Stripe.
    await settle(money_worker(stripe_app, clock), forwarder)
    later = await stripe_api.post(
        _confirm_url(contract["id"]),
        json={"payment_method": "pm_card_visa"},
        headers=deal.brand_owner.headers,
    )
    body = assert_problem(later, 409, "payment-state-conflict")
    assert body["payment_intent_status"] == "succeeded"


async def test_an_unknown_payment_method_is_a_422_naming_the_field(
    stripe_api: httpx.AsyncClient,
) -> None:
    deal, contract = await create_contract(stripe_api)
    response = await fund(stripe_api, deal, contract["id"], pm="pm_card_doesNotExist")
    body = assert_problem(response, 422, "payment-method-invalid")
    assert body["stripe_code"] == "resource_missing"
    assert "pm_card_doesNotExist" in body["stripe_message"]
    assert body["errors"] == [
        {"field": "payment_method", "message": body["stripe_message"], "rule": "resource_missing"}
    ]
    # Nothing changed: a good card still works.
    ok = await stripe_api.post(
        _confirm_url(contract["id"]),
        json={"payment_method": "pm_card_visa"},
        headers=deal.brand_owner.headers,
    )
    assert ok.status_code == 200, ok.text


async def test_a_declined_card_is_a_402_with_stripes_code_and_message(
    stripe_api: httpx.AsyncClient,
) -> None:
    deal, contract = await create_contract(stripe_api)
    response = await fund(
        stripe_api, deal, contract["id"], pm="pm_card_visa_chargeDeclinedInsufficientFunds"
    )
    body = assert_problem(response, 402, "payment-declined")
    assert body["decline_code"] == "insufficient_funds"
    assert body["stripe_code"] == "card_declined"
    assert body["stripe_message"] == "Your card has insufficient funds."


async def test_a_duplicate_click_learns_the_first_outcome_never_a_5xx(
    stripe_api: httpx.AsyncClient,
) -> None:
    deal, contract = await create_contract(stripe_api)
    started = await stripe_api.post(
        f"/v1/contracts/{contract['id']}/funding", headers=deal.brand_owner.headers
    )
    assert started.status_code == 200, started.text
    responses = await asyncio.gather(
        *(
            stripe_api.post(
                _confirm_url(contract["id"]),
                json={"payment_method": "pm_card_visa"},
                headers=deal.brand_owner.headers,
            )
            for _ in range(2)
        )
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses in ([200, 200], [200, 409]), [r.text for r in responses]
    for response in responses:
        if response.status_code == 409:
            body = assert_problem(response, 409, "payment-state-conflict")
            assert body["payment_intent_status"] == "succeeded"
        else:
            assert response.json()["status"] == "succeeded"


async def test_stripe_failing_is_a_503_with_retry_after_and_changes_nothing(
    stripe_api: httpx.AsyncClient, stripe_sandbox: RunningSandbox
) -> None:
    deal, contract = await create_contract(stripe_api)
    started = await stripe_api.post(
        f"/v1/contracts/{contract['id']}/funding", headers=deal.brand_owner.headers
    )
    intent_id = started.json()["payment_intent_id"]
    stripe_sandbox.inject_fault(
        f"/v1/payment_intents/{intent_id}/confirm", "error_before_apply", count=None
    )
    failed = await stripe_api.post(
        _confirm_url(contract["id"]),
        json={"payment_method": "pm_card_visa"},
        headers=deal.brand_owner.headers,
    )
    assert_problem(failed, 503, "payment-provider-unavailable")
    assert int(failed.headers["Retry-After"]) > 0
    assert stripe_sandbox.client().v1.payment_intents.retrieve(intent_id).status == (
        "requires_payment_method"
    )
    stripe_sandbox.clear_faults()
    ok = await stripe_api.post(
        _confirm_url(contract["id"]),
        json={"payment_method": "pm_card_visa"},
        headers=deal.brand_owner.headers,
    )
    assert ok.status_code == 200, ok.text


async def test_the_funding_routes_document_their_problems(stripe_app: FastAPI) -> None:
    spec = stripe_app.openapi()
    confirm = spec["paths"]["/v1/contracts/{contract_id}/funding/confirm"]["post"]["responses"]
    assert "payment-state-conflict" in confirm["409"]["description"]
    assert "payment-method-invalid" in confirm["422"]["description"]
    assert "payment-declined" in confirm["402"]["description"]
    assert "payment-provider-unavailable" in confirm["503"]["description"]
    fund_route = spec["paths"]["/v1/contracts/{contract_id}/funding"]["post"]["responses"]
    assert "payment-provider-unavailable" in fund_route["503"]["description"]
