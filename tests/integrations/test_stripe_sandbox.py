"""The Stripe sandbox, driven exactly like the application drives Stripe: the official SDK over
real HTTP to a real server (started once per session in a thread, reset before each test)."""

from __future__ import annotations

import threading
import time
from typing import Any

import httpx
import pytest
import stripe

from rapport_dev.stripe_sandbox.server import ROUTES
from rapport_dev.stripe_sandbox.spec import get_spec
from rapport_dev.stripe_sandbox.testing import RunningSandbox

WHSEC = "whsec_rapport_sandbox_test_secret"


def paid_intent(
    client: stripe.StripeClient, amount: int = 10_000, currency: str = "usd", **extra: Any
) -> stripe.PaymentIntent:
    return client.v1.payment_intents.create(
        {
            "amount": amount,
            "currency": currency,
            "payment_method": "pm_card_visa",
            "confirm": True,
            **extra,
        }
    )


def express_account(client: stripe.StripeClient) -> stripe.Account:
    return client.v1.accounts.create(
        {
            "type": "express",
            "country": "US",
            "email": "creator@example.com",
            "capabilities": {"transfers": {"requested": True}},
            "metadata": {"influencer": "inf_1"},
        }
    )


def onboarded_account(client: stripe.StripeClient, sandbox: RunningSandbox) -> str:
    account = express_account(client)
    sandbox.complete_onboarding(account.id)
    return account.id


def available(client: stripe.StripeClient, currency: str = "usd") -> int:
    balance = client.v1.balance.retrieve()
    return next((b.amount for b in balance.available if b.currency == currency), 0)


def replayed(obj: Any) -> bool:
    return obj.last_response.headers.get("Idempotent-Replayed") == "true"


# --- payment intents ----------------------------------------------------------------------------


def test_payment_intent_confirmed_with_visa_succeeds_and_creates_a_charge(
    stripe_client: stripe.StripeClient,
) -> None:
    customer = stripe_client.v1.customers.create({"email": "brand@example.com"})
    assert customer.id.startswith("cus_") and customer.object == "customer"
    assert stripe_client.v1.customers.retrieve(customer.id).email == "brand@example.com"

    pi = stripe_client.v1.payment_intents.create(
        {
            "amount": 12_345,
            "currency": "usd",
            "customer": customer.id,
            "metadata": {"contract": "ctr_1"},
            "transfer_group": "ctr_1",
            "automatic_payment_methods": {"enabled": True},
            "description": "Escrow for ctr_1",
        }
    )
    assert pi.id.startswith("pi_") and pi.status == "requires_payment_method"
    assert pi.client_secret.startswith(f"{pi.id}_secret_")
    assert pi.livemode is False and isinstance(pi.created, int)

    pi = stripe_client.v1.payment_intents.confirm(pi.id, {"payment_method": "pm_card_visa"})
    assert pi.status == "succeeded" and pi.amount_received == 12_345
    assert pi.payment_method.startswith("pm_")
    charge = pi.charges.data[0]
    assert charge.id == pi.latest_charge and charge.id.startswith("ch_")
    assert charge.status == "succeeded" and charge.paid and charge.captured
    assert charge.balance_transaction.startswith("txn_")
    assert charge.metadata["contract"] == "ctr_1" and charge.transfer_group == "ctr_1"
    assert charge.payment_method_details.card.last4 == "4242"

    expanded = stripe_client.v1.payment_intents.retrieve(
        pi.id, {"expand": ["latest_charge.balance_transaction"]}
    )
    txn = expanded.latest_charge.balance_transaction
    assert txn.type == "charge" and txn.amount == 12_345 and txn.source == charge.id
    types = [e.type for e in stripe_client.v1.events.list({"limit": 10}).data]
    assert {"payment_intent.created", "charge.succeeded", "payment_intent.succeeded"} <= set(types)


@pytest.mark.parametrize("pm", ["pm_card_chargeDeclined", "pm_card_visa_chargeDeclined"])
def test_declined_card_raises_card_error_and_needs_a_new_payment_method(
    stripe_client: stripe.StripeClient, pm: str
) -> None:
    with pytest.raises(stripe.CardError) as caught:
        stripe_client.v1.payment_intents.create(
            {"amount": 5_000, "currency": "usd", "payment_method": pm, "confirm": True}
        )
    err = caught.value
    assert err.http_status == 402 and err.code == "card_declined"
    assert err.error.decline_code == "generic_decline"
    pi = stripe_client.v1.payment_intents.retrieve(err.error.payment_intent.id)
    assert pi.status == "requires_payment_method" and pi.payment_method is None
    assert pi.last_payment_error.code == "card_declined"
    assert pi.charges.data[0].status == "failed" and pi.amount_received == 0
    assert available(stripe_client) == 0
    failed = stripe_client.v1.events.list({"type": "payment_intent.payment_failed"}).data
    assert [e.data.object.id for e in failed] == [pi.id]

    # The customer retries with a working card: the same intent succeeds.
    pi = stripe_client.v1.payment_intents.confirm(pi.id, {"payment_method": "pm_card_visa"})
    assert pi.status == "succeeded" and len(pi.charges.data) == 2


def test_zero_decimal_currency_amounts_are_taken_as_is(stripe_client: stripe.StripeClient) -> None:
    pi = paid_intent(stripe_client, amount=5_000, currency="JPY")
    assert pi.currency == "jpy" and pi.amount_received == 5_000
    assert available(stripe_client, "jpy") == 5_000 and available(stripe_client, "usd") == 0


def test_cancel_only_before_success(stripe_client: stripe.StripeClient) -> None:
    pi = stripe_client.v1.payment_intents.create({"amount": 900, "currency": "eur"})
    canceled = stripe_client.v1.payment_intents.cancel(pi.id)
    assert canceled.status == "canceled" and canceled.canceled_at
    done = paid_intent(stripe_client)
    with pytest.raises(stripe.InvalidRequestError) as caught:
        stripe_client.v1.payment_intents.cancel(done.id)
    assert caught.value.code == "payment_intent_unexpected_state"


# --- request validation -------------------------------------------------------------------------


def test_unknown_parameter_is_refused_naming_it(stripe_client: stripe.StripeClient) -> None:
    with pytest.raises(stripe.InvalidRequestError) as caught:
        stripe_client.v1.payment_intents.create({"amount": 100, "currency": "usd", "foo": "x"})
    assert caught.value.http_status == 400
    assert caught.value.param == "foo"
    assert str(caught.value.user_message) == "Received unknown parameter: foo"

    with pytest.raises(stripe.InvalidRequestError) as caught:
        stripe_client.v1.payment_intents.create(
            {"amount": 100, "currency": "usd", "automatic_payment_methods": {"bogus": "1"}}
        )
    assert caught.value.param == "automatic_payment_methods[bogus]"


@pytest.mark.parametrize(
    ("params", "param", "message"),
    [
        ({"amount": "abc", "currency": "usd"}, "amount", "Invalid integer: abc"),
        ({"amount": 100, "currency": "usd", "confirm": "yes"}, "confirm", "Invalid boolean"),
        ({"amount": 100, "currency": "usd", "capture_method": "later"}, "capture_method", None),
        ({"amount": 100}, "currency", "Missing required param: currency."),
        ({"amount": 0, "currency": "usd"}, "amount", None),
        ({"amount": 100, "currency": "dollars"}, "currency", "Invalid currency"),
    ],
)
def test_ill_typed_parameters_are_refused(
    stripe_client: stripe.StripeClient, params: dict[str, Any], param: str, message: str | None
) -> None:
    with pytest.raises(stripe.InvalidRequestError) as caught:
        stripe_client.v1.payment_intents.create(params)
    assert caught.value.http_status == 400 and caught.value.param == param
    if message:
        assert str(caught.value.user_message).startswith(message)
    assert stripe_client.v1.payment_intents.list().data == []


def test_unknown_objects_and_urls_are_404(
    sandbox: RunningSandbox, stripe_client: stripe.StripeClient
) -> None:
    with pytest.raises(stripe.InvalidRequestError) as caught:
        stripe_client.v1.payment_intents.retrieve("pi_doesnotexist")
    assert caught.value.http_status == 404 and caught.value.code == "resource_missing"
    r = httpx.get(
        f"{sandbox.url}/v1/nothing", headers={"Authorization": "Bearer sk_test_x"}, timeout=5
    )
    assert r.status_code == 404 and r.json()["error"]["type"] == "invalid_request_error"


def test_authentication_is_required(sandbox: RunningSandbox) -> None:
    r = httpx.get(f"{sandbox.url}/v1/balance", timeout=5)
    assert r.status_code == 401 and "API key" in r.json()["error"]["message"]
    r = httpx.get(f"{sandbox.url}/v1/balance", auth=("sk_test_basic", ""), timeout=5)
    assert r.status_code == 200
    with pytest.raises(stripe.AuthenticationError):
        sandbox.client(api_key="sk_live_nope").v1.balance.retrieve()
    with pytest.raises(stripe.PermissionError):
        sandbox.client(stripe_account="acct_unknown").v1.balance.retrieve()


# --- refunds ------------------------------------------------------------------------------------


def test_refunds_partial_then_rest_and_never_more(stripe_client: stripe.StripeClient) -> None:
    pi = paid_intent(stripe_client, amount=10_000)
    partial = stripe_client.v1.refunds.create({"payment_intent": pi.id, "amount": 3_000})
    assert partial.id.startswith("re_") and partial.status == "succeeded"
    assert partial.charge == pi.latest_charge and partial.amount == 3_000

    with pytest.raises(stripe.InvalidRequestError) as caught:
        stripe_client.v1.refunds.create({"charge": pi.latest_charge, "amount": 7_001})
    assert caught.value.code == "amount_too_large" and caught.value.param == "amount"

    rest = stripe_client.v1.refunds.create({"charge": pi.latest_charge})
    assert rest.amount == 7_000
    charge = stripe_client.v1.charges.retrieve(pi.latest_charge)
    assert charge.amount_refunded == 10_000 and charge.refunded is True
    assert {r.id for r in charge.refunds.data} == {partial.id, rest.id}

    with pytest.raises(stripe.InvalidRequestError) as caught:
        stripe_client.v1.refunds.create({"payment_intent": pi.id})
    assert caught.value.code == "charge_already_refunded"
    assert available(stripe_client) == 0
    assert stripe_client.v1.refunds.retrieve(rest.id).amount == 7_000
    refunded = stripe_client.v1.events.list({"type": "charge.refunded"}).data
    assert len(refunded) == 2 and refunded[0].data.object.amount_refunded == 10_000


# --- connected accounts -------------------------------------------------------------------------


def test_express_account_onboarding_through_an_account_link(
    sandbox: RunningSandbox, stripe_client: stripe.StripeClient
) -> None:
    account = express_account(stripe_client)
    assert account.id.startswith("acct_") and account.type == "express"
    assert not account.payouts_enabled and not account.charges_enabled
    assert not account.details_submitted and account.requirements.currently_due
    assert account.capabilities.transfers == "inactive"

    link = stripe_client.v1.account_links.create(
        {
            "account": account.id,
            "refresh_url": "https://rapport.example/onboarding/refresh",
            "return_url": "https://rapport.example/onboarding/done",
            "type": "account_onboarding",
        }
    )
    assert link.object == "account_link" and link.url.startswith(sandbox.url)
    assert link.expires_at > link.created

    # Visiting the link is finishing Stripe's hosted onboarding; it returns to return_url.
    visit = httpx.get(link.url, follow_redirects=False, timeout=5)
    assert visit.status_code == 303
    assert visit.headers["location"] == "https://rapport.example/onboarding/done"

    account = stripe_client.v1.accounts.retrieve(account.id)
    assert account.payouts_enabled and account.details_submitted
    assert not account.charges_enabled  # transfers only: it can never take a payment
    assert account.requirements.currently_due == [] and account.requirements.disabled_reason is None
    assert account.capabilities.transfers == "active"
    assert account.external_accounts.data[0].object == "bank_account"

    # Connect events live on the connected account and name it.
    connected = sandbox.client(stripe_account=account.id)
    updated = connected.v1.events.list({"type": "account.updated"}).data
    assert updated[0].account == account.id
    assert updated[0].data.previous_attributes.payouts_enabled is False

    account = stripe_client.v1.accounts.update(account.id, {"metadata": {"tier": "gold"}})
    assert account.metadata.to_dict() == {"influencer": "inf_1", "tier": "gold"}

    restricted = sandbox.require_information(account.id, ["individual.verification.document"])
    assert restricted["payouts_enabled"] is False
    assert connected.v1.accounts.retrieve(account.id).requirements.currently_due == [
        "individual.verification.document"
    ]


def test_onboarding_control_endpoint(
    sandbox: RunningSandbox, stripe_client: stripe.StripeClient
) -> None:
    account = express_account(stripe_client)
    done = sandbox.complete_onboarding(account.id)
    assert done["payouts_enabled"] is True and done["requirements"]["currently_due"] == []
    ids = [a.id for a in stripe_client.v1.accounts.list().data]
    assert ids == [account.id]  # the platform itself is not listed


# --- transfers ----------------------------------------------------------------------------------


def test_transfers_from_a_source_transaction_within_what_remains(
    sandbox: RunningSandbox, stripe_client: stripe.StripeClient
) -> None:
    pending = express_account(stripe_client)
    pi = paid_intent(stripe_client, amount=10_000, transfer_group="ctr_1")
    with pytest.raises(stripe.InvalidRequestError) as caught:
        stripe_client.v1.transfers.create(
            {"amount": 1_000, "currency": "usd", "destination": pending.id}
        )
    assert caught.value.code == "insufficient_capabilities_for_transfer"
    with pytest.raises(stripe.InvalidRequestError) as caught:
        stripe_client.v1.transfers.create(
            {"amount": 1_000, "currency": "usd", "destination": "acct_nope"}
        )
    assert caught.value.param == "destination"

    account = onboarded_account(stripe_client, sandbox)
    base = {"currency": "usd", "destination": account, "transfer_group": "ctr_1"}
    first = stripe_client.v1.transfers.create(
        {
            **base,
            "amount": 7_000,
            "source_transaction": pi.latest_charge,
            "metadata": {"milestone": "mst_1"},
        }
    )
    assert first.id.startswith("tr_") and first.destination == account
    assert first.source_transaction == pi.latest_charge and first.transfer_group == "ctr_1"
    assert first.balance_transaction.startswith("txn_") and first.destination_payment

    with pytest.raises(stripe.InvalidRequestError) as caught:
        stripe_client.v1.transfers.create(
            {**base, "amount": 3_001, "source_transaction": pi.latest_charge}
        )
    assert caught.value.code == "balance_insufficient"
    second = stripe_client.v1.transfers.create(
        {**base, "amount": 3_000, "source_transaction": pi.latest_charge}
    )

    # Nothing left on the platform either, without a source transaction.
    with pytest.raises(stripe.InvalidRequestError) as caught:
        stripe_client.v1.transfers.create({**base, "amount": 1})
    assert caught.value.code == "balance_insufficient"

    other = paid_intent(stripe_client, amount=500, transfer_group="ctr_2")
    stripe_client.v1.transfers.create(
        {"amount": 500, "currency": "usd", "destination": account, "transfer_group": "ctr_2"}
    )
    assert other.status == "succeeded"
    group = stripe_client.v1.transfers.list({"transfer_group": "ctr_1"}).data
    assert [t.id for t in group] == [second.id, first.id]
    assert len(stripe_client.v1.transfers.list({"destination": account}).data) == 3
    assert stripe_client.v1.transfers.retrieve(first.id).metadata["milestone"] == "mst_1"
    connected = sandbox.client(stripe_account=account)
    assert available(connected) == 10_500


def test_transfer_reversals_never_exceed_the_transfer(
    sandbox: RunningSandbox, stripe_client: stripe.StripeClient
) -> None:
    account = onboarded_account(stripe_client, sandbox)
    pi = paid_intent(stripe_client, amount=8_000)
    transfer = stripe_client.v1.transfers.create(
        {
            "amount": 6_000,
            "currency": "usd",
            "destination": account,
            "source_transaction": pi.latest_charge,
        }
    )
    part = stripe_client.v1.transfers.reversals.create(transfer.id, {"amount": 2_000})
    assert part.id.startswith("trr_") and part.transfer == transfer.id and part.amount == 2_000
    with pytest.raises(stripe.InvalidRequestError) as caught:
        stripe_client.v1.transfers.reversals.create(transfer.id, {"amount": 4_001})
    assert caught.value.param == "amount"
    rest = stripe_client.v1.transfers.reversals.create(transfer.id)
    assert rest.amount == 4_000
    transfer = stripe_client.v1.transfers.retrieve(transfer.id)
    assert transfer.amount_reversed == 6_000 and transfer.reversed is True
    with pytest.raises(stripe.InvalidRequestError):
        stripe_client.v1.transfers.reversals.create(transfer.id, {"amount": 1})
    listed = stripe_client.v1.transfers.reversals.list(transfer.id).data
    assert [r.id for r in listed] == [rest.id, part.id]
    assert len(stripe_client.v1.events.list({"type": "transfer.reversed"}).data) == 2
    # The money is back on the platform, and gone from the connected account.
    assert available(stripe_client) == 8_000
    assert available(sandbox.client(stripe_account=account)) == 0


# --- payouts ------------------------------------------------------------------------------------


def test_payouts_on_a_connected_account_paid_and_failed(
    sandbox: RunningSandbox, stripe_client: stripe.StripeClient
) -> None:
    not_ready = express_account(stripe_client)
    with pytest.raises(stripe.InvalidRequestError) as caught:
        sandbox.client(stripe_account=not_ready.id).v1.payouts.create(
            {"amount": 100, "currency": "usd"}
        )
    assert caught.value.code == "payouts_not_allowed"

    account = onboarded_account(stripe_client, sandbox)
    pi = paid_intent(stripe_client, amount=5_000)
    stripe_client.v1.transfers.create(
        {
            "amount": 5_000,
            "currency": "usd",
            "destination": account,
            "source_transaction": pi.latest_charge,
        }
    )
    connected = sandbox.client(stripe_account=account)
    payout = connected.v1.payouts.create({"amount": 3_000, "currency": "usd"})
    assert payout.id.startswith("po_") and payout.status == "pending"
    assert payout.destination.startswith("ba_")
    assert available(connected) == 2_000
    # Payouts belong to the connected account: the platform does not see them.
    with pytest.raises(stripe.InvalidRequestError):
        stripe_client.v1.payouts.retrieve(payout.id)

    assert sandbox.pay_payout(payout.id)["status"] == "paid"
    assert connected.v1.payouts.retrieve(payout.id).status == "paid"
    paid_event = connected.v1.events.list({"type": "payout.paid"}).data[0]
    assert paid_event.account == account and paid_event.data.object.id == payout.id

    with pytest.raises(stripe.InvalidRequestError) as caught:
        connected.v1.payouts.create({"amount": 2_001, "currency": "usd"})
    assert caught.value.code == "balance_insufficient"

    second = connected.v1.payouts.create({"amount": 2_000, "currency": "usd"})
    assert available(connected) == 0
    failed = sandbox.fail_payout(second.id, "account_closed")
    assert failed["status"] == "failed" and failed["failure_code"] == "account_closed"
    assert failed["failure_message"] and failed["failure_balance_transaction"]
    assert available(connected) == 2_000  # the failed payout's money came back
    failed_event = connected.v1.events.list({"type": "payout.failed"}).data[0]
    assert failed_event.account == account
    assert failed_event.data.object.failure_code == "account_closed"
    assert [p.id for p in connected.v1.payouts.list().data] == [second.id, payout.id]
    with pytest.raises(Exception, match="already"):
        sandbox.pay_payout(second.id)


# --- balance ------------------------------------------------------------------------------------


def test_balance_and_balance_transactions_agree_after_a_sequence(
    sandbox: RunningSandbox, stripe_client: stripe.StripeClient
) -> None:
    account = onboarded_account(stripe_client, sandbox)
    connected = sandbox.client(stripe_account=account)
    first = paid_intent(stripe_client, amount=10_000)
    second = paid_intent(stripe_client, amount=5_000)
    stripe_client.v1.refunds.create({"payment_intent": second.id, "amount": 2_000})
    transfer = stripe_client.v1.transfers.create(
        {
            "amount": 6_000,
            "currency": "usd",
            "destination": account,
            "source_transaction": first.latest_charge,
        }
    )
    stripe_client.v1.transfers.reversals.create(transfer.id, {"amount": 1_000})
    paid = connected.v1.payouts.create({"amount": 3_000, "currency": "usd"})
    sandbox.pay_payout(paid.id)
    failed = connected.v1.payouts.create({"amount": 1_000, "currency": "usd"})
    sandbox.fail_payout(failed.id, "no_account")

    assert available(stripe_client) == 10_000 + 5_000 - 2_000 - 6_000 + 1_000
    assert available(connected) == 6_000 - 1_000 - 3_000 - 1_000 + 1_000
    balance = stripe_client.v1.balance.retrieve()
    assert balance.object == "balance" and balance.pending[0].amount == 0

    for client, expected_types in [
        (stripe_client, {"charge", "refund", "transfer", "transfer_refund"}),
        (connected, {"payment", "payment_refund", "payout", "payout_failure"}),
    ]:
        txns = list(client.v1.balance_transactions.list({"limit": 3}).auto_paging_iter())
        assert {t.type for t in txns} == expected_types
        assert sum(t.net for t in txns) == available(client)
        assert all(t.fee == 0 and t.net == t.amount for t in txns)
        one = client.v1.balance_transactions.retrieve(txns[0].id)
        assert one.source == txns[0].source and one.status == "available"
    refunds = stripe_client.v1.balance_transactions.list({"type": "refund"}).data
    assert [t.amount for t in refunds] == [-2_000]


def test_disputes_withdraw_the_funds(
    sandbox: RunningSandbox, stripe_client: stripe.StripeClient
) -> None:
    pi = paid_intent(stripe_client, amount=4_000)
    dispute = sandbox.dispute(pi.latest_charge, reason="product_not_received")
    assert dispute["id"].startswith("dp_") and dispute["status"] == "needs_response"
    assert available(stripe_client) == -1_500  # the amount and the $15 dispute fee
    assert stripe_client.v1.charges.retrieve(pi.latest_charge).disputed is True
    event = stripe_client.v1.events.list({"type": "charge.dispute.created"}).data[0]
    assert event.data.object.id == dispute["id"]
    assert stripe_client.v1.disputes.retrieve(dispute["id"]).amount == 4_000
    with pytest.raises(stripe.InvalidRequestError) as caught:
        stripe_client.v1.refunds.create({"payment_intent": pi.id})
    assert caught.value.code == "charge_disputed"
    sandbox.close_dispute(dispute["id"], "won")
    assert available(stripe_client) == 4_000


# --- idempotency --------------------------------------------------------------------------------


def test_idempotent_replay_and_mismatches(
    sandbox: RunningSandbox, stripe_client: stripe.StripeClient
) -> None:
    params = {"amount": 2_500, "currency": "usd", "metadata": {"contract": "ctr_9"}}
    first = stripe_client.v1.payment_intents.create(params, {"idempotency_key": "pi-ctr_9"})
    again = stripe_client.v1.payment_intents.create(params, {"idempotency_key": "pi-ctr_9"})
    assert again.id == first.id and replayed(again) and not replayed(first)
    assert len(stripe_client.v1.payment_intents.list().data) == 1

    with pytest.raises(stripe.IdempotencyError):
        stripe_client.v1.payment_intents.create(
            {**params, "amount": 2_600}, {"idempotency_key": "pi-ctr_9"}
        )
    with pytest.raises(stripe.IdempotencyError):
        stripe_client.v1.customers.create({}, {"idempotency_key": "pi-ctr_9"})
    # Keys are per account: the same key on a connected account is a different request.
    account = express_account(stripe_client)
    other = sandbox.client(stripe_account=account.id).v1.customers.create(
        {}, {"idempotency_key": "pi-ctr_9"}
    )
    assert other.id.startswith("cus_")

    # Keys expire after 24 hours of the sandbox clock.
    sandbox.set_clock(advance=24 * 3600 + 1)
    later = stripe_client.v1.payment_intents.create(
        {**params, "amount": 2_600}, {"idempotency_key": "pi-ctr_9"}
    )
    assert later.id != first.id and later.amount == 2_600


def test_validation_errors_are_not_stored_but_business_errors_are(
    stripe_client: stripe.StripeClient,
) -> None:
    with pytest.raises(stripe.InvalidRequestError):
        stripe_client.v1.customers.create({"bogus": "1"}, {"idempotency_key": "cus-1"})
    created = stripe_client.v1.customers.create({"name": "Ok"}, {"idempotency_key": "cus-1"})
    assert created.name == "Ok" and not replayed(created)

    declined = {
        "amount": 1_000,
        "currency": "usd",
        "payment_method": "pm_card_chargeDeclined",
        "confirm": True,
    }
    errors = []
    for _ in range(2):
        with pytest.raises(stripe.CardError) as caught:
            stripe_client.v1.payment_intents.create(declined, {"idempotency_key": "pay-1"})
        errors.append(caught.value)
    assert errors[0].error.charge == errors[1].error.charge
    assert errors[1].headers.get("Idempotent-Replayed") == "true"
    assert len(stripe_client.v1.events.list({"type": "charge.failed"}).data) == 1


def test_same_key_while_the_first_is_in_flight_is_a_409(
    sandbox: RunningSandbox, stripe_client: stripe.StripeClient
) -> None:
    sandbox.inject_fault("/v1/customers", "delay_before_apply", delay_s=1.0)
    results: dict[str, Any] = {}

    def first() -> None:
        results["first"] = stripe_client.v1.customers.create(
            {"email": "a@example.com"}, {"idempotency_key": "cus-race"}
        )

    thread = threading.Thread(target=first)
    thread.start()
    deadline = time.monotonic() + 5
    while sandbox.faults() and time.monotonic() < deadline:  # wait until it is executing
        time.sleep(0.02)
    with pytest.raises(stripe.APIError) as caught:
        stripe_client.v1.customers.create(
            {"email": "a@example.com"}, {"idempotency_key": "cus-race"}
        )
    assert caught.value.http_status == 409
    assert caught.value.error.type == "idempotency_error"
    thread.join(timeout=10)
    retried = stripe_client.v1.customers.create(
        {"email": "a@example.com"}, {"idempotency_key": "cus-race"}
    )
    assert retried.id == results["first"].id and replayed(retried)


# --- faults -------------------------------------------------------------------------------------


def _transfer_setup(sandbox: RunningSandbox, client: stripe.StripeClient) -> dict[str, Any]:
    account = onboarded_account(client, sandbox)
    pi = paid_intent(client, amount=5_000)
    return {
        "amount": 1_000,
        "currency": "usd",
        "destination": account,
        "source_transaction": pi.latest_charge,
        "transfer_group": "ctr_f",
    }


def test_answer_lost_after_apply_applies_and_a_keyed_retry_converges(
    sandbox: RunningSandbox, stripe_client: stripe.StripeClient
) -> None:
    # (error_after_apply stores the 500 instead, as Stripe: test_stripe_sandbox_idempotency_errors)
    params = _transfer_setup(sandbox, stripe_client)
    sandbox.inject_fault("/v1/transfers", "answer_lost_after_apply")
    with pytest.raises(stripe.APIError) as caught:
        stripe_client.v1.transfers.create(params, {"idempotency_key": "tr-1"})
    assert caught.value.http_status == 500
    applied = stripe_client.v1.transfers.list({"transfer_group": "ctr_f"}).data
    assert len(applied) == 1  # it happened despite the 500

    retry = stripe_client.v1.transfers.create(params, {"idempotency_key": "tr-1"})
    assert retry.id == applied[0].id and replayed(retry)

    # The SDK's own retries (same generated key) converge without the caller noticing.
    sandbox.inject_fault("/v1/refunds", "answer_lost_after_apply")
    retrying = sandbox.client(max_network_retries=2)
    refund = retrying.v1.refunds.create({"charge": params["source_transaction"], "amount": 500})
    assert [r.id for r in stripe_client.v1.refunds.list().data] == [refund.id]


def test_error_before_apply_changes_nothing(
    sandbox: RunningSandbox, stripe_client: stripe.StripeClient
) -> None:
    params = _transfer_setup(sandbox, stripe_client)
    sandbox.inject_fault("/v1/transfers", "error_before_apply")
    with pytest.raises(stripe.APIError) as caught:
        stripe_client.v1.transfers.create(params, {"idempotency_key": "tr-2"})
    assert caught.value.http_status == 500
    assert stripe_client.v1.transfers.list().data == []
    created = stripe_client.v1.transfers.create(params, {"idempotency_key": "tr-2"})
    assert not replayed(created)
    assert len(stripe_client.v1.transfers.list().data) == 1


def test_timeout_after_apply_then_keyed_retry_replays(
    sandbox: RunningSandbox, stripe_client: stripe.StripeClient
) -> None:
    params = _transfer_setup(sandbox, stripe_client)
    sandbox.inject_fault("/v1/transfers", "timeout_after_apply", delay_s=1.5)
    impatient = sandbox.client(timeout=0.5)
    with pytest.raises(stripe.APIConnectionError):
        impatient.v1.transfers.create(params, {"idempotency_key": "tr-3"})
    applied = stripe_client.v1.transfers.list().data
    assert len(applied) == 1
    retry = stripe_client.v1.transfers.create(params, {"idempotency_key": "tr-3"})
    assert retry.id == applied[0].id and replayed(retry)


# --- webhooks -----------------------------------------------------------------------------------


def test_webhooks_are_signed_ordered_and_retried(
    sandbox: RunningSandbox, stripe_client: stripe.StripeClient, webhook_receiver: Any
) -> None:
    sandbox.configure_webhook(webhook_receiver.url, WHSEC)
    pi = stripe_client.v1.payment_intents.create(
        {"amount": 1_500, "currency": "usd", "payment_method": "pm_card_visa", "confirm": True},
        {"idempotency_key": "pay-hook"},
    )
    assert sandbox.wait_for_webhooks()
    sandbox.set_clock(advance=1)  # the failed delivery's retry is due (on the sandbox's clock)
    assert sandbox.wait_for_webhooks()

    received = webhook_receiver.received
    assert received[0]["status"] == 500  # the receiver failed once ...
    again = [r for r in received[1:] if r["event"]["id"] == received[0]["event"]["id"]]
    assert [r["status"] for r in again] == [200]  # ... and got it again
    # The others went out meanwhile (a failing delivery holds nothing up), in event order.
    order = {e["id"]: n for n, e in enumerate(sandbox.events())}
    delivered = sorted(
        (r for r in received if r["status"] == 200), key=lambda r: order[r["event"]["id"]]
    )
    assert [r["event"]["type"] for r in delivered] == [
        "payment_intent.created",
        "charge.succeeded",
        "payment_intent.succeeded",
    ]
    for r in delivered:
        event = stripe.Webhook.construct_event(r["body"], r["signature"], WHSEC)
        assert event.id.startswith("evt_") and event.api_version == "2020-08-27"
        assert event.request.idempotency_key == "pay-hook"
    assert delivered[-1]["event"]["data"]["object"]["id"] == pi.id
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(delivered[0]["body"], delivered[0]["signature"], "whsec_x")
    attempts = [d for d in sandbox.deliveries() if d["event"] == received[0]["event"]["id"]]
    assert [d["status"] for d in attempts] == [500, 200]
    evt = stripe_client.v1.events.retrieve(delivered[-1]["event"]["id"])
    assert evt.type == "payment_intent.succeeded" and evt.pending_webhooks == 0

    # Re-delivery of the same event, for duplicate-webhook handling.
    sandbox.resend_event(evt.id)
    assert sandbox.wait_for_webhooks()
    assert webhook_receiver.received[-1]["event"]["id"] == evt.id
    assert webhook_receiver.received[-1]["event"]["data"] == delivered[-1]["event"]["data"]


def test_dead_webhook_endpoint_is_retried_a_bounded_number_of_times(
    sandbox: RunningSandbox, stripe_client: stripe.StripeClient
) -> None:
    sandbox.configure_webhook("http://127.0.0.1:9/unreachable", WHSEC)
    started = time.monotonic()
    stripe_client.v1.customers.create({"email": "x@example.com"})
    assert time.monotonic() - started < 1.0  # delivery never blocks the API response
    assert sandbox.wait_for_webhooks()
    # Stripe retries for 3 days (on the sandbox's clock), then gives up: nothing more after.
    sandbox.set_clock(advance=3 * 86400)
    assert sandbox.wait_for_webhooks()
    attempts = sandbox.deliveries()
    assert len(attempts) >= 2 and all(a["error"] for a in attempts)
    assert attempts[-1]["gave_up"] is True and sandbox.pending_deliveries() == []
    sandbox.set_clock(advance=3 * 86400)
    assert sandbox.wait_for_webhooks() and len(sandbox.deliveries()) == len(attempts)


# --- events & async -----------------------------------------------------------------------------


def test_events_list_filters_and_paginates(stripe_client: stripe.StripeClient) -> None:
    for _ in range(3):
        paid_intent(stripe_client, amount=1_000)
    page = stripe_client.v1.events.list({"limit": 2})
    assert len(page.data) == 2 and page.has_more
    everything = list(page.auto_paging_iter())
    assert len(everything) == 9 and len({e.id for e in everything}) == 9
    assert [e.created for e in everything] == sorted((e.created for e in everything), reverse=True)
    only = stripe_client.v1.events.list({"types": ["charge.succeeded"]}).data
    assert len(only) == 3 and all(e.type == "charge.succeeded" for e in only)
    assert stripe_client.v1.events.retrieve(only[0].id).id == only[0].id


@pytest.mark.asyncio
# The SDK's httpx client posts a str body through `data=`, which httpx deprecates.
@pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning")
async def test_async_sdk_methods(sandbox: RunningSandbox) -> None:
    client = sandbox.client()
    pi = await client.v1.payment_intents.create_async(
        {"amount": 700, "currency": "gbp", "payment_method": "pm_card_visa", "confirm": True}
    )
    assert pi.status == "succeeded"
    fetched = await client.v1.payment_intents.retrieve_async(pi.id)
    assert fetched.latest_charge == pi.latest_charge
    refund = await client.v1.refunds.create_async({"payment_intent": pi.id, "amount": 200})
    assert refund.amount == 200
    balance = await client.v1.balance.retrieve_async()
    assert [(b.currency, b.amount) for b in balance.available] == [("gbp", 500)]
    with pytest.raises(stripe.InvalidRequestError):
        await client.v1.payment_intents.create_async({"amount": "x", "currency": "gbp"})


def test_every_route_is_a_stripe_operation() -> None:
    spec = get_spec()
    assert spec.version == "2020-08-27"
    assert [(m, t) for m, t, _ in ROUTES if spec.operation(m, t) is None] == []
