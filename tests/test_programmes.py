"""Ambassador programmes (issue 15 item 5): a recurring contract renewing through the worker,
each renewal a funding of its own through the Stripe sandbox and booked in the ledger; notice
ending it; a renewal job run twice (and two at once) making one period and one funding; a
renewal whose charge is declined, seen by both parties, lapsing the programme."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import func, select

from app.models import Contract, Job, JobState, JournalEntry, Payment
from app.models.ledger import EntryKind
from app.services.workflow.jobs import FUND_RENEWAL_TOPIC, PROGRAMME_RENEW_TOPIC
from app.services.workflow.outbox import enqueue
from tests.factories import (
    Account,
    assert_problem,
    create_contract,
    fund_directly,
    offer_body,
    open_deal,
    register,
    relogin,
)
from tests.money_support import assert_sound, funded_contract, money_worker, settle

MONTHLY = {"interval": "month", "interval_count": 1, "notice_days": 10}


async def _ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def _move_to(clock, sandbox, at: datetime) -> None:
    """Both clocks to `at` (the sandbox's stamps Stripe's objects and events)."""
    clock.advance(at - clock.now())
    sandbox.set_clock(clock.now().timestamp())


async def _read(app, stmt):
    async with app.state.resources.database.sessionmaker() as session:
        return (await session.execute(stmt)).all()


async def _fundings(app, contract_id: str) -> int:
    rows = await _read(
        app,
        select(func.count())
        .select_from(JournalEntry)
        .where(JournalEntry.contract_id == contract_id, JournalEntry.kind == EntryKind.funding),
    )
    return int(rows[0][0])


async def _enqueue(app, clock, topic: str, payload: dict[str, Any], key: str) -> None:
    async with app.state.resources.database.sessionmaker() as session, session.begin():
        await enqueue(session, topic, payload, now=clock.now(), idempotency_key=key)


def _intents_for(sandbox, contract_id: str) -> list[str]:
    return [
        e["data"]["object"]["id"]
        for e in sandbox.events()
        if e["type"] == "payment_intent.created"
        and e["data"]["object"]["metadata"].get("rapport_contract_id") == contract_id
    ]


async def test_a_programme_renews_three_times_with_its_money_booked_then_ends_with_notice(
    stripe_app, stripe_api, stripe_sandbox, forwarder, clock
):
    stripe_sandbox.set_clock(clock.now().timestamp())
    worker = money_worker(stripe_app, clock)
    funded = await funded_contract(
        stripe_api, stripe_sandbox, worker, forwarder, recurrence=MONTHLY
    )
    brand, creator = funded.deal.brand_owner, funded.deal.influencer
    programme_id = funded.contract["programme_id"]
    assert programme_id and funded.contract["period_no"] == 1
    assert funded.contract["terms"]["recurrence"] == MONTHLY
    path = f"/v1/programmes/{programme_id}"
    programme = await _ok(await stripe_api.get(path, headers=brand.headers))
    assert programme["state"] == "active" and programme["current_period"] == 1
    assert programme["per_period"] == {"price": 120_000, "currency": "EUR", "deliverables": 3}
    assert programme["next_renewal_at"] == "2026-12-24T12:00:00Z"  # T0 + 1 month
    assert programme["allowed_actions"] == ["give_notice"]
    # The creator's relationship with the brand says so.
    rel = await _ok(
        await stripe_api.get(
            f"/v1/brands/{funded.deal.brand['id']}/relationships/{funded.deal.listing['id']}",
            headers=brand.headers,
        )
    )
    assert rel["status"] == "ambassador"

    for n, starts in ((2, "2026-12-24"), (3, "2027-01-24"), (4, "2027-02-24")):
        _move_to(clock, stripe_sandbox, datetime.fromisoformat(f"{starts}T12:00:00+00:00"))
        if n == 4:
            # The same renewal enqueued twice more, run by two workers at once.
            payload = {"programme_id": programme_id, "period_no": 4}
            for copy in ("a", "b"):
                await _enqueue(stripe_app, clock, PROGRAMME_RENEW_TOPIC, payload, f"dup-{copy}")
            other = money_worker(stripe_app, clock)
            await asyncio.gather(worker.run_once(), other.run_once())
        await settle(worker, forwarder)
        brand = await relogin(stripe_api, brand)
        programme = await _ok(await stripe_api.get(path, headers=brand.headers))
        assert programme["current_period"] == n, programme
        period = programme["periods"][-1]
        assert period["period_no"] == n and period["starts_at"] == f"{starts}T12:00:00Z"
        assert period["contract_state"] == "active", period
        assert period["funding"]["status"] == "succeeded"
        contract = await _ok(
            await stripe_api.get(f"/v1/contracts/{period['contract_id']}", headers=brand.headers)
        )
        assert contract["programme_id"] == programme_id and contract["period_no"] == n
        # The period's deliverables are due n - 1 months after period 1's.
        assert [d["due_date"] for d in contract["deliverables"]] == [f"{date}" for date in _due(n)]

    contract_ids = [p["contract_id"] for p in programme["periods"]]
    assert len(set(contract_ids)) == 4
    # Each period's money is booked: one funding entry, price + fee charged once at Stripe.
    for contract_id in contract_ids:
        assert await _fundings(stripe_app, contract_id) == 1
        assert len(_intents_for(stripe_sandbox, contract_id)) == 1
    payments = await _read(
        stripe_app,
        select(Payment.contract_id, Payment.amount, Payment.status).where(
            Payment.contract_id.in_(contract_ids)
        ),
    )
    assert sorted(a for _, a, _ in payments) == [120_000] * 4
    assert {s for _, _, s in payments} == {"succeeded"}
    await assert_sound(stripe_app)

    # A renewal job and a charge job for period 4 run again: nothing more is made or charged.
    last = contract_ids[-1]
    await _enqueue(
        stripe_app,
        clock,
        PROGRAMME_RENEW_TOPIC,
        {"programme_id": programme_id, "period_no": 4},
        "dup-late",
    )
    await _enqueue(stripe_app, clock, FUND_RENEWAL_TOPIC, {"contract_id": last}, "dup-charge")
    await settle(worker, forwarder)
    count = await _read(
        stripe_app, select(func.count()).where(Contract.programme_id == programme_id)
    )
    assert count[0][0] == 4
    assert await _fundings(stripe_app, last) == 1
    assert len(_intents_for(stripe_sandbox, last)) == 1
    # Every renewal and charge job, duplicates included, ran to success (a duplicate is a no-op,
    # not a failure the database refused).
    jobs = await _read(
        stripe_app,
        select(Job.topic, Job.state, func.count())
        .where(Job.topic.in_([PROGRAMME_RENEW_TOPIC, FUND_RENEWAL_TOPIC]))
        .group_by(Job.topic, Job.state),
    )
    assert sorted(jobs) == [
        (FUND_RENEWAL_TOPIC, JobState.succeeded, 4),  # periods 2-4, and the duplicate
        (PROGRAMME_RENEW_TOPIC, JobState.pending, 1),  # period 5's, due in a month
        (PROGRAMME_RENEW_TOPIC, JobState.succeeded, 6),  # periods 2-4, and three duplicates
    ]

    # The creator gives the agreed notice (10 days): period 5 (a month away) will not start.
    creator = await relogin(stripe_api, creator)
    given = await _ok(
        await stripe_api.post(
            f"{path}/notice", json={"reason": "Touring all spring"}, headers=creator.headers
        )
    )
    assert given["state"] == "notice_given" and given["notice_given_by"] == "influencer"
    assert given["notice_ends_at"] == "2027-03-06T12:00:00Z"
    assert given["next_renewal_at"] is None and given["allowed_actions"] == []
    assert_problem(
        await stripe_api.post(f"{path}/notice", headers=brand.headers),
        409,
        "invalid-transition",
    )
    _move_to(clock, stripe_sandbox, datetime.fromisoformat("2027-03-06T12:00:01+00:00"))
    await settle(worker, forwarder)
    _move_to(clock, stripe_sandbox, datetime.fromisoformat("2027-03-25T00:00:00+00:00"))
    await settle(worker, forwarder)
    brand = await relogin(stripe_api, brand)
    ended = await _ok(await stripe_api.get(path, headers=brand.headers))
    assert ended["state"] == "ended" and ended["current_period"] == 4
    assert "the influencer gave notice on 2027-02-24" in ended["end_reason"]
    assert len(ended["periods"]) == 4
    trail = await _ok(await stripe_api.get(f"{path}/transitions", headers=brand.headers))
    assert [t["action"] for t in trail["data"]] == ["renew", "renew", "renew", "give_notice", "end"]
    # The relationship's timeline tells the programme's story.
    timeline = await _ok(
        await stripe_api.get(
            f"/v1/brands/{funded.deal.brand['id']}/relationships/"
            f"{funded.deal.listing['id']}/timeline",
            headers=brand.headers,
        )
    )
    told = [(e["kind"], e["event"]) for e in timeline["entries"] if e["kind"] == "programme"]
    assert told == [("programme", "agreed")] + [("programme", "renew")] * 3 + [
        ("programme", "give_notice"),
        ("programme", "end"),
    ]
    started = [
        e["summary"] for e in timeline["entries"] if "of ambassador programme" in e["summary"]
    ]
    assert [s.split(" of ")[0] for s in started] == ["period 2", "period 3", "period 4"]
    await assert_sound(stripe_app)


def _due(n: int) -> list[str]:
    """offer_body's due dates (2 reels 2026-12-28, a story 2027-01-02) in period n."""
    reels = ["2026-12-28", "2027-01-28", "2027-02-28", "2027-03-28"][n - 1]
    story = ["2027-01-02", "2027-02-02", "2027-03-02", "2027-04-02"][n - 1]
    return [reels, reels, story]


async def test_a_declined_renewal_does_not_start_the_period_and_lapses_the_programme(
    stripe_app, stripe_api, stripe_sandbox, forwarder, clock
):
    stripe_sandbox.set_clock(clock.now().timestamp())
    worker = money_worker(stripe_app, clock)
    funded = await funded_contract(
        stripe_api, stripe_sandbox, worker, forwarder, recurrence=MONTHLY
    )
    programme_id = funded.contract["programme_id"]
    path = f"/v1/programmes/{programme_id}"
    saved = await _read(
        stripe_app,
        select(Payment.saved_payment_method_id).where(Payment.contract_id == funded.contract_id),
    )
    # The card the brand paid period 1 with has expired since.
    stripe_sandbox.decline_payment_method(saved[0][0], "expired_card")
    _move_to(clock, stripe_sandbox, datetime.fromisoformat("2026-12-24T12:00:00+00:00"))
    await settle(worker, forwarder)
    creator = await relogin(stripe_api, funded.deal.influencer)
    seen = await _ok(await stripe_api.get(path, headers=creator.headers))
    period = seen["periods"][-1]
    assert seen["state"] == "active" and period["period_no"] == 2
    # Not started: the contract awaits its funding, and both parties see why.
    assert period["contract_state"] == "awaiting_funding" and period["funded_at"] is None
    declined = {
        "status": "requires_payment_method",
        "failure_code": "expired_card",
        "failure_message": "Your card has expired.",
    }
    assert period["funding"] == declined
    assert await _fundings(stripe_app, period["contract_id"]) == 0
    deliverables = await _ok(
        await stripe_api.get(
            f"/v1/contracts/{period['contract_id']}/deliverables", headers=creator.headers
        )
    )
    assert {d["state"] for d in deliverables["data"]} == {"pending"}

    # The brand pays period 2 itself, with another card, within its funding window.
    brand = await relogin(stripe_api, funded.deal.brand_owner)
    started = await _ok(
        await stripe_api.post(
            f"/v1/contracts/{period['contract_id']}/funding", headers=brand.headers
        )
    )
    assert started["status"] == "requires_payment_method"
    await _ok(
        await stripe_api.post(
            f"/v1/contracts/{period['contract_id']}/funding/confirm",
            json={"payment_method": "pm_card_mastercard"},
            headers=brand.headers,
        )
    )
    await settle(worker, forwarder)
    seen = await _ok(await stripe_api.get(path, headers=brand.headers))
    assert seen["periods"][-1]["contract_state"] == "active"
    assert await _fundings(stripe_app, period["contract_id"]) == 1

    # Period 3 is charged to the saved card again (a card paid with by hand is not kept):
    # declined, and unpaid by its funding deadline the programme lapses, with the reason.
    _move_to(clock, stripe_sandbox, datetime.fromisoformat("2027-01-24T12:00:00+00:00"))
    await settle(worker, forwarder)
    brand = await relogin(stripe_api, brand)
    third = (await _ok(await stripe_api.get(path, headers=brand.headers)))["periods"][-1]
    assert third["period_no"] == 3 and third["funding"] == declined
    due = datetime.fromisoformat(third["funding_due_at"].replace("Z", "+00:00"))
    _move_to(clock, stripe_sandbox, due + timedelta(seconds=1))
    await settle(worker, forwarder)
    brand = await relogin(stripe_api, brand)
    lapsed = await _ok(await stripe_api.get(path, headers=brand.headers))
    assert lapsed["state"] == "lapsed" and lapsed["next_renewal_at"] is None
    assert lapsed["end_reason"].startswith(f"period 3 ({third['contract_id']}) was not funded")
    assert lapsed["end_reason"].endswith("the payment failed: Your card has expired.")
    assert lapsed["periods"][-1]["contract_state"] == "expired"
    # No period 4, ever.
    _move_to(clock, stripe_sandbox, datetime.fromisoformat("2027-02-25T00:00:00+00:00"))
    await settle(worker, forwarder)
    brand = await relogin(stripe_api, brand)
    assert len((await _ok(await stripe_api.get(path, headers=brand.headers)))["periods"]) == 3
    await assert_sound(stripe_app)


async def test_recurring_terms_rules_and_who_sees_a_programme(client, app, clock):
    deal = await open_deal(client)
    bid = deal.bid["id"]
    # A funding window of a period or more is refused: renewals must settle within a period.
    r = await client.post(
        f"/v1/bids/{bid}/offers",
        json=offer_body(recurrence={"interval": "week"}, funding_window_hours=168),
        headers=deal.brand_owner.headers,
    )
    problem = assert_problem(r, 422)
    assert [e["rule"] for e in problem["errors"]] == ["not_shorter_than_period"]
    r = await client.post(
        f"/v1/bids/{bid}/offers",
        json=offer_body(recurrence={"interval": "fortnight"}),
        headers=deal.brand_owner.headers,
    )
    assert_problem(r, 422)
    # Weekly, defaults: a 84-hour funding window (half a week), 30 days' notice.
    deal, contract = await create_contract(client, deal, recurrence={"interval": "week"})
    assert contract["terms"]["funding_window_hours"] == 84
    assert contract["terms"]["recurrence"] == {
        "interval": "week",
        "interval_count": 1,
        "notice_days": 30,
    }
    await fund_directly(app, contract["id"])
    path = f"/v1/programmes/{contract['programme_id']}"
    for party in (deal.brand_owner, deal.influencer):
        mine = await _ok(await client.get("/v1/programmes", headers=party.headers))
        assert [p["id"] for p in mine["data"]] == [contract["programme_id"]]
    stranger: Account = await register(client)
    assert_problem(await client.get(path, headers=stranger.headers), 404, "programme-not-found")
    assert_problem(
        await client.post(f"{path}/notice", headers=stranger.headers), 404, "programme-not-found"
    )
    assert (await _ok(await client.get("/v1/programmes", headers=stranger.headers)))["data"] == []
    # The brand gives 30 days' notice: the next four weekly periods still start before it ends.
    given = await _ok(await client.post(f"{path}/notice", headers=deal.brand_owner.headers))
    assert given["notice_given_by"] == "brand" and given["next_renewal_at"] is not None
    assert given["notice_ends_at"] == "2026-12-24T12:00:00Z"
    listed = await _ok(
        await client.get(
            "/v1/programmes", params={"state": "active"}, headers=deal.influencer.headers
        )
    )
    assert listed["data"] == []
