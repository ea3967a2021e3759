"""Disputes as Stripe runs them: chargebacks and inquiries, their statuses, and the money.

Two kinds, told apart by the status a dispute opens with:

- **chargeback** (`needs_response` → `under_review` → `won` | `lost`): Stripe withdraws the
  disputed amount *plus the dispute fee* from the platform's balance at once — one balance
  transaction (type `adjustment`, reporting category `dispute`, `amount` = -disputed, `fee` =
  the fee, `net` = -(disputed + fee)) and the event `charge.dispute.funds_withdrawn`. Won: the
  amount comes back (`charge.dispute.funds_reinstated`, reporting category
  `dispute_reversal`), with the fee too unless `dispute_fee_refunded_on_win` is off. Lost:
  nothing comes back. The charge cannot be refunded while a chargeback is open.
- **inquiry** (`warning_needs_response` → `warning_under_review` → `warning_closed`): no money
  moves and the charge can still be refunded; an inquiry can be escalated into a chargeback
  (status `needs_response`, funds withdrawn then).

The withdrawal is in the currency the charge settled in (its balance transaction's currency),
converted at the charge's own exchange rate. Events: `charge.dispute.created`, `.updated`
(evidence submitted, escalation), `.funds_withdrawn`, `.closed`, `.funds_reinstated` — all
event types of API version 2020-08-27.

These functions work on a `SandboxState` under its lock; `SandboxState`'s dispute methods
delegate here. Dispute objects stay plain Stripe-shaped dicts (balance transaction ids inside,
expanded to objects when rendered, as Stripe returns them).
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from .fx import convert
from .spec import fixture

if TYPE_CHECKING:
    from .state import Ctx, SandboxState

CHARGEBACK_OPEN = ("needs_response", "under_review")
INQUIRY_OPEN = ("warning_needs_response", "warning_under_review")
CLOSED = ("won", "lost", "warning_closed", "charge_refunded")

# How an open dispute may end (the control endpoint's `outcome`).
OUTCOMES: dict[str, tuple[str, ...]] = {
    "chargeback": ("won", "lost"),
    "inquiry": ("warning_closed",),
}


def _invalid(message: str, param: str | None = None, code: str | None = None) -> Exception:
    from .state import StripeApiError

    return StripeApiError(400, message, param=param, code=code)


def kind_of(dispute: dict[str, Any]) -> str:
    return "inquiry" if dispute["status"].startswith("warning_") else "chargeback"


def disputes_of(state: SandboxState, charge_id: str) -> list[dict[str, Any]]:
    return [
        d
        for d in (state._objects[i] for i in state._by_type["dispute"])
        if d["charge"] == charge_id
    ]


def blocks_refund(state: SandboxState, charge: dict[str, Any]) -> bool:
    """A charge with a chargeback (open or decided) cannot be refunded; an inquiry allows it."""
    return any(not d["is_charge_refundable"] for d in disputes_of(state, charge["id"]))


def _settlement(state: SandboxState, charge: dict[str, Any]) -> tuple[str, float | None, int]:
    """(currency, exchange rate, available_on) of the charge's own balance transaction."""
    txn = state._objects[charge["balance_transaction"]]
    return txn["currency"], txn["exchange_rate"], txn["available_on"]


def _dispute_fee(state: SandboxState, currency: str) -> int:
    fees = state.options.dispute_fees
    return int(fees.get(currency, fees.get("usd", 1500)))


def _fee_details(amount: int, currency: str, description: str) -> list[dict[str, Any]]:
    return [
        {
            "amount": amount,
            "application": None,
            "currency": currency,
            "description": description,
            "type": "stripe_fee",
        }
    ]


def _withdraw(state: SandboxState, dispute: dict[str, Any]) -> None:
    charge = state._objects[dispute["charge"]]
    currency, rate, charge_available_on = _settlement(state, charge)
    amount = convert(dispute["amount"], dispute["currency"], currency, rate)
    fee = _dispute_fee(state, currency)
    txn_id = state._txn(
        state._owner[dispute["id"]],
        "adjustment",
        -amount,
        currency,
        dispute["id"],
        reporting_category="dispute",
        description=f"Chargeback withdrawal for {charge['id']}",
        fee=fee,
        fee_details=_fee_details(fee, currency, "Dispute fee"),
        exchange_rate=rate,
        # Taken from the available balance now, or from the pending funds if the charge's
        # money is not available yet.
        available_on=max(state.clock.now(), charge_available_on),
    )
    dispute["balance_transactions"].append(txn_id)
    dispute["is_charge_refundable"] = False


def _reinstate(state: SandboxState, dispute: dict[str, Any]) -> None:
    withdrawal = state._objects[dispute["balance_transactions"][0]]
    refund_fee = state.options.dispute_fee_refunded_on_win
    fee = -withdrawal["fee"] if refund_fee else 0
    txn_id = state._txn(
        state._owner[dispute["id"]],
        "adjustment",
        -withdrawal["amount"],
        withdrawal["currency"],
        dispute["id"],
        reporting_category="dispute_reversal",
        description=f"Chargeback reversal for {dispute['charge']}",
        fee=fee,
        fee_details=_fee_details(fee, withdrawal["currency"], "Dispute fee refund") if fee else [],
        exchange_rate=withdrawal["exchange_rate"],
    )
    dispute["balance_transactions"].append(txn_id)


def open_dispute(
    state: SandboxState,
    charge_id: str,
    *,
    kind: str = "chargeback",
    reason: str = "fraudulent",
    amount: int | None = None,
) -> dict[str, Any]:
    """A cardholder disputing a charge (sandbox control)."""
    if kind not in OUTCOMES:
        raise ValueError("'kind' must be 'chargeback' or 'inquiry'")
    with state._lock:
        charge = state._get(charge_id, "charge", None, "charge")
        if charge["status"] != "succeeded" or any(
            d["status"] not in CLOSED or kind_of(d) == "chargeback"
            for d in disputes_of(state, charge_id)
        ):
            raise _invalid(f"Charge {charge_id} cannot be disputed.", param="charge")
        disputable = charge["amount"] - charge["amount_refunded"]
        amount = disputable if amount is None else amount
        if not 1 <= amount <= disputable:
            raise _invalid(f"Dispute amount must be between 1 and {disputable}.", param="amount")
        now = state.clock.now()
        dispute = fixture("dispute")
        dispute.update(
            id=_new_id("dp"),
            amount=amount,
            balance_transactions=[],
            charge=charge_id,
            created=now,
            currency=charge["currency"],
            evidence_details={
                "due_by": now + 7 * 86400,
                "has_evidence": False,
                "past_due": False,
                "submission_count": 0,
            },
            is_charge_refundable=kind == "inquiry",
            metadata={},
            payment_intent=charge["payment_intent"],
            reason=reason,
            status="warning_needs_response" if kind == "inquiry" else "needs_response",
        )
        state._store(dispute, state._owner[charge_id])
        charge["disputed"] = True
        if kind == "chargeback":
            # Stripe takes the money as the dispute opens: the created event already lists the
            # withdrawal, and funds_withdrawn follows.
            _withdraw(state, dispute)
        state._emit(None, "charge.dispute.created", dispute["id"])
        if kind == "chargeback":
            state._emit(None, "charge.dispute.funds_withdrawn", dispute["id"])
        return state._render(dispute["id"])


def _open(state: SandboxState, dispute_id: str, owner: str | None) -> dict[str, Any]:
    dispute = state._get(dispute_id, "dispute", owner, "dispute")
    if dispute["status"] in CLOSED:
        raise _invalid(f"This dispute is already closed (status {dispute['status']}).")
    return dispute


def escalate(state: SandboxState, dispute_id: str) -> dict[str, Any]:
    """An inquiry becoming a chargeback: funds withdrawn now (sandbox control)."""
    with state._lock:
        dispute = _open(state, dispute_id, None)
        if kind_of(dispute) != "inquiry":
            raise _invalid(f"Dispute {dispute_id} is not an inquiry.")
        before = copy.deepcopy(dispute)
        dispute["status"] = "needs_response"
        dispute["evidence_details"]["due_by"] = state.clock.now() + 7 * 86400
        _withdraw(state, dispute)
        _emit_updated(state, None, dispute, before)
        state._emit(None, "charge.dispute.funds_withdrawn", dispute_id)
        return state._render(dispute_id)


def _emit_updated(
    state: SandboxState, ctx: Ctx | None, dispute: dict[str, Any], before: dict[str, Any]
) -> None:
    previous = {k: v for k, v in before.items() if dispute.get(k) != v}
    previous.pop("balance_transactions", None)
    if previous:
        state._emit(ctx, "charge.dispute.updated", dispute["id"], previous=previous)


def submit_evidence(
    state: SandboxState,
    ctx: Ctx | None,
    dispute_id: str,
    *,
    evidence: dict[str, Any] | None = None,
    metadata: Any = None,
    submit: bool = True,
) -> dict[str, Any]:
    """`POST /v1/disputes/{id}` (and the control endpoint): store evidence; `submit` moves
    the dispute under review."""
    from .state import merge_metadata

    with state._lock:
        dispute = _open(state, dispute_id, ctx.account if ctx else None)
        before = copy.deepcopy(dispute)
        if evidence:
            dispute["evidence"].update({k: v or None for k, v in evidence.items()})
            dispute["evidence_details"]["has_evidence"] = True
        dispute["metadata"] = merge_metadata(dispute["metadata"], metadata)
        if submit:
            if dispute["status"] in ("under_review", "warning_under_review"):
                raise _invalid(
                    f"This dispute is already under review (status {dispute['status']}); "
                    f"evidence can no longer be submitted."
                )
            dispute["status"] = (
                "warning_under_review" if kind_of(dispute) == "inquiry" else "under_review"
            )
            dispute["evidence_details"]["submission_count"] += 1
            dispute["evidence_details"]["has_evidence"] = True
        _emit_updated(state, ctx, dispute, before)
        return state._render(dispute_id)


def accept(state: SandboxState, ctx: Ctx, dispute_id: str) -> dict[str, Any]:
    """`POST /v1/disputes/{id}/close`: the platform accepts the dispute (lost; an inquiry
    closes as `warning_closed`)."""
    with state._lock:
        dispute = _open(state, dispute_id, ctx.account)
        outcome = "warning_closed" if kind_of(dispute) == "inquiry" else "lost"
        return _close(state, ctx, dispute, outcome)


def close(state: SandboxState, dispute_id: str, outcome: str | None) -> dict[str, Any]:
    """The card network deciding (sandbox control): chargebacks `won`/`lost`, inquiries
    `warning_closed`."""
    with state._lock:
        dispute = _open(state, dispute_id, None)
        kind = kind_of(dispute)
        outcome = outcome or OUTCOMES[kind][-1]
        if outcome not in OUTCOMES[kind]:
            raise ValueError(
                f"an open {kind} ({dispute['status']}) closes as "
                f"{' or '.join(OUTCOMES[kind])}, not {outcome!r}"
            )
        return _close(state, None, dispute, outcome)


def _close(
    state: SandboxState, ctx: Ctx | None, dispute: dict[str, Any], outcome: str
) -> dict[str, Any]:
    dispute["status"] = outcome
    state._emit(ctx, "charge.dispute.closed", dispute["id"])
    if outcome == "won":
        _reinstate(state, dispute)
        state._emit(ctx, "charge.dispute.funds_reinstated", dispute["id"])
    return state._render(dispute["id"])


def render(state: SandboxState, obj: dict[str, Any]) -> None:
    """Stripe returns a dispute's balance transactions as full objects."""
    obj["balance_transactions"] = [state._render(t) for t in obj["balance_transactions"]]


def _new_id(prefix: str) -> str:
    from .state import new_id

    return new_id(prefix)
