"""A relationship's timeline: every interaction of a brand and a creator, oldest first.

Built when read from the deal's own rows and the audit trail (`state_transitions`, one row per
transition of every machine), so nothing has to remember to write to it:

| kind         | from                                                                       |
|--------------|----------------------------------------------------------------------------|
| relationship | the record's first contact, and each status change (brand-only reasons)    |
| invitation   | `brief_invitations` of the brand's briefs                                  |
| bid          | the bid's submission, then each of its transitions                         |
| offer        | each offer sent (version, side, price), then its transitions               |
| message      | each message of the bids' threads (who, and the first 140 characters)      |
| contract     | its creation (the accepted offer, or a programme's renewal), then funding … |
| programme    | an ambassador programme agreed, then its renewals, notice, end or lapse    |
| deliverable  | transitions (in review, published, confirmed, late …)                      |
| draft        | each draft submitted, then its review                                      |
| proof        | each proof of publication, with the disclosure check's verdict             |
| milestone    | transitions (releasable, released, refunded)                               |
| payment      | the brand's payment into escrow once it succeeded                          |
| transfer     | each transfer of a released milestone to the creator                       |
| dispute      | transitions of the contracts' disputes                                     |
| rating       | the brand's own rating; the creator's once revealed (ratings.py)           |

Only the brand's members read it (the status reasons are theirs).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import (
    AmbassadorProgramme,
    Bid,
    BidMessage,
    Brief,
    BriefInvitation,
    Contract,
    Deliverable,
    Dispute,
    Draft,
    Milestone,
    Offer,
    Payment,
    Proof,
    Side,
    StateTransition,
    Transfer,
)
from app.models.relationship import Rating, Relationship
from app.services.relationships.ratings import is_revealed, mean_score


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime
    kind: str
    object_id: str
    event: str
    summary: str
    actor: str | None = None
    contract_id: str | None = None
    bid_id: str | None = None


def _excerpt(text: str, n: int = 140) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"


async def _transitions(
    session: AsyncSession,
    kind: str,
    ids: Sequence[str],
    link: dict[str, tuple[str | None, str | None]],
) -> list[TimelineEntry]:
    if not ids:
        return []
    rows = await session.scalars(
        select(StateTransition).where(
            StateTransition.kind == kind, StateTransition.object_id.in_(list(ids))
        )
    )
    out = []
    for t in rows:
        bid_id, contract_id = link.get(t.object_id, (None, None))
        text = f"{kind} {t.action}: {t.from_state} → {t.to_state}"
        if t.reason:
            text += f" ({_excerpt(t.reason)})"
        out.append(
            TimelineEntry(
                t.at, kind, t.object_id, t.action, text, t.actor_kind, contract_id, bid_id
            )
        )
    return out


async def build_timeline(
    session: AsyncSession, relationship: Relationship, now: datetime
) -> list[TimelineEntry]:
    brand_id, influencer_id = relationship.brand_id, relationship.influencer_id
    entries: list[TimelineEntry] = [
        TimelineEntry(
            relationship.first_contact_at,
            "relationship",
            relationship.id,
            "first_contact",
            f"first contact: {relationship.first_contact.value}",
        )
    ]
    entries += await _transitions(session, "relationship", [relationship.id], {})

    invitations = await session.execute(
        select(BriefInvitation, Brief.title)
        .join(Brief, Brief.id == BriefInvitation.brief_id)
        .where(Brief.brand_id == brand_id, BriefInvitation.influencer_id == influencer_id)
    )
    for inv, title in invitations:
        entries.append(
            TimelineEntry(
                inv.created_at,
                "invitation",
                inv.id,
                "invited",
                f"invited to brief {title!r}",
                "brand",
            )
        )

    bids = list(
        await session.scalars(
            select(Bid).where(Bid.brand_id == brand_id, Bid.influencer_id == influencer_id)
        )
    )
    bid_ids = [b.id for b in bids]
    link: dict[str, tuple[str | None, str | None]] = {b.id: (b.id, None) for b in bids}
    for b in bids:
        entries.append(
            TimelineEntry(
                b.created_at,
                "bid",
                b.id,
                "submitted",
                f"bid submitted: {b.price} {b.currency} (minor units)",
                "influencer",
                None,
                b.id,
            )
        )
    entries += await _transitions(session, "bid", bid_ids, link)

    offers = (
        list(await session.scalars(select(Offer).where(Offer.bid_id.in_(bid_ids))))
        if bid_ids
        else []
    )
    for o in offers:
        link[o.id] = (o.bid_id, None)
        entries.append(
            TimelineEntry(
                o.created_at,
                "offer",
                o.id,
                "sent",
                f"offer v{o.version} from the {o.author_side.value}: {o.price} {o.currency}",
                o.author_side.value,
                None,
                o.bid_id,
            )
        )
    entries += await _transitions(session, "offer", [o.id for o in offers], link)

    if bid_ids:
        messages = await session.scalars(select(BidMessage).where(BidMessage.bid_id.in_(bid_ids)))
        for m in messages:
            entries.append(
                TimelineEntry(
                    m.created_at,
                    "message",
                    m.id,
                    "sent",
                    f"message from the {m.author_side.value}: {_excerpt(m.body)}",
                    m.author_side.value,
                    None,
                    m.bid_id,
                )
            )

    contracts = list(
        await session.scalars(
            select(Contract).where(
                Contract.brand_id == brand_id, Contract.influencer_id == influencer_id
            )
        )
    )
    contract_ids = [c.id for c in contracts]
    for c in contracts:
        link[c.id] = (c.bid_id, c.id)
        what = (
            f"period {c.period_no} of ambassador programme {c.programme_id} started"
            if c.period_no > 1
            else "contract agreed"
        )
        entries.append(
            TimelineEntry(
                c.accepted_at,
                "contract",
                c.id,
                "created",
                f"{what}: {c.price} {c.currency} (minor units)",
                None,
                c.id,
                c.bid_id,
            )
        )
    entries += await _transitions(session, "contract", contract_ids, link)
    programmes = list(
        await session.scalars(
            select(AmbassadorProgramme).where(
                AmbassadorProgramme.brand_id == brand_id,
                AmbassadorProgramme.influencer_id == influencer_id,
            )
        )
    )
    for p in programmes:
        link[p.id] = (p.bid_id, None)
        entries.append(
            TimelineEntry(
                p.starts_at,
                "programme",
                p.id,
                "agreed",
                f"ambassador programme agreed: every {p.interval_count} {p.interval.value}(s), "
                f"{p.price} {p.currency} (minor units) a period, {p.notice_days} days' notice",
                None,
                None,
                p.bid_id,
            )
        )
    entries += await _transitions(session, "programme", [p.id for p in programmes], link)
    if contract_ids:
        entries += await _children(session, contract_ids, contracts, now)
    entries.sort(key=lambda e: (e.at, _ORDER.get(e.kind, 99), e.object_id))
    return entries


_ORDER = {
    "relationship": 0,
    "invitation": 1,
    "bid": 2,
    "offer": 3,
    "message": 4,
    "contract": 5,
    "programme": 5,
    "deliverable": 6,
    "draft": 7,
    "proof": 8,
    "milestone": 9,
    "payment": 10,
    "transfer": 11,
    "dispute": 12,
    "rating": 13,
}


async def _ids(session: AsyncSession, model: Any, contract_ids: Sequence[str]) -> dict[str, str]:
    rows = await session.execute(
        select(model.id, model.contract_id).where(model.contract_id.in_(list(contract_ids)))
    )
    return {i: c for i, c in rows}


async def _children(
    session: AsyncSession, contract_ids: Sequence[str], contracts: Iterable[Contract], now: datetime
) -> list[TimelineEntry]:
    out: list[TimelineEntry] = []
    for kind, model in (
        ("deliverable", Deliverable),
        ("draft", Draft),
        ("milestone", Milestone),
        ("dispute", Dispute),
    ):
        owner = await _ids(session, model, contract_ids)
        link: dict[str, tuple[str | None, str | None]] = {i: (None, c) for i, c in owner.items()}
        out += await _transitions(session, kind, list(owner), link)
    for d in await session.scalars(select(Draft).where(Draft.contract_id.in_(list(contract_ids)))):
        out.append(
            TimelineEntry(
                d.submitted_at,
                "draft",
                d.id,
                "submitted",
                f"draft v{d.version_no} submitted",
                "influencer",
                d.contract_id,
            )
        )
    for p in await session.scalars(select(Proof).where(Proof.contract_id.in_(list(contract_ids)))):
        verdict = "disclosed" if (p.disclosure or {}).get("passed") else "disclosure missing"
        out.append(
            TimelineEntry(
                p.submitted_at,
                "proof",
                p.id,
                "submitted",
                f"proof of publication v{p.version_no} ({verdict})",
                "influencer",
                p.contract_id,
            )
        )
    payments = await session.scalars(
        select(Payment).where(
            Payment.contract_id.in_(list(contract_ids)), Payment.succeeded_at.is_not(None)
        )
    )
    for pay in payments:
        assert pay.succeeded_at is not None
        out.append(
            TimelineEntry(
                pay.succeeded_at,
                "payment",
                pay.id,
                "succeeded",
                f"payment into escrow: {pay.amount} {pay.currency} (minor units)",
                "brand",
                pay.contract_id,
            )
        )
    for t in await session.scalars(
        select(Transfer).where(Transfer.contract_id.in_(list(contract_ids)))
    ):
        out.append(
            TimelineEntry(
                t.created_at,
                "transfer",
                t.id,
                "created",
                f"paid to the creator: {t.amount} {t.currency} (minor units)",
                "system",
                t.contract_id,
            )
        )
    ended = {c.id: c.ended_at for c in contracts}
    ratings: dict[str, list[Rating]] = {}
    for r in await session.scalars(
        select(Rating).where(Rating.contract_id.in_(list(contract_ids)))
    ):
        ratings.setdefault(r.contract_id, []).append(r)
    for contract_id, rows in ratings.items():
        revealed = is_revealed(ended[contract_id], rows, now)
        for r in rows:
            if r.rater_side != Side.brand and not revealed:
                continue  # the creator's rating stays hidden until the reveal
            whom = "the creator" if r.rater_side == Side.brand else "the brand"
            out.append(
                TimelineEntry(
                    r.created_at,
                    "rating",
                    r.id,
                    "rated",
                    f"the {r.rater_side.value} rated {whom} {mean_score(r):.1f}/5",
                    r.rater_side.value,
                    contract_id,
                )
            )
    return out
