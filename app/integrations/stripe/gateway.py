"""The one module that talks to Stripe (docs/payments.md).

`StripeGateway(settings)` wraps the official SDK's `StripeClient`:

- the API version is pinned (`2020-08-27`, the version of the OpenAPI description the sandbox
  validates against), so responses have the same shape in production, locally and in tests;
- `max_network_retries=2`: the SDK retries connection errors, 409 (`idempotency_key_in_use`) and
  5xx itself, with the same idempotency key;
- `stripe_api_base` (a URL) points every address (`api`, `connect`, `files`) at a sandbox — the
  project's own (`rapport stripe-sandbox`) or `localstripe`; None is real Stripe.

Every method that POSTs takes a keyword-only, required `idempotency_key`, which the caller derives
from its own records (`idempotency_key("transfer", milestone_id)` → `"transfer:mst_…"`), never
from randomness: a retry — by the SDK, by the outbox relay after a crash, by a person pressing the
button again — then reaches Stripe with the same key and gets the first result back instead of
moving money twice. Stripe forgets keys after 24 hours; a caller retrying later must first look
for the object it may already have created (`list_transfers(transfer_group=…)` etc.).

Errors come back as three typed exceptions (all `StripeGatewayError`), so callers never import
`stripe`:

- `StripeCardDeclined` — the customer's card was declined (402); show it, don't retry;
- `StripeUnavailable` — Stripe could not be reached or failed (network, 5xx, 429, a key still in
  use after the SDK's retries); `retryable`: try again later with the same key;
- `StripeRequestRejected` — Stripe refused the request (400/401/403/404, idempotency-key misuse,
  business refusals such as `balance_insufficient`); retrying the same request cannot help.

The app holds one gateway in its resources (app/resources.py), built by `create_app` (never at
import time) and closed by its lifespan; tests build the app with settings pointing at a sandbox.
The methods are async (the SDK's `*_async` calls over httpx) and return the SDK's objects.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Literal, Self, TypeVar, overload

import stripe

from app.settings import Settings

logger = logging.getLogger("rapport.stripe")

STRIPE_API_VERSION = "2020-08-27"
MAX_NETWORK_RETRIES = 2
MAX_IDEMPOTENCY_KEY_LENGTH = 255

T = TypeVar("T")


def idempotency_key(kind: str, *parts: object) -> str:
    """The key for a Stripe POST, built from our own records: `kind:part:part`.

    `idempotency_key("transfer", "mst_01J…")` → `"transfer:mst_01J…"`. One business action, one
    key — on every attempt, in every process."""
    if not kind or not parts or any(p is None or str(p) == "" for p in parts):
        raise ValueError("an idempotency key needs a kind and the ids it is derived from")
    key = ":".join([kind, *(str(p) for p in parts)])
    _check_key(key)
    return key


def _check_key(key: str) -> None:
    if not isinstance(key, str) or not key.strip():
        raise ValueError("idempotency_key is required for every Stripe POST")
    if len(key) > MAX_IDEMPOTENCY_KEY_LENGTH:
        raise ValueError(f"idempotency_key is longer than {MAX_IDEMPOTENCY_KEY_LENGTH} characters")


# --- errors -------------------------------------------------------------------------------------


class StripeGatewayError(Exception):
    """Base of every error the gateway raises."""

    retryable: bool = False

    def __init__(
        self,
        operation: str,
        message: str,
        *,
        http_status: int | None = None,
        code: str | None = None,
        param: str | None = None,
        request_id: str | None = None,
        error_type: str | None = None,
        body: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(f"{operation}: {message}")
        self.operation = operation
        self.message = message
        self.http_status = http_status
        self.code = code
        self.param = param
        self.request_id = request_id
        # Stripe's error `type` (`invalid_request_error`, `card_error`, `api_error` …) and the
        # whole error object, which names the object in question (e.g. `payment_intent`).
        self.error_type = error_type
        self.body: Mapping[str, Any] = body or {}

    @classmethod
    def _from_stripe(cls, operation: str, exc: stripe.StripeError, **extra: Any) -> Self:
        body = _error_object(exc)
        error = cls(
            operation,
            exc.user_message or str(exc) or type(exc).__name__,
            http_status=exc.http_status,
            code=exc.code,
            param=getattr(exc, "param", None),
            request_id=exc.request_id,
            error_type=body.get("type"),
            body=body,
            **extra,
        )
        return error

    def stripe_object_status(self, field: str) -> str | None:
        """The status of the object Stripe's error names (`payment_intent`, …), if it does."""
        found = self.body.get(field)
        status = found.get("status") if isinstance(found, Mapping) else None
        return status if isinstance(status, str) else None


class StripeUnavailable(StripeGatewayError):
    """Stripe was unreachable or failed; the same request may succeed later (same key)."""

    retryable = True


class StripeRequestRejected(StripeGatewayError):
    """Stripe refused the request; sending it again unchanged cannot succeed."""


class StripeCardDeclined(StripeRequestRejected):
    """The card was declined (HTTP 402). `decline_code` says why; the intent and the failed
    charge are named when Stripe names them."""

    def __init__(
        self,
        operation: str,
        message: str,
        *,
        decline_code: str | None = None,
        payment_intent_id: str | None = None,
        charge_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(operation, message, **kwargs)
        self.decline_code = decline_code
        self.payment_intent_id = payment_intent_id
        self.charge_id = charge_id


def _error_object(exc: stripe.StripeError) -> dict[str, Any]:
    """The `error` object of Stripe's response body (empty when there is none)."""
    body = exc.json_body.get("error") if isinstance(exc.json_body, dict) else None
    return body if isinstance(body, dict) else {}


def _map_error(operation: str, exc: stripe.StripeError) -> StripeGatewayError:
    if isinstance(exc, stripe.CardError):
        # The raw error body: Stripe names the decline code, the charge and the whole intent.
        body = _error_object(exc)
        intent = body.get("payment_intent")
        return StripeCardDeclined._from_stripe(
            operation,
            exc,
            decline_code=body.get("decline_code"),
            payment_intent_id=intent.get("id") if isinstance(intent, dict) else intent,
            charge_id=body.get("charge"),
        )
    if isinstance(exc, stripe.APIConnectionError | stripe.RateLimitError):
        return StripeUnavailable._from_stripe(operation, exc)
    if isinstance(
        exc,
        stripe.InvalidRequestError
        | stripe.IdempotencyError
        | stripe.AuthenticationError
        | stripe.PermissionError,
    ):
        return StripeRequestRejected._from_stripe(operation, exc)
    # APIError (5xx, or a 409 key still in use after the SDK's retries) and anything unknown:
    # retrying with the same idempotency key is always safe.
    return StripeUnavailable._from_stripe(operation, exc)


def _params(**values: Any) -> dict[str, Any]:
    """Request parameters without the ones left out (None): Stripe — and its fakes — refuse
    parameters they do not know, and an explicit empty value means something else.

    The SDK types each method's parameters as a TypedDict of its own; a dict built here is not
    one, so the calls that pass it carry `# type: ignore[arg-type]` (that mismatch only)."""
    return {k: v for k, v in values.items() if v is not None}


# --- the gateway --------------------------------------------------------------------------------


class StripeGateway:
    def __init__(self, settings: Settings, *, http_client: stripe.HTTPClient | None = None) -> None:
        self.api_base = settings.stripe_api_base
        self._http = http_client or stripe.HTTPXClient(timeout=settings.stripe_timeout_seconds)
        options: dict[str, Any] = {}
        if self.api_base is not None:
            base = self.api_base.rstrip("/")
            options["base_addresses"] = {"api": base, "connect": base, "files": base}
        self.client = stripe.StripeClient(
            settings.stripe_api_key.get_secret_value(),
            stripe_version=STRIPE_API_VERSION,
            max_network_retries=MAX_NETWORK_RETRIES,
            http_client=self._http,
            **options,
        )

    @property
    def uses_sandbox(self) -> bool:
        return self.api_base is not None

    async def aclose(self) -> None:
        # stripe's HTTPClient.close_async() carries no annotations (stripe 16).
        await self._http.close_async()  # type: ignore[no-untyped-call]

    async def _call(self, operation: str, call: Callable[[], Awaitable[T]]) -> T:
        try:
            return await call()
        except stripe.StripeError as exc:
            error = _map_error(operation, exc)
            logger.warning(
                "stripe %s failed: %s",
                operation,
                error.message,
                extra={
                    "stripe_operation": operation,
                    "stripe_status": error.http_status,
                    "stripe_code": error.code,
                    "stripe_request_id": error.request_id,
                },
            )
            raise error from exc

    @staticmethod
    def _post_options(key: str, stripe_account: str | None = None) -> stripe.RequestOptions:
        _check_key(key)
        options: stripe.RequestOptions = {"idempotency_key": key}
        if stripe_account is not None:
            options["stripe_account"] = stripe_account
        return options

    @staticmethod
    def _get_options(stripe_account: str | None = None) -> stripe.RequestOptions:
        return {} if stripe_account is None else {"stripe_account": stripe_account}

    # --- customers ------------------------------------------------------------------------

    async def create_customer(
        self,
        *,
        idempotency_key: str,
        email: str | None = None,
        name: str | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> stripe.Customer:
        params = _params(email=email, name=name, metadata=_metadata(metadata))
        options = self._post_options(idempotency_key)
        return await self._call(
            "create_customer",
            lambda: self.client.v1.customers.create_async(params, options),  # type: ignore[arg-type]
        )

    # --- connected accounts (Express) -----------------------------------------------------

    async def create_express_account(
        self,
        *,
        country: str,
        idempotency_key: str,
        email: str | None = None,
        metadata: Mapping[str, str] | None = None,
        service_agreement: str | None = None,
        payout_schedule: str | None = None,
    ) -> stripe.Account:
        """An Express account in `country` that can receive transfers (separate charges and
        transfers). `service_agreement="recipient"` for an account the platform pays across
        borders (it can receive transfers, never take payments); None: Stripe's `full`.
        `payout_schedule="manual"`: Stripe never pays the account out on its own (Rapport asks
        for each payout)."""
        params = _params(
            type="express",
            country=country,
            email=email,
            capabilities={"transfers": {"requested": True}},
            tos_acceptance={"service_agreement": service_agreement} if service_agreement else None,
            settings=(
                {"payouts": {"schedule": {"interval": payout_schedule}}}
                if payout_schedule
                else None
            ),
            metadata=_metadata(metadata),
        )
        options = self._post_options(idempotency_key)
        return await self._call(
            "create_express_account",
            lambda: self.client.v1.accounts.create_async(params, options),  # type: ignore[arg-type]
        )

    @overload
    async def find_by_metadata(
        self, resource: Literal["accounts"], key: str, value: str, *, max_objects: int = 1000
    ) -> stripe.Account | None: ...

    @overload
    async def find_by_metadata(
        self,
        resource: Literal["payment_intents"],
        key: str,
        value: str,
        *,
        max_objects: int = 1000,
    ) -> stripe.PaymentIntent | None: ...

    async def find_by_metadata(
        self,
        resource: Literal["accounts", "payment_intents"],
        key: str,
        value: str,
        *,
        max_objects: int = 1000,
    ) -> stripe.Account | stripe.PaymentIntent | None:
        """The newest platform `accounts` or `payment_intents` object whose `metadata[key]` is
        `value`, looking through the newest `max_objects` (Stripe lists newest first). How a
        create whose outcome is unknown — Stripe replays a stored 5xx under its idempotency key
        for 24 h — learns whether it happened: the object sought was made moments, at most a
        day, ago."""
        services: dict[str, stripe.AccountService | stripe.PaymentIntentService] = {
            "accounts": self.client.v1.accounts,
            "payment_intents": self.client.v1.payment_intents,
        }
        service = services[resource]

        async def call() -> stripe.Account | stripe.PaymentIntent | None:
            page = await service.list_async({"limit": 100})
            seen = 0
            async for found in page.auto_paging_iter():
                if (found.to_dict().get("metadata") or {}).get(key) == value:
                    return found
                seen += 1
                if seen >= max_objects:
                    return None
            return None

        return await self._call(f"find_{resource}", call)

    async def retrieve_account(self, account_id: str) -> stripe.Account:
        return await self._call(
            "retrieve_account", lambda: self.client.v1.accounts.retrieve_async(account_id)
        )

    async def create_account_link(
        self, *, account_id: str, refresh_url: str, return_url: str, idempotency_key: str
    ) -> stripe.AccountLink:
        """A one-time onboarding URL for the account (Stripe: valid for a few minutes)."""
        params = {
            "account": account_id,
            "type": "account_onboarding",
            "refresh_url": refresh_url,
            "return_url": return_url,
        }
        options = self._post_options(idempotency_key)
        return await self._call(
            "create_account_link",
            lambda: self.client.v1.account_links.create_async(params, options),  # type: ignore[arg-type]
        )

    # --- payments -------------------------------------------------------------------------

    async def create_payment_intent(
        self,
        *,
        amount: int,
        currency: str,
        idempotency_key: str,
        customer: str | None = None,
        payment_method: str | None = None,
        confirm: bool | None = None,
        off_session: bool | None = None,
        setup_future_usage: Literal["off_session", "on_session"] | None = None,
        transfer_group: str | None = None,
        description: str | None = None,
        metadata: Mapping[str, str] | None = None,
        payment_method_types: list[str] | None = None,
    ) -> stripe.PaymentIntent:
        """A PaymentIntent for `amount` minor units of `currency` (lower-cased for Stripe).
        With `confirm=True` and a `payment_method` it is charged at once; a decline raises
        `StripeCardDeclined`. `setup_future_usage="off_session"` (with a `customer`) saves the
        card the payer confirms with, for later charges; `off_session=True` (with `confirm`,
        the customer and a saved card) is such a later charge, made while the payer is away."""
        _check_amount(amount)
        params = _params(
            amount=amount,
            currency=currency.lower(),
            customer=customer,
            payment_method=payment_method,
            confirm=confirm,
            off_session=off_session,
            setup_future_usage=setup_future_usage,
            transfer_group=transfer_group,
            description=description,
            metadata=_metadata(metadata),
            payment_method_types=payment_method_types,
        )
        options = self._post_options(idempotency_key)
        return await self._call(
            "create_payment_intent",
            lambda: self.client.v1.payment_intents.create_async(params, options),  # type: ignore[arg-type]
        )

    async def confirm_payment_intent(
        self, payment_intent_id: str, *, idempotency_key: str, payment_method: str | None = None
    ) -> stripe.PaymentIntent:
        params = _params(payment_method=payment_method)
        options = self._post_options(idempotency_key)
        return await self._call(
            "confirm_payment_intent",
            lambda: self.client.v1.payment_intents.confirm_async(
                payment_intent_id,
                params,  # type: ignore[arg-type]
                options,
            ),
        )

    async def retrieve_payment_intent(self, payment_intent_id: str) -> stripe.PaymentIntent:
        return await self._call(
            "retrieve_payment_intent",
            lambda: self.client.v1.payment_intents.retrieve_async(payment_intent_id),
        )

    async def cancel_payment_intent(
        self, payment_intent_id: str, *, idempotency_key: str
    ) -> stripe.PaymentIntent:
        options = self._post_options(idempotency_key)
        return await self._call(
            "cancel_payment_intent",
            lambda: self.client.v1.payment_intents.cancel_async(
                payment_intent_id,
                None,
                options,
            ),
        )

    async def create_refund(
        self,
        *,
        idempotency_key: str,
        payment_intent: str | None = None,
        charge: str | None = None,
        amount: int | None = None,
        reason: str | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> stripe.Refund:
        """Refund `amount` (default: what remains) of a payment intent's charge, or a charge's."""
        if (payment_intent is None) == (charge is None):
            raise ValueError("refund exactly one of payment_intent or charge")
        if amount is not None:
            _check_amount(amount)
        params = _params(
            payment_intent=payment_intent,
            charge=charge,
            amount=amount,
            reason=reason,
            metadata=_metadata(metadata),
        )
        options = self._post_options(idempotency_key)
        return await self._call(
            "create_refund",
            lambda: self.client.v1.refunds.create_async(params, options),  # type: ignore[arg-type]
        )

    # --- transfers ------------------------------------------------------------------------

    async def create_transfer(
        self,
        *,
        amount: int,
        currency: str,
        destination: str,
        idempotency_key: str,
        transfer_group: str | None = None,
        source_transaction: str | None = None,
        description: str | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> stripe.Transfer:
        """Move `amount` from the platform to a connected account. `source_transaction` (the
        funding charge) ties the transfer to that charge's funds; `transfer_group` = contract."""
        _check_amount(amount)
        params = _params(
            amount=amount,
            currency=currency.lower(),
            destination=destination,
            transfer_group=transfer_group,
            source_transaction=source_transaction,
            description=description,
            metadata=_metadata(metadata),
        )
        options = self._post_options(idempotency_key)
        return await self._call(
            "create_transfer",
            lambda: self.client.v1.transfers.create_async(params, options),  # type: ignore[arg-type]
        )

    async def retrieve_transfer(self, transfer_id: str) -> stripe.Transfer:
        return await self._call(
            "retrieve_transfer", lambda: self.client.v1.transfers.retrieve_async(transfer_id)
        )

    async def list_transfers(
        self, *, transfer_group: str | None = None, destination: str | None = None
    ) -> list[stripe.Transfer]:
        """Every transfer of a group or to an account (all pages) — how a caller whose
        idempotency key may have expired finds what it already created."""
        params = _params(transfer_group=transfer_group, destination=destination, limit=100)

        async def call() -> list[stripe.Transfer]:
            page = await self.client.v1.transfers.list_async(params)  # type: ignore[arg-type]
            return [t async for t in page.auto_paging_iter()]

        return await self._call("list_transfers", call)

    async def create_transfer_reversal(
        self,
        transfer_id: str,
        *,
        idempotency_key: str,
        amount: int | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> stripe.TransferReversal:
        if amount is not None:
            _check_amount(amount)
        params = _params(amount=amount, metadata=_metadata(metadata))
        options = self._post_options(idempotency_key)
        return await self._call(
            "create_transfer_reversal",
            lambda: self.client.v1.transfers.reversals.create_async(
                transfer_id,
                params,  # type: ignore[arg-type]
                options,
            ),
        )

    # --- payouts and balances -------------------------------------------------------------

    async def create_payout(
        self,
        *,
        amount: int,
        currency: str,
        stripe_account: str,
        idempotency_key: str,
        metadata: Mapping[str, str] | None = None,
    ) -> stripe.Payout:
        """A payout from a connected account's balance to its bank account."""
        _check_amount(amount)
        params = _params(amount=amount, currency=currency.lower(), metadata=_metadata(metadata))
        options = self._post_options(idempotency_key, stripe_account)
        return await self._call(
            "create_payout",
            lambda: self.client.v1.payouts.create_async(params, options),  # type: ignore[arg-type]
        )

    async def retrieve_payout(
        self, payout_id: str, *, stripe_account: str | None = None
    ) -> stripe.Payout:
        options = self._get_options(stripe_account)
        return await self._call(
            "retrieve_payout",
            lambda: self.client.v1.payouts.retrieve_async(payout_id, None, options),
        )

    async def list_payouts(self, *, stripe_account: str, limit: int = 100) -> list[stripe.Payout]:
        """The account's most recent payouts (newest first, one page) — how a payout job whose
        answer was lost (a 5xx Stripe replays under the same key) finds what it created."""
        params = {"limit": limit}
        options = self._get_options(stripe_account)

        async def call() -> list[stripe.Payout]:
            page = await self.client.v1.payouts.list_async(params, options)  # type: ignore[arg-type]
            return list(page.data)

        return await self._call("list_payouts", call)

    async def retrieve_balance(self, *, stripe_account: str | None = None) -> stripe.Balance:
        options = self._get_options(stripe_account)
        return await self._call(
            "retrieve_balance",
            lambda: self.client.v1.balance.retrieve_async(None, options),
        )

    async def list_balance_transactions(
        self,
        *,
        stripe_account: str | None = None,
        type: str | None = None,
        source: str | None = None,
        currency: str | None = None,
        created_gte: int | None = None,
        created_lt: int | None = None,
    ) -> list[stripe.BalanceTransaction]:
        """Every matching balance transaction (all pages, newest first) — reconciliation."""
        created = _params(gte=created_gte, lt=created_lt) or None
        params = _params(
            type=type,
            source=source,
            currency=currency.lower() if currency else None,
            created=created,
            limit=100,
        )
        options = self._get_options(stripe_account)

        async def call() -> list[stripe.BalanceTransaction]:
            page = await self.client.v1.balance_transactions.list_async(params, options)  # type: ignore[arg-type]
            return [t async for t in page.auto_paging_iter()]

        return await self._call("list_balance_transactions", call)

    # --- events ---------------------------------------------------------------------------

    async def retrieve_event(self, event_id: str) -> stripe.Event:
        return await self._call(
            "retrieve_event", lambda: self.client.v1.events.retrieve_async(event_id)
        )


def _metadata(metadata: Mapping[str, str] | None) -> dict[str, str] | None:
    return {str(k): str(v) for k, v in metadata.items()} if metadata else None


def _check_amount(amount: int) -> None:
    # Money is integer minor units; a float or a bool here is a bug upstream.
    if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
        raise ValueError(f"amount must be a positive integer of minor units, not {amount!r}")
