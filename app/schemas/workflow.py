from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from app.models.workflow import JobState
from app.schemas.common import Input, Output, Text5000


class JobOut(Output):
    id: str = Field(examples=["job_01JD3M8ZQ4X2V6R9T0A1B2C3D4"])
    topic: str = Field(description="What the job does, e.g. `stripe.transfer`")
    payload: dict[str, Any]
    idempotency_key: str | None
    state: JobState
    attempts: int = Field(description="Attempts made so far (a claim counts as one)")
    max_attempts: int
    run_after: datetime = Field(description="Not run before this time")
    locked_by: str | None = Field(description="The worker holding the job, while running")
    locked_until: datetime | None = Field(description="When the running worker's lease ends")
    last_error: str | None
    created_at: datetime
    finished_at: datetime | None


class JobRetryIn(Input):
    reason: Text5000 | None = Field(None, description="Why; kept in the audit trail")


class TransitionOut(Output):
    id: str = Field(examples=["trn_01JD3M8ZQ4X2V6R9T0A1B2C3D4"])
    kind: str = Field(description="The kind of object, e.g. `offer`")
    object_id: str
    action: str
    from_state: str
    to_state: str
    actor_kind: str = Field(description="brand, influencer, operator or system")
    actor_id: str | None
    at: datetime
    reason: str | None
    data: dict[str, Any] | None
