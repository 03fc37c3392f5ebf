"""SQLite storage for action plans, check-ins, associations and their viewers."""

from __future__ import annotations

import json
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from datetime import date, datetime
from typing import Any, Protocol, TypeVar

import aiosqlite

from storage.models import (
    PLAN_FIELDS,
    STEP_FIELDS,
    Association,
    Checkin,
    Evidence,
    OutMessage,
    OverdueStep,
    Plan,
    PlanData,
    PlanStep,
    StepStatus,
    StepUpdate,
    Viewer,
    Workshop,
)
from storage.rows import (
    LATEST_UPDATE,
    MEMBER_SELECT,
    STEP_SELECT,
    assemble_plan_data,
    author,
    member_of_plan,
    plan_record,
    req_dt,
)
from storage.rows import association as _association
from storage.rows import checkin as _checkin
from storage.rows import evidence as _evidence
from storage.rows import plans as build_plans
from storage.rows import step as _step
from storage.rows import update as _update
from storage.rows import viewer as _viewer
from storage.sqlite_db import SqliteDb, SqliteDialect


def _ts(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


class _Base(Protocol):
    def _tx(self) -> AbstractAsyncContextManager[aiosqlite.Connection]: ...
    def _read(self) -> AbstractAsyncContextManager[aiosqlite.Connection]: ...
    async def _one(self, sql: str, params: tuple[Any, ...]) -> aiosqlite.Row | None: ...
    async def _all(self, sql: str, params: tuple[Any, ...]) -> list[aiosqlite.Row]: ...
    def _workshop_row(self, row: aiosqlite.Row) -> Workshop: ...


# Rows read at a time when many become models: each batch is turned into models as it
# comes (a few milliseconds on the loop) and dropped, so a large read never holds all its
# rows and all its models at once.
MODEL_BATCH = 500
T = TypeVar("T")


async def _models(
    db: aiosqlite.Connection,
    sql: str,
    params: tuple[Any, ...],
    convert: Callable[[Any], T],
) -> list[T]:
    out: list[T] = []
    async with db.execute(sql, params) as cur:
        while rows := await cur.fetchmany(MODEL_BATCH):
            out.extend(map(convert, rows))
    return out


async def _fetch(db: aiosqlite.Connection, sql: str, params: tuple[Any, ...]) -> list[Any]:
    async with db.execute(sql, params) as cur:
        return list(await cur.fetchall())


async def _load_plans(db: aiosqlite.Connection, where: str, params: tuple[Any, ...]) -> list[Plan]:
    rows = await _fetch(db, f"SELECT * FROM plans WHERE {where} ORDER BY id", params)  # noqa: S608
    if not rows:
        return []
    ids = tuple(r["id"] for r in rows)
    marks = ",".join("?" * len(ids))
    step_rows = await _fetch(
        db,
        f"{STEP_SELECT} WHERE s.plan_id IN ({marks}) AND s.removed_at IS NULL"
        " ORDER BY s.position, s.id",
        ids,
    )
    member_rows = await _fetch(
        db,
        f"{MEMBER_SELECT} WHERE m.plan_id IN ({marks}) ORDER BY m.role DESC, m.added_at",
        ids,
    )
    return build_plans(rows, step_rows, member_rows)


async def _touch(db: aiosqlite.Connection, plan_id: int, now: datetime) -> None:
    await db.execute("UPDATE plans SET updated_at = ? WHERE id = ?", (_ts(now), plan_id))


class PlanMixin:
    """Plans, steps, updates, check-ins, associations and viewers on SQLite."""

    # Associations and viewers

    async def upsert_association(self: _Base, slug: str, name: str, now: datetime) -> int:
        """Create an association by slug (or rename it); return its id."""
        async with self._tx() as db:
            await db.execute(
                "INSERT INTO associations (slug, name, created_at) VALUES (?, ?, ?)"
                " ON CONFLICT (slug) DO UPDATE SET name = excluded.name",
                (slug, name, _ts(now)),
            )
            async with db.execute("SELECT id FROM associations WHERE slug = ?", (slug,)) as cur:
                row = await cur.fetchone()
            assert row is not None
            return int(row["id"])

    async def set_workshop_association(
        self: _Base, workshop_id: int, association_id: int | None
    ) -> None:
        """Say which association a workshop belongs to (None: none)."""
        async with self._tx() as db:
            await db.execute(
                "UPDATE workshops SET association_id = ? WHERE id = ?",
                (association_id, workshop_id),
            )

    async def association(self: _Base, association_id: int) -> Association | None:
        """Return an association by id."""
        row = await self._one("SELECT * FROM associations WHERE id = ?", (association_id,))
        return _association(row) if row else None

    async def all_associations(self: _Base) -> list[Association]:
        """Return every association, by name."""
        rows = await self._all("SELECT * FROM associations ORDER BY name, id", ())
        return [_association(r) for r in rows]

    async def association_workshops(self: _Base, association_id: int) -> list[Workshop]:
        """Return the workshops of an association, newest first."""
        rows = await self._all(
            "SELECT * FROM workshops WHERE association_id = ? ORDER BY start_date DESC, id DESC",
            (association_id,),
        )
        return [self._workshop_row(r) for r in rows]

    async def add_viewer(
        self: _Base, association_id: int, telegram_id: int, added_by: int, now: datetime
    ) -> bool:
        """Make someone a viewer of an association; False if they already were."""
        async with self._tx() as db:
            cur = await db.execute(
                "INSERT INTO association_viewers (association_id, telegram_id, added_by,"
                " added_at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (association_id, telegram_id, added_by, _ts(now)),
            )
            return cur.rowcount == 1

    async def remove_viewer(self: _Base, association_id: int, telegram_id: int) -> bool:
        """Withdraw a viewer; False if they were not one."""
        async with self._tx() as db:
            cur = await db.execute(
                "DELETE FROM association_viewers WHERE association_id = ? AND telegram_id = ?",
                (association_id, telegram_id),
            )
            return cur.rowcount == 1

    async def viewers_of(self: _Base, association_id: int) -> list[Viewer]:
        """Return the viewers of an association."""
        rows = await self._all(
            "SELECT * FROM association_viewers WHERE association_id = ? ORDER BY added_at",
            (association_id,),
        )
        return [_viewer(r) for r in rows]

    async def viewer_associations(self: _Base, telegram_id: int) -> list[Association]:
        """Return the associations someone views, by name."""
        rows = await self._all(
            "SELECT a.* FROM associations a JOIN association_viewers v"
            " ON v.association_id = a.id WHERE v.telegram_id = ? ORDER BY a.name, a.id",
            (telegram_id,),
        )
        return [_association(r) for r in rows]

    async def set_digest(self: _Base, association_id: int, telegram_id: int, enabled: bool) -> bool:
        """Turn a viewer's monthly digest on or off; False if they are not a viewer."""
        async with self._tx() as db:
            cur = await db.execute(
                "UPDATE association_viewers SET digest = ? WHERE association_id = ?"
                " AND telegram_id = ?",
                (int(enabled), association_id, telegram_id),
            )
            return cur.rowcount == 1

    async def create_viewer_invite(
        self: _Base, token: str, association_id: int, created_by: int, now: datetime
    ) -> None:
        """Store a one-time viewer invitation."""
        async with self._tx() as db:
            await db.execute(
                "INSERT INTO viewer_invites (token, association_id, created_by, created_at)"
                " VALUES (?, ?, ?, ?)",
                (token, association_id, created_by, _ts(now)),
            )

    async def use_viewer_invite(
        self: _Base, token: str, telegram_id: int, name: str, now: datetime
    ) -> tuple[str, int | None]:
        """Redeem a viewer invitation: ('ok' | 'already' | 'used' | 'unknown', association)."""
        async with self._tx() as db:
            async with db.execute("SELECT * FROM viewer_invites WHERE token = ?", (token,)) as c:
                row = await c.fetchone()
            if row is None:
                return "unknown", None
            association_id = int(row["association_id"])
            # used_at, not used_by: /forget clears who used it, and it stays used. Its user
            # is "already" a viewer only while they still are one (a removed one is not).
            if row["used_at"] is not None:
                async with db.execute(
                    "SELECT 1 FROM association_viewers"
                    " WHERE association_id = ? AND telegram_id = ?",
                    (association_id, telegram_id),
                ) as c:
                    still = await c.fetchone() is not None
                mine = row["used_by"] == telegram_id and still
                return ("already" if mine else "used"), association_id
            await db.execute(
                "UPDATE viewer_invites SET used_by = ?, used_at = ? WHERE token = ?",
                (telegram_id, _ts(now), token),
            )
            await db.execute(
                "INSERT INTO association_viewers (association_id, telegram_id, added_by,"
                " added_at, name) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO UPDATE SET"
                " name = excluded.name",
                (association_id, telegram_id, row["created_by"], _ts(now), name),
            )
            return "ok", association_id

    # Plans

    async def create_plan(
        self: _Base, workshop_id: int, owner_id: int, title: str, now: datetime
    ) -> int:
        """Start a plan owned by a participant; return its id."""
        async with self._tx() as db:
            cur = await db.execute(
                "INSERT INTO plans (workshop_id, owner_id, title, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (workshop_id, owner_id, title, _ts(now), _ts(now)),
            )
            plan_id = cur.lastrowid
            assert plan_id is not None
            await db.execute(
                "INSERT INTO plan_members (plan_id, participant_id, role, added_at)"
                " VALUES (?, ?, 'owner', ?)",
                (plan_id, owner_id, _ts(now)),
            )
            return plan_id

    async def plan(self: _Base, plan_id: int) -> Plan | None:
        """Return a plan with its live steps and members."""
        async with self._read() as db:
            plans = await _load_plans(db, "id = ?", (plan_id,))
        return plans[0] if plans else None

    async def plans_of(self: _Base, telegram_id: int) -> list[Plan]:
        """Return the plans someone owns or co-owns, oldest first."""
        async with self._read() as db:
            return await _load_plans(
                db,
                "id IN (SELECT m.plan_id FROM plan_members m JOIN participants p"
                " ON p.id = m.participant_id WHERE p.telegram_id = ?)",
                (telegram_id,),
            )

    async def plans_in(self: _Base, workshop_id: int) -> list[Plan]:
        """Return every plan of a workshop, oldest first."""
        async with self._read() as db:
            return await _load_plans(db, "workshop_id = ?", (workshop_id,))

    async def set_plan_field(
        self: _Base, plan_id: int, field: str, value: str | None, now: datetime
    ) -> None:
        """Change the title, objective or SDGs ("8,11") of a plan."""
        if field not in PLAN_FIELDS:
            raise ValueError(f"not a plan field: {field}")
        async with self._tx() as db:
            await db.execute(
                f"UPDATE plans SET {field} = ?, updated_at = ? WHERE id = ?",  # noqa: S608
                (value if value is not None or field != "sdgs" else "", _ts(now), plan_id),
            )

    async def add_step(self: _Base, plan_id: int, action: str, now: datetime) -> int:
        """Add a step at the end of a plan; return its id."""
        async with self._tx() as db:
            async with db.execute(
                "SELECT COALESCE(MAX(position), 0) + 1 FROM plan_steps WHERE plan_id = ?",
                (plan_id,),
            ) as cur:
                row = await cur.fetchone()
            assert row is not None
            cur = await db.execute(
                "INSERT INTO plan_steps (plan_id, position, action, created_at)"
                " VALUES (?, ?, ?, ?)",
                (plan_id, row[0], action, _ts(now)),
            )
            await _touch(db, plan_id, now)
            assert cur.lastrowid is not None
            return cur.lastrowid

    async def step(self: _Base, step_id: int) -> PlanStep | None:
        """Return a step (removed or not) with its current status."""
        row = await self._one(f"{STEP_SELECT} WHERE s.id = ?", (step_id,))
        return _step(row) if row else None

    async def set_step_field(
        self: _Base, step_id: int, field: str, value: str | None, now: datetime
    ) -> None:
        """Change one field of a step (due_date as ISO text)."""
        if field not in STEP_FIELDS:
            raise ValueError(f"not a step field: {field}")
        async with self._tx() as db:
            await db.execute(
                f"UPDATE plan_steps SET {field} = ? WHERE id = ?",  # noqa: S608
                (value, step_id),
            )
            await db.execute(
                "UPDATE plans SET updated_at = ? WHERE id = (SELECT plan_id FROM plan_steps"
                " WHERE id = ?)",
                (_ts(now), step_id),
            )

    async def remove_step(self: _Base, step_id: int, now: datetime) -> bool:
        """Take a step out of its plan, keeping its history; False if already out."""
        async with self._tx() as db:
            cur = await db.execute(
                "UPDATE plan_steps SET removed_at = ? WHERE id = ? AND removed_at IS NULL",
                (_ts(now), step_id),
            )
            return cur.rowcount == 1

    async def move_step(self: _Base, step_id: int, offset: int) -> bool:
        """Swap a step with its neighbour above (-1) or below (+1); False at an end."""
        async with self._tx() as db:
            async with db.execute(
                "SELECT plan_id, position FROM plan_steps WHERE id = ? AND removed_at IS NULL",
                (step_id,),
            ) as cur:
                me = await cur.fetchone()
            if me is None:
                return False
            order = "DESC" if offset < 0 else "ASC"
            compare = "<" if offset < 0 else ">"
            async with db.execute(
                "SELECT id, position FROM plan_steps WHERE plan_id = ? AND removed_at IS NULL"  # noqa: S608
                f" AND position {compare} ? ORDER BY position {order} LIMIT 1",
                (me["plan_id"], me["position"]),
            ) as cur:
                other = await cur.fetchone()
            if other is None:
                return False
            await db.execute(
                "UPDATE plan_steps SET position = ? WHERE id = ?", (other["position"], step_id)
            )
            await db.execute(
                "UPDATE plan_steps SET position = ? WHERE id = ?", (me["position"], other["id"])
            )
            return True

    # Teams

    async def set_team_token(self: _Base, plan_id: int, token: str) -> None:
        """Give a plan a (new) team invitation token."""
        async with self._tx() as db:
            await db.execute("UPDATE plans SET team_token = ? WHERE id = ?", (token, plan_id))

    async def plan_by_team_token(self: _Base, token: str) -> Plan | None:
        """Return the plan a team invitation leads to."""
        async with self._read() as db:
            plans = await _load_plans(db, "team_token = ?", (token,))
        return plans[0] if plans else None

    async def add_member(self: _Base, plan_id: int, participant_id: int, now: datetime) -> bool:
        """Make a participant a co-owner of a plan; False if already a member."""
        async with self._tx() as db:
            cur = await db.execute(
                "INSERT INTO plan_members (plan_id, participant_id, role, added_at)"
                " VALUES (?, ?, 'coowner', ?) ON CONFLICT DO NOTHING",
                (plan_id, participant_id, _ts(now)),
            )
            return cur.rowcount == 1

    async def set_contact(
        self: _Base, plan_id: int, participant_id: int, handle: str | None, now: datetime | None
    ) -> bool:
        """Record a member's contact consent (`now`), or withdraw it (None); False if no member."""
        async with self._tx() as db:
            cur = await db.execute(
                "UPDATE plan_members SET contact_at = ?, contact_handle = ?"
                " WHERE plan_id = ? AND participant_id = ?",
                (_ts(now), handle if now is not None else None, plan_id, participant_id),
            )
            return cur.rowcount == 1

    async def remove_member(self: _Base, plan_id: int, participant_id: int) -> bool:
        """Take a co-owner out of a plan (never the owner); False if not one."""
        async with self._tx() as db:
            cur = await db.execute(
                "DELETE FROM plan_members WHERE plan_id = ? AND participant_id = ?"
                " AND role = 'coowner'",
                (plan_id, participant_id),
            )
            return cur.rowcount == 1

    # Progress updates

    async def record_update(
        self: _Base,
        step_id: int,
        author_id: int,
        status: str,
        checkin_id: int | None,
        now: datetime,
    ) -> int:
        """Add an update to a step and count its plan's open check-ins answered."""
        StepStatus(status)
        async with self._tx() as db:
            async with db.execute("SELECT plan_id FROM plan_steps WHERE id = ?", (step_id,)) as c:
                row = await c.fetchone()
            assert row is not None
            if checkin_id is None:
                # The update answers the plan's latest open check-in, if one is waiting.
                async with db.execute(
                    "SELECT MAX(id) FROM plan_checkins WHERE plan_id = ? AND answered_at IS NULL",
                    (row["plan_id"],),
                ) as c:
                    found = await c.fetchone()
                checkin_id = found[0] if found else None
            cur = await db.execute(
                "INSERT INTO step_updates (step_id, author_id, status, checkin_id, created_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (step_id, author_id, status, checkin_id, _ts(now)),
            )
            update_id = cur.lastrowid
            assert update_id is not None
            await db.execute(
                "UPDATE plan_checkins SET answered_at = ? WHERE plan_id = ?"
                " AND answered_at IS NULL AND created_at <= ?",
                (_ts(now), row["plan_id"], _ts(now)),
            )
            await _touch(db, row["plan_id"], now)
            return update_id

    async def step_update(self: _Base, update_id: int) -> StepUpdate | None:
        """Return an update by id."""
        row = await self._one("SELECT * FROM step_updates WHERE id = ?", (update_id,))
        return _update(row) if row else None

    async def step_history(self: _Base, step_id: int) -> list[StepUpdate]:
        """Return every update of a step, oldest first."""
        rows = await self._all(
            "SELECT * FROM step_updates WHERE step_id = ? ORDER BY id", (step_id,)
        )
        return [_update(r) for r in rows]

    async def add_update_note(self: _Base, update_id: int, note: str, limit: int) -> bool:
        """Add text to the note of an update being written; False past `limit` characters."""
        async with self._tx() as db:
            async with db.execute(
                "SELECT note FROM step_updates WHERE id = ?", (update_id,)
            ) as cur:
                row = await cur.fetchone()
            if row is None:
                return False
            joined = f"{row['note']}\n{note}" if row["note"] else note
            if len(joined) > limit:
                return False
            await db.execute("UPDATE step_updates SET note = ? WHERE id = ?", (joined, update_id))
            return True

    async def add_evidence(
        self: _Base,
        update_id: int,
        kind: str,
        *,
        file_id: str | None,
        url: str | None,
        file_name: str | None,
        file_size: int | None,
        now: datetime,
    ) -> int:
        """Attach a photo, document or link to an update; return its id."""
        async with self._tx() as db:
            cur = await db.execute(
                "INSERT INTO update_evidence (update_id, kind, file_id, url, file_name,"
                " file_size, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (update_id, kind, file_id, url, file_name, file_size, _ts(now)),
            )
            assert cur.lastrowid is not None
            return cur.lastrowid

    async def evidence_item(self: _Base, evidence_id: int) -> tuple[Evidence, int] | None:
        """Return a piece of evidence and the workshop its plan belongs to."""
        row = await self._one(
            "SELECT e.*, p.workshop_id FROM update_evidence e"
            " JOIN step_updates u ON u.id = e.update_id JOIN plan_steps s ON s.id = u.step_id"
            " JOIN plans p ON p.id = s.plan_id WHERE e.id = ?",
            (evidence_id,),
        )
        return (_evidence(row), int(row["workshop_id"])) if row else None

    # Check-ins

    async def open_checkins(
        self: _Base,
        occasions: list[tuple[int, str, str]],
        messages: list[OutMessage],
        source: str,
        now: datetime,
        scheduled_id: int | None = None,
    ) -> list[Checkin]:
        """Record check-ins (plan, occasion, kind) and queue their messages, atomically.

        With `scheduled_id`, the occasion is closed in the same transaction; if it already
        was, nothing happens. A plan is asked once per occasion.
        """
        async with self._tx() as db:
            if scheduled_id is not None:
                cur = await db.execute(
                    "UPDATE scheduled SET status = 'done', done_at = ? WHERE id = ?"
                    " AND status = 'pending'",
                    (_ts(now), scheduled_id),
                )
                if cur.rowcount != 1:
                    return []
            opened: list[Checkin] = []
            for plan_id, occasion, kind in occasions:
                cur = await db.execute(
                    "INSERT INTO plan_checkins (plan_id, occasion, kind, created_at)"
                    " VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
                    (plan_id, occasion, kind, _ts(now)),
                )
                if cur.rowcount == 1:
                    assert cur.lastrowid is not None
                    opened.append(Checkin(cur.lastrowid, plan_id, occasion, kind, now, None, None))
            if opened or not occasions:
                await SqliteDialect().insert_outbox(SqliteDb(db), source, messages, now)
            return opened

    async def checkins_to_nudge(self: _Base, before: datetime) -> list[Checkin]:
        """Return unanswered, un-nudged check-ins asked before `before`."""
        rows = await self._all(
            "SELECT * FROM plan_checkins WHERE answered_at IS NULL AND nudged_at IS NULL"
            " AND created_at <= ? ORDER BY id",
            (_ts(before),),
        )
        return [_checkin(r) for r in rows]

    async def nudge_checkin(
        self: _Base, checkin_id: int, messages: list[OutMessage], now: datetime
    ) -> bool:
        """Mark a check-in nudged and queue the nudge, atomically; False if not due."""
        async with self._tx() as db:
            cur = await db.execute(
                "UPDATE plan_checkins SET nudged_at = ? WHERE id = ? AND nudged_at IS NULL"
                " AND answered_at IS NULL",
                (_ts(now), checkin_id),
            )
            if cur.rowcount != 1:
                return False
            await SqliteDialect().insert_outbox(SqliteDb(db), f"cn:{checkin_id}", messages, now)
            return True

    async def checkin(self: _Base, checkin_id: int) -> Checkin | None:
        """Return a check-in by id."""
        row = await self._one("SELECT * FROM plan_checkins WHERE id = ?", (checkin_id,))
        return _checkin(row) if row else None

    async def overdue_steps(self: _Base, before: date) -> list[OverdueStep]:
        """Return live open steps dated before `before` whose lateness was not asked about."""
        rows = await self._all(
            f"SELECT s.id, s.plan_id, s.due_date, p.workshop_id FROM plan_steps s"  # noqa: S608
            f" JOIN plans p ON p.id = s.plan_id LEFT JOIN ({LATEST_UPDATE}) l ON l.step_id = s.id"
            " WHERE s.removed_at IS NULL AND s.due_date IS NOT NULL AND s.due_date < ?"
            " AND COALESCE(l.status, 'not_started') NOT IN ('done', 'dropped')"
            " AND NOT EXISTS (SELECT 1 FROM plan_checkins c WHERE c.plan_id = s.plan_id"
            " AND c.occasion = 'due:' || s.id || ':' || s.due_date)"
            " ORDER BY s.due_date, s.id",
            (before.isoformat(),),
        )
        return [
            OverdueStep(r["id"], r["plan_id"], r["workshop_id"], date.fromisoformat(r["due_date"]))
            for r in rows
        ]

    # Dashboards

    async def plan_data(self: _Base, workshop_ids: list[int]) -> PlanData:
        """Return everything about the plans of some workshops, in one read."""
        if not workshop_ids:
            return PlanData([], [], [], [], [], {}, {})
        marks = ",".join("?" * len(workshop_ids))
        ids = tuple(workshop_ids)
        scope = f"SELECT id FROM plans WHERE workshop_id IN ({marks})"  # noqa: S608
        async with self._read() as db:
            plans = await _models(
                db,
                "SELECT pl.*, pa.institution FROM plans pl JOIN participants pa"  # noqa: S608
                f" ON pa.id = pl.owner_id WHERE pl.workshop_id IN ({marks})"
                " ORDER BY pl.id",
                ids,
                plan_record,
            )
            steps = await _models(
                db,
                f"{STEP_SELECT} WHERE s.plan_id IN ({scope}) ORDER BY s.plan_id, s.position",
                ids,
                _step,
            )
            updates = await _models(
                db,
                "SELECT u.* FROM step_updates u JOIN plan_steps s ON s.id = u.step_id"  # noqa: S608
                f" WHERE s.plan_id IN ({scope}) ORDER BY u.id",
                ids,
                _update,
            )
            evidence = await _models(
                db,
                "SELECT e.* FROM update_evidence e JOIN step_updates u ON u.id = e.update_id"  # noqa: S608
                " JOIN plan_steps s ON s.id = u.step_id"
                f" WHERE s.plan_id IN ({scope}) ORDER BY e.id",
                ids,
                _evidence,
            )
            checkins = await _models(
                db,
                f"SELECT * FROM plan_checkins WHERE plan_id IN ({scope}) ORDER BY id",  # noqa: S608
                ids,
                _checkin,
            )
            members = await _models(
                db, f"{MEMBER_SELECT} WHERE m.plan_id IN ({scope})", ids, member_of_plan
            )
            authors = await _models(
                db,
                "SELECT DISTINCT p.id, p.name FROM participants p JOIN step_updates u"  # noqa: S608
                " ON u.author_id = p.id JOIN plan_steps s ON s.id = u.step_id"
                f" WHERE s.plan_id IN ({scope})",
                ids,
                author,
            )
        return assemble_plan_data(plans, steps, updates, evidence, checkins, members, authors)

    async def last_digest(
        self: _Base, association_id: int, telegram_id: int
    ) -> tuple[str, dict[str, Any], datetime] | None:
        """Return the period, figures and time of the viewer's latest digest."""
        row = await self._one(
            "SELECT * FROM digests WHERE association_id = ? AND telegram_id = ?"
            " ORDER BY period DESC LIMIT 1",
            (association_id, telegram_id),
        )
        if row is None:
            return None
        return row["period"], json.loads(row["figures_json"]), req_dt(row["sent_at"])

    async def record_digest(
        self: _Base,
        association_id: int,
        telegram_id: int,
        period: str,
        figures: dict[str, Any],
        message: OutMessage,
        now: datetime,
    ) -> bool:
        """Queue a viewer's digest for a period once, with its figures; False if sent."""
        async with self._tx() as db:
            cur = await db.execute(
                "INSERT INTO digests (association_id, telegram_id, period, figures_json,"
                " sent_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (association_id, telegram_id, period, json.dumps(figures), _ts(now)),
            )
            if cur.rowcount != 1:
                return False
            await SqliteDialect().insert_outbox(
                SqliteDb(db), f"dg:{association_id}:{period}", [message], now
            )
            return True
