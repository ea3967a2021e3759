"""Currencies: minor-unit exponents and conversion between currencies.

Amounts are integer minor units everywhere. A conversion goes through major units with
`Decimal`, rounding half up to the target's minor unit, so yen (zero-decimal) and cents convert
correctly: 10,000 JPY at 0.0067 USD per JPY is 67.00 USD, 6,700 cents.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

# Stripe's zero-decimal currencies (amounts are already whole units).
ZERO_DECIMAL = frozenset("bif clp djf gnf jpy kmf krw mga pyg rwf ugx vnd vuv xaf xof xpf".split())


def exponent(currency: str) -> int:
    return 0 if currency.lower() in ZERO_DECIMAL else 2


def convert(amount: int, from_currency: str, to_currency: str, rate: float | str | None) -> int:
    """`amount` minor units of `from_currency` in minor units of `to_currency`, where `rate` is
    Stripe's `exchange_rate` (units of `to_currency` per unit of `from_currency`; None = 1)."""
    if rate is None and from_currency == to_currency:
        return amount
    factor = Decimal(str(rate if rate is not None else 1))
    major = Decimal(amount) / (Decimal(10) ** exponent(from_currency))
    minor = major * factor * (Decimal(10) ** exponent(to_currency))
    return int(minor.quantize(Decimal(1), rounding=ROUND_HALF_UP))
