"""The HTTP upgrade to a WebSocket: a deadline on the request, checks, and clean refusals.

gevent's WSGIHandler reads the request line and headers with no time limit (a client
sending a byte a second holds a descriptor for ever), prints a traceback for more than
100 headers, and gevent-websocket answers an HTTP/1.0 upgrade with 402, one without a
version with a truncated 426, and one without Host with 101. `HardenedHandler` keeps
their plumbing and fixes each: the request must be complete within `handshake_timeout`
(else the connection is closed, with 408 once the request line is in), and every refusal
is a complete response (Content-Length, `Connection: close`) and one INFO log line.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import http.client
import logging
import socket
from typing import Any

import gevent
from gevent.pywsgi import unquote_latin1
from gevent.socket import socket as GeventSocket
from geventwebsocket.handler import WebSocketHandler

from app import logs
from signaling.settings import Settings
from signaling.transport.headers import MalformedHeader, parse_headers
from signaling.transport.limits import TokenBucket
from signaling.transport.reader import SocketReader
from signaling.transport.websocket import READ_CHUNK, OriginPolicy, WebSocket

log = logging.getLogger(__name__)

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class BadRequest(ValueError):
    """A request refused before it reached the application: (status line, reason)."""

    def __init__(self, status: str, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def _response(status: str, text: str) -> bytes:
    body = text.encode()
    head = f"HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nConnection: close\r\n"
    return f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body


class HardenedHandler(WebSocketHandler):
    """gevent-websocket's request handler with a deadline, a checked handshake, our framing.

    Configure a subclass with `handler_class()`; the WSGI application then finds our
    `WebSocket` in `environ["wsgi.websocket"]`.
    """

    websocket_path = "/ws"
    max_message = 64 * 1024
    max_fragments = 64
    frame_rate = 200.0
    frame_burst = 400
    handshake_timeout = 10.0
    origin_allowed: OriginPolicy = staticmethod(lambda origin, host: True)  # type: ignore[assignment]
    _deadline: gevent.Timeout | None = None
    _early_input = b""

    # -- reading the request, against the deadline --------------------------------------
    def MessageClass(self, fp, *_args):  # noqa: N802 - gevent's name
        """The request's headers, parsed by signaling.transport.headers (not email's parser)."""
        try:
            return parse_headers(fp)
        except MalformedHeader as exc:
            raise BadRequest("400 Bad Request", str(exc)) from None

    def handle(self) -> None:
        try:
            super().handle()
        finally:
            self._end_deadline()

    def _end_deadline(self) -> None:
        if self._deadline is not None:
            self._deadline.close()
            self._deadline = None

    def read_requestline(self) -> str:
        """The request line; the deadline for the whole request starts here."""
        self._end_deadline()
        self._deadline = gevent.Timeout.start_new(self.handshake_timeout)
        try:
            line = super().read_requestline()
        except gevent.Timeout as exc:
            if exc is not self._deadline:
                raise
            if self.requestline is None:  # the first request: a client too slow to say it
                self._log_refusal("no request line within the handshake deadline")
            else:  # an idle kept-alive HTTP connection: closing it is routine
                logs.event(
                    log, "http.idle_closed", logging.DEBUG, remote=_address(self.client_address)
                )
            # gevent closes the connection quietly on a socket error here.
            raise ConnectionAbortedError("handshake deadline") from None
        if not line.endswith("\n"):  # the client left, or the line is too long: no request
            self._end_deadline()
        return line

    def read_request(self, raw_requestline: str) -> bool:
        """Headers, within what is left of the deadline; bad ones raise BadRequest."""
        try:
            return super().read_request(raw_requestline)
        except gevent.Timeout as exc:
            if exc is not self._deadline:
                raise
            raise BadRequest(
                "408 Request Timeout", "request not complete within the handshake deadline"
            ) from None
        except http.client.HTTPException as exc:  # more than 100 headers (http.client's cap)
            raise BadRequest("400 Bad Request", str(exc) or "bad headers") from None
        finally:
            self._end_deadline()

    def _handle_client_error(self, ex: Exception) -> tuple[str, bytes]:
        """One log line, never a traceback, and a complete response (gevent's hook)."""
        if isinstance(ex, BadRequest):
            status, reason = ex.status, ex.reason
        else:
            status, reason = "400 Bad Request", str(ex) or type(ex).__name__
        self._log_refusal(reason[:200])
        return status.split()[0], _response(status, reason + "\n")

    def _log_refusal(self, reason: str) -> None:
        logs.event(log, "handshake.refused", remote=_address(self.client_address), reason=reason)

    def log_request(self) -> None:
        # Health probes would flood the log at INFO; WebSocket sessions log themselves.
        # Formatting the line costs ~1 % of a reconnect storm's CPU: only when it is kept.
        if log.isEnabledFor(logging.DEBUG):
            log.debug("%s", self.format_request())

    # -- the environ: gevent's whole one only for requests that are not an upgrade ---------
    def get_environ(self) -> dict[str, Any]:
        """For a WebSocket upgrade, the request line, the peer's address and the six
        headers its checks read; gevent's whole environ for the rest.

        gevent makes a WSGI variable of every header (with the server's base environ and
        an input stream) for a request that is upgraded, or refused, and then dropped:
        about a fifth of a handshake's CPU. The keys made here hold what gevent's would
        (`test_handshake_environ.py` compares them): a header sent twice is joined with a
        comma, a name with '_' is no header, values are stripped. Whether the request asks
        for a WebSocket is decided on that joined Upgrade value, as gevent-websocket does.
        A request that announces a body takes gevent's way, which skips the body before
        the connection closes (so a refusal is not cut short by a reset).
        """
        fields = _upgrade_fields(self.headers)
        if fields is None or fields.get("HTTP_UPGRADE", "").lower() != "websocket":
            return super().get_environ()
        path, _, query = self.path.partition("?")
        environ = {
            "REQUEST_METHOD": self.command,
            "SCRIPT_NAME": "",
            "PATH_INFO": unquote_latin1(path),
            "QUERY_STRING": query,
            "SERVER_PROTOCOL": self.request_version,
            **fields,
        }
        if isinstance(self.client_address, tuple):
            environ["REMOTE_ADDR"] = str(self.client_address[0])
            environ["REMOTE_PORT"] = str(self.client_address[1])
        # No body was announced: gevent gives an upgrade its reader as the input too.
        self.wsgi_input = _NO_BODY
        environ["wsgi.input"] = self.rfile
        return environ

    # -- the upgrade ----------------------------------------------------------------------
    def _refuse(self, status: str, text: str, headers: list | None = None) -> list[bytes]:
        self._log_refusal(text)
        body = f"{text}\n".encode()
        self.start_response(
            status,
            [
                ("Content-Type", "text/plain"),
                ("Content-Length", str(len(body))),
                ("Connection", "close"),
                *(headers or []),
            ],
        )
        return [body]

    def upgrade_websocket(self) -> list[bytes] | None:
        """Requests that ask for a WebSocket: refused with a reason, or upgraded.

        Anything else goes to the application (None).
        """
        environ = self.environ
        if environ.get("HTTP_UPGRADE", "").lower() != "websocket":
            return None
        if environ.get("REQUEST_METHOD") != "GET":
            return self._refuse("400 Bad Request", "A WebSocket upgrade must be a GET.")
        if self.request_version != "HTTP/1.1":
            return self._refuse("400 Bad Request", "A WebSocket upgrade needs HTTP/1.1.")
        if not environ.get("HTTP_HOST"):
            return self._refuse("400 Bad Request", "The Host header is required.")
        if "upgrade" not in environ.get("HTTP_CONNECTION", "").lower():
            return self._refuse("400 Bad Request", "Connection: Upgrade is required.")
        return self.upgrade_connection()

    def _handshake_problem(self) -> list[bytes] | None:
        environ = self.environ
        if environ.get("PATH_INFO") != self.websocket_path:
            return self._refuse("404 Not Found", "No WebSocket endpoint here.")
        if environ.get("HTTP_SEC_WEBSOCKET_VERSION") != "13":
            version = [("Sec-WebSocket-Version", "13")]
            return self._refuse("426 Upgrade Required", "WebSocket version 13 only.", version)
        try:
            key = base64.b64decode(environ.get("HTTP_SEC_WEBSOCKET_KEY", "").strip(), validate=True)
        except (binascii.Error, ValueError):
            key = b""
        if len(key) != 16:
            return self._refuse("400 Bad Request", "Invalid Sec-WebSocket-Key.")
        origin = environ.get("HTTP_ORIGIN")
        if origin and not self.origin_allowed(origin, environ.get("HTTP_HOST", "")):
            return self._refuse("403 Forbidden", "Origin not allowed.")
        return None

    def upgrade_connection(self) -> list[bytes] | None:
        """Validate the handshake (400/403/404/426 instead of a 500) and switch protocols."""
        problem = self._handshake_problem()
        if problem is not None:
            return problem
        key = self.environ["HTTP_SEC_WEBSOCKET_KEY"].strip()
        # Small frames go out at once: with Nagle on, a second frame sent back to back
        # (an offer then its candidates, `ringing` then `accepted`) waited ~40 ms for the
        # client's delayed ACK (measured with chimecast-bench).
        self.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        # Anything the client sent after its request; the WebSocket itself is made in
        # run_websocket, once the 101 is out (gevent-websocket only asks that it exists).
        self.websocket = _UPGRADED
        self._early_input = _take_buffered(self.rfile, self.socket)
        # The request's buffered reader is done: closing it frees its 8 KiB buffer for the
        # connection's life (the socket stays open), and tells gevent's handler afterwards
        # that no further request follows on this connection.
        self.rfile.close()
        accept = base64.b64encode(hashlib.sha1((key + GUID).encode("latin-1")).digest())
        self._switch_protocols(accept)
        return None

    def _switch_protocols(self, accept: bytes) -> None:
        """Send the 101 now, as one prepared block.

        gevent's start_response checks and encodes each header, and its first write adds a
        Date header, for a response whose every byte but the accept key is fixed (RFC 9110
        makes Date optional on a 1xx). The state is left as gevent's write would leave it,
        so gevent-websocket writes nothing more and the request log has its status."""
        self.status, self._orig_status, self.code = _SWITCHING, _SWITCHING.decode(), 101
        self.headers_sent = True
        self._sendall(_SWITCH_HEAD + accept + b"\r\n\r\n")

    def run_websocket(self) -> None:
        """Hand the connection to the application, which owns it from then on.

        The connection may outlive this greenlet (its reader parks while idle:
        signaling.transport.reader), so the descriptor is taken over from gevent's socket,
        which the server closes when this handler returns, into one the WebSocket owns
        and closes (`WebSocket.release`).
        """
        sock = GeventSocket(fileno=self.socket.detach())
        self.websocket = WebSocket(
            SocketReader(sock),
            sock,
            self.max_message,
            max_fragments=self.max_fragments,
            budget=TokenBucket(self.frame_rate, self.frame_burst),
            buffered=self._early_input,
        )
        self._early_input = b""
        # The request's environ and headers (a few kB of dicts and strings) would otherwise
        # live as long as the connection: the application needs only these.
        environ = self.environ
        self.environ = {
            "PATH_INFO": environ.get("PATH_INFO", ""),
            "REMOTE_ADDR": environ.get("REMOTE_ADDR", ""),
            "wsgi.websocket_version": "13",
            "wsgi.websocket": self.websocket,
        }
        del environ
        self.headers = _NO_HEADERS
        try:
            for _chunk in self.application(self.environ, lambda *args, **kwargs: None):
                pass
        finally:
            self.environ["wsgi.websocket"] = None
            self.websocket = None


_NO_HEADERS = http.client.HTTPMessage()
_SWITCHING = b"101 Switching Protocols"
_SWITCH_HEAD = (
    b"HTTP/1.1 " + _SWITCHING + b"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Accept: "
)
# The WSGI environ variable of each header an upgrade's checks read, by lower-case name.
_UPGRADE_FIELDS = {
    name.lower(): "HTTP_" + name.upper().replace("-", "_")
    for name in ("Host", "Upgrade", "Connection", "Origin", "Sec-WebSocket-Key",
                 "Sec-WebSocket-Version")
}  # fmt: skip
_BODY_FIELDS = ("content-length", "transfer-encoding")


class _NoBody:
    """The input of a request without a body: after the response there is nothing to skip."""

    def _discard(self) -> None:  # gevent calls it once the response is out
        return None


_NO_BODY = _NoBody()


def _upgrade_fields(message: Any) -> dict[str, str] | None:
    """The environ variables gevent would make of the upgrade's headers in `message`;
    None if the request announces a body."""
    fields: dict[str, str] = {}
    for name, value in message._headers:  # compat32's (name, value) list, in order
        lower = name.lower()
        if lower in _BODY_FIELDS:
            return None
        key = _UPGRADE_FIELDS.get(lower)
        if key is not None:
            value = value.strip()
            fields[key] = f"{fields[key]},{value}" if key in fields else value
    return fields


_UPGRADED = object()  # `HardenedHandler.websocket` between the upgrade and run_websocket


def _take_buffered(rfile: Any, sock: Any) -> bytes:
    """What the request's reader already holds beyond the request (a client may send its
    first frames without waiting for the 101), without waiting for more."""
    timeout = sock.gettimeout()
    sock.settimeout(0.0)
    try:
        return rfile.read1(READ_CHUNK) or b""
    except OSError:  # nothing buffered, nothing waiting
        return b""
    finally:
        sock.settimeout(timeout)


def handler_class(path: str, settings: Settings, origin_allowed: OriginPolicy) -> type:
    """A HardenedHandler subclass configured for one server from its settings."""
    per_message = settings.frames_per_message
    limits: dict[str, Any] = {
        "websocket_path": path,
        "max_message": settings.max_message_bytes,
        "max_fragments": settings.max_fragments,
        "frame_rate": settings.message_rate * per_message,
        "frame_burst": settings.message_burst * per_message,
        "handshake_timeout": settings.handshake_timeout,
        "origin_allowed": staticmethod(origin_allowed),
    }
    return type("ConfiguredHandler", (HardenedHandler,), limits)


def _address(client_address: Any) -> str:
    """`host:port` of a peer address tuple (gevent gives a tuple, or '' for none)."""
    if isinstance(client_address, tuple) and len(client_address) >= 2:
        return f"{client_address[0]}:{client_address[1]}"
    return str(client_address or "")
