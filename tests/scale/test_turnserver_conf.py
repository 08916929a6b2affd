"""The shipped deploy/turnserver.conf runs: coturn answers STUN over TLS on its `turns:` port.

Only addresses, ports, certificate paths and the secret of the shipped file are replaced
(each must match exactly once, so the file cannot drift from what is tested).
"""

from __future__ import annotations

import os
import socket
import ssl
import struct
import subprocess
from pathlib import Path

import pytest

from app.devstack import free_port, stop_process
from tests.scale.conftest import require_binary, wait_for_log
from tests.scale.test_nginx import self_signed

pytestmark = [pytest.mark.slow, pytest.mark.timeout(60)]

SHIPPED = Path(__file__).resolve().parents[2] / "deploy" / "turnserver.conf"
MAGIC_COOKIE = 0x2112A442


def render(port: int, tls_port: int, certs: Path) -> str:
    text = SHIPPED.read_text()
    replacements = {
        "listening-port=3478": f"listening-port={port}",
        "tls-listening-port=443": f"tls-listening-port={tls_port}",
        "listening-ip=<coturn's public address>": "listening-ip=127.0.0.1",
        "external-ip=<coturn's public address>": "relay-ip=127.0.0.1",
        "/etc/ssl/chimecast/turn-fullchain.pem": str(certs / "cert.pem"),
        "/etc/ssl/chimecast/turn-privkey.pem": str(certs / "key.pem"),
        "<the same value as CHIMECAST_TURN_SECRET>": "turn-test-secret-0123456789",
    }
    for old, new in replacements.items():
        assert text.count(old) == 1, f"deploy/turnserver.conf no longer has {old!r} once"
        text = text.replace(old, new)
    return text


def stun_binding_over_tls(port: int) -> int:
    """Send a STUN Binding request over TLS; return the response's message type."""
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    transaction = os.urandom(12)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
            tls.sendall(struct.pack("!HHI", 0x0001, 0, MAGIC_COOKIE) + transaction)
            header = tls.recv(20)
    kind, _length, cookie = struct.unpack("!HHI", header[:8])
    assert cookie == MAGIC_COOKIE and header[8:20] == transaction
    return kind


def test_shipped_coturn_config_answers_stun_over_tls_on_its_turns_port(tmp_path):
    binary = require_binary("turnserver")
    self_signed(tmp_path)
    port, tls_port = free_port(), free_port()
    config = tmp_path / "turnserver.conf"
    config.write_text(render(port, tls_port, tmp_path))
    log = tmp_path / "turnserver.log"
    argv = [
        binary, "-c", str(config), "--simple-log", f"--log-file={log}",
        f"--pidfile={tmp_path / 'turnserver.pid'}", f"--userdb={tmp_path / 'turndb'}",
    ]  # fmt: skip
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        wait_for_log(log, "Total General servers")
        assert stun_binding_over_tls(tls_port) == 0x0101  # Binding success response
    finally:
        stop_process(process)
