"""The SQLite side of the shared SQL: its dialect and its connection."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any, TypeVar

import aiosqlite

from storage.models import OutMessage
from storage.portable import MODEL_BATCH, Db
from storage.rows import Row, outbox_buttons

T = TypeVar("T")


def value(arg: Any) -> Any:
    """Return a parameter as SQLite keeps it: times and days as ISO text."""
    if isinstance(arg, datetime | date):
        return arg.isoformat()
    return arg


def params(args: tuple[Any, ...]) -> tuple[Any, ...]:
    """Return parameters as SQLite keeps them."""
    return tuple(value(a) for a in args)


class SqliteDb:
    """A unit of work's aiosqlite connection, with the methods every backend's Db has."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn

    async def execute(self, sql: str, *args: Any) -> int:
        """Run a statement; return how many rows it touched."""
        cursor = await self._conn.execute(sql, params(args))
        return int(cursor.rowcount)

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        """Run a query (or a statement with RETURNING); return its rows."""
        return list(await self._conn.execute_fetchall(sql, params(args)))

    async def fetchrow(self, sql: str, *args: Any) -> Row | None:
        """Return a query's first row, or None."""
        rows = await self.fetch(sql, *args)
        return rows[0] if rows else None

    async def fetchval(self, sql: str, *args: Any) -> Any:
        """Return the first column of a query's first row, or None."""
        rows = await self._conn.execute_fetchall(sql, params(args))
        for row in rows:
            return row[0]
        return None

    async def models(self, convert: Callable[[Row], T], sql: str, *args: Any) -> list[T]:
        """Return a query's rows as models, converted MODEL_BATCH rows at a time."""
        out: list[T] = []
        async with self._conn.execute(sql, params(args)) as cursor:
            while rows := await cursor.fetchmany(MODEL_BATCH):
                out.extend(map(convert, rows))
        return out


class SqliteDialect:
    """How SQLite differs: ISO text for times, no row locks, one insert per message."""

    name = "sqlite"
    # BEGIN IMMEDIATE takes the single writer lock at the start of every unit of work.
    for_update = ""
    skip_locked = ""

    def time(self, expr: str) -> str:
        """Compare ISO texts as instants: offsets and fractions of seconds vary."""
        return f"julianday({expr})"

    def json(self, expr: str) -> str:
        """Keep JSON as the text it is."""
        return expr

    def day_text(self, expr: str) -> str:
        """Days are kept as ISO text already."""
        return expr

    # json_each: one parameter however many ids (a retention purge clears hundreds).
    id_list = "SELECT value FROM json_each(?)"

    def id_values(self, ids: list[int]) -> Any:
        """Pass ids as one JSON array."""
        return json.dumps(ids)

    async def insert_outbox(
        self, db: Db, source: str, messages: list[OutMessage], now: datetime
    ) -> int:
        """Queue messages under a source, one statement each; return how many were new."""
        added = 0
        for m in messages:
            added += await db.execute(
                "INSERT INTO outbox (source, chat_id, participant_id, text, buttons_json,"
                " media_kind, media_file_id, created_at, not_before)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (source, chat_id) DO NOTHING",
                source,
                m.chat_id,
                m.participant_id,
                m.text,
                outbox_buttons(m),
                m.media_kind,
                m.media_file_id,
                now,
                m.not_before.astimezone(UTC) if m.not_before is not None else None,
            )
        return added
