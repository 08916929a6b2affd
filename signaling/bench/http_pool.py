"""A small asyncio HTTP/1.1 client with keep-alive connections, for the load tool's API calls.

Browsers and app clients keep their connection to the API open between requests; the
tool does the same, so that `setup` measures call starts rather than TCP handshakes, and
so that its own HTTP costs neither a thread per request nor urllib's layers (the tool
shares the machine with the servers it measures).

JSON bodies only, `Content-Length` framing only (what the ChimeCast API answers), no TLS
(run the tool next to the servers, or through nginx on plain HTTP). A request on a kept
connection that the server closed while idle is sent again once on a new connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any
from urllib.parse import urlsplit

import orjson

from signaling.client.api import ApiError


class _Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    def close(self) -> None:
        self.writer.close()


class HttpPool:
    """At most `size` requests in flight to `base_url`, each on a kept-alive connection."""

    def __init__(self, base_url: str, size: int = 32, timeout: float = 60) -> None:
        parts = urlsplit(base_url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"the load tool speaks plain http:// to the API, not {base_url!r}")
        self.host, self.port = parts.hostname, parts.port or 80
        self.prefix = parts.path.rstrip("/")
        self.timeout = timeout
        self._idle: list[_Connection] = []
        self._slots = asyncio.Semaphore(size)
        self._host_header = parts.netloc.encode()

    async def request(self, method: str, path: str, body: dict | None = None,
                      token: str | None = None) -> tuple[int, Any, int, int]:  # fmt: skip
        """(status, decoded JSON or None, perf_counter_ns sent, ns answered).

        The times are taken around the exchange itself: waiting for a free slot is not
        counted, as a client with its own connection would not wait for one.
        """
        payload = orjson.dumps(body) if body is not None else b""
        head = [f"{method} {self.prefix}{path} HTTP/1.1".encode(), b"Host: " + self._host_header,
                b"Content-Length: " + str(len(payload)).encode()]  # fmt: skip
        if body is not None:
            head.append(b"Content-Type: application/json")
        if token:
            head.append(b"Authorization: Bearer " + token.encode())
        message = b"\r\n".join(head) + b"\r\n\r\n" + payload
        async with self._slots, asyncio.timeout(self.timeout):  # no task per request
            return await self._exchange(message)

    async def call(self, method: str, path: str, body: dict | None = None,
                   token: str | None = None) -> Any:  # fmt: skip
        """Like `request`, but only the JSON, and ApiError unless the answer is 2xx."""
        status, answer, _, _ = await self.request(method, path, body, token)
        if not 200 <= status < 300:
            raise ApiError(status, answer)
        return answer

    async def _exchange(self, message: bytes) -> tuple[int, Any, int, int]:
        reused = bool(self._idle)
        conn = self._idle.pop() if reused else await self._open()
        sent = time.perf_counter_ns()
        try:
            conn.writer.write(message)
            status, answer, keep = await self._read_response(conn.reader)
        except (ConnectionError, asyncio.IncompleteReadError):
            conn.close()
            if not reused:
                raise
            # The server closed this idle connection (its keep-alive ran out): once more,
            # on a new one. Nothing was answered, so nothing was done.
            conn = await self._open()
            sent = time.perf_counter_ns()
            conn.writer.write(message)
            status, answer, keep = await self._read_response(conn.reader)
        answered = time.perf_counter_ns()
        if keep:
            self._idle.append(conn)
        else:
            conn.close()
        return status, answer, sent, answered

    async def _open(self) -> _Connection:
        reader, writer = await asyncio.open_connection(self.host, self.port)
        return _Connection(reader, writer)

    @staticmethod
    async def _read_response(reader: asyncio.StreamReader) -> tuple[int, Any, bool]:
        head = await reader.readuntil(b"\r\n\r\n")
        status_line, *header_lines = head[:-4].split(b"\r\n")
        status = int(status_line.split(b" ", 2)[1])
        length, keep = 0, status_line.startswith(b"HTTP/1.1")
        for line in header_lines:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"connection":
                keep = value.strip().lower() == b"keep-alive" or (
                    keep and value.strip().lower() != b"close"
                )
            elif name == b"transfer-encoding":
                raise ValueError("chunked answers are not supported by the load tool")
        raw = await reader.readexactly(length) if length else b""
        return status, orjson.loads(raw) if raw else None, keep

    async def close(self) -> None:
        """Close every idle connection."""
        idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()
        for conn in idle:
            with contextlib.suppress(Exception):
                await conn.writer.wait_closed()
