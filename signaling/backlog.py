"""The listen backlog a daemon really gets, and a warning when the kernel cuts it.

Linux silently caps `listen(fd, backlog)` at `net.core.somaxconn`. A reconnect storm of
10,000 clients overflowed a 4096 queue (1,156 SYNs dropped: those clients wait 1 s, 3 s,
7 s for their SYN retransmits), so the default asks for 16384 and the daemon says at
start-up when the kernel will not give it (`sysctl -w net.core.somaxconn=16384`, see
deploy/). The effective value is the `chimecast_signaling_listen_backlog` gauge.
"""

from __future__ import annotations

import logging

from app import logs

log = logging.getLogger(__name__)

SOMAXCONN = "/proc/sys/net/core/somaxconn"


def somaxconn(path: str = SOMAXCONN) -> int | None:
    """The kernel's cap on a listen backlog, or None where it cannot be read (not Linux)."""
    try:
        with open(path) as handle:
            return int(handle.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def effective_backlog(requested: int, path: str = SOMAXCONN) -> int:
    """What `listen(requested)` gets; logs a warning when somaxconn is lower."""
    cap = somaxconn(path)
    if cap is None or cap >= requested:
        return requested
    logs.event(log, "listen.backlog_capped", logging.WARNING, requested=requested,
               somaxconn=cap, fix=f"sysctl -w net.core.somaxconn={requested}")  # fmt: skip
    return cap
