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
from typing import Any

from flask import current_app
from sqlalchemy import event
from sqlalchemy.orm import Session

from app.errors import ApiError
from app.extensions import db
from app.janus.client import JanusError
from app.janus.nodes import Node, pool
from app.models import Meeting, MeetingParticipant

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
    sessions. Best effort: a node that is down has lost its sessions anyway."""
    token, seat.janus_grant = seat_token(seat), None
    node = _node(meeting)
    if token is None or node is None or meeting.janus_room is None:
        return
    room, secret, feed, seat_id = meeting.janus_room, room_secret(meeting), seat.janus_feed, seat.id

    def withdraw() -> None:
        try:
            node.admin.allow(room, secret, token, allowed=False)
            node.admin.remove_token(token)
            _kick(node, room, secret, feed or 0)
            node.admin.evict(token)
        except JanusError as exc:
            log.warning("janus revoke failed node=%s seat=%s error=%s", node.api, seat_id, exc)

    _queue(withdraw)


def _kick(node: Node, room: int, secret: str, feed: int) -> None:
    try:
        node.admin.kick(room, secret, feed)
    except JanusError as exc:
        if exc.code != 428:  # no such feed: the seat was not publishing
            raise


def close_room(meeting: Meeting) -> None:
    """Take every grant (in place) and, after the commit, destroy the room (Janus drops
    everyone in it) and every token into it. Best effort (see `revoke`)."""
    node = _node(meeting)
    tokens = [t for t in map(seat_token, meeting.seats) if t is not None]
    for seat in meeting.seats:
        seat.janus_grant = None
    if node is None or meeting.janus_room is None:
        return
    room, secret = meeting.janus_room, room_secret(meeting)

    def destroy() -> None:
        try:
            node.admin.destroy_room(room, secret)
            log.info("janus room destroyed node=%s room=%s", node.api, room)
            for token in tokens:
                node.admin.remove_token(token)
        except JanusError as exc:
            log.warning("janus close failed node=%s room=%s error=%s", node.api, room, exc)

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
