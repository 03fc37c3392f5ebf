"""SQLite backend of the Store, on aiosqlite, in WAL mode."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite

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
from storage.portable import Db, Dialect
from storage.rows import Row
from storage.rows import dialog as _dialog
from storage.rows import participant as _participant
from storage.rows import response as _response
from storage.rows import workshop as _workshop
from storage.sqlite_db import SqliteDb, SqliteDialect, params

log = logging.getLogger(__name__)

T = TypeVar("T")

BUSY_TIMEOUT_MS = 5000
# A lock held by a backup or a long export can outlast busy_timeout; a unit of work is
# retried this many times before the error reaches the caller.
LOCKED_RETRIES = 5
MIN_SQLITE = (3, 35, 0)


def _transaction(
    db: sqlite3.Connection, work: Callable[[sqlite3.Connection], T], begin: str = "BEGIN IMMEDIATE"
) -> T:
    """Run `work` between `begin` and COMMIT, rolling back on any error."""
    db.execute(begin)
    try:
        result = work(db)
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
    return result


def _apply_migration(db: sqlite3.Connection, number: int, name: str, sql: str) -> None:
    """Apply one migration unless schema_migrations records it; run inside a transaction."""
    db.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
    )
    if db.execute("SELECT 1 FROM schema_migrations WHERE version = ?", (number,)).fetchone():
        return
    log.info("applying migration %s", name)
    for statement in _split_sql(sql):
        db.execute(statement)
    db.execute(
        "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
        (number, name, _ts(datetime.now().astimezone())),
    )


def sqlite_path(database_url: str) -> Path:
    """Return the file path named by a `sqlite:///` URL."""
    prefix = "sqlite:///"
    if not database_url.startswith(prefix):
        raise StorageError(f"DATABASE_URL must start with {prefix!r}: {database_url!r}")
    rest = database_url[len(prefix) :]
    if not rest:
        raise StorageError("DATABASE_URL names no file")
    return Path(rest)


def check_writable(database_url: str) -> Path:
    """Create the database folder and prove the file can be written; return its path."""
    path = sqlite_path(database_url)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Personal data: a new file is readable by its owner only (SQLite gives its -wal and
        # -shm files the same permissions). An existing file keeps the ones it has.
        with contextlib.suppress(FileExistsError):
            os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000)
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("ROLLBACK")
        finally:
            conn.close()
    except (OSError, sqlite3.Error) as exc:
        raise StorageError(f"database {path} is not writable: {exc}") from exc
    return path


def _ts(value: datetime) -> str:
    return value.isoformat()


class SqliteStore(PeopleMixin, PlanMixin, CommunicationMixin, CoordinationMixin):
    """The Store on one SQLite file; one transaction per method."""

    def __init__(self, conn: aiosqlite.Connection, path: Path) -> None:
        self._conn = conn
        self._path = path
        # One connection serves the whole bot; the lock keeps each unit of work's
        # statements together, since SQLite has a single writer anyway.
        self._lock = asyncio.Lock()
        self._dialect: Dialect = SqliteDialect()

    @classmethod
    async def open(cls, database_url: str) -> SqliteStore:
        """Open (creating if needed) the database and apply pending migrations."""
        if sqlite3.sqlite_version_info < MIN_SQLITE:
            # UPDATE ... RETURNING (the outbox claims) came with SQLite 3.35.
            wanted = ".".join(map(str, MIN_SQLITE))
            raise StorageError(
                f"SQLite {sqlite3.sqlite_version} is too old: this bot needs {wanted} or newer"
                " (Python 3.11 from python.org or a current Linux distribution has it)"
            )
        path = check_writable(database_url)
        try:
            conn = await aiosqlite.connect(path, isolation_level=None)
        except sqlite3.Error as exc:
            raise StorageError(f"cannot open database {path}: {exc}") from exc
        conn.row_factory = aiosqlite.Row
        store = cls(conn, path)
        try:
            await store._configure()
            await store._migrate()
        except sqlite3.Error as exc:
            await conn.close()
            raise StorageError(f"cannot prepare database {path}: {exc}") from exc
        return store

    @property
    def path(self) -> Path:
        """Return the database file's path."""
        return self._path

    async def _configure(self) -> None:
        # Set first: every later statement, the switch to WAL included, waits on a lock.
        await self._conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        # Another process opening the same new database may be switching it to WAL at this
        # moment; SQLite then answers "locked" at once, skipping busy_timeout (waiting could
        # deadlock), so the switch is retried. On a database already in WAL it is a no-op.
        await self._retry_locked(lambda: self._conn.execute("PRAGMA journal_mode = WAL"))
        # NORMAL in WAL mode keeps every commit across a process crash (SIGKILL);
        # only an OS crash or power loss can drop the latest commits.
        await self._conn.execute("PRAGMA synchronous = NORMAL")
        await self._conn.execute("PRAGMA foreign_keys = ON")
        # What /forget and the retention purge delete is overwritten, not left readable in
        # the file's free pages.
        await self._conn.execute("PRAGMA secure_delete = ON")

    async def _migrate(self) -> None:
        for number, name, sql in migrations():
            # Each migration runs under the write lock (BEGIN IMMEDIATE), retried while
            # another process holds it, and checks "already applied?" inside that lock:
            # two processes starting on a new database (the bot and an import) must not
            # both apply the same migration.
            await self._unit(partial(_apply_migration, number=number, name=name, sql=sql))

    async def schema_version(self) -> int:
        """Return the number of the latest applied migration."""
        async with self._conn.execute("SELECT MAX(version) FROM schema_migrations") as cur:
            row = await cur.fetchone()
        return int(row[0]) if row and row[0] is not None else 0

    async def close(self) -> None:
        """Close the connection."""
        await self._conn.close()

    @asynccontextmanager
    async def _tx(self) -> AsyncIterator[aiosqlite.Connection]:
        """Run a unit of work in one transaction, rolled back on error."""
        async with self._lock:
            await self._retry_locked(lambda: self._conn.execute("BEGIN IMMEDIATE"))
            try:
                yield self._conn
            except BaseException:
                await self._conn.execute("ROLLBACK")
                raise
            else:
                await self._commit()

    async def _commit(self) -> None:
        try:
            await self._retry_locked(lambda: self._conn.execute("COMMIT"))
        except sqlite3.OperationalError:
            await self._conn.execute("ROLLBACK")
            raise

    @staticmethod
    async def _retry_locked(attempt_once: Callable[[], Awaitable[T]]) -> T:
        """Await `attempt_once()`, again after a pause while the database is locked."""
        for attempt in range(LOCKED_RETRIES + 1):
            try:
                return await attempt_once()
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or attempt == LOCKED_RETRIES:
                    raise
                log.warning("database busy, retrying (attempt %d)", attempt + 1)
                await asyncio.sleep(0.05 * 2**attempt)
        raise AssertionError("unreachable")

    async def _on_thread(self, work: Callable[[sqlite3.Connection], T]) -> T:
        # aiosqlite has no public call for "run this function on your thread": _execute is
        # what its own helpers use. The upper bound on aiosqlite in pyproject.toml keeps
        # to releases known to have it, and tests/e2e/test_trips.py fails if it stops being
        # the one way in. One trip there and back costs about 0.25 ms of CPU, as much as
        # the SQL of an answer.
        conn = self._conn
        result: T = await conn._execute(lambda: work(conn._conn))
        return result

    async def _in_one_trip(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run several reads on the database thread in one trip, as one snapshot."""
        async with self._lock:
            return await self._on_thread(lambda db: _transaction(db, work, "BEGIN"))

    async def _unit(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run a unit of work as one transaction in one trip, retried while locked."""
        async with self._lock:
            # Rolled back as a whole when locked, so running it again is safe.
            return await self._retry_locked(
                lambda: self._on_thread(lambda db: _transaction(db, work))
            )

    @asynccontextmanager
    async def _read(self) -> AsyncIterator[aiosqlite.Connection]:
        """Read under the lock so reads never interleave with a unit of work."""
        async with self._lock:
            yield self._conn

    async def _one(self, sql: str, params: tuple[Any, ...]) -> aiosqlite.Row | None:
        # One trip to the database thread (execute, fetch and close are three otherwise).
        rows = await self._all(sql, params)
        return rows[0] if rows else None

    async def _all(self, sql: str, params: tuple[Any, ...]) -> list[aiosqlite.Row]:
        async with self._read() as db:
            return list(await db.execute_fetchall(sql, params))

    @asynccontextmanager
    async def _reading(self) -> AsyncIterator[Db]:
        """Read several tables of shared SQL as one consistent snapshot."""
        async with self._read() as db:
            yield SqliteDb(db)

    @asynccontextmanager
    async def _work(self) -> AsyncIterator[Db]:
        """Run a unit of work of shared SQL in one transaction, rolled back on error."""
        async with self._tx() as db:
            yield SqliteDb(db)

    async def _rows(self, sql: str, *args: Any) -> list[Row]:
        return list(await self._all(sql, params(args)))

    async def _row(self, sql: str, *args: Any) -> Row | None:
        return await self._one(sql, params(args))

    # What every answer touches, written for this backend (the rest: storage/people.py)

    async def set_dialog(
        self, telegram_id: int, state: DialogState, data: dict[str, Any], now: datetime
    ) -> None:
        """Store what the bot waits for from this user."""
        params = (telegram_id, state.value, json.dumps(data), _ts(now))
        await self._unit(
            lambda db: db.execute(
                "INSERT INTO dialogs (telegram_id, state, data_json, updated_at)"
                " VALUES (?, ?, ?, ?) ON CONFLICT (telegram_id) DO UPDATE SET"
                " state = excluded.state, data_json = excluded.data_json,"
                " updated_at = excluded.updated_at",
                params,
            )
        )

    async def clear_dialog(self, telegram_id: int) -> None:
        """Forget the pending dialog of this user."""
        await self._unit(
            lambda db: db.execute("DELETE FROM dialogs WHERE telegram_id = ?", (telegram_id,))
        )

    # Questionnaires

    async def run_state(self, response_id: int, telegram_id: int) -> RunState | None:
        """Return a response with its participant, workshop, answers and the person's dialog."""

        def read(db: sqlite3.Connection) -> RunState | None:
            response = db.execute("SELECT * FROM responses WHERE id = ?", (response_id,)).fetchone()
            if response is None:
                return None
            participant = db.execute(
                "SELECT * FROM participants WHERE id = ?", (response["participant_id"],)
            ).fetchone()
            if participant is None:
                return None
            workshop = db.execute(
                "SELECT * FROM workshops WHERE id = ?", (participant["workshop_id"],)
            ).fetchone()
            if workshop is None:
                return None
            answers = db.execute(
                "SELECT question_id, value_json FROM answers WHERE response_id = ?",
                (response_id,),
            ).fetchall()
            dialog = db.execute(
                "SELECT * FROM dialogs WHERE telegram_id = ?", (telegram_id,)
            ).fetchone()
            return RunState(
                response=_response(response),
                participant=_participant(participant),
                workshop=_workshop(workshop),
                answers={row["question_id"]: json.loads(row["value_json"]) for row in answers},
                dialog=_dialog(telegram_id, dialog) if dialog is not None else None,
            )

        return await self._in_one_trip(read)

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
        stamp = _ts(now)
        value_json = None if value is None else json.dumps(value, ensure_ascii=False)

        def work(db: sqlite3.Connection) -> None:
            if value_json is None:
                db.execute(
                    "DELETE FROM answers WHERE response_id = ? AND question_id = ?",
                    (response_id, question_id),
                )
            else:
                db.execute(
                    "INSERT INTO answers (response_id, question_id, value_json, is_text,"
                    " answered_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (response_id, question_id)"
                    " DO UPDATE SET value_json = excluded.value_json,"
                    " is_text = excluded.is_text, answered_at = excluded.answered_at",
                    (response_id, question_id, value_json, int(is_text), stamp),
                )
            db.execute(
                "UPDATE responses SET current_question = ?, reviewing = ?, updated_at = ?"
                " WHERE id = ?",
                (next_question, int(reviewing), stamp, response_id),
            )

        await self._unit(work)

    # Privacy

    async def _after_erasure(self) -> None:
        """Copy the write-ahead log into the file and empty it: erased data leaves it too."""
        try:
            await self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.Error as exc:
            # A reader (a backup) may hold the log; the next checkpoint empties it.
            log.info("write-ahead log not emptied after an erasure: %s", exc)


def _split_sql(script: str) -> list[str]:
    """Split a migration script into statements.

    Migrations are our own files: they keep semicolons out of literals and triggers.
    """
    lines = [line for line in script.splitlines() if not line.strip().startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]
