"""`Stripe-Version` honoured and only the spec's event types (real SDK over HTTP).

The sandbox answers API version 2020-08-27 only (its spec's, the one Rapport pins): another
version is refused as Stripe refuses a version it does not know, and every event type it can emit
exists in that version (the spec's `enabled_events` list).
"""

from __future__ import annotations

import ast
from pathlib import Path

import httpx
import pytest
import stripe

import rapport_dev.stripe_sandbox as package
from rapport_dev.stripe_sandbox.spec import API_VERSION
from rapport_dev.stripe_sandbox.testing import RunningSandbox
from rapport_dev.stripe_sandbox.versions import event_types


def test_another_api_version_is_refused_and_changes_nothing(
    sandbox: RunningSandbox, stripe_client: stripe.StripeClient
) -> None:
    newer = sandbox.client(stripe_version="2023-10-16")
    with pytest.raises(stripe.InvalidRequestError) as refused:
        newer.v1.customers.create({"email": "v@example.com"}, {"idempotency_key": "ver"})
    assert refused.value.http_status == 400
    assert refused.value.user_message is not None
    assert refused.value.user_message.startswith("Invalid Stripe API version: 2023-10-16")
    with pytest.raises(stripe.InvalidRequestError):
        newer.v1.customers.list()
    assert stripe_client.v1.customers.list().data == []
    # Refused before anything executed: the key is still free.
    created = stripe_client.v1.customers.create(
        {"email": "v@example.com"}, {"idempotency_key": "ver"}
    )
    assert created.last_response.headers.get("Idempotent-Replayed") is None
    assert created.last_response.headers["Stripe-Version"] == API_VERSION


def test_the_pinned_version_or_none_is_answered(sandbox: RunningSandbox) -> None:
    auth = {"Authorization": "Bearer sk_test_x"}
    for headers in (auth, {**auth, "Stripe-Version": "2020-08-27"}):
        response = httpx.get(f"{sandbox.url}/v1/customers", headers=headers)
        assert response.status_code == 200
        assert response.headers["Stripe-Version"] == "2020-08-27"
    garbled = httpx.get(f"{sandbox.url}/v1/customers", headers={**auth, "Stripe-Version": "x"})
    assert garbled.status_code == 400
    assert garbled.json()["error"]["type"] == "invalid_request_error"


def test_events_carry_the_accounts_version(
    sandbox: RunningSandbox, stripe_client: stripe.StripeClient
) -> None:
    account = stripe_client.v1.accounts.create(
        {"type": "express", "country": "US", "capabilities": {"transfers": {"requested": True}}}
    )
    sandbox.complete_onboarding(account.id)
    intent = stripe_client.v1.payment_intents.create(
        {"amount": 5_000, "currency": "usd", "payment_method": "pm_card_visa", "confirm": True}
    )
    stripe_client.v1.refunds.create({"payment_intent": intent.id, "amount": 1_000})
    events = sandbox.events()
    assert {e["type"] for e in events} >= {"account.updated", "charge.refunded"}
    assert {e["api_version"] for e in events} == {API_VERSION}
    assert {e["type"] for e in events} <= event_types()


def _emitted_types() -> list[tuple[str, int, object]]:
    """(file, line, event type) of every `_emit(...)` call in the sandbox's source."""
    found = []
    for path in Path(package.__file__).parent.glob("*.py"):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "_emit"
            ):
                arg = node.args[1] if len(node.args) > 1 else None
                value = arg.value if isinstance(arg, ast.Constant) else arg
                found.append((path.name, node.lineno, value))
    return found


def test_every_event_type_the_sandbox_can_emit_exists_in_the_spec() -> None:
    emitted = _emitted_types()
    assert len(emitted) >= 15  # the scan found the calls
    for where, line, kind in emitted:
        # A literal, so this list is complete (a computed type could hide an unknown one).
        assert isinstance(kind, str), f"{where}:{line}: event type is not a string literal"
        assert kind in event_types(), f"{where}:{line}: {kind} is not a {API_VERSION} event type"
    # The spec's list is the real one: what is and is not an event type of this version.
    assert {"charge.refunded", "charge.refund.updated", "payout.paid"} <= event_types()
    assert "refund.created" not in event_types()


def test_emitting_an_unknown_type_is_refused(sandbox: RunningSandbox) -> None:
    state = sandbox.sandbox.state
    with pytest.raises(RuntimeError, match="not an event type"):
        state._emit(None, "refund.created", state.platform_id)
    assert sandbox.events() == []
