"""Request and response shapes of the call endpoints (also used in outbox events)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from app.api import MAX_ID, Input, Query
from app.models import Call


class CallOut(BaseModel):
    id: int
    state: str = Field(description="ringing, active or ended")
    end_reason: str | None = Field(
        description="hangup, declined, cancelled, missed, busy or connection_lost"
    )
    caller: str | None = Field(description="username; null once the account is deleted")
    callee: str | None
    ended_by: str | None = None
    created_at: datetime
    answered_at: datetime | None
    ended_at: datetime | None
    duration_seconds: float | None
    stats: dict[str, Any] = Field(default_factory=dict)

    @classmethod
    def from_call(cls, call: Call) -> CallOut:
        return cls(
            id=call.id,
            state=call.state,
            end_reason=call.end_reason,
            caller=call.caller.username if call.caller else None,
            callee=call.callee.username if call.callee else None,
            ended_by=call.ended_by.username if call.ended_by else None,
            created_at=call.created_at,
            answered_at=call.answered_at,
            ended_at=call.ended_at,
            duration_seconds=call.duration_seconds,
            stats=call.stats or {},
        )


class CallStartIn(Input):
    callee: str = Field(min_length=1, max_length=64)


class CallIdIn(Input):
    call_id: int = Field(ge=1, le=MAX_ID)


class CallStartOut(BaseModel):
    call: CallOut
    outcome: str = Field(description="ringing, existing (already ringing) or merged (glare)")


class CallBusyOut(BaseModel):
    error: str
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
