"""Action plans, check-ins, associations and their viewers: SQL written once for every backend."""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

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
from storage.portable import Db, Dialect, Portable
from storage.rows import (
    LATEST_UPDATE,
    MEMBER_SELECT,
    STEP_SELECT,
    assemble_plan_data,
    author,
    from_json,
    member_of_plan,
    opt_date,
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
from storage.rows import workshop as _workshop


async def _load_plans(db: Db, dialect: Dialect, where: str, *args: Any) -> list[Plan]:
    rows = await db.fetch(f"SELECT * FROM plans WHERE {where} ORDER BY id", *args)  # noqa: S608
    if not rows:
        return []
    ids = dialect.id_values([r["id"] for r in rows])
    step_rows = await db.fetch(
        f"{STEP_SELECT} WHERE s.plan_id IN ({dialect.id_list}) AND s.removed_at IS NULL"
        " ORDER BY s.position, s.id",
        ids,
    )
    member_rows = await db.fetch(
        f"{MEMBER_SELECT} WHERE m.plan_id IN ({dialect.id_list}) ORDER BY m.role DESC, m.added_at",
        ids,
    )
    return build_plans(rows, step_rows, member_rows)


def _day(value: str | date) -> date:
    found = opt_date(value)
    assert found is not None
    return found


async def _touch(db: Db, plan_id: int, now: datetime) -> None:
    await db.execute("UPDATE plans SET updated_at = ? WHERE id = ?", now, plan_id)


async def _lock_plan(db: Db, dialect: Dialect, plan_id: int) -> None:
    # Positions are read and then written: two edits of one plan's steps take turns
    # (on SQLite they do already: the unit of work holds the writer lock).
    if dialect.for_update:
        await db.execute(f"SELECT 1 FROM plans WHERE id = ?{dialect.for_update}", plan_id)  # noqa: S608


class PlanMixin:
    """Plans, steps, updates, check-ins, associations and viewers on every backend."""

    # Associations and viewers

    async def upsert_association(self: Portable, slug: str, name: str, now: datetime) -> int:
        """Create an association by slug (or rename it); return its id."""
        async with self._work() as db:
            association_id = await db.fetchval(
                "INSERT INTO associations (slug, name, created_at) VALUES (?, ?, ?)"
                " ON CONFLICT (slug) DO UPDATE SET name = EXCLUDED.name RETURNING id",
                slug,
                name,
                now,
            )
        return int(association_id)

    async def set_workshop_association(
        self: Portable, workshop_id: int, association_id: int | None
    ) -> None:
        """Say which association a workshop belongs to (None: none)."""
        async with self._work() as db:
            await db.execute(
                "UPDATE workshops SET association_id = ? WHERE id = ?",
                association_id,
                workshop_id,
            )

    async def association(self: Portable, association_id: int) -> Association | None:
        """Return an association by id."""
        row = await self._row("SELECT * FROM associations WHERE id = ?", association_id)
        return _association(row) if row else None

    async def all_associations(self: Portable) -> list[Association]:
        """Return every association, by name."""
        rows = await self._rows("SELECT * FROM associations ORDER BY name, id")
        return [_association(r) for r in rows]

    async def association_workshops(self: Portable, association_id: int) -> list[Workshop]:
        """Return the workshops of an association, newest first."""
        rows = await self._rows(
            "SELECT * FROM workshops WHERE association_id = ? ORDER BY start_date DESC, id DESC",
            association_id,
        )
        return [_workshop(r) for r in rows]

    async def add_viewer(
        self: Portable, association_id: int, telegram_id: int, added_by: int, now: datetime
    ) -> bool:
        """Make someone a viewer of an association; False if they already were."""
        async with self._work() as db:
            touched = await db.execute(
                "INSERT INTO association_viewers (association_id, telegram_id, added_by,"
                " added_at) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (association_id, telegram_id) DO NOTHING",
                association_id,
                telegram_id,
                added_by,
                now,
            )
        return touched == 1

    async def remove_viewer(self: Portable, association_id: int, telegram_id: int) -> bool:
        """Withdraw a viewer; False if they were not one."""
        async with self._work() as db:
            touched = await db.execute(
                "DELETE FROM association_viewers WHERE association_id = ? AND telegram_id = ?",
                association_id,
                telegram_id,
            )
        return touched == 1

    async def viewers_of(self: Portable, association_id: int) -> list[Viewer]:
        """Return the viewers of an association."""
        rows = await self._rows(
            "SELECT * FROM association_viewers WHERE association_id = ? ORDER BY added_at",
            association_id,
        )
        return [_viewer(r) for r in rows]

    async def viewer_associations(self: Portable, telegram_id: int) -> list[Association]:
        """Return the associations someone views, by name."""
        rows = await self._rows(
            "SELECT a.* FROM associations a JOIN association_viewers v"
            " ON v.association_id = a.id WHERE v.telegram_id = ? ORDER BY a.name, a.id",
            telegram_id,
        )
        return [_association(r) for r in rows]

    async def set_digest(
        self: Portable, association_id: int, telegram_id: int, enabled: bool
    ) -> bool:
        """Turn a viewer's monthly digest on or off; False if they are not a viewer."""
        async with self._work() as db:
            touched = await db.execute(
                "UPDATE association_viewers SET digest = ? WHERE association_id = ?"
                " AND telegram_id = ?",
                enabled,
                association_id,
                telegram_id,
            )
        return touched == 1

    async def create_viewer_invite(
        self: Portable, token: str, association_id: int, created_by: int, now: datetime
    ) -> None:
        """Store a one-time viewer invitation."""
        async with self._work() as db:
            await db.execute(
                "INSERT INTO viewer_invites (token, association_id, created_by, created_at)"
                " VALUES (?, ?, ?, ?)",
                token,
                association_id,
                created_by,
                now,
            )

    async def use_viewer_invite(
        self: Portable, token: str, telegram_id: int, name: str, now: datetime
    ) -> tuple[str, int | None]:
        """Redeem a viewer invitation: ('ok' | 'already' | 'used' | 'unknown', association)."""
        async with self._work() as db:
            # Locked so that two people tapping the same link at once cannot both redeem it.
            row = await db.fetchrow(
                f"SELECT * FROM viewer_invites WHERE token = ?{self._dialect.for_update}",  # noqa: S608
                token,
            )
            if row is None:
                return "unknown", None
            association_id = int(row["association_id"])
            # used_at, not used_by: /forget clears who used it, and it stays used. Its user
            # is "already" a viewer only while they still are one (a removed one is not).
            if row["used_at"] is not None:
                still = await db.fetchval(
                    "SELECT 1 FROM association_viewers WHERE association_id = ?"
                    " AND telegram_id = ?",
                    association_id,
                    telegram_id,
                )
                mine = row["used_by"] == telegram_id and still is not None
                return ("already" if mine else "used"), association_id
            await db.execute(
                "UPDATE viewer_invites SET used_by = ?, used_at = ? WHERE token = ?",
                telegram_id,
                now,
                token,
            )
            await db.execute(
                "INSERT INTO association_viewers (association_id, telegram_id, added_by,"
                " added_at, name) VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT (association_id, telegram_id) DO UPDATE SET name = EXCLUDED.name",
                association_id,
                telegram_id,
                row["created_by"],
                now,
                name,
            )
            return "ok", association_id

    # Plans

    async def create_plan(
        self: Portable, workshop_id: int, owner_id: int, title: str, now: datetime
    ) -> int:
        """Start a plan owned by a participant; return its id."""
        async with self._work() as db:
            plan_id = int(
                await db.fetchval(
                    "INSERT INTO plans (workshop_id, owner_id, title, created_at, updated_at)"
                    " VALUES (?, ?, ?, ?, ?) RETURNING id",
                    workshop_id,
                    owner_id,
                    title,
                    now,
                    now,
                )
            )
            await db.execute(
                "INSERT INTO plan_members (plan_id, participant_id, role, added_at)"
                " VALUES (?, ?, 'owner', ?)",
                plan_id,
                owner_id,
                now,
            )
        return plan_id

    async def plan(self: Portable, plan_id: int) -> Plan | None:
        """Return a plan with its live steps and members."""
        async with self._reading() as db:
            plans = await _load_plans(db, self._dialect, "id = ?", plan_id)
        return plans[0] if plans else None

    async def plans_of(self: Portable, telegram_id: int) -> list[Plan]:
        """Return the plans someone owns or co-owns, oldest first."""
        async with self._reading() as db:
            return await _load_plans(
                db,
                self._dialect,
                "id IN (SELECT m.plan_id FROM plan_members m JOIN participants p"
                " ON p.id = m.participant_id WHERE p.telegram_id = ?)",
                telegram_id,
            )

    async def plans_in(self: Portable, workshop_id: int) -> list[Plan]:
        """Return every plan of a workshop, oldest first."""
        async with self._reading() as db:
            return await _load_plans(db, self._dialect, "workshop_id = ?", workshop_id)

    async def set_plan_field(
        self: Portable, plan_id: int, field: str, value: str | None, now: datetime
    ) -> None:
        """Change the title, objective or SDGs ("8,11") of a plan."""
        if field not in PLAN_FIELDS:
            raise ValueError(f"not a plan field: {field}")
        async with self._work() as db:
            await db.execute(
                f"UPDATE plans SET {field} = ?, updated_at = ? WHERE id = ?",  # noqa: S608
                value if value is not None or field != "sdgs" else "",
                now,
                plan_id,
            )

    async def add_step(self: Portable, plan_id: int, action: str, now: datetime) -> int:
        """Add a step at the end of a plan; return its id."""
        async with self._work() as db:
            await _lock_plan(db, self._dialect, plan_id)
            step_id = await db.fetchval(
                "INSERT INTO plan_steps (plan_id, position, action, created_at)"
                " SELECT ?, COALESCE(MAX(position), 0) + 1, ?, ? FROM plan_steps"
                " WHERE plan_id = ? RETURNING id",
                plan_id,
                action,
                now,
                plan_id,
            )
            await _touch(db, plan_id, now)
        return int(step_id)

    async def step(self: Portable, step_id: int) -> PlanStep | None:
        """Return a step (removed or not) with its current status."""
        row = await self._row(f"{STEP_SELECT} WHERE s.id = ?", step_id)
        return _step(row) if row else None

    async def set_step_field(
        self: Portable, step_id: int, field: str, value: str | None, now: datetime
    ) -> None:
        """Change one field of a step (due_date as ISO text)."""
        if field not in STEP_FIELDS:
            raise ValueError(f"not a step field: {field}")
        stored: str | date | None = value
        if field == "due_date" and value:
            stored = date.fromisoformat(value)
        async with self._work() as db:
            await db.execute(
                f"UPDATE plan_steps SET {field} = ? WHERE id = ?",  # noqa: S608
                stored,
                step_id,
            )
            await db.execute(
                "UPDATE plans SET updated_at = ? WHERE id = (SELECT plan_id FROM plan_steps"
                " WHERE id = ?)",
                now,
                step_id,
            )

    async def remove_step(self: Portable, step_id: int, now: datetime) -> bool:
        """Take a step out of its plan, keeping its history; False if already out."""
        async with self._work() as db:
            touched = await db.execute(
                "UPDATE plan_steps SET removed_at = ? WHERE id = ? AND removed_at IS NULL",
                now,
                step_id,
            )
        return touched == 1

    async def move_step(self: Portable, step_id: int, offset: int) -> bool:
        """Swap a step with its neighbour above (-1) or below (+1); False at an end."""
        async with self._work() as db:
            plan_id = await db.fetchval("SELECT plan_id FROM plan_steps WHERE id = ?", step_id)
            if plan_id is None:
                return False
            await _lock_plan(db, self._dialect, plan_id)
            me = await db.fetchrow(
                "SELECT plan_id, position FROM plan_steps WHERE id = ? AND removed_at IS NULL",
                step_id,
            )
            if me is None:
                return False
            order = "DESC" if offset < 0 else "ASC"
            compare = "<" if offset < 0 else ">"
            other = await db.fetchrow(
                "SELECT id, position FROM plan_steps WHERE plan_id = ?"  # noqa: S608
                f" AND removed_at IS NULL AND position {compare} ?"
                f" ORDER BY position {order} LIMIT 1",
                me["plan_id"],
                me["position"],
            )
            if other is None:
                return False
            await db.execute(
                "UPDATE plan_steps SET position = ? WHERE id = ?", other["position"], step_id
            )
            await db.execute(
                "UPDATE plan_steps SET position = ? WHERE id = ?", me["position"], other["id"]
            )
            return True

    # Teams

    async def set_team_token(self: Portable, plan_id: int, token: str) -> None:
        """Give a plan a (new) team invitation token."""
        async with self._work() as db:
            await db.execute("UPDATE plans SET team_token = ? WHERE id = ?", token, plan_id)

    async def plan_by_team_token(self: Portable, token: str) -> Plan | None:
        """Return the plan a team invitation leads to."""
        async with self._reading() as db:
            plans = await _load_plans(db, self._dialect, "team_token = ?", token)
        return plans[0] if plans else None

    async def add_member(self: Portable, plan_id: int, participant_id: int, now: datetime) -> bool:
        """Make a participant a co-owner of a plan; False if already a member."""
        async with self._work() as db:
            touched = await db.execute(
                "INSERT INTO plan_members (plan_id, participant_id, role, added_at)"
                " VALUES (?, ?, 'coowner', ?) ON CONFLICT (plan_id, participant_id) DO NOTHING",
                plan_id,
                participant_id,
                now,
            )
        return touched == 1

    async def set_contact(
        self: Portable, plan_id: int, participant_id: int, handle: str | None, now: datetime | None
    ) -> bool:
        """Record a member's contact consent (`now`), or withdraw it (None); False if no member."""
        async with self._work() as db:
            touched = await db.execute(
                "UPDATE plan_members SET contact_at = ?, contact_handle = ?"
                " WHERE plan_id = ? AND participant_id = ?",
                now,
                handle if now is not None else None,
                plan_id,
                participant_id,
            )
        return touched == 1

    async def remove_member(self: Portable, plan_id: int, participant_id: int) -> bool:
        """Take a co-owner out of a plan (never the owner); False if not one."""
        async with self._work() as db:
            touched = await db.execute(
                "DELETE FROM plan_members WHERE plan_id = ? AND participant_id = ?"
                " AND role = 'coowner'",
                plan_id,
                participant_id,
            )
        return touched == 1

    # Progress updates

    async def record_update(
        self: Portable,
        step_id: int,
        author_id: int,
        status: str,
        checkin_id: int | None,
        now: datetime,
    ) -> int:
        """Add an update to a step and count its plan's open check-ins answered."""
        StepStatus(status)
        async with self._work() as db:
            plan_id = await db.fetchval("SELECT plan_id FROM plan_steps WHERE id = ?", step_id)
            assert plan_id is not None
            if checkin_id is None:
                # The update answers the plan's latest open check-in, if one is waiting.
                checkin_id = await db.fetchval(
                    "SELECT MAX(id) FROM plan_checkins WHERE plan_id = ? AND answered_at IS NULL",
                    plan_id,
                )
            update_id = await db.fetchval(
                "INSERT INTO step_updates (step_id, author_id, status, checkin_id, created_at)"
                " VALUES (?, ?, ?, ?, ?) RETURNING id",
                step_id,
                author_id,
                status,
                checkin_id,
                now,
            )
            t = self._dialect.time
            await db.execute(
                "UPDATE plan_checkins SET answered_at = ? WHERE plan_id = ?"  # noqa: S608
                f" AND answered_at IS NULL AND {t('created_at')} <= {t('?')}",
                now,
                plan_id,
                now,
            )
            await _touch(db, plan_id, now)
        return int(update_id)

    async def step_update(self: Portable, update_id: int) -> StepUpdate | None:
        """Return an update by id."""
        row = await self._row("SELECT * FROM step_updates WHERE id = ?", update_id)
        return _update(row) if row else None

    async def step_history(self: Portable, step_id: int) -> list[StepUpdate]:
        """Return every update of a step, oldest first."""
        rows = await self._rows("SELECT * FROM step_updates WHERE step_id = ? ORDER BY id", step_id)
        return [_update(r) for r in rows]

    async def add_update_note(self: Portable, update_id: int, note: str, limit: int) -> bool:
        """Add text to the note of an update being written; False past `limit` characters."""
        async with self._work() as db:
            row = await db.fetchrow(
                f"SELECT note FROM step_updates WHERE id = ?{self._dialect.for_update}",  # noqa: S608
                update_id,
            )
            if row is None:
                return False
            joined = f"{row['note']}\n{note}" if row["note"] else note
            if len(joined) > limit:
                return False
            await db.execute("UPDATE step_updates SET note = ? WHERE id = ?", joined, update_id)
            return True

    async def add_evidence(
        self: Portable,
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
        async with self._work() as db:
            evidence_id = await db.fetchval(
                "INSERT INTO update_evidence (update_id, kind, file_id, url, file_name,"
                " file_size, created_at) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
                update_id,
                kind,
                file_id,
                url,
                file_name,
                file_size,
                now,
            )
        return int(evidence_id)

    async def evidence_item(self: Portable, evidence_id: int) -> tuple[Evidence, int] | None:
        """Return a piece of evidence and the workshop its plan belongs to."""
        row = await self._row(
            "SELECT e.*, p.workshop_id FROM update_evidence e"
            " JOIN step_updates u ON u.id = e.update_id JOIN plan_steps s ON s.id = u.step_id"
            " JOIN plans p ON p.id = s.plan_id WHERE e.id = ?",
            evidence_id,
        )
        return (_evidence(row), int(row["workshop_id"])) if row else None

    # Check-ins

    async def open_checkins(
        self: Portable,
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
        async with self._work() as db:
            if scheduled_id is not None:
                touched = await db.execute(
                    "UPDATE scheduled SET status = 'done', done_at = ? WHERE id = ?"
                    " AND status = 'pending'",
                    now,
                    scheduled_id,
                )
                if touched != 1:
                    return []
            opened: list[Checkin] = []
            for plan_id, occasion, kind in occasions:
                checkin_id = await db.fetchval(
                    "INSERT INTO plan_checkins (plan_id, occasion, kind, created_at)"
                    " VALUES (?, ?, ?, ?) ON CONFLICT (plan_id, occasion) DO NOTHING"
                    " RETURNING id",
                    plan_id,
                    occasion,
                    kind,
                    now,
                )
                if checkin_id is not None:
                    opened.append(Checkin(checkin_id, plan_id, occasion, kind, now, None, None))
            if opened or not occasions:
                await self._dialect.insert_outbox(db, source, messages, now)
            return opened

    async def checkins_to_nudge(self: Portable, before: datetime) -> list[Checkin]:
        """Return unanswered, un-nudged check-ins asked before `before`."""
        t = self._dialect.time
        rows = await self._rows(
            "SELECT * FROM plan_checkins WHERE answered_at IS NULL AND nudged_at IS NULL"  # noqa: S608
            f" AND {t('created_at')} <= {t('?')} ORDER BY id",
            before,
        )
        return [_checkin(r) for r in rows]

    async def nudge_checkin(
        self: Portable, checkin_id: int, messages: list[OutMessage], now: datetime
    ) -> bool:
        """Mark a check-in nudged and queue the nudge, atomically; False if not due."""
        async with self._work() as db:
            touched = await db.execute(
                "UPDATE plan_checkins SET nudged_at = ? WHERE id = ? AND nudged_at IS NULL"
                " AND answered_at IS NULL",
                now,
                checkin_id,
            )
            if touched != 1:
                return False
            await self._dialect.insert_outbox(db, f"cn:{checkin_id}", messages, now)
            return True

    async def checkin(self: Portable, checkin_id: int) -> Checkin | None:
        """Return a check-in by id."""
        row = await self._row("SELECT * FROM plan_checkins WHERE id = ?", checkin_id)
        return _checkin(row) if row else None

    async def overdue_steps(self: Portable, before: date) -> list[OverdueStep]:
        """Return live open steps dated before `before` whose lateness was not asked about."""
        rows = await self._rows(
            f"SELECT s.id, s.plan_id, s.due_date, p.workshop_id FROM plan_steps s"  # noqa: S608
            f" JOIN plans p ON p.id = s.plan_id LEFT JOIN ({LATEST_UPDATE}) l"
            " ON l.step_id = s.id"
            " WHERE s.removed_at IS NULL AND s.due_date IS NOT NULL AND s.due_date < ?"
            " AND COALESCE(l.status, 'not_started') NOT IN ('done', 'dropped')"
            " AND NOT EXISTS (SELECT 1 FROM plan_checkins c WHERE c.plan_id = s.plan_id"
            " AND c.occasion = 'due:' || s.id || ':' || "
            f"{self._dialect.day_text('s.due_date')})"
            " ORDER BY s.due_date, s.id",
            before,
        )
        return [
            OverdueStep(r["id"], r["plan_id"], r["workshop_id"], _day(r["due_date"])) for r in rows
        ]

    # Dashboards

    async def plan_data(self: Portable, workshop_ids: list[int]) -> PlanData:
        """Return everything about the plans of some workshops, in one read."""
        if not workshop_ids:
            return PlanData([], [], [], [], [], {}, {})
        d = self._dialect
        ids = d.id_values(list(workshop_ids))
        # The plans of these workshops, for each read below.
        scope = f"SELECT id FROM plans WHERE workshop_id IN ({d.id_list})"  # noqa: S608
        async with self._reading() as db:
            plans = await db.models(
                plan_record,
                "SELECT pl.*, pa.institution FROM plans pl JOIN participants pa"  # noqa: S608
                f" ON pa.id = pl.owner_id WHERE pl.workshop_id IN ({d.id_list})"
                " ORDER BY pl.id",
                ids,
            )
            steps = await db.models(
                _step,
                f"{STEP_SELECT} WHERE s.plan_id IN ({scope}) ORDER BY s.plan_id, s.position",
                ids,
            )
            updates = await db.models(
                _update,
                "SELECT u.* FROM step_updates u JOIN plan_steps s ON s.id = u.step_id"  # noqa: S608
                f" WHERE s.plan_id IN ({scope}) ORDER BY u.id",
                ids,
            )
            evidence = await db.models(
                _evidence,
                "SELECT e.* FROM update_evidence e JOIN step_updates u ON u.id = e.update_id"  # noqa: S608
                " JOIN plan_steps s ON s.id = u.step_id"
                f" WHERE s.plan_id IN ({scope}) ORDER BY e.id",
                ids,
            )
            checkins = await db.models(
                _checkin,
                f"SELECT * FROM plan_checkins WHERE plan_id IN ({scope}) ORDER BY id",  # noqa: S608
                ids,
            )
            members = await db.models(
                member_of_plan, f"{MEMBER_SELECT} WHERE m.plan_id IN ({scope})", ids
            )
            authors = await db.models(
                author,
                "SELECT DISTINCT p.id, p.name FROM participants p JOIN step_updates u"  # noqa: S608
                " ON u.author_id = p.id JOIN plan_steps s ON s.id = u.step_id"
                f" WHERE s.plan_id IN ({scope})",
                ids,
            )
        return assemble_plan_data(plans, steps, updates, evidence, checkins, members, authors)

    async def last_digest(
        self: Portable, association_id: int, telegram_id: int
    ) -> tuple[str, dict[str, Any], datetime] | None:
        """Return the period, figures and time of the viewer's latest digest."""
        row = await self._row(
            "SELECT * FROM digests WHERE association_id = ? AND telegram_id = ?"
            " ORDER BY period DESC LIMIT 1",
            association_id,
            telegram_id,
        )
        if row is None:
            return None
        return row["period"], from_json(row["figures_json"]), req_dt(row["sent_at"])

    async def record_digest(
        self: Portable,
        association_id: int,
        telegram_id: int,
        period: str,
        figures: dict[str, Any],
        message: OutMessage,
        now: datetime,
    ) -> bool:
        """Queue a viewer's digest for a period once, with its figures; False if sent."""
        async with self._work() as db:
            touched = await db.execute(
                "INSERT INTO digests (association_id, telegram_id, period, figures_json,"
                " sent_at) VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT (association_id, telegram_id, period) DO NOTHING",
                association_id,
                telegram_id,
                period,
                json.dumps(figures),
                now,
            )
            if touched != 1:
                return False
            await self._dialect.insert_outbox(db, f"dg:{association_id}:{period}", [message], now)
            return True
