"""What a job handler sees, and the topics jobs are enqueued under (each defined here, once).

The outbox (app/services/workflow/outbox.py) writes a job row under a topic; the relay
(app/worker/relay.py) claims it and runs the handler of its topic from a `JobHandlers`
registry. The app's registry, `JOB_HANDLERS`, is filled by `app.services.wiring.wire()` from
the one list of handlers there; nothing registers itself on import.

Services import this module, never `app.worker`: the relay is the host, the handlers are the
business, and the types they share live below both.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from sqlalchemy.ext.asyncio import AsyncSession

from app.clock import Clock
from app.db import Database
from app.integrations.stripe import StripeGateway
from app.settings import Settings

# --- topics ----------------------------------------------------------------------------------
# Every topic a job can be enqueued under. tests/test_wiring.py checks that every enqueue in
# app/ names one of these constants and that `wire()` gives each a handler.

STRIPE_EVENT_TOPIC: Final = "stripe.event"
"""A Stripe webhook event was stored in the inbox: process it once."""

RELEASE_TOPIC: Final = "money.release_milestone"
"""A milestone was met: release its money from escrow to the influencer (ledger)."""

TRANSFER_TOPIC: Final = "money.transfer_milestone"
"""A released milestone's money goes to the influencer's Stripe account (a transfer)."""

PAYOUT_TOPIC: Final = "money.payout_transfer"
"""A transfer arrived: pay it out to the influencer's bank (per-transfer payout mode)."""

REFUND_MILESTONE_TOPIC: Final = "money.refund_milestone"
"""A milestone was cancelled or refused: its money goes back to the brand."""

REFUND_CONTRACT_TOPIC: Final = "money.refund_contract"
"""A contract ended early or a dispute was decided for the brand: refund what is unreleased."""

CANCEL_FUNDING_TOPIC: Final = "money.cancel_funding"
"""A contract was cancelled before its funding arrived: cancel the brand's PaymentIntent."""

WEBHOOK_DELIVERY_TOPIC: Final = "webhook.deliver"
"""One attempt of one outbound webhook delivery (app/services/workflow/webhooks.py)."""

PROGRAMME_RENEW_TOPIC: Final = "programme.renew"
"""An ambassador programme's next period starts: make its contract (one per period, however
often the job runs)."""

FUND_RENEWAL_TOPIC: Final = "money.fund_renewal"
"""A programme's new period: charge the brand's saved card for it, while the brand is away."""

TOPICS: Final[frozenset[str]] = frozenset(
    {
        STRIPE_EVENT_TOPIC,
        RELEASE_TOPIC,
        TRANSFER_TOPIC,
        PAYOUT_TOPIC,
        REFUND_MILESTONE_TOPIC,
        REFUND_CONTRACT_TOPIC,
        CANCEL_FUNDING_TOPIC,
        WEBHOOK_DELIVERY_TOPIC,
        PROGRAMME_RENEW_TOPIC,
        FUND_RENEWAL_TOPIC,
    }
)


# --- what a handler sees ---------------------------------------------------------------------


class PermanentJobError(Exception):
    """Raised by a handler when retrying cannot help: the job goes straight to `dead`."""


@dataclass(frozen=True)
class ClaimedJob:
    """A job as its handler sees it: read-only, with the lease that fences its outcome."""

    id: str
    topic: str
    payload: dict[str, Any]
    attempts: int
    max_attempts: int
    idempotency_key: str | None
    locked_by: str


@dataclass(frozen=True)
class JobResources:
    """The outside world a handler may call, handed to the worker by whoever hosts it (the app's
    lifespan, `rapport worker`, a test), so handlers never reach for globals."""

    stripe: StripeGateway | None = None
    # The defaults when a host gave none (a test's worker).
    settings: Settings = field(default_factory=Settings.model_construct)


@dataclass
class JobContext:
    job: ClaimedJob
    session: AsyncSession
    database: Database
    clock: Clock
    now: datetime
    worker_id: str
    resources: JobResources = field(default_factory=JobResources)

    @property
    def settings(self) -> Settings:
        return self.resources.settings

    def stripe(self) -> StripeGateway:
        """The Stripe gateway; a job that needs one on a worker without it cannot succeed."""
        if self.resources.stripe is None:
            raise PermanentJobError("this worker was not given a Stripe gateway")
        return self.resources.stripe

    def idempotency_key(self, step: str = "") -> str:
        """The key to send with an outside call: the same on every attempt of this job."""
        return f"rapport-{self.job.id}" + (f"-{step}" if step else "")

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A separate short transaction (committed on exit), e.g. to read before a call."""
        async with self.database.sessionmaker() as session, session.begin():
            yield session


JobHandler = Callable[[JobContext, ClaimedJob], Awaitable[None]]


class JobHandlers:
    """Topic → handler. The app has one (`JOB_HANDLERS`, filled by `wire()`); tests may build
    their own."""

    def __init__(self, handlers: Mapping[str, JobHandler] | None = None) -> None:
        self._handlers: dict[str, JobHandler] = dict(handlers or {})

    def add(self, topic: str, handler: JobHandler) -> None:
        if self._handlers.get(topic, handler) is not handler:
            raise ValueError(f"a handler for {topic!r} is already registered")
        self._handlers[topic] = handler

    def register(self, topic: str) -> Callable[[JobHandler], JobHandler]:
        """`add` as a decorator, for a test's own registry."""

        def decorator(handler: JobHandler) -> JobHandler:
            self.add(topic, handler)
            return handler

        return decorator

    def install(self, handlers: Mapping[str, JobHandler]) -> None:
        """Replace every handler with `handlers` (wire() calls this; calling it again with the
        same list leaves the same registry)."""
        self._handlers = dict(handlers)

    def get(self, topic: str) -> JobHandler | None:
        return self._handlers.get(topic)

    def topics(self) -> list[str]:
        return sorted(self._handlers)


JOB_HANDLERS = JobHandlers()
"""The app's handlers, installed by `app.services.wiring.wire()`."""
