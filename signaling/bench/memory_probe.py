"""Memory of idle authenticated connections, component by component, inside a daemon.

    python -m signaling.bench.memory_probe 1000          # RSS, objects, greenlet stacks
    python -m signaling.bench.memory_probe 1000 --trace  # + tracemalloc by line (not for RSS)

Runs a `SignalingServer` in this process on a temporary SQLite database with N users, opens
N connections from a child process (plain sockets: upgrade, `hello`, wait for `welcome`),
and reports the RSS delta per connection, the Python objects that grew by at least N/2
(per connection), the greenlets' saved C stacks and frame depth, and the sizes of the
per-connection objects. chimecast-bench `capacity` gives the same RSS figure from outside;
this says what it is made of (signaling/bench/RESULTS.md, goal 3).
"""

from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import base64  # noqa: E402
import collections  # noqa: E402
import gc  # noqa: E402
import os  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from typing import Any  # noqa: E402

import gevent  # noqa: E402
import orjson  # noqa: E402


def _rss_kb() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS"):
                return int(line.split()[1])
    return 0


def _frame(text: bytes) -> bytes:
    mask = os.urandom(4)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(text))
    n = len(text)
    head = bytes([0x81, 0x80 | n]) if n < 126 else bytes([0x81, 0xFE]) + n.to_bytes(2, "big")
    return head + mask + masked


def client(port: int, tokens_path: str) -> None:
    """The child: one connection per token, past `welcome`, held until stdin closes."""
    with open(tokens_path) as handle:
        tokens = handle.read().split()
    held = []
    for token in tokens:
        sock = socket.create_connection(("127.0.0.1", port))
        key = base64.b64encode(os.urandom(16)).decode()
        sock.sendall(
            f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade"
            f"\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
        )
        data = b""
        while b"\r\n\r\n" not in data:
            data += sock.recv(4096)
        sock.sendall(_frame(orjson.dumps({"type": "hello", "token": token})))
        data = data.split(b"\r\n\r\n", 1)[1]
        while b"welcome" not in data:
            data += sock.recv(65536)
        held.append(sock)
    print("ready", flush=True)
    sys.stdin.read()


def probe(n: int, trace: bool) -> None:
    tmp = tempfile.mkdtemp(prefix="memory-probe-")
    os.environ.update({"CHIMECAST_DATABASE_URL": f"sqlite:///{tmp}/db.sqlite",
                       "CHIMECAST_ENV": "development"})  # fmt: skip
    import greenlet

    from app import create_app
    from app.auth.tokens import issue_session
    from app.extensions import db
    from app.models import User
    from signaling.server import SignalingServer
    from signaling.transport.handshake import HardenedHandler

    app = create_app()
    with app.app_context():
        db.create_all()
        users = [User(username=f"u{i}", password_hash="-") for i in range(n)]
        db.session.add_all(users)
        db.session.commit()
        tokens = [issue_session(user, "", "")[0] for user in users]
        db.session.commit()
    server = SignalingServer(app, "127.0.0.1", 0)
    server.start()
    assert server.wsgi_server is not None
    if trace:
        import tracemalloc

        tracemalloc.start(1)
    gevent.sleep(1)
    gc.collect()
    rss0 = _rss_kb()
    count0 = collections.Counter(type(o).__name__ for o in gc.get_objects())
    snap0 = tracemalloc.take_snapshot() if trace else None
    with open(f"{tmp}/tokens", "w") as handle:
        handle.write("\n".join(tokens))
    child = subprocess.Popen(
        [sys.executable, "-m", "signaling.bench.memory_probe", "--client",
         str(server.wsgi_server.server_port), f"{tmp}/tokens"],
        stdout=subprocess.PIPE, stdin=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert child.stdout is not None and child.stdin is not None
    while "ready" not in child.stdout.readline():
        pass
    gevent.sleep(2)
    gc.collect()
    rss1 = _rss_kb()
    objects = gc.get_objects()
    count1 = collections.Counter(type(o).__name__ for o in objects)
    out: dict[str, Any] = {"connections": len(server.peers),
                           "rss_kb_per_conn": round((rss1 - rss0) / n, 2)}  # fmt: skip
    grew = {k: round((v - count0[k]) / n, 2) for k, v in count1.items() if v - count0[k] >= n // 2}
    out["objects_per_conn"] = dict(sorted(grew.items(), key=lambda kv: -kv[1]))
    glets = [o for o in objects if isinstance(o, greenlet.greenlet)]
    saved = [getattr(g, "_stack_saved", 0) for g in glets]
    out["greenlets"] = len(glets)
    out["greenlet_c_stack_bytes_per_conn"] = round(sum(saved) / n)

    def depth(g: Any) -> int:
        frame, d = g.gr_frame, 0
        while frame is not None:
            d, frame = d + 1, frame.f_back
        return d

    depths = sorted(depth(g) for g in glets if g.gr_frame is not None)
    out["python_frames_per_parked_greenlet"] = depths[len(depths) // 2] if depths else 0
    peer = next(iter(server.peers))
    # A parked connection keeps no handler (signaling.transport.reader): none to measure.
    handler = next((o for o in objects if isinstance(o, HardenedHandler)), None)
    out["sizes_bytes"] = {
        "Peer": sys.getsizeof(peer), "FrameWriter": sys.getsizeof(peer._out),
        "TokenBucket": sys.getsizeof(peer._bucket), "WebSocket": sys.getsizeof(peer.ws),
        "handler+dict": sys.getsizeof(handler) + sys.getsizeof(handler.__dict__)
        if handler is not None else 0,
        "socket": sys.getsizeof(peer.ws.sock),
    }  # fmt: skip
    del objects, glets
    if trace:
        stats = tracemalloc.take_snapshot().compare_to(snap0, "lineno")
        out["tracemalloc_bytes_per_conn"] = round(sum(s.size_diff for s in stats) / n)
        out["tracemalloc_top"] = [
            (round(s.size_diff / n), str(s.traceback)) for s in stats[:20] if s.size_diff > 0
        ]
    print(orjson.dumps(out, option=orjson.OPT_INDENT_2).decode())
    child.stdin.close()
    child.wait(30)
    server.wsgi_server.stop(timeout=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("connections", type=int)
    parser.add_argument("tokens", nargs="?")
    parser.add_argument("--trace", action="store_true")
    parser.add_argument("--client", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client:
        client(args.connections, args.tokens)
    else:
        probe(args.connections, args.trace)


if __name__ == "__main__":
    main()
