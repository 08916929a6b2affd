"""The shared data model; both the web app and the signaling daemon import it from here."""

from app.models.base import Base, UTCDateTime
from app.models.call import Call, CallState, EndReason, Event
from app.models.connection import Connection
from app.models.meeting import (
    JanusWithdrawal,
    MediaPath,
    Meeting,
    MeetingParticipant,
    MeetingState,
    SeatState,
)
from app.models.node import Node
from app.models.session import AuthEvent, AuthSession
from app.models.user import User
from app.models.webhook import WebhookDelivery

__all__ = [
    "AuthEvent",
    "AuthSession",
    "Base",
    "Call",
    "CallState",
    "Connection",
    "EndReason",
    "JanusWithdrawal",
    "MediaPath",
    "Meeting",
    "MeetingParticipant",
    "MeetingState",
    "Node",
    "SeatState",
    "Event",
    "UTCDateTime",
    "User",
    "WebhookDelivery",
]
