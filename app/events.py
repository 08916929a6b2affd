"""The outbox: call and session changes the signaling daemon must push to users.

`publish()` adds an `Event` row to the current database session, so it commits (or rolls
back) together with the change it announces. The daemon tails the table by id.
"""

from __future__ import annotations

from typing import Any

from app.extensions import db
from app.models import Event
from app.webhooks.delivery import enqueue_webhooks


def publish(
    kind: str, user_ids: list[int], data: dict[str, Any], call_id: int | None = None
) -> Event:
    event = Event(kind=kind, call_id=call_id, user_ids=sorted(set(user_ids)), data=data)
    db.session.add(event)
    if kind.startswith("call."):
        enqueue_webhooks(event)
    return event
