"""Connected accounts as Stripe makes them (option `strict_accounts`).

- **Countries.** Express accounts only in Stripe's supported countries (`SUPPORTED_COUNTRIES`);
  elsewhere: "Connected accounts in XX cannot be created by platforms in US. ..." (Stripe's
  words).
- **Service agreements.** Across borders (account country other than the platform's, outside
  the region where Stripe lets the platform hold `full` accounts) a transfers-only account must
  be created with `tos_acceptance[service_agreement]=recipient`; Stripe refuses it otherwise
  ("You cannot request the `transfers` capability without the `card_payments` capability for
  accounts in FR."). A `recipient` account cannot request `card_payments`. A `full` account in
  a country out of the platform's reach cannot receive transfers ("Funds can't be sent to
  accounts located in MX when the account is under the `full` service agreement.").
- **charges_enabled** is true only for an account with an active `card_payments` capability:
  a transfers-only account can be paid out, never charge.
- **Capabilities take time.** Completing onboarding moves each requested capability
  `inactive` → `pending` (a `capability.updated` per capability, then `account.updated`) →
  `active` (again), unless the control endpoint holds them in `pending`
  (`/_sandbox/accounts/{id}/complete_onboarding {"capabilities": "pending"}`) until
  `/_sandbox/accounts/{id}/activate_capabilities`. Payouts are enabled with the capabilities.
- **Account links are single-use:** a second visit of the same link goes to its `refresh_url`,
  as an expired one does.

Functions work on a `SandboxState` under its lock; the account dicts stay Stripe-shaped.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from .spec import fixture

if TYPE_CHECKING:
    from .state import SandboxState

# Countries where Stripe holds Express accounts (Stripe's list of supported countries).
SUPPORTED_COUNTRIES = frozenset(
    "AE AT AU BE BG BR CA CH CY CZ DE DK EE ES FI FR GB GI GR HK HR HU IE IT JP LI LT LU LV "
    "MT MX MY NL NO NZ PL PT RO SE SG SI SK TH US".split()
)
_EEA = frozenset(
    "AT BE BG CY CZ DE DK EE ES FI FR GR HR HU IE IS IT LI LT LU LV MT NL NO PL PT RO SE SI "
    "SK".split()
)
# Platforms in these countries can hold `full` accounts (and pay them) in all of them; a
# platform elsewhere only in its own country.
_FULL_REGION = _EEA | {"US", "CA", "GB", "CH", "GI"}


def _invalid(message: str, param: str | None = None) -> Exception:
    from .state import StripeApiError

    return StripeApiError(400, message, param=param)


def full_reach(platform_country: str) -> frozenset[str]:
    """Where the platform can hold (and pay) accounts under the `full` service agreement."""
    if platform_country in _FULL_REGION:
        return _FULL_REGION
    return frozenset({platform_country})


def agreement(account: dict[str, Any]) -> str:
    return (account.get("tos_acceptance") or {}).get("service_agreement") or "full"


def check_new_account(state: SandboxState, country: str, p: dict[str, Any]) -> None:
    """Refuse what Stripe refuses at `POST /v1/accounts` (strict accounts only)."""
    if not state.options.strict_accounts:
        return
    platform = state.options.platform_country.upper()
    if country not in SUPPORTED_COUNTRIES:
        raise _invalid(
            f"Connected accounts in {country} cannot be created by platforms in {platform}. "
            f"Please contact us via https://support.stripe.com/contact if you need further "
            f"assistance.",
            "country",
        )
    kind = (p.get("tos_acceptance") or {}).get("service_agreement") or "full"
    if kind not in ("full", "recipient"):
        raise _invalid(
            f"Invalid tos_acceptance[service_agreement]: must be one of full or recipient "
            f"(got {kind}).",
            "tos_acceptance[service_agreement]",
        )
    requested = {n for n, s in (p.get("capabilities") or {}).items() if s.get("requested")}
    if kind == "recipient" and "card_payments" in requested:
        raise _invalid(
            "Accounts under the `recipient` service agreement cannot request the "
            "`card_payments` capability.",
            "capabilities[card_payments]",
        )
    if kind == "full" and country != platform and "card_payments" not in requested:
        # Across borders a transfers-only account exists only as a recipient.
        raise _invalid(
            f"You cannot request the `transfers` capability without the `card_payments` "
            f"capability for accounts in {country}.",
            "capabilities",
        )


def check_transfer_destination(state: SandboxState, account: dict[str, Any]) -> None:
    """A `full` account out of the platform's reach cannot receive transfers."""
    if not state.options.strict_accounts or agreement(account) != "full":
        return
    platform = state.options.platform_country.upper()
    if account["country"] not in full_reach(platform):
        raise _invalid(
            f"Funds can't be sent to accounts located in {account['country']} when the account "
            f"is under the `full` service agreement.",
            "destination",
        )


def _capability(state: SandboxState, account: dict[str, Any], name: str) -> dict[str, Any]:
    cap = fixture("capability")
    cap.update(
        account=account["id"],
        id=name,
        requested=True,
        requested_at=account["created"],
        status=account["capabilities"][name],
    )
    cap["requirements"]["currently_due"] = []
    return cap


def _move_capabilities(
    state: SandboxState, account: dict[str, Any], status: str, **flags: Any
) -> None:
    """Every requested capability to `status` (a `capability.updated` each), then the account
    flags, then `account.updated` with what changed."""
    before = copy.deepcopy(account)
    for name, current in list(account["capabilities"].items()):
        if current == status:
            continue
        account["capabilities"][name] = status
        state._emit(
            None,
            "capability.updated",
            account["id"],
            owner=account["id"],
            previous={"status": current},
            data_object=_capability(state, account, name),
        )
    account.update(flags)
    state._emit_account_updated(None, account, before)


def complete_onboarding(
    state: SandboxState, account: dict[str, Any], *, hold_capabilities: bool = False
) -> None:
    """Stripe's hosted onboarding finished: details submitted, capabilities under review, then
    (unless held) active with payouts enabled."""
    if not state._children[("external_accounts", account["id"])]:
        state._add_bank_account(account["id"], account["country"], account["default_currency"])
    from .state import _empty_requirements

    _move_capabilities(
        state,
        account,
        "pending",
        details_submitted=True,
        requirements=_empty_requirements(),
        tos_acceptance={
            **account["tos_acceptance"],
            "date": state.clock.now(),
            "ip": "127.0.0.1",
            "user_agent": "Rapport Stripe sandbox",
        },
    )
    if not hold_capabilities:
        activate(state, account)


def complete_onboarding_at_once(state: SandboxState, account: dict[str, Any]) -> None:
    """Without `capability_review`: everything active in one step, one `account.updated` (and
    a `capability.updated` per capability), charges enabled only with `card_payments`."""
    if not state._children[("external_accounts", account["id"])]:
        state._add_bank_account(account["id"], account["country"], account["default_currency"])
    from .state import _empty_requirements

    _move_capabilities(
        state,
        account,
        "active",
        details_submitted=True,
        requirements=_empty_requirements(),
        payouts_enabled=True,
        charges_enabled="card_payments" in account["capabilities"],
        tos_acceptance={
            **account["tos_acceptance"],
            "date": state.clock.now(),
            "ip": "127.0.0.1",
            "user_agent": "Rapport Stripe sandbox",
        },
    )


def activate(state: SandboxState, account: dict[str, Any]) -> None:
    """Stripe finished verifying: capabilities `active`, payouts (and, with card_payments,
    charges) enabled."""
    if not account["details_submitted"]:
        raise _invalid(f"Account {account['id']} has not completed onboarding.")
    _move_capabilities(
        state,
        account,
        "active",
        payouts_enabled=True,
        charges_enabled="card_payments" in account["capabilities"],
    )
