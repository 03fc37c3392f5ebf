"""PostgreSQL storage for several instances on one database: heartbeats, leases and claims."""

from __future__ import annotations

from datetime import datetime

from storage.models import InboxRow, OutboxRow
from storage.postgres_base import Base as _Base
from storage.postgres_base import count
from storage.rows import outbox as _outbox


class CoordinationMixin:
    """Heartbeats, leases, the inbox of received updates and outbox claims (PostgreSQL).

    Claims pick rows with FOR UPDATE SKIP LOCKED: instances claiming at the same moment
    never wait for each other and never take the same row.
    """

    async def heartbeat(self: _Base, instance: str, now: datetime, alive_until: datetime) -> None:
        """Record that `instance` runs and is alive until `alive_until`."""
        async with self._tx() as db:
            await db.execute(
                "INSERT INTO instances (name, started_at, alive_until) VALUES ($1, $2, $3)"
                " ON CONFLICT (name) DO UPDATE SET alive_until = EXCLUDED.alive_until",
                instance,
                now,
                alive_until,
            )
            # Instances killed a day ago or more hold nothing any more: forget them.
            await db.execute(
                "DELETE FROM instances WHERE alive_until < $1::timestamptz - interval '1 day'", now
            )

    async def leave(self: _Base, instance: str) -> None:
        """Forget a stopping instance: free its leases and whatever it claimed."""
        async with self._tx() as db:
            await db.execute("DELETE FROM leases WHERE holder = $1", instance)
            await db.execute("UPDATE inbox SET claimant = NULL WHERE claimant = $1", instance)
            await db.execute(
                "UPDATE outbox SET claimant = NULL WHERE claimant = $1 AND status = 'pending'",
                instance,
            )
            await db.execute("DELETE FROM instances WHERE name = $1", instance)

    async def acquire_lease(self: _Base, name: str, instance: str, now: datetime) -> bool:
        """Take (or keep) the lease `name` unless a live other instance holds it."""
        async with self._tx() as db:
            holder = await db.fetchval(
                "INSERT INTO leases AS l (name, holder, taken_at) VALUES ($1, $3, $2)"
                " ON CONFLICT (name) DO UPDATE SET holder = EXCLUDED.holder,"
                " taken_at = EXCLUDED.taken_at"
                " WHERE l.holder <> EXCLUDED.holder"
                " AND NOT EXISTS (SELECT 1 FROM instances s WHERE s.name = l.holder"
                " AND s.alive_until >= $2)"
                " RETURNING holder",
                name,
                now,
                instance,
            )
            if holder is None:
                # Nothing changed: held by a live instance, which may be this one.
                holder = await db.fetchval("SELECT holder FROM leases WHERE name = $1", name)
        return holder == instance

    async def release_outbox(self: _Base, instance: str) -> None:
        """Free the queued messages `instance` claimed and did not send (it stops sending)."""
        async with self._tx() as db:
            await db.execute(
                "UPDATE outbox SET claimant = NULL WHERE claimant = $1 AND status = 'pending'",
                instance,
            )

    async def release_lease(self: _Base, name: str, instance: str) -> None:
        """Give the lease `name` back if `instance` holds it."""
        async with self._tx() as db:
            await db.execute("DELETE FROM leases WHERE name = $1 AND holder = $2", name, instance)

    async def lease_holder(self: _Base, name: str) -> str | None:
        """Return which instance holds the lease `name`, alive or not."""
        row = await self._one("SELECT holder FROM leases WHERE name = $1", name)
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
            status = await db.execute(
                "INSERT INTO inbox (update_id, person, body, received_at)"
                " SELECT $1, $2, $3::jsonb, $4 WHERE $5::int IS NULL"
                " OR (SELECT COUNT(*) FROM inbox WHERE person = $2) < $5"
                " ON CONFLICT (update_id) DO NOTHING",
                update_id,
                person,
                body,
                now,
                waiting_limit,
            )
        return count(status) == 1

    async def inbox_claim(self: _Base, instance: str, now: datetime, limit: int) -> list[InboxRow]:
        """Claim, oldest first, the oldest update of each person that no live instance holds."""
        async with self._tx() as db:
            rows = await db.fetch(
                "UPDATE inbox SET claimant = $1 WHERE update_id IN ("
                " SELECT i.update_id FROM inbox i"
                " WHERE NOT EXISTS (SELECT 1 FROM inbox o"
                "  WHERE o.person = i.person AND o.update_id < i.update_id)"
                " AND (i.claimant IS NULL OR NOT EXISTS (SELECT 1 FROM instances s"
                "  WHERE s.name = i.claimant AND s.alive_until >= $2))"
                " ORDER BY i.update_id LIMIT $3 FOR UPDATE SKIP LOCKED)"
                " RETURNING update_id, person, body::text AS body",
                instance,
                now,
                limit,
            )
        found = [InboxRow(r["update_id"], r["person"], r["body"]) for r in rows]
        return sorted(found, key=lambda r: r.update_id)

    async def inbox_done(self: _Base, update_id: int) -> None:
        """Drop a handled update."""
        async with self._tx() as db:
            await db.execute("DELETE FROM inbox WHERE update_id = $1", update_id)

    async def inbox_size(self: _Base) -> int:
        """Return how many received updates are not handled yet."""
        row = await self._one("SELECT COUNT(*) AS n FROM inbox")
        return 0 if row is None else int(row["n"])

    async def claim_outbox(
        self: _Base, instance: str, limit: int, now: datetime
    ) -> list[OutboxRow]:
        """Claim queued messages due by `now`, in order, unless a live other instance has them."""
        async with self._tx() as db:
            rows = await db.fetch(
                "UPDATE outbox SET claimant = $1 WHERE id IN ("
                " SELECT o.id FROM outbox o WHERE o.status = 'pending'"
                " AND (o.not_before IS NULL OR o.not_before <= $2)"
                " AND (o.claimant IS NULL OR o.claimant = $1"
                " OR NOT EXISTS (SELECT 1 FROM instances s"
                "  WHERE s.name = o.claimant AND s.alive_until >= $2))"
                " ORDER BY o.id LIMIT $3 FOR UPDATE SKIP LOCKED)"
                " RETURNING *",
                instance,
                now,
                limit,
            )
        return sorted((_outbox(r) for r in rows), key=lambda r: r.id)
