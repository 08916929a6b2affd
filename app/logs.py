"""Structured, greppable log lines shared by the web app and the daemon.

One line per event: `2026-11-25T21:40:01Z INFO app.calls.service call.accepted call=42
user=bob conn=-`. Context goes in `extra={"ctx": {...}}` (or `event()` below); values are
quoted when they contain spaces. Never put a token, password or SDP in the context.
"""

from __future__ import annotations

import logging
import time
from typing import Any

_configured = False


def _render(value: Any) -> str:
    text = str(value)
    if not text or any(ch in text for ch in ' "='):
        return '"' + text.replace('"', '\\"') + '"'
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


def configure(level: str = "INFO") -> None:
    """Send every logger to stderr in key=value form (once per process)."""
    global _configured
    if _configured:
        return
    handler = logging.StreamHandler()
    handler.setFormatter(KeyValueFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    _configured = True


def event(logger: logging.Logger, name: str, level: int = logging.INFO, **context: Any) -> None:
    """Log one event line with its context fields."""
    logger.log(level, name, extra={"ctx": context})
