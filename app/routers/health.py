from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from app.deps import AppResources
from app.errors import ServiceUnavailable, problem_responses
from app.migrations_state import migration_status
from app.services.money.stripe_health import check_stored_stripe_ids

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: str


class StripeReadiness(BaseModel):
    status: str = Field(
        description="ok; skipped (no Stripe ids stored yet); unknown_objects (the database "
        "names Stripe objects the configured Stripe does not know: a wiped sandbox, or a key of "
        "another Stripe account); unreachable; refused (Stripe refused our key)"
    )
    checked: int = Field(description="How many stored Stripe ids were sampled")
    unknown: int = Field(description="How many of them Stripe does not know")
    example: str | None = Field(description="One of them")
    accounts_to_reonboard: int = Field(
        description="Payout accounts found unknown to Stripe: their creators must onboard again"
    )
    detail: str


class Readiness(BaseModel):
    status: str = Field(description="ok, or degraded when the Stripe check found a problem")
    database: str
    migration: str | None
    stripe: StripeReadiness | None = None


@router.get(
    "/healthz",
    summary="Liveness: the process answers",
    description="Answers 200 while the process runs; it checks nothing else. Use `/readyz` to "
    "know whether the API can serve requests.",
)
async def healthz() -> Health:
    return Health(status="ok")


@router.get(
    "/readyz",
    summary="Readiness: the database answers and its schema is at the latest migration",
    description="503 when the database is unreachable or behind the code's migrations. Then "
    "`stripe`: a few stored Stripe ids (payout accounts, PaymentIntents) are looked up at the "
    "configured Stripe (answers cached 30 s); ids Stripe does not know — a wiped sandbox, the "
    "wrong key — make the status `degraded` (still 200: the API serves, but the creators "
    "concerned must onboard again) with the count and an example.",
    responses=problem_responses(ServiceUnavailable),
)
async def readyz(resources: AppResources) -> Readiness:
    try:
        current, head = await migration_status(resources.database.engine)
    except Exception as exc:
        raise ServiceUnavailable("The database is unreachable") from exc
    if current != head:
        raise ServiceUnavailable(
            f"The database schema is at {current or 'nothing'}, the code expects {head}; "
            "run `rapport migrate`",
            database="reachable",
            migration=current,
        )
    async with resources.database.sessionmaker() as session:
        check = await check_stored_stripe_ids(session, resources.stripe)
    return Readiness(
        status="ok" if check.ok else "degraded",
        database="reachable",
        migration=current,
        stripe=StripeReadiness(
            status=check.status,
            checked=check.checked,
            unknown=check.unknown,
            example=check.example,
            accounts_to_reonboard=check.accounts_to_reonboard,
            detail=check.detail,
        ),
    )
