"""The sandbox as strict as Stripe (issue 11 item 8): disputes and inquiries, settlement currency
and exchange rates, pending funds, fees, external accounts per currency, accounts as Stripe
makes them. Driven like the application drives Stripe: the official SDK over real HTTP."""

from __future__ import annotations

from typing import Any

import pytest
import stripe

from rapport_dev.stripe_sandbox.spec import get_spec
from rapport_dev.stripe_sandbox.testing import RunningSandbox, SandboxError


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
