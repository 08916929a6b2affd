"""Structured, greppable log lines shared by the web app and the daemon.

One line per event: `2026-11-25T21:40:01Z INFO app.calls.service call.accepted call=42
user=bob conn=-`. Context goes in `extra={"ctx": {...}}` (or `event()` below); values are
quoted when they contain spaces. Never put a token, password or SDP in the context.
`CHIMECAST_LOG_FORMAT=json` writes the same fields as one JSON object per line
(`ts`, `level`, `logger`, `event`, the context, and `exc` for a traceback).
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

FORMATS = ("keyvalue", "json")
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
# Chatty at INFO on every process start (alembic lists its autogenerate plugins).
QUIET_LOGGERS = ("alembic.runtime.plugins",)

_configured = False


def _render(value: Any) -> str:
    text = str(value)
    if not text or any(ch in text for ch in ' "=\n'):
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    return text


class KeyValueFormatter(logging.Formatter):
    converter = time.gmtime

    def format(self, record: logging.LogRecord) -> str:
        stamp = self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + "Z"
        line = f"{stamp} {record.levelname} {record.name} {record.getMessage()}"
        context = getattr(record, "ctx", None)
        if context:
            line += " " + " ".join(f"{k}={_render(v)}" for k, v in context.items() if v is not None)
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class JsonFormatter(logging.Formatter):
    """One JSON object per line; context keys sit beside the fixed ones."""

    converter = time.gmtime

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + "Z",
            "level": record.levelname,
            "logger": record.name,
            "event": record.getMessage(),
        }
        context = getattr(record, "ctx", None) or {}
        line.update({k: v for k, v in context.items() if v is not None and k not in line})
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def configure(level: str = "INFO", fmt: str = "keyvalue") -> None:
    """Send every logger to stderr in key=value (or JSON) form (once per process)."""
    global _configured
    if _configured:
        return
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if fmt == "json" else KeyValueFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    _configured = True


def event(
    logger: logging.Logger,
    name: str,
    level: int = logging.INFO,
    exc_info: Any = None,
    **context: Any,
) -> None:
    """Log one event line with its context fields (and a traceback when `exc_info` says)."""
    logger.log(level, name, exc_info=exc_info, extra={"ctx": context})
