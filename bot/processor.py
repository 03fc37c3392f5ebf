"""Update processing: concurrent across people, in order for each person."""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from telegram import Update
from telegram.ext import BaseUpdateProcessor

# PTB's own semaphore only bounds how many updates wait here; real work is bounded below,
# after the per-person lock, so that one person's queued updates never hold work slots.
WAITING_BOUND = 100_000
# More messages than this waiting from one person is a flood, not typing: the excess is
# dropped so that answering it cannot take the event loop from everyone else. Button taps
# are never dropped (Telegram expects each to be answered).
MAX_BACKLOG = 8

log = logging.getLogger(__name__)


@dataclass
class _KeyLock:
    lock: asyncio.Lock
    users: int = 0
    dropped: int = 0


def droppable(update: object) -> bool:
    """Tell whether an update may be dropped in a flood: messages yes, button taps no."""
    return isinstance(update, Update) and (
        update.message is not None or update.edited_message is not None
    )


def ordering_key(update: object) -> int | None:
    """Return whose updates must stay in order: the user's id, else the chat's."""
    if isinstance(update, Update):
        if update.effective_user is not None:
            return update.effective_user.id
        if update.effective_chat is not None:
            return update.effective_chat.id
    return None


class OrderedUpdateProcessor(BaseUpdateProcessor):
    """Process different people's updates concurrently, each person's in order."""

    def __init__(self, max_concurrent: int) -> None:
        super().__init__(WAITING_BOUND)
        if max_concurrent < 1:
            raise ValueError("max_concurrent must be positive")
        self._work = asyncio.Semaphore(max_concurrent)
        self._locks: dict[int, _KeyLock] = {}
        self._done = asyncio.Condition()
        self.completed = 0
        self.dropped = 0
        # Told of every update once it is handled or dropped, not of one cancelled at a stop
        # (the inbox, bot/instances.py, then leaves it for another instance).
        self.on_done: Callable[[object], Awaitable[None]] | None = None

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        """Run `coroutine` after the same person's earlier updates, within the bound."""
        key = ordering_key(update)
        cancelled = False
        try:
            if key is None:
                try:
                    async with self._work:
                        await coroutine
                except asyncio.CancelledError:
                    cancelled = True
                    raise
                return
            entry = self._locks.get(key)
            if entry is None:
                entry = self._locks[key] = _KeyLock(asyncio.Lock())
            if entry.users >= MAX_BACKLOG and droppable(update):
                entry.dropped += 1
                self.dropped += 1
                if inspect.iscoroutine(coroutine):
                    coroutine.close()
                if entry.dropped == 1:
                    log.warning("user %s sends faster than the bot answers: dropping messages", key)
                return
            entry.users += 1
            try:
                async with entry.lock, self._work:
                    await coroutine
            except asyncio.CancelledError:
                # Cut short at a stop (its transaction rolled back): not handled.
                cancelled = True
                raise
            finally:
                entry.users -= 1
                if entry.users == 0:
                    del self._locks[key]
        finally:
            if self.on_done is not None and not cancelled:
                try:
                    await self.on_done(update)
                except Exception:
                    log.exception("update %s: end of handling not recorded", key)
            async with self._done:
                self.completed += 1
                self._done.notify_all()

    async def wait_completed(self, count: int) -> None:
        """Wait until at least `count` updates have been processed."""
        async with self._done:
            await self._done.wait_for(lambda: self.completed >= count)

    async def initialize(self) -> None:
        """Nothing to allocate."""

    async def shutdown(self) -> None:
        """Nothing to release."""
