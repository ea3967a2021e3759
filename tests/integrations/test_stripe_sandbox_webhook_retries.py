"""Webhook retries on Stripe's live-mode schedule, on the sandbox's clock (real HTTP endpoint).

Stripe retries a failed delivery "for up to three days with an exponential back off". The
sandbox: 1 min, 2, 4, ... at most 12 h apart, until 3 days after the first attempt. Nothing
sleeps in wall time: moving the sandbox's clock makes the retries that fell due go out.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import pairwise
from typing import Any

import pytest
import stripe

from rapport_dev.stripe_sandbox.testing import RunningSandbox, running_sandbox
from rapport_dev.stripe_sandbox.webhooks import MAX_BACKOFF_S, RETRY_WINDOW_S
from tests.integrations.conftest import WebhookReceiver

WHSEC = "whsec_retries"
T0 = 1_795_521_600  # 2026-11-24 12:00 UTC (tests/factories.py)


@pytest.fixture(scope="module")
def stripe_schedule_sandbox() -> Iterator[RunningSandbox]:
    """A sandbox with Stripe's own retry schedule (no test shortcut)."""
    with running_sandbox() as running:
        yield running


@pytest.fixture
def failing(stripe_schedule_sandbox: RunningSandbox) -> Iterator[tuple[RunningSandbox, Any]]:
    sandbox = stripe_schedule_sandbox
    sandbox.configure_webhook(None, None)
    sandbox.reset()
    sandbox.set_clock(T0)
    receiver = WebhookReceiver(statuses=[500] * 1000)  # down until told otherwise
    sandbox.configure_webhook(receiver.url, WHSEC)
    yield sandbox, receiver
    sandbox.configure_webhook(None, None)
    receiver.close()


def test_a_failed_delivery_waits_for_its_retry_on_the_sandbox_clock(
    failing: tuple[RunningSandbox, Any],
) -> None:
    sandbox, receiver = failing
    sandbox.client().v1.customers.create({"email": "a@example.com"})
    assert sandbox.wait_for_webhooks()  # idle: the retry is not due yet
    (first,) = sandbox.deliveries()
    assert first["status"] == 500 and first["next_attempt_at"] == pytest.approx(
        first["at"] + 60, abs=0.01
    )
    (pending,) = sandbox.pending_deliveries()
    assert pending["attempts"] == 1 and pending["next_attempt_at"] == first["next_attempt_at"]
    assert len(receiver.received) == 1  # wall time alone (a second or so) retries nothing

    sandbox.advance_clock(59)
    assert len(receiver.received) == 1
    sandbox.advance_clock(2)
    assert len(receiver.received) == 2  # due after 1 minute
    second = sandbox.deliveries()[-1]
    assert second["attempt"] == 2
    assert second["next_attempt_at"] - second["at"] == pytest.approx(120, abs=0.01)

    receiver.statuses = []  # the endpoint is back
    sandbox.advance_clock(120)
    assert [r["status"] for r in receiver.received] == [500, 500, 200]
    assert sandbox.pending_deliveries() == []
    # Each attempt was signed afresh, with the sandbox clock of its own time.
    times = [int(r["signature"].split(",")[0][2:]) for r in receiver.received]
    assert times[1] - times[0] >= 60 and times[2] - times[1] >= 120
    event = stripe.Webhook.construct_event(
        receiver.received[-1]["body"], receiver.received[-1]["signature"], WHSEC, tolerance=None
    )
    assert sandbox.client().v1.events.retrieve(event.id).pending_webhooks == 0


def test_retries_back_off_exponentially_for_three_days_then_stop(
    failing: tuple[RunningSandbox, Any],
) -> None:
    sandbox, receiver = failing
    sandbox.client().v1.customers.create({"email": "b@example.com"})
    assert sandbox.wait_for_webhooks()
    for _ in range(40):  # far more than needed: walk from one due retry to the next
        pending = sandbox.pending_deliveries()
        if not pending:
            break
        now = sandbox.set_clock()
        sandbox.advance_clock(max(pending[0]["next_attempt_at"] - now, 0) + 1)
    attempts = sandbox.deliveries()
    gaps = [b["at"] - a["at"] for a, b in pairwise(attempts)]
    assert gaps[:4] == pytest.approx([60, 120, 240, 480], abs=3)
    assert max(gaps) <= MAX_BACKOFF_S + 3  # (+1 s per step: each advance overshoots by 1)
    span = attempts[-1]["at"] - attempts[0]["at"]
    assert RETRY_WINDOW_S - MAX_BACKOFF_S <= span <= RETRY_WINDOW_S
    assert attempts[-1]["gave_up"] is True and sandbox.pending_deliveries() == []
    assert all(a["status"] == 500 for a in attempts)
    count = len(receiver.received)
    assert count == len(attempts) and 10 <= count <= 20
    sandbox.advance_clock(7 * 86400)
    assert len(receiver.received) == count  # given up means given up


def test_a_failing_event_holds_no_other_back(failing: tuple[RunningSandbox, Any]) -> None:
    sandbox, receiver = failing
    receiver.statuses = [500]  # only the first delivery fails
    client = sandbox.client()
    client.v1.customers.create({"email": "c@example.com"})
    assert sandbox.wait_for_webhooks()
    client.v1.customers.create({"email": "d@example.com"})
    assert sandbox.wait_for_webhooks()
    assert [r["status"] for r in receiver.received] == [500, 200]
    assert receiver.received[0]["event"]["id"] != receiver.received[1]["event"]["id"]
    assert len(sandbox.pending_deliveries()) == 1


def test_jumping_the_clock_keeps_a_retrys_remaining_wait(
    failing: tuple[RunningSandbox, Any],
) -> None:
    sandbox, receiver = failing
    sandbox.client().v1.customers.create({"email": "e@example.com"})
    assert sandbox.wait_for_webhooks()
    (before,) = sandbox.pending_deliveries()
    wait = before["next_attempt_at"] - sandbox.set_clock()
    sandbox.set_clock(T0 - 86400)  # a test moving to its own day: not a way to skip the wait
    (after,) = sandbox.pending_deliveries()
    assert after["next_attempt_at"] - sandbox.set_clock() == pytest.approx(wait, abs=2)
    assert sandbox.wait_for_webhooks() and len(receiver.received) == 1
