"""Request and response shapes of the call endpoints (also used in outbox events)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from app.api import MAX_ID, Input, Query


class CallOut(BaseModel):
    id: int
    state: str = Field(description="ringing, active or ended")
    end_reason: str | None = Field(
        description="hangup, declined, cancelled, missed, busy, offline (the callee had no "
        "connected device: nothing rang) or connection_lost"
    )
    caller: str | None = Field(description="username; null once the account is deleted")
    callee: str | None
    caller_name: str | None = Field(
        default=None,
        description="the caller's display name, or username if none; null once deleted",
    )
    callee_name: str | None = None
    ended_by: str | None = None
    created_at: datetime
    answered_at: datetime | None
    ended_at: datetime | None
    duration_seconds: float | None
    stats: dict[str, Any] = Field(default_factory=dict)


def call_record(row: Any) -> dict[str, Any]:
    """The call's public record (CallOut JSON) from a call row (`app.calls.rows.COLUMNS`):
    what the HTTP views return, the daemon acknowledges and outbox events carry."""
    talked = None
    if row.answered_at is not None and row.ended_at is not None:
        talked = round((row.ended_at - row.answered_at).total_seconds(), 3)
    return CallOut(
        id=row.id,
        state=row.state,
        end_reason=row.end_reason,
        caller=row.caller,
        callee=row.callee,
        caller_name=row.caller_name,
        callee_name=row.callee_name,
        ended_by=row.ended_by,
        created_at=row.created_at,
        answered_at=row.answered_at,
        ended_at=row.ended_at,
        duration_seconds=talked,
        stats=row.stats or {},
    ).model_dump(mode="json")


class CallStartIn(Input):
    callee: str = Field(min_length=1, max_length=64)


class CallIdIn(Input):
    call_id: int = Field(ge=1, le=MAX_ID)


class CallStartOut(BaseModel):
    call: CallOut
    outcome: str = Field(description="ringing, existing (already ringing) or merged (glare)")


class CallRefusedOut(BaseModel):
    """409: nothing rang, and the call is recorded ended (`busy` or `offline`)."""

    error: str = Field(description="callee_busy or callee_offline")
    message: str
    call: CallOut


class CallHistoryQuery(Query):
    page: int = Field(default=1, ge=1, le=100_000)
    per_page: int = Field(default=20, ge=1, le=100)


class CallPageOut(BaseModel):
    items: list[CallOut]
    page: int
    per_page: int
    total: int
