"""The PostgreSQL side of the shared SQL: its dialect and its connection."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeAlias, TypeVar

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from storage.portable import MODEL_BATCH, Db, numbered
from storage.rows import Row, outbox_buttons

if TYPE_CHECKING:
    from storage.models import OutMessage

    Conn: TypeAlias = PoolConnectionProxy[asyncpg.Record]
else:
    # Generic only in the stubs; the runtime class takes no parameters.
    Conn = PoolConnectionProxy

T = TypeVar("T")


def count(status: str) -> int:
    """Return how many rows a command touched, from its status ("UPDATE 3", "INSERT 0 1")."""
    return int(status.rsplit(" ", 1)[-1])


class PostgresDb:
    """A unit of work's asyncpg connection, with the methods every backend's Db has."""

    def __init__(self, conn: Conn) -> None:
        self._conn = conn

    async def execute(self, sql: str, *args: Any) -> int:
        """Run a statement; return how many rows it touched."""
        return count(await self._conn.execute(numbered(sql), *args))

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        """Run a query (or a statement with RETURNING); return its rows."""
        return list(await self._conn.fetch(numbered(sql), *args))

    async def fetchrow(self, sql: str, *args: Any) -> Row | None:
        """Return a query's first row, or None."""
        return await self._conn.fetchrow(numbered(sql), *args)

    async def fetchval(self, sql: str, *args: Any) -> Any:
        """Return the first column of a query's first row, or None."""
        return await self._conn.fetchval(numbered(sql), *args)

    async def models(self, convert: Callable[[Row], T], sql: str, *args: Any) -> list[T]:
        """Return a query's rows as models, converted MODEL_BATCH rows at a time."""
        # A cursor needs the caller's transaction: use it inside _reading() or _work().
        cursor = self._conn.cursor(numbered(sql), *args, prefetch=MODEL_BATCH)
        return [convert(row) async for row in cursor]


class PostgresDialect:
    """How PostgreSQL differs: typed times, row locks, one insert for a whole broadcast."""

    name = "postgresql"
    for_update = " FOR UPDATE"
    skip_locked = " FOR UPDATE SKIP LOCKED"

    def time(self, expr: str) -> str:
        """Compare TIMESTAMPTZ as it is; a bare parameter is typed so NULL checks work."""
        return "?::timestamptz" if expr == "?" else expr

    def json(self, expr: str) -> str:
        """Cast a JSON parameter where PostgreSQL cannot infer it (INSERT … SELECT)."""
        return f"{expr}::jsonb"

    def day_text(self, expr: str) -> str:
        """Format a DATE as ISO text."""
        return f"to_char({expr}, 'YYYY-MM-DD')"

    id_list = "SELECT unnest(CAST(? AS bigint[]))"

    def id_values(self, ids: list[int]) -> Any:
        """Pass ids as one array."""
        return list(ids)

    async def insert_outbox(
        self, db: Db, source: str, messages: list[OutMessage], now: datetime
    ) -> int:
        """Queue messages under a source in one statement; return how many were new."""
        if not messages:
            return 0
        # One statement for a whole broadcast; the ordinality keeps the queue in message order.
        return await db.execute(
            "INSERT INTO outbox (source, chat_id, participant_id, text, buttons_json, media_kind,"
            " media_file_id, created_at, not_before)"
            " SELECT ?, m.chat_id, m.participant_id, m.text, m.buttons_json, m.media_kind,"
            " m.media_file_id, ?, m.not_before FROM unnest(?::bigint[], ?::bigint[], ?::text[],"
            " ?::jsonb[], ?::text[], ?::text[], ?::timestamptz[]) WITH ORDINALITY"
            " AS m(chat_id, participant_id, text, buttons_json, media_kind, media_file_id,"
            " not_before, n)"
            " ORDER BY m.n ON CONFLICT (source, chat_id) DO NOTHING",
            source,
            now,
            [m.chat_id for m in messages],
            [m.participant_id for m in messages],
            [m.text for m in messages],
            [outbox_buttons(m) for m in messages],
            [m.media_kind for m in messages],
            [m.media_file_id for m in messages],
            [m.not_before for m in messages],
        )
