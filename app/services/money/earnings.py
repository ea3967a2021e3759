"""What an influencer earns, per currency, and where each milestone's money is
(`GET /v1/influencers/me/earnings`, docs/payments.md "Earnings").

A milestone's `money_state`, from its contract, its state and our Stripe records:

| money_state        | when                                                              |
|--------------------|-------------------------------------------------------------------|
| `awaiting_funding` | the brand has not paid yet (or never did: expired, cancelled)     |
| `in_escrow`        | funded, not met yet                                               |
| `frozen`           | funded, the contract is disputed: nothing moves until it is resolved |
| `releasable`       | met; the release job is on its way                                |
| `released`         | released to you; the transfer is on its way (or `waiting_for`)     |
| `transferred`      | in your Stripe account (`transfer_id`); Stripe pays it out to your bank |
| `reversed`         | the transfer was reversed in full                                 |
| `refund_pending`, `refunded`, `cancelled` | the money goes (went) back to the brand     |

Totals per currency: `in_escrow` (funded, not released: in_escrow + frozen + releasable),
`releasable`, `released` (released, not transferred yet), `transferred` (net of reversals),
`paid_out` (payouts `paid`), `payouts_pending`, and the failed payouts with Stripe's reason.
A released milestone whose influencer cannot receive transfers yet says
`waiting_for: payouts_enabled`; a frozen one `waiting_for: dispute_resolution`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Contract, Milestone, Payout, Transfer
from app.models.contract import NEVER_FUNDED_STATES, ContractState, MilestoneState
from app.services.catalogue.influencers import get_own_profile
from app.services.money import payouts


@dataclass
class MilestoneMoney:
    milestone_id: str
    contract_id: str
    position: int
    name: str | None
    amount: int
    currency: str
    state: str
    money_state: str
    waiting_for: str | None = None
    transfer_id: str | None = None
    transferred: int = 0


@dataclass
class CurrencyTotals:
    currency: str
    in_escrow: int = 0
    releasable: int = 0
    released: int = 0
    transferred: int = 0
    paid_out: int = 0
    payouts_pending: int = 0
    failed_payouts: list[Payout] = field(default_factory=list)


@dataclass
class Earnings:
    influencer_id: str
    payouts_enabled: bool
    transfers_enabled: bool
    currencies: list[CurrencyTotals]
    milestones: list[MilestoneMoney]
    payouts: list[Payout]


def money_state(
    contract: Contract, milestone: Milestone, transfer: Transfer | None, can_receive: bool
) -> tuple[str, str | None]:
    state = milestone.state
    if transfer is not None:
        return ("reversed" if transfer.amount_reversed >= transfer.amount else "transferred"), None
    if state == MilestoneState.released.value:
        return "released", (None if can_receive else "payouts_enabled")
    if state == "refundable":
        return "refund_pending", None
    if state in ("refunded", "cancelled"):
        return state, None
    if contract.funded_at is None or contract.state in NEVER_FUNDED_STATES:
        return "awaiting_funding", None
    if contract.state == ContractState.disputed.value:
        return "frozen", "dispute_resolution"
    if state == MilestoneState.releasable.value:
        return "releasable", None
    return "in_escrow", None


async def earnings(session: AsyncSession, user_id: str) -> Earnings:
    influencer = await get_own_profile(session, user_id)
    account = await payouts.payout_account_for(session, influencer.id)
    can_receive = payouts.can_receive_transfers(account)
    rows = (
        await session.execute(
            select(Contract, Milestone, Transfer)
            .join(Milestone, Milestone.contract_id == Contract.id)
            .outerjoin(Transfer, Transfer.milestone_id == Milestone.id)
            .where(Contract.influencer_id == influencer.id)
            .order_by(Contract.id, Milestone.position)
        )
    ).all()
    totals: dict[str, CurrencyTotals] = {}

    def total(currency: str) -> CurrencyTotals:
        return totals.setdefault(currency, CurrencyTotals(currency))

    milestones: list[MilestoneMoney] = []
    for contract, milestone, transfer in rows:
        kind, waiting = money_state(contract, milestone, transfer, can_receive)
        net = transfer.amount - transfer.amount_reversed if transfer is not None else 0
        milestones.append(
            MilestoneMoney(
                milestone_id=milestone.id,
                contract_id=contract.id,
                position=milestone.position,
                name=milestone.name,
                amount=milestone.amount,
                currency=milestone.currency,
                state=milestone.state,
                money_state=kind,
                waiting_for=waiting,
                transfer_id=transfer.stripe_transfer_id if transfer is not None else None,
                transferred=net,
            )
        )
        t = total(milestone.currency)
        if kind in ("in_escrow", "frozen", "releasable"):
            t.in_escrow += milestone.amount
        if kind == "releasable":
            t.releasable += milestone.amount
        if kind == "released":
            t.released += milestone.amount
        t.transferred += net
    payout_rows = list(
        await session.scalars(
            select(Payout).where(Payout.influencer_id == influencer.id).order_by(Payout.id.desc())
        )
    )
    for payout in payout_rows:
        t = total(payout.currency)
        if payout.status == "paid":
            t.paid_out += payout.amount
        elif payout.status == "failed":
            t.failed_payouts.append(payout)
        elif payout.status in ("pending", "in_transit"):
            t.payouts_pending += payout.amount
    return Earnings(
        influencer_id=influencer.id,
        payouts_enabled=bool(account and account.payouts_enabled),
        transfers_enabled=can_receive,
        currencies=[totals[c] for c in sorted(totals)],
        milestones=milestones,
        payouts=payout_rows,
    )
