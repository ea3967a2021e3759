"""How strict the sandbox is: per-sandbox options, plain data (so they can be saved to disk).

Each option is a Stripe behaviour the application has to cope with. Every one defaults to
Stripe's own (pending funds for 2 days, fees, settlement in the platform's currency, payout
currency check, capability review, accounts as Stripe makes them); `KIND` holds the kind values
for tests of something else entirely, and `strict=True` (or `POST /_sandbox/options
{"strict": true}`) turns every strict one on again at once.

Options are set when the sandbox is created (`create_sandbox_app(options={...})`,
`running_sandbox(options={...})`) and changed at run time with `POST /_sandbox/options`;
`POST /_sandbox/reset` restores the ones the sandbox was created with.
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, field, fields
from decimal import Decimal, InvalidOperation
from typing import Any

from .fx import EXCHANGE_RATES_USD

# Stripe's dispute fee per settlement currency (minor units). US: $15.00; the others are
# Stripe's published local fees (they change over time; the sandbox keeps these fixed).
DISPUTE_FEES: dict[str, int] = {
    "usd": 1500,
    "eur": 2000,
    "gbp": 2000,
    "cad": 1500,
    "aud": 2500,
    "nzd": 2500,
    "chf": 2000,
    "sek": 22500,
    "nok": 22500,
    "dkk": 15000,
    "pln": 8000,
    "jpy": 1500,
    "sgd": 2000,
    "hkd": 15000,
    "mxn": 30000,
}


@dataclass
class SandboxOptions:
    # The platform account's country and default currency: the currency its charges settle in.
    platform_country: str = "US"
    platform_currency: str = "usd"
    # Charges in another currency settle in `platform_currency` at `exchange_rates` (fx.py),
    # and transfers land converted on accounts without a bank account in their currency.
    settlement: bool = True
    # US dollars per unit of each currency (decimal strings); merged into the table on change.
    exchange_rates: dict[str, str] = field(default_factory=lambda: dict(EXCHANGE_RATES_USD))
    # Days a charge's funds stay pending (Stripe US: 2); 0 = available at once.
    availability_delay_days: int = 2
    # Stripe's standard card fees on charges (balances.CARD_FEES); off = no fees.
    fees: bool = True
    # A payout needs a bank account in its currency (off: any bank account takes any currency).
    payout_currency_check: bool = True
    # Accounts as Stripe makes them (accounts.py): supported countries, the recipient service
    # agreement across borders, capabilities that take time, single-use account links.
    strict_accounts: bool = True
    # Completing onboarding takes capabilities through `pending` (capability.updated events and
    # two account.updated) instead of straight to `active` (one account.updated).
    capability_review: bool = True
    # Dispute fee taken with a chargeback's withdrawal; Stripe returns it when the dispute is
    # won (Stripe's dispute-fee FAQ: "if you win the dispute, Stripe will refund this dispute fee
    # to you"). Set False to model pricing where the fee is kept.
    dispute_fee_refunded_on_win: bool = True
    dispute_fees: dict[str, int] = field(default_factory=lambda: dict(DISPUTE_FEES))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# The kind behaviours, for a test of something else entirely that would otherwise have to
# step around Stripe's delays, fees and conversions: `running_sandbox(options=KIND)` or
# `set_options(**KIND)`. Everything else should run against the strict defaults.
KIND: dict[str, Any] = {
    "settlement": False,
    "availability_delay_days": 0,
    "fees": False,
    "payout_currency_check": False,
    "capability_review": False,
}

# Values `strict` sets (Stripe's; since issue 11 also the defaults, so `strict` restores them
# over options changed at run time).
STRICT: dict[str, Any] = {
    "settlement": True,
    "availability_delay_days": 2,
    "fees": True,
    "payout_currency_check": True,
    "strict_accounts": True,
    "capability_review": True,
}


def build_options(base: SandboxOptions | None, changes: dict[str, Any]) -> SandboxOptions:
    """`base` (or the defaults) with `changes` applied; unknown names and wrong types refused
    with ValueError (the control endpoint answers 400)."""
    opts = copy.deepcopy(base) if base is not None else SandboxOptions()
    changes = dict(changes)
    if changes.pop("strict", False):
        for name, value in STRICT.items():
            setattr(opts, name, copy.deepcopy(value))
    known = {f.name: f for f in fields(SandboxOptions)}
    for name, value in changes.items():
        if name not in known:
            raise ValueError(f"unknown sandbox option {name!r} (known: {', '.join(known)})")
        current = getattr(opts, name)
        if isinstance(current, bool):
            if not isinstance(value, bool):
                raise ValueError(f"option {name!r} must be true or false")
        elif isinstance(current, int):
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"option {name!r} must be a non-negative integer")
        elif isinstance(current, str):
            if not isinstance(value, str):
                raise ValueError(f"option {name!r} must be a string")
            value = value.lower()
        elif isinstance(current, dict):
            if not isinstance(value, dict):
                raise ValueError(f"option {name!r} must be an object")
            value = {**current, **{str(k).lower(): v for k, v in value.items()}}
        if name == "exchange_rates":
            for cur, rate in value.items():
                try:
                    ok = Decimal(str(rate)) > 0
                except InvalidOperation:
                    ok = False
                if not ok or len(cur) != 3:
                    raise ValueError(f"exchange rate {cur!r}: {rate!r} is not a positive number")
                value[cur] = str(rate)
        if name == "platform_currency" and value not in opts.exchange_rates:
            raise ValueError(f"no exchange rate for platform currency {value!r}")
        setattr(opts, name, value)
    return opts
