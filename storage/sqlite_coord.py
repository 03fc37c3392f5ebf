"""SQLite storage for instances on one database: heartbeats, leases and claims.

SQLite serves one machine; these tables exist so that one contract covers every backend
and several processes on one machine agree as they would on PostgreSQL.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Any, Protocol

import aiosqlite

from storage.models import InboxRow, OutboxRow
from storage.rows import outbox as _outbox


class _Base(Protocol):
    def _tx(self) -> AbstractAsyncContextManager[aiosqlite.Connection]: ...
    async def _one(self, sql: str, params: tuple[Any, ...]) -> aiosqlite.Row | None: ...
    async def _all(self, sql: str, params: tuple[Any, ...]) -> list[aiosqlite.Row]: ...


class CoordinationMixin:
    """Heartbeats, leases, the inbox of received updates and outbox claims (SQLite)."""

    async def heartbeat(self: _Base, instance: str, now: datetime, alive_until: datetime) -> None:
        """Record that `instance` runs and is alive until `alive_until`."""
        async with self._tx() as db:
            await db.execute(
                "INSERT INTO instances (name, started_at, alive_until) VALUES (?, ?, ?)"
                " ON CONFLICT (name) DO UPDATE SET alive_until = excluded.alive_until",
                (instance, now.isoformat(), alive_until.isoformat()),
            )
            # Instances killed a day ago or more hold nothing any more: forget them.
            await db.execute(
                "DELETE FROM instances WHERE julianday(alive_until) < julianday(?) - 1",
                (now.isoformat(),),
            )

    async def leave(self: _Base, instance: str) -> None:
        """Forget a stopping instance: free its leases and whatever it claimed."""
        async with self._tx() as db:
            await db.execute("DELETE FROM leases WHERE holder = ?", (instance,))
            await db.execute("UPDATE inbox SET claimant = NULL WHERE claimant = ?", (instance,))
            await db.execute(
                "UPDATE outbox SET claimant = NULL WHERE claimant = ? AND status = 'pending'",
                (instance,),
            )
            await db.execute("DELETE FROM instances WHERE name = ?", (instance,))

    async def acquire_lease(self: _Base, name: str, instance: str, now: datetime) -> bool:
        """Take (or keep) the lease `name` unless a live other instance holds it."""
        async with self._tx() as db:
            await db.execute(
                "INSERT INTO leases (name, holder, taken_at) VALUES (?, ?, ?)"
                " ON CONFLICT (name) DO UPDATE SET holder = excluded.holder,"
                " taken_at = excluded.taken_at"
                " WHERE leases.holder <> excluded.holder"
                " AND NOT EXISTS (SELECT 1 FROM instances s WHERE s.name = leases.holder"
                " AND julianday(s.alive_until) >= julianday(?))",
                (name, instance, now.isoformat(), now.isoformat()),
            )
            rows = await db.execute_fetchall("SELECT holder FROM leases WHERE name = ?", (name,))
        return any(r["holder"] == instance for r in rows)

    async def release_outbox(self: _Base, instance: str) -> None:
        """Free the queued messages `instance` claimed and did not send (it stops sending)."""
        async with self._tx() as db:
            await db.execute(
                "UPDATE outbox SET claimant = NULL WHERE claimant = ? AND status = 'pending'",
                (instance,),
            )

    async def release_lease(self: _Base, name: str, instance: str) -> None:
        """Give the lease `name` back if `instance` holds it."""
        async with self._tx() as db:
            await db.execute("DELETE FROM leases WHERE name = ? AND holder = ?", (name, instance))

    async def lease_holder(self: _Base, name: str) -> str | None:
        """Return which instance holds the lease `name`, alive or not."""
        row = await self._one("SELECT holder FROM leases WHERE name = ?", (name,))
        return None if row is None else str(row["holder"])

    async def inbox_put(
        self: _Base,
        update_id: int,
        person: int,
        body: str,
        now: datetime,
        waiting_limit: int | None = None,
    ) -> bool:
        """Keep a received update until it is handled; False if already there or over the limit."""
        async with self._tx() as db:
            cursor = await db.execute(
                "INSERT INTO inbox (update_id, person, body, received_at) SELECT ?, ?, ?, ?"
                " WHERE ? IS NULL OR (SELECT COUNT(*) FROM inbox WHERE person = ?) < ?"
                " ON CONFLICT (update_id) DO NOTHING",
                (update_id, person, body, now.isoformat(), waiting_limit, person, waiting_limit),
            )
            return cursor.rowcount == 1

    async def inbox_claim(self: _Base, instance: str, now: datetime, limit: int) -> list[InboxRow]:
        """Claim, oldest first, the oldest update of each person that no live instance holds."""
        async with self._tx() as db:
            rows = await db.execute_fetchall(
                "UPDATE inbox SET claimant = ? WHERE update_id IN ("
                " SELECT i.update_id FROM inbox i"
                " WHERE NOT EXISTS (SELECT 1 FROM inbox o"
                "  WHERE o.person = i.person AND o.update_id < i.update_id)"
                " AND (i.claimant IS NULL OR NOT EXISTS (SELECT 1 FROM instances s"
                "  WHERE s.name = i.claimant AND julianday(s.alive_until) >= julianday(?)))"
                " ORDER BY i.update_id LIMIT ?)"
                " RETURNING update_id, person, body",
                (instance, now.isoformat(), limit),
            )
        found = [InboxRow(r["update_id"], r["person"], r["body"]) for r in rows]
        return sorted(found, key=lambda r: r.update_id)

    async def inbox_done(self: _Base, update_id: int) -> None:
        """Drop a handled update."""
        async with self._tx() as db:
            await db.execute("DELETE FROM inbox WHERE update_id = ?", (update_id,))

    async def inbox_size(self: _Base) -> int:
        """Return how many received updates are not handled yet."""
        row = await self._one("SELECT COUNT(*) AS n FROM inbox", ())
        return 0 if row is None else int(row["n"])

    async def claim_outbox(
        self: _Base, instance: str, limit: int, now: datetime
    ) -> list[OutboxRow]:
        """Claim queued messages due by `now`, in order, unless a live other instance has them."""
        stamp = now.isoformat()
        async with self._tx() as db:
            rows = await db.execute_fetchall(
                "UPDATE outbox SET claimant = ? WHERE id IN ("
                " SELECT o.id FROM outbox o WHERE o.status = 'pending'"
                " AND (o.not_before IS NULL OR julianday(o.not_before) <= julianday(?))"
                " AND (o.claimant IS NULL OR o.claimant = ?"
                " OR NOT EXISTS (SELECT 1 FROM instances s"
                "  WHERE s.name = o.claimant AND julianday(s.alive_until) >= julianday(?)))"
                " ORDER BY o.id LIMIT ?)"
                " RETURNING *",
                (instance, stamp, instance, stamp, limit),
            )
        return sorted((_outbox(r) for r in rows), key=lambda r: r.id)
