"""The sandbox as strict as Stripe (issue 11 item 8): disputes and inquiries, settlement currency
and exchange rates, pending funds, fees, external accounts per currency, accounts as Stripe
makes them. Driven like the application drives Stripe: the official SDK over real HTTP."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import stripe

from rapport_dev.stripe_sandbox.options import KIND, STRICT, build_options
from rapport_dev.stripe_sandbox.spec import get_spec
from rapport_dev.stripe_sandbox.testing import RunningSandbox, SandboxError, running_sandbox


def paid_charge(
    client: stripe.StripeClient, amount: int = 4_000, currency: str = "usd", **extra: Any
) -> str:
    pi = client.v1.payment_intents.create(
        {
            "amount": amount,
            "currency": currency,
            "payment_method": "pm_card_visa",
            "confirm": True,
            **extra,
        }
    )
    return pi.latest_charge


def balance(client: stripe.StripeClient, currency: str = "usd") -> tuple[int, int]:
    """(available, pending) in `currency`."""
    got = client.v1.balance.retrieve()
    available = next((b.amount for b in got.available if b.currency == currency), 0)
    pending = next((b.amount for b in got.pending if b.currency == currency), 0)
    return available, pending


def event_types(client: stripe.StripeClient, prefix: str) -> list[str]:
    """The platform's event types starting with `prefix`, oldest first."""
    events = client.v1.events.list({"limit": 100}).data
    return [e.type for e in reversed(events) if e.type.startswith(prefix)]


def spec_event_types() -> set[str]:
    op = get_spec().operation("POST", "/v1/webhook_endpoints")
    assert op is not None and op.body_schema is not None
    return set(op.body_schema["properties"]["enabled_events"]["items"]["enum"])


# --- disputes -----------------------------------------------------------------------------------


def test_a_chargeback_withdraws_amount_and_fee_and_a_won_dispute_returns_both(
    sandbox: RunningSandbox, stripe_client: stripe.StripeClient
) -> None:
    charge = paid_charge(stripe_client, 4_000)
    opened = sandbox.dispute(charge, reason="product_not_received")
    assert opened["status"] == "needs_response" and opened["is_charge_refundable"] is False
    assert opened["evidence_details"]["due_by"] > opened["created"]
    (withdrawal,) = opened["balance_transactions"]  # full objects, as Stripe returns them
    assert withdrawal["type"] == "adjustment" and withdrawal["reporting_category"] == "dispute"
    assert (withdrawal["amount"], withdrawal["fee"], withdrawal["net"]) == (-4_000, 1_500, -5_500)
    assert withdrawal["fee_details"] == [
        {
            "amount": 1_500,
            "application": None,
            "currency": "usd",
            "description": "Dispute fee",
            "type": "stripe_fee",
        }
    ]
    assert balance(stripe_client) == (-1_500, 0)
    assert stripe_client.v1.charges.retrieve(charge).disputed is True
    with pytest.raises(stripe.InvalidRequestError) as caught:
        stripe_client.v1.refunds.create({"charge": charge})
    assert caught.value.code == "charge_disputed"

    # The platform answers with evidence through the API, as Rapport would.
    updated = stripe_client.v1.disputes.update(
        opened["id"],
        {"evidence": {"uncategorized_text": "Delivered, see proof"}, "submit": True},
    )
    assert updated.status == "under_review" and updated.evidence_details.submission_count == 1
    assert updated.evidence.uncategorized_text == "Delivered, see proof"

    won = sandbox.close_dispute(opened["id"], "won")
    assert won["status"] == "won"
    withdrawal, reinstatement = won["balance_transactions"]
    assert reinstatement["reporting_category"] == "dispute_reversal"
    assert (reinstatement["amount"], reinstatement["fee"], reinstatement["net"]) == (
        4_000,
        -1_500,
        5_500,
    )
    assert balance(stripe_client) == (4_000, 0)
    assert event_types(stripe_client, "charge.dispute.") == [
        "charge.dispute.created",
        "charge.dispute.funds_withdrawn",
        "charge.dispute.updated",
        "charge.dispute.closed",
        "charge.dispute.funds_reinstated",
    ]
    created = stripe_client.v1.events.list({"type": "charge.dispute.created"}).data[0]
    assert [t.id for t in created.data.object.balance_transactions] == [withdrawal["id"]]
    updated_event = stripe_client.v1.events.list({"type": "charge.dispute.updated"}).data[0]
    assert updated_event.data.previous_attributes["status"] == "needs_response"


def test_a_lost_chargeback_gives_nothing_back(
    sandbox: RunningSandbox, stripe_client: stripe.StripeClient
) -> None:
    charge = paid_charge(stripe_client, 10_000)
    dispute = sandbox.dispute(charge, amount=6_000)
    assert balance(stripe_client) == (10_000 - 6_000 - 1_500, 0)
    lost = sandbox.close_dispute(dispute["id"], "lost")
    assert lost["status"] == "lost" and len(lost["balance_transactions"]) == 1
    assert balance(stripe_client) == (2_500, 0)
    assert event_types(stripe_client, "charge.dispute.") == [
        "charge.dispute.created",
        "charge.dispute.funds_withdrawn",
        "charge.dispute.closed",
    ]
    with pytest.raises(SandboxError, match="already closed"):
        sandbox.close_dispute(dispute["id"], "won")


def test_accepting_a_dispute_through_the_api_loses_it(
    sandbox: RunningSandbox, stripe_client: stripe.StripeClient
) -> None:
    dispute = sandbox.dispute(paid_charge(stripe_client, 3_000))
    closed = stripe_client.v1.disputes.close(dispute["id"])
    assert closed.status == "lost"
    assert balance(stripe_client) == (-1_500, 0)
    with pytest.raises(stripe.InvalidRequestError, match="already closed"):
        stripe_client.v1.disputes.update(dispute["id"], {"submit": True})


def test_an_inquiry_moves_no_money_and_closes_as_warning_closed(
    sandbox: RunningSandbox, stripe_client: stripe.StripeClient
) -> None:
    charge = paid_charge(stripe_client, 5_000)
    inquiry = sandbox.inquiry(charge)
    assert inquiry["status"] == "warning_needs_response"
    assert inquiry["is_charge_refundable"] is True and inquiry["balance_transactions"] == []
    assert balance(stripe_client) == (5_000, 0)
    with pytest.raises(SandboxError, match="warning_closed"):
        sandbox.close_dispute(inquiry["id"], "won")
    assert sandbox.submit_dispute_evidence(inquiry["id"])["status"] == "warning_under_review"
    # An inquiry does not stop a refund.
    stripe_client.v1.refunds.create({"charge": charge, "amount": 1_000})
    closed = sandbox.close_dispute(inquiry["id"])
    assert closed["status"] == "warning_closed" and closed["balance_transactions"] == []
    assert balance(stripe_client) == (4_000, 0)
    assert event_types(stripe_client, "charge.dispute.") == [
        "charge.dispute.created",
        "charge.dispute.updated",
        "charge.dispute.closed",
    ]


def test_an_escalated_inquiry_becomes_a_chargeback(
    sandbox: RunningSandbox, stripe_client: stripe.StripeClient
) -> None:
    charge = paid_charge(stripe_client, 5_000)
    inquiry = sandbox.inquiry(charge)
    escalated = sandbox.escalate_dispute(inquiry["id"])
    assert escalated["status"] == "needs_response" and escalated["is_charge_refundable"] is False
    assert balance(stripe_client) == (-1_500, 0)
    assert event_types(stripe_client, "charge.dispute.") == [
        "charge.dispute.created",
        "charge.dispute.updated",
        "charge.dispute.funds_withdrawn",
    ]
    with pytest.raises(stripe.InvalidRequestError) as caught:
        stripe_client.v1.refunds.create({"charge": charge})
    assert caught.value.code == "charge_disputed"
    with pytest.raises(SandboxError, match="cannot be disputed"):
        sandbox.dispute(charge)


def test_the_dispute_fee_can_be_kept_on_a_won_dispute(
    sandbox: RunningSandbox, stripe_client: stripe.StripeClient
) -> None:
    assert (
        sandbox.set_options(dispute_fee_refunded_on_win=False)["dispute_fee_refunded_on_win"]
        is False
    )
    dispute = sandbox.dispute(paid_charge(stripe_client, 4_000))
    won = sandbox.close_dispute(dispute["id"], "won")
    assert won["balance_transactions"][1]["net"] == 4_000
    assert balance(stripe_client) == (2_500, 0)
    sandbox.reset()  # options come back to the sandbox's own
    assert sandbox.options()["dispute_fee_refunded_on_win"] is True


def test_unknown_options_are_refused(sandbox: RunningSandbox) -> None:
    with pytest.raises(SandboxError, match="unknown sandbox option"):
        sandbox.set_options(no_such_thing=True)
    with pytest.raises(SandboxError, match="true or false"):
        sandbox.set_options(dispute_fee_refunded_on_win="yes")


def test_every_event_the_sandbox_sends_is_an_event_type_of_the_spec(
    sandbox: RunningSandbox, stripe_client: stripe.StripeClient
) -> None:
    sandbox.set_options(capability_review=True)
    account = onboarded(stripe_client, sandbox)
    stripe_client.v1.customers.update(
        stripe_client.v1.customers.create({"email": "a@example.com"}).id, {"name": "A"}
    )
    with pytest.raises(stripe.CardError):
        paid_charge(stripe_client, payment_method="pm_card_chargeDeclined")
    stripe_client.v1.payment_intents.cancel(
        stripe_client.v1.payment_intents.create({"amount": 100, "currency": "usd"}).id
    )
    transfer = stripe_client.v1.transfers.create(
        {
            "amount": 1_000,
            "currency": "usd",
            "destination": account,
            "source_transaction": paid_charge(stripe_client, 1_000),
        }
    )
    stripe_client.v1.transfers.reversals.create(transfer.id, {"amount": 100})
    connected = sandbox.client(stripe_account=account)
    sandbox.pay_payout(connected.v1.payouts.create({"amount": 400, "currency": "usd"}).id)
    sandbox.fail_payout(connected.v1.payouts.create({"amount": 400, "currency": "usd"}).id)
    sandbox.require_information(account)
    sandbox.close_dispute(sandbox.dispute(paid_charge(stripe_client))["id"], "won")
    sandbox.close_dispute(sandbox.inquiry(paid_charge(stripe_client))["id"])
    stripe_client.v1.refunds.create({"charge": paid_charge(stripe_client), "amount": 100})
    sent = {e["type"] for e in sandbox.events()}
    assert sent <= spec_event_types(), sent - spec_event_types()


# --- payouts that fail after paid ---------------------------------------------------------------


def test_a_paid_payout_can_still_fail_and_its_money_comes_back(
    sandbox: RunningSandbox, stripe_client: stripe.StripeClient
) -> None:
    paid_charge(stripe_client, 9_000)
    payout = stripe_client.v1.payouts.create({"amount": 5_000, "currency": "usd"})
    assert sandbox.pay_payout(payout.id)["status"] == "paid"
    assert balance(stripe_client) == (4_000, 0)
    failed = sandbox.fail_payout(payout.id, "account_closed")
    assert failed["status"] == "failed" and failed["failure_code"] == "account_closed"
    assert failed["failure_balance_transaction"].startswith("txn_")
    assert balance(stripe_client) == (9_000, 0)
    assert event_types(stripe_client, "payout.") == [
        "payout.created",
        "payout.paid",
        "payout.failed",
    ]
    with pytest.raises(SandboxError, match="already failed"):
        sandbox.fail_payout(payout.id)
    with pytest.raises(SandboxError, match="already failed"):
        sandbox.pay_payout(payout.id)


# --- settlement currency and exchange rates -----------------------------------------------------


def onboarded(client: stripe.StripeClient, sandbox: RunningSandbox, country: str = "US") -> str:
    account = client.v1.accounts.create(
        {
            "type": "express",
            "country": country,
            "capabilities": {"transfers": {"requested": True}},
            **({} if country == "US" else {"tos_acceptance": {"service_agreement": "recipient"}}),
        }
    )
    sandbox.complete_onboarding(account.id)
    return account.id


def charge_txn(client: stripe.StripeClient, charge_id: str) -> Any:
    return client.v1.charges.retrieve(charge_id, {"expand": ["balance_transaction"]})


def test_a_eur_charge_settles_in_usd_and_transfers_from_it_must_be_in_usd(
    sandbox: RunningSandbox, stripe_client: stripe.StripeClient
) -> None:
    sandbox.set_options(settlement=True)
    charge_id = paid_charge(stripe_client, 10_000, "eur")
    charge = charge_txn(stripe_client, charge_id)
    assert (charge.amount, charge.currency) == (10_000, "eur")
    txn = charge.balance_transaction
    assert (txn.currency, txn.amount, txn.net, txn.exchange_rate) == ("usd", 11_000, 11_000, 1.1)
    assert balance(stripe_client, "usd") == (11_000, 0)
    assert balance(stripe_client, "eur") == (0, 0)

    account = onboarded(stripe_client, sandbox)
    with pytest.raises(stripe.InvalidRequestError) as caught:
        stripe_client.v1.transfers.create(
            {
                "amount": 10_000,
                "currency": "eur",
                "destination": account,
                "source_transaction": charge_id,
            }
        )
    assert caught.value.param == "currency"
    assert "(usd) must be the same as the transfer currency (eur)" in caught.value.user_message
    with pytest.raises(stripe.InvalidRequestError) as caught:
        stripe_client.v1.transfers.create(
            {
                "amount": 11_001,
                "currency": "usd",
                "destination": account,
                "source_transaction": charge_id,
            }
        )
    assert caught.value.code == "balance_insufficient"
    transfer = stripe_client.v1.transfers.create(
        {
            "amount": 11_000,
            "currency": "usd",
            "destination": account,
            "source_transaction": charge_id,
        }
    )
    assert transfer.currency == "usd"
    # The charge's refund converts at the charge's rate; Stripe refunds it in USD.
    stripe_client.v1.transfers.reversals.create(transfer.id, {"amount": 2_200})
    refund = stripe_client.v1.refunds.create(
        {"charge": charge_id, "amount": 2_000, "expand": ["balance_transaction"]}
    )
    assert (refund.amount, refund.currency) == (2_000, "eur")
    assert (refund.balance_transaction.amount, refund.balance_transaction.currency) == (
        -2_200,
        "usd",
    )
    assert balance(stripe_client, "usd") == (0, 0)


def test_a_usd_transfer_lands_in_eur_on_an_account_whose_bank_account_is_in_eur(
    sandbox: RunningSandbox, stripe_client: stripe.StripeClient
) -> None:
    sandbox.set_options(settlement=True)
    charge_id = paid_charge(stripe_client, 10_000, "eur")
    account = onboarded(stripe_client, sandbox, "FR")
    transfer = stripe_client.v1.transfers.create(
        {
            "amount": 5_500,
            "currency": "usd",
            "destination": account,
            "source_transaction": charge_id,
        }
    )
    connected = sandbox.client(stripe_account=account)
    payment = connected.v1.charges.retrieve(
        transfer.destination_payment, {"expand": ["balance_transaction"]}
    )
    assert (payment.amount, payment.currency) == (5_000, "eur")
    assert payment.balance_transaction.exchange_rate == pytest.approx(1 / 1.1, abs=1e-6)
    assert balance(connected, "eur") == (5_000, 0) and balance(connected, "usd") == (0, 0)
    # A reversal takes the euros back at the same rate.
    stripe_client.v1.transfers.reversals.create(transfer.id, {"amount": 1_100})
    assert balance(connected, "eur") == (4_000, 0)
    assert balance(stripe_client, "usd") == (11_000 - 5_500 + 1_100, 0)


def test_zero_decimal_currencies_convert_by_their_own_exponent(
    sandbox: RunningSandbox, stripe_client: stripe.StripeClient
) -> None:
    sandbox.set_options(settlement=True)
    txn = charge_txn(stripe_client, paid_charge(stripe_client, 10_000, "jpy")).balance_transaction
    assert (txn.amount, txn.currency, txn.exchange_rate) == (6_700, "usd", 0.0067)
    sandbox.set_options(platform_currency="jpy")
    assert stripe_client.v1.accounts.retrieve_current().default_currency == "jpy"
    txn = charge_txn(stripe_client, paid_charge(stripe_client, 6_700, "usd")).balance_transaction
    assert (txn.amount, txn.currency) == (10_000, "jpy")


def test_exchange_rates_are_settable_and_a_currency_without_one_is_refused(
    sandbox: RunningSandbox, stripe_client: stripe.StripeClient
) -> None:
    sandbox.set_options(settlement=True, exchange_rates={"eur": "1.2"})
    txn = charge_txn(stripe_client, paid_charge(stripe_client, 10_000, "eur")).balance_transaction
    assert (txn.amount, txn.exchange_rate) == (12_000, 1.2)
    with pytest.raises(stripe.InvalidRequestError) as caught:
        paid_charge(stripe_client, 10_000, "ars")
    assert caught.value.code == "sandbox_unsupported" and caught.value.param == "currency"
    with pytest.raises(SandboxError, match="positive number"):
        sandbox.set_options(exchange_rates={"eur": "-1"})


def test_a_dispute_on_a_converted_charge_withdraws_in_the_settlement_currency(
    sandbox: RunningSandbox, stripe_client: stripe.StripeClient
) -> None:
    sandbox.set_options(settlement=True)
    dispute = sandbox.dispute(paid_charge(stripe_client, 10_000, "eur"))
    (withdrawal,) = dispute["balance_transactions"]
    assert (dispute["amount"], dispute["currency"]) == (10_000, "eur")
    assert (withdrawal["currency"], withdrawal["amount"], withdrawal["fee"]) == (
        "usd",
        -11_000,
        1_500,
    )
    assert withdrawal["exchange_rate"] == 1.1
    assert balance(stripe_client, "usd") == (-1_500, 0)


def test_without_settlement_a_charge_settles_in_its_own_currency(
    sandbox: RunningSandbox, stripe_client: stripe.StripeClient
) -> None:
    assert sandbox.options()["settlement"] is False  # the kind default, for now
    txn = charge_txn(stripe_client, paid_charge(stripe_client, 10_000, "eur")).balance_transaction
    assert (txn.amount, txn.currency, txn.exchange_rate) == (10_000, "eur", None)


# --- pending and available funds ----------------------------------------------------------------

PAYOUT_REFUSAL = (
    "You have insufficient funds in your Stripe account for this transfer. Your card balance is "
    "too low. You can use the the /v1/balance endpoint to view your Stripe balance (for more "
    "details, see stripe.com/docs/api#balance)."
)


def manual_payouts(client: stripe.StripeClient, account: str) -> None:
    """No automatic payout in the middle of the test when the clock moves."""
    client.v1.accounts.update(
        account, {"settings": {"payouts": {"schedule": {"interval": "manual"}}}}
    )


def test_a_charge_is_pending_until_its_availability_delay_has_passed(
    sandbox: RunningSandbox, stripe_client: stripe.StripeClient
) -> None:
    sandbox.set_options(availability_delay_days=2)
    charge = charge_txn(stripe_client, paid_charge(stripe_client, 10_000))
    txn = charge.balance_transaction
    assert txn.status == "pending" and txn.available_on == txn.created + 2 * 86_400
    assert balance(stripe_client) == (0, 10_000)

    account = onboarded(stripe_client, sandbox)
    manual_payouts(stripe_client, account)
    # Without source_transaction a transfer needs available funds ...
    with pytest.raises(stripe.InvalidRequestError) as caught:
        stripe_client.v1.transfers.create(
            {"amount": 6_000, "currency": "usd", "destination": account}
        )
    assert caught.value.code == "balance_insufficient"
    # ... with it, Stripe allows it while the charge's funds are pending.
    transfer = stripe_client.v1.transfers.create(
        {
            "amount": 6_000,
            "currency": "usd",
            "destination": account,
            "source_transaction": charge.id,
        }
    )
    assert balance(stripe_client) == (0, 4_000)
    connected = sandbox.client(stripe_account=account)
    landed = connected.v1.charges.retrieve(
        transfer.destination_payment, {"expand": ["balance_transaction"]}
    ).balance_transaction
    assert landed.status == "pending" and landed.available_on == txn.available_on
    assert balance(connected) == (0, 6_000)
    with pytest.raises(stripe.InvalidRequestError) as caught:
        connected.v1.payouts.create({"amount": 6_000, "currency": "usd"})
    err = caught.value
    assert err.http_status == 400 and err.code == "balance_insufficient"
    assert err.user_message == PAYOUT_REFUSAL and err.param is None
    assert err.error.type == "invalid_request_error"

    sandbox.set_clock(advance=2 * 86_400)
    assert stripe_client.v1.balance_transactions.retrieve(txn.id).status == "available"
    assert balance(stripe_client) == (4_000, 0) and balance(connected) == (6_000, 0)
    payout = connected.v1.payouts.create({"amount": 6_000, "currency": "usd"})
    assert payout.status == "pending" and balance(connected) == (0, 0)


def test_a_refund_of_a_pending_charge_comes_out_of_the_pending_funds(
    sandbox: RunningSandbox, stripe_client: stripe.StripeClient
) -> None:
    sandbox.set_options(availability_delay_days=2)
    charge_id = paid_charge(stripe_client, 10_000)
    stripe_client.v1.refunds.create({"charge": charge_id, "amount": 3_000})
    assert balance(stripe_client) == (0, 7_000)
    sandbox.set_clock(advance=2 * 86_400)
    assert balance(stripe_client) == (7_000, 0)


def test_without_a_delay_funds_are_available_at_once(
    sandbox: RunningSandbox, stripe_client: stripe.StripeClient
) -> None:
    assert sandbox.options()["availability_delay_days"] == 0  # the kind default, for now
    paid_charge(stripe_client, 10_000)
    assert balance(stripe_client) == (10_000, 0)


# --- Stripe's fees ------------------------------------------------------------------------------


def test_a_card_charge_pays_stripe_s_standard_fee_and_a_refund_does_not_return_it(
    sandbox: RunningSandbox, stripe_client: stripe.StripeClient
) -> None:
    sandbox.set_options(fees=True)
    charge_id = paid_charge(stripe_client, 10_000)
    txn = charge_txn(stripe_client, charge_id).balance_transaction
    assert (txn.amount, txn.fee, txn.net) == (10_000, 320, 9_680)  # 2.9 % + 30¢
    assert [(d.type, d.amount, d.currency, d.description) for d in txn.fee_details] == [
        ("stripe_fee", 320, "usd", "Stripe processing fees")
    ]
    assert balance(stripe_client) == (9_680, 0)  # the platform grows by net
    small = charge_txn(stripe_client, paid_charge(stripe_client, 500)).balance_transaction
    assert small.fee == 45  # 14.5¢ rounds up, + 30¢
    refund = stripe_client.v1.refunds.create(
        {"charge": charge_id, "expand": ["balance_transaction"]}
    )
    assert (refund.balance_transaction.amount, refund.balance_transaction.fee) == (-10_000, 0)
    assert balance(stripe_client) == (9_680 + 455 - 10_000, 0)  # the fee stays with Stripe


def test_fees_follow_the_settlement_currency_and_conversion_costs_one_percent_more(
    sandbox: RunningSandbox, stripe_client: stripe.StripeClient
) -> None:
    sandbox.set_options(fees=True, settlement=True)
    txn = charge_txn(stripe_client, paid_charge(stripe_client, 10_000, "eur")).balance_transaction
    # USD 110.00 settled: 2.9 % + 1 % conversion + 30¢ = 429 + 30.
    assert (txn.currency, txn.amount, txn.fee, txn.net) == ("usd", 11_000, 459, 10_541)
    sandbox.set_options(platform_currency="eur")
    txn = charge_txn(stripe_client, paid_charge(stripe_client, 10_000, "eur")).balance_transaction
    assert (txn.currency, txn.fee) == ("eur", 175)  # 1.5 % + 25 cents
    sandbox.set_options(platform_currency="jpy")
    txn = charge_txn(stripe_client, paid_charge(stripe_client, 10_000, "jpy")).balance_transaction
    assert (txn.currency, txn.fee) == ("jpy", 360)  # 3.6 %, zero-decimal


def test_strict_turns_on_every_stripe_behaviour_at_once(sandbox: RunningSandbox) -> None:
    opts = sandbox.set_options(strict=True)
    assert opts["settlement"] is True and opts["fees"] is True
    assert opts["availability_delay_days"] == 2
    assert opts["payout_currency_check"] is True and opts["strict_accounts"] is True
    assert opts["capability_review"] is True


def test_a_sandbox_created_strict_stays_strict_after_a_reset() -> None:
    with running_sandbox(options={"strict": True}) as strict:
        strict.set_options(fees=False)
        strict.reset()
        assert strict.options()["fees"] is True
        client = strict.client()
        txn = charge_txn(client, paid_charge(client, 10_000, "eur")).balance_transaction
        assert (txn.currency, txn.status, txn.fee) == ("usd", "pending", 459)


# --- external accounts per currency -------------------------------------------------------------


@pytest.mark.parametrize(
    ("country", "currency"),
    [("US", "usd"), ("FR", "eur"), ("DE", "eur"), ("SE", "sek"), ("JP", "jpy"), ("GB", "gbp")],
)
def test_onboarding_gives_an_account_a_bank_account_in_its_country_s_currency(
    sandbox: RunningSandbox, stripe_client: stripe.StripeClient, country: str, currency: str
) -> None:
    account = stripe_client.v1.accounts.retrieve(onboarded(stripe_client, sandbox, country))
    assert account.country == country and account.default_currency == currency
    (bank,) = account.external_accounts.data
    assert (bank.object, bank.country, bank.currency) == ("bank_account", country, currency)
    assert bank.default_for_currency is True


def test_a_payout_needs_a_bank_account_in_its_currency(
    sandbox: RunningSandbox, stripe_client: stripe.StripeClient
) -> None:
    sandbox.set_options(payout_currency_check=True)
    account = onboarded(stripe_client, sandbox, "SE")
    manual_payouts(stripe_client, account)
    charge_id = paid_charge(stripe_client, 10_000)
    stripe_client.v1.transfers.create(
        {
            "amount": 5_000,
            "currency": "usd",
            "destination": account,
            "source_transaction": charge_id,
        }
    )
    connected = sandbox.client(stripe_account=account)
    assert balance(connected, "usd") == (5_000, 0)  # no settlement: it stays in dollars
    with pytest.raises(stripe.InvalidRequestError) as caught:
        connected.v1.payouts.create({"amount": 5_000, "currency": "usd"})
    assert caught.value.param == "currency"
    assert caught.value.user_message == (
        "Sorry, you don't have any external accounts in that currency (usd)."
    )
    assert balance(connected, "usd") == (5_000, 0)  # nothing moved

    # With settlement, the dollars land as kronor, which the SEK bank account can take.
    sandbox.set_options(settlement=True)
    stripe_client.v1.transfers.create(
        {"amount": 950, "currency": "usd", "destination": account, "source_transaction": charge_id}
    )
    assert balance(connected, "sek") == (10_000, 0)
    payout = connected.v1.payouts.create({"amount": 10_000, "currency": "sek"})
    bank = connected.v1.accounts.retrieve_current().external_accounts.data[0]
    assert payout.destination == bank.id and payout.currency == "sek"


def test_without_the_check_any_bank_account_takes_any_currency(
    sandbox: RunningSandbox, stripe_client: stripe.StripeClient
) -> None:
    assert sandbox.options()["payout_currency_check"] is False  # the kind default, for now
    account = onboarded(stripe_client, sandbox, "SE")
    stripe_client.v1.transfers.create(
        {
            "amount": 5_000,
            "currency": "usd",
            "destination": account,
            "source_transaction": paid_charge(stripe_client, 5_000),
        }
    )
    payout = sandbox.client(stripe_account=account).v1.payouts.create(
        {"amount": 5_000, "currency": "usd"}
    )
    assert payout.status == "pending"


# --- accounts as Stripe makes them --------------------------------------------------------------


def create_account(client: stripe.StripeClient, country: str, **extra: Any) -> stripe.Account:
    return client.v1.accounts.create(
        {
            "type": "express",
            "country": country,
            "capabilities": {"transfers": {"requested": True}},
            **extra,
        }
    )


RECIPIENT = {"tos_acceptance": {"service_agreement": "recipient"}}


def test_accounts_only_in_supported_countries(
    sandbox: RunningSandbox, stripe_client: stripe.StripeClient
) -> None:
    assert sandbox.options()["strict_accounts"] is True  # on by default
    with pytest.raises(stripe.InvalidRequestError) as caught:
        create_account(stripe_client, "IN", **RECIPIENT)
    assert caught.value.param == "country"
    assert caught.value.user_message == (
        "Connected accounts in IN cannot be created by platforms in US. Please contact us via "
        "https://support.stripe.com/contact if you need further assistance."
    )
    assert stripe_client.v1.accounts.list().data == []


def test_across_borders_a_transfers_only_account_needs_the_recipient_agreement(
    sandbox: RunningSandbox, stripe_client: stripe.StripeClient
) -> None:
    assert sandbox.options()["strict_accounts"] is True  # on by default
    with pytest.raises(stripe.InvalidRequestError) as caught:
        create_account(stripe_client, "FR")
    assert caught.value.user_message == (
        "You cannot request the `transfers` capability without the `card_payments` capability "
        "for accounts in FR."
    )
    with pytest.raises(stripe.InvalidRequestError) as caught:
        create_account(
            stripe_client,
            "FR",
            capabilities={"transfers": {"requested": True}, "card_payments": {"requested": True}},
            **RECIPIENT,
        )
    assert caught.value.param == "capabilities[card_payments]"
    account = create_account(stripe_client, "FR", **RECIPIENT)
    assert account.country == "FR" and account.default_currency == "eur"
    assert account.tos_acceptance.service_agreement == "recipient"
    # At home, full is the default agreement and transfers alone are fine.
    home = create_account(stripe_client, "US")
    assert home.tos_acceptance.service_agreement == "full"


def test_a_full_account_out_of_the_platform_s_reach_cannot_receive_transfers(
    sandbox: RunningSandbox, stripe_client: stripe.StripeClient
) -> None:
    assert sandbox.options()["strict_accounts"] is True  # on by default
    account = create_account(
        stripe_client,
        "MX",
        capabilities={"transfers": {"requested": True}, "card_payments": {"requested": True}},
    )
    sandbox.complete_onboarding(account.id)
    with pytest.raises(stripe.InvalidRequestError) as caught:
        stripe_client.v1.transfers.create(
            {
                "amount": 1_000,
                "currency": "usd",
                "destination": account.id,
                "source_transaction": paid_charge(stripe_client, 1_000),
            }
        )
    assert caught.value.param == "destination"
    assert caught.value.user_message == (
        "Funds can't be sent to accounts located in MX when the account is under the `full` "
        "service agreement."
    )


def test_capabilities_go_inactive_pending_active_with_capability_updated_events(
    sandbox: RunningSandbox, stripe_client: stripe.StripeClient
) -> None:
    assert sandbox.options()["strict_accounts"] is True  # on by default
    account = create_account(stripe_client, "US")
    assert account.capabilities.transfers == "inactive" and account.charges_enabled is False
    held = sandbox.complete_onboarding(account.id, hold_capabilities=True)
    assert held["capabilities"] == {"transfers": "pending"} and held["details_submitted"] is True
    assert held["payouts_enabled"] is False
    with pytest.raises(stripe.InvalidRequestError) as caught:
        stripe_client.v1.transfers.create(
            {
                "amount": 1_000,
                "currency": "usd",
                "destination": account.id,
                "source_transaction": paid_charge(stripe_client, 1_000),
            }
        )
    assert caught.value.code == "insufficient_capabilities_for_transfer"
    active = sandbox.activate_capabilities(account.id)
    assert active["capabilities"] == {"transfers": "active"} and active["payouts_enabled"] is True
    assert active["charges_enabled"] is False  # transfers only: it can never take a payment

    events = sandbox.client(stripe_account=account.id).v1.events.list().data[::-1]
    assert [e.type for e in events] == [
        "capability.updated",
        "account.updated",
        "capability.updated",
        "account.updated",
    ]
    pending, _, activated, last = events
    assert pending.account == account.id and pending.data.object.object == "capability"
    assert (pending.data.object.id, pending.data.object.status) == ("transfers", "pending")
    assert pending.data.previous_attributes.status == "inactive"
    assert activated.data.object.status == "active"
    assert last.data.previous_attributes.payouts_enabled is False
    assert {e["type"] for e in sandbox.events()} <= spec_event_types()


def test_an_account_link_works_once(
    sandbox: RunningSandbox, stripe_client: stripe.StripeClient
) -> None:
    assert sandbox.options()["strict_accounts"] is True  # on by default
    account = create_account(stripe_client, "US")
    link = stripe_client.v1.account_links.create(
        {
            "account": account.id,
            "type": "account_onboarding",
            "refresh_url": "https://rapport.test/refresh",
            "return_url": "https://rapport.test/return",
        }
    )
    with httpx.Client(trust_env=False) as http:
        first = http.get(link.url)
        again = http.get(link.url)
    assert first.status_code == 303 and first.headers["location"] == "https://rapport.test/return"
    assert again.status_code == 303 and again.headers["location"] == "https://rapport.test/refresh"
    assert stripe_client.v1.accounts.retrieve(account.id).payouts_enabled is True


def test_money_transferred_to_a_recipient_account_is_available_a_day_later(
    sandbox: RunningSandbox, stripe_client: stripe.StripeClient
) -> None:
    sandbox.set_options(availability_delay_days=2)
    account = onboarded(stripe_client, sandbox, "FR")
    manual_payouts(stripe_client, account)
    txn = charge_txn(stripe_client, paid_charge(stripe_client, 5_000)).balance_transaction
    transfer = stripe_client.v1.transfers.create(
        {
            "amount": 5_000,
            "currency": "usd",
            "destination": account,
            "source_transaction": txn.source,
        }
    )
    connected = sandbox.client(stripe_account=account)
    landed = connected.v1.charges.retrieve(
        transfer.destination_payment, {"expand": ["balance_transaction"]}
    ).balance_transaction
    assert landed.available_on == txn.available_on + 86_400
    sandbox.set_clock(advance=2 * 86_400)
    assert balance(connected) == (0, 5_000)
    sandbox.set_clock(advance=86_400)
    assert balance(connected) == (5_000, 0)


def test_without_strict_accounts_onboarding_is_immediate_and_links_reusable(
    sandbox: RunningSandbox, stripe_client: stripe.StripeClient
) -> None:
    sandbox.set_options(strict_accounts=False)
    account = create_account(stripe_client, "FR")  # no recipient agreement: accepted
    done = sandbox.complete_onboarding(account.id)
    assert done["capabilities"] == {"transfers": "active"} and done["charges_enabled"] is True


def test_a_sandbox_is_as_strict_as_stripe_by_default() -> None:
    """Issue 11: every strict behaviour is on unless a test asks for the kind one (KIND)."""
    defaults = build_options(None, {}).to_dict()
    assert {name: defaults[name] for name in STRICT} == STRICT
    assert defaults["availability_delay_days"] == 2 and defaults["platform_currency"] == "usd"
    kind = build_options(None, KIND).to_dict()
    assert kind["availability_delay_days"] == 0 and not kind["fees"] and not kind["settlement"]
