from __future__ import annotations

from fastapi import APIRouter

from app.auth import CatalogueReader
from app.errors import AUTH_PROBLEMS, problem_responses
from app.schemas.compliance import DisclosureCheckIn, DisclosureCheckOut
from app.services.delivery.disclosure import check_disclosure

router = APIRouter(tags=["compliance"])


@router.post(
    "/v1/compliance/disclosure-check",
    summary="Check that a paid post is disclosed properly for its platform",
    description='Passes when an accepted marker (#ad, #sponsored, "Paid partnership", '
    "#anzeige, #publicidad, …) stands where a viewer sees it without expanding the post, or "
    "when the platform's own paid-partnership label is on (where the platform has one). "
    "Reasons say what was found and how to fix a failure. Nothing is stored.",
    responses=problem_responses(*AUTH_PROBLEMS),
)
async def check_disclosure_text(
    body: DisclosureCheckIn, principal: CatalogueReader
) -> DisclosureCheckOut:
    result = check_disclosure(body.platform, body.text, body.paid_partnership_label)
    return DisclosureCheckOut(
        passed=result.passed,
        reasons=result.reasons,
        marker=result.marker,
        position=result.position,
    )
