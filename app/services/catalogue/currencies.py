"""Currencies Rapport supports, with their ISO 4217 minor-unit exponents.

Money is stored and computed as integers in minor units (cents, pence, ore...). The
exponent says how many minor units make one major unit: 2 for USD (100 cents = 1 dollar),
0 for JPY and KRW (the yen and the won have no minor unit in ISO 4217). Converting between
currencies or displaying an amount must go through this exponent, never assume 2.

Codes are matched case-insensitively after stripping whitespace; the canonical form is
upper case.
"""

from __future__ import annotations

from types import MappingProxyType

# ISO 4217 minor-unit exponents of the currencies Rapport supports.
MINOR_UNIT_EXPONENTS: MappingProxyType[str, int] = MappingProxyType(
    {
        "USD": 2,
        "EUR": 2,
        "GBP": 2,
        "CAD": 2,
        "AUD": 2,
        "NZD": 2,
        "CHF": 2,
        "SEK": 2,
        "NOK": 2,
        "DKK": 2,
        "PLN": 2,
        "BRL": 2,
        "MXN": 2,
        "INR": 2,
        "SGD": 2,
        "JPY": 0,
        "KRW": 0,
    }
)


def normalize_code(code: str) -> str:
    """Canonical (upper-case) form of ``code``; raises ``ValueError`` if unsupported."""
    canonical = code.strip().upper() if isinstance(code, str) else ""
    if canonical not in MINOR_UNIT_EXPONENTS:
        supported = ", ".join(sorted(MINOR_UNIT_EXPONENTS))
        raise ValueError(f"unsupported currency {code!r}; supported currencies: {supported}")
    return canonical


def is_supported(code: str) -> bool:
    """Whether Rapport supports the ISO 4217 currency ``code``."""
    return isinstance(code, str) and code.strip().upper() in MINOR_UNIT_EXPONENTS


def minor_unit_exponent(code: str) -> int:
    """ISO 4217 minor-unit exponent of ``code`` (2 for USD, 0 for JPY)."""
    return MINOR_UNIT_EXPONENTS[normalize_code(code)]
