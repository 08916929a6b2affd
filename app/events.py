"""The outbox: call and session changes the signaling daemon must push to users.

`publish()` inserts an `Event` row in the current database session's transaction, so it
commits (or rolls back) together with the change it announces. The daemon tails the table
by id.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert, text

from app.clock import utcnow
from app.extensions import db
from app.metrics import observe_call_event
from app.models import Event
from app.webhooks.delivery import enqueue_webhooks

# The ids of the events this database session has published, in `db.session.info`: the
# daemon orders what an action read back against the events it is about to tail.
PUBLISHED = "chimecast_published_event_ids"

# Built once: the row's values go in as execution parameters, so no statement is built,
# coerced or cache-keyed anew for each event (the Table, not the class: no ORM bulk path).
_INSERT_EVENT = insert(Event.__table__).returning(Event.__table__.c.id)
# Wakes the daemons' outbox readers (signaling.outbox.wake) when this transaction commits;
# PostgreSQL folds the duplicates of one transaction and drops them on rollback.
_NOTIFIED = "chimecast_outbox_notified"  # the transaction that already has its NOTIFY
_NOTIFY = text("SELECT pg_notify('chimecast_outbox', '')")


def publish(
    kind: str, user_ids: list[int], data: dict[str, Any], call_id: int | None = None
) -> int:
    """Add the event to the transaction; returns its id.

    A plain INSERT rather than an ORM object: every call transition writes one, and the
    unit of work cost several times the statement itself."""
    row = {"created_at": utcnow(), "kind": kind, "call_id": call_id,
           "user_ids": sorted(set(user_ids)), "data": data}  # fmt: skip
    event_id = db.session.execute(_INSERT_EVENT, row).scalar_one()
    if kind.startswith("call."):
        observe_call_event(kind, data)
        if not data.get("probe"):  # a monitoring call is nobody's business
            enqueue_webhooks(event_id)
    db.session.info.setdefault(PUBLISHED, []).append(event_id)
    _notify_once_per_transaction()
    return event_id


def _notify_once_per_transaction() -> None:
    session = db.session()  # the scoped session's Session of this thread
    transaction = session.get_transaction()
    if session.info.get(_NOTIFIED) is transaction:
        return
    session.info[_NOTIFIED] = transaction
    if session.get_bind().dialect.name == "postgresql":
        session.execute(_NOTIFY)
