"""`flask calls ...`: call history, one call in detail, and outcome statistics."""

from __future__ import annotations

from typing import Any

import click
from sqlalchemy import or_, select

from app.calls import service
from app.calls.schemas import call_record
from app.cli.output import AdminGroup, emit, emit_json, fields, json_option, when
from app.cli.users import get_user
from app.extensions import db
from app.models import Call, CallState, EndReason, Meeting, MeetingParticipant, MeetingState

calls = AdminGroup("calls", help="Inspect call records.")

COLUMNS = (
    ("id", "id"),
    ("caller", "caller"),
    ("callee", "callee"),
    ("state", "state"),
    ("end_reason", "end reason"),
    ("created", "started (utc)"),
    ("duration", "duration"),
)
# Outcomes counted by `stats`, in the order they are printed.
OUTCOMES = (
    EndReason.MISSED,
    EndReason.DECLINED,
    EndReason.BUSY,
    EndReason.OFFLINE,
    EndReason.CANCELLED,
    EndReason.CONNECTION_LOST,
)
OUTCOME_KEYS = frozenset(reason.value for reason in OUTCOMES)


def duration_text(seconds: float | None) -> str | None:
    """`m:ss` (or `h:mm:ss`) talk time, None when the call was never answered or is ongoing."""
    if seconds is None:
        return None
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02}:{secs:02}" if hours else f"{minutes}:{secs:02}"


def call_row(call: Call) -> dict[str, Any]:
    return {
        "id": call.id,
        "caller": call.caller.username if call.caller else "(deleted)",
        "callee": call.callee.username if call.callee else "(deleted)",
        "state": call.state,
        "end_reason": call.end_reason,
        "created": when(call.created_at),
        "duration": duration_text(call.duration_seconds),
    }


def call_json(call: Call) -> dict[str, Any]:
    """The call exactly as the HTTP API shows it to its participants."""
    return call_record(service.call_row(call.id))


@calls.command("list")
@click.option("--user", "username", help="Only calls this user took part in.")
@click.option(
    "--state", type=click.Choice([s.value for s in CallState]), help="Only calls in this state."
)
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10_000))
@json_option
def list_command(username: str | None, state: str | None, limit: int, as_json: bool) -> None:
    """List calls, newest first."""
    service.expire_unanswered()  # a call ringing past RING_TIMEOUT is really missed
    statement = select(Call).order_by(Call.created_at.desc(), Call.id.desc()).limit(limit)
    if username:
        uid = get_user(username).id
        statement = statement.where(or_(Call.caller_id == uid, Call.callee_id == uid))
    if state:
        statement = statement.where(Call.state == state)
    found = list(db.session.scalars(statement))
    if as_json:
        emit_json([call_json(c) for c in found])
    else:
        emit([call_row(c) for c in found], COLUMNS, False, "No calls.")


@calls.command("show")
@click.argument("call_id", type=int)
@json_option
def show_command(call_id: int, as_json: bool) -> None:
    """Show one call, with each side's media-path report."""
    service.expire_unanswered()
    call = db.session.get(Call, call_id)
    if call is None:
        raise click.ClickException(f"No call with id {call_id}.")
    if as_json:
        emit_json(call_json(call))
        return
    row = call_row(call)
    pairs = [
        ("Call", call.id),
        ("Caller", row["caller"]),
        ("Callee", row["callee"]),
        ("State", call.state),
        ("End reason", call.end_reason),
        ("Ended by", call.ended_by.username if call.ended_by else None),
        ("Started (utc)", when(call.created_at)),
        ("Answered", when(call.answered_at)),
        ("Ended", when(call.ended_at)),
        ("Duration", row["duration"]),
    ]
    stats = call.stats or {}
    pairs += [(f"Media ({who})", _media_text(report)) for who, report in sorted(stats.items())]
    if not stats:
        pairs.append(("Media", "no reports"))
    click.echo(fields(pairs))


def _media_text(report: Any) -> str:
    if not isinstance(report, dict):
        return str(report)
    return ", ".join(f"{key}={value}" for key, value in sorted(report.items()))


def compute_stats(user_id: int | None = None) -> dict[str, Any]:
    """Counts of calls by outcome and the average talk time of answered calls."""
    # Probe calls (chimecast-probe) are monitoring, not use: never in the stats.
    statement = select(Call.end_reason, Call.state, Call.answered_at, Call.ended_at).where(
        Call.probe.is_(False)
    )
    if user_id is not None:
        statement = statement.where(or_(Call.caller_id == user_id, Call.callee_id == user_id))
    counts = {"total": 0, "answered": 0, **{reason.value: 0 for reason in OUTCOMES}}
    counts.update(ringing=0, active=0)
    durations: list[float] = []
    for reason, state, answered_at, ended_at in db.session.execute(statement):
        counts["total"] += 1
        if answered_at is not None:
            counts["answered"] += 1
            if ended_at is not None:
                durations.append((ended_at - answered_at).total_seconds())
        elif reason in OUTCOME_KEYS:
            counts[reason] += 1
        if state in (CallState.RINGING, CallState.ACTIVE):
            counts[state] += 1
    average = round(sum(durations) / len(durations), 1) if durations else None
    return {**counts, "average_duration_seconds": average}


def compute_meeting_stats(user_id: int | None = None) -> dict[str, Any]:
    """Meetings held, distinct people admitted, and the average length of ended meetings."""
    statement = select(Meeting)
    if user_id is not None:
        seated = select(MeetingParticipant.meeting_id).where(MeetingParticipant.user_id == user_id)
        statement = statement.where(or_(Meeting.created_by_id == user_id, Meeting.id.in_(seated)))
    meetings = list(db.session.scalars(statement).unique())
    lengths = [
        (m.ended_at - m.created_at).total_seconds() for m in meetings if m.ended_at is not None
    ]
    admitted = [sum(1 for s in m.seats if s.joined_at is not None) for m in meetings]
    return {
        "total": len(meetings),
        "open": sum(1 for m in meetings if m.state == MeetingState.OPEN),
        "participants": sum(admitted),
        "average_participants": round(sum(admitted) / len(admitted), 1) if admitted else None,
        "average_duration_seconds": round(sum(lengths) / len(lengths), 1) if lengths else None,
    }


@calls.command("stats")
@click.option("--user", "username", help="Only calls this user took part in.")
@json_option
def stats_command(username: str | None, as_json: bool) -> None:
    """Count calls by outcome; average talk time."""
    service.expire_unanswered()
    user_id = get_user(username).id if username else None
    stats = compute_stats(user_id)
    meetings = compute_meeting_stats(user_id)
    if as_json:
        emit_json({**stats, "meetings": meetings})
        return
    average = stats["average_duration_seconds"]
    pairs = [
        (key.replace("_", " ").capitalize(), stats[key])
        for key in stats
        if key != "average_duration_seconds"
    ]
    pairs.append(
        (
            "Average duration",
            f"{duration_text(average)} ({average} s)" if average is not None else None,
        )
    )
    meeting_average = meetings["average_duration_seconds"]
    pairs += [
        ("Meetings", meetings["total"]),
        ("Meetings open", meetings["open"]),
        ("Meeting participants", meetings["participants"]),
        ("Average meeting size", meetings["average_participants"]),
        (
            "Average meeting duration",
            duration_text(meeting_average) if meeting_average is not None else None,
        ),
    ]
    click.echo(fields(pairs))
