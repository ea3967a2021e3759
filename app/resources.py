"""The process's long-lived objects, built once and typed: what routes and job handlers use.

`create_app()` builds one `Resources` and keeps it as `app.state.resources`; routes reach it
through the `AppResources` dependency (app/deps.py), never through string-keyed `app.state`
attributes. `rapport worker` builds its own with the same function (it never builds the app),
and hands the job handlers the part they may call (`for_jobs()`).

Another process-wide object (an API-key store, a rate limiter …) becomes a field here, built in
`build`, and a typed dependency in app/deps.py — not a new `app.state` attribute.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.applications import Starlette

from app.clock import Clock
from app.db import Database, create_database
from app.integrations.stripe import StripeGateway
from app.security import AccessTokens, Passwords
from app.services.identity.users import Identity
from app.services.matching.service import ListingIndexHolder
from app.services.workflow.jobs import JobResources
from app.settings import Settings


@dataclass(frozen=True)
class Resources:
    settings: Settings
    database: Database
    clock: Clock
    # One Stripe gateway per process, built from its settings (never at import time).
    stripe: StripeGateway
    # The listing index the matching routes rank against (built on first use, or mapped from
    # the node's generation files: app/services/matching/store.py).
    listing_index: ListingIndexHolder
    access_tokens: AccessTokens
    identity: Identity

    @classmethod
    def build(cls, settings: Settings, clock: Clock | None = None) -> Resources:
        access_tokens = AccessTokens(settings)
        return cls(
            settings=settings,
            database=create_database(settings),
            clock=clock or Clock(),
            stripe=StripeGateway(settings),
            listing_index=ListingIndexHolder.for_settings(settings),
            access_tokens=access_tokens,
            identity=Identity(settings, Passwords(settings), access_tokens),
        )

    def for_jobs(self) -> JobResources:
        """What job handlers may call: Stripe and the settings."""
        return JobResources(stripe=self.stripe, settings=self.settings)

    async def aclose(self) -> None:
        self.listing_index.close()
        await self.stripe.aclose()
        await self.database.dispose()


def resources_of(app: Starlette) -> Resources:
    """The app's resources (set by `create_app`)."""
    found = getattr(app.state, "resources", None)
    if not isinstance(found, Resources):
        raise RuntimeError("this app was not built by app.main.create_app (no resources)")
    return found
