"""The load tool's keep-alive HTTP client against a small real server on loopback."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from signaling.bench.http_pool import HttpPool
from signaling.client.api import ApiError


class Server:
    """Answers each request with its number and path; closes a connection after
    `requests_per_connection` answers, as a server whose keep-alive ran out does."""

    def __init__(self, requests_per_connection: int) -> None:
        self.per_connection = requests_per_connection
        self.connections = 0
        self.requests: list[tuple[bytes, bytes]] = []  # (request head, body)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        for _ in range(self.per_connection):
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError:
                break
            length = next(
                int(line.split(b":")[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            )
            body = await reader.readexactly(length)
            self.requests.append((head, body))
            status = b"404 NOT FOUND" if b" /missing " in head else b"200 OK"
            answer = orjson.dumps({"n": len(self.requests), "error": "nope", "message": "x"})
            writer.write(b"HTTP/1.1 " + status + b"\r\nContent-Type: application/json\r\n"
                         b"Content-Length: " + str(len(answer)).encode() + b"\r\n\r\n" + answer)  # fmt: skip
            await writer.drain()
        writer.close()


async def serve(server: Server) -> tuple[asyncio.Server, str]:
    listener = await asyncio.start_server(server.handle, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    return listener, f"http://127.0.0.1:{port}"


def test_requests_reuse_one_connection_and_carry_body_and_token():
    async def main():
        server = Server(requests_per_connection=100)
        listener, url = await serve(server)
        pool = HttpPool(url, size=1)
        answers = [
            await pool.call("POST", "/call/start", {"callee": "bob"}, "ccs_t") for _ in range(3)
        ]
        await pool.close()
        listener.close()
        return server, answers

    server, answers = asyncio.run(main())
    assert [a["n"] for a in answers] == [1, 2, 3]
    assert server.connections == 1
    head, body = server.requests[0]
    assert head.startswith(b"POST /call/start HTTP/1.1\r\n")
    assert b"Authorization: Bearer ccs_t\r\n" in head
    assert orjson.loads(body) == {"callee": "bob"}


def test_a_kept_connection_the_server_closed_is_replaced_and_the_request_sent_once():
    async def main():
        server = Server(requests_per_connection=1)
        listener, url = await serve(server)
        pool = HttpPool(url, size=1)
        first = await pool.call("GET", "/a")
        await asyncio.sleep(0.05)  # the server has closed the kept connection by now
        second = await pool.call("GET", "/b")
        await pool.close()
        listener.close()
        return server, first, second

    server, first, second = asyncio.run(main())
    assert (first["n"], second["n"]) == (1, 2)
    assert server.connections == 2
    assert [head.split(b" ")[1] for head, _ in server.requests] == [b"/a", b"/b"]


def test_an_error_status_raises_with_the_api_error_code():
    async def main():
        listener, url = await serve(Server(requests_per_connection=10))
        pool = HttpPool(url)
        try:
            with pytest.raises(ApiError) as raised:
                await pool.call("GET", "/missing")
            status, *_ = await pool.request("GET", "/missing")
        finally:
            await pool.close()
            listener.close()
        return raised.value, status

    error, status = asyncio.run(main())
    assert (error.status, error.code, status) == (404, "nope", 404)


def test_only_plain_http_urls_are_accepted():
    with pytest.raises(ValueError, match="plain http"):
        HttpPool("https://example.test")
