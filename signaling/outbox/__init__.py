"""Database events -> clients: the outbox's one `{kind: translator}` table.

signaling.outbox.tail reads new `events` rows and runs the translator of each row's kind;
a kind missing here is skipped (logged at DEBUG).
"""

from __future__ import annotations

from collections.abc import Callable

from signaling.outbox import calls, meetings, sessions
from signaling.state.services import Services
from signaling.state.store import OutboxEvent

Translator = Callable[[Services, OutboxEvent], None]

TRANSLATORS: dict[str, Translator] = {
    "call.ringing": calls.call_ringing,
    "call.accepted": calls.call_accepted,
    **dict.fromkeys(calls.END_KINDS, calls.call_finished),
    **dict.fromkeys(meetings.MEETING_TRANSLATORS, meetings.meeting_event),
    "session.revoked": sessions.session_revoked,
}
