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


# The sandbox's fixed exchange rates: US dollars per unit of each currency (documented in
# docs/stripe-sandbox.md; settable per sandbox with the `exchange_rates` option). A cross rate is
# the ratio of two entries, so a EUR platform converts SEK as sek/eur.
EXCHANGE_RATES_USD: dict[str, str] = {
    "usd": "1",
    "eur": "1.10",
    "gbp": "1.27",
    "chf": "1.13",
    "cad": "0.74",
    "aud": "0.66",
    "nzd": "0.61",
    "sek": "0.095",
    "nok": "0.093",
    "dkk": "0.147",
    "pln": "0.25",
    "czk": "0.044",
    "huf": "0.0028",
    "ron": "0.22",
    "bgn": "0.56",
    "jpy": "0.0067",
    "krw": "0.00075",
    "sgd": "0.74",
    "hkd": "0.128",
    "mxn": "0.058",
    "brl": "0.20",
    "inr": "0.012",
}


def rate(rates: dict[str, str], from_currency: str, to_currency: str) -> float | None:
    """Stripe's `exchange_rate` from one currency to another (units of `to` per unit of
    `from`, 6 significant decimals), None when they are the same or either is unknown."""
    if from_currency == to_currency:
        return None
    if from_currency not in rates or to_currency not in rates:
        return None
    value = Decimal(str(rates[from_currency])) / Decimal(str(rates[to_currency]))
    return float(round(value, 6))
