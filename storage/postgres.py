"""PostgreSQL backend of the Store, on asyncpg and its connection pool."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import date, datetime
from typing import Any
from urllib.parse import urlsplit

import asyncpg

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
from storage.portable import Db, numbered
from storage.postgres_base import Conn, PostgresDb, PostgresDialect, count
from storage.postgres_plans import PlanMixin
from storage.rows import PROFILE_FIELDS, USER_FIELDS, Row, from_json
from storage.rows import dialog as _dialog
from storage.rows import participant as _participant
from storage.rows import response as _response
from storage.rows import user as _user
from storage.rows import workshop as _workshop
from storage.sqlite import ANONYMIZE_SQL, FORGET_SQL

log = logging.getLogger(__name__)

# Any fixed number will do: every instance takes the same lock before migrating, so only
# one applies migrations while the others wait and then find them applied.
MIGRATION_LOCK_KEY = 0x7A11E4B07


def describe(database_url: str) -> str:
    """Return host, port and database of a URL, without user or password, for messages."""
    parts = urlsplit(database_url)
    return f"{parts.hostname or 'localhost'}:{parts.port or 5432}{parts.path or '/'}"


def plain(row: asyncpg.Record) -> dict[str, Any]:
    """Return a row as plain data, times and days as ISO text, as the SQLite export has them."""
    return {
        key: value.isoformat() if isinstance(value, datetime | date) else value
        for key, value in row.items()
    }


class PostgresStore(PlanMixin, CommunicationMixin, CoordinationMixin):
    """The Store on a PostgreSQL database; one transaction per method."""

    def __init__(self, pool: asyncpg.Pool[asyncpg.Record]) -> None:
        self._pool = pool
        self._dialect = PostgresDialect()

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
            # xmax is 0 only in a row version this statement inserted, not one it updated.
            row = await db.fetchrow(
                "INSERT INTO workshops (slug, join_code, language, timezone, start_date,"
                " end_date, spec_json, created_at, updated_at)"
                " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) ON CONFLICT (slug) DO UPDATE SET"
                " language = EXCLUDED.language, timezone = EXCLUDED.timezone,"
                " start_date = EXCLUDED.start_date, end_date = EXCLUDED.end_date,"
                " spec_json = EXCLUDED.spec_json, join_code = EXCLUDED.join_code,"
                " updated_at = EXCLUDED.updated_at RETURNING *, (xmax = 0) AS inserted",
                slug,
                join_code,
                language,
                timezone,
                start_date,
                end_date,
                spec_json,
                now,
            )
        assert row is not None
        return _workshop(row), bool(row["inserted"])

    async def workshop(self, workshop_id: int) -> Workshop | None:
        """Return a workshop by id."""
        row = await self._one("SELECT * FROM workshops WHERE id = $1", workshop_id)
        return _workshop(row) if row else None

    async def workshop_by_code(self, join_code: str) -> Workshop | None:
        """Return the workshop with this join code."""
        row = await self._one("SELECT * FROM workshops WHERE join_code = $1", join_code)
        return _workshop(row) if row else None

    async def workshop_by_slug(self, slug: str) -> Workshop | None:
        """Return the workshop with this slug."""
        row = await self._one("SELECT * FROM workshops WHERE slug = $1", slug)
        return _workshop(row) if row else None

    # Users and dialogs

    async def user(self, telegram_id: int) -> User | None:
        """Return a user's preferences."""
        row = await self._one("SELECT * FROM users WHERE telegram_id = $1", telegram_id)
        return _user(row) if row else None

    async def _set_user_field(
        self, telegram_id: int, column: str, value: str | int, now: datetime
    ) -> None:
        if column not in USER_FIELDS:
            raise ValueError(f"not a user field: {column}")
        # The column name comes from the fixed set above, never from input.
        sql = (
            f"INSERT INTO users (telegram_id, {column}, created_at, updated_at)"  # noqa: S608
            f" VALUES ($1, $2, $3, $3) ON CONFLICT (telegram_id) DO UPDATE SET"
            f" {column} = EXCLUDED.{column}, updated_at = EXCLUDED.updated_at"
        )
        async with self._tx() as db:
            await db.execute(sql, telegram_id, value, now)

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
        row = await self._one("SELECT * FROM dialogs WHERE telegram_id = $1", telegram_id)
        return _dialog(telegram_id, row) if row else None

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

    # Participants

    async def join(
        self, *, workshop_id: int, telegram_id: int, language: str, now: datetime
    ) -> tuple[Participant, bool]:
        """Add a consenting person to a workshop once; return the participant and if new."""
        async with self._tx() as db:
            status = await db.execute(
                "INSERT INTO participants (workshop_id, telegram_id, consent_at, joined_at)"
                " VALUES ($1, $2, $3, $3) ON CONFLICT (workshop_id, telegram_id) DO NOTHING",
                workshop_id,
                telegram_id,
                now,
            )
            await db.execute(
                "INSERT INTO users (telegram_id, language, active_workshop_id, created_at,"
                " updated_at) VALUES ($1, $2, $3, $4, $4) ON CONFLICT (telegram_id) DO UPDATE"
                " SET active_workshop_id = EXCLUDED.active_workshop_id,"
                " language = COALESCE(users.language, EXCLUDED.language),"
                " updated_at = EXCLUDED.updated_at",
                telegram_id,
                language,
                workshop_id,
                now,
            )
            row = await db.fetchrow(
                "SELECT * FROM participants WHERE workshop_id = $1 AND telegram_id = $2",
                workshop_id,
                telegram_id,
            )
        assert row is not None
        return _participant(row), count(status) == 1

    async def participant(self, workshop_id: int, telegram_id: int) -> Participant | None:
        """Return a person's participation in a workshop."""
        row = await self._one(
            "SELECT * FROM participants WHERE workshop_id = $1 AND telegram_id = $2",
            workshop_id,
            telegram_id,
        )
        return _participant(row) if row else None

    async def participant_by_id(self, participant_id: int) -> Participant | None:
        """Return a participant by id."""
        row = await self._one("SELECT * FROM participants WHERE id = $1", participant_id)
        return _participant(row) if row else None

    async def participations(self, telegram_id: int) -> list[tuple[Participant, Workshop]]:
        """Return every workshop a person joined, newest first."""
        rows = await self._all(
            "SELECT p.*, w.id AS w_id, w.slug, w.join_code, w.language, w.timezone,"
            " w.start_date, w.end_date, w.spec_json, w.organizer_chat_id,"
            " w.evaluation_opened_at, w.association_id FROM participants p"
            " JOIN workshops w ON w.id = p.workshop_id"
            " WHERE p.telegram_id = $1 ORDER BY p.joined_at DESC, p.id DESC",
            telegram_id,
        )
        # The participant's own id is `id`; the workshop's came as `w_id`.
        return [(_participant(r), _workshop({**dict(r), "id": r["w_id"]})) for r in rows]

    async def update_profile(self, participant_id: int, *, field: str, value: str) -> None:
        """Set one profile field (name, institution, position, country)."""
        if field not in PROFILE_FIELDS:
            raise ValueError(f"not a profile field: {field}")
        # The column name comes from the fixed set above, never from input.
        sql = f"UPDATE participants SET {field} = $1 WHERE id = $2"  # noqa: S608
        async with self._tx() as db:
            await db.execute(sql, value, participant_id)

    async def mark_profile_done(self, participant_id: int) -> None:
        """Record that a participant gave every detail organizers need."""
        async with self._tx() as db:
            await db.execute(
                "UPDATE participants SET profile_done = TRUE WHERE id = $1", participant_id
            )

    # Programmes

    async def set_event_codes(self, workshop_id: int, codes: Mapping[str, str]) -> None:
        """Replace a workshop's event join codes (event id to code)."""
        async with self._tx() as db:
            await db.execute("DELETE FROM event_codes WHERE workshop_id = $1", workshop_id)
            await db.executemany(
                "INSERT INTO event_codes (join_code, workshop_id, event_id) VALUES ($1, $2, $3)",
                [(code, workshop_id, event_id) for event_id, code in codes.items()],
            )

    async def event_codes(self, workshop_id: int) -> dict[str, str]:
        """Return a workshop's event join codes by event id."""
        rows = await self._all(
            "SELECT event_id, join_code FROM event_codes WHERE workshop_id = $1 ORDER BY event_id",
            workshop_id,
        )
        return {r["event_id"]: r["join_code"] for r in rows}

    async def workshop_by_event_code(self, join_code: str) -> tuple[Workshop, str] | None:
        """Return the workshop and event id an event join code leads to."""
        row = await self._one(
            "SELECT w.*, c.event_id FROM event_codes c JOIN workshops w ON w.id = c.workshop_id"
            " WHERE c.join_code = $1",
            join_code,
        )
        return (_workshop(row), row["event_id"]) if row else None

    async def add_event_members(
        self, participant_id: int, event_ids: Sequence[str], now: datetime
    ) -> list[str]:
        """Enrol a participant in events once each; return the new ones, in the given order."""
        added: list[str] = []
        async with self._tx() as db:
            for event_id in event_ids:
                status = await db.execute(
                    "INSERT INTO event_members (participant_id, event_id, joined_at)"
                    " VALUES ($1, $2, $3) ON CONFLICT (participant_id, event_id) DO NOTHING",
                    participant_id,
                    event_id,
                    now,
                )
                if count(status) == 1:
                    added.append(event_id)
        return added

    async def event_members(self, workshop_id: int) -> dict[int, frozenset[str]]:
        """Return the events each participant of a workshop is enrolled in (forgotten too)."""
        rows = await self._all(
            "SELECT m.participant_id, m.event_id FROM event_members m"
            " JOIN participants p ON p.id = m.participant_id WHERE p.workshop_id = $1"
            " ORDER BY m.participant_id, m.event_id",
            workshop_id,
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
                " current_question, started_at, updated_at) VALUES ($1, $2, $3, $4, $5, $5)"
                " ON CONFLICT (participant_id, questionnaire_id) DO NOTHING",
                participant_id,
                questionnaire_id,
                version,
                first_question,
                now,
            )
            row = await db.fetchrow(
                "SELECT * FROM responses WHERE participant_id = $1 AND questionnaire_id = $2",
                participant_id,
                questionnaire_id,
            )
        assert row is not None
        return _response(row)

    async def response(self, response_id: int) -> Response | None:
        """Return a response by id."""
        row = await self._one("SELECT * FROM responses WHERE id = $1", response_id)
        return _response(row) if row else None

    async def find_response(self, participant_id: int, questionnaire_id: str) -> Response | None:
        """Return a participant's response to a questionnaire, if started."""
        row = await self._one(
            "SELECT * FROM responses WHERE participant_id = $1 AND questionnaire_id = $2",
            participant_id,
            questionnaire_id,
        )
        return _response(row) if row else None

    async def answers(self, response_id: int) -> dict[str, AnswerValue]:
        """Return the answers of a response by question id."""
        rows = await self._all(
            "SELECT question_id, value_json FROM answers WHERE response_id = $1", response_id
        )
        return {r["question_id"]: from_json(r["value_json"]) for r in rows}

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

    async def move_to(
        self, response_id: int, question_id: str | None, *, reviewing: bool, now: datetime
    ) -> None:
        """Point a response at a question (or at its review, with None)."""
        async with self._tx() as db:
            await db.execute(
                "UPDATE responses SET current_question = $1, reviewing = $2, updated_at = $3"
                " WHERE id = $4",
                question_id,
                reviewing,
                now,
                response_id,
            )

    async def submit_response(self, response_id: int, now: datetime) -> bool:
        """Mark a response submitted; return False if it already was."""
        async with self._tx() as db:
            status = await db.execute(
                "UPDATE responses SET submitted_at = $1, current_question = NULL,"
                " reviewing = FALSE, updated_at = $1 WHERE id = $2 AND submitted_at IS NULL",
                now,
                response_id,
            )
        return count(status) == 1

    async def reopen_response(self, response_id: int, version: int, now: datetime) -> None:
        """Move an unsubmitted response to another questionnaire version."""
        async with self._tx() as db:
            await db.execute(
                "UPDATE responses SET version = $1, updated_at = $2"
                " WHERE id = $3 AND submitted_at IS NULL",
                version,
                now,
                response_id,
            )

    async def rekey_response(self, response_id: int, questionnaire_id: str) -> None:
        """Give a draft's response the key of the record its first answer created."""
        async with self._tx() as db:
            await db.execute(
                "UPDATE responses SET questionnaire_id = $1 WHERE id = $2",
                questionnaire_id,
                response_id,
            )

    async def discard_response(self, response_id: int) -> None:
        """Delete an unsubmitted response and its answers (a draft left as it was)."""
        async with self._tx() as db:
            await db.execute(
                "DELETE FROM answers WHERE response_id IN"
                " (SELECT id FROM responses WHERE id = $1 AND submitted_at IS NULL)",
                response_id,
            )
            await db.execute(
                "DELETE FROM responses WHERE id = $1 AND submitted_at IS NULL", response_id
            )

    async def save_dimension_scores(
        self, response_id: int, scores: dict[str, float | None]
    ) -> None:
        """Keep a submitted response's score per dimension (replacing earlier ones)."""
        async with self._tx() as db:
            await db.executemany(
                "INSERT INTO dimension_scores (response_id, section_id, score)"
                " VALUES ($1, $2, $3) ON CONFLICT (response_id, section_id)"
                " DO UPDATE SET score = EXCLUDED.score",
                [(response_id, section, score) for section, score in scores.items()],
            )

    async def unscored_responses(self, workshop_id: int, questionnaire_id: str) -> list[int]:
        """Return submitted responses of a workshop with no dimension scores kept yet."""
        rows = await self._all(
            "SELECT r.id FROM responses r JOIN participants p ON p.id = r.participant_id"
            " WHERE p.workshop_id = $1 AND r.questionnaire_id = $2"
            " AND r.submitted_at IS NOT NULL"
            " AND NOT EXISTS (SELECT 1 FROM dimension_scores d WHERE d.response_id = r.id)"
            " ORDER BY r.id",
            workshop_id,
            questionnaire_id,
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
            " WHERE p.workshop_id = $1 AND r.questionnaire_id = $2"
            " AND r.submitted_at IS NOT NULL GROUP BY d.section_id",
            workshop_id,
            questionnaire_id,
        )
        people = max((int(r["people"]) for r in rows), default=0)
        return people, {r["section_id"]: (r["mean"], int(r["n"])) for r in rows}

    # Privacy

    async def export_user(self, telegram_id: int) -> dict[str, Any]:
        """Return every record kept about a person, as plain data."""
        async with self._snapshot() as db:
            user = await db.fetchrow(
                "SELECT telegram_id, language, timezone, active_workshop_id, created_at,"
                " updated_at FROM users WHERE telegram_id = $1",
                telegram_id,
            )
            dialog = await db.fetchrow("SELECT * FROM dialogs WHERE telegram_id = $1", telegram_id)
            parts = await db.fetch(
                "SELECT p.*, w.slug FROM participants p JOIN workshops w ON w.id = p.workshop_id"
                " WHERE p.telegram_id = $1 ORDER BY p.id",
                telegram_id,
            )
            participations = [await _export_participation(db, p) for p in parts]
            viewing = await db.fetch(
                "SELECT a.slug, v.added_at, v.digest FROM association_viewers v"
                " JOIN associations a ON a.id = v.association_id WHERE v.telegram_id = $1",
                telegram_id,
            )
        return {
            "telegram_id": telegram_id,
            "user": plain(user) if user else None,
            "association_viewer": [plain(r) for r in viewing],
            "pending_dialog": (
                {"state": dialog["state"], "data": from_json(dialog["data_json"])}
                if dialog
                else None
            ),
            "participations": participations,
        }

    async def forget_user(self, telegram_id: int, now: datetime) -> int:
        """Remove what identifies a person; return how many participations were cleared."""
        async with self._tx() as db:
            ids = [
                int(r["id"])
                for r in await db.fetch(
                    "SELECT id FROM participants WHERE telegram_id = $1", telegram_id
                )
            ]
            await _anonymize(db, ids, now)
            for sql, names in _FORGET:
                await db.execute(sql, *_args(names, tid=telegram_id))
        return len(ids)

    async def workshops_to_purge(self, before: date) -> list[Workshop]:
        """Return workshops not purged yet whose last day is before `before`."""
        rows = await self._all(
            "SELECT * FROM workshops WHERE purged_at IS NULL AND end_date < $1 ORDER BY id",
            before,
        )
        return [_workshop(r) for r in rows]

    async def purge_workshop(self, workshop_id: int, now: datetime) -> int:
        """Remove what identifies every participant of a workshop; return how many."""
        async with self._tx() as db:
            rows = await db.fetch(
                "SELECT id, telegram_id FROM participants WHERE workshop_id = $1"
                " AND forgotten_at IS NULL",
                workshop_id,
            )
            ids = [int(r["id"]) for r in rows]
            await _anonymize(db, ids, now)
            await db.execute("UPDATE workshops SET purged_at = $1 WHERE id = $2", now, workshop_id)
            # Preferences go too, for people with nothing left here and no role to keep.
            for telegram_id in {r["telegram_id"] for r in rows if r["telegram_id"] is not None}:
                left = await db.fetchval(
                    "SELECT (SELECT COUNT(*) FROM participants WHERE telegram_id = $1)"
                    " + (SELECT COUNT(*) FROM organizers WHERE telegram_id = $1)"
                    " + (SELECT COUNT(*) FROM association_viewers WHERE telegram_id = $1)",
                    telegram_id,
                )
                if left == 0:
                    await db.execute("DELETE FROM dialogs WHERE telegram_id = $1", telegram_id)
                    await db.execute("DELETE FROM users WHERE telegram_id = $1", telegram_id)
        return len(ids)


async def _export_participation(db: Conn, p: asyncpg.Record) -> dict[str, Any]:
    """Return one participation with its responses, plans and updates, as plain data."""
    responses = []
    for r in await db.fetch(
        "SELECT * FROM responses WHERE participant_id = $1 ORDER BY id", p["id"]
    ):
        answers = await db.fetch(
            "SELECT question_id, value_json, answered_at FROM answers"
            " WHERE response_id = $1 ORDER BY answered_at, question_id",
            r["id"],
        )
        responses.append(
            {
                "questionnaire": r["questionnaire_id"],
                "version": r["version"],
                "started_at": r["started_at"].isoformat(),
                "submitted_at": r["submitted_at"] and r["submitted_at"].isoformat(),
                "answers": [
                    {
                        "question": a["question_id"],
                        "answer": from_json(a["value_json"]),
                        "answered_at": a["answered_at"].isoformat(),
                    }
                    for a in answers
                ],
            }
        )
    plans = await db.fetch(
        "SELECT pl.id, pl.title, pl.objective, pl.sdgs, m.role,"
        " m.contact_at AS contact_consent_at, m.contact_handle FROM plans pl"
        " JOIN plan_members m ON m.plan_id = pl.id WHERE m.participant_id = $1 ORDER BY pl.id",
        p["id"],
    )
    updates = await db.fetch(
        "SELECT u.step_id, s.action, u.status, u.note, u.created_at,"
        " (SELECT COUNT(*) FROM update_evidence e WHERE e.update_id = u.id)"
        " AS evidence FROM step_updates u JOIN plan_steps s ON s.id = u.step_id"
        " WHERE u.author_id = $1 ORDER BY u.id",
        p["id"],
    )
    events = await db.fetch(
        "SELECT event_id AS event, joined_at FROM event_members"
        " WHERE participant_id = $1 ORDER BY event_id",
        p["id"],
    )
    return {
        "workshop": p["slug"],
        "events": [plain(r) for r in events],
        "action_plans": [plain(r) for r in plans],
        "plan_updates": [plain(r) for r in updates],
        "name": p["name"],
        "institution": p["institution"],
        "position": p["position"],
        "country": p["country"],
        "consent_at": p["consent_at"].isoformat(),
        "joined_at": p["joined_at"].isoformat(),
        "responses": responses,
    }


def _positional(sql: str) -> tuple[str, tuple[str, ...]]:
    """Write a shared statement's `:name` parameters as $1, $2...; return it and their order."""
    names: list[str] = []

    def number(match: re.Match[str]) -> str:
        if match[1] not in names:
            names.append(match[1])
        return f"${names.index(match[1]) + 1}"

    # Not after a colon or a word character: a `::type` cast is no parameter.
    return re.sub(r"(?<![:\w]):([a-z_]\w*)", number, sql), tuple(names)


def _args(names: tuple[str, ...], **values: Any) -> list[Any]:
    """Return the values of a statement's parameters, in their order."""
    return [values[name] for name in names]


# The same erasure as the SQLite backend (storage/sqlite.py), with the participations' ids
# as one array parameter.
_ANONYMIZE = tuple(
    _positional(sql.format(ids="SELECT unnest(CAST(:ids AS bigint[]))")) for sql in ANONYMIZE_SQL
)
_FORGET = tuple(_positional(sql) for sql in FORGET_SQL)


async def _anonymize(db: Conn, ids: list[int], now: datetime) -> None:
    """Strip what identifies these participants, keeping what aggregates count (ANONYMIZE_SQL)."""
    if not ids:
        return
    for sql, names in _ANONYMIZE:
        await db.execute(sql, *_args(names, ids=ids, now=now))
