"""Stored replays of errors, as Stripe's idempotency layer does them (real SDK over HTTP).

Stripe (docs.stripe.com/idempotency, /error-low-level): the status and body of the first request
with a key are saved once the endpoint *began executing*, "regardless of whether it succeeds or
fails ... including 500 errors", and replayed for 24 hours. Not saved: requests whose parameters
fail validation, and requests that conflict with one still executing (409): no endpoint began.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import stripe

from rapport_dev.stripe_sandbox.testing import RunningSandbox


def _transfer_params(sandbox: RunningSandbox, client: stripe.StripeClient) -> dict[str, Any]:
    account = client.v1.accounts.create(
        {"type": "express", "country": "US", "capabilities": {"transfers": {"requested": True}}}
    )
    sandbox.complete_onboarding(account.id)
    intent = client.v1.payment_intents.create(
        {"amount": 10_000, "currency": "usd", "payment_method": "pm_card_visa", "confirm": True}
    )
    return {
        "amount": 4_000,
        "currency": "usd",
        "destination": account.id,
        "source_transaction": intent.latest_charge,
        "transfer_group": "ctr_e",
    }


def _post(sandbox: RunningSandbox, path: str, data: dict[str, str], key: str) -> httpx.Response:
    return httpx.post(
        f"{sandbox.url}{path}",
        data=data,
        headers={"Authorization": "Bearer sk_test_x", "Idempotency-Key": key},
    )


def test_a_500_after_the_operation_is_replayed_for_24_hours(
    sandbox: RunningSandbox, stripe_client: stripe.StripeClient
) -> None:
    params = _transfer_params(sandbox, stripe_client)
    sandbox.inject_fault("/v1/transfers", "error_after_apply")
    with pytest.raises(stripe.APIError) as first:
        stripe_client.v1.transfers.create(params, {"idempotency_key": "tr-500"})
    assert first.value.http_status == 500
    (made,) = stripe_client.v1.transfers.list({"transfer_group": "ctr_e"}).data  # it happened

    # The SDK's own retries (same key) get the same 500 back, replayed.
    retrying = sandbox.client(max_network_retries=2)
    with pytest.raises(stripe.APIError) as again:
        retrying.v1.transfers.create(params, {"idempotency_key": "tr-500"})
    assert again.value.http_status == 500
    assert again.value.headers["Idempotent-Replayed"] == "true"
    assert again.value.headers["Original-Request"] == first.value.request_id
    assert again.value.json_body == first.value.json_body

    sandbox.set_clock(advance=24 * 3600 - 60)  # still within the key's 24 hours
    with pytest.raises(stripe.APIError):
        stripe_client.v1.transfers.create(params, {"idempotency_key": "tr-500"})
    assert len(stripe_client.v1.transfers.list({"transfer_group": "ctr_e"}).data) == 1

    # After 24 hours the key is forgotten: the same request runs again — a second transfer,
    # exactly what a client that never looked the first one up would cause at Stripe.
    sandbox.set_clock(advance=120)
    second = stripe_client.v1.transfers.create(params, {"idempotency_key": "tr-500"})
    assert second.id != made.id
    assert second.last_response.headers.get("Idempotent-Replayed") is None


def test_an_answer_lost_on_the_way_replays_the_stored_success(
    sandbox: RunningSandbox, stripe_client: stripe.StripeClient
) -> None:
    params = _transfer_params(sandbox, stripe_client)
    sandbox.inject_fault("/v1/transfers", "answer_lost_after_apply")
    with pytest.raises(stripe.APIError):
        stripe_client.v1.transfers.create(params, {"idempotency_key": "tr-lost"})
    (made,) = stripe_client.v1.transfers.list().data
    retry = stripe_client.v1.transfers.create(params, {"idempotency_key": "tr-lost"})
    assert retry.id == made.id and retry.last_response.headers["Idempotent-Replayed"] == "true"
    # With the SDK retrying by itself, the caller never notices.
    sandbox.inject_fault("/v1/refunds", "answer_lost_after_apply")
    refund = sandbox.client(max_network_retries=2).v1.refunds.create(
        {"charge": params["source_transaction"], "amount": 500}
    )
    assert [r.id for r in stripe_client.v1.refunds.list().data] == [refund.id]


def test_a_refusal_made_while_executing_is_stored_and_replayed(
    sandbox: RunningSandbox, stripe_client: stripe.StripeClient
) -> None:
    """A 400 from the endpoint's own rules (not enough money) is saved like any response: the
    same key keeps answering it even once the money is there; a new key runs again."""
    params = _transfer_params(sandbox, stripe_client)
    account = params["destination"]
    connected = sandbox.client(stripe_account=account)
    with pytest.raises(stripe.InvalidRequestError) as refused:
        connected.v1.payouts.create({"amount": 1_000, "currency": "usd"}, {"idempotency_key": "p"})
    assert refused.value.code == "balance_insufficient"
    stripe_client.v1.transfers.create(params)
    with pytest.raises(stripe.InvalidRequestError) as replayed:
        connected.v1.payouts.create({"amount": 1_000, "currency": "usd"}, {"idempotency_key": "p"})
    assert replayed.value.code == "balance_insufficient"
    assert replayed.value.headers["Idempotent-Replayed"] == "true"
    payout = connected.v1.payouts.create(
        {"amount": 1_000, "currency": "usd"}, {"idempotency_key": "p2"}
    )
    assert payout.status == "pending"


def test_a_request_failing_parameter_validation_stores_nothing(sandbox: RunningSandbox) -> None:
    """No endpoint began executing: the key can be used again with corrected parameters."""
    bad = _post(sandbox, "/v1/customers", {"email": "v@example.com", "colour": "red"}, "k-val")
    assert bad.status_code == 400
    assert bad.json()["error"]["param"] == "colour"
    good = _post(sandbox, "/v1/customers", {"email": "v@example.com"}, "k-val")
    assert good.status_code == 200 and "Idempotent-Replayed" not in good.headers
    replay = _post(sandbox, "/v1/customers", {"email": "v@example.com"}, "k-val")
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.json()["id"] == good.json()["id"]


def test_a_500_before_the_endpoint_began_stores_nothing(
    sandbox: RunningSandbox, stripe_client: stripe.StripeClient
) -> None:
    sandbox.inject_fault("/v1/customers", "error_before_apply")
    with pytest.raises(stripe.APIError):
        stripe_client.v1.customers.create({"email": "b@example.com"}, {"idempotency_key": "b"})
    created = stripe_client.v1.customers.create(
        {"email": "b@example.com"}, {"idempotency_key": "b"}
    )
    assert created.last_response.headers.get("Idempotent-Replayed") is None
