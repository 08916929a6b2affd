"""The bare relay the load tool compares ChimeCast against: gevent-websocket as shipped.

No authentication, no database, no rate limits, no heartbeats: `hello` takes its token as
the username, and `offer` / `answer` / `candidate` go to the connection named by `to`
with `from` and `seq` stamped, exactly the shape ChimeCast relays. `ping` gets `pong`.
It speaks only the subset of PROTOCOL.md the benchmark scenarios need.

Run it as its own process (it monkey-patches): `python -m signaling.bench.reference
--port 8002`. It answers `GET /healthz` with 200 so a launcher can wait for it.
"""

from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import json  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402
import sys  # noqa: E402

import gevent  # noqa: E402
from gevent.lock import Semaphore  # noqa: E402
from gevent.pywsgi import WSGIServer  # noqa: E402
from geventwebsocket.handler import WebSocketHandler  # noqa: E402

RELAYED = frozenset({"offer", "answer", "candidate"})


class Relay:
    """Who is connected (username -> socket) and the relay itself."""

    def __init__(self) -> None:
        self.sockets: dict[str, object] = {}
        # gevent-websocket's send() has no lock: the owner's greenlet and a peer's may both send.
        self.locks: dict[str, Semaphore] = {}
        self.seq: dict[tuple[str, object], int] = {}

    def send(self, username: str, text: str) -> None:
        ws = self.sockets.get(username)
        if ws is None:
            return
        with self.locks[username]:
            ws.send(text)

    def serve(self, ws) -> None:
        """One connection: `hello` first, then relay until the socket closes."""
        first = ws.receive()
        if first is None:
            return
        hello = json.loads(first)
        username = str(hello.get("token", ""))
        if hello.get("type") != "hello" or not username:
            ws.close(4001)
            return
        welcome = {"type": "welcome", "ref": hello.get("id"), "protocol": 1,
                   "user": {"username": username, "display_name": username}, "calls": []}  # fmt: skip
        ws.send(json.dumps(welcome))
        self.locks[username] = Semaphore()
        self.sockets[username] = ws
        try:
            while True:
                raw = ws.receive()
                if raw is None:
                    return
                self.handle(username, json.loads(raw))
        finally:
            if self.sockets.get(username) is ws:
                del self.sockets[username]

    def handle(self, username: str, message: dict) -> None:
        kind = message.get("type")
        if kind in RELAYED:
            key = (username, message.get("call_id"))
            seq = self.seq[key] = self.seq.get(key, 0) + 1
            relayed = {"type": kind, "call_id": message.get("call_id"), "from": username,
                       "seq": seq, "payload": message.get("payload")}  # fmt: skip
            self.send(message.get("to", ""), json.dumps(relayed))
        elif kind == "ping":
            self.send(username, json.dumps({"type": "pong", "ref": message.get("id")}))
        elif kind in ("accept", "decline", "hangup"):
            ack = {"type": "ack", "ref": message.get("id"), "call_id": message.get("call_id")}
            self.send(username, json.dumps(ack))


def application(relay: Relay, nodelay: bool = False):
    def app(environ, start_response):
        ws = environ.get("wsgi.websocket")
        if ws is not None:
            if nodelay:
                sock = ws.handler.socket
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            relay.serve(ws)
            return []
        if environ.get("PATH_INFO") == "/healthz":
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [b"ok\n"]
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found\n"]

    return app


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Bare gevent-websocket relay (benchmark reference)"
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8002)
    parser.add_argument(
        "--nodelay", action="store_true", help="set TCP_NODELAY (not done as shipped)"
    )
    args = parser.parse_args(argv)
    server = WSGIServer(
        (args.host, args.port),
        application(Relay(), args.nodelay),
        handler_class=WebSocketHandler,
        backlog=4096,  # as the daemon (CHIMECAST_LISTEN_BACKLOG): gevent's 128 drops bursts
        log=None,
    )
    for signum in (signal.SIGTERM, signal.SIGINT):
        gevent.signal_handler(signum, lambda: gevent.spawn(server.stop, timeout=1))
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
