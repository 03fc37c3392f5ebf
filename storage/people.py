"""Workshops, people, participations, responses and erasure: SQL written once for every backend.

What each answer touches many times a second (dialogs, run_state, record_answer) stays in
the store modules, where SQLite does it in one trip to its thread.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any, Protocol

from storage.erasure import anonymize, forget
from storage.models import AnswerValue, Dialog, Participant, Response, User, Workshop
from storage.portable import Db, Portable
from storage.rows import PROFILE_FIELDS, USER_FIELDS, Row, from_json
from storage.rows import dialog as _dialog
from storage.rows import participant as _participant
from storage.rows import response as _response
from storage.rows import user as _user
from storage.rows import workshop as _workshop


class _Base(Portable, Protocol):
    async def _set_user_field(
        self, telegram_id: int, column: str, value: str | int, now: datetime
    ) -> None: ...
    async def _after_erasure(self) -> None: ...


def plain(row: Row) -> dict[str, Any]:
    """Return a row as plain data, times and days as ISO text."""
    return {key: _iso(value) for key, value in dict(row).items()}


class PeopleMixin:
    """Workshops, users, participants, programmes, responses and erasure."""

    # Workshops

    async def upsert_workshop(
        self: _Base,
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
        async with self._work() as db:
            # Two imports of one new workshop at once: the second insert waits for the
            # first, does nothing, and updates the row the first made.
            row = await db.fetchrow(
                "INSERT INTO workshops (slug, join_code, language, timezone, start_date,"
                " end_date, spec_json, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (slug) DO NOTHING RETURNING *",
                slug,
                join_code,
                language,
                timezone,
                start_date,
                end_date,
                spec_json,
                now,
                now,
            )
            if row is not None:
                return _workshop(row), True
            row = await db.fetchrow(
                "UPDATE workshops SET language = ?, timezone = ?, start_date = ?,"
                " end_date = ?, spec_json = ?, join_code = ?, updated_at = ? WHERE slug = ?"
                " RETURNING *",
                language,
                timezone,
                start_date,
                end_date,
                spec_json,
                join_code,
                now,
                slug,
            )
        assert row is not None
        return _workshop(row), False

    async def workshop(self: _Base, workshop_id: int) -> Workshop | None:
        """Return a workshop by id."""
        row = await self._row("SELECT * FROM workshops WHERE id = ?", workshop_id)
        return _workshop(row) if row else None

    async def workshop_by_code(self: _Base, join_code: str) -> Workshop | None:
        """Return the workshop with this join code."""
        row = await self._row("SELECT * FROM workshops WHERE join_code = ?", join_code)
        return _workshop(row) if row else None

    async def workshop_by_slug(self: _Base, slug: str) -> Workshop | None:
        """Return the workshop with this slug."""
        row = await self._row("SELECT * FROM workshops WHERE slug = ?", slug)
        return _workshop(row) if row else None

    # Users

    async def user(self: _Base, telegram_id: int) -> User | None:
        """Return a user's preferences."""
        row = await self._row("SELECT * FROM users WHERE telegram_id = ?", telegram_id)
        return _user(row) if row else None

    async def _set_user_field(
        self: _Base, telegram_id: int, column: str, value: str | int, now: datetime
    ) -> None:
        if column not in USER_FIELDS:
            raise ValueError(f"not a user field: {column}")
        # The column name comes from the fixed set above, never from input.
        sql = (
            f"INSERT INTO users (telegram_id, {column}, created_at, updated_at)"  # noqa: S608
            f" VALUES (?, ?, ?, ?) ON CONFLICT (telegram_id) DO UPDATE SET"
            f" {column} = excluded.{column}, updated_at = excluded.updated_at"
        )
        async with self._work() as db:
            await db.execute(sql, telegram_id, value, now, now)

    async def set_user_language(
        self: _Base, telegram_id: int, language: str, now: datetime
    ) -> None:
        """Store a user's language, creating the user if needed."""
        await self._set_user_field(telegram_id, "language", language, now)

    async def set_user_timezone(
        self: _Base, telegram_id: int, timezone: str, now: datetime
    ) -> None:
        """Store the time zone a person reads times in."""
        await self._set_user_field(telegram_id, "timezone", timezone, now)

    async def set_active_workshop(
        self: _Base, telegram_id: int, workshop_id: int, now: datetime
    ) -> None:
        """Remember which workshop a user's conversation is about."""
        await self._set_user_field(telegram_id, "active_workshop_id", workshop_id, now)

    async def dialog(self: _Base, telegram_id: int) -> Dialog | None:
        """Return what the bot waits for from this user."""
        row = await self._row("SELECT * FROM dialogs WHERE telegram_id = ?", telegram_id)
        return _dialog(telegram_id, row) if row else None

    # Participants

    async def join(
        self: _Base, *, workshop_id: int, telegram_id: int, language: str, now: datetime
    ) -> tuple[Participant, bool]:
        """Add a consenting person to a workshop once; return the participant and if new."""
        async with self._work() as db:
            added = await db.execute(
                "INSERT INTO participants (workshop_id, telegram_id, consent_at, joined_at)"
                " VALUES (?, ?, ?, ?) ON CONFLICT (workshop_id, telegram_id) DO NOTHING",
                workshop_id,
                telegram_id,
                now,
                now,
            )
            await db.execute(
                "INSERT INTO users (telegram_id, language, active_workshop_id, created_at,"
                " updated_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (telegram_id) DO UPDATE SET"
                " active_workshop_id = excluded.active_workshop_id,"
                " language = COALESCE(users.language, excluded.language),"
                " updated_at = excluded.updated_at",
                telegram_id,
                language,
                workshop_id,
                now,
                now,
            )
            row = await db.fetchrow(
                "SELECT * FROM participants WHERE workshop_id = ? AND telegram_id = ?",
                workshop_id,
                telegram_id,
            )
        assert row is not None
        return _participant(row), added == 1

    async def participant(self: _Base, workshop_id: int, telegram_id: int) -> Participant | None:
        """Return a person's participation in a workshop."""
        row = await self._row(
            "SELECT * FROM participants WHERE workshop_id = ? AND telegram_id = ?",
            workshop_id,
            telegram_id,
        )
        return _participant(row) if row else None

    async def participant_by_id(self: _Base, participant_id: int) -> Participant | None:
        """Return a participant by id."""
        row = await self._row("SELECT * FROM participants WHERE id = ?", participant_id)
        return _participant(row) if row else None

    async def participations(self: _Base, telegram_id: int) -> list[tuple[Participant, Workshop]]:
        """Return every workshop a person joined, newest first."""
        rows = await self._rows(
            "SELECT p.*, w.id AS w_id, w.slug, w.join_code, w.language, w.timezone,"
            " w.start_date, w.end_date, w.spec_json, w.organizer_chat_id,"
            " w.evaluation_opened_at, w.association_id FROM participants p"
            " JOIN workshops w ON w.id = p.workshop_id"
            " WHERE p.telegram_id = ? ORDER BY p.joined_at DESC, p.id DESC",
            telegram_id,
        )
        # The participant's own id is `id`; the workshop's came as `w_id`.
        return [(_participant(r), _workshop({**dict(r), "id": r["w_id"]})) for r in rows]

    async def update_profile(self: _Base, participant_id: int, *, field: str, value: str) -> None:
        """Set one profile field (name, institution, position, country)."""
        if field not in PROFILE_FIELDS:
            raise ValueError(f"not a profile field: {field}")
        # The column name comes from the fixed set above, never from input.
        sql = f"UPDATE participants SET {field} = ? WHERE id = ?"  # noqa: S608
        async with self._work() as db:
            await db.execute(sql, value, participant_id)

    async def mark_profile_done(self: _Base, participant_id: int) -> None:
        """Record that a participant gave every detail organizers need."""
        async with self._work() as db:
            await db.execute(
                "UPDATE participants SET profile_done = TRUE WHERE id = ?", participant_id
            )

    # Programmes

    async def set_event_codes(self: _Base, workshop_id: int, codes: Mapping[str, str]) -> None:
        """Replace a workshop's event join codes (event id to code)."""
        async with self._work() as db:
            await db.execute("DELETE FROM event_codes WHERE workshop_id = ?", workshop_id)
            for event_id, code in codes.items():
                await db.execute(
                    "INSERT INTO event_codes (join_code, workshop_id, event_id) VALUES (?, ?, ?)",
                    code,
                    workshop_id,
                    event_id,
                )

    async def event_codes(self: _Base, workshop_id: int) -> dict[str, str]:
        """Return a workshop's event join codes by event id."""
        rows = await self._rows(
            "SELECT event_id, join_code FROM event_codes WHERE workshop_id = ? ORDER BY event_id",
            workshop_id,
        )
        return {r["event_id"]: r["join_code"] for r in rows}

    async def workshop_by_event_code(self: _Base, join_code: str) -> tuple[Workshop, str] | None:
        """Return the workshop and event id an event join code leads to."""
        row = await self._row(
            "SELECT w.*, c.event_id FROM event_codes c JOIN workshops w ON w.id = c.workshop_id"
            " WHERE c.join_code = ?",
            join_code,
        )
        return (_workshop(row), row["event_id"]) if row else None

    async def add_event_members(
        self: _Base, participant_id: int, event_ids: Sequence[str], now: datetime
    ) -> list[str]:
        """Enrol a participant in events once each; return the new ones, in the given order."""
        added: list[str] = []
        async with self._work() as db:
            for event_id in event_ids:
                new = await db.execute(
                    "INSERT INTO event_members (participant_id, event_id, joined_at)"
                    " VALUES (?, ?, ?) ON CONFLICT (participant_id, event_id) DO NOTHING",
                    participant_id,
                    event_id,
                    now,
                )
                if new == 1:
                    added.append(event_id)
        return added

    async def event_members(self: _Base, workshop_id: int) -> dict[int, frozenset[str]]:
        """Return the events each participant of a workshop is enrolled in (forgotten too)."""
        rows = await self._rows(
            "SELECT m.participant_id, m.event_id FROM event_members m"
            " JOIN participants p ON p.id = m.participant_id WHERE p.workshop_id = ?"
            " ORDER BY m.participant_id, m.event_id",
            workshop_id,
        )
        found: dict[int, set[str]] = {}
        for r in rows:
            found.setdefault(int(r["participant_id"]), set()).add(r["event_id"])
        return {pid: frozenset(events) for pid, events in found.items()}

    async def events_of(self: _Base, participant_id: int) -> frozenset[str]:
        """Return the events one participant is enrolled in."""
        rows = await self._rows(
            "SELECT event_id FROM event_members WHERE participant_id = ?", participant_id
        )
        return frozenset(r["event_id"] for r in rows)

    # Questionnaires

    async def start_response(
        self: _Base,
        *,
        participant_id: int,
        questionnaire_id: str,
        version: int,
        first_question: str,
        now: datetime,
    ) -> Response:
        """Return the participant's response to a questionnaire, creating it once."""
        async with self._work() as db:
            await db.execute(
                "INSERT INTO responses (participant_id, questionnaire_id, version,"
                " current_question, started_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (participant_id, questionnaire_id) DO NOTHING",
                participant_id,
                questionnaire_id,
                version,
                first_question,
                now,
                now,
            )
            row = await db.fetchrow(
                "SELECT * FROM responses WHERE participant_id = ? AND questionnaire_id = ?",
                participant_id,
                questionnaire_id,
            )
        assert row is not None
        return _response(row)

    async def response(self: _Base, response_id: int) -> Response | None:
        """Return a response by id."""
        row = await self._row("SELECT * FROM responses WHERE id = ?", response_id)
        return _response(row) if row else None

    async def answers(self: _Base, response_id: int) -> dict[str, AnswerValue]:
        """Return the answers of a response by question id."""
        rows = await self._rows(
            "SELECT question_id, value_json FROM answers WHERE response_id = ?", response_id
        )
        return {r["question_id"]: from_json(r["value_json"]) for r in rows}

    async def find_response(
        self: _Base, participant_id: int, questionnaire_id: str
    ) -> Response | None:
        """Return a participant's response to a questionnaire, if started."""
        row = await self._row(
            "SELECT * FROM responses WHERE participant_id = ? AND questionnaire_id = ?",
            participant_id,
            questionnaire_id,
        )
        return _response(row) if row else None

    async def move_to(
        self: _Base, response_id: int, question_id: str | None, *, reviewing: bool, now: datetime
    ) -> None:
        """Point a response at a question (or at its review, with None)."""
        async with self._work() as db:
            await db.execute(
                "UPDATE responses SET current_question = ?, reviewing = ?, updated_at = ?"
                " WHERE id = ?",
                question_id,
                reviewing,
                now,
                response_id,
            )

    async def submit_response(self: _Base, response_id: int, now: datetime) -> bool:
        """Mark a response submitted; return False if it already was."""
        async with self._work() as db:
            submitted = await db.execute(
                "UPDATE responses SET submitted_at = ?, current_question = NULL,"
                " reviewing = FALSE, updated_at = ? WHERE id = ? AND submitted_at IS NULL",
                now,
                now,
                response_id,
            )
        return submitted == 1

    async def reopen_response(self: _Base, response_id: int, version: int, now: datetime) -> None:
        """Move an unsubmitted response to another questionnaire version."""
        async with self._work() as db:
            await db.execute(
                "UPDATE responses SET version = ?, updated_at = ?"
                " WHERE id = ? AND submitted_at IS NULL",
                version,
                now,
                response_id,
            )

    async def rekey_response(self: _Base, response_id: int, questionnaire_id: str) -> None:
        """Give a draft's response the key of the record its first answer created."""
        async with self._work() as db:
            await db.execute(
                "UPDATE responses SET questionnaire_id = ? WHERE id = ?",
                questionnaire_id,
                response_id,
            )

    async def discard_response(self: _Base, response_id: int) -> None:
        """Delete an unsubmitted response and its answers (a draft left as it was)."""
        async with self._work() as db:
            await db.execute(
                "DELETE FROM answers WHERE response_id IN"
                " (SELECT id FROM responses WHERE id = ? AND submitted_at IS NULL)",
                response_id,
            )
            await db.execute(
                "DELETE FROM responses WHERE id = ? AND submitted_at IS NULL", response_id
            )

    # Scores

    async def save_dimension_scores(
        self: _Base, response_id: int, scores: dict[str, float | None]
    ) -> None:
        """Keep a submitted response's score per dimension (replacing earlier ones)."""
        async with self._work() as db:
            for section, score in scores.items():
                await db.execute(
                    "INSERT INTO dimension_scores (response_id, section_id, score)"
                    " VALUES (?, ?, ?) ON CONFLICT (response_id, section_id)"
                    " DO UPDATE SET score = excluded.score",
                    response_id,
                    section,
                    score,
                )

    async def unscored_responses(self: _Base, workshop_id: int, questionnaire_id: str) -> list[int]:
        """Return submitted responses of a workshop with no dimension scores kept yet."""
        rows = await self._rows(
            "SELECT r.id FROM responses r JOIN participants p ON p.id = r.participant_id"
            " WHERE p.workshop_id = ? AND r.questionnaire_id = ?"
            " AND r.submitted_at IS NOT NULL"
            " AND NOT EXISTS (SELECT 1 FROM dimension_scores d WHERE d.response_id = r.id)"
            " ORDER BY r.id",
            workshop_id,
            questionnaire_id,
        )
        return [int(r["id"]) for r in rows]

    async def group_dimension_means(
        self: _Base, workshop_id: int, questionnaire_id: str
    ) -> tuple[int, dict[str, tuple[float | None, int]]]:
        """Return how many submitted, and each dimension's mean score with its count."""
        rows = await self._rows(
            "SELECT d.section_id, AVG(d.score) AS mean, COUNT(d.score) AS n,"
            " COUNT(DISTINCT d.response_id) AS people FROM dimension_scores d"
            " JOIN responses r ON r.id = d.response_id"
            " JOIN participants p ON p.id = r.participant_id"
            " WHERE p.workshop_id = ? AND r.questionnaire_id = ?"
            " AND r.submitted_at IS NOT NULL GROUP BY d.section_id",
            workshop_id,
            questionnaire_id,
        )
        people = max((int(r["people"]) for r in rows), default=0)
        return people, {r["section_id"]: (r["mean"], int(r["n"])) for r in rows}

    # Privacy

    async def export_user(self: _Base, telegram_id: int) -> dict[str, Any]:
        """Return every record kept about a person, as plain data."""
        async with self._reading() as db:
            user = await db.fetchrow(
                "SELECT telegram_id, language, timezone, active_workshop_id, created_at,"
                " updated_at FROM users WHERE telegram_id = ?",
                telegram_id,
            )
            dialog = await db.fetchrow("SELECT * FROM dialogs WHERE telegram_id = ?", telegram_id)
            parts = await db.fetch(
                "SELECT p.*, w.slug FROM participants p JOIN workshops w ON w.id = p.workshop_id"
                " WHERE p.telegram_id = ? ORDER BY p.id",
                telegram_id,
            )
            participations = [await _export_participation(db, p) for p in parts]
            viewing = await db.fetch(
                "SELECT a.slug, v.added_at, v.digest FROM association_viewers v"
                " JOIN associations a ON a.id = v.association_id WHERE v.telegram_id = ?",
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

    async def forget_user(self: _Base, telegram_id: int, now: datetime) -> int:
        """Remove what identifies a person; return how many participations were cleared."""
        async with self._work() as db:
            cleared = await forget(db, self._dialect, telegram_id, now)
        await self._after_erasure()
        return cleared

    async def workshops_to_purge(self: _Base, before: date) -> list[Workshop]:
        """Return workshops not purged yet whose last day is before `before`."""
        rows = await self._rows(
            "SELECT * FROM workshops WHERE purged_at IS NULL AND end_date < ? ORDER BY id",
            before,
        )
        return [_workshop(r) for r in rows]

    async def purge_workshop(self: _Base, workshop_id: int, now: datetime) -> int:
        """Remove what identifies every participant of a workshop; return how many."""
        async with self._work() as db:
            rows = await db.fetch(
                "SELECT id, telegram_id FROM participants WHERE workshop_id = ?"
                " AND forgotten_at IS NULL",
                workshop_id,
            )
            ids = [int(r["id"]) for r in rows]
            await anonymize(db, self._dialect, ids, now)
            await db.execute("UPDATE workshops SET purged_at = ? WHERE id = ?", now, workshop_id)
            # Preferences go too, for people with nothing left here and no role to keep.
            for telegram_id in {r["telegram_id"] for r in rows if r["telegram_id"] is not None}:
                left = await db.fetchval(
                    "SELECT (SELECT COUNT(*) FROM participants WHERE telegram_id = ?)"
                    " + (SELECT COUNT(*) FROM organizers WHERE telegram_id = ?)"
                    " + (SELECT COUNT(*) FROM association_viewers WHERE telegram_id = ?)",
                    telegram_id,
                    telegram_id,
                    telegram_id,
                )
                if left == 0:
                    await db.execute("DELETE FROM dialogs WHERE telegram_id = ?", telegram_id)
                    await db.execute("DELETE FROM users WHERE telegram_id = ?", telegram_id)
        await self._after_erasure()
        return len(ids)


async def _export_participation(db: Db, p: Row) -> dict[str, Any]:
    """Return one participation with its responses, plans and updates, as plain data."""
    responses = []
    for r in await db.fetch(
        "SELECT * FROM responses WHERE participant_id = ? ORDER BY id", p["id"]
    ):
        answers = await db.fetch(
            "SELECT question_id, value_json, answered_at FROM answers"
            " WHERE response_id = ? ORDER BY answered_at, question_id",
            r["id"],
        )
        responses.append(
            {
                "questionnaire": r["questionnaire_id"],
                "version": r["version"],
                "started_at": _iso(r["started_at"]),
                "submitted_at": _iso(r["submitted_at"]),
                "answers": [
                    {
                        "question": a["question_id"],
                        "answer": from_json(a["value_json"]),
                        "answered_at": _iso(a["answered_at"]),
                    }
                    for a in answers
                ],
            }
        )
    plans = await db.fetch(
        "SELECT pl.id, pl.title, pl.objective, pl.sdgs, m.role,"
        " m.contact_at AS contact_consent_at, m.contact_handle FROM plans pl"
        " JOIN plan_members m ON m.plan_id = pl.id WHERE m.participant_id = ? ORDER BY pl.id",
        p["id"],
    )
    updates = await db.fetch(
        "SELECT u.step_id, s.action, u.status, u.note, u.created_at,"
        " (SELECT COUNT(*) FROM update_evidence e WHERE e.update_id = u.id)"
        " AS evidence FROM step_updates u JOIN plan_steps s ON s.id = u.step_id"
        " WHERE u.author_id = ? ORDER BY u.id",
        p["id"],
    )
    events = await db.fetch(
        "SELECT event_id AS event, joined_at FROM event_members"
        " WHERE participant_id = ? ORDER BY event_id",
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
        "consent_at": _iso(p["consent_at"]),
        "joined_at": _iso(p["joined_at"]),
        "responses": responses,
    }


def _iso(value: Any) -> Any:
    """Return a stored time or day as ISO text, as it comes from either backend."""
    return value.isoformat() if isinstance(value, datetime | date) else value
