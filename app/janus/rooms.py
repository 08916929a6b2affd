"""Rooms and credentials of SFU meetings: ChimeCast decides, Janus enforces.

A meeting's VideoRoom is created with a secret only ChimeCast knows (stored with the
meeting: every process may need it to kick or destroy), as a private room whose `allowed`
list starts empty and whose subscribers must present a publisher's private id.

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

import logging
import secrets
from typing import Any

from app.errors import ApiError
from app.janus.client import JanusError
from app.janus.nodes import Node, pool
from app.models import Meeting, MeetingParticipant

log = logging.getLogger(__name__)
TOKEN_PREFIX = "ccj_"


def sfu_unavailable(message: str = "No SFU (Janus) node is available.") -> ApiError:
    return ApiError(503, "sfu_unavailable", message)


def open_room(meeting: Meeting) -> None:
    """Create the meeting's VideoRoom on the least loaded healthy node (in place).

    ApiError 503 sfu_unavailable when no node takes it."""
    nodes = pool()
    if nodes is None:
        raise ApiError(409, "sfu_not_configured", "This server has no SFU; use media mesh.")
    room, secret = secrets.randbelow(2**52) + 1, secrets.token_urlsafe(24)
    for node in nodes.candidates():
        try:
            node.admin.create_room(room, secret, meeting.max_participants, meeting.name)
        except JanusError as exc:
            nodes.mark_down(node, str(exc))
            continue
        meeting.janus_node, meeting.janus_room, meeting.janus_secret = node.api, room, secret
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
    if meeting.janus_room is None or seat.janus_token is not None:
        return
    node = _node(meeting)
    if node is None:
        raise sfu_unavailable("This meeting's SFU node is not configured any more.")
    token = TOKEN_PREFIX + secrets.token_urlsafe(24)
    try:
        node.admin.add_token(token)
        node.admin.allow(meeting.janus_room, meeting.janus_secret or "", token)
    except JanusError as exc:
        pool().mark_down(node, str(exc))  # type: ignore[union-attr]
        raise sfu_unavailable("This meeting's SFU node is not answering.") from exc
    seat.janus_token = token
    if seat.janus_feed is None:
        seat.janus_feed = secrets.randbelow(2**52) + 1


def revoke(meeting: Meeting, seat: MeetingParticipant) -> None:
    """Take the seat's token away and end its Janus sessions (in place). Best effort: a
    node that is down has lost its sessions anyway."""
    token, seat.janus_token = seat.janus_token, None
    node = _node(meeting)
    if token is None or node is None or meeting.janus_room is None:
        return
    try:
        node.admin.allow(meeting.janus_room, meeting.janus_secret or "", token, allowed=False)
        node.admin.remove_token(token)
        _kick(node, meeting, seat)
        node.admin.evict(token)
    except JanusError as exc:
        log.warning("janus revoke failed node=%s seat=%s error=%s", node.api, seat.id, exc)


def _kick(node: Node, meeting: Meeting, seat: MeetingParticipant) -> None:
    try:
        node.admin.kick(meeting.janus_room or 0, meeting.janus_secret or "", seat.janus_feed or 0)
    except JanusError as exc:
        if exc.code != 428:  # no such feed: the seat was not publishing
            raise


def close_room(meeting: Meeting) -> None:
    """Destroy the room (Janus drops everyone in it), then every token into it. Best
    effort (see `revoke`)."""
    node = _node(meeting)
    tokens = [s.janus_token for s in meeting.seats if s.janus_token is not None]
    for seat in meeting.seats:
        seat.janus_token = None
    if node is None or meeting.janus_room is None:
        return
    try:
        node.admin.destroy_room(meeting.janus_room, meeting.janus_secret or "")
        log.info("janus room destroyed node=%s room=%s", node.api, meeting.janus_room)
        for token in tokens:
            node.admin.remove_token(token)
    except JanusError as exc:
        log.warning(
            "janus close failed node=%s room=%s error=%s", node.api, meeting.janus_room, exc
        )


def credential(meeting: Meeting, seat: MeetingParticipant | None) -> dict[str, Any] | None:
    """What the seat's own client needs to join the room, or None."""
    if seat is None or seat.janus_token is None or meeting.janus_room is None:
        return None
    return {
        "server": meeting.janus_node,
        "room": meeting.janus_room,
        "token": seat.janus_token,
        "feed": seat.janus_feed,
    }


def feeds(meeting: Meeting) -> dict[str, int]:
    """username -> feed id of each seat admitted into the room."""
    return {s.username: s.janus_feed for s in meeting.seats if s.janus_token is not None}
