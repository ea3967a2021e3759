"""Invitations, bids, offers and messages: the negotiation (docs/negotiation.md).

`ETag` on `GET /v1/bids/{id}` and `GET /v1/bids/{id}/offers` is the negotiation's version;
`If-Match` with it makes offer create/accept/reject (and bid moves) conditional: 412 when it is
stale. Without `If-Match` the write still cannot overwrite a concurrent one (409).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Response, status

from app.auth import BidReader, BidWriter, NegotiationWriter
from app.clock import rfc3339
from app.db import Session
from app.deps import AppSettings, Now
from app.errors import (
    AUTH_PROBLEMS,
    InvalidTransition,
    PreconditionFailed,
    problem_responses,
)
from app.models import Bid, BidMessage, BidState, Offer, Side
from app.pagination import Page, Pagination, page_of
from app.schemas.negotiation import (
    BidIn,
    BidOut,
    BidTimelineOut,
    BriefInvitationOut,
    Change,
    InvitationsIn,
    MessageIn,
    MessageOut,
    OfferDiffOut,
    OfferIn,
    OfferOut,
    ReadIn,
    ReadMarkerOut,
    ReasonIn,
    TermsOut,
)
from app.schemas.workflow import TransitionOut
from app.services.catalogue.briefs import BriefNotFound
from app.services.negotiation import bids as bid_service
from app.services.negotiation import offers as offer_service
from app.services.negotiation.bids import (
    BidExists,
    BidNotFound,
    BidsRefusedByBrand,
    BriefNotOpen,
    InfluencerProfileRequired,
    NegotiationChanged,
    OwnBrief,
    ThreadClosed,
)
from app.services.negotiation.exclusivity import ExclusivityConflict
from app.services.negotiation.offers import (
    BidNotNegotiable,
    BidView,
    NotYourTurn,
    OfferExpired,
    OfferNotFound,
    OfferNotLatest,
    OfferView,
)
from app.services.workflow.state_machine import (
    ActorNotAllowed,
    ConcurrentTransition,
    TransitionRefused,
)

router = APIRouter(tags=["negotiation"])

IfMatch = Annotated[
    str | None,
    Header(
        alias="If-Match",
        description='The `ETag` you last read (the negotiation\'s version, e.g. `"3"`); '
        "412 when the negotiation has moved on since",
    ),
]


def with_etag(status_code: int, responses: dict[int | str, Any]) -> dict[int | str, Any]:
    """Declares the `ETag` response header (the negotiation's version) in OpenAPI."""
    header = {"description": "The negotiation's version", "schema": {"type": "string"}}
    return {**responses, status_code: {"headers": {"ETag": header}}}


def etag(version: int) -> str:
    return f'"{version}"'


def expected_version(if_match: str | None) -> int | None:
    """The version an `If-Match` names (None for no header or `*`)."""
    if if_match is None or if_match.strip() == "*":
        return None
    tag = if_match.strip()
    if tag.startswith("W/"):
        tag = tag[2:]
    if len(tag) >= 2 and tag[0] == tag[-1] == '"':
        tag = tag[1:-1]
    if not tag.isdigit():
        raise PreconditionFailed(
            'If-Match must be one ETag of this negotiation, as sent in `ETag` (e.g. "3")'
        )
    return int(tag)


def _bid_out(view: BidView) -> BidOut:
    bid = view.bid
    return BidOut(
        id=bid.id,
        brief_id=bid.brief_id,
        brand_id=bid.brand_id,
        influencer_id=bid.influencer_id,
        state=bid.state,
        version=bid.version,
        price=bid.price,
        currency=bid.currency,
        deliverables=bid.deliverables,
        timeline=BidTimelineOut.model_validate(bid.timeline),
        pitch=bid.pitch,
        side=view.side,
        allowed_actions=view.allowed_actions,
        latest_offer_id=view.latest_offer_id,
        contract_id=view.contract_id,
        message_count=bid.message_count,
        unread_count=view.unread_count,
        created_at=bid.created_at,
    )


def _terms_document(offer: Offer) -> dict[str, Any]:
    """An offer's terms as the API shows them: the diff's paths follow the API's field order, on
    both databases."""
    terms = TermsOut.model_validate(offer.terms).model_dump(mode="json")
    return terms | {"expires_at": rfc3339(offer.expires_at)}


def _offer_out(view: OfferView) -> OfferOut:
    offer = view.offer
    return OfferOut(
        id=offer.id,
        bid_id=offer.bid_id,
        version=offer.version,
        author=offer.author_side,
        state=offer.state,
        terms=TermsOut.model_validate(offer.terms),
        expires_at=offer.expires_at,
        created_at=offer.created_at,
        responded_at=offer.responded_at,
        latest=view.latest,
        contract_id=view.contract_id,
    )


def _message_out(message: BidMessage) -> MessageOut:
    return MessageOut(
        id=message.id,
        bid_id=message.bid_id,
        seq=message.seq,
        author=message.author_side,
        author_user_id=message.author_user_id,
        text=message.body,
        attachments=message.attachments,
        created_at=message.created_at,
    )


async def _one_bid(session: Session, user_id: str, bid: Bid, now: datetime) -> BidOut:
    (view,) = await offer_service.bid_views(session, user_id, [bid], now)
    return _bid_out(view)


async def _one_offer(session: Session, offer: Offer) -> OfferOut:
    (view,) = await offer_service.offer_views(session, [offer])
    return _offer_out(view)


# --- invitations --------------------------------------------------------------------------------


@router.post(
    "/v1/briefs/{brief_id}/invitations",
    status_code=status.HTTP_201_CREATED,
    summary="Invite influencers to a brief",
    description="Brand members invite listings to a draft or open brief. Invitees see an "
    "invite-only brief and may bid on it; nobody else can. Inviting a listing again changes "
    "nothing. Returns the invitations of the listings named.",
    responses=problem_responses(*AUTH_PROBLEMS, BriefNotFound, BriefNotOpen),
)
async def invite_influencers(
    brief_id: str, body: InvitationsIn, principal: BidWriter, session: Session, now: Now
) -> list[BriefInvitationOut]:
    rows = await bid_service.invite(session, principal.user_id, brief_id, body.influencer_ids, now)
    return [BriefInvitationOut.model_validate(r) for r in rows]


@router.get(
    "/v1/briefs/{brief_id}/invitations",
    summary="The influencers invited to a brief",
    description="Brand members only; oldest first.",
    responses=problem_responses(*AUTH_PROBLEMS, BriefNotFound),
)
async def list_brief_invitations(
    brief_id: str, principal: BidReader, session: Session, page: Pagination
) -> Page[BriefInvitationOut]:
    rows, cursor = await bid_service.list_invitations(session, principal.user_id, brief_id, page)
    items = [BriefInvitationOut.model_validate(r) for r in rows]
    return Page[BriefInvitationOut](**page_of(items, cursor))


# --- bids ---------------------------------------------------------------------------------------


@router.post(
    "/v1/briefs/{brief_id}/bids",
    status_code=status.HTTP_201_CREATED,
    summary="Bid on a brief",
    description="An influencer bids on an open brief they can see (an invite-only brief: "
    "invitees only) before its application deadline: price in the brief's currency (minor "
    "units), deliverables with due dates inside the brief's publishing window, timeline, "
    "pitch. One active bid per influencer and brief (409 `bid-exists`). A brief that is not "
    "open is a 409 `brief-not-open`. A brand that marked the influencer do_not_work takes no "
    "bids from them: 403 `bids-refused-by-brand` (the brand's reason stays private).",
    responses=with_etag(
        201,
        problem_responses(
            *AUTH_PROBLEMS,
            BriefNotFound,
            BriefNotOpen,
            BidExists,
            InfluencerProfileRequired,
            OwnBrief,
            BidsRefusedByBrand,
        ),
    ),
)
async def submit_bid(
    brief_id: str,
    body: BidIn,
    principal: BidWriter,
    session: Session,
    now: Now,
    response: Response,
) -> BidOut:
    doc = body.model_dump(mode="json")
    bid = await bid_service.submit(session, principal.user_id, brief_id, doc, now)
    response.headers["ETag"] = etag(bid.version)
    return await _one_bid(session, principal.user_id, bid, now)


@router.get(
    "/v1/briefs/{brief_id}/bids",
    summary="The bids a brief received",
    description="Brand members only; newest first.",
    responses=problem_responses(*AUTH_PROBLEMS, BriefNotFound),
)
async def list_brief_bids(
    brief_id: str,
    principal: BidReader,
    session: Session,
    page: Pagination,
    now: Now,
    state: Annotated[
        list[BidState], Query(default_factory=list, description="Only bids in these states")
    ],
) -> Page[BidOut]:
    rows, cursor = await bid_service.list_brief_bids(
        session, principal.user_id, brief_id, page, state
    )
    views = await offer_service.bid_views(session, principal.user_id, rows, now)
    return Page[BidOut](**page_of([_bid_out(v) for v in views], cursor))


@router.get(
    "/v1/bids",
    summary="Your bids: made as an influencer, or received by your brands",
    description="Newest first. `side` narrows to one side.",
    responses=problem_responses(*AUTH_PROBLEMS),
)
async def list_my_bids(
    principal: BidReader,
    session: Session,
    page: Pagination,
    now: Now,
    *,
    side: Annotated[
        Side | None,
        Query(description="`influencer`: bids you made; `brand`: bids your brands received"),
    ] = None,
    state: Annotated[
        list[BidState], Query(default_factory=list, description="Only bids in these states")
    ],
    brief_id: Annotated[
        str | None, Query(max_length=40, description="Only bids on this brief")
    ] = None,
) -> Page[BidOut]:
    rows, cursor = await bid_service.list_my_bids(
        session, principal.user_id, page, side=side, states=state, brief_id=brief_id
    )
    views = await offer_service.bid_views(session, principal.user_id, rows, now)
    return Page[BidOut](**page_of([_bid_out(v) for v in views], cursor))


@router.get(
    "/v1/bids/{bid_id}",
    summary="A bid",
    description="The two parties only (anyone else: 404). `ETag` is the negotiation's version.",
    responses=with_etag(200, problem_responses(*AUTH_PROBLEMS, BidNotFound)),
)
async def get_bid(
    bid_id: str, principal: BidReader, session: Session, now: Now, response: Response
) -> BidOut:
    bid, _ = await bid_service.get_bid(session, principal.user_id, bid_id)
    response.headers["ETag"] = etag(bid.version)
    return await _one_bid(session, principal.user_id, bid, now)


_BID_MOVE_PROBLEMS = with_etag(
    200,
    problem_responses(
        *AUTH_PROBLEMS,
        BidNotFound,
        InvalidTransition,
        ActorNotAllowed,
        ConcurrentTransition,
        PreconditionFailed,
    ),
)


async def _move(
    action: str,
    bid_id: str,
    principal: BidWriter,
    session: Session,
    now: Now,
    response: Response,
    body: ReasonIn | None,
    if_match: str | None,
) -> BidOut:
    bid, _ = await bid_service.transition(
        session,
        principal.user_id,
        bid_id,
        action,
        now,
        reason=body.reason if body is not None else None,
        expected_version=expected_version(if_match),
    )
    response.headers["ETag"] = etag(bid.version)
    return await _one_bid(session, principal.user_id, bid, now)


@router.post(
    "/v1/bids/{bid_id}/withdraw",
    summary="Withdraw your bid",
    description="The influencer: submitted, shortlisted or in_negotiation → withdrawn; the "
    "open offer, if any, is cancelled.",
    responses=_BID_MOVE_PROBLEMS,
)
async def withdraw_bid(
    bid_id: str,
    principal: BidWriter,
    session: Session,
    now: Now,
    response: Response,
    if_match: IfMatch = None,
    body: ReasonIn | None = None,
) -> BidOut:
    return await _move("withdraw", bid_id, principal, session, now, response, body, if_match)


@router.post(
    "/v1/bids/{bid_id}/shortlist",
    summary="Shortlist a bid",
    description="The brand: submitted → shortlisted.",
    responses=_BID_MOVE_PROBLEMS,
)
async def shortlist_bid(
    bid_id: str,
    principal: BidWriter,
    session: Session,
    now: Now,
    response: Response,
    if_match: IfMatch = None,
    body: ReasonIn | None = None,
) -> BidOut:
    return await _move("shortlist", bid_id, principal, session, now, response, body, if_match)


@router.post(
    "/v1/bids/{bid_id}/decline",
    summary="Decline a bid",
    description="The brand: submitted, shortlisted or in_negotiation → declined; the open "
    "offer, if any, is cancelled.",
    responses=_BID_MOVE_PROBLEMS,
)
async def decline_bid(
    bid_id: str,
    principal: BidWriter,
    session: Session,
    now: Now,
    response: Response,
    if_match: IfMatch = None,
    body: ReasonIn | None = None,
) -> BidOut:
    return await _move("decline", bid_id, principal, session, now, response, body, if_match)


@router.get(
    "/v1/bids/{bid_id}/transitions",
    summary="The bid's audit trail",
    description="Every transition of the bid, oldest first; the two parties only.",
    responses=problem_responses(*AUTH_PROBLEMS, BidNotFound),
)
async def list_bid_transitions(
    bid_id: str, principal: BidReader, session: Session, page: Pagination
) -> Page[TransitionOut]:
    rows, cursor = await bid_service.bid_transitions(session, principal.user_id, bid_id, page)
    return Page[TransitionOut](**page_of([TransitionOut.model_validate(t) for t in rows], cursor))


# --- offers -------------------------------------------------------------------------------------

_OFFER_WRITE_PROBLEMS = (
    *AUTH_PROBLEMS,
    InvalidTransition,
    ConcurrentTransition,
    NegotiationChanged,
    NotYourTurn,
    OfferExpired,
    ExclusivityConflict,
    TransitionRefused,
    PreconditionFailed,
)


@router.post(
    "/v1/bids/{bid_id}/offers",
    status_code=status.HTTP_201_CREATED,
    summary="Make an offer (the next version of the terms)",
    description="The first offer may come from either side; after that only the side whose "
    "turn it is may make the next one (it counters the other side's open offer; 409 "
    "`not-your-turn` otherwise). Omitted terms take the brief's defaults. 422 names every bad "
    "field (currency, due dates, a payment schedule that does not sum to the price …); 409 "
    "`exclusivity-conflict` when another brand's exclusivity forbids the deal; 412 when "
    "`If-Match` is stale. The response's `ETag` is the negotiation's new version.",
    responses=with_etag(
        201,
        problem_responses(BidNotFound, BidNotNegotiable, ActorNotAllowed, *_OFFER_WRITE_PROBLEMS),
    ),
)
async def make_offer(
    bid_id: str,
    body: OfferIn,
    principal: NegotiationWriter,
    session: Session,
    now: Now,
    settings: AppSettings,
    response: Response,
    if_match: IfMatch = None,
) -> OfferOut:
    offer, bid = await offer_service.make_offer(
        session,
        principal.user_id,
        bid_id,
        body.model_dump(mode="json"),
        now,
        offer_expiry=timedelta(hours=settings.offer_expiry_hours),
        funding_window_hours=settings.contract_funding_window_hours,
        expected_version=expected_version(if_match),
    )
    response.headers["ETag"] = etag(bid.version)
    return await _one_offer(session, offer)


@router.get(
    "/v1/bids/{bid_id}/offers",
    summary="The offers of a bid, first version first",
    description="`ETag` is the negotiation's version (send it as `If-Match` when you act).",
    responses=with_etag(200, problem_responses(*AUTH_PROBLEMS, BidNotFound)),
)
async def list_bid_offers(
    bid_id: str, principal: BidReader, session: Session, page: Pagination, response: Response
) -> Page[OfferOut]:
    bid, rows, cursor = await offer_service.list_offers(session, principal.user_id, bid_id, page)
    response.headers["ETag"] = etag(bid.version)
    views = await offer_service.offer_views(session, rows)
    return Page[OfferOut](**page_of([_offer_out(v) for v in views], cursor))


@router.get(
    "/v1/offers/{offer_id}",
    summary="An offer",
    description="The two parties of its bid only. `ETag` is the negotiation's version: send it "
    "as `If-Match` to accept or reject this offer.",
    responses=with_etag(200, problem_responses(*AUTH_PROBLEMS, OfferNotFound)),
)
async def get_offer(
    offer_id: str, principal: BidReader, session: Session, response: Response
) -> OfferOut:
    offer, bid, _ = await offer_service.load_offer(session, principal.user_id, offer_id)
    response.headers["ETag"] = etag(bid.version)
    return await _one_offer(session, offer)


@router.get(
    "/v1/offers/{offer_id}/diff",
    summary="What changed between two offers of a bid",
    description="Every changed term as a dotted path with its value in `against` (`before`) "
    "and in this offer (`after`).",
    responses=problem_responses(*AUTH_PROBLEMS, OfferNotFound),
)
async def diff_offers(
    offer_id: str,
    principal: BidReader,
    session: Session,
    against: Annotated[
        str, Query(max_length=40, description="The offer to compare with (`ofr_…`)")
    ],
) -> OfferDiffOut:
    changes = await offer_service.offer_diff(
        session, principal.user_id, offer_id, against, _terms_document
    )
    return OfferDiffOut(
        offer_id=offer_id, against=against, changes=[Change.model_validate(c) for c in changes]
    )


_RESPOND_PROBLEMS = with_etag(
    200, problem_responses(OfferNotFound, OfferNotLatest, *_OFFER_WRITE_PROBLEMS)
)


async def _respond(
    action: str,
    offer_id: str,
    principal: NegotiationWriter,
    session: Session,
    now: Now,
    response: Response,
    body: ReasonIn | None,
    if_match: str | None,
) -> OfferOut:
    offer, bid = await offer_service.respond(
        session,
        principal.user_id,
        offer_id,
        action,
        now,
        reason=body.reason if body is not None else None,
        expected_version=expected_version(if_match),
    )
    response.headers["ETag"] = etag(bid.version)
    return await _one_offer(session, offer)


@router.post(
    "/v1/offers/{offer_id}/accept",
    summary="Accept the other side's latest offer",
    description="Creates the contract in the same transaction (`contract_id` in the response). "
    "409 `offer-not-latest` for anything but the bid's latest offer, `not-your-turn` for your "
    "own offer, `offer-expired` past its expiry, `exclusivity-conflict` when another brand's "
    "exclusivity forbids it; 412 when `If-Match` is stale.",
    responses=_RESPOND_PROBLEMS,
)
async def accept_offer(
    offer_id: str,
    principal: NegotiationWriter,
    session: Session,
    now: Now,
    response: Response,
    if_match: IfMatch = None,
    body: ReasonIn | None = None,
) -> OfferOut:
    return await _respond("accept", offer_id, principal, session, now, response, body, if_match)


@router.post(
    "/v1/offers/{offer_id}/reject",
    summary="Reject the other side's latest offer",
    description="Either side may then make the next offer. Same refusals as accepting.",
    responses=_RESPOND_PROBLEMS,
)
async def reject_offer(
    offer_id: str,
    principal: NegotiationWriter,
    session: Session,
    now: Now,
    response: Response,
    if_match: IfMatch = None,
    body: ReasonIn | None = None,
) -> OfferOut:
    return await _respond("reject", offer_id, principal, session, now, response, body, if_match)


# --- messages -----------------------------------------------------------------------------------


@router.post(
    "/v1/bids/{bid_id}/messages",
    status_code=status.HTTP_201_CREATED,
    summary="Send a message in the bid's thread",
    description="Text up to 5,000 characters and up to 10 http(s) links. The thread closes "
    "when the bid is declined, withdrawn or expired (409 `thread-closed`).",
    responses=problem_responses(*AUTH_PROBLEMS, BidNotFound, ThreadClosed),
)
async def post_message(
    bid_id: str, body: MessageIn, principal: NegotiationWriter, session: Session, now: Now
) -> MessageOut:
    message = await bid_service.post_message(
        session,
        principal.user_id,
        bid_id,
        body.text,
        [a.model_dump(mode="json") for a in body.attachments],
        now,
    )
    return _message_out(message)


@router.get(
    "/v1/bids/{bid_id}/messages",
    summary="The bid's thread, oldest first",
    description="The messages the brand and the creator exchanged on this bid, oldest first. "
    "Only the two parties can read them.",
    responses=problem_responses(*AUTH_PROBLEMS, BidNotFound),
)
async def list_messages(
    bid_id: str, principal: BidReader, session: Session, page: Pagination
) -> Page[MessageOut]:
    rows, cursor = await bid_service.list_messages(session, principal.user_id, bid_id, page)
    return Page[MessageOut](**page_of([_message_out(m) for m in rows], cursor))


@router.post(
    "/v1/bids/{bid_id}/messages/read",
    summary="Mark the thread read up to a message",
    description="Your side's read marker moves to `up_to` (never back); `unread_count` counts "
    "the other side's messages after it.",
    responses=problem_responses(*AUTH_PROBLEMS, BidNotFound),
)
async def mark_messages_read(
    bid_id: str, body: ReadIn, principal: NegotiationWriter, session: Session
) -> ReadMarkerOut:
    marker = await bid_service.mark_read(session, principal.user_id, bid_id, body.up_to)
    return ReadMarkerOut.model_validate(marker)
