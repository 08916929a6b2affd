"""UTCDateTime: aware datetimes in, aware UTC datetimes out, on SQLite too."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, create_engine, insert, select
from sqlalchemy.exc import StatementError

from app.models import UTCDateTime


@pytest.fixture
def table_and_engine(tmp_path):
    metadata = MetaData()
    table = Table("t", metadata, Column("id", Integer, primary_key=True), Column("at", UTCDateTime))
    engine = create_engine(f"sqlite:///{tmp_path / 'dt.db'}")
    metadata.create_all(engine)
    yield table, engine
    engine.dispose()


@pytest.mark.parametrize(
    "value",
    [
        datetime(2026, 11, 25, 21, 0, 0, 123456, tzinfo=UTC),
        datetime(2026, 3, 29, 2, 30, tzinfo=timezone(timedelta(hours=2))),
        datetime(1999, 12, 31, 23, 59, 59, tzinfo=timezone(timedelta(hours=-8))),
    ],
)
def test_aware_datetime_round_trips_as_the_same_instant_in_utc(table_and_engine, value):
    table, engine = table_and_engine
    with engine.begin() as connection:
        connection.execute(insert(table).values(at=value))
        back = connection.execute(select(table.c.at)).scalar_one()
    assert back == value
    assert back.tzinfo is not None and back.utcoffset() == timedelta(0)


def test_none_round_trips(table_and_engine):
    table, engine = table_and_engine
    with engine.begin() as connection:
        connection.execute(insert(table).values(at=None))
        assert connection.execute(select(table.c.at)).scalar_one() is None


def test_naive_datetime_is_refused(table_and_engine):
    table, engine = table_and_engine
    with pytest.raises(StatementError, match="naive datetime"), engine.begin() as connection:
        connection.execute(insert(table).values(at=datetime(2026, 1, 1)))
