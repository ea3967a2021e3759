"""Outbound webhooks over real HTTP, and the event feed (issue 14 items 4 and 5).

The receiver is a real HTTP server on 127.0.0.1 (a thread of this process) that verifies nothing
itself: the tests verify what it received with the `standardwebhooks` library, as a partner
would. The relay is the app's worker with only the webhook handler (money jobs a deal enqueues
are not this file's business). Time moves with the test clock; the retry schedule is the spec's.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from app.main import create_app
from app.services.workflow import webhooks
from app.services.workflow.jobs import WEBHOOK_DELIVERY_TOPIC, JobHandlers, JobResources
from app.settings import Settings
from app.worker.runner import Worker
from tests.factories import (
    Account,
    assert_problem,
    create_brand,
    create_contract,
    make_offer,
    open_deal,
    register,
    relogin,
)

# --- the receiver ---------------------------------------------------------------------------------


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: str


@dataclass
class Receiver:
    """Answers by path: /ok → 204, /fail/<k> → 500 the first k times then 200, /gone → 410,
    /hang → no answer for 10 s."""

    port: int = 0
    requests: list[Received] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    def at(self, path: str) -> list[Received]:
        return [r for r in self.requests if r.path == path]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:  # quiet
            pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0"))).decode()
            with state.lock:
                state.requests.append(Received(self.path, dict(self.headers.items()), body))
                n = state.counts[self.path] = state.counts.get(self.path, 0) + 1
            if self.path == "/hang":
                time.sleep(10)
                status = 200
            elif self.path == "/gone":
                status = 410
            elif self.path.startswith("/fail/"):
                status = 500 if n <= int(self.path.rsplit("/", 1)[1]) else 200
            else:
                status = 204
            try:
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()
            except OSError:
                pass  # the sender gave up (the hanging case)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


# --- helpers ----------------------------------------------------------------------------------


def relay(app: Any, *, concurrency: int = 1, **settings: Any) -> Worker:
    base: Settings = app.state.resources.settings
    handlers = JobHandlers({WEBHOOK_DELIVERY_TOPIC: webhooks.deliver_job})
    return Worker(
        app.state.resources.database,
        app.state.resources.clock,
        handlers=handlers,
        concurrency=concurrency,
        resources=JobResources(settings=base.model_copy(update=settings)),
    )


async def add_endpoint(
    client: httpx.AsyncClient, who: Account, url: str, **body: Any
) -> dict[str, Any]:
    r = await client.post("/v1/webhook-endpoints", json={"url": url, **body}, headers=who.headers)
    assert r.status_code == 201, r.text
    return r.json()


async def deliveries(
    client: httpx.AsyncClient, who: Account, endpoint_id: str
) -> list[dict[str, Any]]:
    r = await client.get(f"/v1/webhook-endpoints/{endpoint_id}/deliveries", headers=who.headers)
    assert r.status_code == 200, r.text
    return r.json()["data"]


def verified(secret: str, received: Received) -> dict[str, Any]:
    return Webhook(secret).verify(received.body, received.headers)


async def accepted_offer(client: httpx.AsyncClient, deal: Any) -> dict[str, Any]:
    offer = await make_offer(client, deal.brand_owner, deal.bid["id"])
    r = await client.post(f"/v1/offers/{offer['id']}/accept", headers=deal.influencer.headers)
    assert r.status_code == 200, r.text
    return r.json()


# --- signatures, audience, payloads ---------------------------------------------------------


async def test_events_are_signed_and_sent_to_the_parties_only(client, app, receiver):
    deal = await open_deal(client)
    brand_hook = await add_endpoint(
        client, deal.brand_owner, receiver.url("/brand"), brand_id=deal.brand["id"]
    )
    creator_hook = await add_endpoint(
        client, deal.influencer, receiver.url("/creator"), event_types=["offer.accepted"]
    )
    outsider = await register(client)
    other = await create_brand(client, outsider, "Other")
    await add_endpoint(client, outsider, receiver.url("/outsider"), brand_id=other["id"])
    assert brand_hook["secret"].startswith("whsec_")
    r = await client.get(
        f"/v1/webhook-endpoints/{brand_hook['id']}", headers=deal.brand_owner.headers
    )
    assert "secret" not in r.json()

    offer = await accepted_offer(client, deal)
    report = await relay(app).run_once()
    assert report.jobs.succeeded >= 2

    brand_events = [verified(brand_hook["secret"], r) for r in receiver.at("/brand")]
    types = [e["type"] for e in brand_events]
    assert "offer.accepted" in types and "bid.accepted" in types, types
    # The influencer's endpoint asked for offer.accepted only.
    (creator_event,) = [verified(creator_hook["secret"], r) for r in receiver.at("/creator")]
    assert creator_event["type"] == "offer.accepted"
    assert receiver.at("/outsider") == []
    # A signature made with another secret does not verify.
    with pytest.raises(WebhookVerificationError):
        verified(brand_hook["secret"], receiver.at("/creator")[0])

    # data.object is the offer as the API serves it; webhook-id is the event id.
    event = next(e for e in brand_events if e["type"] == "offer.accepted")
    served = (
        await client.get(f"/v1/offers/{offer['id']}", headers=deal.brand_owner.headers)
    ).json()
    assert event["data"]["object"] == served
    assert event["id"].startswith("evt_")
    received = next(r for r in receiver.at("/brand") if json.loads(r.body)["id"] == event["id"])
    assert received.headers["webhook-id"] == event["id"]
    assert event["created_at"] == "2026-11-24T12:00:00Z"

    log = await deliveries(client, deal.brand_owner, brand_hook["id"])
    assert {d["state"] for d in log} == {"succeeded"}
    assert all(d["attempt_log"][0]["status_code"] == 204 for d in log)


async def test_event_objects_match_the_api_for_bids_and_contracts(client, app):
    deal, contract = await create_contract(client)
    brand = deal.brand_owner
    r = await client.get("/v1/events", params={"object_id": contract["id"]}, headers=brand.headers)
    # A new object's first event names its first state.
    (created,) = r.json()["data"]
    assert created["type"] == "contract.awaiting_funding"
    served = (await client.get(f"/v1/contracts/{contract['id']}", headers=brand.headers)).json()
    served.pop("side"), served.pop("allowed_actions")
    assert created["data"]["object"] == served
    r = await client.get("/v1/events", params={"object_id": deal.bid["id"]}, headers=brand.headers)
    assert [e["type"] for e in r.json()["data"]][-1] == "bid.submitted"  # newest first
    r = await client.get("/v1/events", params={"type": "bid.accepted"}, headers=brand.headers)
    (bid_event,) = r.json()["data"]
    served_bid = (await client.get(f"/v1/bids/{deal.bid['id']}", headers=brand.headers)).json()
    for caller_field in ("side", "allowed_actions", "unread_count"):
        served_bid.pop(caller_field)
    # The event is the bid at its acceptance: the contract (made next, in the same transaction)
    # and the version bumps that followed came after it.
    later = {"version": served_bid["version"], "contract_id": served_bid["contract_id"]}
    assert bid_event["data"]["object"]["contract_id"] is None
    assert bid_event["data"]["object"] | later == served_bid

    from tests.factories import fund_directly

    await fund_directly(app, contract["id"])
    r = await client.get(
        "/v1/events", params={"type": "contract.active"}, headers=deal.influencer.headers
    )
    (funded,) = r.json()["data"]
    served = (await client.get(f"/v1/contracts/{contract['id']}", headers=brand.headers)).json()
    served.pop("side"), served.pop("allowed_actions")
    assert funded["data"]["object"] == served


async def test_a_refused_transition_writes_no_event(client, app):
    deal = await open_deal(client)
    offer = await make_offer(client, deal.brand_owner, deal.bid["id"])
    r = await client.post(f"/v1/offers/{offer['id']}/accept", headers=deal.brand_owner.headers)
    assert r.status_code in (403, 409), r.text  # the author may not accept its own offer
    r = await client.get(
        "/v1/events", params={"object_id": offer["id"]}, headers=deal.brand_owner.headers
    )
    assert [e["type"] for e in r.json()["data"]] == ["offer.open"] or r.json()["data"] == []
    assert "offer.accepted" not in [e["type"] for e in r.json()["data"]]


# --- retries, 410, timeouts ------------------------------------------------------------------


async def test_retries_follow_the_schedule_until_the_receiver_recovers(client, app, receiver):
    deal = await open_deal(client)
    hook = await add_endpoint(
        client,
        deal.brand_owner,
        receiver.url("/fail/3"),
        brand_id=deal.brand["id"],
        event_types=["offer.accepted"],
    )
    await accepted_offer(client, deal)
    clock = app.state.resources.clock
    worker = relay(app)

    await worker.run_once()
    assert len(receiver.at("/fail/3")) == 1
    (delivery,) = await deliveries(client, deal.brand_owner, hook["id"])
    assert delivery["state"] == "pending" and delivery["attempts"] == 1
    assert delivery["last_status_code"] == 500
    assert delivery["next_attempt_at"] == "2026-11-24T12:00:05Z"

    # Not before it is due …
    clock.advance(timedelta(seconds=4))
    await worker.run_once()
    assert len(receiver.at("/fail/3")) == 1
    # … then 5 s, 5 min and 30 min after the previous attempt.
    for wait in (timedelta(seconds=1), timedelta(minutes=5), timedelta(minutes=30)):
        clock.advance(wait)
        await worker.run_once()
    assert len(receiver.at("/fail/3")) == 4
    brand = await relogin(client, deal.brand_owner)
    (delivery,) = await deliveries(client, brand, hook["id"])
    assert delivery["state"] == "succeeded" and delivery["attempts"] == 4
    assert [a["status_code"] for a in delivery["attempt_log"]] == [500, 500, 500, 200]
    assert [a["at"] for a in delivery["attempt_log"]] == [
        "2026-11-24T12:00:00Z",
        "2026-11-24T12:00:05Z",
        "2026-11-24T12:05:05Z",
        "2026-11-24T12:35:05Z",
    ]
    # Every attempt carried the same message id, each signed afresh.
    assert len({r.headers["webhook-id"] for r in receiver.at("/fail/3")}) == 1
    for received in receiver.at("/fail/3"):
        verified(hook["secret"], received)


async def test_the_schedule_ends_in_failure(client, app, receiver):
    deal = await open_deal(client)
    hook = await add_endpoint(
        client,
        deal.brand_owner,
        receiver.url("/fail/100"),
        brand_id=deal.brand["id"],
        event_types=["offer.accepted"],
    )
    await accepted_offer(client, deal)
    worker = relay(app)
    for wait in webhooks.RETRY_SCHEDULE:
        app.state.resources.clock.advance(wait)
        await worker.run_once()
    app.state.resources.clock.advance(timedelta(days=2))
    await worker.run_once()
    assert len(receiver.at("/fail/100")) == 8
    brand = await relogin(client, deal.brand_owner)
    (delivery,) = await deliveries(client, brand, hook["id"])
    assert delivery["state"] == "failed" and delivery["next_attempt_at"] is None


async def test_410_gone_disables_the_endpoint_and_redelivery_waits_for_enabling(
    client, app, receiver
):
    deal = await open_deal(client)
    brand = deal.brand_owner
    hook = await add_endpoint(client, brand, receiver.url("/gone"), brand_id=deal.brand["id"])
    await accepted_offer(client, deal)
    await relay(app).run_once()
    r = await client.get(f"/v1/webhook-endpoints/{hook['id']}", headers=brand.headers)
    assert r.json()["state"] == "disabled"
    assert "410" in r.json()["disabled_reason"]
    log = await deliveries(client, brand, hook["id"])
    # The first delivery met the 410; the others were not attempted once it was disabled.
    assert {d["state"] for d in log} == {"failed"}
    assert len(receiver.at("/gone")) == 1

    # Nothing new is scheduled for a disabled endpoint.
    before = len(log)
    deal2 = await open_deal(client, brand_owner=brand, brand=deal.brand)
    await accepted_offer(client, deal2)
    assert len(await deliveries(client, brand, hook["id"])) == before

    path = f"/v1/webhook-endpoints/{hook['id']}/deliveries/{log[0]['id']}/redeliver"
    r = await client.post(path, headers=brand.headers)
    assert_problem(r, 409, "webhook-endpoint-disabled")
    r = await client.patch(
        f"/v1/webhook-endpoints/{hook['id']}",
        json={"enabled": True, "url": receiver.url("/ok")},
        headers=brand.headers,
    )
    assert r.status_code == 200 and r.json()["state"] == "enabled", r.text
    r = await client.post(path, headers=brand.headers)
    assert r.status_code == 201, r.text
    assert r.json()["redelivery_of"] == log[0]["id"]
    await relay(app).run_once()
    (again,) = receiver.at("/ok")
    assert again.headers["webhook-id"] == log[0]["event_id"]
    verified(hook["secret"], again)


async def test_a_hanging_receiver_times_out_and_others_still_get_theirs(client, app, receiver):
    deal = await open_deal(client)
    types = ["offer.accepted"]
    slow = await add_endpoint(
        client,
        deal.brand_owner,
        receiver.url("/hang"),
        brand_id=deal.brand["id"],
        event_types=types,
    )
    await add_endpoint(client, deal.influencer, receiver.url("/ok"), event_types=types)
    await accepted_offer(client, deal)

    started = time.monotonic()
    await relay(app, concurrency=4, webhook_timeout_seconds=0.5).run_once()
    elapsed = time.monotonic() - started
    assert elapsed < 5, elapsed  # the receiver hangs for 10 s
    assert len(receiver.at("/ok")) == 1
    (delivery,) = await deliveries(client, deal.brand_owner, slow["id"])
    assert delivery["state"] == "pending"
    assert delivery["last_error"].startswith("timeout")
    assert delivery["next_attempt_at"] == "2026-11-24T12:00:05Z"


# --- SSRF ---------------------------------------------------------------------------------------


@pytest.fixture
async def strict_client(app, make_client, make_settings_for):
    """The app with private targets refused (as in production; http still allowed)."""
    strict = create_app(
        make_settings_for(webhooks_allow_private=False), clock=app.state.resources.clock
    )
    async with make_client(strict) as c:
        yield c
    await strict.state.resources.database.dispose()


@pytest.mark.parametrize(
    "url",
    [
        "http://localhost:8080/hook",  # a name that resolves to 127.0.0.1
        "http://127.0.0.1/hook",
        "http://[::1]/hook",
        "http://10.1.2.3/hook",
        "http://192.168.0.10/hook",
        "http://169.254.169.254/latest/meta-data",  # link-local (cloud metadata)
        "http://100.64.0.1/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "ftp://203.0.113.5/hook",
        "https://user:pw@example.com/hook",
    ],
)
async def test_private_targets_are_refused_at_creation(strict_client, url):
    owner = await register(strict_client)
    brand = await create_brand(strict_client, owner)
    r = await strict_client.post(
        "/v1/webhook-endpoints", json={"url": url, "brand_id": brand["id"]}, headers=owner.headers
    )
    assert_problem(r, 422, "webhook-url-refused")
    r = await strict_client.get("/v1/webhook-endpoints", headers=owner.headers)
    assert r.json()["data"] == []


async def test_private_targets_are_refused_at_send_time(client, app, receiver):
    deal = await open_deal(client)
    # Allowed when created (development/test setting) …
    hook = await add_endpoint(
        client,
        deal.brand_owner,
        receiver.url("/ok", host="localhost"),
        brand_id=deal.brand["id"],
        event_types=["offer.accepted"],
    )
    await accepted_offer(client, deal)
    # … but the relay runs where private targets are refused: the name is resolved and refused.
    await relay(app, webhooks_allow_private=False).run_once()
    assert receiver.requests == []
    (delivery,) = await deliveries(client, deal.brand_owner, hook["id"])
    assert delivery["state"] == "pending" and delivery["last_status_code"] is None
    assert delivery["last_error"].startswith("refused:")
    assert "127.0.0.1" in delivery["last_error"] or "::1" in delivery["last_error"]


def test_production_requires_https():
    production = Settings.model_construct(environment="production", webhooks_allow_private=None)
    with pytest.raises(webhooks.WebhookUrlRefused):
        webhooks.check_url_shape("http://partner.example/hook", production)
    assert webhooks.check_url_shape("https://partner.example/hook", production) == (
        "partner.example",
        443,
    )
    assert production.webhooks_allow_private_targets is False


# --- rotation ----------------------------------------------------------------------------------


async def test_rotation_sends_both_signatures_during_the_overlap(client, app, receiver):
    deal = await open_deal(client)
    brand = deal.brand_owner
    hook = await add_endpoint(
        client,
        brand,
        receiver.url("/ok"),
        brand_id=deal.brand["id"],
        event_types=["offer.accepted"],
    )
    old = hook["secret"]
    r = await client.post(
        f"/v1/webhook-endpoints/{hook['id']}/rotate-secret", headers=brand.headers
    )
    assert r.status_code == 200, r.text
    new = r.json()["secret"]
    assert new != old and new.startswith("whsec_")
    assert r.json()["previous_secret_expires_at"] == "2026-11-25T12:00:00Z"

    await accepted_offer(client, deal)
    await relay(app).run_once()
    (first,) = receiver.at("/ok")
    assert len(first.headers["webhook-signature"].split(" ")) == 2
    verified(old, first)
    verified(new, first)

    # After the overlap only the new secret signs.
    app.state.resources.clock.advance(timedelta(hours=25))
    brand = await relogin(client, brand)
    deal2 = await open_deal(client, brand_owner=brand, brand=deal.brand)
    await accepted_offer(client, deal2)
    await relay(app).run_once()
    second = receiver.at("/ok")[1]
    assert len(second.headers["webhook-signature"].split(" ")) == 1
    verified(new, second)
    with pytest.raises(WebhookVerificationError):
        verified(old, second)


# --- management ----------------------------------------------------------------------------------


async def test_endpoint_management_and_its_refusals(client, receiver):
    owner = await register(client)
    brand = await create_brand(client, owner)
    r = await client.post(
        "/v1/webhook-endpoints",
        json={"url": receiver.url("/ok"), "brand_id": brand["id"], "event_types": ["offer.eaten"]},
        headers=owner.headers,
    )
    assert_problem(r, 422, "validation-error")
    # No brand named and no influencer profile: nothing to send.
    r = await client.post(
        "/v1/webhook-endpoints", json={"url": receiver.url("/ok")}, headers=owner.headers
    )
    assert_problem(r, 422, "validation-error")
    stranger = await register(client)
    r = await client.post(
        "/v1/webhook-endpoints",
        json={"url": receiver.url("/ok"), "brand_id": brand["id"]},
        headers=stranger.headers,
    )
    assert_problem(r, 404, "webhook-owner-not-found")

    hook = await add_endpoint(
        client, owner, receiver.url("/ok"), brand_id=brand["id"], event_types=["offer.accepted"]
    )
    r = await client.get(f"/v1/webhook-endpoints/{hook['id']}", headers=stranger.headers)
    assert_problem(r, 404, "webhook-endpoint-not-found")
    r = await client.patch(
        f"/v1/webhook-endpoints/{hook['id']}",
        json={"event_types": [], "description": "all of it"},
        headers=owner.headers,
    )
    assert r.json()["event_types"] == [] and r.json()["description"] == "all of it"
    r = await client.patch(
        f"/v1/webhook-endpoints/{hook['id']}", json={"url": None}, headers=owner.headers
    )
    assert_problem(r, 422, "validation-error")
    r = await client.get("/v1/event-types", headers=owner.headers)
    assert {"offer.accepted", "contract.active", "payout.paid", "brief.open"} <= set(
        r.json()["data"]
    )
    r = await client.delete(f"/v1/webhook-endpoints/{hook['id']}", headers=stranger.headers)
    assert_problem(r, 404, "webhook-endpoint-not-found")
    r = await client.delete(f"/v1/webhook-endpoints/{hook['id']}", headers=owner.headers)
    assert r.status_code == 204
    r = await client.get(f"/v1/webhook-endpoints/{hook['id']}", headers=owner.headers)
    assert r.status_code == 404


# --- the feed -------------------------------------------------------------------------------------


async def test_the_feed_pages_through_the_callers_events_only(client, app):
    deal = await open_deal(client)
    offer = await accepted_offer(client, deal)
    other = await open_deal(client)  # another brand, another creator
    await accepted_offer(client, other)

    brand = deal.brand_owner
    seen: list[dict[str, Any]] = []
    cursor = None
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        r = await client.get("/v1/events", params=params, headers=brand.headers)
        assert r.status_code == 200, r.text
        page = r.json()
        assert len(page["data"]) <= 2
        seen += page["data"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    ids = [e["id"] for e in seen]
    assert len(ids) == len(set(ids)) >= 4
    types = {e["type"] for e in seen}
    assert {"brief.open", "offer.open", "offer.accepted", "bid.accepted"} <= types, types
    # Only this deal's objects: the other tenant's never appear.
    other_ids = {other.brief["id"], other.bid["id"]}
    assert not any(e["data"]["object"]["id"] in other_ids for e in seen)
    assert {e["data"]["object"].get("brand_id", deal.brand["id"]) for e in seen} == {
        deal.brand["id"]
    }

    # Filters: by type, by object; another tenant's object gives nothing.
    r = await client.get("/v1/events", params={"type": "offer.accepted"}, headers=brand.headers)
    assert [e["data"]["object"]["id"] for e in r.json()["data"]] == [offer["id"]]
    r = await client.get("/v1/events", params={"object_id": deal.bid["id"]}, headers=brand.headers)
    assert {e["data"]["object"]["id"] for e in r.json()["data"]} == {deal.bid["id"]}
    r = await client.get("/v1/events", params={"object_id": other.bid["id"]}, headers=brand.headers)
    assert r.json()["data"] == []

    # The influencer sees the deal's events (not the brief's: it is the brand's own object).
    r = await client.get("/v1/events", params={"limit": 100}, headers=deal.influencer.headers)
    creator_types = {e["type"] for e in r.json()["data"]}
    assert "offer.accepted" in creator_types and "brief.open" not in creator_types
    # Someone with no part in either deal sees nothing.
    nobody = await register(client)
    r = await client.get("/v1/events", headers=nobody.headers)
    assert r.json() == {"data": [], "next_cursor": None, "has_more": False}
    # A cursor from another list is refused.
    r = await client.get("/v1/events", params={"cursor": "bm9wZQ"}, headers=brand.headers)
    assert_problem(r, 422, "validation-error")


async def test_brief_edits_and_moves_are_events(client):
    deal = await open_deal(client)
    brand = deal.brand_owner
    r = await client.patch(
        f"/v1/briefs/{deal.brief['id']}",
        json={"description": "Clearer now"},
        headers=brand.headers,
    )
    assert r.status_code == 200, r.text
    r = await client.get(
        "/v1/events", params={"object_id": deal.brief["id"]}, headers=brand.headers
    )
    events = r.json()["data"]
    assert [e["type"] for e in events] == ["brief.updated", "brief.open"]
    served = (await client.get(f"/v1/briefs/{deal.brief['id']}", headers=brand.headers)).json()
    assert events[0]["data"]["object"] == served


async def test_concurrent_deliveries_do_not_block_the_event_loop(client, app, receiver):
    """Many deliveries at once (the relay's concurrency) all arrive."""
    deal = await open_deal(client)
    await add_endpoint(client, deal.brand_owner, receiver.url("/ok"), brand_id=deal.brand["id"])
    await add_endpoint(client, deal.influencer, receiver.url("/ok"))
    await accepted_offer(client, deal)
    report = await asyncio.wait_for(relay(app, concurrency=8).run_once(), timeout=30)
    assert report.jobs.succeeded == len(receiver.at("/ok")) > 2


# --- docs/partners.md's verification examples run ------------------------------------------------

DOC = Path(__file__).resolve().parent.parent / "docs" / "partners.md"


def _blocks(language: str, section: str) -> list[str]:
    text = DOC.read_text().split(f"### {section}", 1)[1].split("\n## ", 1)[0].split("\n### ")[0]
    return re.findall(rf"```{language}\n(.*?)```", text, re.S)


def test_the_guides_python_verification_accepts_rapports_signature_only():
    secret = webhooks.new_secret()
    body = '{"id":"evt_1","type":"offer.accepted","created_at":"2026-11-24T12:00:00Z","data":{}}'
    headers = webhooks.signed_headers("evt_1", body, [secret], datetime.now(UTC))
    namespace: dict[str, Any] = {}
    exec(_blocks("python", "Verify the signature")[0], namespace)  # noqa: S102 (our own docs)
    assert namespace["receive"](body.encode(), headers, secret)["type"] == "offer.accepted"
    with pytest.raises(PermissionError):
        namespace["receive"](body.encode(), headers, webhooks.new_secret())


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl")
def test_the_guides_shell_verification_computes_the_same_signature(tmp_path):
    secret = webhooks.new_secret()
    body = '{"id":"evt_1","type":"offer.accepted","data":{"object":{"caption":"it\'s #ad"}}}'
    (tmp_path / "body.json").write_text(body)
    at = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
    script = _blocks("sh", "Verify the signature")[0].split("\n", 1)[1]
    prelude = (
        f"secret='{secret}'; id='evt_1'; ts='{int(at.timestamp())}'; body=\"$(cat body.json)\"\n"
    )
    done = subprocess.run(  # noqa: S603 (our own docs' snippet)
        ["bash", "-c", prelude + script],  # noqa: S607
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.strip() == Webhook(secret).sign("evt_1", at, body)


async def test_an_attempt_connects_to_the_address_that_was_checked(receiver):
    """No second DNS lookup between the check and the connection (DNS rebinding): the request
    goes to the checked address with the original Host header. `.invalid` never resolves."""
    url = f"http://hooks.partner.invalid:{receiver.port}/ok"
    status = await webhooks._post(url, "{}", {"webhook-id": "evt_1"}, 5, "127.0.0.1")
    assert status == 204
    (received,) = receiver.at("/ok")
    sent = [v for k, v in received.headers.items() if k.lower() == "host"]
    assert sent == [f"hooks.partner.invalid:{receiver.port}"]


def test_pinning_keeps_the_tls_server_name_and_brackets_ipv6():
    url, host, extensions = webhooks.pinned("https://partner.example/h?x=1", "2001:db8::7")
    assert url == "https://[2001:db8::7]/h?x=1"
    assert host == {"host": "partner.example"}
    assert extensions == {"sni_hostname": "partner.example"}
    url, host, extensions = webhooks.pinned("http://partner.example:8080/h", "203.0.113.9")
    assert (url, host, extensions) == (
        "http://203.0.113.9:8080/h",
        {"host": "partner.example:8080"},
        {},
    )


async def test_webhook_routes_need_the_webhooks_manage_scope(client):
    """An API key without `webhooks:manage` is refused (403); with it, it acts as its maker."""
    deal = await open_deal(client)
    owner = deal.brand_owner
    keys = {}
    for name, scopes in (("narrow", ["briefs:read"]), ("hooks", ["webhooks:manage"])):
        r = await client.post(
            "/v1/api-keys", json={"name": name, "scopes": scopes}, headers=owner.headers
        )
        assert r.status_code == 201, r.text
        keys[name] = {"Authorization": f"Bearer {r.json()['secret']}"}
    for path in ("/v1/events", "/v1/webhook-endpoints", "/v1/event-types"):
        assert_problem(await client.get(path, headers=keys["narrow"]), 403, "insufficient-scope")
    r = await client.get("/v1/events", headers=keys["hooks"])
    assert r.status_code == 200, r.text
    assert "brief.open" in {e["type"] for e in r.json()["data"]}
