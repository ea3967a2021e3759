"""The sandbox with a state file: a new process on the same file finds everything again.

Each test runs a real sandbox server (uvicorn, real HTTP) with `state_path`, drives it through
the official `stripe` SDK, stops it, starts another one on the same file and looks.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import stripe

from rapport_dev.ports import free_port
from rapport_dev.stripe_sandbox.options import KIND
from rapport_dev.stripe_sandbox.persistence import StateFile
from rapport_dev.stripe_sandbox.spec import API_VERSION
from rapport_dev.stripe_sandbox.testing import TEST_API_KEY, running_sandbox

WHSEC = "whsec_persistence"


def _money_trail(client: stripe.StripeClient, sandbox: Any) -> dict[str, Any]:
    """One of everything Rapport touches, made through the SDK."""
    customer = client.v1.customers.create({"email": "brand@example.com"}, {"idempotency_key": "c1"})
    intent = client.v1.payment_intents.create(
        {
            "amount": 10_000,
            "currency": "usd",
            "customer": customer.id,
            "payment_method": "pm_card_visa",
            "confirm": True,
            "transfer_group": "ctr_1",
        },
        {"idempotency_key": "pi1"},
    )
    refund = client.v1.refunds.create(
        {"payment_intent": intent.id, "amount": 1_000}, {"idempotency_key": "re1"}
    )
    account = client.v1.accounts.create(
        {"type": "express", "country": "US", "capabilities": {"transfers": {"requested": True}}},
        {"idempotency_key": "acct1"},
    )
    link = client.v1.account_links.create(
        {
            "account": account.id,
            "type": "account_onboarding",
            "return_url": "https://rapport.invalid/return",
            "refresh_url": "https://rapport.invalid/refresh",
        }
    )
    sandbox.complete_onboarding(account.id)
    transfer = client.v1.transfers.create(
        {
            "amount": 5_000,
            "currency": "usd",
            "destination": account.id,
            "source_transaction": intent.latest_charge,
            "transfer_group": "ctr_1",
        },
        {"idempotency_key": "tr1"},
    )
    reversal = client.v1.transfers.reversals.create(
        transfer.id, {"amount": 500}, {"idempotency_key": "trr1"}
    )
    return {
        "customer": customer,
        "intent": intent,
        "refund": refund,
        "account": account,
        "link": link,
        "transfer": transfer,
        "reversal": reversal,
    }


def test_a_restarted_sandbox_has_every_object_key_and_event(tmp_path: Path) -> None:
    path = tmp_path / "stripe-sandbox.json"
    # Kind options (no availability delay): the trail pays out at once; the options are saved.
    with running_sandbox(state_path=path, options=KIND) as first:
        client = first.client()
        made = _money_trail(client, first)
        account_id = made["account"].id
        connected = first.client(stripe_account=account_id)
        payout = connected.v1.payouts.create(
            {"amount": 1_000, "currency": "usd"}, {"idempotency_key": "po1"}
        )
        first.set_clock(advance=3600)
        clock_before = first.set_clock()
        balance_before = client.v1.balance.retrieve()
        connected_before = connected.v1.balance.retrieve()
        events_before = first.events()
        assert path.exists()

    with running_sandbox(state_path=path) as second:
        client = second.client()
        assert client.v1.customers.retrieve(made["customer"].id).email == "brand@example.com"
        intent = client.v1.payment_intents.retrieve(made["intent"].id)
        assert intent.status == "succeeded" and intent.latest_charge == made["intent"].latest_charge
        charge = client.v1.charges.retrieve(intent.latest_charge)
        assert charge.amount_refunded == 1_000
        assert [r.id for r in charge.refunds.data] == [made["refund"].id]
        account = client.v1.accounts.retrieve(account_id)
        assert account.payouts_enabled is True and account.external_accounts.data
        transfer = client.v1.transfers.retrieve(made["transfer"].id)
        assert transfer.amount_reversed == 500
        assert [r.id for r in transfer.reversals.data] == [made["reversal"].id]
        listed = client.v1.transfers.list({"transfer_group": "ctr_1"}).data
        assert [t.id for t in listed] == [made["transfer"].id]
        connected = second.client(stripe_account=account_id)
        assert connected.v1.payouts.retrieve(payout.id).amount == 1_000
        assert client.v1.balance.retrieve() == balance_before
        assert connected.v1.balance.retrieve() == connected_before
        assert second.events() == events_before
        # The clock kept its offset (and kept flowing meanwhile).
        assert clock_before <= second.set_clock() <= clock_before + 60

        # Idempotency keys survive: a retry replays, another body with the key is refused.
        replay = client.v1.transfers.create(
            {
                "amount": 5_000,
                "currency": "usd",
                "destination": account_id,
                "source_transaction": intent.latest_charge,
                "transfer_group": "ctr_1",
            },
            {"idempotency_key": "tr1"},
        )
        assert replay.id == made["transfer"].id
        assert replay.last_response.headers["Idempotent-Replayed"] == "true"
        with pytest.raises(stripe.IdempotencyError):
            client.v1.customers.create({"email": "other@example.com"}, {"idempotency_key": "c1"})
        replayed_payout = connected.v1.payouts.create(
            {"amount": 1_000, "currency": "usd"}, {"idempotency_key": "po1"}
        )
        assert replayed_payout.id == payout.id

        # The account link still works (single state, not just objects).
        token = made["link"].url.rsplit("/", 1)[1]
        visit = httpx.get(f"{second.url}/_sandbox/onboarding/{token}", follow_redirects=False)
        assert visit.status_code == 303

        # New objects continue the sequence: newest first in lists.
        newer = client.v1.customers.create({"email": "new@example.com"})
        assert client.v1.customers.list({"limit": 1}).data[0].id == newer.id


def test_pending_webhook_deliveries_survive_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "sandbox.json"
    # Nobody listens: the delivery fails and waits for its retry.
    with running_sandbox("http://127.0.0.1:9/down", WHSEC, state_path=path) as first:
        customer = first.client().v1.customers.create({"email": "x@example.com"})
        assert first.wait_for_webhooks()
        (pending,) = first.pending_deliveries()
        assert pending["attempts"] == 1 and pending["next_attempt_at"] > time.time()

    with running_sandbox("http://127.0.0.1:9/down", WHSEC, state_path=path) as second:
        (again,) = second.pending_deliveries()
        assert again == pending
        (event,) = second.events()
        assert event["data"]["object"]["id"] == customer.id and event["pending_webhooks"] == 1
        second.advance_clock(pending["next_attempt_at"] - time.time() + 1)
        attempts = [d for d in second.deliveries() if d["event"] == event["id"]]
        assert [d["attempt"] for d in attempts] == [1, 2]


def test_an_unreadable_state_format_is_refused_not_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "sandbox.json"
    path.write_text(json.dumps({"format": 999}))
    with pytest.raises(Exception, match="format 999"):
        with running_sandbox(state_path=path):
            pass
    assert json.loads(path.read_text()) == {"format": 999}


def test_the_file_is_replaced_whole_after_each_change(tmp_path: Path) -> None:
    path = tmp_path / "sandbox.json"
    with running_sandbox(state_path=path) as sandbox:
        client = sandbox.client()
        client.v1.customers.create({"email": "a@example.com"})
        first = json.loads(path.read_text())
        client.v1.customers.create({"email": "b@example.com"})
        second = json.loads(path.read_text())
        client.v1.customers.list()  # a read changes nothing: not rewritten
        assert json.loads(path.read_text()) == second
    emails = sorted(
        o["email"] for o in second["state"]["_objects"].values() if o["object"] == "customer"
    )
    assert emails == ["a@example.com", "b@example.com"]
    assert len(first["state"]["_objects"]) < len(second["state"]["_objects"])
    assert [p.name for p in tmp_path.iterdir()] == ["sandbox.json"]  # no temporary left over


def test_kill_9_loses_nothing_that_was_answered(tmp_path: Path) -> None:
    """A real `rapport stripe-sandbox --state` process, killed with SIGKILL right after
    answering: the next process on the same file has the object."""
    path = tmp_path / "sandbox.json"
    port = free_port()
    url = f"http://127.0.0.1:{port}"

    def start() -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [
                sys.executable,
                "-m",
                "app.cli",
                "stripe-sandbox",
                "--port",
                str(port),
                "--state",
                str(path),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={**os.environ, "NO_PROXY": "*"},
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                httpx.get(f"{url}/_sandbox/clock", timeout=1, trust_env=False)
                return proc
            except httpx.HTTPError:
                time.sleep(0.1)
        proc.kill()
        raise AssertionError("the sandbox process did not start")

    def client() -> stripe.StripeClient:
        return stripe.StripeClient(
            TEST_API_KEY,
            stripe_version=API_VERSION,
            base_addresses={"api": url, "connect": url, "files": url},
            http_client=stripe.RequestsClient(timeout=10),
        )

    proc = start()
    try:
        customer = client().v1.customers.create({"email": "k@example.com"})
    finally:
        proc.kill()  # SIGKILL: no shutdown hook runs
        proc.wait(timeout=10)
    proc = start()
    try:
        assert client().v1.customers.retrieve(customer.id).email == "k@example.com"
    finally:
        proc.kill()
        proc.wait(timeout=10)


def test_in_memory_is_the_default(tmp_path: Path) -> None:
    with running_sandbox() as sandbox:
        assert sandbox.sandbox.state_file is None
        sandbox.client().v1.customers.create({"email": "m@example.com"})
    assert list(tmp_path.iterdir()) == []


def test_save_time_for_a_demo_sized_state(tmp_path: Path) -> None:
    """Saving after each request must stay cheap for a demo's worth of objects."""
    path = tmp_path / "sandbox.json"
    with running_sandbox(state_path=path) as sandbox:
        client = sandbox.client()
        for n in range(100):
            client.v1.payment_intents.create(
                {"amount": 1_000 + n, "currency": "usd", "payment_method": "pm_card_visa"},
                {"idempotency_key": f"k{n}"},
            )
        state_file: StateFile = sandbox.sandbox.state_file
        size = path.stat().st_size
        print(f"state file {size / 1e6:.2f} MB, last save {state_file.last_save_s * 1000:.1f} ms")
        assert state_file.last_save_s < 0.5


def test_keys_past_their_24_hours_leave_the_file(tmp_path: Path) -> None:
    path = tmp_path / "sandbox.json"
    with running_sandbox(state_path=path) as sandbox:
        client = sandbox.client()
        client.v1.customers.create({"email": "old@example.com"}, {"idempotency_key": "old"})
        saved = json.loads(path.read_text())["idempotency"]["items"]
        assert [k[0]["items"][1] for k in saved] == ["old"]
        sandbox.set_clock(advance=24 * 3600 + 1)
        client.v1.customers.create({"email": "new@example.com"}, {"idempotency_key": "new"})
        keys = json.loads(path.read_text())["idempotency"]["items"]
    assert [k[0]["items"][1] for k in keys] == ["new"]
