"""Small request dependencies shared by routers.

Every dependency is `async def`, however little it does: FastAPI runs a plain `def` dependency in
a worker thread (a thread-pool hop on every request), an `async def` one inline.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import Depends, Request

from app.errors import InvalidRequest
from app.integrations.stripe import StripeGateway
from app.resources import Resources, resources_of
from app.services.identity.users import Identity
from app.services.matching.service import ListingIndexHolder
from app.settings import Settings


async def _resources(request: Request) -> Resources:
    return resources_of(request.app)


AppResources = Annotated[Resources, Depends(_resources)]


async def _now(resources: AppResources) -> datetime:
    return resources.clock.now()


async def _settings(resources: AppResources) -> Settings:
    return resources.settings


async def _identity(resources: AppResources) -> Identity:
    return resources.identity


async def _stripe(resources: AppResources) -> StripeGateway:
    return resources.stripe


async def _listing_index(resources: AppResources) -> ListingIndexHolder:
    return resources.listing_index


async def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


Now = Annotated[datetime, Depends(_now)]
AppSettings = Annotated[Settings, Depends(_settings)]
IdentityService = Annotated[Identity, Depends(_identity)]
AppStripe = Annotated[StripeGateway, Depends(_stripe)]
AppListingIndex = Annotated[ListingIndexHolder, Depends(_listing_index)]
ClientIp = Annotated[str, Depends(client_ip)]


async def refuse_null_body(request: Request) -> None:
    """A JSON body of `null` is refused on every route. Optional bodies are documented as
    "an object, or no body at all" (so generated clients can leave them out); FastAPI would read
    `null` as "no body" and accept what the document says is invalid. Form fields holding a NUL
    character are refused too (a 500 on PostgreSQL otherwise)."""
    if request.method not in ("POST", "PUT", "PATCH"):
        return
    content_type = request.headers.get("content-type", "")
    if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        # FastAPI has parsed the form already (cached on the request). PostgreSQL text cannot
        # hold NUL, so a form field with one is refused here, as JSON text is by the models.
        form = await request.form()
        for name, value in form.multi_items():
            if isinstance(value, str) and "\x00" in value:
                raise InvalidRequest.field(
                    name, "text must not contain a NUL character", "nul_character"
                )
        return
    if not content_type.startswith("application/json"):
        return
    if (await request.body()).strip() == b"null":
        raise InvalidRequest.field(
            "body", "must be a JSON object, or no body at all; not null", "null_body"
        )
