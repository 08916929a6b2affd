"""PROTOCOL.md and the code cannot drift apart: every example is parsed or shape-checked."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from signaling.errors import CloseCode
from signaling.protocol import CLIENT_SCHEMAS, SERVER_SHAPES, check_server_message, parse

DOC = Path(__file__).resolve().parents[2] / "signaling" / "PROTOCOL.md"
EXAMPLE = re.compile(r"^### (\w+) \((client|server)\)\n+```json\n(.*?)\n```", re.M | re.S)


def examples() -> list[tuple[str, str, str]]:
    return EXAMPLE.findall(DOC.read_text())


def test_the_document_has_one_example_per_message_type():
    found = [(kind, side) for kind, side, _ in examples()]
    assert len(found) == len(set(found)), "a message type has two examples"
    assert {kind for kind, side in found if side == "client"} == set(CLIENT_SCHEMAS)
    assert {kind for kind, side in found if side == "server"} == set(SERVER_SHAPES)


@pytest.mark.parametrize(("kind", "side", "text"), examples(), ids=lambda v: str(v)[:20])
def test_example_is_accepted_by_the_code(kind, side, text):
    raw = json.loads(text)
    assert raw["type"] == kind
    if side == "client":
        assert parse(text).type == kind
    else:
        assert check_server_message(raw) == []


def test_every_close_code_is_documented():
    table = DOC.read_text().split("## Closing", 1)[1]
    documented = {int(code) for code in re.findall(r"^\| (\d{4}) \|", table, re.M)}
    assert documented == {int(code) for code in CloseCode}


def test_every_error_code_is_documented():
    from signaling import errors

    codes = {v for k, v in vars(errors).items() if k.isupper() and isinstance(v, str)}
    table = DOC.read_text().split("## Errors", 1)[1].split("## Closing", 1)[0]
    assert codes <= set(re.findall(r"`(\w+)`", table))
