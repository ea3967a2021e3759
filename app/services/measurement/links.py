"""Tracked links: a contract's redirect through Rapport, and the clicks it counts.

The brand makes a link for a contract (`POST /v1/contracts/{id}/links`) with the page it leads
to (http or https, no user:password part, not another Rapport link) and the UTM parameters it
chooses; the creator puts `<public_url>/r/{code}` in the post. Each hit of `GET /r/{code}`
answers 302 to the page with the brand's UTM parameters (replacing any of the same name) and
`rapport_link={code}` (so the shop can name the link when it posts the order), and records one
`link_clicks` row, one of:

- `bot`: the hit is not a person's click — no user agent, a user agent naming a crawler, a link
  preview or an HTTP library (`BOT_PATTERN`), or a prefetch (`Purpose`/`Sec-Purpose: prefetch`,
  `X-Moz: prefetch`, `X-Purpose: preview`). Kept, with the reason, and never counted;
- `repeat`: the same visitor had a counted click on this link less than
  `RAPPORT_TRACKING_REPEAT_WINDOW_MINUTES` (30) ago — kept, not counted again;
- `counted`: everything else, a click.

**The visitor key** is HMAC-SHA256 under a key derived from `RAPPORT_SECRET_KEY`, over the UTC
day, the brand and the caller's IP address and user agent, cut to 32 hex digits. Neither the
address nor the user agent is stored; the key changes every day and differs between brands, so
a visitor cannot be followed from one day to the next or from one brand's links to another's.
`unique_visitors` counts distinct keys among the human hits (counted and repeat), so one person
visiting on three days counts three times — the price of not recognising them across days. The
repeat check near midnight also looks up the key of the day the window started in.

**Referrers**: only the host of the `Referer` header is kept (no path or query); no header is
"(direct)".
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import Forbidden, InvalidRequest, NotFound
from app.models import ClickKind, Contract, LinkClick, Side, TrackedLink
from app.pagination import PageParams, SortKey, paginate
from app.services.delivery.contracts import ContractNotFound
from app.services.identity.tenancy import Party, party_filter, party_of
from app.settings import Settings

CODE_ALPHABET = "23456789abcdefghjkmnpqrstuvwxyz"  # no 0/o, 1/l/i: read aloud, typed from a post
CODE_LENGTH = 10
CODE_PATTERN = rf"^[{CODE_ALPHABET}]{{{CODE_LENGTH}}}$"
LINK_PARAM = "rapport_link"
UTM_KEYS = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content")
TOP_REFERRERS = 10
DIRECT = "(direct)"

# Crawlers, link previews (the post's app fetching the page to show a card), monitors and HTTP
# libraries. Matched case-insensitively anywhere in the user agent.
BOT_PATTERN = re.compile(
    r"bot|crawl|spider|slurp|scrape|preview|facebookexternalhit|facebot|embedly|whatsapp|"
    r"skypeuripreview|vkshare|pinterest|quora link|curl/|wget/|python|httpx|aiohttp|"
    r"go-http-client|java/|okhttp|libwww|headless|phantomjs|lighthouse|pingdom|uptime|monitor",
    re.IGNORECASE,
)
PREFETCH_HEADERS = ("purpose", "sec-purpose", "x-moz", "x-purpose")


class LinkNotFound(NotFound):
    slug, title = "link-not-found", "No such tracked link"


class BrandOnly(Forbidden):
    slug, title = "brand-only", "Only the brand of the contract may do this"


@dataclass(frozen=True)
class Hit:
    """What the redirect knows about one request (nothing of it is stored but the key)."""

    ip: str
    user_agent: str | None
    referrer: str | None
    headers: Mapping[str, str]


@dataclass
class LinkStats:
    clicks: int = 0
    unique_visitors: int = 0
    repeat_clicks: int = 0
    bot_clicks: int = 0
    last_click_at: datetime | None = None
    referrers: list[tuple[str, int]] = field(default_factory=list)


# --- links --------------------------------------------------------------------------------------


def new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def check_target_url(url: str, public_url: str) -> str:
    """The page a link leads to: http(s) with a host, no credentials, not a Rapport link."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 (a port that is not a number raises here)
    except ValueError:
        raise InvalidRequest.field("target_url", "is not a URL", "url") from None
    if parts.scheme not in ("http", "https") or not host:
        raise InvalidRequest.field(
            "target_url", "must be an http or https URL with a host", "url_scheme"
        )
    if parts.username is not None or parts.password is not None:
        raise InvalidRequest.field(
            "target_url", "must not carry a user name or password", "url_credentials"
        )
    ours = urlsplit(public_url)
    if host == ours.hostname and parts.path.startswith("/r/"):
        raise InvalidRequest.field(
            "target_url", "must not lead to another Rapport tracked link", "url_loop"
        )
    return url


def destination(link: TrackedLink) -> str:
    """The link's page with the brand's UTM parameters and `rapport_link` set."""
    parts = urlsplit(link.target_url)
    ours = {k: str(v) for k, v in link.utm.items() if v}
    ours[LINK_PARAM] = link.code
    kept = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in ours]
    query = urlencode([*kept, *ours.items()])
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


async def _contract(
    session: AsyncSession, user_id: str, contract_id: str
) -> tuple[Contract, Party]:
    contract = await session.scalar(
        select(Contract).where(Contract.id == contract_id, party_filter(Contract, user_id))
    )
    if contract is None:
        raise ContractNotFound(f"No contract {contract_id} that you are a party to")
    return contract, await party_of(session, user_id, contract.brand_id, contract.influencer_id)


async def brand_contract(session: AsyncSession, user_id: str, contract_id: str) -> Contract:
    """A contract the caller is the brand of (404 for a non-party, 403 for the creator)."""
    contract, party = await _contract(session, user_id, contract_id)
    if party.side != Side.brand:
        raise BrandOnly(f"Only the brand of contract {contract_id} may do this")
    return contract


async def party_contract(session: AsyncSession, user_id: str, contract_id: str) -> Contract:
    contract, _ = await _contract(session, user_id, contract_id)
    return contract


async def create_link(
    session: AsyncSession,
    user_id: str,
    contract_id: str,
    now: datetime,
    *,
    target_url: str,
    utm: Mapping[str, str | None],
    label: str | None,
    public_url: str,
) -> TrackedLink:
    contract = await brand_contract(session, user_id, contract_id)
    target = check_target_url(target_url, public_url)
    row = TrackedLink(
        code=new_code(),
        contract_id=contract.id,
        brand_id=contract.brand_id,
        influencer_id=contract.influencer_id,
        target_url=target,
        utm={k: v for k, v in utm.items() if v},
        label=label,
        created_by_user=user_id,
        created_at=now,
    )
    session.add(row)
    await session.flush()
    return row


async def list_links(
    session: AsyncSession, user_id: str, contract_id: str, page: PageParams
) -> tuple[list[TrackedLink], str | None]:
    contract = await party_contract(session, user_id, contract_id)
    stmt = select(TrackedLink).where(TrackedLink.contract_id == contract.id)
    return await paginate(session, stmt, [SortKey(TrackedLink.id)], page)


async def get_link(session: AsyncSession, user_id: str, link_id: str) -> TrackedLink:
    link = await session.scalar(
        select(TrackedLink).where(TrackedLink.id == link_id, party_filter(TrackedLink, user_id))
    )
    if link is None:
        raise LinkNotFound(f"No tracked link {link_id} on a contract you are a party to")
    return link


async def link_stats(session: AsyncSession, link_ids: Sequence[str]) -> dict[str, LinkStats]:
    """Counts per link: clicks, unique visitors, repeats, bots and the top referrers."""
    stats = {link_id: LinkStats() for link_id in link_ids}
    if not link_ids:
        return stats
    rows = await session.execute(
        select(LinkClick.link_id, LinkClick.kind, func.count(), func.max(LinkClick.at))
        .where(LinkClick.link_id.in_(link_ids))
        .group_by(LinkClick.link_id, LinkClick.kind)
    )
    for link_id, kind, n, last in rows:
        s = stats[link_id]
        kind = ClickKind(kind)
        if kind == ClickKind.counted:
            s.clicks = int(n)
            s.last_click_at = last
        elif kind == ClickKind.repeat:
            s.repeat_clicks = int(n)
        else:
            s.bot_clicks = int(n)
    human = LinkClick.kind.in_([ClickKind.counted, ClickKind.repeat])
    visitors = await session.execute(
        select(LinkClick.link_id, func.count(func.distinct(LinkClick.visitor_key)))
        .where(LinkClick.link_id.in_(link_ids), human)
        .group_by(LinkClick.link_id)
    )
    for link_id, n in visitors:
        stats[link_id].unique_visitors = int(n)
    referrers = await session.execute(
        select(LinkClick.link_id, LinkClick.referrer_host, func.count())
        .where(LinkClick.link_id.in_(link_ids), LinkClick.kind == ClickKind.counted)
        .group_by(LinkClick.link_id, LinkClick.referrer_host)
    )
    by_link: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for link_id, host, n in referrers:
        by_link[link_id].append((host or DIRECT, int(n)))
    for link_id, hosts in by_link.items():
        stats[link_id].referrers = sorted(hosts, key=lambda h: (-h[1], h[0]))[:TOP_REFERRERS]
    return stats


# --- the redirect -------------------------------------------------------------------------------


def visitor_secret(settings: Settings) -> bytes:
    """The visitor keys' HMAC key, derived from the app's secret (never used for anything else)."""
    return hmac.new(
        settings.secret_key.get_secret_value().encode(), b"rapport.tracking.visitor", "sha256"
    ).digest()


def visitor_key(secret: bytes, day: date, brand_id: str, ip: str, user_agent: str | None) -> str:
    message = f"{day.isoformat()}|{brand_id}|{ip}|{user_agent or ''}".encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()[:32]


def bot_reason(hit: Hit) -> str | None:
    """Why this hit is not a person's click, or None (docs/reports.md lists the rules)."""
    for name in PREFETCH_HEADERS:
        value = hit.headers.get(name, "").lower()
        if "prefetch" in value or "preview" in value:
            return f"{name}: {value[:40]}"
    agent = (hit.user_agent or "").strip()
    if not agent:
        return "no user agent"
    found = BOT_PATTERN.search(agent)
    if found:
        return f"user agent names a bot or a preview: {found.group(0).lower()}"
    return None


def referrer_host(referrer: str | None) -> str | None:
    if not referrer:
        return None
    try:
        host = urlsplit(referrer).hostname
    except ValueError:
        return None
    return host[:255] if host else None


async def follow(
    session: AsyncSession,
    code: str,
    hit: Hit,
    now: datetime,
    *,
    secret: bytes,
    repeat_window: timedelta,
) -> str:
    """Records the hit and returns where to send the visitor (404 for an unknown code)."""
    link = await session.scalar(select(TrackedLink).where(TrackedLink.code == code))
    if link is None:
        raise LinkNotFound(f"No tracked link {code}")
    day = now.date()
    key = visitor_key(secret, day, link.brand_id, hit.ip, hit.user_agent)
    reason = bot_reason(hit)
    kind = ClickKind.bot if reason else ClickKind.counted
    if kind == ClickKind.counted:
        since = now - repeat_window
        keys = {key, visitor_key(secret, since.date(), link.brand_id, hit.ip, hit.user_agent)}
        earlier = await session.scalar(
            select(LinkClick.id)
            .where(
                LinkClick.link_id == link.id,
                LinkClick.visitor_key.in_(keys),
                LinkClick.kind == ClickKind.counted,
                LinkClick.at > since,
            )
            .limit(1)
        )
        if earlier is not None:
            kind = ClickKind.repeat
    session.add(
        LinkClick(
            link_id=link.id,
            contract_id=link.contract_id,
            at=now,
            day=day,
            visitor_key=key,
            kind=kind,
            bot_reason=reason[:100] if reason else None,
            referrer_host=referrer_host(hit.referrer),
        )
    )
    await session.flush()
    return destination(link)
