"""Instances on one database: heartbeats, leases, the inbox and outbox claims, for every backend.

On PostgreSQL, claims pick rows with FOR UPDATE SKIP LOCKED: instances claiming at the same
moment never wait for each other and never take the same row. SQLite serves one machine;
its writer lock serialises claims, and these tables exist so that one contract covers
every backend and several processes on one machine agree as they would on PostgreSQL.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from storage.models import InboxRow, OutboxRow
from storage.portable import Portable
from storage.rows import outbox as _outbox

# Instances killed this long ago or more hold nothing any more: their rows are dropped.
FORGET_DEAD_AFTER = timedelta(days=1)


class CoordinationMixin:
    """Heartbeats, leases, the inbox of received updates and outbox claims."""

    async def heartbeat(
        self: Portable, instance: str, now: datetime, alive_until: datetime
    ) -> None:
        """Record that `instance` runs and is alive until `alive_until`."""
        t = self._dialect.time
        async with self._work() as db:
            await db.execute(
                "INSERT INTO instances (name, started_at, alive_until) VALUES (?, ?, ?)"
                " ON CONFLICT (name) DO UPDATE SET alive_until = excluded.alive_until",
                instance,
                now,
                alive_until,
            )
            await db.execute(
                f"DELETE FROM instances WHERE {t('alive_until')} < {t('?')}",  # noqa: S608
                now - FORGET_DEAD_AFTER,
            )

    async def leave(self: Portable, instance: str) -> None:
        """Forget a stopping instance: free its leases and whatever it claimed."""
        async with self._work() as db:
            await db.execute("DELETE FROM leases WHERE holder = ?", instance)
            await db.execute("UPDATE inbox SET claimant = NULL WHERE claimant = ?", instance)
            await db.execute(
                "UPDATE outbox SET claimant = NULL WHERE claimant = ? AND status = 'pending'",
                instance,
            )
            await db.execute("DELETE FROM instances WHERE name = ?", instance)

    async def acquire_lease(self: Portable, name: str, instance: str, now: datetime) -> bool:
        """Take (or keep) the lease `name` unless a live other instance holds it."""
        t = self._dialect.time
        async with self._work() as db:
            holder = await db.fetchval(
                "INSERT INTO leases AS l (name, holder, taken_at) VALUES (?, ?, ?)"  # noqa: S608
                " ON CONFLICT (name) DO UPDATE SET holder = excluded.holder,"
                " taken_at = excluded.taken_at"
                " WHERE l.holder <> excluded.holder"
                " AND NOT EXISTS (SELECT 1 FROM instances s WHERE s.name = l.holder"
                f" AND {t('s.alive_until')} >= {t('?')})"
                " RETURNING holder",
                name,
                instance,
                now,
                now,
            )
            if holder is None:
                # Nothing changed: held by a live instance, which may be this one.
                holder = await db.fetchval("SELECT holder FROM leases WHERE name = ?", name)
        return bool(holder == instance)

    async def release_outbox(self: Portable, instance: str) -> None:
        """Free the queued messages `instance` claimed and did not send (it stops sending)."""
        async with self._work() as db:
            await db.execute(
                "UPDATE outbox SET claimant = NULL WHERE claimant = ? AND status = 'pending'",
                instance,
            )

    async def release_lease(self: Portable, name: str, instance: str) -> None:
        """Give the lease `name` back if `instance` holds it."""
        async with self._work() as db:
            await db.execute("DELETE FROM leases WHERE name = ? AND holder = ?", name, instance)

    async def lease_holder(self: Portable, name: str) -> str | None:
        """Return which instance holds the lease `name`, alive or not."""
        row = await self._row("SELECT holder FROM leases WHERE name = ?", name)
        return None if row is None else str(row["holder"])

    async def inbox_put(
        self: Portable,
        update_id: int,
        person: int,
        body: str,
        now: datetime,
        waiting_limit: int | None = None,
    ) -> bool:
        """Keep a received update until it is handled; False if already there or over the limit."""
        body_param = self._dialect.json("?")
        async with self._work() as db:
            added = await db.execute(
                "INSERT INTO inbox (update_id, person, body, received_at)"  # noqa: S608
                f" SELECT ?, ?, {body_param}, ? WHERE CAST(? AS INTEGER) IS NULL"
                " OR (SELECT COUNT(*) FROM inbox WHERE person = ?) < ?"
                " ON CONFLICT (update_id) DO NOTHING",
                update_id,
                person,
                body,
                now,
                waiting_limit,
                person,
                waiting_limit,
            )
        return added == 1

    async def inbox_claim(
        self: Portable, instance: str, now: datetime, limit: int
    ) -> list[InboxRow]:
        """Claim, oldest first, the oldest update of each person that no live instance holds."""
        d = self._dialect
        async with self._work() as db:
            rows = await db.fetch(
                "UPDATE inbox SET claimant = ? WHERE update_id IN ("  # noqa: S608
                " SELECT i.update_id FROM inbox i"
                " WHERE NOT EXISTS (SELECT 1 FROM inbox o"
                "  WHERE o.person = i.person AND o.update_id < i.update_id)"
                " AND (i.claimant IS NULL OR NOT EXISTS (SELECT 1 FROM instances s"
                f"  WHERE s.name = i.claimant AND {d.time('s.alive_until')} >= {d.time('?')}))"
                f" ORDER BY i.update_id LIMIT ?{d.skip_locked})"
                " RETURNING update_id, person, body",
                instance,
                now,
                limit,
            )
        found = [InboxRow(r["update_id"], r["person"], str(r["body"])) for r in rows]
        return sorted(found, key=lambda r: r.update_id)

    async def inbox_done(self: Portable, update_id: int) -> None:
        """Drop a handled update."""
        async with self._work() as db:
            await db.execute("DELETE FROM inbox WHERE update_id = ?", update_id)

    async def inbox_size(self: Portable) -> int:
        """Return how many received updates are not handled yet."""
        row = await self._row("SELECT COUNT(*) AS n FROM inbox")
        return 0 if row is None else int(row["n"])

    async def claim_outbox(
        self: Portable, instance: str, limit: int, now: datetime
    ) -> list[OutboxRow]:
        """Claim queued messages due by `now`, in order, unless a live other instance has them."""
        d = self._dialect
        async with self._work() as db:
            rows = await db.fetch(
                "UPDATE outbox SET claimant = ? WHERE id IN ("  # noqa: S608
                " SELECT o.id FROM outbox o WHERE o.status = 'pending'"
                f" AND (o.not_before IS NULL OR {d.time('o.not_before')} <= {d.time('?')})"
                " AND (o.claimant IS NULL OR o.claimant = ?"
                " OR NOT EXISTS (SELECT 1 FROM instances s"
                f"  WHERE s.name = o.claimant AND {d.time('s.alive_until')} >= {d.time('?')}))"
                f" ORDER BY o.id LIMIT ?{d.skip_locked})"
                " RETURNING *",
                instance,
                now,
                instance,
                now,
                limit,
            )
        return sorted((_outbox(r) for r in rows), key=lambda r: r.id)
