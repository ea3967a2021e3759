"""The sandbox's in-memory Stripe: objects, money movements and the business rules around them.

Everything is kept as the JSON dicts Stripe would return (built from Stripe's own fixtures), plus
a few indexes. Fields that Stripe computes on read (a charge's refunds list, a payment intent's
charges, a balance transaction's status) are filled in by `render`, so stored objects never go
stale. One re-entrant lock guards the whole store: requests are tiny and correctness (no
double-refund, no overdrawn balance under concurrency) matters more than parallelism here.

Money is always integer minor units of the currency; conversions (settlement, fx.py) go
through each currency's exponent, so zero-decimal currencies (jpy, krw) need nothing special.

Balances are derived from balance transactions, as in Stripe: every money movement writes one
per affected account (charge +, refund -, transfer - on the platform and payment + on the
destination, reversal the other way, payout -, payout failure +, dispute -). By default, as at
Stripe US, a charge pays Stripe's fees and its funds are pending for 2 days (options.py; KIND:
no fees, available at once).
"""

from __future__ import annotations

import copy
import fnmatch
import itertools
import secrets
import string
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from . import accounts, balances, disputes
from .options import SandboxOptions, build_options
from .spec import API_VERSION, fixture
from .versions import event_types

PLATFORM_ACCOUNT_ID = "acct_1RapportSandboxPlatfrm"

_ALNUM = string.ascii_letters + string.digits


def new_id(prefix: str, length: int = 24) -> str:
    return f"{prefix}_{''.join(secrets.choice(_ALNUM) for _ in range(length))}"


class StripeApiError(Exception):
    """An error response in Stripe's shape: {"error": {"type", "message", "param", "code"}}."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",  # Stripe's own field name
        param: str | None = None,
        code: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error: dict[str, Any] = {"type": type, "message": message}
        if param is not None:
            self.error["param"] = param
        if code is not None:
            self.error["code"] = code
            self.error["doc_url"] = f"https://stripe.com/docs/error-codes/{code.replace('_', '-')}"
        if extra:
            self.error.update(extra)

    def body(self) -> dict[str, Any]:
        return {"error": self.error}


def _invalid(
    message: str,
    param: str | None = None,
    code: str | None = None,
    extra: dict[str, Any] | None = None,
) -> StripeApiError:
    return StripeApiError(400, message, param=param, code=code, extra=extra)


class Clock:
    """Wall-clock time plus an adjustable offset (`/_sandbox/clock`); time keeps flowing."""

    def __init__(self) -> None:
        self._offset = 0.0

    def now(self) -> int:
        return int(time.time() + self._offset)

    def time(self) -> float:
        """`now` with sub-second precision (webhook retry schedules)."""
        return time.time() + self._offset

    @property
    def offset(self) -> float:
        """Seconds ahead of wall-clock time (saved with the sandbox's state)."""
        return self._offset

    @offset.setter
    def offset(self, value: float) -> None:
        self._offset = value

    def set(self, now: float) -> None:
        self._offset = now - time.time()

    def advance(self, seconds: float) -> None:
        self._offset += seconds

    def reset(self) -> None:
        self._offset = 0.0


@dataclass
class Ctx:
    """Who is asking: the account acted on (platform or Stripe-Account) and request identifiers."""

    account: str
    request_id: str | None = None
    idempotency_key: str | None = None
    base_url: str = ""


@dataclass(frozen=True)
class TestCard:
    brand: str
    last4: str
    funding: str = "credit"
    country: str = "US"
    decline_code: str | None = None  # None: the charge succeeds
    error_code: str = "card_declined"
    message: str = "Your card was declined."


_DECLINED = TestCard("visa", "0002", decline_code="generic_decline")
_NO_FUNDS = TestCard(
    "visa", "9995", decline_code="insufficient_funds", message="Your card has insufficient funds."
)
_EXPIRED = TestCard(
    "visa",
    "0069",
    decline_code="expired_card",
    error_code="expired_card",
    message="Your card has expired.",
)
_BAD_CVC = TestCard(
    "visa",
    "0127",
    decline_code="incorrect_cvc",
    error_code="incorrect_cvc",
    message="Your card's security code is incorrect.",
)
_PROCESSING = TestCard(
    "visa",
    "0119",
    decline_code="processing_error",
    error_code="processing_error",
    message="An error occurred while processing your card. Try again in a little bit.",
)

# Stripe's documented test PaymentMethod shortcuts that the sandbox understands.
TEST_PAYMENT_METHODS: dict[str, TestCard] = {
    "pm_card_visa": TestCard("visa", "4242"),
    "pm_card_visa_debit": TestCard("visa", "5556", funding="debit"),
    "pm_card_mastercard": TestCard("mastercard", "4444"),
    "pm_card_amex": TestCard("amex", "8431"),
    "pm_card_bypassPending": TestCard("visa", "0077"),
    "pm_card_jp": TestCard("visa", "0003", country="JP"),
    "pm_card_chargeDeclined": _DECLINED,
    "pm_card_visa_chargeDeclined": _DECLINED,
    "pm_card_chargeDeclinedInsufficientFunds": _NO_FUNDS,
    "pm_card_visa_chargeDeclinedInsufficientFunds": _NO_FUNDS,
    "pm_card_chargeDeclinedExpiredCard": _EXPIRED,
    "pm_card_visa_chargeDeclinedExpiredCard": _EXPIRED,
    "pm_card_chargeDeclinedIncorrectCvc": _BAD_CVC,
    "pm_card_visa_chargeDeclinedIncorrectCvc": _BAD_CVC,
    "pm_card_chargeDeclinedProcessingError": _PROCESSING,
    "pm_card_visa_chargeDeclinedProcessingError": _PROCESSING,
}

_EUR_COUNTRIES = "AT BE CY DE EE ES FI FR GR HR IE IT LT LU LV MT NL PT SI SK".split()
COUNTRY_CURRENCY: dict[str, str] = {
    **{c: "eur" for c in _EUR_COUNTRIES},
    "US": "usd",
    "GB": "gbp",
    "JP": "jpy",
    "KR": "krw",
    "CA": "cad",
    "AU": "aud",
    "NZ": "nzd",
    "CH": "chf",
    "SE": "sek",
    "NO": "nok",
    "DK": "dkk",
    "PL": "pln",
    "SG": "sgd",
    "HK": "hkd",
    "MX": "mxn",
    "BR": "brl",
    "IN": "inr",
}

# What a freshly created connected account still has to provide (Stripe asks for more or less
# depending on country and capabilities; the exact list does not matter to the application).
ONBOARDING_REQUIREMENTS = [
    "business_profile.mcc",
    "business_profile.url",
    "business_type",
    "external_account",
    "individual.first_name",
    "individual.last_name",
    "tos_acceptance.date",
    "tos_acceptance.ip",
]

PAYOUT_FAILURE_MESSAGES: dict[str, str] = {
    "account_closed": "The bank account has been closed.",
    "account_frozen": "The bank account has been frozen.",
    "bank_account_restricted": "The bank account has restrictions on either the type, or the "
    "number, of payouts allowed.",
    "could_not_process": "The bank could not process this payout.",
    "insufficient_funds": "Your Stripe account has insufficient funds to cover the payout.",
    "invalid_account_number": "The routing number seems correct, but the account number is "
    "invalid.",
    "no_account": "The bank account details on file are probably incorrect. No bank account "
    "could be located with those details.",
}

MAX_AMOUNT = 99_999_999


def _empty_requirements(currently_due: list[str] | None = None) -> dict[str, Any]:
    due = list(currently_due or [])
    return {
        "alternatives": [],
        "current_deadline": None,
        "currently_due": due,
        "disabled_reason": "requirements.past_due" if due else None,
        "errors": [],
        "eventually_due": list(due),
        "past_due": list(due),
        "pending_verification": [],
    }


def merge_metadata(existing: dict[str, str], new: Any) -> dict[str, str]:
    """Stripe's metadata update rules: "" clears everything, a key set to "" is removed."""
    if new is None:
        return dict(existing)
    if new == "":
        return {}
    out = dict(existing)
    for key, value in new.items():
        if value == "":
            out.pop(key, None)
            continue
        if len(key) > 40:
            raise _invalid(
                f"Metadata keys can have up to 40 characters, but you passed in a key that is "
                f"{len(key)} characters. Invalid key: '{key}'",
                param=f"metadata[{key}]",
            )
        if len(value) > 500:
            raise _invalid(
                f"Metadata values can have up to 500 characters, but you passed in a value that "
                f"is {len(value)} characters.",
                param=f"metadata[{key}]",
            )
        out[key] = value
    if len(out) > 50:
        raise _invalid("You can have up to 50 metadata keys.", param="metadata")
    return out


class SandboxState:
    def __init__(
        self, clock: Clock | None = None, options: SandboxOptions | dict[str, Any] | None = None
    ) -> None:
        self.clock = clock or Clock()
        self._lock = threading.RLock()
        # Strictness options (options.py): `reset` restores these, the ones given at creation.
        self.initial_options = (
            options if isinstance(options, SandboxOptions) else build_options(None, options or {})
        )
        self.options = build_options(self.initial_options, {})
        # Hooks set by the server: whether an endpoint is listening, and where events go.
        self.webhooks_enabled: Callable[[], bool] = lambda: False
        self.on_event: Callable[[dict[str, Any]], None] | None = None
        self.reset()

    # --- storage ------------------------------------------------------------------------------

    def reset(self) -> None:
        with self._lock:
            self._objects: dict[str, dict[str, Any]] = {}
            self._owner: dict[str, str] = {}
            self._seq: dict[str, int] = {}
            self._counter = itertools.count()
            self._by_type: dict[str, list[str]] = defaultdict(list)
            # Child lists rendered into their parent: ("refunds", ch_...) -> [re_...].
            self._children: dict[tuple[str, str], list[str]] = defaultdict(list)
            self._txns: dict[str, list[str]] = defaultdict(list)  # account -> txn ids
            self._cards: dict[str, TestCard] = {}  # pm_... created here -> its behaviour
            self._account_links: dict[str, dict[str, Any]] = {}
            self.options = build_options(self.initial_options, {})
            self._create_platform()
            balances.apply_platform_options(self)

    def _store(self, obj: dict[str, Any], owner: str) -> dict[str, Any]:
        obj_id = obj["id"]
        self._objects[obj_id] = obj
        self._owner[obj_id] = owner
        self._seq[obj_id] = next(self._counter)
        self._by_type[obj["object"]].append(obj_id)
        return obj

    def _get(
        self,
        obj_id: Any,
        kind: str,
        owner: str | None,
        param: str | None = None,
        *,
        status: int = 404,
        label: str | None = None,
    ) -> dict[str, Any]:
        """An object of `kind` visible to `owner` (None: any owner), else Stripe's "No such"."""
        obj = self._objects.get(obj_id) if isinstance(obj_id, str) else None
        if obj is None or obj["object"] != kind or (owner and self._owner[obj_id] != owner):
            raise StripeApiError(
                status,
                f"No such {label or kind}: '{obj_id}'",
                param=param,
                code="resource_missing",
            )
        return obj

    def owner_of(self, obj_id: str) -> str | None:
        with self._lock:
            return self._owner.get(obj_id)

    def account_exists(self, account_id: str) -> bool:
        with self._lock:
            obj = self._objects.get(account_id)
            return obj is not None and obj["object"] == "account"

    @property
    def platform_id(self) -> str:
        return PLATFORM_ACCOUNT_ID

    # --- rendering ----------------------------------------------------------------------------

    def _list_of(self, ids: list[str], url: str) -> dict[str, Any]:
        data = [self._render(i) for i in sorted(ids, key=self._seq.__getitem__, reverse=True)]
        return {
            "object": "list",
            "data": data,
            "has_more": False,
            "total_count": len(data),
            "url": url,
        }

    def _render(self, obj_id: str) -> dict[str, Any]:
        obj = copy.deepcopy(self._objects[obj_id])
        kind = obj["object"]
        if kind == "payment_intent":
            obj["charges"] = self._list_of(
                self._children[("charges", obj_id)], f"/v1/charges?payment_intent={obj_id}"
            )
        elif kind == "charge":
            obj["refunds"] = self._list_of(
                self._children[("refunds", obj_id)], f"/v1/charges/{obj_id}/refunds"
            )
        elif kind == "transfer":
            obj["reversals"] = self._list_of(
                self._children[("reversals", obj_id)], f"/v1/transfers/{obj_id}/reversals"
            )
        elif kind == "account":
            obj["external_accounts"] = self._list_of(
                self._children[("external_accounts", obj_id)],
                f"/v1/accounts/{obj_id}/external_accounts",
            )
        elif kind == "balance_transaction":
            obj["status"] = "available" if obj["available_on"] <= self.clock.now() else "pending"
        elif kind == "dispute":
            disputes.render(self, obj)
        return obj

    def render(self, obj_id: str) -> dict[str, Any]:
        with self._lock:
            return self._render(obj_id)

    def expand(self, body: dict[str, Any], paths: list[str]) -> dict[str, Any]:
        """Replace id strings by the objects they name, along dotted `expand[]` paths."""
        with self._lock:
            for path in paths:
                self._expand_path(body, path.split("."), path)
        return body

    def _expand_path(self, node: Any, parts: list[str], full: str) -> None:
        if not parts or node is None:
            return
        if isinstance(node, list):
            for item in node:
                self._expand_path(item, parts, full)
            return
        head, rest = parts[0], parts[1:]
        if not isinstance(node, dict) or head not in node:
            raise _invalid(f"This property cannot be expanded ({full}).", param="expand")
        value = node[head]
        if isinstance(value, str):
            if value not in self._objects:
                raise _invalid(f"This property cannot be expanded ({full}).", param="expand")
            node[head] = value = self._render(value)
        elif value is not None and not isinstance(value, dict | list):
            raise _invalid(f"This property cannot be expanded ({full}).", param="expand")
        self._expand_path(value, rest, full)

    # --- events -------------------------------------------------------------------------------

    def _emit(
        self,
        ctx: Ctx | None,
        event_type: str,
        obj_id: str,
        *,
        owner: str | None = None,
        previous: dict[str, Any] | None = None,
        data_object: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """`data_object`: the event's object when it is not a stored one (a capability)."""
        if event_type not in event_types():
            # Only what API version 2020-08-27 has (versions.py): a sandbox bug, never sent.
            raise RuntimeError(f"{event_type!r} is not an event type of API {API_VERSION}")
        owner = owner or self._owner.get(obj_id, PLATFORM_ACCOUNT_ID)
        event: dict[str, Any] = {
            "id": new_id("evt"),
            "object": "event",
            "api_version": API_VERSION,
            "created": self.clock.now(),
            "data": {"object": data_object if data_object is not None else self._render(obj_id)},
            "livemode": False,
            "pending_webhooks": 1 if self.webhooks_enabled() else 0,
            "request": {
                "id": ctx.request_id if ctx else None,
                "idempotency_key": ctx.idempotency_key if ctx else None,
            },
            "type": event_type,
        }
        if previous:
            event["data"]["previous_attributes"] = previous
        if owner != PLATFORM_ACCOUNT_ID:
            # Connect events carry the connected account they happened on.
            event["account"] = owner
        self._store(event, owner)
        if self.on_event is not None:
            self.on_event(copy.deepcopy(event))
        return event

    def mark_delivered(self, event_id: str) -> None:
        with self._lock:
            event = self._objects.get(event_id)
            if event is not None:
                event["pending_webhooks"] = 0

    def event_for_resend(self, event_id: str) -> dict[str, Any]:
        with self._lock:
            return copy.deepcopy(self._get(event_id, "event", None, "id"))

    # --- money --------------------------------------------------------------------------------

    def _txn(
        self,
        owner: str,
        txn_type: str,
        amount: int,
        currency: str,
        source: str,
        *,
        reporting_category: str,
        description: str | None = None,
        fee: int = 0,
        fee_details: list[dict[str, Any]] | None = None,
        exchange_rate: float | None = None,
        available_on: int | None = None,
    ) -> str:
        now = self.clock.now()
        txn = fixture("balance_transaction")
        txn.update(
            id=new_id("txn"),
            amount=amount,
            available_on=now if available_on is None else available_on,
            created=now,
            currency=currency,
            description=description,
            exchange_rate=exchange_rate,
            fee=fee,
            fee_details=fee_details or [],
            net=amount - fee,
            reporting_category=reporting_category,
            source=source,
            status="available",
            type=txn_type,
        )
        self._store(txn, owner)
        self._txns[owner].append(txn["id"])
        return txn["id"]

    def _balances(self, owner: str) -> dict[str, dict[str, int]]:
        now = self.clock.now()
        sums: dict[str, dict[str, int]] = {}
        for txn_id in self._txns[owner]:
            txn = self._objects[txn_id]
            bucket = sums.setdefault(txn["currency"], {"available": 0, "pending": 0})
            bucket["available" if txn["available_on"] <= now else "pending"] += txn["net"]
        return sums

    def _available(self, owner: str, currency: str) -> int:
        return self._balances(owner).get(currency, {}).get("available", 0)

    @staticmethod
    def _amount(value: Any, param: str = "amount") -> int:
        if not isinstance(value, int) or value < 1:
            raise _invalid(
                "This value must be greater than or equal to 1.",
                param=param,
                code="parameter_invalid_integer",
            )
        if value > MAX_AMOUNT:
            raise _invalid(
                f"Amount must be no more than {MAX_AMOUNT}", param=param, code="amount_too_large"
            )
        return value

    @staticmethod
    def _currency(value: Any) -> str:
        cur = value.lower() if isinstance(value, str) else ""
        if len(cur) != 3 or not cur.isalpha() or not cur.isascii():
            raise _invalid(f"Invalid currency: {value}", param="currency")
        return cur

    @staticmethod
    def _not_simulated(params: dict[str, Any], *names: str) -> None:
        for name in names:
            if params.get(name) not in (None, False, ""):
                raise _invalid(
                    f"The Rapport Stripe sandbox does not simulate '{name}'.",
                    param=name,
                    code="sandbox_unsupported",
                )

    def _list(
        self,
        kind: str,
        owner: str,
        params: dict[str, Any],
        url: str,
        predicate: Callable[[dict[str, Any]], bool] | None = None,
    ) -> dict[str, Any]:
        ids = [
            i
            for i in self._by_type[kind]
            if self._owner[i] == owner and (predicate is None or predicate(self._objects[i]))
        ]
        created = params.get("created")
        if isinstance(created, int):
            ids = [i for i in ids if self._objects[i]["created"] == created]
        elif isinstance(created, dict):
            ops = {
                "gt": lambda a, b: a > b,
                "gte": lambda a, b: a >= b,
                "lt": lambda a, b: a < b,
                "lte": lambda a, b: a <= b,
            }
            for op, bound in created.items():
                ids = [i for i in ids if ops[op](self._objects[i]["created"], bound)]
        ids.sort(key=self._seq.__getitem__, reverse=True)  # newest first, like Stripe
        limit = params.get("limit", 10)
        if not 1 <= limit <= 100:
            raise _invalid("Invalid limit: must be between 1 and 100", param="limit")
        if params.get("starting_after"):
            cursor = params["starting_after"]
            if cursor not in ids:
                raise _invalid(
                    f"No such {kind}: '{cursor}'", param="starting_after", code="resource_missing"
                )
            page = ids[ids.index(cursor) + 1 :]
            has_more = len(page) > limit
            page = page[:limit]
        elif params.get("ending_before"):
            cursor = params["ending_before"]
            if cursor not in ids:
                raise _invalid(
                    f"No such {kind}: '{cursor}'", param="ending_before", code="resource_missing"
                )
            before = ids[: ids.index(cursor)]
            has_more = len(before) > limit
            page = before[-limit:]
        else:
            has_more = len(ids) > limit
            page = ids[:limit]
        return {
            "object": "list",
            "data": [self._render(i) for i in page],
            "has_more": has_more,
            "url": url,
        }

    # --- platform & accounts ------------------------------------------------------------------

    def _create_platform(self) -> None:
        acct = fixture("account")
        acct.update(
            id=PLATFORM_ACCOUNT_ID,
            business_profile={**acct["business_profile"], "name": "Rapport (sandbox platform)"},
            capabilities={"card_payments": "active", "transfers": "active"},
            charges_enabled=True,
            payouts_enabled=True,
            details_submitted=True,
            email="platform@rapport.invalid",
            requirements=_empty_requirements(),
            created=self.clock.now(),
        )
        self._store(acct, PLATFORM_ACCOUNT_ID)
        self._add_bank_account(PLATFORM_ACCOUNT_ID, "US", "usd")

    def _add_bank_account(self, account_id: str, country: str, currency: str) -> str:
        bank = {
            "id": new_id("ba"),
            "object": "bank_account",
            "account": account_id,
            "account_holder_name": None,
            "account_holder_type": None,
            "account_type": None,
            "available_payout_methods": ["standard"],
            "bank_name": "STRIPE TEST BANK",
            "country": country,
            "currency": currency,
            "default_for_currency": True,
            "fingerprint": secrets.token_hex(8),
            "last4": "6789",
            "metadata": {},
            "routing_number": "110000000",
            "status": "new",
        }
        self._store(bank, account_id)
        self._children[("external_accounts", account_id)].append(bank["id"])
        return bank["id"]

    def _require_platform(self, ctx: Ctx, what: str) -> None:
        if ctx.account != PLATFORM_ACCOUNT_ID:
            raise StripeApiError(
                403,
                f"Only the platform can {what} (drop the Stripe-Account header).",
                type="invalid_request_error",
            )

    def _connected(self, account_id: Any, param: str | None, status: int) -> dict[str, Any]:
        acct = self._get(account_id, "account", PLATFORM_ACCOUNT_ID, param, status=status)
        if acct["id"] == PLATFORM_ACCOUNT_ID:
            raise StripeApiError(status, f"No such account: '{account_id}'", param=param)
        return acct

    def create_account(self, ctx: Ctx, p: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            self._require_platform(ctx, "create connected accounts")
            # Stripe's default: the platform's country.
            country = (p.get("country") or self.options.platform_country).upper()
            accounts.check_new_account(self, country, p)
            currency = p.get("default_currency") or COUNTRY_CURRENCY.get(country, "usd")
            requested = {
                name: "inactive"
                for name, setting in (p.get("capabilities") or {}).items()
                if setting.get("requested")
            }
            acct = fixture("account")
            acct.update(
                id=new_id("acct", 16),
                business_profile={**acct["business_profile"], **(p.get("business_profile") or {})},
                business_type=p.get("business_type"),
                capabilities=requested,
                charges_enabled=False,
                controller={"is_controller": True, "type": "application"},
                country=country,
                created=self.clock.now(),
                default_currency=self._currency(currency),
                details_submitted=False,
                email=p.get("email"),
                future_requirements=_empty_requirements(),
                metadata=merge_metadata({}, p.get("metadata")),
                payouts_enabled=False,
                requirements=_empty_requirements(ONBOARDING_REQUIREMENTS),
                tos_acceptance={
                    "date": None,
                    "ip": None,
                    "service_agreement": (p.get("tos_acceptance") or {}).get("service_agreement")
                    or "full",
                    "user_agent": None,
                },
                type=p.get("type") or "standard",
            )
            # e.g. settings.payouts.schedule.interval=manual: no automatic payouts.
            for section, values in (p.get("settings") or {}).items():
                acct["settings"][section] = {**acct["settings"].get(section, {}), **values}
            self._store(acct, PLATFORM_ACCOUNT_ID)
            return self._render(acct["id"])

    def retrieve_account(self, ctx: Ctx, account_id: str | None) -> dict[str, Any]:
        with self._lock:
            if account_id is None or account_id == ctx.account:
                return self._render(ctx.account)
            self._require_platform(ctx, "retrieve other accounts")
            return self._render(self._connected(account_id, "account", 404)["id"])

    def list_accounts(self, ctx: Ctx, p: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            self._require_platform(ctx, "list connected accounts")
            return self._list(
                "account",
                PLATFORM_ACCOUNT_ID,
                p,
                "/v1/accounts",
                lambda a: a["id"] != PLATFORM_ACCOUNT_ID,
            )

    def update_account(self, ctx: Ctx, account_id: str, p: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            self._require_platform(ctx, "update connected accounts")
            acct = self._connected(account_id, "account", 404)
            before = copy.deepcopy(acct)
            for field in ("email", "business_type", "default_currency"):
                if field in p:
                    acct[field] = p[field] or None
            if "business_profile" in p:
                acct["business_profile"] = {**acct["business_profile"], **p["business_profile"]}
            if "settings" in p:
                for section, values in p["settings"].items():
                    acct["settings"][section] = {**acct["settings"].get(section, {}), **values}
            if "tos_acceptance" in p:
                acct["tos_acceptance"] = {**acct["tos_acceptance"], **p["tos_acceptance"]}
            for name, setting in (p.get("capabilities") or {}).items():
                if setting.get("requested"):
                    acct["capabilities"].setdefault(name, "inactive")
                else:
                    acct["capabilities"].pop(name, None)
            acct["metadata"] = merge_metadata(acct["metadata"], p.get("metadata"))
            self._emit_account_updated(ctx, acct, before)
            return self._render(acct["id"])

    def _emit_account_updated(
        self, ctx: Ctx | None, acct: dict[str, Any], before: dict[str, Any]
    ) -> None:
        previous = {k: v for k, v in before.items() if acct.get(k) != v}
        if previous:
            self._emit(ctx, "account.updated", acct["id"], owner=acct["id"], previous=previous)

    def complete_onboarding(
        self, account_id: str, *, hold_capabilities: bool = False
    ) -> dict[str, Any]:
        """What finishing Stripe's hosted onboarding does: everything submitted and verified
        (with `strict_accounts`, capabilities through `pending`: accounts.py)."""
        with self._lock:
            acct = self._connected(account_id, None, 404)
            if self.options.capability_review or hold_capabilities:
                accounts.complete_onboarding(self, acct, hold_capabilities=hold_capabilities)
                return self._render(acct["id"])
            if self.options.strict_accounts:
                accounts.complete_onboarding_at_once(self, acct)
                return self._render(acct["id"])
            before = copy.deepcopy(acct)
            acct.update(
                details_submitted=True,
                charges_enabled=True,
                payouts_enabled=True,
                requirements=_empty_requirements(),
                capabilities={name: "active" for name in acct["capabilities"]},
                tos_acceptance={
                    "date": self.clock.now(),
                    "ip": "127.0.0.1",
                    "user_agent": "Rapport Stripe sandbox",
                },
            )
            if not self._children[("external_accounts", acct["id"])]:
                self._add_bank_account(acct["id"], acct["country"], acct["default_currency"])
            self._emit_account_updated(None, acct, before)
            return self._render(acct["id"])

    def require_information(self, account_id: str, fields: list[str] | None) -> dict[str, Any]:
        """Stripe asking a verified account for more information: payouts stop until provided."""
        with self._lock:
            acct = self._connected(account_id, None, 404)
            before = copy.deepcopy(acct)
            acct.update(
                payouts_enabled=False,
                requirements=_empty_requirements(fields or ["individual.verification.document"]),
            )
            self._emit_account_updated(None, acct, before)
            return self._render(acct["id"])

    def create_account_link(self, ctx: Ctx, p: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            self._require_platform(ctx, "create account links")
            acct = self._connected(p["account"], "account", 400)
            now = self.clock.now()
            token = secrets.token_urlsafe(16)
            self._account_links[token] = {
                "account": acct["id"],
                "return_url": p.get("return_url"),
                "refresh_url": p.get("refresh_url"),
                "expires_at": now + 300,
            }
            link = fixture("account_link")
            link.update(
                created=now,
                expires_at=now + 300,
                url=f"{ctx.base_url}/_sandbox/onboarding/{token}",
            )
            return link

    def follow_account_link(self, token: str) -> tuple[str | None, dict[str, Any] | None]:
        """Visiting an onboarding link: completes onboarding, answers (redirect URL, account)."""
        with self._lock:
            link = self._account_links.get(token)
            if link is None:
                return None, None
            if link["expires_at"] < self.clock.now() or link.get("used"):
                # Expired, or (strict accounts) already visited: Stripe's links are single-use.
                return link["refresh_url"], None
            link["used"] = self.options.strict_accounts
            return link["return_url"], self.complete_onboarding(link["account"])

    # --- customers ----------------------------------------------------------------------------

    _CUSTOMER_FIELDS = ("address", "description", "email", "name", "phone", "shipping", "balance")

    def create_customer(self, ctx: Ctx, p: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            cus = fixture("customer")
            cus.update(
                id=new_id("cus", 14),
                created=self.clock.now(),
                currency=None,
                invoice_prefix=secrets.token_hex(4).upper(),
                metadata=merge_metadata({}, p.get("metadata")),
                preferred_locales=p.get("preferred_locales") or [],
            )
            for field in self._CUSTOMER_FIELDS:
                if field in p:
                    cus[field] = p[field] if p[field] != "" else None
            self._store(cus, ctx.account)
            self._emit(ctx, "customer.created", cus["id"])
            return self._render(cus["id"])

    def retrieve_customer(self, ctx: Ctx, customer_id: str) -> dict[str, Any]:
        with self._lock:
            return self._render(self._get(customer_id, "customer", ctx.account, "id")["id"])

    def update_customer(self, ctx: Ctx, customer_id: str, p: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            cus = self._get(customer_id, "customer", ctx.account, "id")
            before = copy.deepcopy(cus)
            for field in self._CUSTOMER_FIELDS:
                if field in p:
                    cus[field] = p[field] if p[field] != "" else None
            cus["metadata"] = merge_metadata(cus["metadata"], p.get("metadata"))
            previous = {k: v for k, v in before.items() if cus.get(k) != v}
            if previous:
                self._emit(ctx, "customer.updated", cus["id"], previous=previous)
            return self._render(cus["id"])

    def list_customers(self, ctx: Ctx, p: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            email = p.get("email")
            return self._list(
                "customer",
                ctx.account,
                p,
                "/v1/customers",
                lambda c: email is None or c["email"] == email,
            )

    # --- payment intents & charges ------------------------------------------------------------

    def _payment_method(self, value: Any) -> tuple[str, TestCard]:
        """Turn a test shortcut (pm_card_visa) into a fresh pm_ id, as Stripe does."""
        if isinstance(value, str) and value in self._cards:
            return value, self._cards[value]
        card = TEST_PAYMENT_METHODS.get(value) if isinstance(value, str) else None
        if card is None:
            raise _invalid(
                f"No such PaymentMethod: '{value}'", param="payment_method", code="resource_missing"
            )
        pm = fixture("payment_method")
        pm.update(
            id=new_id("pm"),
            billing_details={
                "address": {
                    "city": None,
                    "country": None,
                    "line1": None,
                    "line2": None,
                    "postal_code": None,
                    "state": None,
                },
                "email": None,
                "name": None,
                "phone": None,
            },
            created=self.clock.now(),
            metadata={},
        )
        pm["card"].update(
            brand=card.brand,
            country=card.country,
            funding=card.funding,
            last4=card.last4,
            fingerprint=secrets.token_hex(8),
            exp_year=time.gmtime().tm_year + 3,
            networks={"available": [card.brand], "preferred": None},
        )
        self._store(pm, PLATFORM_ACCOUNT_ID)
        self._cards[pm["id"]] = card
        return pm["id"], card

    def decline_payment_method(self, pm_id: str, decline_code: str) -> dict[str, Any]:
        """Test control: from now on every charge of this PaymentMethod is declined with
        `decline_code` — a saved card that expired, was cancelled or ran out of funds since it
        was first charged (what Stripe's `pm_card_chargeCustomerFail` does from the start)."""
        with self._lock:
            self._get(pm_id, "payment_method", None, label="PaymentMethod")
            template = next(
                (c for c in TEST_PAYMENT_METHODS.values() if c.decline_code == decline_code), None
            )
            if template is None:
                known = sorted({c.decline_code for c in TEST_PAYMENT_METHODS.values()} - {None})
                raise ValueError(f"'decline_code' must be one of {', '.join(known)}")
            self._cards[pm_id] = replace(
                self._cards[pm_id],
                decline_code=template.decline_code,
                error_code=template.error_code,
                message=template.message,
            )
            return self._render(pm_id)

    def create_payment_intent(self, ctx: Ctx, p: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            self._not_simulated(p, "transfer_data", "application_fee_amount", "on_behalf_of")
            if p.get("capture_method") == "manual":
                raise _invalid(
                    "The Rapport Stripe sandbox does not simulate capture_method=manual.",
                    param="capture_method",
                    code="sandbox_unsupported",
                )
            amount = self._amount(p["amount"])
            currency = self._currency(p["currency"])
            balances.settle_charge(self, amount, currency)  # refuses a currency without a rate
            if p.get("customer"):
                self._get(p["customer"], "customer", ctx.account, "customer", status=400)
            pm_id = None
            if p.get("payment_method"):
                pm_id = self._payment_method(p["payment_method"])[0]
            pi_id = new_id("pi")
            pi = fixture("payment_intent")
            del pi["charges"]  # rendered from the charges created for it
            apm = p.get("automatic_payment_methods")
            pi.update(
                id=pi_id,
                amount=amount,
                automatic_payment_methods={"enabled": apm["enabled"]} if apm else None,
                canceled_at=None,
                client_secret=f"{pi_id}_secret_{secrets.token_urlsafe(18)}",
                confirmation_method=p.get("confirmation_method", "automatic"),
                created=self.clock.now(),
                currency=currency,
                customer=p.get("customer"),
                description=p.get("description"),
                latest_charge=None,
                metadata=merge_metadata({}, p.get("metadata")),
                payment_method=pm_id,
                payment_method_types=p.get("payment_method_types") or ["card"],
                receipt_email=p.get("receipt_email"),
                setup_future_usage=p.get("setup_future_usage"),
                statement_descriptor=p.get("statement_descriptor"),
                statement_descriptor_suffix=p.get("statement_descriptor_suffix"),
                status="requires_confirmation" if pm_id else "requires_payment_method",
                transfer_group=p.get("transfer_group"),
            )
            self._store(pi, ctx.account)
            self._emit(ctx, "payment_intent.created", pi_id)
            if p.get("confirm"):
                self._confirm(ctx, pi, {})
            return self._render(pi_id)

    def retrieve_payment_intent(self, ctx: Ctx, pi_id: str) -> dict[str, Any]:
        with self._lock:
            return self._render(self._get(pi_id, "payment_intent", ctx.account, "intent")["id"])

    def list_payment_intents(self, ctx: Ctx, p: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            customer = p.get("customer")
            return self._list(
                "payment_intent",
                ctx.account,
                p,
                "/v1/payment_intents",
                lambda pi: customer is None or pi["customer"] == customer,
            )

    def update_payment_intent(self, ctx: Ctx, pi_id: str, p: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            self._not_simulated(p, "transfer_data", "application_fee_amount")
            pi = self._get(pi_id, "payment_intent", ctx.account, "intent")
            mutable = pi["status"] in ("requires_payment_method", "requires_confirmation")
            for field in ("amount", "currency", "customer", "payment_method"):
                if field in p and not mutable:
                    raise _invalid(
                        f"You cannot update {field} on a PaymentIntent with status {pi['status']}.",
                        param=field,
                        code="payment_intent_unexpected_state",
                    )
            if "amount" in p:
                pi["amount"] = self._amount(p["amount"])
            if "currency" in p:
                pi["currency"] = self._currency(p["currency"])
            if p.get("customer"):
                self._get(p["customer"], "customer", ctx.account, "customer", status=400)
                pi["customer"] = p["customer"]
            if p.get("payment_method"):
                pi["payment_method"] = self._payment_method(p["payment_method"])[0]
                pi["status"] = "requires_confirmation"
            for field in ("description", "receipt_email", "transfer_group", "statement_descriptor"):
                if field in p:
                    pi[field] = p[field] or None
            pi["metadata"] = merge_metadata(pi["metadata"], p.get("metadata"))
            return self._render(pi_id)

    def confirm_payment_intent(self, ctx: Ctx, pi_id: str, p: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            pi = self._get(pi_id, "payment_intent", ctx.account, "intent")
            self._confirm(ctx, pi, p)
            return self._render(pi_id)

    def _confirm(self, ctx: Ctx, pi: dict[str, Any], p: dict[str, Any]) -> None:
        confirmable = ("requires_payment_method", "requires_confirmation", "requires_action")
        if pi["status"] not in confirmable:
            raise _invalid(
                f"You cannot confirm this PaymentIntent because it has a status of "
                f"{pi['status']}. Only a PaymentIntent with one of the following statuses may be "
                f"confirmed: {', '.join(confirmable)}.",
                code="payment_intent_unexpected_state",
                extra={"payment_intent": self._render(pi["id"])},
            )
        if p.get("payment_method"):
            pi["payment_method"] = self._payment_method(p["payment_method"])[0]
        if "receipt_email" in p:
            pi["receipt_email"] = p["receipt_email"] or None
        if not pi["payment_method"]:
            raise _invalid(
                "You cannot confirm this PaymentIntent because it's missing a payment method. "
                "Update the PaymentIntent with a payment method and then confirm it again.",
                code="payment_intent_unexpected_state",
                extra={"payment_intent": self._render(pi["id"])},
            )
        pm_id = pi["payment_method"]
        card = self._cards[pm_id]
        ok = card.decline_code is None
        charge = self._create_charge(ctx, pi, pm_id, card, ok)
        pi["latest_charge"] = charge["id"]
        self._children[("charges", pi["id"])].append(charge["id"])
        if ok:
            pi.update(status="succeeded", amount_received=pi["amount"], last_payment_error=None)
            self._emit(ctx, "charge.succeeded", charge["id"])
            self._emit(ctx, "payment_intent.succeeded", pi["id"])
            return
        error = {
            "charge": charge["id"],
            "code": card.error_code,
            "decline_code": card.decline_code,
            "doc_url": f"https://stripe.com/docs/error-codes/{card.error_code.replace('_', '-')}",
            "message": card.message,
            "payment_method": self._render(pm_id),
            "type": "card_error",
        }
        # A declined attempt detaches the payment method: the customer must supply another.
        pi.update(status="requires_payment_method", last_payment_error=error, payment_method=None)
        self._emit(ctx, "charge.failed", charge["id"])
        self._emit(ctx, "payment_intent.payment_failed", pi["id"])
        raise StripeApiError(
            402,
            card.message,
            type="card_error",
            code=card.error_code,
            extra={
                "decline_code": card.decline_code,
                "charge": charge["id"],
                "payment_intent": self._render(pi["id"]),
                "payment_method": self._render(pm_id),
            },
        )

    def _create_charge(
        self, ctx: Ctx, pi: dict[str, Any], pm_id: str, card: TestCard, ok: bool
    ) -> dict[str, Any]:
        charge = fixture("charge")
        del charge["refunds"]  # rendered from the refunds list
        ch_id = new_id("ch")
        card_details = charge["payment_method_details"]["card"]
        card_details.update(
            brand=card.brand,
            country=card.country,
            funding=card.funding,
            last4=card.last4,
            network=card.brand,
            fingerprint=self._objects[pm_id]["card"]["fingerprint"],
            exp_year=self._objects[pm_id]["card"]["exp_year"],
        )
        charge.update(
            id=ch_id,
            amount=pi["amount"],
            amount_captured=pi["amount"] if ok else 0,
            amount_refunded=0,
            balance_transaction=None,
            billing_details=self._objects[pm_id]["billing_details"],
            captured=ok,
            created=self.clock.now(),
            currency=pi["currency"],
            customer=pi["customer"],
            description=pi["description"],
            disputed=False,
            failure_code=None if ok else card.error_code,
            failure_message=None if ok else card.message,
            metadata=dict(pi["metadata"]),
            outcome={
                "network_status": "approved_by_network" if ok else "declined_by_network",
                "reason": None if ok else card.decline_code,
                "risk_level": "normal",
                "risk_score": 20,
                "seller_message": "Payment complete."
                if ok
                else "The bank did not return any further details with this decline.",
                "type": "authorized" if ok else "issuer_declined",
            },
            paid=ok,
            payment_intent=pi["id"],
            payment_method=pm_id,
            receipt_email=pi["receipt_email"],
            receipt_url=None,
            refunded=False,
            status="succeeded" if ok else "failed",
            transfer_group=pi["transfer_group"],
        )
        owner = self._owner[pi["id"]]
        self._store(charge, owner)
        if ok:
            # Settled in the platform's currency (balances.py), less Stripe's fee, pending
            # until the availability delay has passed.
            settled = balances.settle_charge(self, pi["amount"], pi["currency"])
            fee, fee_details = balances.card_fee(self, settled)
            charge["balance_transaction"] = self._txn(
                owner,
                "charge",
                settled.amount,
                settled.currency,
                ch_id,
                reporting_category="charge",
                description=pi["description"],
                fee=fee,
                fee_details=fee_details,
                exchange_rate=settled.exchange_rate,
                available_on=balances.charge_available_on(self, charge["created"]),
            )
        return charge

    def cancel_payment_intent(self, ctx: Ctx, pi_id: str, p: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            pi = self._get(pi_id, "payment_intent", ctx.account, "intent")
            cancelable = (
                "requires_payment_method",
                "requires_capture",
                "requires_confirmation",
                "requires_action",
                "processing",
            )
            if pi["status"] not in cancelable:
                raise _invalid(
                    f"You cannot cancel this PaymentIntent because it has a status of "
                    f"{pi['status']}. Only a PaymentIntent with one of the following statuses "
                    f"may be canceled: {', '.join(cancelable)}.",
                    code="payment_intent_unexpected_state",
                    extra={"payment_intent": self._render(pi_id)},
                )
            pi.update(
                status="canceled",
                canceled_at=self.clock.now(),
                cancellation_reason=p.get("cancellation_reason"),
            )
            self._emit(ctx, "payment_intent.canceled", pi_id)
            return self._render(pi_id)

    def retrieve_charge(self, ctx: Ctx, charge_id: str) -> dict[str, Any]:
        with self._lock:
            return self._render(self._get(charge_id, "charge", ctx.account, "charge")["id"])

    def list_charges(self, ctx: Ctx, p: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            filters = {k: p[k] for k in ("customer", "payment_intent", "transfer_group") if k in p}
            return self._list(
                "charge",
                ctx.account,
                p,
                "/v1/charges",
                lambda c: all(c.get(k) == v for k, v in filters.items()),
            )

    # --- refunds ------------------------------------------------------------------------------

    def create_refund(self, ctx: Ctx, p: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            self._not_simulated(p, "reverse_transfer", "refund_application_fee")
            charge_id = p.get("charge")
            if p.get("payment_intent"):
                pi = self._get(
                    p["payment_intent"], "payment_intent", ctx.account, "payment_intent", status=400
                )
                if pi["status"] != "succeeded":
                    raise _invalid(
                        f"This PaymentIntent ({pi['id']}) does not have a successful charge to "
                        f"refund.",
                        param="payment_intent",
                        code="charge_not_refundable",
                    )
                if charge_id and charge_id != pi["latest_charge"]:
                    raise _invalid(
                        f"Charge {charge_id} does not belong to PaymentIntent {pi['id']}.",
                        param="charge",
                    )
                charge_id = pi["latest_charge"]
            if not charge_id:
                raise _invalid(
                    "One of the following params should be provided for this request: "
                    "payment_intent or charge.",
                    code="parameter_missing",
                )
            charge = self._get(charge_id, "charge", ctx.account, "charge", status=400)
            if charge["status"] != "succeeded":
                raise _invalid(
                    f"Charge {charge_id} has not succeeded and cannot be refunded.",
                    param="charge",
                    code="charge_not_refundable",
                )
            if disputes.blocks_refund(self, charge):
                raise _invalid(
                    f"Charge {charge_id} has been charged back; cannot issue a refund.",
                    code="charge_disputed",
                )
            remaining = charge["amount"] - charge["amount_refunded"]
            if remaining <= 0:
                raise _invalid(
                    f"Charge {charge_id} has already been refunded.",
                    code="charge_already_refunded",
                )
            amount = self._amount(p["amount"]) if "amount" in p else remaining
            if amount > remaining:
                raise _invalid(
                    f"Refund amount ({amount} {charge['currency']}) is greater than unrefunded "
                    f"amount on charge ({remaining} {charge['currency']})",
                    param="amount",
                    code="amount_too_large",
                )
            owner = self._owner[charge_id]
            refund = fixture("refund")
            refund.update(
                id=new_id("re"),
                amount=amount,
                charge=charge_id,
                created=self.clock.now(),
                currency=charge["currency"],
                metadata=merge_metadata({}, p.get("metadata")),
                payment_intent=charge["payment_intent"],
                reason=p.get("reason"),
                status="succeeded",
            )
            self._store(refund, owner)
            # In the charge's settlement currency at its rate; Stripe keeps the charge's fee.
            # Out of the charge's pending funds while they are pending, else the available ones.
            charge_txn = self._objects[charge["balance_transaction"]]
            refund["balance_transaction"] = self._txn(
                owner,
                "refund",
                -balances.convert_like(charge_txn, amount, charge["currency"]),
                charge_txn["currency"],
                refund["id"],
                reporting_category="refund",
                description="REFUND FOR CHARGE",
                exchange_rate=charge_txn["exchange_rate"],
                available_on=max(self.clock.now(), charge_txn["available_on"]),
            )
            charge["amount_refunded"] += amount
            charge["refunded"] = charge["amount_refunded"] == charge["amount"]
            self._children[("refunds", charge_id)].append(refund["id"])
            # API version 2020-08-27 has no refund.created event: charge.refunded is the one.
            self._emit(ctx, "charge.refunded", charge_id)
            return self._render(refund["id"])

    def retrieve_refund(self, ctx: Ctx, refund_id: str) -> dict[str, Any]:
        with self._lock:
            return self._render(self._get(refund_id, "refund", ctx.account, "refund")["id"])

    def list_refunds(self, ctx: Ctx, p: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            filters = {k: p[k] for k in ("charge", "payment_intent") if k in p}
            return self._list(
                "refund",
                ctx.account,
                p,
                "/v1/refunds",
                lambda r: all(r.get(k) == v for k, v in filters.items()),
            )

    # --- transfers ----------------------------------------------------------------------------

    def _transferable_from(self, charge: dict[str, Any]) -> int:
        """What a source_transaction charge can still fund: not refunded, not transferred (in
        the currency it settled in)."""
        transferred = sum(
            t["amount"] - t["amount_reversed"]
            for t in (self._objects[i] for i in self._by_type["transfer"])
            if t["source_transaction"] == charge["id"]
        )
        refunded = -sum(
            self._objects[self._objects[r]["balance_transaction"]]["amount"]
            for r in self._children[("refunds", charge["id"])]
        )
        settled = self._objects[charge["balance_transaction"]]["amount"]
        return settled - refunded - transferred

    def create_transfer(self, ctx: Ctx, p: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            self._require_platform(ctx, "create transfers")
            if "amount" not in p:
                raise _invalid(
                    "Missing required param: amount.", param="amount", code="parameter_missing"
                )
            amount = self._amount(p["amount"])
            currency = self._currency(p["currency"])
            dest = self._objects.get(p["destination"])
            if (
                dest is None
                or dest["object"] != "account"
                or dest["id"] == PLATFORM_ACCOUNT_ID
                or self._owner[dest["id"]] != PLATFORM_ACCOUNT_ID
            ):
                raise _invalid(
                    f"No such destination: '{p['destination']}'",
                    param="destination",
                    code="resource_missing",
                )
            if dest["capabilities"].get("transfers") != "active":
                raise _invalid(
                    "Your destination account needs to have at least one of the following "
                    "capabilities enabled: transfers, crypto_transfers, legacy_payments",
                    param="destination",
                    code="insufficient_capabilities_for_transfer",
                )
            accounts.check_transfer_destination(self, dest)
            source_id = p.get("source_transaction")
            source_txn = None
            if source_id:
                charge = self._get(
                    source_id,
                    "charge",
                    PLATFORM_ACCOUNT_ID,
                    "source_transaction",
                    status=400,
                )
                if charge["status"] != "succeeded":
                    raise _invalid(
                        f"The source_transaction {source_id} has not succeeded.",
                        param="source_transaction",
                    )
                # The currency the charge *settled* in (a EUR charge on a USD platform is USD).
                source_txn = self._objects[charge["balance_transaction"]]
                if source_txn["currency"] != currency:
                    raise _invalid(
                        f"The currency of source_transaction's balance transaction "
                        f"({source_txn['currency']}) must be the same as the transfer currency "
                        f"({currency}).",
                        param="currency",
                    )
                left = self._transferable_from(charge)
                if amount > left:
                    raise _invalid(
                        f"Insufficient funds on source_transaction {source_id}: the transfer "
                        f"amount ({amount} {currency}) exceeds what remains of the charge "
                        f"after refunds and earlier transfers ({left} {currency}).",
                        param="amount",
                        code="balance_insufficient",
                    )
            elif amount > self._available(PLATFORM_ACCOUNT_ID, currency):
                raise _invalid(
                    "You have insufficient available funds in your Stripe account. Try adding "
                    "funds directly to your available balance by creating Charges using the "
                    "4000000000000077 test card.",
                    code="balance_insufficient",
                )
            now = self.clock.now()
            tr_id = new_id("tr")
            # The connected account receives the funds as a "payment" (py_) on its own balance,
            # converted to its default currency when it has no bank account in this one.
            landed = balances.destination_settlement(self, dest, amount, currency)
            payment = fixture("charge")
            del payment["refunds"]
            payment.update(
                id=new_id("py"),
                amount=landed.amount,
                amount_captured=landed.amount,
                application=None,
                billing_details={**payment["billing_details"], "name": None},
                captured=True,
                created=now,
                currency=landed.currency,
                description=None,
                outcome=None,
                payment_intent=None,
                payment_method=None,
                payment_method_details={"stripe_account": {}, "type": "stripe_account"},
                receipt_url=None,
                source_transfer=tr_id,
                transfer_group=p.get("transfer_group"),
            )
            self._store(payment, dest["id"])
            payment["balance_transaction"] = self._txn(
                dest["id"],
                "payment",
                landed.amount,
                landed.currency,
                payment["id"],
                reporting_category="charge",
                exchange_rate=landed.exchange_rate,
                available_on=balances.transfer_available_on(self, dest, source_txn),
            )
            transfer = fixture("transfer")
            del transfer["reversals"]
            transfer.update(
                id=tr_id,
                amount=amount,
                amount_reversed=0,
                created=now,
                currency=currency,
                description=p.get("description"),
                destination=dest["id"],
                destination_payment=payment["id"],
                metadata=merge_metadata({}, p.get("metadata")),
                reversed=False,
                source_transaction=source_id,
                source_type=p.get("source_type", "card"),
                transfer_group=p.get("transfer_group"),
            )
            self._store(transfer, PLATFORM_ACCOUNT_ID)
            transfer["balance_transaction"] = self._txn(
                PLATFORM_ACCOUNT_ID,
                "transfer",
                -amount,
                currency,
                tr_id,
                reporting_category="transfer",
                description=p.get("description"),
                # With a source_transaction the money leaves the charge's (maybe pending) funds.
                available_on=max(now, source_txn["available_on"]) if source_txn else None,
            )
            self._emit(ctx, "transfer.created", tr_id)
            return self._render(tr_id)

    def retrieve_transfer(self, ctx: Ctx, transfer_id: str) -> dict[str, Any]:
        with self._lock:
            self._require_platform(ctx, "retrieve transfers")
            return self._render(
                self._get(transfer_id, "transfer", PLATFORM_ACCOUNT_ID, "transfer")["id"]
            )

    def list_transfers(self, ctx: Ctx, p: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            self._require_platform(ctx, "list transfers")
            filters = {k: p[k] for k in ("destination", "transfer_group") if k in p}
            return self._list(
                "transfer",
                PLATFORM_ACCOUNT_ID,
                p,
                "/v1/transfers",
                lambda t: all(t.get(k) == v for k, v in filters.items()),
            )

    def create_transfer_reversal(
        self, ctx: Ctx, transfer_id: str, p: dict[str, Any]
    ) -> dict[str, Any]:
        with self._lock:
            self._require_platform(ctx, "reverse transfers")
            self._not_simulated(p, "refund_application_fee")
            transfer = self._get(transfer_id, "transfer", PLATFORM_ACCOUNT_ID, "id")
            remaining = transfer["amount"] - transfer["amount_reversed"]
            if remaining <= 0:
                raise _invalid(
                    f"Transfer {transfer_id} has already been fully reversed.",
                    code="transfer_already_reversed",
                )
            amount = self._amount(p["amount"]) if "amount" in p else remaining
            currency = transfer["currency"]
            if amount > remaining:
                raise _invalid(
                    f"Transfer reversal amount ({amount} {currency}) is greater than the amount "
                    f"remaining on the transfer ({remaining} {currency}).",
                    param="amount",
                    code="amount_too_large",
                )
            dest = transfer["destination"]
            # Taken back in the currency it landed in, at the rate it landed at.
            landed_txn = self._objects[
                self._objects[transfer["destination_payment"]]["balance_transaction"]
            ]
            dest_amount = balances.convert_like(landed_txn, amount, currency)
            dest_balance = self._balances(dest).get(landed_txn["currency"], {})
            if dest_amount > dest_balance.get("available", 0) + dest_balance.get("pending", 0):
                # The money comes back out of the connected account's balance: once paid out,
                # it is not there to take.
                raise _invalid(
                    f"Insufficient funds in the destination account {dest} to reverse "
                    f"{dest_amount} {landed_txn['currency']}.",
                    param="amount",
                    code="balance_insufficient",
                )
            reversal = fixture("transfer_reversal")
            reversal.update(
                id=new_id("trr"),
                amount=amount,
                created=self.clock.now(),
                currency=currency,
                description=p.get("description"),
                metadata=merge_metadata({}, p.get("metadata")),
                transfer=transfer_id,
            )
            self._store(reversal, PLATFORM_ACCOUNT_ID)
            refund_id = new_id("pyr")
            reversal["destination_payment_refund"] = refund_id
            now = self.clock.now()
            self._txn(
                dest,
                "payment_refund",
                -dest_amount,
                landed_txn["currency"],
                refund_id,
                reporting_category="refund",
                exchange_rate=landed_txn["exchange_rate"],
                available_on=max(now, landed_txn["available_on"]),
            )
            reversal["balance_transaction"] = self._txn(
                PLATFORM_ACCOUNT_ID,
                "transfer_refund",
                amount,
                currency,
                reversal["id"],
                reporting_category="transfer_reversal",
                available_on=max(
                    now, self._objects[transfer["balance_transaction"]]["available_on"]
                ),
            )
            transfer["amount_reversed"] += amount
            transfer["reversed"] = transfer["amount_reversed"] == transfer["amount"]
            self._children[("reversals", transfer_id)].append(reversal["id"])
            self._emit(ctx, "transfer.reversed", transfer_id)
            return self._render(reversal["id"])

    def list_transfer_reversals(
        self, ctx: Ctx, transfer_id: str, p: dict[str, Any]
    ) -> dict[str, Any]:
        with self._lock:
            self._require_platform(ctx, "list transfer reversals")
            self._get(transfer_id, "transfer", PLATFORM_ACCOUNT_ID, "id")
            return self._list(
                "transfer_reversal",
                PLATFORM_ACCOUNT_ID,
                p,
                f"/v1/transfers/{transfer_id}/reversals",
                lambda r: r["transfer"] == transfer_id,
            )

    def retrieve_transfer_reversal(
        self, ctx: Ctx, transfer_id: str, reversal_id: str
    ) -> dict[str, Any]:
        with self._lock:
            self._require_platform(ctx, "retrieve transfer reversals")
            rev = self._get(reversal_id, "transfer_reversal", PLATFORM_ACCOUNT_ID, "id")
            if rev["transfer"] != transfer_id:
                raise StripeApiError(
                    404, f"No such transfer_reversal: '{reversal_id}'", code="resource_missing"
                )
            return self._render(reversal_id)

    # --- payouts & balance --------------------------------------------------------------------

    def create_payout(self, ctx: Ctx, p: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            owner = ctx.account
            acct = self._objects[owner]
            if not acct["payouts_enabled"]:
                raise _invalid(
                    f"Payouts are not enabled for account {owner}: it has outstanding "
                    f"requirements ({', '.join(acct['requirements']['currently_due'])}).",
                    code="payouts_not_allowed",
                )
            amount = self._amount(p["amount"])
            currency = self._currency(p["currency"])
            banks = self._children[("external_accounts", owner)]
            destination = p.get("destination") or next(
                (b for b in banks if self._objects[b]["currency"] == currency),
                banks[0] if banks else None,
            )
            if destination not in banks:
                raise _invalid(
                    f"No such external account: '{destination}'",
                    param="destination",
                    code="resource_missing",
                )
            balances.check_payout_currency(self, self._objects[destination], currency)
            available = self._available(owner, currency)
            if amount > available:
                # Stripe's own words (the "the the" included); pending funds do not count.
                raise _invalid(
                    "You have insufficient funds in your Stripe account for this transfer. Your "
                    "card balance is too low. You can use the the /v1/balance endpoint to view "
                    "your Stripe balance (for more details, see stripe.com/docs/api#balance).",
                    code="balance_insufficient",
                )
            now = self.clock.now()
            method = p.get("method", "standard")
            payout = fixture("payout")
            payout.update(
                id=new_id("po"),
                amount=amount,
                arrival_date=now if method == "instant" else now + 2 * 86400,
                # Only the payout schedule (payouts_schedule.py) sets it: the spec refuses an
                # `automatic` parameter from clients before it gets here.
                automatic=bool(p.get("automatic")),
                created=now,
                currency=currency,
                description=p.get("description"),
                destination=destination,
                metadata=merge_metadata({}, p.get("metadata")),
                method=method,
                source_type=p.get("source_type", "card"),
                statement_descriptor=p.get("statement_descriptor"),
                status="pending",
            )
            self._store(payout, owner)
            payout["balance_transaction"] = self._txn(
                owner,
                "payout",
                -amount,
                currency,
                payout["id"],
                reporting_category="payout",
                description=payout["description"] or "STRIPE PAYOUT",
            )
            self._emit(ctx, "payout.created", payout["id"])
            return self._render(payout["id"])

    def retrieve_payout(self, ctx: Ctx, payout_id: str) -> dict[str, Any]:
        with self._lock:
            return self._render(self._get(payout_id, "payout", ctx.account, "payout")["id"])

    def list_payouts(self, ctx: Ctx, p: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            filters = {k: p[k] for k in ("status", "destination") if k in p}
            return self._list(
                "payout",
                ctx.account,
                p,
                "/v1/payouts",
                lambda po: all(po.get(k) == v for k, v in filters.items()),
            )

    def settle_payout(
        self,
        payout_id: str,
        *,
        paid: bool,
        failure_code: str | None = None,
        failure_message: str | None = None,
    ) -> dict[str, Any]:
        """What the bank eventually reports for a payout (sandbox control)."""
        with self._lock:
            payout = self._get(payout_id, "payout", None, "id")
            # A bank can return a payout days after Stripe reported it `paid`: Stripe then sends
            # payout.failed after payout.paid and the money comes back to the balance.
            settleable = ("pending", "in_transit") if paid else ("pending", "in_transit", "paid")
            if payout["status"] not in settleable:
                raise _invalid(
                    f"Payout {payout_id} is already {payout['status']}.",
                    code="payout_not_pending",
                )
            if paid:
                payout["status"] = "paid"
                self._emit(None, "payout.paid", payout_id)
            else:
                code = failure_code or "could_not_process"
                owner = self._owner[payout_id]
                payout.update(
                    status="failed",
                    failure_code=code,
                    failure_message=failure_message
                    or PAYOUT_FAILURE_MESSAGES.get(code, "The payout failed."),
                )
                # The money comes back to the account's balance.
                payout["failure_balance_transaction"] = self._txn(
                    owner,
                    "payout_failure",
                    payout["amount"],
                    payout["currency"],
                    payout_id,
                    reporting_category="payout_reversal",
                    description=f"Payout failure ({code})",
                )
                self._emit(None, "payout.failed", payout_id)
            return self._render(payout_id)

    def balance(self, ctx: Ctx) -> dict[str, Any]:
        with self._lock:
            sums = self._balances(ctx.account)
            if not sums:
                currency = self._objects[ctx.account]["default_currency"]
                sums = {currency: {"available": 0, "pending": 0}}
            currencies = sorted(sums)
            body: dict[str, Any] = {
                "object": "balance",
                "available": [
                    {
                        "amount": sums[c]["available"],
                        "currency": c,
                        "source_types": {"card": sums[c]["available"]},
                    }
                    for c in currencies
                ],
                "livemode": False,
                "pending": [
                    {
                        "amount": sums[c]["pending"],
                        "currency": c,
                        "source_types": {"card": sums[c]["pending"]},
                    }
                    for c in currencies
                ],
            }
            if ctx.account == PLATFORM_ACCOUNT_ID:
                body["connect_reserved"] = [{"amount": 0, "currency": c} for c in currencies]
            return body

    def retrieve_balance_transaction(self, ctx: Ctx, txn_id: str) -> dict[str, Any]:
        with self._lock:
            return self._render(self._get(txn_id, "balance_transaction", ctx.account, "id")["id"])

    def list_balance_transactions(self, ctx: Ctx, p: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            self._not_simulated(p, "payout")
            filters = {k: p[k] for k in ("type", "source", "currency") if k in p}
            return self._list(
                "balance_transaction",
                ctx.account,
                p,
                "/v1/balance_transactions",
                lambda t: all(t.get(k) == v for k, v in filters.items()),
            )

    # --- disputes -----------------------------------------------------------------------------

    def create_dispute(
        self,
        charge_id: str,
        *,
        reason: str = "fraudulent",
        amount: int | None = None,
        kind: str = "chargeback",
    ) -> dict[str, Any]:
        """A cardholder disputing a charge (sandbox control; disputes.py)."""
        return disputes.open_dispute(self, charge_id, kind=kind, reason=reason, amount=amount)

    def close_dispute(self, dispute_id: str, *, outcome: str | None = None) -> dict[str, Any]:
        return disputes.close(self, dispute_id, outcome)

    def retrieve_dispute(self, ctx: Ctx, dispute_id: str) -> dict[str, Any]:
        with self._lock:
            return self._render(self._get(dispute_id, "dispute", ctx.account, "dispute")["id"])

    def list_disputes(self, ctx: Ctx, p: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            filters = {k: p[k] for k in ("charge", "payment_intent") if k in p}
            return self._list(
                "dispute",
                ctx.account,
                p,
                "/v1/disputes",
                lambda d: all(d.get(k) == v for k, v in filters.items()),
            )

    # --- events -------------------------------------------------------------------------------

    def retrieve_event(self, ctx: Ctx, event_id: str) -> dict[str, Any]:
        with self._lock:
            return self._render(self._get(event_id, "event", ctx.account, "id")["id"])

    def list_events(self, ctx: Ctx, p: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            patterns = list(p.get("types") or [])
            if p.get("type"):
                patterns.append(p["type"])
            return self._list(
                "event",
                ctx.account,
                p,
                "/v1/events",
                lambda e: not patterns or any(fnmatch.fnmatchcase(e["type"], t) for t in patterns),
            )

    def all_events(self) -> list[dict[str, Any]]:
        """Every event on every account, oldest first (sandbox inspection)."""
        with self._lock:
            return [self._render(i) for i in self._by_type["event"]]
