"""The pieces that let one SQL text serve every backend."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

from storage.erasure import ANONYMIZE_SQL, FORGET_SQL, positional
from storage.portable import marks, numbered
from storage.postgres_db import PostgresDialect
from storage.sqlite_db import SqliteDialect, params


def test_placeholders_are_numbered_outside_quotes() -> None:
    assert numbered("SELECT ? WHERE a = ? AND b = '?'") == "SELECT $1 WHERE a = $2 AND b = '?'"
    # A doubled quote inside a literal keeps it one literal.
    assert numbered("SELECT 'it''s ?', ?") == "SELECT 'it''s ?', $1"
    assert numbered("SELECT ?::timestamptz IS NULL") == "SELECT $1::timestamptz IS NULL"
    assert numbered("SELECT 1") == "SELECT 1"


def test_in_lists_have_one_mark_per_value() -> None:
    assert marks(3) == "?, ?, ?"
    assert marks(1) == "?"


def test_named_parameters_become_marks_in_order_and_casts_stay() -> None:
    sql, names = positional("UPDATE t SET a = :now WHERE b IN (:ids) AND c = :now::text")
    assert sql == "UPDATE t SET a = ? WHERE b IN (?) AND c = ?::text"
    assert names == ("now", "ids", "now")


def test_every_erasure_statement_takes_only_known_parameters() -> None:
    for dialect in (SqliteDialect(), PostgresDialect()):
        for sql in ANONYMIZE_SQL:
            _, names = positional(sql.format(ids=dialect.id_list))
            assert set(names) <= {"ids", "now"}, sql
    for sql in FORGET_SQL:
        assert set(positional(sql)[1]) == {"tid"}, sql


def test_sqlite_keeps_times_and_days_as_iso_text() -> None:
    la_paz = timezone(timedelta(hours=-4))
    when = datetime(2026, 3, 1, 9, 30, tzinfo=la_paz)
    assert params((when, date(2026, 3, 1), 7, None, "x")) == (
        "2026-03-01T09:30:00-04:00",
        "2026-03-01",
        7,
        None,
        "x",
    )
    assert params((datetime(2026, 3, 1, tzinfo=UTC),)) == ("2026-03-01T00:00:00+00:00",)


def test_each_dialect_compares_times_its_own_way() -> None:
    assert SqliteDialect().time("due_at") == "julianday(due_at)"
    assert SqliteDialect().time("?") == "julianday(?)"
    assert PostgresDialect().time("due_at") == "due_at"
    assert PostgresDialect().time("?") == "?::timestamptz"
