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
from typing import Any

from flask import current_app

from app.errors import ApiError
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


def room_secret(meeting: Meeting) -> str:
    """The room's Janus secret (admin power over it): derived, never stored."""
    return _derive("janus-room", meeting.janus_room, meeting.janus_nonce)


def seat_token(seat: MeetingParticipant) -> str | None:
    """The seat's current Janus stored token, or None without a grant: derived, never
    stored."""
    if seat.janus_grant is None:
        return None
    return TOKEN_PREFIX + _derive("janus-seat", seat.id, seat.janus_grant)


def _nonce() -> str:
    return secrets.token_urlsafe(16)


def sfu_unavailable(message: str = "No SFU (Janus) node is available.") -> ApiError:
    return ApiError(503, "sfu_unavailable", message)


def open_room(meeting: Meeting) -> None:
    """Create the meeting's VideoRoom on the least loaded healthy node (in place).

    ApiError 503 sfu_unavailable when no node takes it."""
    nodes = pool()
    if nodes is None:
        raise ApiError(409, "sfu_not_configured", "This server has no SFU; use media mesh.")
    meeting.janus_room, meeting.janus_nonce = secrets.randbelow(2**52) + 1, _nonce()
    secret = room_secret(meeting)
    for node in nodes.candidates():
        try:
            node.admin.create_room(meeting.janus_room, secret, meeting.max_participants,
                                   meeting.name)  # fmt: skip
        except JanusError as exc:
            nodes.mark_down(node, str(exc))
            continue
        meeting.janus_node, room = node.api, meeting.janus_room
        log.info("janus room created node=%s room=%s", node.api, room)
        return
    raise sfu_unavailable()


def dead_nodes() -> list[str]:
    """API URLs of the configured nodes that fail a fresh health check."""
    nodes = pool()
    if nodes is None:
        return []
    return [node.api for node in nodes.nodes if not nodes.healthy(node, fresh=True)]


def _node(meeting: Meeting) -> Node | None:
    nodes = pool()
    return nodes.node(meeting.janus_node) if nodes and meeting.janus_node else None


def grant(meeting: Meeting, seat: MeetingParticipant) -> None:
    """Give the admitted `seat` a token into this room only (in place). 503 when the
    meeting's node does not take it: nobody is admitted to media they cannot reach."""
    if meeting.janus_room is None or seat.janus_grant is not None:
        return
    node = _node(meeting)
    if node is None:
        raise sfu_unavailable("This meeting's SFU node is not configured any more.")
    assert seat.id is not None, "flush the seat first: its token is derived from its id"
    grant_nonce = _nonce()
    seat.janus_grant = grant_nonce
    token = seat_token(seat)
    assert token is not None
    try:
        node.admin.add_token(token)
        node.admin.allow(meeting.janus_room, room_secret(meeting), token)
    except JanusError as exc:
        seat.janus_grant = None
        pool().mark_down(node, str(exc))  # type: ignore[union-attr]
        raise sfu_unavailable("This meeting's SFU node is not answering.") from exc
    if seat.janus_feed is None:
        seat.janus_feed = secrets.randbelow(2**52) + 1


def revoke(meeting: Meeting, seat: MeetingParticipant) -> None:
    """Take the seat's token away and end its Janus sessions (in place). Best effort: a
    node that is down has lost its sessions anyway."""
    token, seat.janus_grant = seat_token(seat), None
    node = _node(meeting)
    if token is None or node is None or meeting.janus_room is None:
        return
    try:
        node.admin.allow(meeting.janus_room, room_secret(meeting), token, allowed=False)
        node.admin.remove_token(token)
        _kick(node, meeting, seat)
        node.admin.evict(token)
    except JanusError as exc:
        log.warning("janus revoke failed node=%s seat=%s error=%s", node.api, seat.id, exc)


def _kick(node: Node, meeting: Meeting, seat: MeetingParticipant) -> None:
    try:
        node.admin.kick(meeting.janus_room or 0, room_secret(meeting), seat.janus_feed or 0)
    except JanusError as exc:
        if exc.code != 428:  # no such feed: the seat was not publishing
            raise


def close_room(meeting: Meeting) -> None:
    """Destroy the room (Janus drops everyone in it), then every token into it. Best
    effort (see `revoke`)."""
    node = _node(meeting)
    tokens = [t for t in map(seat_token, meeting.seats) if t is not None]
    for seat in meeting.seats:
        seat.janus_grant = None
    if node is None or meeting.janus_room is None:
        return
    try:
        node.admin.destroy_room(meeting.janus_room, room_secret(meeting))
        log.info("janus room destroyed node=%s room=%s", node.api, meeting.janus_room)
        for token in tokens:
            node.admin.remove_token(token)
    except JanusError as exc:
        log.warning(
            "janus close failed node=%s room=%s error=%s", node.api, meeting.janus_room, exc
        )


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
