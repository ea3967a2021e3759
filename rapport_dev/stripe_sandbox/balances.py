"""Where money lands, in which currency, when, and what Stripe keeps: the balance rules.

- **Settlement currency.** With the `settlement` option on, a charge in another currency than
  the platform's (`platform_currency`, USD by default) settles in the platform's currency: its
  balance transaction has `currency` = the platform's, `amount`/`fee`/`net` converted, and
  `exchange_rate` (fx.py's fixed table). Refunds and dispute withdrawals of that charge convert
  at the same rate. Off (the kind default), a charge settles in its own currency, unconverted.
- **Connected accounts** hold a balance per currency: a transfer lands in its own currency when
  the account has a bank account in it (or has none yet), otherwise — with `settlement` on — it
  is converted to the account's default currency, as Stripe does.
- **Fees** (option `fees`): Stripe's standard card pricing on each charge, computed on the
  settled amount, in `fee` / `fee_details`, `net` = amount - fee. Refunds do not return it.
- **Availability** (option `availability_delay_days`): a charge's funds are `pending` until
  `available_on` = created + delay; money transferred from it with `source_transaction` becomes
  available on the connected account when the charge's would (plus a day for accounts under the
  recipient service agreement, Stripe's rule). Everything else is available at once.

Functions here read the options and the stored objects of a `SandboxState` under its lock.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any

from .fx import convert, rate

if TYPE_CHECKING:
    from .state import SandboxState

DAY = 86_400

# Stripe's standard card pricing by settlement currency: (percent, fixed minor units). US: 2.9 %
# + 30¢. Others: Stripe's published domestic standard-card rates (they vary by card region; the
# sandbox uses one figure per currency). Anything else: the US figures, in that currency.
CARD_FEES: dict[str, tuple[str, int]] = {
    "usd": ("2.9", 30),
    "eur": ("1.5", 25),
    "gbp": ("1.5", 20),
    "chf": ("2.9", 30),
    "cad": ("2.9", 30),
    "aud": ("1.75", 30),
    "nzd": ("2.9", 30),
    "sek": ("1.5", 180),
    "nok": ("2.4", 200),
    "dkk": ("1.5", 180),
    "pln": ("1.5", 100),
    "jpy": ("3.6", 0),
    "sgd": ("3.4", 50),
    "hkd": ("3.4", 235),
    "mxn": ("3.6", 300),
}
# Added to the percentage when the charge had to be converted (Stripe US: +1 %).
CONVERSION_FEE_PERCENT = "1"


@dataclass(frozen=True)
class Settled:
    currency: str
    amount: int
    exchange_rate: float | None


def _sandbox_error(message: str, param: str) -> Exception:
    from .state import StripeApiError

    return StripeApiError(400, message, param=param, code="sandbox_unsupported")


def settle_charge(state: SandboxState, amount: int, currency: str) -> Settled:
    """The platform's settlement of a charge of `amount` `currency`."""
    opts = state.options
    target = opts.platform_currency
    if not opts.settlement or currency == target:
        return Settled(currency, amount, None)
    fx = rate(opts.exchange_rates, currency, target)
    if fx is None:
        raise _sandbox_error(
            f"The Rapport Stripe sandbox has no exchange rate for {currency} (set one with the "
            f"`exchange_rates` option).",
            "currency",
        )
    return Settled(target, convert(amount, currency, target, fx), fx)


def convert_like(txn: dict[str, Any], amount: int, currency: str) -> int:
    """`amount` of `currency` converted as balance transaction `txn` was (same rate)."""
    return convert(amount, currency, txn["currency"], txn["exchange_rate"])


def card_fee(state: SandboxState, settled: Settled) -> tuple[int, list[dict[str, Any]]]:
    """(fee, fee_details) Stripe keeps on a card charge, in the settlement currency."""
    if not state.options.fees:
        return 0, []
    percent, fixed = CARD_FEES.get(settled.currency, CARD_FEES["usd"])
    pct = Decimal(percent)
    if settled.exchange_rate is not None:
        pct += Decimal(CONVERSION_FEE_PERCENT)
    fee = int(
        (Decimal(settled.amount) * pct / 100 + fixed).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    )
    details = [
        {
            "amount": fee,
            "application": None,
            "currency": settled.currency,
            "description": "Stripe processing fees",
            "type": "stripe_fee",
        }
    ]
    return fee, details


def charge_available_on(state: SandboxState, created: int) -> int:
    return created + state.options.availability_delay_days * DAY


def is_recipient(account: dict[str, Any]) -> bool:
    return (account.get("tos_acceptance") or {}).get("service_agreement") == "recipient"


def destination_settlement(
    state: SandboxState, account: dict[str, Any], amount: int, currency: str
) -> Settled:
    """How a transfer of `amount` `currency` lands on connected `account`."""
    if not state.options.settlement:
        return Settled(currency, amount, None)
    banks = [state._objects[b] for b in state._children[("external_accounts", account["id"])]]
    if not banks or any(b["currency"] == currency for b in banks):
        return Settled(currency, amount, None)
    target = account["default_currency"]
    fx = rate(state.options.exchange_rates, currency, target)
    if fx is None:
        return Settled(currency, amount, None)
    return Settled(target, convert(amount, currency, target, fx), fx)


def transfer_available_on(
    state: SandboxState, account: dict[str, Any], source_txn: dict[str, Any] | None
) -> int:
    """When transferred money is available on the connected account: with a source
    transaction, when the charge's is (a day later for recipient accounts); else now."""
    now = state.clock.now()
    if source_txn is None:
        return now
    # Stripe holds money sent to a recipient account a day longer; modelled only when pending
    # funds are (a delay of 0 means "available at once" for everything).
    opts = state.options
    recipient = is_recipient(account) and opts.strict_accounts
    extra = DAY if recipient and opts.availability_delay_days > 0 else 0
    return max(now, source_txn["available_on"] + extra)


def apply_platform_options(state: SandboxState) -> None:
    """Make the platform account match the options: its country, default currency and a bank
    account in that currency (after a reset or an options change)."""
    from .state import PLATFORM_ACCOUNT_ID

    acct = state._objects[PLATFORM_ACCOUNT_ID]
    acct["country"] = state.options.platform_country.upper()
    acct["default_currency"] = state.options.platform_currency
    banks = [state._objects[b] for b in state._children[("external_accounts", acct["id"])]]
    if not any(b["currency"] == acct["default_currency"] for b in banks):
        state._add_bank_account(acct["id"], acct["country"], acct["default_currency"])


def check_payout_currency(state: SandboxState, bank: dict[str, Any], currency: str) -> None:
    """With `payout_currency_check`, a payout goes only to a bank account in its currency."""
    if not state.options.payout_currency_check or bank["currency"] == currency:
        return
    from .state import StripeApiError

    banks = state._children[("external_accounts", bank["account"])]
    if any(state._objects[b]["currency"] == currency for b in banks):
        raise StripeApiError(
            400,
            f"The currency of the bank account ({bank['currency']}) does not match the payout "
            f"currency ({currency}).",
            param="destination",
        )
    raise StripeApiError(
        400,
        f"Sorry, you don't have any external accounts in that currency ({currency}).",
        param="currency",
    )
