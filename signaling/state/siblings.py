"""Links between the workers of one `--workers N` daemon: deliveries without Redis.

The parent (signaling.workers) creates one inbox per worker before it forks: a Unix
datagram socketpair whose read end only worker n reads, and whose write end every worker
holds. A worker's hub (signaling.state.redis_hub) hands a delivery for a sibling's
connection to `Siblings.send()` instead of publishing it on Redis; Redis stays the bus
between separate daemons and carries the registry that says who holds which connection.

Contract:
- A record is the target and the message's JSON, encoded once by the sender; the records
  one worker sends to one sibling during a turn of the event loop go out as one datagram
  (one system call for the sender, one for the receiver).
- Order: a worker's records to one sibling arrive in the order they were sent (one
  datagram queue, and a backlog that, once it exists, everything later joins).
- Never blocking: a datagram the inbox cannot take now waits in a bounded backlog for a
  writer greenlet; past `BACKLOG_BYTES` (the sibling is stopped or wedged) records are
  dropped and counted, as Redis pub/sub drops what nobody reads. A killed sibling's inbox
  stays open in the parent, so writes never fail; the registry stops routing to it when it
  goes silent, and a restarted worker ignores every record sent before it started
  (CLOCK_MONOTONIC is one clock for the whole machine).
"""

from __future__ import annotations

import logging
import struct
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import gevent
import orjson
from gevent import socket  # explicitly gevent's: the reader waits in the event loop
from gevent.socket import wait_write

from app import logs
from signaling.state.hub import Target

log = logging.getLogger(__name__)

# sent at (monotonic s), user, session, except session, close code (0 = None), JSON length
RECORD = struct.Struct("<dqqqiI")
BATCH_BYTES = 64 * 1024  # a datagram holds at most about this much (or one larger record)
BACKLOG_BYTES = 8 * 1024 * 1024  # per sibling, before records are dropped
BUFFER_BYTES = 4 * 1024 * 1024  # SO_SNDBUF / SO_RCVBUF asked for (the kernel may cap it)
RECV_BYTES = 1024 * 1024  # larger than any datagram a sibling sends


class Inboxes:
    """The parent's socketpairs, one per worker: (read end, write end) each."""

    def __init__(self, workers: int) -> None:
        self.pairs = [socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM) for _ in range(workers)]
        for read_end, write_end in self.pairs:
            for sock, option in ((read_end, socket.SO_RCVBUF), (write_end, socket.SO_SNDBUF)):
                try:
                    sock.setsockopt(socket.SOL_SOCKET, option, BUFFER_BYTES)
                except OSError:  # the kernel's default then; the backlog absorbs the rest
                    pass

    def keep(self, index: int) -> tuple[socket.socket, dict[int, socket.socket]]:
        """In worker `index` after the fork: its read end and the siblings' write ends; the
        others are closed in this process (the parent keeps them all for restarts)."""
        outs: dict[int, socket.socket] = {}
        for n, (read_end, write_end) in enumerate(self.pairs):
            if n != index:
                read_end.close()
                outs[n] = write_end
            else:
                write_end.close()
        return self.pairs[index][0], outs


class Link:
    """The sending side towards one sibling: a turn's batch, then a bounded backlog."""

    __slots__ = (
        "sock",
        "_batch",
        "_size",
        "_backlog",
        "_backlog_bytes",
        "_writer",
        "_warned",
        "dropped",
    )

    def __init__(self, sock: socket.socket) -> None:
        sock.setblocking(False)  # gevent's socket then raises instead of waiting
        self.sock = sock
        self._batch: list[bytes] = []
        self._size = 0
        self._backlog: deque[bytes] = deque()
        self._backlog_bytes = 0
        self._writer: gevent.Greenlet | None = None
        self._warned = False
        self.dropped = 0

    def add(self, record: bytes) -> bool:
        """Queue a record for this turn; True if it is the turn's first (flush scheduled)."""
        if self._size and self._size + len(record) > BATCH_BYTES:
            self._enqueue(b"".join(self._batch))
            self._batch, self._size = [], 0
        first = not self._batch and not self._size
        self._batch.append(record)
        self._size += len(record)
        return first

    def flush(self) -> None:
        """End of the turn: the batch as one datagram, now or through the writer."""
        if self._batch:
            data = self._batch[0] if len(self._batch) == 1 else b"".join(self._batch)
            self._batch, self._size = [], 0
            self._enqueue(data)

    def _enqueue(self, data: bytes) -> None:
        if self._writer is None and not self._backlog:
            try:
                self.sock.send(data)
                return
            except BlockingIOError:
                pass
            except OSError:
                self._drop()
                return
        if self._backlog_bytes + len(data) > BACKLOG_BYTES:
            self._drop()
            return
        self._backlog.append(data)
        self._backlog_bytes += len(data)
        if self._writer is None:
            self._writer = gevent.spawn(self._drain)

    def _drop(self) -> None:
        """Count a datagram lost; log the first of each run of losses (not one per message)."""
        self.dropped += 1
        if not self._warned:
            self._warned = True
            logs.event(log, "siblings.dropping", logging.WARNING, backlog=self._backlog_bytes)

    def _drain(self) -> None:
        """The writer greenlet: waits for room in the sibling's inbox, sends in order."""
        try:
            while self._backlog:
                try:
                    self.sock.send(self._backlog[0])
                except BlockingIOError:
                    wait_write(self.sock.fileno())
                    continue
                except OSError:
                    self._drop()
                self._backlog_bytes -= len(self._backlog.popleft())
        finally:
            self._writer = None
            self._warned = False


class Siblings:
    """One worker's links to its siblings, by node id, and its inbox's reader."""

    def __init__(
        self,
        inbox: socket.socket,
        outs: dict[int, socket.socket],
        node_of: Callable[[int], str],
    ) -> None:
        self.inbox = inbox
        self.links = {node_of(n): Link(sock) for n, sock in outs.items()}
        self.started = time.monotonic()
        self._pending: list[Link] = []
        self._reader: gevent.Greenlet | None = None

    def __contains__(self, node: object) -> bool:
        return node in self.links

    @property
    def dropped(self) -> int:
        return sum(link.dropped for link in self.links.values())

    # -- sending ----------------------------------------------------------------------------
    def send(self, nodes: list[str], target: Target, message: dict[str, Any]) -> None:
        """Queue `message` for `target` on each sibling of `nodes` (all must be siblings)."""
        data = orjson.dumps(message)
        user_id, session_id, except_session_id, close_code = target
        record = (
            RECORD.pack(
                time.monotonic(),
                user_id or 0,
                session_id or 0,
                except_session_id or 0,
                close_code or 0,
                len(data),
            )
            + data
        )
        for node in nodes:
            link = self.links[node]
            if link.add(record):
                if not self._pending:
                    gevent.get_hub().loop.run_callback(self._flush)
                self._pending.append(link)

    def _flush(self) -> None:
        pending, self._pending = self._pending, []
        for link in pending:
            link.flush()

    # -- receiving --------------------------------------------------------------------------
    def start(self, deliver: Callable[[Target, dict[str, Any]], int]) -> None:
        """Read the inbox in a greenlet, handing each record to `deliver`."""
        self._reader = gevent.spawn(self._read, deliver)

    def stop(self) -> None:
        if self._reader is not None:
            self._reader.kill(block=False)

    def _read(self, deliver: Callable[[Target, dict[str, Any]], int]) -> None:
        buffer = bytearray(RECV_BYTES)
        view = memoryview(buffer)
        while True:
            size = self.inbox.recv_into(buffer)
            try:
                self._deliver_all(view[:size], deliver)
            except Exception:  # a bad datagram must not end the reader
                logs.event(log, "siblings.bad_record", logging.ERROR, True)
            gevent.sleep(0)  # a sibling that always has more must not starve our clients

    def _deliver_all(self, data: memoryview, deliver: Callable[..., int]) -> None:
        offset, end, started, unpack, size = (
            0,
            len(data),
            self.started,
            RECORD.unpack_from,
            RECORD.size,
        )
        while offset < end:
            sent_at, user_id, session_id, except_id, close_code, length = unpack(data, offset)
            offset += size
            body = data[offset : offset + length]
            offset += length
            if sent_at < started:
                continue  # sent to this worker's previous run
            target = Target(
                user_id or None, session_id or None, except_id or None, close_code or None
            )
            deliver(target, orjson.loads(body))
