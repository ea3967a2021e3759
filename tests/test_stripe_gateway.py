"""The Stripe gateway against the Stripe sandbox (the real SDK over real HTTP): idempotency keys,
typed errors, the money calls the flows will use, and the production settings rules."""

from __future__ import annotations

from typing import Any

import pytest

from app.integrations.stripe import (
    StripeCardDeclined,
    StripeGateway,
    StripeRequestRejected,
    StripeUnavailable,
    idempotency_key,
)
from app.settings import DEV_STRIPE_API_KEY, DEV_STRIPE_WEBHOOK_SECRET, Settings
from rapport_dev.stripe_sandbox.testing import RunningSandbox


@pytest.fixture
def gateway(stripe_app: Any, stripe_sandbox: RunningSandbox) -> StripeGateway:
    return stripe_app.state.resources.stripe  # type: ignore[no-any-return]


async def funded(gateway: StripeGateway, contract: str, amount: int = 10_000) -> Any:
    return await gateway.create_payment_intent(
        amount=amount,
        currency="usd",
        payment_method="pm_card_visa",
        confirm=True,
        transfer_group=contract,
        metadata={"contract": contract},
        idempotency_key=idempotency_key("funding", contract),
    )


async def onboarded(gateway: StripeGateway, sandbox: RunningSandbox, influencer: str) -> str:
    account = await gateway.create_express_account(
        country="US", email="c@example.com", idempotency_key=idempotency_key("account", influencer)
    )
    sandbox.complete_onboarding(account.id)
    return account.id


def test_idempotency_keys_are_derived_from_our_records() -> None:
    assert idempotency_key("transfer", "mst_1") == "transfer:mst_1"
    assert idempotency_key("account-link", "inf_1", 3) == "account-link:inf_1:3"
    for bad in [("transfer",), ("transfer", ""), ("", "mst_1"), ("transfer", None)]:
        with pytest.raises(ValueError):
            idempotency_key(*bad)
    with pytest.raises(ValueError, match="longer"):
        idempotency_key("x", "y" * 300)


async def test_every_post_requires_an_idempotency_key(gateway: StripeGateway) -> None:
    with pytest.raises(TypeError):
        await gateway.create_payment_intent(amount=100, currency="usd")  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="required"):
        await gateway.create_payment_intent(amount=100, currency="usd", idempotency_key=" ")
    with pytest.raises(ValueError, match="minor units"):
        await gateway.create_payment_intent(
            amount=10.5,  # type: ignore[arg-type]
            currency="usd",
            idempotency_key="funding:ctr_1",
        )


async def test_the_gateway_talks_to_the_configured_base_with_the_pinned_version(
    gateway: StripeGateway, stripe_sandbox: RunningSandbox
) -> None:
    assert gateway.uses_sandbox and gateway.api_base == stripe_sandbox.url
    intent = await funded(gateway, "ctr_version")
    # The sandbox answers in the shape of 2020-08-27: `charges` is on the intent.
    assert intent.charges.data[0].id == intent.latest_charge
    real = StripeGateway(Settings(stripe_api_base=""))
    try:
        assert not real.uses_sandbox
    finally:
        await real.aclose()


async def test_a_payment_then_a_partial_and_a_full_refund(gateway: StripeGateway) -> None:
    intent = await funded(gateway, "ctr_refund", 10_000)
    assert intent.status == "succeeded" and intent.amount_received == 10_000
    partial = await gateway.create_refund(
        payment_intent=intent.id, amount=2_500, idempotency_key="refund:ctr_refund:1"
    )
    assert partial.status == "succeeded" and partial.amount == 2_500
    rest = await gateway.create_refund(
        payment_intent=intent.id, idempotency_key="refund:ctr_refund:2"
    )
    assert rest.amount == 7_500
    with pytest.raises(StripeRequestRejected) as refused:
        await gateway.create_refund(
            payment_intent=intent.id, amount=1, idempotency_key="refund:ctr_refund:3"
        )
    assert refused.value.code == "charge_already_refunded"
    assert not refused.value.retryable
    # The same key again is the same refund, not a second one.
    again = await gateway.create_refund(
        payment_intent=intent.id, amount=2_500, idempotency_key="refund:ctr_refund:1"
    )
    assert again.id == partial.id
    with pytest.raises(ValueError):
        await gateway.create_refund(idempotency_key="refund:none")


async def test_a_declined_card_is_a_typed_error_naming_the_intent(gateway: StripeGateway) -> None:
    with pytest.raises(StripeCardDeclined) as declined:
        await gateway.create_payment_intent(
            amount=5_000,
            currency="usd",
            payment_method="pm_card_chargeDeclinedInsufficientFunds",
            confirm=True,
            idempotency_key="funding:ctr_declined",
        )
    error = declined.value
    assert error.http_status == 402 and error.code == "card_declined"
    assert error.decline_code == "insufficient_funds"
    assert error.payment_intent_id is not None and error.payment_intent_id.startswith("pi_")
    assert error.charge_id is not None and error.charge_id.startswith("ch_")
    assert error.operation == "create_payment_intent"


async def test_transfers_are_idempotent_and_reversible(
    gateway: StripeGateway, stripe_sandbox: RunningSandbox
) -> None:
    destination = await onboarded(gateway, stripe_sandbox, "inf_transfer")
    intent = await funded(gateway, "ctr_transfer", 10_000)
    charge = intent.latest_charge
    # The answer is lost once: the SDK retries with the same key and gets the same transfer.
    stripe_sandbox.inject_fault("/v1/transfers", "answer_lost_after_apply")
    transfer = await gateway.create_transfer(
        amount=6_000,
        currency="usd",
        destination=destination,
        transfer_group="ctr_transfer",
        source_transaction=charge,
        metadata={"milestone": "mst_1"},
        idempotency_key=idempotency_key("transfer", "mst_1"),
    )
    again = await gateway.create_transfer(
        amount=6_000,
        currency="usd",
        destination=destination,
        transfer_group="ctr_transfer",
        source_transaction=charge,
        metadata={"milestone": "mst_1"},
        idempotency_key=idempotency_key("transfer", "mst_1"),
    )
    assert again.id == transfer.id
    assert [t.id for t in await gateway.list_transfers(transfer_group="ctr_transfer")] == [
        transfer.id
    ]
    # More than the charge has left is refused.
    with pytest.raises(StripeRequestRejected) as refused:
        await gateway.create_transfer(
            amount=5_000,
            currency="usd",
            destination=destination,
            source_transaction=charge,
            idempotency_key=idempotency_key("transfer", "mst_2"),
        )
    assert refused.value.code == "balance_insufficient"

    reversal = await gateway.create_transfer_reversal(
        transfer.id, amount=1_000, idempotency_key=idempotency_key("reversal", "mst_1")
    )
    assert reversal.amount == 1_000
    assert (await gateway.retrieve_transfer(transfer.id)).amount_reversed == 1_000

    connected = await gateway.retrieve_balance(stripe_account=destination)
    # Pending until the charge's funds are available (Stripe US: 2 days), then available.
    assert [(b.amount, b.currency) for b in connected.pending] == [(5_000, "usd")]
    stripe_sandbox.set_clock(advance=2 * 86_400 + 60)
    connected = await gateway.retrieve_balance(stripe_account=destination)
    assert [(b.amount, b.currency) for b in connected.available] == [(5_000, "usd")]
    txns = await gateway.list_balance_transactions(stripe_account=destination)
    assert sorted(t.type for t in txns) == ["payment", "payment_refund"]
    platform = await gateway.list_balance_transactions(type="transfer")
    assert [t.amount for t in platform] == [-6_000]


async def test_payouts_from_a_connected_account(
    gateway: StripeGateway, stripe_sandbox: RunningSandbox
) -> None:
    destination = await onboarded(gateway, stripe_sandbox, "inf_payout")
    intent = await funded(gateway, "ctr_payout", 3_000)
    await gateway.create_transfer(
        amount=3_000,
        currency="usd",
        destination=destination,
        source_transaction=intent.latest_charge,
        idempotency_key="transfer:mst_payout",
    )
    # Refused while the charge's funds are pending (as at Stripe), made once they are available.
    with pytest.raises(StripeRequestRejected) as early:
        await gateway.create_payout(
            amount=3_000,
            currency="usd",
            stripe_account=destination,
            idempotency_key="payout:mst_payout:early",
        )
    assert early.value.code == "balance_insufficient"
    stripe_sandbox.set_clock(advance=2 * 86_400 + 60)
    payout = await gateway.create_payout(
        amount=3_000,
        currency="usd",
        stripe_account=destination,
        idempotency_key="payout:mst_payout",
    )
    assert payout.status == "pending"
    fetched = await gateway.retrieve_payout(payout.id, stripe_account=destination)
    assert fetched.id == payout.id


async def test_stripe_down_is_a_retryable_error_and_a_bad_request_is_not(
    gateway: StripeGateway, stripe_sandbox: RunningSandbox
) -> None:
    stripe_sandbox.inject_fault("/v1/payment_intents", "error_before_apply", count=None)
    with pytest.raises(StripeUnavailable) as down:
        await funded(gateway, "ctr_down")
    assert down.value.retryable and down.value.http_status == 500
    stripe_sandbox.clear_faults()

    with pytest.raises(StripeRequestRejected) as refused:
        await gateway.create_transfer(
            amount=100,
            currency="usd",
            destination="acct_nobody",
            idempotency_key="transfer:mst_nobody",
        )
    assert refused.value.param == "destination"
    assert refused.value.http_status == 400

    with pytest.raises(StripeRequestRejected):
        await gateway.retrieve_payment_intent("pi_missing")


# --- settings -----------------------------------------------------------------------------------


def _production(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "environment": "production",
        "secret_key": "s" * 40,
        "database_url": "postgresql+asyncpg://x/y",
        "stripe_api_key": "sk_live_" + "k" * 24,
        "stripe_api_base": None,
        "stripe_webhook_secret": "whsec_" + "w" * 32,
        "onboarding_return_url": "https://app.rapport.dev/payouts/return",
        "onboarding_refresh_url": "https://app.rapport.dev/payouts/refresh",
    }
    values.update(overrides)
    return Settings(**values)


def test_production_needs_real_stripe_and_never_the_sandbox() -> None:
    assert _production().stripe_api_base is None
    assert _production(stripe_api_key="sk_test_" + "k" * 24).environment == "production"
    assert _production(stripe_api_key="rk_live_" + "k" * 24).environment == "production"
    with pytest.raises(ValueError, match="STRIPE_API_BASE"):
        _production(stripe_api_base="http://127.0.0.1:12111")
    for key in (DEV_STRIPE_API_KEY, "pk_live_abc", "sk_nothing"):
        with pytest.raises(ValueError, match="STRIPE_API_KEY"):
            _production(stripe_api_key=key)
    for secret in (DEV_STRIPE_WEBHOOK_SECRET, "", "not-a-whsec"):
        with pytest.raises(ValueError, match="STRIPE_WEBHOOK_SECRET"):
            _production(stripe_webhook_secret=secret)
    with pytest.raises(ValueError, match="ONBOARDING_RETURN_URL"):
        _production(onboarding_return_url="http://app.rapport.dev/payouts/return")


def test_development_defaults_point_at_the_local_sandbox() -> None:
    settings = Settings()
    assert settings.stripe_api_base == "http://127.0.0.1:12111"
    assert settings.stripe_api_key.get_secret_value().startswith("sk_test_")
    assert Settings(stripe_api_base="  ").stripe_api_base is None
    assert Settings(stripe_webhook_secret="whsec_a, whsec_b,").stripe_webhook_secrets == [
        "whsec_a",
        "whsec_b",
    ]
