"""Small helpers for the operations tests: ports and what /metrics says."""

from __future__ import annotations

import random
import re
import socket
import urllib.request


def port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("0.0.0.0", port))
        except OSError:
            return False
        return True


def free_base_port() -> int:
    """A base for honcho's ports: base (web), +100 (signaling), +200 (worker) all free."""
    for _ in range(200):
        base = random.randrange(20000, 40000)
        if all(port_free(base + offset) for offset in (0, 100, 200)):
            return base
    raise RuntimeError("no free port triple")


def requests_total(web_url: str) -> float:
    with urllib.request.urlopen(f"{web_url}/metrics", timeout=5) as response:
        text = response.read().decode()
    pattern = r'^chimecast_http_requests_total\{[^}]*endpoint="/healthz"[^}]*\} (\S+)$'
    return sum(float(v) for v in re.findall(pattern, text, re.MULTILINE))
