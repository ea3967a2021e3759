"""First-party measurement (docs/reports.md): tracked links and their redirect, promo codes, the
brand's conversion secret and the signed conversion posts of its shop."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Path, Request, Response, status
from fastapi.responses import RedirectResponse

from app.auth import Authenticator, Principal, Scope
from app.db import Session
from app.deps import AppSettings, ClientIp, Now
from app.errors import AUTH_PROBLEMS, problem_responses
from app.models import Conversion, ConversionRefund, ConversionSecret, PromoCode, TrackedLink
from app.pagination import Page, Pagination, page_of
from app.schemas.measurement import (
    ConversionIn,
    ConversionOut,
    ConversionRefundOut,
    ConversionSecretOut,
    LinkIn,
    LinkOut,
    LinkStatsOut,
    MoneyAmountOut,
    OrderIn,
    PromoCodeIn,
    PromoCodeOut,
    ReferrerOut,
)
from app.services.delivery.contracts import ContractNotFound
from app.services.identity.brands import BrandNotFound
from app.services.measurement import conversions, links
from app.services.measurement.links import CODE_PATTERN, BrandOnly, Hit, LinkNotFound, LinkStats

router = APIRouter(tags=["measurement"])

ReportReader = Annotated[Principal, Authenticator(Scope.reports_read)]
TrackingWriter = Annotated[Principal, Authenticator(Scope.tracking_write)]


def _link_out(link: TrackedLink, stats: LinkStats, public_url: str) -> LinkOut:
    return LinkOut(
        id=link.id,
        code=link.code,
        url=f"{public_url}/r/{link.code}",
        contract_id=link.contract_id,
        influencer_id=link.influencer_id,
        target_url=link.target_url,
        destination=links.destination(link),
        utm={k: str(v) for k, v in link.utm.items()},
        label=link.label,
        created_at=link.created_at,
        stats=LinkStatsOut(
            clicks=stats.clicks,
            unique_visitors=stats.unique_visitors,
            repeat_clicks=stats.repeat_clicks,
            bot_clicks=stats.bot_clicks,
            last_click_at=stats.last_click_at,
            referrers=[ReferrerOut(host=h, clicks=n) for h, n in stats.referrers],
        ),
    )


# --- tracked links ------------------------------------------------------------------------------


@router.post(
    "/v1/contracts/{contract_id}/links",
    status_code=status.HTTP_201_CREATED,
    summary="Make a tracked link for a contract",
    description="The brand's: a Rapport redirect (`url`) to `target_url` (http or https, no "
    "user:password part, not another Rapport link) with the UTM parameters the brand chooses "
    "and `rapport_link=<code>` added. Rapport counts its clicks, unique visitors and referrers "
    "itself; bots and repeated clicks are kept apart (docs/reports.md). The creator sees it.",
    responses=problem_responses(*AUTH_PROBLEMS, ContractNotFound, BrandOnly),
)
async def create_link(
    contract_id: str,
    body: LinkIn,
    principal: TrackingWriter,
    session: Session,
    settings: AppSettings,
    now: Now,
) -> LinkOut:
    link = await links.create_link(
        session,
        principal.user_id,
        contract_id,
        now,
        target_url=body.target_url,
        utm=body.utm.model_dump(),
        label=body.label,
        public_url=settings.public_url,
    )
    return _link_out(link, LinkStats(), settings.public_url)


@router.get(
    "/v1/contracts/{contract_id}/links",
    summary="A contract's tracked links, with their counts",
    description="Both parties. Each link with its counted clicks, unique visitors, repeats, "
    "bots and top referrers.",
    responses=problem_responses(*AUTH_PROBLEMS, ContractNotFound),
)
async def list_links(
    contract_id: str,
    principal: ReportReader,
    session: Session,
    settings: AppSettings,
    page: Pagination,
) -> Page[LinkOut]:
    rows, cursor = await links.list_links(session, principal.user_id, contract_id, page)
    stats = await links.link_stats(session, [r.id for r in rows])
    items = [_link_out(r, stats[r.id], settings.public_url) for r in rows]
    return Page[LinkOut](**page_of(items, cursor))


@router.get(
    "/v1/links/{link_id}",
    summary="One tracked link, with its counts",
    description="Both parties of its contract.",
    responses=problem_responses(*AUTH_PROBLEMS, LinkNotFound),
)
async def get_link(
    link_id: str, principal: ReportReader, session: Session, settings: AppSettings
) -> LinkOut:
    link = await links.get_link(session, principal.user_id, link_id)
    stats = await links.link_stats(session, [link.id])
    return _link_out(link, stats[link.id], settings.public_url)


@router.get(
    "/r/{code}",
    tags=["measurement"],
    summary="Follow a tracked link (the link a creator publishes)",
    description="No credential: anyone who clicks. Answers 302 to the brand's page with its UTM "
    "parameters and `rapport_link`, and records the hit: a counted click, a repeat by the same "
    "visitor within the repeat window, or a bot (no user agent, a crawler's or a link "
    "preview's, a prefetch). Neither the IP address nor the user agent is stored: only a "
    "keyed hash of them per day and brand (docs/reports.md).",
    status_code=status.HTTP_302_FOUND,
    response_class=RedirectResponse,
    responses={
        302: {
            "description": "To the brand's page",
            "headers": {
                "Location": {"description": "The destination", "schema": {"type": "string"}}
            },
        },
        **problem_responses(LinkNotFound),
    },
)
async def follow_link(
    code: Annotated[str, Path(pattern=CODE_PATTERN, description="The link's code")],
    request: Request,
    session: Session,
    settings: AppSettings,
    ip: ClientIp,
    now: Now,
) -> RedirectResponse:
    hit = Hit(
        ip=ip,
        user_agent=request.headers.get("user-agent"),
        referrer=request.headers.get("referer"),
        headers={k: request.headers[k] for k in links.PREFETCH_HEADERS if k in request.headers},
    )
    target = await links.follow(
        session,
        code,
        hit,
        now,
        secret=links.visitor_secret(settings),
        repeat_window=timedelta(minutes=settings.tracking_repeat_window_minutes),
    )
    return RedirectResponse(
        target,
        status_code=status.HTTP_302_FOUND,
        headers={"Cache-Control": "no-store", "X-Robots-Tag": "noindex"},
    )


# --- promo codes --------------------------------------------------------------------------------


async def _codes_out(session: Session, rows: list[PromoCode]) -> list[PromoCodeOut]:
    stats = await conversions.promo_code_stats(session, [r.id for r in rows])
    return [
        PromoCodeOut(
            id=r.id,
            code=r.code,
            contract_id=r.contract_id,
            influencer_id=r.influencer_id,
            created_at=r.created_at,
            conversions=stats[r.id].conversions,
            revenue=[
                MoneyAmountOut(currency=c, amount=a) for c, a in (stats[r.id].revenue or {}).items()
            ],
        )
        for r in rows
    ]


@router.post(
    "/v1/contracts/{contract_id}/promo-codes",
    status_code=status.HTTP_201_CREATED,
    summary="Give the contract's creator a promo code",
    description="The brand's. Codes are stored upper case and unique per brand (409 "
    "`promo-code-taken`). The shop names the code when it posts an order.",
    responses=problem_responses(
        *AUTH_PROBLEMS, ContractNotFound, BrandOnly, conversions.PromoCodeTaken
    ),
)
async def create_promo_code(
    contract_id: str, body: PromoCodeIn, principal: TrackingWriter, session: Session, now: Now
) -> PromoCodeOut:
    row = await conversions.create_promo_code(
        session, principal.user_id, contract_id, now, body.code
    )
    return (await _codes_out(session, [row]))[0]


@router.get(
    "/v1/contracts/{contract_id}/promo-codes",
    summary="A contract's promo codes, with their conversions",
    description="Both parties. Each code with its orders (not refunded in full) and their net "
    "revenue per currency.",
    responses=problem_responses(*AUTH_PROBLEMS, ContractNotFound),
)
async def list_promo_codes(
    contract_id: str, principal: ReportReader, session: Session, page: Pagination
) -> Page[PromoCodeOut]:
    rows, cursor = await conversions.list_promo_codes(session, principal.user_id, contract_id, page)
    return Page[PromoCodeOut](**page_of(await _codes_out(session, rows), cursor))


# --- the brand's conversion secret --------------------------------------------------------------


def _secret_out(row: ConversionSecret, *, show: bool) -> ConversionSecretOut:
    return ConversionSecretOut(
        brand_id=row.brand_id,
        secret=row.secret if show else None,
        created_at=row.created_at,
        rotated_at=row.rotated_at,
        previous_secret_expires_at=row.previous_secret_expires_at,
    )


@router.post(
    "/v1/brands/{brand_id}/conversion-secret",
    summary="Make or rotate the brand's conversion secret (shown once)",
    description="Owners and admins. The shop signs its conversion posts with it. The first call "
    "makes it; each later call rotates it, and posts signed with the previous secret are still "
    "accepted for `RAPPORT_CONVERSION_SECRET_OVERLAP_HOURS` (24 h). The secret is in this "
    "answer only.",
    responses=problem_responses(*AUTH_PROBLEMS, BrandNotFound),
)
async def rotate_conversion_secret(
    brand_id: str,
    principal: TrackingWriter,
    session: Session,
    settings: AppSettings,
    now: Now,
) -> ConversionSecretOut:
    row = await conversions.rotate_secret(
        session,
        principal.user_id,
        brand_id,
        now,
        overlap=timedelta(hours=settings.conversion_secret_overlap_hours),
    )
    return _secret_out(row, show=True)


@router.get(
    "/v1/brands/{brand_id}/conversion-secret",
    summary="Whether the brand has a conversion secret, and since when",
    description="Brand members. The secret itself is never shown again.",
    responses=problem_responses(
        *AUTH_PROBLEMS, BrandNotFound, conversions.ConversionSecretNotFound
    ),
)
async def get_conversion_secret(
    brand_id: str, principal: ReportReader, session: Session
) -> ConversionSecretOut:
    row = await conversions.secret_of(session, principal.user_id, brand_id)
    return _secret_out(row, show=False)


# --- conversion posts ---------------------------------------------------------------------------


def _conversion_out(
    row: Conversion, *, duplicate: bool = False, refund: ConversionRefund | None = None
) -> ConversionOut:
    return ConversionOut(
        id=row.id,
        order_id=row.order_id,
        contract_id=row.contract_id,
        influencer_id=row.influencer_id,
        attributed_by=row.attributed_by,
        link_id=row.link_id,
        promo_code_id=row.promo_code_id,
        amount=row.amount,
        refunded=row.refunded,
        net=row.amount - row.refunded,
        currency=row.currency,
        occurred_at=row.occurred_at,
        created_at=row.created_at,
        duplicate=duplicate,
        refund=(
            ConversionRefundOut(
                refund_id=refund.refund_id, amount=refund.amount, occurred_at=refund.occurred_at
            )
            if refund is not None
            else None
        ),
    )


async def _signed(
    brand_id: str,
    request: Request,
    session: Session,
    settings: AppSettings,
    now: Now,
    rapport_signature: Annotated[
        str | None,
        Header(
            alias="Rapport-Signature",
            max_length=2048,
            description='`t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>`',
        ),
    ] = None,
) -> None:
    """Checked before the body is read as JSON: an unsigned post learns nothing."""
    await conversions.verify(
        session,
        brand_id,
        await request.body(),
        rapport_signature,
        now,
        tolerance=timedelta(seconds=settings.conversion_tolerance_seconds),
    )


@router.post(
    "/v1/brands/{brand_id}/conversions",
    status_code=status.HTTP_201_CREATED,
    summary="Post an order or a refund (called by the brand's shop, signed)",
    description="No bearer token: the `Rapport-Signature` header, made with the brand's "
    "conversion secret over the raw body, authenticates the post; a timestamp further than "
    "`RAPPORT_CONVERSION_TOLERANCE_SECONDS` (300 s) from our clock is refused. An `order` is "
    "attributed by a tracked link's code or a promo code; posting it again answers 200 with "
    "`duplicate: true`, with other figures 409. A `refund` names the order and a refund id; it "
    "is netted from the order's revenue (docs/reports.md).",
    dependencies=[Depends(_signed)],
    responses={
        **problem_responses(*conversions.POST_PROBLEMS),
        200: {"model": ConversionOut, "description": "Received before: nothing changed"},
    },
)
async def post_conversion(
    brand_id: str,
    body: ConversionIn,
    session: Session,
    settings: AppSettings,
    now: Now,
    response: Response,
) -> ConversionOut:
    tolerance = timedelta(seconds=settings.conversion_tolerance_seconds)
    if isinstance(body, OrderIn):
        posted = await conversions.record_order(
            session,
            brand_id,
            conversions.Order(
                order_id=body.order_id,
                amount=body.amount,
                currency=body.currency,
                occurred_at=body.occurred_at,
                link_code=body.link_code,
                promo_code=body.promo_code,
            ),
            now,
            tolerance=tolerance,
        )
    else:
        posted = await conversions.record_refund(
            session,
            brand_id,
            conversions.RefundIn(
                order_id=body.order_id,
                refund_id=body.refund_id,
                amount=body.amount,
                currency=body.currency,
                occurred_at=body.occurred_at,
            ),
            now,
            tolerance=tolerance,
        )
    if posted.duplicate:
        response.status_code = status.HTTP_200_OK
    return _conversion_out(posted.conversion, duplicate=posted.duplicate, refund=posted.refund)


@router.get(
    "/v1/brands/{brand_id}/conversions",
    summary="The orders the brand's shop posted, newest first",
    description="Brand members. Each order with its attribution, amount, refunds netted.",
    responses=problem_responses(*AUTH_PROBLEMS, BrandNotFound),
)
async def list_conversions(
    brand_id: str, principal: ReportReader, session: Session, page: Pagination
) -> Page[ConversionOut]:
    rows, cursor = await conversions.list_conversions(session, principal.user_id, brand_id, page)
    return Page[ConversionOut](**page_of([_conversion_out(r) for r in rows], cursor))
