"""Automatic payouts on Stripe's default schedule, driven by the sandbox's clock (real SDK, HTTP).

A connected account with the default schedule (`daily`) gets, at each 00:00 UTC of the
sandbox's clock, a payout of its available balance per currency (`automatic: true`,
`payout.created` on the account), `paid` at its arrival date (`payout.paid`).
"""

from __future__ import annotations

import time
from typing import Any

import httpx
import stripe

from rapport_dev.stripe_sandbox.payouts_schedule import DAY
from rapport_dev.stripe_sandbox.testing import RunningSandbox

T0 = 1_795_521_600  # 2026-11-24 12:00 UTC, the suite's frozen start (tests/factories.py)
MIDNIGHT = T0 + 12 * 3600  # 2026-11-25 00:00 UTC


def _paid_account(sandbox: RunningSandbox, client: stripe.StripeClient, amount: int) -> str:
    """An onboarded express account with `amount` USD transferred to it."""
    account = client.v1.accounts.create(
        {"type": "express", "country": "US", "capabilities": {"transfers": {"requested": True}}}
    )
    sandbox.complete_onboarding(account.id)
    # The charge is larger than the transfer: Stripe's fee comes out of the platform's share.
    intent = client.v1.payment_intents.create(
        {
            "amount": amount + 3_000,
            "currency": "usd",
            "payment_method": "pm_card_visa",
            "confirm": True,
        }
    )
    client.v1.transfers.create(
        {
            "amount": amount,
            "currency": "usd",
            "destination": account.id,
            "source_transaction": intent.latest_charge,
        }
    )
    return account.id


def _events(sandbox: RunningSandbox, kind: str) -> list[dict[str, Any]]:
    return [e for e in sandbox.events() if e["type"] == kind]


def test_the_available_balance_is_paid_out_daily_and_paid_at_arrival(
    sandbox: RunningSandbox, stripe_client: stripe.StripeClient
) -> None:
    sandbox.set_clock(T0)
    account_id = _paid_account(sandbox, stripe_client, 7_000)
    connected = sandbox.client(stripe_account=account_id)
    assert connected.v1.payouts.list().data == []  # nothing before the day's run

    sandbox.advance_clock(12 * 3600 + 60)  # past 00:00 UTC
    (payout,) = connected.v1.payouts.list().data
    assert payout.automatic is True and payout.status == "pending"
    assert payout.amount == 7_000 and payout.currency == "usd"
    assert payout.created == MIDNIGHT  # made at the run's own time, not when we looked
    assert payout.arrival_date == MIDNIGHT + 2 * DAY
    balance = connected.v1.balance.retrieve()
    assert [b.amount for b in balance.available] == [0]
    (created,) = _events(sandbox, "payout.created")
    assert created["account"] == account_id and created["data"]["object"]["id"] == payout.id
    assert created["request"] == {"id": None, "idempotency_key": None}

    sandbox.advance_clock(2 * DAY)
    assert connected.v1.payouts.retrieve(payout.id).status == "paid"
    (paid,) = _events(sandbox, "payout.paid")
    assert paid["account"] == account_id and paid["created"] == MIDNIGHT + 2 * DAY
    # The next days have nothing to pay out: no empty payouts.
    assert len(connected.v1.payouts.list().data) == 1
    # The platform's own balance is never paid out automatically.
    assert stripe_client.v1.payouts.list().data == []


def test_one_long_advance_walks_through_every_day(
    sandbox: RunningSandbox, stripe_client: stripe.StripeClient
) -> None:
    sandbox.set_clock(T0)
    account_id = _paid_account(sandbox, stripe_client, 3_000)
    connected = sandbox.client(stripe_account=account_id)
    sandbox.advance_clock(DAY)  # day 1's payout: 3,000
    _paid_account_again = stripe_client.v1.payment_intents.create(
        {"amount": 4_000, "currency": "usd", "payment_method": "pm_card_visa", "confirm": True}
    )
    stripe_client.v1.transfers.create(
        {
            "amount": 2_000,
            "currency": "usd",
            "destination": account_id,
            "source_transaction": _paid_account_again.latest_charge,
        }
    )
    sandbox.advance_clock(5 * DAY)
    payouts = sorted(connected.v1.payouts.list().data, key=lambda p: p.created)
    assert [(p.amount, p.created, p.status) for p in payouts] == [
        (3_000, MIDNIGHT, "paid"),
        (2_000, MIDNIGHT + DAY, "paid"),
    ]
    paid = _events(sandbox, "payout.paid")
    assert [e["created"] for e in paid] == [MIDNIGHT + 2 * DAY, MIDNIGHT + 3 * DAY]


def test_funds_still_pending_wait_for_a_later_day(
    sandbox: RunningSandbox, stripe_client: stripe.StripeClient
) -> None:
    sandbox.set_options(availability_delay_days=2)  # Stripe US: a charge's funds, 2 days on
    sandbox.set_clock(T0)
    account_id = _paid_account(sandbox, stripe_client, 6_000)
    connected = sandbox.client(stripe_account=account_id)
    sandbox.advance_clock(DAY)  # the first 00:00: still pending, nothing to pay out
    assert connected.v1.payouts.list().data == []
    assert [b.amount for b in connected.v1.balance.retrieve().pending] == [6_000]
    sandbox.advance_clock(2 * DAY)  # available at T0 + 2 days: paid out at the next 00:00
    (payout,) = connected.v1.payouts.list().data
    assert payout.amount == 6_000 and payout.created == MIDNIGHT + 2 * DAY


def test_manual_schedule_and_manual_payouts(
    sandbox: RunningSandbox, stripe_client: stripe.StripeClient
) -> None:
    sandbox.set_clock(T0)
    account_id = _paid_account(sandbox, stripe_client, 5_000)
    stripe_client.v1.accounts.update(
        account_id, {"settings": {"payouts": {"schedule": {"interval": "manual"}}}}
    )
    connected = sandbox.client(stripe_account=account_id)
    sandbox.advance_clock(DAY)
    assert connected.v1.payouts.list().data == []  # manual: nothing on its own
    # A payout asked for with POST /v1/payouts still works, and is paid at its arrival date.
    payout = connected.v1.payouts.create({"amount": 1_500, "currency": "usd"})
    assert payout.automatic is False and payout.status == "pending"
    sandbox.advance_clock(2 * DAY + 1)
    assert connected.v1.payouts.retrieve(payout.id).status == "paid"
    # ... unless the bank answered first (the control endpoints).
    failing = connected.v1.payouts.create({"amount": 1_000, "currency": "usd"})
    assert sandbox.fail_payout(failing.id, "account_closed")["status"] == "failed"
    sandbox.advance_clock(3 * DAY)
    assert connected.v1.payouts.retrieve(failing.id).status == "failed"


def test_an_account_without_payouts_enabled_keeps_its_balance(
    sandbox: RunningSandbox, stripe_client: stripe.StripeClient
) -> None:
    sandbox.set_clock(T0)
    account_id = _paid_account(sandbox, stripe_client, 4_000)
    sandbox.require_information(account_id, ["individual.verification.document"])
    sandbox.advance_clock(DAY)
    connected = sandbox.client(stripe_account=account_id)
    assert connected.v1.payouts.list().data == []
    assert [b.amount for b in connected.v1.balance.retrieve().available] == [4_000]


def test_wall_time_alone_runs_the_schedule(
    sandbox: RunningSandbox, stripe_client: stripe.StripeClient
) -> None:
    """No clock move: the ticker notices 00:00 passing as wall time flows."""
    sandbox.set_clock(MIDNIGHT - 30)
    account_id = _paid_account(sandbox, stripe_client, 2_500)
    sandbox.set_clock(MIDNIGHT - 1)
    connected = sandbox.client(stripe_account=account_id)
    deadline = time.monotonic() + 10
    while not connected.v1.payouts.list().data and time.monotonic() < deadline:
        time.sleep(0.2)
    (payout,) = connected.v1.payouts.list().data
    assert payout.automatic is True and payout.amount == 2_500


def test_the_clock_only_advances_forward(sandbox: RunningSandbox) -> None:
    response = httpx.post(f"{sandbox.url}/_sandbox/clock", json={"advance": -60})
    assert response.status_code == 400
    assert "forward only" in response.json()["error"]["message"]


def test_advancing_delivers_the_webhook_retries_that_fell_due(
    sandbox: RunningSandbox, stripe_client: stripe.StripeClient, webhook_receiver: Any
) -> None:
    sandbox.set_clock(T0)
    webhook_receiver.statuses = [503] * 3
    sandbox.configure_webhook(webhook_receiver.url, "whsec_schedule")
    stripe_client.v1.customers.create({"email": "retry@example.com"})
    assert sandbox.wait_for_webhooks()
    sandbox.advance_clock(DAY)
    sandbox.advance_clock(DAY)
    sandbox.advance_clock(DAY)
    statuses = [r["status"] for r in webhook_receiver.received]
    assert statuses[-1] == 200 and statuses.count(503) == 3
    assert sandbox.pending_deliveries() == []


def test_wall_clock_signatures_survive_a_moved_sandbox_clock(webhook_receiver: Any) -> None:
    """`rapport serve`'s sandbox signs with wall time: a receiver whose clock did not move with
    the sandbox's (the API in `make run`) still accepts the payout events after a 5-day move."""
    from rapport_dev.stripe_sandbox.testing import running_sandbox

    webhook_receiver.statuses = []
    with running_sandbox(
        webhook_receiver.url, "whsec_wall", webhook_signing_clock="wall"
    ) as sandbox:
        client = sandbox.client()
        account_id = _paid_account(sandbox, client, 1_200)
        sandbox.advance_clock(5 * DAY)
        kinds = {e["type"] for e in sandbox.events() if e.get("account") == account_id}
        assert {"payout.created", "payout.paid"} <= kinds
    payout_events = [
        r for r in webhook_receiver.received if r["event"]["type"].startswith("payout.")
    ]
    assert len(payout_events) == 2
    for r in payout_events:
        # The SDK's default 300 s tolerance, against this machine's real clock.
        event = stripe.Webhook.construct_event(r["body"], r["signature"], "whsec_wall")
        assert event.account == account_id
    # ... while each event's own time is the sandbox's: paid 2 days after the payout was made.
    created = sorted(r["event"]["created"] for r in payout_events)
    assert created[1] - created[0] == 2 * DAY and created[1] > time.time() + DAY


def test_an_account_created_with_a_manual_schedule_is_never_paid_out_on_its_own(
    sandbox: RunningSandbox, stripe_client: stripe.StripeClient
) -> None:
    """What Rapport's per_transfer mode asks for (`settings[payouts][schedule][interval]`)."""
    sandbox.set_clock(T0)
    account = stripe_client.v1.accounts.create(
        {
            "type": "express",
            "country": "US",
            "capabilities": {"transfers": {"requested": True}},
            "settings": {"payouts": {"schedule": {"interval": "manual"}}},
        }
    )
    assert account.settings.payouts.schedule.interval == "manual"
    sandbox.complete_onboarding(account.id)
    intent = stripe_client.v1.payment_intents.create(
        {"amount": 5_000, "currency": "usd", "payment_method": "pm_card_visa", "confirm": True}
    )
    stripe_client.v1.transfers.create(
        {
            "amount": 2_000,
            "currency": "usd",
            "destination": account.id,
            "source_transaction": intent.latest_charge,
        }
    )
    sandbox.advance_clock(3 * DAY)
    assert sandbox.client(stripe_account=account.id).v1.payouts.list().data == []
