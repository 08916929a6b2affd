"""Request and response shapes of the meeting endpoints."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from app.api import CONFIG_MAXIMUM, Input, Query


class SeatOut(BaseModel):
    username: str
    state: str = Field(description="waiting, admitted, denied, left or removed")
    joined_at: datetime | None
    left_at: datetime | None
    left_reason: str | None


class SfuOut(BaseModel):
    """Your way into an SFU meeting's Janus VideoRoom (only while you are admitted)."""

    server: str = Field(description="the Janus HTTP API URL")
    room: int
    token: str = Field(description="Janus token: send it with every request and in join")
    feed: int = Field(description="publish under this feed id (random, kept for your seat)")
    feeds: dict[str, int] = Field(description="username -> feed id of everyone admitted")


class MeetingOut(BaseModel):
    id: int
    name: str
    state: str = Field(description="open or ended")
    end_reason: str | None = Field(description="ended_by_host or empty")
    host: str | None
    host_name: str | None = Field(
        default=None, description="the host's display name, or username if none"
    )
    waiting_room: bool
    locked: bool
    max_participants: int
    media: str = Field(description="mesh (peer to peer) or sfu (through Janus)")
    created_at: datetime
    ended_at: datetime | None
    participants: list[str] = Field(description="usernames admitted right now")
    waiting_count: int
    sharer: str | None = Field(default=None, description="who shares a screen now (one at a time)")
    waiting: list[str] | None = Field(default=None, description="who is waiting (host only)")
    history: list[SeatOut] | None = Field(
        default=None, description="every seat: who came, waited, left and why (host only)"
    )
    sfu: SfuOut | None = Field(default=None, description="SFU meetings: your room credential")


class MeetingCreateIn(Input):
    name: str = Field(default="", max_length=100)
    waiting_room: bool = False
    # The upper bound is the configured MEETING_MAX_SIZE, checked by the service; the
    # OpenAPI document states the configured value (app/openapi.py, CONFIG_MAXIMUM).
    max_participants: int | None = Field(
        default=None, ge=2, json_schema_extra={CONFIG_MAXIMUM: "MEETING_SIZE_LIMIT"}
    )
    media: Literal["mesh", "sfu", "auto"] | None = Field(
        default=None,
        description="auto (the default) uses the SFU when one is configured and "
        "max_participants exceeds MEETING_MAX_SIZE; sfu without an SFU is refused (409)",
    )
    invite_ttl_seconds: int | None = Field(default=None, ge=60, le=30 * 24 * 3600)
    invite_max_uses: int | None = Field(default=None, ge=1, le=10_000)


class MeetingCreatedOut(BaseModel):
    meeting: MeetingOut
    invite: str = Field(description="invite token (shown once); share it in a link's #fragment")


class JoinIn(Input):
    invite: str | None = Field(default=None, max_length=128)


class SeatStateOut(BaseModel):
    meeting: MeetingOut
    state: str = Field(description="admitted or waiting")


class UsernameIn(Input):
    username: str = Field(min_length=1, max_length=64)


class AdmitIn(Input):
    username: str | None = Field(default=None, max_length=64, description="omit to admit everyone")


class LockIn(Input):
    locked: bool


class MeetingPageQuery(Query):
    page: int = Field(default=1, ge=1, le=100_000)
    per_page: int = Field(default=20, ge=1, le=100)


class MeetingPageOut(BaseModel):
    items: list[MeetingOut]
    page: int
    per_page: int
    total: int
