"""Username rules: 3-32 characters of [a-z0-9_.-], case-insensitive, stored lower-case."""

from __future__ import annotations

import pytest

from app.errors import ApiError
from app.users.service import normalize_username


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ("abc", "abc"),
        ("Alice", "alice"),
        ("  bob  ", "bob"),
        ("a.b-c_d", "a.b-c_d"),
        ("user123", "user123"),
        ("x" * 32, "x" * 32),
        ("MiXeD.Case_99", "mixed.case_99"),
    ],
)
def test_valid_usernames_are_lower_cased(raw, stored):
    assert normalize_username(raw) == stored


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "ab",  # too short
        "x" * 33,  # too long
        "has space",
        "semi;colon",
        "émile",  # non-ASCII letters are not allowed
        "a/b",
        "a@b",
        "tab\there",
        "new\nline",
        "<script>",
    ],
)
def test_invalid_usernames_are_rejected(raw):
    with pytest.raises(ApiError) as caught:
        normalize_username(raw)
    assert caught.value.status == 400
    assert caught.value.code == "invalid_username"
    assert "3-32 characters" in caught.value.message
