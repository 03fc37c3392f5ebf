"""PostgreSQL backend of the Store, on asyncpg and its connection pool."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import asyncpg

from storage.comm import CommunicationMixin
from storage.coord import CoordinationMixin
from storage.interface import StorageError
from storage.migrate import migrations
from storage.models import (
    AnswerValue,
    DialogState,
    RunState,
)
from storage.people import PeopleMixin
from storage.plans import PlanMixin
from storage.portable import Db, Dialect, numbered
from storage.postgres_db import Conn, PostgresDb, PostgresDialect
from storage.rows import Row, from_json
from storage.rows import dialog as _dialog
from storage.rows import participant as _participant
from storage.rows import response as _response
from storage.rows import workshop as _workshop

log = logging.getLogger(__name__)

# Any fixed number will do: every instance takes the same lock before migrating, so only
# one applies migrations while the others wait and then find them applied.
MIGRATION_LOCK_KEY = 0x7A11E4B07


def describe(database_url: str) -> str:
    """Return host, port and database of a URL, without user or password, for messages."""
    parts = urlsplit(database_url)
    return f"{parts.hostname or 'localhost'}:{parts.port or 5432}{parts.path or '/'}"


class PostgresStore(PeopleMixin, PlanMixin, CommunicationMixin, CoordinationMixin):
    """The Store on a PostgreSQL database; one transaction per method."""

    def __init__(self, pool: asyncpg.Pool[asyncpg.Record]) -> None:
        self._pool = pool
        self._dialect: Dialect = PostgresDialect()

    @classmethod
    async def open(
        cls,
        database_url: str,
        *,
        pool_size: int = 10,
        server_settings: dict[str, str] | None = None,
    ) -> PostgresStore:
        """Connect a pool of `pool_size` connections and apply pending migrations."""
        where = describe(database_url)
        try:
            pool = await asyncpg.create_pool(
                database_url,
                min_size=1,
                max_size=pool_size,
                server_settings=server_settings,
            )
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            raise StorageError(f"cannot connect to PostgreSQL at {where}: {exc}") from exc
        store = cls(pool)
        try:
            await store._migrate()
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            await pool.close()
            raise StorageError(f"cannot prepare PostgreSQL database {where}: {exc}") from exc
        return store

    async def _migrate(self) -> None:
        async with self._tx() as db:
            # Held until this transaction ends: instances starting together migrate in turn,
            # and each checks what is applied only once it holds the lock.
            await db.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK_KEY)
            await db.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY,"
                " name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL)"
            )
            applied = {
                r["version"] for r in await db.fetch("SELECT version FROM schema_migrations")
            }
            for number, name, sql in migrations("migrations_pg"):
                if number in applied:
                    continue
                log.info("applying migration %s", name)
                await db.execute(sql)
                await db.execute(
                    "INSERT INTO schema_migrations (version, name, applied_at)"
                    " VALUES ($1, $2, now())",
                    number,
                    name,
                )

    async def schema_version(self) -> int:
        """Return the number of the latest applied migration."""
        version = await self._pool.fetchval("SELECT MAX(version) FROM schema_migrations")
        return int(version) if version is not None else 0

    async def close(self) -> None:
        """Close every connection of the pool."""
        await self._pool.close()

    @asynccontextmanager
    async def _tx(self) -> AsyncIterator[Conn]:
        """Run a unit of work in one transaction, rolled back on error."""
        async with self._pool.acquire() as db, db.transaction():
            yield db

    @asynccontextmanager
    async def _snapshot(self) -> AsyncIterator[Conn]:
        """Read several tables as one consistent snapshot."""
        async with (
            self._pool.acquire() as db,
            db.transaction(isolation="repeatable_read", readonly=True),
        ):
            yield db

    async def _one(self, sql: str, *args: Any) -> asyncpg.Record | None:
        return await self._pool.fetchrow(sql, *args)

    @asynccontextmanager
    async def _reading(self) -> AsyncIterator[Db]:
        """Read several tables of shared SQL as one consistent snapshot."""
        async with self._snapshot() as db:
            yield PostgresDb(db)

    @asynccontextmanager
    async def _work(self) -> AsyncIterator[Db]:
        """Run a unit of work of shared SQL in one transaction, rolled back on error."""
        async with self._tx() as db:
            yield PostgresDb(db)

    async def _rows(self, sql: str, *args: Any) -> list[Row]:
        return list(await self._pool.fetch(numbered(sql), *args))

    async def _row(self, sql: str, *args: Any) -> Row | None:
        return await self._pool.fetchrow(numbered(sql), *args)

    async def _all(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        return await self._pool.fetch(sql, *args)

    # What every answer touches, written for this backend (the rest: storage/people.py)

    async def set_dialog(
        self, telegram_id: int, state: DialogState, data: dict[str, Any], now: datetime
    ) -> None:
        """Store what the bot waits for from this user."""
        async with self._tx() as db:
            await db.execute(
                "INSERT INTO dialogs (telegram_id, state, data_json, updated_at)"
                " VALUES ($1, $2, $3, $4) ON CONFLICT (telegram_id) DO UPDATE SET"
                " state = EXCLUDED.state, data_json = EXCLUDED.data_json,"
                " updated_at = EXCLUDED.updated_at",
                telegram_id,
                state.value,
                json.dumps(data),
                now,
            )

    async def clear_dialog(self, telegram_id: int) -> None:
        """Forget the pending dialog of this user."""
        async with self._tx() as db:
            await db.execute("DELETE FROM dialogs WHERE telegram_id = $1", telegram_id)

    # Questionnaires

    async def run_state(self, response_id: int, telegram_id: int) -> RunState | None:
        """Return a response with its participant, workshop, answers and the person's dialog."""
        async with self._snapshot() as db:
            response = await db.fetchrow("SELECT * FROM responses WHERE id = $1", response_id)
            if response is None:
                return None
            participant = await db.fetchrow(
                "SELECT * FROM participants WHERE id = $1", response["participant_id"]
            )
            if participant is None:
                return None
            workshop = await db.fetchrow(
                "SELECT * FROM workshops WHERE id = $1", participant["workshop_id"]
            )
            if workshop is None:
                return None
            answers = await db.fetch(
                "SELECT question_id, value_json FROM answers WHERE response_id = $1", response_id
            )
            dialog = await db.fetchrow("SELECT * FROM dialogs WHERE telegram_id = $1", telegram_id)
        return RunState(
            response=_response(response),
            participant=_participant(participant),
            workshop=_workshop(workshop),
            answers={r["question_id"]: from_json(r["value_json"]) for r in answers},
            dialog=_dialog(telegram_id, dialog) if dialog is not None else None,
        )

    async def record_answer(
        self,
        response_id: int,
        question_id: str,
        value: AnswerValue | None,
        *,
        next_question: str | None,
        reviewing: bool,
        is_text: bool = False,
        now: datetime,
    ) -> None:
        """Store (or clear, with None) one answer and move to the next question atomically."""
        async with self._tx() as db:
            if value is None:
                await db.execute(
                    "DELETE FROM answers WHERE response_id = $1 AND question_id = $2",
                    response_id,
                    question_id,
                )
            else:
                await db.execute(
                    "INSERT INTO answers (response_id, question_id, value_json, is_text,"
                    " answered_at) VALUES ($1, $2, $3, $4, $5)"
                    " ON CONFLICT (response_id, question_id) DO UPDATE SET"
                    " value_json = EXCLUDED.value_json, is_text = EXCLUDED.is_text,"
                    " answered_at = EXCLUDED.answered_at",
                    response_id,
                    question_id,
                    json.dumps(value, ensure_ascii=False),
                    is_text,
                    now,
                )
            await db.execute(
                "UPDATE responses SET current_question = $1, reviewing = $2, updated_at = $3"
                " WHERE id = $4",
                next_question,
                reviewing,
                now,
                response_id,
            )

    # Privacy

    async def _after_erasure(self) -> None:
        """Nothing to do: PostgreSQL overwrites no log the way SQLite's WAL keeps pages."""
