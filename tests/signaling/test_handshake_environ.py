"""The upgrade's short environ and prepared 101 against gevent's own (signaling.transport.handshake).

`HardenedHandler.get_environ` builds, for a WebSocket upgrade, only the variables the
upgrade's checks read, and `_switch_protocols` writes the 101 without gevent's
start_response. Both claim to change nothing a client can see: each request here, many of
them hostile (headers sent twice, in odd case, with '_' for '-', padded values, escaped
paths, bodies), is parsed twice and the two environs compared on every variable a check
reads; a request that does not ask for a WebSocket, or announces a body, must get gevent's
whole environ.
"""

from __future__ import annotations

import io
import random
import socket

import pytest
from gevent.pywsgi import WSGIHandler, WSGIServer

from signaling.settings import Settings
from signaling.transport.handshake import handler_class

Handler = handler_class("/ws", Settings(), lambda origin, host: True)
# What upgrade_websocket, _handshake_problem, upgrade_connection and run_websocket read.
CHECKED = (
    "REQUEST_METHOD",
    "PATH_INFO",
    "SERVER_PROTOCOL",
    "REMOTE_ADDR",
    "HTTP_HOST",
    "HTTP_UPGRADE",
    "HTTP_CONNECTION",
    "HTTP_ORIGIN",
    "HTTP_SEC_WEBSOCKET_KEY",
    "HTTP_SEC_WEBSOCKET_VERSION",
)
KEY = "dGhlIHNhbXBsZSBub25jZQ=="  # RFC 6455's example: its accept is s3pPLMBiTxaQ9kYGzzhZRbK+xOo=
UPGRADE = [
    ("Host", "chime.example"),
    ("Upgrade", "websocket"),
    ("Connection", "Upgrade"),
    ("Sec-WebSocket-Key", KEY),
    ("Sec-WebSocket-Version", "13"),
    ("Origin", "https://chime.example"),
]


@pytest.fixture(scope="module")
def server():
    server = WSGIServer(("127.0.0.1", 0), lambda environ, start_response: [])
    server.init_socket()
    yield server
    server.close()


def parsed(server, request: bytes, sock=None):
    """A handler that has read `request`'s line and headers, as gevent's loop does."""
    handler = Handler(
        sock, ("203.0.113.7", 50123), server, rfile=io.BufferedReader(io.BytesIO(request))
    )
    line = handler.read_requestline()
    handler.requestline = line
    assert handler.read_request(line)
    return handler


def request(headers, path="/ws", method="GET", version="HTTP/1.1", body=b"") -> bytes:
    head = f"{method} {path} {version}\r\n" + "".join(f"{n}: {v}\r\n" for n, v in headers)
    return head.encode("latin-1") + b"\r\n" + body


def both_environs(server, raw: bytes):
    ours = parsed(server, raw).get_environ()
    gevents = WSGIHandler.get_environ(parsed(server, raw))
    return ours, gevents


def assert_same_decisions(server, raw: bytes) -> bool:
    """The checked variables agree; True if the short environ was used."""
    ours, gevents = both_environs(server, raw)
    short = "wsgi.version" not in ours
    asks = gevents.get("HTTP_UPGRADE", "").lower() == "websocket"
    has_body = "CONTENT_LENGTH" in gevents or "HTTP_TRANSFER_ENCODING" in gevents
    assert short == (asks and not has_body), (raw, ours)
    for name in CHECKED:
        assert ours.get(name) == gevents.get(name), (name, raw)
    return short


HOSTILE = {
    "plain": request(UPGRADE),
    "key_twice": request([*UPGRADE, ("Sec-WebSocket-Key", KEY)]),
    "host_twice": request([("Host", "a.example"), *UPGRADE]),
    "origin_twice": request([*UPGRADE, ("Origin", "https://evil.example")]),
    "version_twice": request([*UPGRADE, ("sec-websocket-version", "8")]),
    "upgrade_twice": request([*UPGRADE, ("Upgrade", "h2c")]),
    "underscored_key": request(
        [(n, v) for n, v in UPGRADE if n != "Sec-WebSocket-Key"] + [("Sec_WebSocket_Key", KEY)]
    ),
    "underscored_upgrade": request(
        [(n, v) for n, v in UPGRADE if n != "Upgrade"] + [("Up_grade", "websocket")]
    ),
    "shouting": request([(n.upper(), v.upper() if n == "Upgrade" else v) for n, v in UPGRADE]),
    "padded": request([(n, f"\t {v} \t") for n, v in UPGRADE]),
    "escaped_path": request(UPGRADE, path="/w%73?token=x"),
    "other_path": request(UPGRADE, path="/%2Fws"),
    "post": request(UPGRADE, method="POST"),
    "http_1_0": request(UPGRADE, version="HTTP/1.0"),
    "no_upgrade": request([(n, v) for n, v in UPGRADE if n != "Upgrade"]),
    "with_length": request([*UPGRADE, ("Content-Length", "5")], body=b"hello"),
    "chunked": request([*UPGRADE, ("Transfer-Encoding", "chunked")], body=b"0\r\n\r\n"),
    "healthz": request([("Host", "chime.example")], path="/healthz"),
}


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_upgrades_read_the_same_as_with_gevents_environ(server, name):
    assert_same_decisions(server, HOSTILE[name])


def test_only_a_bodiless_websocket_upgrade_takes_the_short_environ(server):
    used = {name for name, raw in HOSTILE.items() if assert_same_decisions(server, raw)}
    assert used == {
        "plain",
        "key_twice",
        "host_twice",
        "origin_twice",
        "version_twice",
        "underscored_key",
        "shouting",
        "padded",
        "escaped_path",
        "other_path",
        "post",
        "http_1_0",
    }


NAMES = [n for n, _ in UPGRADE] + ["Sec_WebSocket_Key", "X-Forwarded-For", "Cookie", "User-Agent"]
VALUES = ["websocket", "WebSocket", "Upgrade", "keep-alive, Upgrade", KEY, "13", "h2c", "", "a,b"]


def _random_request(rng: random.Random) -> bytes:
    headers = list(UPGRADE) if rng.random() < 0.5 else []
    for _ in range(rng.randrange(0, 8)):
        name = "".join(c.upper() if rng.random() < 0.3 else c.lower() for c in rng.choice(NAMES))
        pad = rng.choice(["", " ", "\t", "  "])
        headers.insert(rng.randrange(len(headers) + 1), (name, pad + rng.choice(VALUES) + pad))
    path = rng.choice(["/ws", "/w%73", "/ws?x=1&y", "/%77%73", "/", "/ws/"])
    return request(headers, path=path, method=rng.choice(["GET", "GET", "HEAD", "POST"]))


def test_many_random_requests_read_the_same_as_with_gevents_environ(server):
    rng = random.Random(20261205)
    short = sum(assert_same_decisions(server, _random_request(rng)) for _ in range(2000))
    assert 200 < short < 1800  # both ways were exercised


def test_the_101_is_gevents_without_its_optional_date(server):
    """The prepared 101 against gevent's start_response + first write, byte for byte."""
    ours, theirs = socket.socketpair(), socket.socketpair()
    try:
        handler = parsed(server, HOSTILE["plain"], sock=ours[0])
        handler.environ = handler.get_environ()
        handler._switch_protocols(b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
        stock = parsed(server, HOSTILE["plain"], sock=theirs[0])
        stock.environ, stock.result = WSGIHandler.get_environ(stock), None
        stock.start_response(
            "101 Switching Protocols",
            [
                ("Upgrade", "websocket"),
                ("Connection", "Upgrade"),
                ("Sec-WebSocket-Accept", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="),
            ],
        )
        stock.write(b"")
        sent, expected = ours[1].recv(4096), theirs[1].recv(4096)
        undated = b"".join(
            line for line in expected.splitlines(True) if not line.startswith(b"Date:")
        )
        assert sent == undated
        assert (handler.status, handler.code, handler.headers_sent) == (stock.status, 101, True)
        assert handler.response_length == len(sent)
    finally:
        for pair in (ours, theirs):
            for end in pair:
                end.close()
