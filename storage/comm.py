"""Organizers, schedules, broadcasts and the outbox: SQL written once for every backend."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any, Protocol

from storage.models import (
    AnswerSet,
    Attendance,
    Broadcast,
    BroadcastStatus,
    InviteStatus,
    Organizer,
    OutboxRow,
    OutMessage,
    Recipient,
    ScheduledItem,
    ScheduledRow,
    SessionRating,
    SyncResult,
    Workshop,
)
from storage.portable import Portable, marks
from storage.rows import BROADCAST_FIELDS, group_answer_rows, invite_status, req_dt
from storage.rows import broadcast as _broadcast
from storage.rows import organizer as _organizer
from storage.rows import outbox as _outbox
from storage.rows import recipient as _recipient
from storage.rows import scheduled as _scheduled
from storage.rows import workshop as _workshop
from storage.schedule_diff import diff_schedule, payload_json


class _Base(Portable, Protocol):
    async def complete_scheduled_together(
        self, closes: list[tuple[int, str]], messages: list[OutMessage], now: datetime
    ) -> bool: ...


class _AlreadyClosed(Exception):
    """One of several occasions closed together was closed already: roll them all back."""


class CommunicationMixin:
    """Organizers, schedules, broadcasts and the outbox, for every store."""

    # Organizers

    async def all_workshops(self: _Base) -> list[Workshop]:
        """Return every workshop, newest first."""
        rows = await self._rows("SELECT * FROM workshops ORDER BY start_date DESC, id DESC")
        return [_workshop(r) for r in rows]

    async def add_organizer(
        self: _Base, workshop_id: int, telegram_id: int, now: datetime, name: str | None = None
    ) -> None:
        """Make someone an organizer of a workshop (once)."""
        async with self._work() as db:
            await db.execute(
                "INSERT INTO organizers (workshop_id, telegram_id, added_at, name)"
                " VALUES (?, ?, ?, ?) ON CONFLICT (workshop_id, telegram_id) DO NOTHING",
                workshop_id,
                telegram_id,
                now,
                name,
            )

    async def organizer_roster(self: _Base, workshop_id: int) -> list[Organizer]:
        """Return a workshop's organizers, first appointed first."""
        rows = await self._rows(
            "SELECT * FROM organizers WHERE workshop_id = ? ORDER BY added_at, telegram_id",
            workshop_id,
        )
        return [_organizer(r) for r in rows]

    async def remove_organizer(self: _Base, workshop_id: int, telegram_id: int) -> bool:
        """Remove an organizer from a workshop; tell whether they were one."""
        async with self._work() as db:
            touched = await db.execute(
                "DELETE FROM organizers WHERE workshop_id = ? AND telegram_id = ?",
                workshop_id,
                telegram_id,
            )
            return touched > 0

    async def is_organizer(self: _Base, workshop_id: int, telegram_id: int) -> bool:
        """Tell whether someone organizes a workshop."""
        row = await self._row(
            "SELECT 1 FROM organizers WHERE workshop_id = ? AND telegram_id = ?",
            workshop_id,
            telegram_id,
        )
        return row is not None

    async def organizers_of(self: _Base, workshop_id: int) -> list[int]:
        """Return the Telegram ids of a workshop's organizers."""
        rows = await self._rows(
            "SELECT telegram_id FROM organizers WHERE workshop_id = ? ORDER BY added_at",
            workshop_id,
        )
        return [int(r["telegram_id"]) for r in rows]

    async def organizer_workshops(self: _Base, telegram_id: int) -> list[Workshop]:
        """Return the workshops someone organizes, newest first."""
        rows = await self._rows(
            "SELECT w.* FROM workshops w JOIN organizers o ON o.workshop_id = w.id"
            " WHERE o.telegram_id = ? ORDER BY w.start_date DESC, w.id DESC",
            telegram_id,
        )
        return [_workshop(r) for r in rows]

    async def create_organizer_invite(
        self: _Base, token: str, workshop_id: int, created_by: int, now: datetime
    ) -> None:
        """Store a one-time organizer invitation."""
        async with self._work() as db:
            await db.execute(
                "INSERT INTO organizer_invites (token, workshop_id, created_by, created_at)"
                " VALUES (?, ?, ?, ?)",
                token,
                workshop_id,
                created_by,
                now,
            )

    async def use_organizer_invite(
        self: _Base,
        token: str,
        telegram_id: int,
        name: str | None,
        now: datetime,
        not_before: datetime,
    ) -> tuple[InviteStatus, int | None]:
        """Redeem an invitation created at or after `not_before`, with its workshop id."""
        async with self._work() as db:
            # Locked so that two people tapping the same link at once cannot both redeem it.
            row = await db.fetchrow(
                "SELECT workshop_id, created_at, used_at, revoked_at FROM organizer_invites"  # noqa: S608
                f" WHERE token = ?{self._dialect.for_update}",
                token,
            )
            if row is None:
                return "unknown", None
            status = invite_status(
                req_dt(row["created_at"]), row["used_at"], row["revoked_at"], not_before
            )
            if status != "ok":
                return status, row["workshop_id"]
            await db.execute(
                "UPDATE organizer_invites SET used_by = ?, used_at = ? WHERE token = ?",
                telegram_id,
                now,
                token,
            )
            await db.execute(
                "INSERT INTO organizers (workshop_id, telegram_id, added_at, name)"
                " VALUES (?, ?, ?, ?) ON CONFLICT (workshop_id, telegram_id) DO NOTHING",
                row["workshop_id"],
                telegram_id,
                now,
                name,
            )
            return "ok", row["workshop_id"]

    async def pending_organizer_invites(
        self: _Base, workshop_id: int, not_before: datetime
    ) -> list[datetime]:
        """Return when each usable invitation of a workshop was created, oldest first."""
        t = self._dialect.time
        rows = await self._rows(
            "SELECT created_at FROM organizer_invites WHERE workshop_id = ?"  # noqa: S608
            f" AND used_at IS NULL AND revoked_at IS NULL AND {t('created_at')} >= {t('?')}"
            " ORDER BY created_at",
            workshop_id,
            not_before,
        )
        return [req_dt(r["created_at"]) for r in rows]

    async def revoke_organizer_invites(self: _Base, workshop_id: int, now: datetime) -> int:
        """Cancel a workshop's unused invitations; return how many."""
        async with self._work() as db:
            touched = await db.execute(
                "UPDATE organizer_invites SET revoked_at = ? WHERE workshop_id = ?"
                " AND used_at IS NULL AND revoked_at IS NULL",
                now,
                workshop_id,
            )
            return touched

    async def set_live_message(self: _Base, response_id: int, message_id: int | None) -> None:
        """Remember (or forget, with None) the message a questionnaire is answered in."""
        async with self._work() as db:
            await db.execute(
                "UPDATE responses SET live_message_id = ? WHERE id = ?", message_id, response_id
            )

    async def set_organizer_chat(self: _Base, workshop_id: int, chat_id: int | None) -> None:
        """Link (or unlink, with None) the organizers' group of a workshop."""
        async with self._work() as db:
            await db.execute(
                "UPDATE workshops SET organizer_chat_id = ? WHERE id = ?", chat_id, workshop_id
            )

    # Participants as recipients

    async def set_reminders_muted(self: _Base, participant_id: int, muted: bool) -> None:
        """Mute or restore automatic reminders for a participant."""
        async with self._work() as db:
            await db.execute(
                "UPDATE participants SET reminders_muted = ? WHERE id = ?", muted, participant_id
            )

    async def set_unreachable(self: _Base, telegram_id: int, now: datetime | None) -> None:
        """Mark a person unreachable (blocked the bot), or reachable again with None."""
        async with self._work() as db:
            await db.execute(
                "UPDATE participants SET unreachable_at = ? WHERE telegram_id = ?",
                now,
                telegram_id,
            )

    async def set_attendance(
        self: _Base, participant_id: int, attendance: Attendance | None
    ) -> None:
        """Record how a participant attends a hybrid workshop ('in_person' or 'online')."""
        async with self._work() as db:
            await db.execute(
                "UPDATE participants SET attendance = ? WHERE id = ?", attendance, participant_id
            )

    async def recipients(
        self: _Base, workshop_id: int, dgca_id: str, evaluation_id: str
    ) -> list[Recipient]:
        """Return every reachable-or-not participant of a workshop with their progress."""
        rows = await self._rows(
            "SELECT p.id, p.telegram_id, p.institution, p.reminders_muted, p.unreachable_at,"
            " p.attendance, u.language, u.timezone,"
            " EXISTS (SELECT 1 FROM responses r WHERE r.participant_id = p.id"
            "   AND r.questionnaire_id = ? AND r.submitted_at IS NOT NULL) AS dgca_done,"
            " EXISTS (SELECT 1 FROM responses r WHERE r.participant_id = p.id"
            "   AND r.questionnaire_id = ? AND r.submitted_at IS NOT NULL) AS eval_done"
            " FROM participants p LEFT JOIN users u ON u.telegram_id = p.telegram_id"
            " WHERE p.workshop_id = ? AND p.telegram_id IS NOT NULL ORDER BY p.id",
            dgca_id,
            evaluation_id,
            workshop_id,
        )
        return [_recipient(r) for r in rows]

    # Evaluation and reports

    async def set_evaluation_opened(self: _Base, workshop_id: int, when: datetime) -> None:
        """Record that an organizer opened the evaluation by hand."""
        async with self._work() as db:
            await db.execute(
                "UPDATE workshops SET evaluation_opened_at = ? WHERE id = ?", when, workshop_id
            )

    async def answer_sets(self: _Base, workshop_id: int, questionnaire_id: str) -> list[AnswerSet]:
        """Return every participant's answers to a questionnaire of a workshop."""
        rows = await self._rows(
            "SELECT r.id AS response_id, r.participant_id, r.submitted_at, p.institution,"
            " a.question_id, a.value_json, a.answered_at FROM responses r"
            " JOIN participants p ON p.id = r.participant_id"
            " LEFT JOIN answers a ON a.response_id = r.id"
            " WHERE p.workshop_id = ? AND r.questionnaire_id = ? ORDER BY r.participant_id",
            workshop_id,
            questionnaire_id,
        )
        # Decoding tens of thousands of rows is CPU work: keep it off the event loop.
        return await asyncio.to_thread(group_answer_rows, rows)

    async def rate_session(
        self: _Base,
        participant_id: int,
        workshop_id: int,
        session_id: str,
        rating: int,
        now: datetime,
    ) -> None:
        """Store (or change) a participant's rating of a session."""
        async with self._work() as db:
            await db.execute(
                "INSERT INTO session_feedback (participant_id, workshop_id, session_id, rating,"
                " rated_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (participant_id, session_id)"
                " DO UPDATE SET rating = EXCLUDED.rating, rated_at = EXCLUDED.rated_at",
                participant_id,
                workshop_id,
                session_id,
                rating,
                now,
            )

    async def comment_session(
        self: _Base, participant_id: int, session_id: str, comment: str
    ) -> bool:
        """Add a comment to a rating already given; False if there is no rating."""
        async with self._work() as db:
            touched = await db.execute(
                "UPDATE session_feedback SET comment = ? WHERE participant_id = ?"
                " AND session_id = ?",
                comment,
                participant_id,
                session_id,
            )
        return touched == 1

    async def session_ratings(self: _Base, workshop_id: int) -> list[SessionRating]:
        """Return every session rating of a workshop."""
        rows = await self._rows(
            "SELECT participant_id, session_id, rating, comment FROM session_feedback"
            " WHERE workshop_id = ? ORDER BY session_id, participant_id",
            workshop_id,
        )
        return [
            SessionRating(r["participant_id"], r["session_id"], int(r["rating"]), r["comment"])
            for r in rows
        ]

    async def ratings_of(self: _Base, participant_id: int) -> dict[str, int]:
        """Return one participant's ratings, by session id."""
        rows = await self._rows(
            "SELECT session_id, rating FROM session_feedback WHERE participant_id = ?",
            participant_id,
        )
        return {r["session_id"]: int(r["rating"]) for r in rows}

    # Schedule

    async def sync_schedule(
        self: _Base, workshop_id: int, items: list[ScheduledItem], now: datetime
    ) -> SyncResult:
        """Make a workshop's schedule match `items`, touching only what changed."""
        async with self._work() as db:
            # Two imports of the same workshop at once would both insert its new occasions.
            if self._dialect.for_update:
                lock = f"SELECT 1 FROM workshops WHERE id = ?{self._dialect.for_update}"  # noqa: S608
                await db.execute(lock, workshop_id)
            rows = await db.fetch("SELECT * FROM scheduled WHERE workshop_id = ?", workshop_id)
            diff = diff_schedule([_scheduled(r) for r in rows], items, now)
            for row in diff.removed:
                await db.execute("DELETE FROM scheduled WHERE id = ?", row.id)
            for item in diff.added:
                await db.execute(
                    "INSERT INTO scheduled (workshop_id, key, kind, due_at, expires_at,"
                    " payload_json) VALUES (?, ?, ?, ?, ?, ?)",
                    workshop_id,
                    item.key,
                    item.kind,
                    item.due_at,
                    item.expires_at,
                    payload_json(item),
                )
            for old, item, status in diff.changed:
                await db.execute(
                    "UPDATE scheduled SET kind = ?, due_at = ?, expires_at = ?,"
                    " payload_json = ?, status = ?,"
                    " done_at = CASE WHEN ? = 'pending' THEN NULL ELSE done_at END"
                    " WHERE id = ?",
                    item.kind,
                    item.due_at,
                    item.expires_at,
                    payload_json(item),
                    status,
                    status,
                    old.id,
                )
        return diff.result()

    async def pending_schedule(self: _Base) -> list[ScheduledRow]:
        """Return every pending automatic message, soonest first."""
        rows = await self._rows(
            "SELECT * FROM scheduled WHERE status = 'pending' ORDER BY due_at, id"
        )
        return [_scheduled(r) for r in rows]

    async def schedule_of(self: _Base, workshop_id: int) -> list[ScheduledRow]:
        """Return a workshop's schedule, soonest first."""
        rows = await self._rows(
            "SELECT * FROM scheduled WHERE workshop_id = ? ORDER BY due_at, id", workshop_id
        )
        return [_scheduled(r) for r in rows]

    async def complete_scheduled(
        self: _Base,
        scheduled_id: int,
        status: str,
        messages: list[OutMessage],
        now: datetime,
    ) -> bool:
        """Queue an occasion's messages and close it, atomically; False if already closed."""
        return await self.complete_scheduled_together([(scheduled_id, status)], messages, now)

    async def complete_scheduled_together(
        self: _Base, closes: list[tuple[int, str]], messages: list[OutMessage], now: datetime
    ) -> bool:
        """Close several occasions (id, status) and queue their merged messages, atomically."""
        if not closes:
            return False
        try:
            async with self._work() as db:
                first_due = None
                for scheduled_id, status in closes:
                    due = await db.fetchval(
                        "UPDATE scheduled SET status = ?, done_at = ? WHERE id = ?"
                        " AND status = 'pending' RETURNING due_at",
                        status,
                        now,
                        scheduled_id,
                    )
                    if due is None:
                        raise _AlreadyClosed
                    first_due = first_due or due
                assert first_due is not None
                # The due time is part of the source so that a moved session gets a new
                # reminder; one occasion alone keeps the source it always had.
                ids = "+".join(str(scheduled_id) for scheduled_id, _ in closes)
                # SQLite's stored text as it is: the key never changes for a row already there.
                due_text = first_due if isinstance(first_due, str) else first_due.isoformat()
                source = f"sch:{ids}:{due_text}"
                await self._dialect.insert_outbox(db, source, messages, now)
                return True
        except _AlreadyClosed:
            return False

    # Outbox

    async def enqueue(self: _Base, source: str, messages: list[OutMessage], now: datetime) -> int:
        """Queue messages under a source; a chat gets at most one per source."""
        async with self._work() as db:
            return await self._dialect.insert_outbox(db, source, messages, now)

    async def pending_outbox(
        self: _Base, limit: int, after_id: int = 0, now: datetime | None = None
    ) -> list[OutboxRow]:
        """Return queued messages in order, from after `after_id`; given `now`, those due."""
        t = self._dialect.time
        rows = await self._rows(
            "SELECT * FROM outbox WHERE status = 'pending' AND id > ?"  # noqa: S608
            f" AND ({t('?')} IS NULL OR not_before IS NULL OR {t('not_before')} <= {t('?')})"
            " ORDER BY id LIMIT ?",
            after_id,
            now,
            now,
            limit,
        )
        return [_outbox(r) for r in rows]

    async def outbox_waiting(self: _Base, source: str, now: datetime) -> int:
        """Return how many messages of a source wait for a later time (the person's morning)."""
        t = self._dialect.time
        row = await self._row(
            "SELECT COUNT(*) AS n FROM outbox WHERE source = ? AND status = 'pending'"  # noqa: S608
            f" AND not_before IS NOT NULL AND {t('not_before')} > {t('?')}",
            source,
            now,
        )
        return 0 if row is None else int(row["n"])

    async def finish_outbox(
        self: _Base, outbox_id: int, status: str, now: datetime, error: str | None = None
    ) -> None:
        """Record how a queued message ended: sent, unreachable, failed or cancelled."""
        async with self._work() as db:
            await db.execute(
                "UPDATE outbox SET status = ?, attempts = attempts + 1, last_error = ?,"
                " sent_at = CASE WHEN ? = 'sent' THEN ? ELSE sent_at END"
                " WHERE id = ? AND status = 'pending'",
                status,
                error,
                status,
                now,
                outbox_id,
            )

    async def outbox_queued(self: _Base, outbox_id: int) -> bool:
        """Tell whether a queued message is still there (a /forget deletes it)."""
        return await self._row("SELECT 1 FROM outbox WHERE id = ?", outbox_id) is not None

    async def retry_outbox(self: _Base, outbox_id: int, error: str) -> int:
        """Count a failed attempt, leaving the message queued; return the attempts so far."""
        async with self._work() as db:
            attempts = await db.fetchval(
                "UPDATE outbox SET attempts = attempts + 1, last_error = ? WHERE id = ?"
                " RETURNING attempts",
                error,
                outbox_id,
            )
        return int(attempts) if attempts is not None else 0

    async def outbox_counts(self: _Base, source: str) -> dict[str, int]:
        """Return how many messages of a source are in each state."""
        rows = await self._rows(
            "SELECT status, COUNT(*) AS n FROM outbox WHERE source = ? GROUP BY status", source
        )
        return {r["status"]: int(r["n"]) for r in rows}

    async def cancel_outbox(self: _Base, source: str) -> int:
        """Withdraw the messages of a source not sent yet; return how many."""
        async with self._work() as db:
            touched = await db.execute(
                "UPDATE outbox SET status = 'cancelled' WHERE source = ? AND status = 'pending'",
                source,
            )
        return touched

    # Broadcasts

    async def create_broadcast(
        self: _Base, workshop_id: int, created_by: int, audience: str, now: datetime
    ) -> int:
        """Start a draft broadcast; return its id."""
        async with self._work() as db:
            broadcast_id = await db.fetchval(
                "INSERT INTO broadcasts (workshop_id, created_by, audience, status, created_at)"
                " VALUES (?, ?, ?, ?, ?) RETURNING id",
                workshop_id,
                created_by,
                audience,
                BroadcastStatus.DRAFT.value,
                now,
            )
        return int(broadcast_id)

    async def update_broadcast(self: _Base, broadcast_id: int, **fields: Any) -> None:
        """Change some fields of a broadcast."""
        unknown = set(fields) - BROADCAST_FIELDS
        if unknown:
            raise ValueError(f"not broadcast fields: {sorted(unknown)}")
        if not fields:
            return
        values = [v.value if isinstance(v, BroadcastStatus) else v for v in fields.values()]
        # Column names come from the fixed set above, never from input.
        assignments = ", ".join(f"{name} = ?" for name in fields)
        async with self._work() as db:
            await db.execute(
                f"UPDATE broadcasts SET {assignments} WHERE id = ?",  # noqa: S608
                *values,
                broadcast_id,
            )

    async def start_broadcast(
        self: _Base, broadcast_id: int, messages: list[OutMessage], now: datetime
    ) -> bool:
        """Queue a broadcast for its recipients and mark it sending, atomically."""
        async with self._work() as db:
            touched = await db.execute(
                "UPDATE broadcasts SET status = ?, started_at = ?"
                " WHERE id = ? AND status IN (?, ?)",
                BroadcastStatus.SENDING.value,
                now,
                broadcast_id,
                BroadcastStatus.DRAFT.value,
                BroadcastStatus.SCHEDULED.value,
            )
            if touched != 1:
                return False
            await self._dialect.insert_outbox(db, f"bc:{broadcast_id}", messages, now)
            return True

    async def broadcast(self: _Base, broadcast_id: int) -> Broadcast | None:
        """Return a broadcast by id."""
        row = await self._row("SELECT * FROM broadcasts WHERE id = ?", broadcast_id)
        return _broadcast(row) if row else None

    async def broadcasts_with_status(self: _Base, *statuses: BroadcastStatus) -> list[Broadcast]:
        """Return broadcasts in any of the given states, oldest first."""
        if not statuses:
            return []
        rows = await self._rows(
            f"SELECT * FROM broadcasts WHERE status IN ({marks(len(statuses))}) ORDER BY id",  # noqa: S608
            *(s.value for s in statuses),
        )
        return [_broadcast(r) for r in rows]
