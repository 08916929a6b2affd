"""GET /ice-servers."""

from __future__ import annotations

from typing import Any

from flask import Blueprint
from pydantic import BaseModel, Field

from app.api import ErrorOut, endpoint
from app.auth.current import require_login
from app.ice.credentials import ice_servers_for

bp = Blueprint("ice", __name__)


class IceServersOut(BaseModel):
    ice_servers: list[dict[str, Any]] = Field(
        description="RTCIceServer objects for RTCConfiguration"
    )
    ttl: int | None = Field(description="seconds the TURN credentials stay valid, if any")


@bp.get("/ice-servers")
@endpoint(
    "STUN/TURN servers and TURN credentials",
    responses={200: IceServersOut, 401: ErrorOut},
    tag="calls",
)
def ice_servers():
    servers, ttl = ice_servers_for(require_login().username)
    return IceServersOut(ice_servers=servers, ttl=ttl)
