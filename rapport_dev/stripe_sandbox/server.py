"""The HTTP face of the sandbox: Stripe's wire protocol on /v1, test controls on /_sandbox.

A /v1 request goes through the same stages as at Stripe, in this order:
authentication → routing → parameter validation against the spec (nothing stored on failure) →
idempotency (replay / conflict / in flight) → injected fault, if any → the operation itself →
storing the idempotent result → expansion → response.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from . import accounts, balances, disputes
from .faults import Fault, FaultSpecError, FaultStore, parse_fault
from .idempotency import IdempotencyStore, StoredResponse
from .options import build_options
from .payouts_schedule import PayoutSchedule, Ticker
from .persistence import StateFile
from .spec import API_VERSION, ParamError, compile_template, decode_form, get_spec, validate
from .state import PLATFORM_ACCOUNT_ID, Ctx, SandboxState, StripeApiError, new_id
from .versions import version_error
from .webhooks import INITIAL_BACKOFF_S, WebhookDispatcher

log = logging.getLogger(__name__)

Handler = Callable[[SandboxState, Ctx, dict[str, str], dict[str, Any]], dict[str, Any]]

# (method, spec path template, handler). The template must be the spec's own key for the
# operation: it is how the request's parameters are looked up for validation.
ROUTES: list[tuple[str, str, Handler]] = [
    ("POST", "/v1/customers", lambda s, c, a, p: s.create_customer(c, p)),
    ("GET", "/v1/customers", lambda s, c, a, p: s.list_customers(c, p)),
    ("GET", "/v1/customers/{customer}", lambda s, c, a, p: s.retrieve_customer(c, a["customer"])),
    (
        "POST",
        "/v1/customers/{customer}",
        lambda s, c, a, p: s.update_customer(c, a["customer"], p),
    ),
    ("POST", "/v1/payment_intents", lambda s, c, a, p: s.create_payment_intent(c, p)),
    ("GET", "/v1/payment_intents", lambda s, c, a, p: s.list_payment_intents(c, p)),
    (
        "GET",
        "/v1/payment_intents/{intent}",
        lambda s, c, a, p: s.retrieve_payment_intent(c, a["intent"]),
    ),
    (
        "POST",
        "/v1/payment_intents/{intent}",
        lambda s, c, a, p: s.update_payment_intent(c, a["intent"], p),
    ),
    (
        "POST",
        "/v1/payment_intents/{intent}/confirm",
        lambda s, c, a, p: s.confirm_payment_intent(c, a["intent"], p),
    ),
    (
        "POST",
        "/v1/payment_intents/{intent}/cancel",
        lambda s, c, a, p: s.cancel_payment_intent(c, a["intent"], p),
    ),
    ("GET", "/v1/charges", lambda s, c, a, p: s.list_charges(c, p)),
    ("GET", "/v1/charges/{charge}", lambda s, c, a, p: s.retrieve_charge(c, a["charge"])),
    ("POST", "/v1/refunds", lambda s, c, a, p: s.create_refund(c, p)),
    ("GET", "/v1/refunds", lambda s, c, a, p: s.list_refunds(c, p)),
    ("GET", "/v1/refunds/{refund}", lambda s, c, a, p: s.retrieve_refund(c, a["refund"])),
    ("POST", "/v1/accounts", lambda s, c, a, p: s.create_account(c, p)),
    ("GET", "/v1/accounts", lambda s, c, a, p: s.list_accounts(c, p)),
    ("GET", "/v1/account", lambda s, c, a, p: s.retrieve_account(c, None)),
    ("GET", "/v1/accounts/{account}", lambda s, c, a, p: s.retrieve_account(c, a["account"])),
    (
        "POST",
        "/v1/accounts/{account}",
        lambda s, c, a, p: s.update_account(c, a["account"], p),
    ),
    ("POST", "/v1/account_links", lambda s, c, a, p: s.create_account_link(c, p)),
    ("POST", "/v1/transfers", lambda s, c, a, p: s.create_transfer(c, p)),
    ("GET", "/v1/transfers", lambda s, c, a, p: s.list_transfers(c, p)),
    ("GET", "/v1/transfers/{transfer}", lambda s, c, a, p: s.retrieve_transfer(c, a["transfer"])),
    (
        "POST",
        "/v1/transfers/{id}/reversals",
        lambda s, c, a, p: s.create_transfer_reversal(c, a["id"], p),
    ),
    (
        "GET",
        "/v1/transfers/{id}/reversals",
        lambda s, c, a, p: s.list_transfer_reversals(c, a["id"], p),
    ),
    (
        "GET",
        "/v1/transfers/{transfer}/reversals/{id}",
        lambda s, c, a, p: s.retrieve_transfer_reversal(c, a["transfer"], a["id"]),
    ),
    ("POST", "/v1/payouts", lambda s, c, a, p: s.create_payout(c, p)),
    ("GET", "/v1/payouts", lambda s, c, a, p: s.list_payouts(c, p)),
    ("GET", "/v1/payouts/{payout}", lambda s, c, a, p: s.retrieve_payout(c, a["payout"])),
    ("GET", "/v1/balance", lambda s, c, a, p: s.balance(c)),
    ("GET", "/v1/balance_transactions", lambda s, c, a, p: s.list_balance_transactions(c, p)),
    (
        "GET",
        "/v1/balance_transactions/{id}",
        lambda s, c, a, p: s.retrieve_balance_transaction(c, a["id"]),
    ),
    ("GET", "/v1/disputes", lambda s, c, a, p: s.list_disputes(c, p)),
    ("GET", "/v1/disputes/{dispute}", lambda s, c, a, p: s.retrieve_dispute(c, a["dispute"])),
    (
        "POST",
        "/v1/disputes/{dispute}",
        lambda s, c, a, p: disputes.submit_evidence(
            s,
            c,
            a["dispute"],
            evidence=p.get("evidence"),
            metadata=p.get("metadata"),
            submit=bool(p.get("submit")),
        ),
    ),
    (
        "POST",
        "/v1/disputes/{dispute}/close",
        lambda s, c, a, p: disputes.accept(s, c, a["dispute"]),
    ),
    ("GET", "/v1/events", lambda s, c, a, p: s.list_events(c, p)),
    ("GET", "/v1/events/{id}", lambda s, c, a, p: s.retrieve_event(c, a["id"])),
]

# Literal paths before templated ones, so /v1/account never reads as /v1/accounts/{account}.
_COMPILED = sorted(
    ((method, *compile_template(template), handler) for method, template, handler in ROUTES),
    key=lambda r: (len(r[3]), -len(r[2])),
)


@dataclass
class Sandbox:
    """Everything one sandbox instance holds; `app.state.sandbox` for in-process access."""

    state: SandboxState
    faults: FaultStore
    idempotency: IdempotencyStore
    webhooks: WebhookDispatcher
    schedule: PayoutSchedule
    state_file: StateFile | None = None

    def reset(self) -> None:
        self.faults.clear()
        self.idempotency.clear()
        self.webhooks.clear()
        self.state.clock.reset()
        self.state.reset()
        self.schedule.rebase()

    def save(self) -> None:
        """Write the whole state to the state file, if there is one (persistence.py). Called
        after every request that may have changed something, before it is answered."""
        if self.state_file is not None:
            self.state_file.save(self)

    def set_clock(self, now: float) -> None:
        """Jump to `now`: pending webhook retries keep their remaining wait, the payout
        schedule starts again from the new present (no catch-up)."""
        before = self.state.clock.time()
        self.state.clock.set(now)
        self.webhooks.shift(self.state.clock.time() - before)
        self.schedule.rebase()

    def advance_clock(self, seconds: float) -> int:
        """Move forward, doing everything that falls due on the way (payouts_schedule.py);
        webhook retries that fell due go out at once."""
        now = self.schedule.advance(seconds)
        self.webhooks.poke()
        return now


def _error(status: int, message: str, **fields: Any) -> dict[str, Any]:
    return StripeApiError(status, message, **fields).body()


def _api_key(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    scheme, _, value = auth.partition(" ")
    if scheme.lower() == "bearer":
        return value.strip() or None
    if scheme.lower() == "basic":
        # curl -u sk_test_...: sends "key:" base64-encoded.
        try:
            return base64.b64decode(value.strip()).decode("utf-8").split(":", 1)[0] or None
        except (binascii.Error, UnicodeDecodeError):
            return None
    return None


def _redact(key: str) -> str:
    return f"{key[:8]}{'*' * 4}{key[-4:]}" if len(key) > 12 else "****"


class _ApiHandler:
    def __init__(self, sandbox: Sandbox) -> None:
        self.sb = sandbox

    async def __call__(self, request: Request) -> Response:
        request_id = new_id("req", 14)
        method = request.method.upper()
        path = request.url.path
        idem_key = request.headers.get("idempotency-key") if method == "POST" else None
        headers = {"Request-Id": request_id, "Stripe-Version": API_VERSION}
        if idem_key:
            headers["Idempotency-Key"] = idem_key

        def reply(status: int, body: dict[str, Any], **extra: str) -> Response:
            return JSONResponse(body, status_code=status, headers={**headers, **extra})

        key = _api_key(request)
        if key is None:
            return reply(
                401,
                _error(
                    401,
                    "You did not provide an API key. You need to provide your API key in the "
                    "Authorization header, using Bearer auth (e.g. 'Authorization: Bearer "
                    "YOUR_SECRET_KEY').",
                ),
            )
        if not key.startswith("sk_test_"):
            return reply(401, _error(401, f"Invalid API Key provided: {_redact(key)}"))
        refused_version = version_error(request.headers.get("stripe-version"))
        if refused_version is not None:
            return reply(400, _error(400, refused_version))

        account = request.headers.get("stripe-account") or PLATFORM_ACCOUNT_ID
        if account != PLATFORM_ACCOUNT_ID and not self.sb.state.account_exists(account):
            return reply(
                403,
                _error(
                    403,
                    f"The provided key '{_redact(key)}' does not have access to account "
                    f"'{account}' (or that account does not exist). Application access may "
                    f"have been revoked.",
                    code="account_invalid",
                ),
            )

        route = next(
            (
                (template, m.groupdict(), handler)
                for rmethod, regex, template, _names, handler in _COMPILED
                if rmethod == method and (m := regex.fullmatch(path))
            ),
            None,
        )
        spec = get_spec()
        if route is None:
            known = spec.match(method, path) is not None
            suffix = " (the Rapport Stripe sandbox does not implement it)" if known else ""
            return reply(
                404,
                _error(404, f"Unrecognized request URL ({method}: {path}).{suffix}"),
            )
        template, path_params, handler = route

        # Decode and validate. Failing here means the request never began executing, so per
        # Stripe's rules nothing is stored under its idempotency key.
        try:
            pairs = parse_qsl(request.url.query, keep_blank_values=True)
            if method == "POST":
                body = (await request.body()).decode("utf-8")
                pairs += parse_qsl(body, keep_blank_values=True)
            raw = decode_form(pairs)
            op = spec.operation(method, template)
            assert op is not None, f"route {method} {template} is not in the spec"
            schema = op.body_schema if method == "POST" else op.query_schema
            params = validate(spec, schema, raw)
        except ParamError as exc:
            return reply(400, _error(400, exc.message, param=exc.param, code=exc.code))
        except UnicodeDecodeError:
            return reply(400, _error(400, "The request body is not valid UTF-8."))

        endpoint = f"{method} {path}"
        if idem_key:
            begun = self.sb.idempotency.begin(
                account, idem_key, endpoint, raw, self.sb.state.clock.now()
            )
            if begun.outcome == "replay":
                stored = begun.response
                assert stored is not None
                return reply(
                    stored.status,
                    stored.body,
                    **{"Idempotent-Replayed": "true", "Original-Request": stored.request_id},
                )
            if begun.outcome == "in_flight":
                return reply(
                    409,
                    _error(
                        409,
                        f"There is currently another in-progress request using this "
                        f"Idempotent Key (that probably means you submitted twice, and the "
                        f"other request is still going through): {idem_key}. Please try again "
                        f"later.",
                        type="idempotency_error",
                        code="idempotency_key_in_use",
                    ),
                )
            if begun.outcome == "endpoint_mismatch":
                return reply(
                    400,
                    _error(
                        400,
                        f"Keys for idempotent requests can only be used for the same endpoint "
                        f"they were first used for ('{begun.original_endpoint}' vs "
                        f"'{endpoint}'). Try using a key other than '{idem_key}' if you meant "
                        f"to execute a different request.",
                        type="idempotency_error",
                    ),
                )
            if begun.outcome == "params_mismatch":
                return reply(
                    400,
                    _error(
                        400,
                        f"Keys for idempotent requests can only be used with the same "
                        f"parameters they were first used with. Try using a key other than "
                        f"'{idem_key}' if you meant to execute a different request.",
                        type="idempotency_error",
                    ),
                )

        fault = self.sb.faults.take(method, path)
        if fault is not None and fault.mode == "error_before_apply":
            if idem_key:
                self.sb.idempotency.abort(account, idem_key)
            return reply(500, self._fault_body(fault))
        if fault is not None and fault.mode == "delay_before_apply":
            await asyncio.sleep(fault.delay_s)

        ctx = Ctx(
            account=account,
            request_id=request_id,
            idempotency_key=idem_key,
            base_url=str(request.base_url).rstrip("/"),
        )
        try:
            status, out = 200, handler(self.sb.state, ctx, path_params, params)
            if params.get("expand"):
                out = self.sb.state.expand(out, params["expand"])
        except StripeApiError as exc:
            status, out = exc.status, exc.body()
        except Exception:
            # A sandbox bug: answer like Stripe's own 500, and let a retry execute for real.
            log.exception("stripe sandbox failed on %s", endpoint)
            if idem_key:
                self.sb.idempotency.abort(account, idem_key)
            return reply(500, _error(500, "An unknown error occurred", type="api_error"))

        failed_after = fault is not None and fault.mode == "error_after_apply"
        if idem_key:
            # Stripe saves the response of a request that began executing, whatever it was —
            # a 500 too, replayed for the key's 24 hours; except when the 500 stands for an
            # answer lost on the way (`answer_lost_after_apply`): Stripe saved the result.
            stored = StoredResponse(status, out, request_id)
            if failed_after:
                assert fault is not None
                stored = StoredResponse(500, self._fault_body(fault), request_id)
            self.sb.idempotency.complete(account, idem_key, stored)
        if method == "POST":
            self.sb.save()  # before answering: what a client was told is on disk
        if fault is not None and fault.mode in ("error_after_apply", "answer_lost_after_apply"):
            return reply(500, self._fault_body(fault))
        if fault is not None and fault.mode == "timeout_after_apply":
            await asyncio.sleep(fault.delay_s)
        return reply(status, out)

    @staticmethod
    def _fault_body(fault: Fault) -> dict[str, Any]:
        return _error(
            500,
            f"An unknown error occurred (injected by the Rapport Stripe sandbox: {fault.mode}).",
            type="api_error",
        )


# --- control endpoints --------------------------------------------------------------------------


async def _json(request: Request) -> dict[str, Any]:
    body = await request.body()
    if not body.strip():
        return {}
    data = json.loads(body)
    if not isinstance(data, dict):
        raise ValueError("expected a JSON object")
    return data


def _control(fn: Callable[[Sandbox, Request, dict[str, Any]], Any]) -> Callable[..., Any]:
    """Wrap a control endpoint: JSON in, JSON out, Stripe-shaped errors."""

    async def endpoint(request: Request) -> Response:
        sandbox: Sandbox = request.app.state.sandbox
        try:
            data = await _json(request) if request.method in ("POST", "PUT") else {}
            result = fn(sandbox, request, data)
            if asyncio.iscoroutine(result):
                result = await result
        except StripeApiError as exc:
            return JSONResponse(exc.body(), status_code=exc.status)
        except (ValueError, FaultSpecError, TypeError) as exc:
            return JSONResponse(_error(400, str(exc)), status_code=400)
        if request.method != "GET" or request.url.path.startswith("/_sandbox/onboarding/"):
            sandbox.save()
        if isinstance(result, Response):
            return result
        return JSONResponse(result)

    return endpoint


def _reset(sb: Sandbox, request: Request, data: dict[str, Any]) -> dict[str, Any]:
    sb.reset()
    return {"reset": True, "platform_account": sb.state.platform_id}


def _add_fault(sb: Sandbox, request: Request, data: dict[str, Any]) -> dict[str, Any]:
    sb.faults.add(parse_fault(data))
    return {"faults": sb.faults.list()}


def _list_faults(sb: Sandbox, request: Request, data: dict[str, Any]) -> dict[str, Any]:
    return {"faults": sb.faults.list()}


def _clear_faults(sb: Sandbox, request: Request, data: dict[str, Any]) -> dict[str, Any]:
    sb.faults.clear()
    return {"faults": []}


def _clock(sb: Sandbox, request: Request, data: dict[str, Any]) -> dict[str, Any]:
    clock = sb.state.clock
    if request.method == "POST":
        if data.get("reset"):
            sb.set_clock(clock.time() - clock.offset)
        if "now" in data:
            sb.set_clock(float(data["now"]))
        if "advance" in data:
            seconds = float(data["advance"])
            if seconds < 0:
                raise ValueError("'advance' moves forward only; set 'now' to go back")
            sb.advance_clock(seconds)
    return {"now": clock.now()}


def _webhook_config(sb: Sandbox, request: Request, data: dict[str, Any]) -> dict[str, Any]:
    if request.method == "POST":
        sb.webhooks.configure(data.get("url"), data.get("secret"))
    return {"url": sb.webhooks.url, "enabled": sb.webhooks.enabled}


def _deliveries(sb: Sandbox, request: Request, data: dict[str, Any]) -> dict[str, Any]:
    # Every attempt made (with `next_attempt_at` when it is retried, `gave_up` after the last),
    # and what is still to be delivered.
    return {"deliveries": list(sb.webhooks.deliveries), "pending": sb.webhooks.pending()}


async def _wait_webhooks(sb: Sandbox, request: Request, data: dict[str, Any]) -> dict[str, Any]:
    idle = await run_in_threadpool(sb.webhooks.wait_idle, float(data.get("timeout_s", 10)))
    return {"idle": idle}


def _resend(sb: Sandbox, request: Request, data: dict[str, Any]) -> dict[str, Any]:
    event = sb.state.event_for_resend(request.path_params["id"])
    return {"queued": sb.webhooks.enqueue(event), "event": event["id"]}


def _events(sb: Sandbox, request: Request, data: dict[str, Any]) -> dict[str, Any]:
    return {"data": sb.state.all_events()}


def _complete_onboarding(sb: Sandbox, request: Request, data: dict[str, Any]) -> dict[str, Any]:
    hold = data.get("capabilities") == "pending"
    return sb.state.complete_onboarding(request.path_params["id"], hold_capabilities=hold)


def _activate_capabilities(sb: Sandbox, request: Request, data: dict[str, Any]) -> dict[str, Any]:
    with sb.state._lock:
        acct = sb.state._connected(request.path_params["id"], None, 404)
        accounts.activate(sb.state, acct)
        return sb.state.render(acct["id"])


def _require_information(sb: Sandbox, request: Request, data: dict[str, Any]) -> dict[str, Any]:
    return sb.state.require_information(request.path_params["id"], data.get("fields"))


def _follow_link(sb: Sandbox, request: Request, data: dict[str, Any]) -> Any:
    redirect, account = sb.state.follow_account_link(request.path_params["token"])
    if redirect is None and account is None:
        return JSONResponse(_error(404, "No such account link."), status_code=404)
    if redirect:
        return RedirectResponse(redirect, status_code=303)
    return account


def _pay_payout(sb: Sandbox, request: Request, data: dict[str, Any]) -> dict[str, Any]:
    return sb.state.settle_payout(request.path_params["id"], paid=True)


def _decline_payment_method(sb: Sandbox, request: Request, data: dict[str, Any]) -> dict[str, Any]:
    return sb.state.decline_payment_method(
        request.path_params["id"], data.get("decline_code") or "expired_card"
    )


def _fail_payout(sb: Sandbox, request: Request, data: dict[str, Any]) -> dict[str, Any]:
    return sb.state.settle_payout(
        request.path_params["id"],
        paid=False,
        failure_code=data.get("failure_code"),
        failure_message=data.get("failure_message"),
    )


def _dispute(sb: Sandbox, request: Request, data: dict[str, Any]) -> dict[str, Any]:
    amount = data.get("amount")
    if amount is not None and (not isinstance(amount, int) or isinstance(amount, bool)):
        raise ValueError("'amount' must be an integer")
    return sb.state.create_dispute(
        request.path_params["id"],
        reason=data.get("reason") or "fraudulent",
        amount=amount,
        kind=data.get("kind") or "chargeback",
    )


def _close_dispute(sb: Sandbox, request: Request, data: dict[str, Any]) -> dict[str, Any]:
    return sb.state.close_dispute(request.path_params["id"], outcome=data.get("outcome"))


def _escalate_dispute(sb: Sandbox, request: Request, data: dict[str, Any]) -> dict[str, Any]:
    return disputes.escalate(sb.state, request.path_params["id"])


def _submit_dispute(sb: Sandbox, request: Request, data: dict[str, Any]) -> dict[str, Any]:
    return disputes.submit_evidence(
        sb.state, None, request.path_params["id"], evidence=data.get("evidence")
    )


def _options(sb: Sandbox, request: Request, data: dict[str, Any]) -> dict[str, Any]:
    if request.method == "POST":
        with sb.state._lock:
            sb.state.options = build_options(sb.state.options, data)
            balances.apply_platform_options(sb.state)
    return sb.state.options.to_dict()


def create_sandbox_app(
    webhook_url: str | None = None,
    webhook_secret: str | None = None,
    *,
    webhook_max_attempts: int | None = None,
    webhook_initial_backoff_s: float = INITIAL_BACKOFF_S,
    webhook_signing_clock: str = "sandbox",
    options: dict[str, Any] | None = None,
    state_path: str | os.PathLike[str] | None = None,
) -> Starlette:
    """A sandbox as an ASGI app. Events go to `webhook_url` signed with `webhook_secret` when
    both are given (or later, via POST /_sandbox/webhook); failed deliveries are retried on
    Stripe's schedule (webhooks.py; `webhook_max_attempts` caps the attempts, the initial
    backoff doubles). `options`: how strict it is (options.py; reset restores them).
    `state_path`: a file holding the whole state (persistence.py), loaded if it exists and
    rewritten after every change; None (the default) keeps everything in memory."""
    state = SandboxState(options=options)
    sandbox: Sandbox | None = None

    def save() -> None:
        if sandbox is not None:
            sandbox.save()

    dispatcher = WebhookDispatcher(
        webhook_url,
        webhook_secret,
        max_attempts=webhook_max_attempts,
        initial_backoff_s=webhook_initial_backoff_s,
        on_delivered=state.mark_delivered,
        now=state.clock.time,
        signing_clock=webhook_signing_clock,
        on_change=save,
    )
    state.webhooks_enabled = lambda: dispatcher.enabled
    state.on_event = dispatcher.enqueue
    sandbox = Sandbox(
        state,
        FaultStore(),
        IdempotencyStore(),
        dispatcher,
        PayoutSchedule(state),
        StateFile(state_path) if state_path is not None else None,
    )
    if sandbox.state_file is not None:
        sandbox.state_file.load(sandbox)
    ticker = Ticker(sandbox.schedule, save)
    api_handler = _ApiHandler(sandbox)

    async def api(request: Request) -> Response:
        # A plain function, so Starlette calls it with a Request rather than as an ASGI app.
        return await api_handler(request)

    routes = [
        Route("/_sandbox/reset", _control(_reset), methods=["POST"]),
        Route("/_sandbox/faults", _control(_add_fault), methods=["POST"]),
        Route("/_sandbox/faults", _control(_list_faults), methods=["GET"]),
        Route("/_sandbox/faults", _control(_clear_faults), methods=["DELETE"]),
        Route("/_sandbox/clock", _control(_clock), methods=["GET", "POST"]),
        Route("/_sandbox/webhook", _control(_webhook_config), methods=["GET", "POST"]),
        Route("/_sandbox/webhook/deliveries", _control(_deliveries), methods=["GET"]),
        Route("/_sandbox/webhook/wait", _control(_wait_webhooks), methods=["POST"]),
        Route("/_sandbox/events", _control(_events), methods=["GET"]),
        Route("/_sandbox/events/{id}/resend", _control(_resend), methods=["POST"]),
        Route(
            "/_sandbox/accounts/{id}/complete_onboarding",
            _control(_complete_onboarding),
            methods=["POST"],
        ),
        Route(
            "/_sandbox/accounts/{id}/require_information",
            _control(_require_information),
            methods=["POST"],
        ),
        Route("/_sandbox/onboarding/{token}", _control(_follow_link), methods=["GET"]),
        Route("/_sandbox/payouts/{id}/pay", _control(_pay_payout), methods=["POST"]),
        Route(
            "/_sandbox/payment_methods/{id}/decline",
            _control(_decline_payment_method),
            methods=["POST"],
        ),
        Route("/_sandbox/payouts/{id}/fail", _control(_fail_payout), methods=["POST"]),
        Route("/_sandbox/charges/{id}/dispute", _control(_dispute), methods=["POST"]),
        Route("/_sandbox/disputes/{id}/close", _control(_close_dispute), methods=["POST"]),
        Route("/_sandbox/disputes/{id}/escalate", _control(_escalate_dispute), methods=["POST"]),
        Route("/_sandbox/disputes/{id}/submit", _control(_submit_dispute), methods=["POST"]),
        Route("/_sandbox/options", _control(_options), methods=["GET", "POST"]),
        Route(
            "/_sandbox/accounts/{id}/activate_capabilities",
            _control(_activate_capabilities),
            methods=["POST"],
        ),
        Route("/v1/{rest:path}", api, methods=["GET", "POST", "DELETE"]),
    ]

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # Load the 4 MB spec before the first request rather than during it.
        await run_in_threadpool(get_spec)
        ticker.start()
        dispatcher.start()  # deliveries restored from the state file go out again
        yield
        ticker.stop()
        dispatcher.stop()
        save()

    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.sandbox = sandbox
    return app


def run_sandbox(
    host: str = "127.0.0.1",
    port: int = 12111,
    webhook_url: str | None = None,
    webhook_secret: str | None = None,
    *,
    state_path: str | os.PathLike[str] | None = None,
    webhook_signing_clock: str = "sandbox",
) -> None:
    """Serve a sandbox until interrupted (the `rapport stripe-sandbox` command)."""
    import uvicorn

    app = create_sandbox_app(
        webhook_url,
        webhook_secret,
        state_path=state_path,
        webhook_signing_clock=webhook_signing_clock,
    )
    uvicorn.run(app, host=host, port=port, log_level="info")
