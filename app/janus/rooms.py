"""Rooms and credentials of SFU meetings: ChimeCast decides, Janus enforces.

A meeting's VideoRoom is created with a secret only ChimeCast knows, as a private room
whose `allowed` list starts empty and whose subscribers must present a publisher's
private id.

No credential is stored: the room secret and each seat's token are derived (HMAC-SHA256)
from a key derived from CHIMECAST_SECRET_KEY and a random nonce kept in the database
(`Meeting.janus_nonce`, `MeetingParticipant.janus_grant`), so every process with the key
computes the same values and a database dump alone opens nothing. A new grant has a new
nonce, hence a new token.

Each admitted seat gets a Janus *stored token* (Admin API `add_token`, good for the
VideoRoom plugin only) that is also put on that room's `allowed` list: without it Janus
refuses every request (core token auth), and with it only that room can be joined.
Subscribing needs the private id Janus gives a joined publisher, so it is scoped too.
When the seat stops being admitted the token is removed from the list and from Janus,
and every Janus session opened with it is destroyed: its publisher leaves the room and
its subscriptions stop at once. Each seat publishes under a feed id ChimeCast assigns (a
random one, kept for the seat: a predictable id could be taken first by another
participant, since Janus lets a publisher choose its id), so others can tell whose stream
a feed is.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from flask import current_app
from sqlalchemy import delete, event, select
from sqlalchemy.orm import Session

from app.clock import utcnow
from app.errors import ApiError
from app.extensions import db
from app.janus.client import JanusError
from app.janus.nodes import Node, pool
from app.models import JanusWithdrawal, Meeting, MeetingParticipant, MeetingState

log = logging.getLogger(__name__)
TOKEN_PREFIX = "ccj_"


def _derive(label: str, *parts: object) -> str:
    """HMAC-SHA256 of `label|parts...` under the Janus key (itself derived from SECRET_KEY
    with its own label, so these values say nothing about the key or other uses of it)."""
    secret_key = current_app.config["SECRET_KEY"].encode()
    key = hmac.new(secret_key, b"chimecast janus credentials v1", hashlib.sha256).digest()
    message = "|".join([label, *map(str, parts)]).encode()
    digest = hmac.new(key, message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _secret(room: int | None, nonce: str | None) -> str:
    return _derive("janus-room", room, nonce)


def room_secret(meeting: Meeting) -> str:
    """The room's Janus secret (admin power over it): derived, never stored."""
    return _secret(meeting.janus_room, meeting.janus_nonce)


def seat_token(seat: MeetingParticipant) -> str | None:
    """The seat's current Janus stored token, or None without a grant: derived, never
    stored."""
    if seat.janus_grant is None:
        return None
    assert seat.id is not None, "the token is derived from the seat's id: flush it first"
    return TOKEN_PREFIX + _derive("janus-seat", seat.id, seat.janus_grant)


def _nonce() -> str:
    return secrets.token_urlsafe(16)


def sfu_unavailable(message: str = "No SFU (Janus) node is available.") -> ApiError:
    return ApiError(503, "sfu_unavailable", message)


# Janus calls wait for the commit of the change that decided them (see `after_commit`).
PENDING = "chimecast_janus_pending"


def _queue(action: Callable[[], None]) -> None:
    db.session.info.setdefault(PENDING, []).append(action)


def after_commit() -> None:
    """Run the Janus calls that the change just committed queued (withdrawals, room
    destruction): never under the meeting's lock, so a slow or silent node holds up only
    the request that needs it. Best effort, like the calls themselves."""
    for action in db.session.info.pop(PENDING, []):
        action()


def discard_pending() -> None:
    """Forget queued Janus calls of a change that was not committed."""
    db.session.info.pop(PENDING, None)


@event.listens_for(Session, "after_rollback")
def _rolled_back(session: Session) -> None:
    session.info.pop(PENDING, None)


Placement = tuple[str, int, str]  # node API URL, room id, the nonce of its secret


def place_room(size: int, description: str) -> Placement:
    """Create a VideoRoom on the least loaded healthy node; Janus calls only, so call it
    holding no lock. ApiError 503 sfu_unavailable when no node takes it."""
    nodes = pool()
    if nodes is None:
        raise ApiError(409, "sfu_not_configured", "This server has no SFU; use media mesh.")
    room, nonce = secrets.randbelow(2**52) + 1, _nonce()
    for node in nodes.candidates():
        try:
            node.admin.create_room(room, _secret(room, nonce), size, description)
        except JanusError as exc:
            nodes.mark_down(node, str(exc))
            continue
        log.info("janus room created node=%s room=%s", node.api, room)
        return node.api, room, nonce
    raise sfu_unavailable()


def open_room(meeting: Meeting, placement: Placement | None = None) -> None:
    """Give the meeting a room (in place): `placement`, or a new one (see `place_room`)."""
    if placement is None:
        placement = place_room(meeting.max_participants, meeting.name)
    meeting.janus_node, meeting.janus_room, meeting.janus_nonce = placement


def drop_room(placement: Placement) -> None:
    """Destroy a placed room nobody got (best effort)."""
    node_api, room, nonce = placement
    nodes = pool()
    node = nodes.node(node_api) if nodes else None
    if node is None:
        return
    try:
        node.admin.destroy_room(room, _secret(room, nonce))
    except JanusError as exc:
        log.warning("janus destroy failed node=%s room=%s error=%s", node_api, room, exc)


def dead_nodes() -> list[str]:
    """API URLs of the configured nodes that fail a fresh health check."""
    nodes = pool()
    if nodes is None:
        return []
    return [node.api for node in nodes.nodes if not nodes.healthy(node, fresh=True)]


def _node(meeting: Meeting) -> Node | None:
    nodes = pool()
    return nodes.node(meeting.janus_node) if nodes and meeting.janus_node else None


def reserve(meeting: Meeting, seat: MeetingParticipant) -> None:
    """Give the admitted `seat` a new grant (in place): a new nonce, hence a new token.
    Janus learns of it from `grant`, after the commit."""
    if meeting.janus_room is None:
        return
    seat.janus_grant = _nonce()
    if seat.janus_feed is None:
        seat.janus_feed = secrets.randbelow(2**52) + 1


def grant(meeting: Meeting, seat: MeetingParticipant) -> None:
    """Tell the meeting's node about the seat's grant: its token, good in this room only.
    Janus calls only (call it after the commit, holding no lock). ApiError 503 when the
    node does not take it; the caller takes the admission back."""
    token = seat_token(seat)
    if token is None or meeting.janus_room is None:
        return
    node = _node(meeting)
    if node is None:
        raise sfu_unavailable("This meeting's SFU node is not configured any more.")
    try:
        node.admin.add_token(token)
        node.admin.allow(meeting.janus_room, room_secret(meeting), token)
    except JanusError as exc:
        pool().mark_down(node, str(exc))  # type: ignore[union-attr]
        raise sfu_unavailable("This meeting's SFU node is not answering.") from exc


def revoke(meeting: Meeting, seat: MeetingParticipant) -> None:
    """Take the seat's grant (in place) and, after the commit, its token and its Janus
    sessions (`withdraw`). What that needs is written down in this transaction (a
    `JanusWithdrawal`, nonces only), so a node that does not answer now, or a process that
    dies between the commit and the call, leaves a row the daemon retries
    (app/janus/withdrawals.py)."""
    node = _node(meeting)
    job = _withdrawal(meeting, seat, node)
    if job is not None:
        _queue(lambda: withdraw(job))


def _withdrawal(meeting: Meeting, seat: MeetingParticipant, node: Node | None) -> Withdrawal | None:
    """Take the seat's grant (in place) and write down, in this transaction, what taking
    its token back from `node` needs; None when there is nothing to take back."""
    grant_nonce, seat.janus_grant = seat.janus_grant, None
    if grant_nonce is None or node is None or meeting.janus_room is None:
        return None
    assert seat.id is not None and meeting.janus_nonce is not None
    row = JanusWithdrawal(
        node=node.api,
        room=meeting.janus_room,
        room_nonce=meeting.janus_nonce,
        seat_id=seat.id,
        grant=grant_nonce,
        feed=seat.janus_feed,
        next_attempt_at=utcnow() + FIRST_RETRY,
    )
    db.session.add(row)
    db.session.flush()  # the row's id, to forget it once Janus confirms
    return Withdrawal.of(row)


FIRST_RETRY = timedelta(seconds=2)  # the request's own attempt goes first


@dataclass(frozen=True)
class Withdrawal:
    """A `JanusWithdrawal` row's values, read once (the row may go meanwhile)."""

    id: int
    node: str
    room: int
    room_nonce: str
    seat_id: int
    grant: str
    feed: int | None

    @classmethod
    def of(cls, row: JanusWithdrawal) -> Withdrawal:
        return cls(row.id, row.node, row.room, row.room_nonce, row.seat_id, row.grant, row.feed)


NO_SUCH_ROOM, NO_SUCH_FEED, TOKEN_UNKNOWN = 426, 428, 490


def withdraw(job: Withdrawal) -> bool:
    """Take the token of `job` back from its node: off the room's allowed list, out of
    Janus, its feed kicked, every session opened with it destroyed; then delete its row
    (its own short transaction, no meeting lock). Idempotent, so a retry after a partial
    success, or two processes trying at once, do no harm: what is already gone (the room,
    the token, the feed) counts as done. A node that restarted lost its rooms and tokens
    (they live in its memory), so it confirms at once. A node no longer configured is
    forgotten. Returns False, keeping the row, when the node does not answer."""
    nodes = pool()
    node = nodes.node(job.node) if nodes else None
    if node is not None:
        token = _token(job)
        secret = _secret(job.room, job.room_nonce)
        try:
            _tolerating({NO_SUCH_ROOM}, node.admin.allow, job.room, secret, token, allowed=False)
            _tolerating({TOKEN_UNKNOWN}, node.admin.remove_token, token)
            _tolerating({NO_SUCH_ROOM, NO_SUCH_FEED}, node.admin.kick, job.room, secret,
                        job.feed or 0)  # fmt: skip
            node.admin.evict(token)
            if _meeting_ended(job.seat_id):  # its end was not confirmed either
                _tolerating({NO_SUCH_ROOM}, node.admin.destroy_room, job.room, secret)
        except JanusError as exc:
            log.warning("janus revoke failed node=%s seat=%s error=%s", node.api, job.seat_id, exc)
            if exc.code == 0:  # unreachable: the next rows wait for a health check to pass
                nodes.mark_down(node, str(exc))  # type: ignore[union-attr]
            return False
    else:
        log.warning("janus revoke dropped node=%s seat=%s (not configured)", job.node, job.seat_id)
    db.session.execute(delete(JanusWithdrawal).where(JanusWithdrawal.id == job.id))
    db.session.commit()
    log.info("janus revoke done node=%s seat=%s", job.node, job.seat_id)
    return True


def _meeting_ended(seat_id: int) -> bool:
    """Whether the seat's meeting is over (or gone): its room should not outlive it."""
    state = db.session.scalar(
        select(Meeting.state)
        .join(MeetingParticipant, MeetingParticipant.meeting_id == Meeting.id)
        .where(MeetingParticipant.id == seat_id)
    )
    db.session.commit()  # hold nothing while Janus works
    return state != MeetingState.OPEN.value


def _token(job: Withdrawal) -> str:
    return TOKEN_PREFIX + _derive("janus-seat", job.seat_id, job.grant)


def _tolerating(codes: set[int], call: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
    try:
        call(*args, **kwargs)
    except JanusError as exc:
        if exc.code not in codes:
            raise


def close_room(meeting: Meeting) -> None:
    """Take every grant (in place) and, after the commit, destroy the room (Janus drops
    everyone in it) and every token into it. Each seat's withdrawal is written down as in
    `revoke`: if the node does not confirm, the daemon's retry takes the tokens back and,
    the meeting being over, destroys the room too (`withdraw`)."""
    node = _node(meeting)
    jobs = [job for seat in meeting.seats if (job := _withdrawal(meeting, seat, node))]
    if node is None or meeting.janus_room is None:
        return
    room, secret = meeting.janus_room, room_secret(meeting)

    def destroy() -> None:
        try:
            _tolerating({NO_SUCH_ROOM}, node.admin.destroy_room, room, secret)
            log.info("janus room destroyed node=%s room=%s", node.api, room)
            for job in jobs:
                _tolerating({TOKEN_UNKNOWN}, node.admin.remove_token, _token(job))
        except JanusError as exc:
            log.warning("janus close failed node=%s room=%s error=%s", node.api, room, exc)
            return
        ids = [job.id for job in jobs]
        if ids:
            db.session.execute(delete(JanusWithdrawal).where(JanusWithdrawal.id.in_(ids)))
            db.session.commit()

    _queue(destroy)


def credential(meeting: Meeting, seat: MeetingParticipant | None) -> dict[str, Any] | None:
    """What the seat's own client needs to join the room, or None."""
    if seat is None or seat.janus_grant is None or meeting.janus_room is None:
        return None
    return {
        "server": meeting.janus_node,
        "room": meeting.janus_room,
        "token": seat_token(seat),
        "feed": seat.janus_feed,
    }


def feeds(meeting: Meeting) -> dict[str, int]:
    """username -> feed id of each seat admitted into the room."""
    return {s.username: s.janus_feed for s in meeting.seats if s.janus_grant is not None}
