"""signaling.transport.headers: the handshake's header parser against http.client's.

On well-formed blocks it must read exactly what `http.client.parse_headers` (which it
replaces in the daemon) reads; on the lines RFC 9112 says a server must reject it refuses
instead of guessing. Its answers on a real daemon: tests/signaling/test_hostile_clients.py.
"""

from __future__ import annotations

import http.client
import io
import random
import string
from contextlib import nullcontext

import pytest
from gevent.pywsgi import headers_factory

from signaling.transport.headers import MAX_HEADERS, MAX_LINE, MalformedHeader, parse_headers

TOKEN_CHARS = "!#$%&'*+-.^_`|~" + string.ascii_letters + string.digits
VALUE_CHARS = "".join(chr(c) for c in range(0x20, 0x7F)) + "\t" + "éü\xa0\xff"


def random_block(rng: random.Random) -> bytes:
    lines = []
    for _ in range(rng.randrange(0, MAX_HEADERS)):  # 99 and the blank line: the most
        name = "".join(rng.choices(TOKEN_CHARS, k=rng.randrange(1, 20)))
        value = "".join(rng.choices(VALUE_CHARS, k=rng.randrange(0, 60)))
        space, trailing = rng.choice(["", " ", "  ", "\t"]), rng.choice(["", " ", "\t"])
        lines.append(f"{name}:{space}{value}{trailing}")
    ending = rng.choice(["\r\n", "\n"])
    return (ending.join(lines) + ending + ending).encode("iso-8859-1") if lines else b"\r\n"


@pytest.mark.parametrize("seed", range(300))
def test_well_formed_blocks_read_as_http_client_reads_them(seed):
    block = random_block(random.Random(seed))
    ours, theirs = parse_headers(io.BytesIO(block)), headers_factory(io.BytesIO(block))
    assert ours._headers == theirs._headers
    for name, _value in theirs._headers:
        assert ours.get(name.upper()) == theirs.get(name.upper())
    assert list(ours.headers) == list(theirs.headers)  # what pywsgi builds the environ from


def test_the_body_after_the_blank_line_is_left_unread():
    fp = io.BytesIO(b"Host: a\r\nContent-Length: 4\r\n\r\nbody")
    assert parse_headers(fp).get("content-length") == "4"
    assert fp.read() == b"body"


def test_a_client_gone_mid_block_leaves_what_was_read():
    assert parse_headers(io.BytesIO(b"Host: a\r\nUpgrade: web"))._headers == [
        ("Host", "a"),
        ("Upgrade", "web"),
    ]


def test_http_clients_limits_hold():
    with pytest.raises(http.client.LineTooLong):
        parse_headers(io.BytesIO(b"X: " + b"y" * MAX_LINE + b"\r\n\r\n"))
    parse_headers(io.BytesIO(b"X: " + b"y" * (MAX_LINE - 5) + b"\r\n\r\n"))  # just fits
    for count in (MAX_HEADERS - 1, MAX_HEADERS):  # http.client counts the blank line too
        block = b"".join(b"X-%d: y\r\n" % i for i in range(count)) + b"\r\n"
        with pytest.raises(http.client.HTTPException) if count == MAX_HEADERS else nullcontext():
            assert len(parse_headers(io.BytesIO(block))._headers) == count
        with pytest.raises(http.client.HTTPException) if count == MAX_HEADERS else nullcontext():
            headers_factory(io.BytesIO(block))


@pytest.mark.parametrize(
    "line",
    [
        b"Host : a",  # whitespace before the colon (RFC 9112 5.1: must be rejected)
        b"Host\t: a",
        b" Host: a",  # obsolete line folding, first line or not
        b"\tcontinued",
        b"no colon here",
        b": empty name",
        b"Ho(st: a",  # not a token
        b"Ho\x00st: a",
        b"H\xe9st: a",
    ],
)
def test_lines_a_server_must_reject_are_refused(line):
    with pytest.raises(MalformedHeader):
        parse_headers(io.BytesIO(b"Host: a\r\n" + line + b"\r\n\r\n"))
