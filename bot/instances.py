"""Several instances on one database: the inbox of webhook updates and the delivery lease.

In webhook mode on PostgreSQL any number of instances may serve one bot behind one URL.

- Every update is written to the database's inbox before Telegram gets its 200, so an
  instance that dies loses none: what it had claimed is taken over once it is past its
  time (`ALIVE_SECONDS` without a heartbeat).
- Any instance handles any update, but a person's updates one at a time and oldest first
  (`Store.inbox_claim`), so they are handled in the order Telegram sent them even when
  consecutive ones reached different instances.
- Sending (the outbox, reminders, check-ins, nudges, digests, broadcast progress) is one
  instance's duty at a time: the holder of the `delivery` lease. Telegram's limits are the
  bot's, not an instance's, so one sender keeps them without sharing counters, and every
  occasion is taken once. The lease moves when its holder stops or dies.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import secrets
import socket
import time
from collections.abc import Callable
from datetime import timedelta

from telegram import Bot, Update

from bot.delivery import Delivery
from bot.processor import MAX_BACKLOG, droppable, ordering_key
from bot.services import Services

log = logging.getLogger(__name__)

# How often an instance says it is alive, and for how long each time. A dead instance's
# updates and duties wait at most ALIVE_SECONDS before another instance takes them.
HEARTBEAT_SECONDS = 2.0
ALIVE_SECONDS = 10.0
# Stop sending this long before this instance's own time runs out (a slow heartbeat, a
# database out of reach): another may take the lease at ALIVE_SECONDS.
SAFETY_SECONDS = 3.0
DELIVERY_LEASE = "delivery"
# How often the inbox looks for updates it was not told about (another instance's, or
# those of an instance that died). An update received here or finished here wakes it at once.
INBOX_POLL_SECONDS = 1.0


def new_instance_id() -> str:
    """Return a name for this process, unique among instances past and present."""
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"


class InboxQueue(asyncio.Queue[object]):
    """The application's update queue; with an inbox, updates go to the database first.

    PTB's webhook server awaits `put` before it answers Telegram, so an update is stored
    before Telegram considers it delivered.
    """

    def __init__(self) -> None:
        super().__init__()
        self.inbox: Inbox | None = None

    async def put(self, item: object) -> None:
        """Keep an update in the inbox when there is one; queue anything else for PTB."""
        if self.inbox is not None and isinstance(item, Update):
            await self.inbox.receive(item)
            return
        await super().put(item)

    async def put_local(self, item: object) -> None:
        """Queue an update for this instance's PTB to process now."""
        await super().put(item)


class Inbox:
    """Claims stored updates for this instance, each person's one at a time, oldest first."""

    def __init__(
        self,
        services: Services,
        bot: Bot,
        queue: InboxQueue,
        instance: str,
        capacity: int,
    ) -> None:
        self.services = services
        self.bot = bot
        self.queue = queue
        self.instance = instance
        self.capacity = capacity
        self._active: set[int] = set()
        self._flooding: set[int] = set()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.handled = 0

    async def receive(self, update: Update) -> None:
        """Store an update received by webhook (Telegram's retry is stored once)."""
        svc = self.services
        body = json.dumps(update.to_dict(), ensure_ascii=False)
        key = ordering_key(update) or 0
        # A flood of messages from one person is cut as the processor cuts it (taps never).
        limit = MAX_BACKLOG if droppable(update) else None
        stored = await svc.store.inbox_put(update.update_id, key, body, svc.clock.now(), limit)
        if not stored and limit is not None and key not in self._flooding:
            self._flooding.add(key)
            log.warning("user %s sends faster than the bot answers: dropping messages", key)
        self._wake.set()

    def start(self, *, leftovers_only: bool = False) -> None:
        """Start taking updates from the inbox.

        With `leftovers_only` (one instance, polling or SQLite), webhook updates are not
        stored: the inbox only hands out what an earlier shared deployment left in it
        (a switch to polling, a `db copy`), then stops.
        """
        if not leftovers_only:
            self.queue.inbox = self
        self._task = asyncio.create_task(self._run(leftovers_only), name="inbox")

    async def stop_taking(self) -> None:
        """Claim no more updates (a stop began); those being handled still finish."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def stop(self) -> None:
        """Take and store no more updates (those claimed and not handled: `Store.leave`)."""
        self.queue.inbox = None
        await self.stop_taking()
        if self.handled:
            log.info("instance %s handled %d update(s) from the inbox", self.instance, self.handled)

    async def done(self, update: object) -> None:
        """Drop a handled update from the inbox, so the person's next one can be taken."""
        if not isinstance(update, Update) or update.update_id not in self._active:
            return
        try:
            await self.services.store.inbox_done(update.update_id)
        except Exception:
            # Left claimed: handled again by whoever takes over this instance's claims.
            log.exception("update %s handled but still in the inbox", update.update_id)
        self._active.discard(update.update_id)
        self._flooding.discard(ordering_key(update) or 0)
        self.handled += 1
        self._wake.set()

    async def _run(self, leftovers_only: bool) -> None:
        if leftovers_only:
            left = await self.services.store.inbox_size()
            if not left:
                return
            log.warning("handling %d update(s) left in the inbox by a shared deployment", left)
        while True:
            self._wake.clear()
            try:
                taken = await self._take()
                idle = leftovers_only and not taken and not self._active
                if idle and not await self.services.store.inbox_size():
                    return
            except Exception:
                log.exception("cannot read the inbox")
                taken = 0
            if taken:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), INBOX_POLL_SECONDS)

    async def _take(self) -> int:
        """Claim what this instance has room for and queue it for PTB; return how many."""
        free = self.capacity - len(self._active)
        if free <= 0:
            return 0
        svc = self.services
        rows = await svc.store.inbox_claim(self.instance, svc.clock.now(), free)
        queued = 0
        for row in rows:
            if row.update_id in self._active:
                # Already being handled here (this instance's heartbeat lapsed meanwhile).
                continue
            try:
                update = Update.de_json(json.loads(row.body), self.bot)
            except Exception:
                log.exception("update %s in the inbox cannot be read: dropped", row.update_id)
                await svc.store.inbox_done(row.update_id)
                continue
            self._active.add(row.update_id)
            await self.queue.put_local(update)
            queued += 1
        return queued


class Coordinator:
    """Keep this instance alive among others, and send while it holds the delivery lease.

    The heartbeat runs on its own, never behind a start or a stop of the delivery (which
    can take seconds): a late heartbeat would make the others think this instance dead.
    """

    def __init__(
        self,
        services: Services,
        delivery: Delivery,
        instance: str,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.services = services
        self.delivery = delivery
        self.instance = instance
        self.delivering = False
        self._clock = clock
        self._valid_until = 0.0
        self._tasks: list[asyncio.Task[None]] = []
        self._duties = True
        # Taking and giving up the duty never interleave (a stop signal during a check).
        self._lock = asyncio.Lock()
        # The sender checks before every send that this instance may still send.
        delivery.sender.may_send = self.valid

    def valid(self) -> bool:
        """Tell whether this instance's last heartbeat still holds, with a margin."""
        return self._clock() < self._valid_until

    async def start(self) -> None:
        """Say this instance is alive, take the delivery duty if free, and keep at both."""
        await self._beat()
        self._tasks = [
            asyncio.create_task(self._beat_loop(), name="heartbeat"),
            asyncio.create_task(self._duty_loop(), name="delivery-duty"),
        ]

    async def _beat_loop(self) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_SECONDS)
            try:
                await asyncio.wait_for(self._beat(), HEARTBEAT_SECONDS * 2)
            except Exception as exc:
                log.warning("heartbeat not recorded: %s", exc or type(exc).__name__)

    async def _duty_loop(self) -> None:
        while True:
            try:
                await self._duty()
            except Exception:
                log.exception("delivery duty not checked")
            await asyncio.sleep(HEARTBEAT_SECONDS)

    async def _beat(self) -> None:
        svc = self.services
        started = self._clock()
        now = svc.clock.now()
        await svc.store.heartbeat(self.instance, now, now + timedelta(seconds=ALIVE_SECONDS))
        # Counted from before the write: the others count from the time written.
        self._valid_until = started + ALIVE_SECONDS - SAFETY_SECONDS

    async def _duty(self) -> None:
        async with self._lock:
            await self._check_duty()

    async def _check_duty(self) -> None:
        svc = self.services
        holds = (
            self._duties
            and self.valid()
            and await svc.store.acquire_lease(DELIVERY_LEASE, self.instance, svc.clock.now())
        )
        if holds and not self.delivering:
            log.info("instance %s now sends the bot's messages and reminders", self.instance)
            self.delivering = True
            await self.delivery.start()
        elif not holds and self.delivering:
            log.warning("instance %s no longer sends: its turn lapsed", self.instance)
            await self._stop_delivering()

    async def _stop_delivering(self) -> None:
        self.delivering = False
        await self.delivery.stop()
        # What it claimed and did not send goes to the next holder at once, in order.
        with contextlib.suppress(Exception):
            await self.services.store.release_outbox(self.instance)

    async def stop_duties(self) -> None:
        """Stop sending and hand the duty over (at a stop signal)."""
        self._duties = False
        async with self._lock:
            if self.delivering:
                await self._stop_delivering()
        with contextlib.suppress(Exception):
            await self.services.store.release_lease(DELIVERY_LEASE, self.instance)

    async def leave(self) -> None:
        """Stop the heartbeat and free what this instance holds, for the others to take."""
        await self.stop_duties()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        try:
            await self.services.store.leave(self.instance)
        except Exception as exc:
            log.warning(
                "instance %s could not sign off (others take over in %.0f s): %s",
                self.instance,
                ALIVE_SECONDS,
                exc,
            )
