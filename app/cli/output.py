"""Shared plumbing for the admin commands: tables, JSON, errors, password input."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import click
from flask.cli import AppGroup
from sqlalchemy.exc import OperationalError

from app.errors import ApiError
from app.extensions import db


class AdminGroup(AppGroup):
    """A command group whose database failures end in a one-line error, not a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except OperationalError as exc:
            raise click.ClickException(
                f"Database error: {exc.orig}. Is it reachable and migrated ('flask db upgrade')?"
            ) from exc


json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON (for scripts).")


def when(value: datetime | None) -> str:
    """A timestamp for a table cell: UTC to the second, '-' when missing."""
    return value.strftime("%Y-%m-%d %H:%M:%S") if value is not None else "-"


def table(rows: Sequence[dict[str, Any]], columns: Sequence[tuple[str, str]]) -> str:
    """Rows as a left-aligned text table; `columns` is (key, heading) pairs."""
    cells = [[heading.upper() for _key, heading in columns]]
    cells += [["-" if row[key] is None else str(row[key]) for key, _ in columns] for row in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(columns))]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip()
        for line in cells
    ]
    return "\n".join(lines)


def emit_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=str))


def emit(
    rows: Sequence[dict[str, Any]],
    columns: Sequence[tuple[str, str]],
    as_json: bool,
    empty: str,
    to_json: Callable[[dict[str, Any]], Any] | None = None,
) -> None:
    """Print `rows` as JSON (a list) or as a table, or `empty` when there are none."""
    if as_json:
        emit_json([to_json(row) if to_json else row for row in rows])
    elif rows:
        click.echo(table(rows, columns))
    else:
        click.echo(empty)


def fields(pairs: Sequence[tuple[str, Any]]) -> str:
    """`label: value` lines with the values aligned (for `show` commands)."""
    width = max(len(label) for label, _ in pairs) + 1
    return "\n".join(f"{label + ':':<{width}} {'-' if v is None else v}" for label, v in pairs)


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn the services' ApiError into a ClickException (non-zero exit), rolling back."""
    try:
        yield
    except ApiError as exc:
        db.session.rollback()
        raise click.ClickException(exc.message) from exc


def read_password(from_stdin: bool) -> str:
    """The new password: the first line of stdin, or an interactive hidden prompt."""
    if from_stdin:
        line = sys.stdin.readline()
        password = line[:-1] if line.endswith("\n") else line
        password = password[:-1] if password.endswith("\r") else password
        if not password:
            raise click.ClickException("No password on standard input.")
        return password
    return click.prompt("Password", hide_input=True, confirmation_prompt=True)


password_stdin_option = click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the password from the first line of standard input instead of prompting.",
)
