from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel

from app.errors import ServiceUnavailable, problem_responses
from app.migrations_state import migration_status

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: str


class Readiness(BaseModel):
    status: str
    database: str
    migration: str | None


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
    responses=problem_responses(ServiceUnavailable),
)
async def readyz(request: Request) -> Readiness:
    try:
        current, head = await migration_status(request.app.state.database.engine)
    except Exception as exc:
        raise ServiceUnavailable("The database is unreachable") from exc
    if current != head:
        raise ServiceUnavailable(
            f"The database schema is at {current or 'nothing'}, the code expects {head}; "
            "run `rapport migrate`",
            database="reachable",
            migration=current,
        )
    return Readiness(status="ok", database="reachable", migration=current)
