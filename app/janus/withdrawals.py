"""Retrying the Janus withdrawals that did not go through (see `rooms.revoke`).

A removed seat's token must stop working on its node. The request that removed it tries
once after its commit; a `JanusWithdrawal` row stays until Janus confirms, and the
signaling daemon runs `retry_due` every POLL_INTERVAL seconds (signaling/server.py).

Contracts:
- No meeting lock is ever taken here; each row is claimed with a conditional UPDATE
  (committed before any Janus call), so several daemons never try the same attempt twice
  and a crashed claimant's row comes due again by itself.
- Backoff: attempt n is followed by a wait of about 2**(n-1) seconds, capped at
  MAX_BACKOFF; while a node fails its (cached) health check its rows cost no call, the
  attempt just counts as failed. So a silent node makes the loop neither spin nor wait on timeouts
  row by row.
- A row is deleted when Janus confirms (what is already gone counts: a node that restarted
  lost its rooms and stored tokens with its memory) or when its node is no longer
  configured. A node that stays down keeps its rows, retried every MAX_BACKOFF: its
  tokens would work again if it came back with its memory.
"""

from __future__ import annotations

import random
from datetime import timedelta

from sqlalchemy import select, update

from app.clock import utcnow
from app.extensions import db
from app.janus import rooms
from app.janus.nodes import pool
from app.models import JanusWithdrawal

POLL_INTERVAL = 1.0  # seconds between the daemon's looks for due rows
MAX_BACKOFF = 30.0  # seconds: a node that comes back is cleaned within about this
BATCH = 20  # rows per round: a round stays short even when many are due


def backoff(attempts: int) -> timedelta:
    """Wait after the `attempts`-th failed attempt: ~1, 2, 4, ... s, capped, with jitter."""
    return timedelta(
        seconds=min(MAX_BACKOFF, 2.0 ** max(0, attempts - 1)) * random.uniform(0.9, 1.1)
    )


def _claim(row_id: int, seen: int) -> bool:
    """Take the row's next attempt (and schedule the one after, in case this one fails)."""
    attempts = seen + 1
    result = db.session.execute(
        update(JanusWithdrawal)
        .where(JanusWithdrawal.id == row_id, JanusWithdrawal.attempts == seen)
        .values(attempts=attempts, next_attempt_at=utcnow() + backoff(attempts))
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    return result.rowcount == 1


def retry_due() -> int:
    """One round: try each due withdrawal (up to BATCH); returns how many Janus confirmed."""
    nodes = pool()
    rows = db.session.scalars(
        select(JanusWithdrawal)
        .where(JanusWithdrawal.next_attempt_at <= utcnow())
        .order_by(JanusWithdrawal.next_attempt_at)
        .limit(BATCH)
    ).all()
    jobs = [(row.attempts, rooms.Withdrawal.of(row)) for row in rows]
    db.session.commit()  # hold nothing while Janus works
    done = 0
    for seen, job in jobs:
        node = nodes.node(job.node) if nodes else None
        if not _claim(job.id, seen):
            continue  # another daemon took this attempt
        if node is not None and not nodes.healthy(node):  # type: ignore[union-attr]
            continue  # counted as a failed attempt, without waiting on a timeout
        if rooms.withdraw(job):
            done += 1
    return done
