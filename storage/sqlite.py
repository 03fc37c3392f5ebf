"""SQLite backend of the Store, on aiosqlite, in WAL mode."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import date, datetime
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
    Dialog,
    DialogState,
    Participant,
    Response,
    RunState,
    User,
    Workshop,
)
from storage.portable import Db
from storage.rows import PROFILE_FIELDS, USER_FIELDS, Row
from storage.rows import dialog as _dialog
from storage.rows import participant as _participant
from storage.rows import response as _response
from storage.rows import user as _user
from storage.rows import workshop as _workshop
from storage.sqlite_db import SqliteDb, SqliteDialect, params
from storage.sqlite_plans import PlanMixin

log = logging.getLogger(__name__)

T = TypeVar("T")

BUSY_TIMEOUT_MS = 5000
# A lock held by a backup or a long export can outlast busy_timeout; a unit of work is
# retried this many times before the error reaches the caller.
LOCKED_RETRIES = 5


# Erasure, in SQL that both backends run (storage/postgres.py imports these): `{ids}` stands
# for a subquery listing the participations being erased and `:name` for a parameter, which
# each backend writes its own way. In this order: a plan's owner is decided before its texts
# go. A participation's choice answers, dimension scores, institution, country and plan
# statuses stay, so that aggregates do not change.
ANONYMIZE_SQL: tuple[str, ...] = (
    # A consent to be contacted ends with the person, whoever keeps the plan.
    "UPDATE plan_members SET contact_at = NULL, contact_handle = NULL"
    " WHERE participant_id IN ({ids})",
    "DELETE FROM update_evidence WHERE update_id IN"
    " (SELECT id FROM step_updates WHERE author_id IN ({ids}))",
    "UPDATE step_updates SET note = NULL WHERE author_id IN ({ids})",
    # Responsibles name people, and a team link is the person's to share: both go from every
    # plan the person owned, whoever it passes to.
    "UPDATE plan_steps SET responsible = NULL"
    " WHERE plan_id IN (SELECT id FROM plans WHERE owner_id IN ({ids}))",
    "UPDATE plans SET team_token = NULL WHERE owner_id IN ({ids})",
    # A plan with a co-owner still here is the team's: it passes, texts and all, to the
    # earliest co-owner, who becomes its owner as create_plan records one (owner_id and an
    # 'owner' membership); the former owner's membership goes with the other ones.
    "UPDATE plans SET owner_id = COALESCE((SELECT m.participant_id FROM plan_members m"
    " JOIN participants p ON p.id = m.participant_id WHERE m.plan_id = plans.id"
    " AND m.role = 'coowner' AND p.forgotten_at IS NULL AND m.participant_id NOT IN ({ids})"
    " ORDER BY m.added_at, m.participant_id LIMIT 1), owner_id) WHERE owner_id IN ({ids})",
    "UPDATE plan_members SET role = 'owner' WHERE role = 'coowner' AND plan_id IN"
    " (SELECT plan_id FROM plan_members WHERE role = 'owner' AND participant_id IN ({ids}))"
    " AND participant_id = (SELECT owner_id FROM plans WHERE plans.id = plan_members.plan_id)",
    "DELETE FROM plan_members WHERE participant_id IN ({ids})"
    " AND participant_id <> (SELECT owner_id FROM plans WHERE plans.id = plan_members.plan_id)",
    # A plan left with nobody loses what was typed in it; its steps keep their places, due
    # dates and statuses, so the institution's progress still counts them. Title and
    # action cannot be NULL: '' is an erased text.
    "UPDATE plans SET title = '', objective = NULL WHERE owner_id IN ({ids})",
    "UPDATE plan_steps SET action = '', responsible = NULL, resources = NULL,"
    " indicator = NULL, success = NULL"
    " WHERE plan_id IN (SELECT id FROM plans WHERE owner_id IN ({ids}))",
    "DELETE FROM answers WHERE is_text AND response_id IN"
    " (SELECT id FROM responses WHERE participant_id IN ({ids}))",
    "UPDATE session_feedback SET comment = NULL WHERE participant_id IN ({ids})",
    # Sent rows too: a row keeps its recipient's Telegram id and what was said to them.
    "DELETE FROM outbox WHERE participant_id IN ({ids})",
    "UPDATE participants SET telegram_id = NULL, name = NULL, position = NULL,"
    " forgotten_at = :now WHERE id IN ({ids})",
)
# json_each: one parameter however many participations a retention purge clears.
_ANONYMIZE = tuple(sql.format(ids="SELECT value FROM json_each(:ids)") for sql in ANONYMIZE_SQL)

# What /forget erases beyond the participations, by Telegram id (`:tid`). Roles end; where
# a row must stay (an invitation stays used, a broadcast stays the workshop's), the person
# in it becomes 0, which no Telegram account has.
MIN_SQLITE = (3, 35, 0)

FORGET_SQL: tuple[str, ...] = (
    "DELETE FROM outbox WHERE chat_id = :tid",
    "DELETE FROM organizers WHERE telegram_id = :tid",
    "DELETE FROM association_viewers WHERE telegram_id = :tid",
    "DELETE FROM digests WHERE telegram_id = :tid",
    "UPDATE association_viewers SET added_by = 0 WHERE added_by = :tid",
    # used_at stays: the invitation must not become usable again.
    "UPDATE organizer_invites SET used_by = 0 WHERE used_by = :tid",
    "UPDATE organizer_invites SET created_by = 0 WHERE created_by = :tid",
    "UPDATE viewer_invites SET used_by = 0 WHERE used_by = :tid",
    "UPDATE viewer_invites SET created_by = 0 WHERE created_by = :tid",
    "UPDATE broadcasts SET created_by = 0 WHERE created_by = :tid",
    "UPDATE broadcasts SET progress_chat_id = NULL, progress_message_id = NULL"
    " WHERE progress_chat_id = :tid",
    # A private chat linked as the organizers' group is the person's chat.
    "UPDATE workshops SET organizer_chat_id = NULL WHERE organizer_chat_id = :tid",
    "DELETE FROM dialogs WHERE telegram_id = :tid",
    "DELETE FROM users WHERE telegram_id = :tid",
    # Updates received and not handled yet (several instances): their names and texts.
    "DELETE FROM inbox WHERE person = :tid",
)


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


class SqliteStore(PlanMixin, CommunicationMixin, CoordinationMixin):
    """The Store on one SQLite file; one transaction per method."""

    def __init__(self, conn: aiosqlite.Connection, path: Path) -> None:
        self._conn = conn
        self._path = path
        # One connection serves the whole bot; the lock keeps each unit of work's
        # statements together, since SQLite has a single writer anyway.
        self._lock = asyncio.Lock()
        self._dialect = SqliteDialect()

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

    def _workshop_row(self, row: aiosqlite.Row) -> Workshop:
        return _workshop(row)

    @asynccontextmanager
    async def _work(self) -> AsyncIterator[Db]:
        """Run a unit of work of shared SQL in one transaction, rolled back on error."""
        async with self._tx() as db:
            yield SqliteDb(db)

    async def _rows(self, sql: str, *args: Any) -> list[Row]:
        return list(await self._all(sql, params(args)))

    async def _row(self, sql: str, *args: Any) -> Row | None:
        return await self._one(sql, params(args))

    # Workshops

    async def upsert_workshop(
        self,
        *,
        slug: str,
        language: str,
        timezone: str,
        start_date: date,
        end_date: date,
        spec: dict[str, Any],
        join_code: str,
        now: datetime,
    ) -> tuple[Workshop, bool]:
        """Create or update a workshop by slug; return it and whether it is new."""
        spec_json = json.dumps(spec, ensure_ascii=False, sort_keys=True, default=str)
        async with self._tx() as db:
            async with db.execute("SELECT id FROM workshops WHERE slug = ?", (slug,)) as cur:
                existing = await cur.fetchone()
            if existing is None:
                await db.execute(
                    "INSERT INTO workshops (slug, join_code, language, timezone, start_date,"
                    " end_date, spec_json, created_at, updated_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        slug,
                        join_code,
                        language,
                        timezone,
                        start_date.isoformat(),
                        end_date.isoformat(),
                        spec_json,
                        _ts(now),
                        _ts(now),
                    ),
                )
            else:
                await db.execute(
                    "UPDATE workshops SET language = ?, timezone = ?, start_date = ?,"
                    " end_date = ?, spec_json = ?, join_code = ?, updated_at = ? WHERE id = ?",
                    (
                        language,
                        timezone,
                        start_date.isoformat(),
                        end_date.isoformat(),
                        spec_json,
                        join_code,
                        _ts(now),
                        existing["id"],
                    ),
                )
            async with db.execute("SELECT * FROM workshops WHERE slug = ?", (slug,)) as cur:
                row = await cur.fetchone()
        assert row is not None
        return _workshop(row), existing is None

    async def workshop(self, workshop_id: int) -> Workshop | None:
        """Return a workshop by id."""
        row = await self._one("SELECT * FROM workshops WHERE id = ?", (workshop_id,))
        return _workshop(row) if row else None

    async def workshop_by_code(self, join_code: str) -> Workshop | None:
        """Return the workshop with this join code."""
        row = await self._one("SELECT * FROM workshops WHERE join_code = ?", (join_code,))
        return _workshop(row) if row else None

    async def workshop_by_slug(self, slug: str) -> Workshop | None:
        """Return the workshop with this slug."""
        row = await self._one("SELECT * FROM workshops WHERE slug = ?", (slug,))
        return _workshop(row) if row else None

    # Users and dialogs

    async def user(self, telegram_id: int) -> User | None:
        """Return a user's preferences."""
        row = await self._one("SELECT * FROM users WHERE telegram_id = ?", (telegram_id,))
        return _user(row) if row else None

    async def _set_user_field(
        self, telegram_id: int, column: str, value: str | int, now: datetime
    ) -> None:
        if column not in USER_FIELDS:
            raise ValueError(f"not a user field: {column}")
        # The column name comes from the fixed set above, never from input.
        sql = (
            f"INSERT INTO users (telegram_id, {column}, created_at, updated_at)"  # noqa: S608
            f" VALUES (?, ?, ?, ?) ON CONFLICT (telegram_id) DO UPDATE SET"
            f" {column} = excluded.{column}, updated_at = excluded.updated_at"
        )
        async with self._tx() as db:
            await db.execute(sql, (telegram_id, value, _ts(now), _ts(now)))

    async def set_user_language(self, telegram_id: int, language: str, now: datetime) -> None:
        """Store a user's language, creating the user if needed."""
        await self._set_user_field(telegram_id, "language", language, now)

    async def set_user_timezone(self, telegram_id: int, timezone: str, now: datetime) -> None:
        """Store the time zone a person reads times in."""
        await self._set_user_field(telegram_id, "timezone", timezone, now)

    async def set_active_workshop(self, telegram_id: int, workshop_id: int, now: datetime) -> None:
        """Remember which workshop a user's conversation is about."""
        await self._set_user_field(telegram_id, "active_workshop_id", workshop_id, now)

    async def dialog(self, telegram_id: int) -> Dialog | None:
        """Return what the bot waits for from this user."""
        # execute_fetchall is one trip to the database thread (a cursor takes three); this
        # is read for every statement a participant answers.
        async with self._read() as db:
            rows = list(
                await db.execute_fetchall(
                    "SELECT * FROM dialogs WHERE telegram_id = ?", (telegram_id,)
                )
            )
        return _dialog(telegram_id, rows[0]) if rows else None

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

    # Participants

    async def join(
        self, *, workshop_id: int, telegram_id: int, language: str, now: datetime
    ) -> tuple[Participant, bool]:
        """Add a consenting person to a workshop once; return the participant and if new."""
        async with self._tx() as db:
            cur = await db.execute(
                "INSERT INTO participants (workshop_id, telegram_id, consent_at, joined_at)"
                " VALUES (?, ?, ?, ?) ON CONFLICT (workshop_id, telegram_id) DO NOTHING",
                (workshop_id, telegram_id, _ts(now), _ts(now)),
            )
            created = cur.rowcount == 1
            await db.execute(
                "INSERT INTO users (telegram_id, language, active_workshop_id, created_at,"
                " updated_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (telegram_id) DO UPDATE SET"
                " active_workshop_id = excluded.active_workshop_id,"
                " language = COALESCE(users.language, excluded.language),"
                " updated_at = excluded.updated_at",
                (telegram_id, language, workshop_id, _ts(now), _ts(now)),
            )
            async with db.execute(
                "SELECT * FROM participants WHERE workshop_id = ? AND telegram_id = ?",
                (workshop_id, telegram_id),
            ) as c:
                row = await c.fetchone()
        assert row is not None
        return _participant(row), created

    async def participant(self, workshop_id: int, telegram_id: int) -> Participant | None:
        """Return a person's participation in a workshop."""
        row = await self._one(
            "SELECT * FROM participants WHERE workshop_id = ? AND telegram_id = ?",
            (workshop_id, telegram_id),
        )
        return _participant(row) if row else None

    async def participant_by_id(self, participant_id: int) -> Participant | None:
        """Return a participant by id."""
        row = await self._one("SELECT * FROM participants WHERE id = ?", (participant_id,))
        return _participant(row) if row else None

    async def participations(self, telegram_id: int) -> list[tuple[Participant, Workshop]]:
        """Return every workshop a person joined, newest first."""
        sql = (
            "SELECT p.*, w.id AS w_id, w.slug, w.join_code, w.language, w.timezone,"
            " w.start_date, w.end_date, w.spec_json, w.organizer_chat_id,"
            " w.evaluation_opened_at, w.association_id FROM participants p"
            " JOIN workshops w ON w.id = p.workshop_id"
            " WHERE p.telegram_id = ? ORDER BY p.joined_at DESC, p.id DESC"
        )
        async with self._read() as db, db.execute(sql, (telegram_id,)) as cur:
            rows = await cur.fetchall()
        out = []
        for row in rows:
            # The participant's own id is `id`; the workshop's came as `w_id`.
            w = _workshop({**dict(row), "id": row["w_id"]})
            out.append((_participant(row), w))
        return out

    async def update_profile(self, participant_id: int, *, field: str, value: str) -> None:
        """Set one profile field (name, institution, position, country)."""
        if field not in PROFILE_FIELDS:
            raise ValueError(f"not a profile field: {field}")
        # The column name comes from the fixed set above, never from input.
        sql = f"UPDATE participants SET {field} = ? WHERE id = ?"  # noqa: S608
        async with self._tx() as db:
            await db.execute(sql, (value, participant_id))

    async def mark_profile_done(self, participant_id: int) -> None:
        """Record that a participant gave every detail organizers need."""
        async with self._tx() as db:
            await db.execute(
                "UPDATE participants SET profile_done = 1 WHERE id = ?", (participant_id,)
            )

    # Programmes

    async def set_event_codes(self, workshop_id: int, codes: Mapping[str, str]) -> None:
        """Replace a workshop's event join codes (event id to code)."""
        async with self._tx() as db:
            await db.execute("DELETE FROM event_codes WHERE workshop_id = ?", (workshop_id,))
            await db.executemany(
                "INSERT INTO event_codes (join_code, workshop_id, event_id) VALUES (?, ?, ?)",
                [(code, workshop_id, event_id) for event_id, code in codes.items()],
            )

    async def event_codes(self, workshop_id: int) -> dict[str, str]:
        """Return a workshop's event join codes by event id."""
        rows = await self._all(
            "SELECT event_id, join_code FROM event_codes WHERE workshop_id = ? ORDER BY event_id",
            (workshop_id,),
        )
        return {r["event_id"]: r["join_code"] for r in rows}

    async def workshop_by_event_code(self, join_code: str) -> tuple[Workshop, str] | None:
        """Return the workshop and event id an event join code leads to."""
        row = await self._one(
            "SELECT w.*, c.event_id FROM event_codes c JOIN workshops w ON w.id = c.workshop_id"
            " WHERE c.join_code = ?",
            (join_code,),
        )
        return (_workshop(row), row["event_id"]) if row else None

    async def add_event_members(
        self, participant_id: int, event_ids: Sequence[str], now: datetime
    ) -> list[str]:
        """Enrol a participant in events once each; return the new ones, in the given order."""
        added: list[str] = []
        async with self._tx() as db:
            for event_id in event_ids:
                cur = await db.execute(
                    "INSERT INTO event_members (participant_id, event_id, joined_at)"
                    " VALUES (?, ?, ?) ON CONFLICT (participant_id, event_id) DO NOTHING",
                    (participant_id, event_id, _ts(now)),
                )
                if cur.rowcount == 1:
                    added.append(event_id)
        return added

    async def event_members(self, workshop_id: int) -> dict[int, frozenset[str]]:
        """Return the events each participant of a workshop is enrolled in (forgotten too)."""
        rows = await self._all(
            "SELECT m.participant_id, m.event_id FROM event_members m"
            " JOIN participants p ON p.id = m.participant_id WHERE p.workshop_id = ?"
            " ORDER BY m.participant_id, m.event_id",
            (workshop_id,),
        )
        found: dict[int, set[str]] = {}
        for r in rows:
            found.setdefault(int(r["participant_id"]), set()).add(r["event_id"])
        return {pid: frozenset(events) for pid, events in found.items()}

    # Questionnaires

    async def start_response(
        self,
        *,
        participant_id: int,
        questionnaire_id: str,
        version: int,
        first_question: str,
        now: datetime,
    ) -> Response:
        """Return the participant's response to a questionnaire, creating it once."""
        async with self._tx() as db:
            await db.execute(
                "INSERT INTO responses (participant_id, questionnaire_id, version,"
                " current_question, started_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (participant_id, questionnaire_id) DO NOTHING",
                (participant_id, questionnaire_id, version, first_question, _ts(now), _ts(now)),
            )
            async with db.execute(
                "SELECT * FROM responses WHERE participant_id = ? AND questionnaire_id = ?",
                (participant_id, questionnaire_id),
            ) as cur:
                row = await cur.fetchone()
        assert row is not None
        return _response(row)

    async def response(self, response_id: int) -> Response | None:
        """Return a response by id."""
        # One trip to the database thread (see dialog); read for every answer.
        async with self._read() as db:
            rows = list(
                await db.execute_fetchall("SELECT * FROM responses WHERE id = ?", (response_id,))
            )
        return _response(rows[0]) if rows else None

    async def find_response(self, participant_id: int, questionnaire_id: str) -> Response | None:
        """Return a participant's response to a questionnaire, if started."""
        row = await self._one(
            "SELECT * FROM responses WHERE participant_id = ? AND questionnaire_id = ?",
            (participant_id, questionnaire_id),
        )
        return _response(row) if row else None

    async def answers(self, response_id: int) -> dict[str, AnswerValue]:
        """Return the answers of a response by question id."""
        async with self._read() as db:
            rows = await db.execute_fetchall(
                "SELECT question_id, value_json FROM answers WHERE response_id = ?",
                (response_id,),
            )
        return {row["question_id"]: json.loads(row["value_json"]) for row in rows}

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

    async def move_to(
        self, response_id: int, question_id: str | None, *, reviewing: bool, now: datetime
    ) -> None:
        """Point a response at a question (or at its review, with None)."""
        async with self._tx() as db:
            await db.execute(
                "UPDATE responses SET current_question = ?, reviewing = ?, updated_at = ?"
                " WHERE id = ?",
                (question_id, int(reviewing), _ts(now), response_id),
            )

    async def submit_response(self, response_id: int, now: datetime) -> bool:
        """Mark a response submitted; return False if it already was."""
        async with self._tx() as db:
            cur = await db.execute(
                "UPDATE responses SET submitted_at = ?, current_question = NULL,"
                " reviewing = 0, updated_at = ? WHERE id = ? AND submitted_at IS NULL",
                (_ts(now), _ts(now), response_id),
            )
            return cur.rowcount == 1

    async def reopen_response(self, response_id: int, version: int, now: datetime) -> None:
        """Move an unsubmitted response to another questionnaire version."""
        async with self._tx() as db:
            await db.execute(
                "UPDATE responses SET version = ?, updated_at = ?"
                " WHERE id = ? AND submitted_at IS NULL",
                (version, _ts(now), response_id),
            )

    async def rekey_response(self, response_id: int, questionnaire_id: str) -> None:
        """Give a draft's response the key of the record its first answer created."""
        async with self._tx() as db:
            await db.execute(
                "UPDATE responses SET questionnaire_id = ? WHERE id = ?",
                (questionnaire_id, response_id),
            )

    async def discard_response(self, response_id: int) -> None:
        """Delete an unsubmitted response and its answers (a draft left as it was)."""
        async with self._tx() as db:
            await db.execute(
                "DELETE FROM answers WHERE response_id IN"
                " (SELECT id FROM responses WHERE id = ? AND submitted_at IS NULL)",
                (response_id,),
            )
            await db.execute(
                "DELETE FROM responses WHERE id = ? AND submitted_at IS NULL", (response_id,)
            )

    # Privacy

    async def save_dimension_scores(
        self, response_id: int, scores: dict[str, float | None]
    ) -> None:
        """Keep a submitted response's score per dimension (replacing earlier ones)."""
        async with self._tx() as db:
            await db.executemany(
                "INSERT INTO dimension_scores (response_id, section_id, score) VALUES (?, ?, ?)"
                " ON CONFLICT (response_id, section_id) DO UPDATE SET score = excluded.score",
                [(response_id, section, score) for section, score in scores.items()],
            )

    async def unscored_responses(self, workshop_id: int, questionnaire_id: str) -> list[int]:
        """Return submitted responses of a workshop with no dimension scores kept yet."""
        rows = await self._all(
            "SELECT r.id FROM responses r JOIN participants p ON p.id = r.participant_id"
            " WHERE p.workshop_id = ? AND r.questionnaire_id = ? AND r.submitted_at IS NOT NULL"
            " AND NOT EXISTS (SELECT 1 FROM dimension_scores d WHERE d.response_id = r.id)",
            (workshop_id, questionnaire_id),
        )
        return [int(r["id"]) for r in rows]

    async def group_dimension_means(
        self, workshop_id: int, questionnaire_id: str
    ) -> tuple[int, dict[str, tuple[float | None, int]]]:
        """Return how many submitted, and each dimension's mean score with its count."""
        rows = await self._all(
            "SELECT d.section_id, AVG(d.score) AS mean, COUNT(d.score) AS n,"
            " COUNT(DISTINCT d.response_id) AS people FROM dimension_scores d"
            " JOIN responses r ON r.id = d.response_id"
            " JOIN participants p ON p.id = r.participant_id"
            " WHERE p.workshop_id = ? AND r.questionnaire_id = ? AND r.submitted_at IS NOT NULL"
            " GROUP BY d.section_id",
            (workshop_id, questionnaire_id),
        )
        people = max((int(r["people"]) for r in rows), default=0)
        return people, {r["section_id"]: (r["mean"], int(r["n"])) for r in rows}

    async def export_user(self, telegram_id: int) -> dict[str, Any]:
        """Return every record kept about a person, as plain data."""
        async with self._read() as db:
            async with db.execute(
                "SELECT telegram_id, language, timezone, active_workshop_id, created_at,"
                " updated_at FROM users WHERE telegram_id = ?",
                (telegram_id,),
            ) as cur:
                user = await cur.fetchone()
            async with db.execute(
                "SELECT * FROM dialogs WHERE telegram_id = ?", (telegram_id,)
            ) as cur:
                dialog = await cur.fetchone()
            async with db.execute(
                "SELECT p.*, w.slug FROM participants p JOIN workshops w ON w.id = p.workshop_id"
                " WHERE p.telegram_id = ? ORDER BY p.id",
                (telegram_id,),
            ) as cur:
                parts = await cur.fetchall()
            participations = []
            for p in parts:
                async with db.execute(
                    "SELECT * FROM responses WHERE participant_id = ? ORDER BY id", (p["id"],)
                ) as cur:
                    responses = await cur.fetchall()
                resp_out = []
                for r in responses:
                    async with db.execute(
                        "SELECT question_id, value_json, answered_at FROM answers"
                        " WHERE response_id = ? ORDER BY answered_at, question_id",
                        (r["id"],),
                    ) as cur:
                        answers = await cur.fetchall()
                    resp_out.append(
                        {
                            "questionnaire": r["questionnaire_id"],
                            "version": r["version"],
                            "started_at": r["started_at"],
                            "submitted_at": r["submitted_at"],
                            "answers": [
                                {
                                    "question": a["question_id"],
                                    "answer": json.loads(a["value_json"]),
                                    "answered_at": a["answered_at"],
                                }
                                for a in answers
                            ],
                        }
                    )
                async with db.execute(
                    "SELECT pl.id, pl.title, pl.objective, pl.sdgs, m.role,"
                    " m.contact_at AS contact_consent_at, m.contact_handle FROM plans pl"
                    " JOIN plan_members m ON m.plan_id = pl.id WHERE m.participant_id = ?"
                    " ORDER BY pl.id",
                    (p["id"],),
                ) as cur:
                    plans = [dict(r) for r in await cur.fetchall()]
                async with db.execute(
                    "SELECT u.step_id, s.action, u.status, u.note, u.created_at,"
                    " (SELECT COUNT(*) FROM update_evidence e WHERE e.update_id = u.id)"
                    " AS evidence FROM step_updates u JOIN plan_steps s ON s.id = u.step_id"
                    " WHERE u.author_id = ? ORDER BY u.id",
                    (p["id"],),
                ) as cur:
                    updates = [dict(r) for r in await cur.fetchall()]
                async with db.execute(
                    "SELECT event_id AS event, joined_at FROM event_members"
                    " WHERE participant_id = ? ORDER BY event_id",
                    (p["id"],),
                ) as cur:
                    events = [dict(r) for r in await cur.fetchall()]
                participations.append(
                    {
                        "workshop": p["slug"],
                        "events": events,
                        "action_plans": plans,
                        "plan_updates": updates,
                        "name": p["name"],
                        "institution": p["institution"],
                        "position": p["position"],
                        "country": p["country"],
                        "consent_at": p["consent_at"],
                        "joined_at": p["joined_at"],
                        "responses": resp_out,
                    }
                )
            async with db.execute(
                "SELECT a.slug, v.added_at, v.digest FROM association_viewers v"
                " JOIN associations a ON a.id = v.association_id WHERE v.telegram_id = ?",
                (telegram_id,),
            ) as cur:
                viewing = [dict(r) for r in await cur.fetchall()]
        return {
            "telegram_id": telegram_id,
            "user": dict(user) if user else None,
            "association_viewer": viewing,
            "pending_dialog": (
                {"state": dialog["state"], "data": json.loads(dialog["data_json"])}
                if dialog
                else None
            ),
            "participations": participations,
        }

    async def forget_user(self, telegram_id: int, now: datetime) -> int:
        """Remove what identifies a person; return how many participations were cleared."""
        async with self._tx() as db:
            async with db.execute(
                "SELECT id FROM participants WHERE telegram_id = ?", (telegram_id,)
            ) as cur:
                ids = [int(r[0]) for r in await cur.fetchall()]
            await _anonymize(db, ids, now)
            for sql in FORGET_SQL:
                await db.execute(sql, {"tid": telegram_id})
        await self._checkpoint()
        return len(ids)

    async def _checkpoint(self) -> None:
        """Copy the write-ahead log into the file and empty it: erased data leaves it too."""
        try:
            await self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.Error as exc:
            # A reader (a backup) may hold the log; the next checkpoint empties it.
            log.info("write-ahead log not emptied after an erasure: %s", exc)

    async def workshops_to_purge(self, before: date) -> list[Workshop]:
        """Return workshops not purged yet whose last day is before `before`."""
        rows = await self._all(
            "SELECT * FROM workshops WHERE purged_at IS NULL AND end_date < ? ORDER BY id",
            (before.isoformat(),),
        )
        return [_workshop(r) for r in rows]

    async def purge_workshop(self, workshop_id: int, now: datetime) -> int:
        """Remove what identifies every participant of a workshop; return how many."""
        async with self._tx() as db:
            async with db.execute(
                "SELECT id, telegram_id FROM participants WHERE workshop_id = ?"
                " AND forgotten_at IS NULL",
                (workshop_id,),
            ) as cur:
                rows = list(await cur.fetchall())
            ids = [int(r["id"]) for r in rows]
            await _anonymize(db, ids, now)
            await db.execute(
                "UPDATE workshops SET purged_at = ? WHERE id = ?", (_ts(now), workshop_id)
            )
            # Preferences go too, for people with nothing left here and no role to keep.
            for telegram_id in {r["telegram_id"] for r in rows if r["telegram_id"] is not None}:
                async with db.execute(
                    "SELECT (SELECT COUNT(*) FROM participants WHERE telegram_id = ?)"
                    " + (SELECT COUNT(*) FROM organizers WHERE telegram_id = ?)"
                    " + (SELECT COUNT(*) FROM association_viewers WHERE telegram_id = ?)",
                    (telegram_id, telegram_id, telegram_id),
                ) as cur:
                    left = await cur.fetchone()
                if left is not None and left[0] == 0:
                    await db.execute("DELETE FROM dialogs WHERE telegram_id = ?", (telegram_id,))
                    await db.execute("DELETE FROM users WHERE telegram_id = ?", (telegram_id,))
        await self._checkpoint()
        return len(ids)


async def _anonymize(db: aiosqlite.Connection, ids: list[int], now: datetime) -> None:
    """Strip what identifies these participants, keeping what aggregates count (ANONYMIZE_SQL)."""
    if not ids:
        return
    params = {"ids": json.dumps(ids), "now": _ts(now)}
    for sql in _ANONYMIZE:
        await db.execute(sql, params)


def _split_sql(script: str) -> list[str]:
    """Split a migration script into statements.

    Migrations are our own files: they keep semicolons out of literals and triggers.
    """
    lines = [line for line in script.splitlines() if not line.strip().startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]
