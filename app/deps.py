"""Small request dependencies shared by routers."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import Depends, Request

from app.services.identity import Identity
from app.settings import Settings


def _now(request: Request) -> datetime:
    return request.app.state.clock.now()


def _settings(request: Request) -> Settings:
    return request.app.state.settings


def _identity(request: Request) -> Identity:
    return request.app.state.identity


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


Now = Annotated[datetime, Depends(_now)]
AppSettings = Annotated[Settings, Depends(_settings)]
IdentityService = Annotated[Identity, Depends(_identity)]
ClientIp = Annotated[str, Depends(client_ip)]
