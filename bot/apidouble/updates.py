"""The update queue and getUpdates long polling."""

from __future__ import annotations

import asyncio
import copy
from typing import Any

from aiohttp import web

from .models import ApiError
from .state import OPT_IN_UPDATES, DoubleState, _Poll


class UpdatesMixin(DoubleState):
    """Queue updates and hand them out through getUpdates, one long poll at a time."""

    @property
    def pending_updates(self) -> int:
        """Return how many updates are queued and not yet confirmed by an offset."""
        return len(self._queue)

    @property
    def updates_fetched(self) -> int:
        """Return how many updates getUpdates has returned to the bot so far."""
        return self._fetched_upto - (self._first_update_id - 1)

    @property
    def unfetched_updates(self) -> int:
        """Return how many queued updates getUpdates has never returned."""
        return sum(1 for u in self._queue if u["update_id"] > self._fetched_upto)

    def _enqueue(self, kind: str, payload: dict[str, Any]) -> dict[str, Any] | None:
        """Queue an update unless allowed_updates filters its type out (as Telegram does)."""
        if kind not in self._allowed:
            return None
        update = {"update_id": self._next_update_id, kind: payload}
        self._next_update_id += 1
        self._check_result(update, ("Update",), "Update")
        self._queue.append(update)
        self.updates_enqueued += 1
        if self._poll is not None and not self._poll.wake.done():
            self._poll.wake.set_result("update")
        self._push_wake.set()
        self._notify()
        return update

    def _set_allowed(self, value: list[Any]) -> None:
        unknown = [v for v in value if v not in self._update_kinds]
        for item in unknown:
            self._violate(f"allowed_updates: unknown update type {item!r}")
        known = {v for v in value if v in self._update_kinds}
        self._allowed = frozenset(known) if known else self._update_kinds - OPT_IN_UPDATES

    async def _get_updates(self, params: dict[str, Any], request: web.Request) -> Any:
        if self.webhook.get("url"):
            raise ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; use "
                "deleteWebhook to delete the webhook first",
            )
        if "allowed_updates" in params:
            self._set_allowed(params["allowed_updates"])
        offset = int(params.get("offset", 0))
        limit = int(params.get("limit", 100))
        if not 1 <= limit <= 100:
            limit = 100
        timeout = max(0, int(params.get("timeout", 0)))
        if offset > 0:
            self._queue = [u for u in self._queue if u["update_id"] >= offset]
        elif offset < 0:
            self._queue = self._queue[offset:]
        loop = asyncio.get_running_loop()
        previous = self._poll
        poll = _Poll(loop.create_future(), request)
        self._poll = poll
        if previous is not None:
            previous.superseded = True
            if not previous.wake.done():
                previous.wake.set_result("conflict")
        try:
            deadline = loop.time() + timeout
            while (
                not self._queue
                and not self._closing
                and not poll.superseded
                and not self.webhook.get("url")
            ):
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                await asyncio.wait({poll.wake}, timeout=remaining)
                if poll.wake.done():
                    poll.wake = loop.create_future()
            if poll.superseded:
                await self._report_conflict(request)
                raise ApiError(
                    409,
                    "Conflict: terminated by other getUpdates request; make sure that only one "
                    "bot instance is running",
                )
        finally:
            if self._poll is poll:
                self._poll = None
        batch = self._queue[:limit]
        if batch and _connected(request):
            self._fetched_upto = max(self._fetched_upto, batch[-1]["update_id"])
        return copy.deepcopy(batch)

    async def _report_conflict(self, request: web.Request) -> None:
        # A client that dropped its long poll is cancelled by aiohttp within a few loop
        # turns; only a still-connected poller means two bot instances really compete.
        for _ in range(5):
            await asyncio.sleep(0)
        if _connected(request):
            self._violate("getUpdates: two concurrent getUpdates requests (409 Conflict)")


def _connected(request: web.Request) -> bool:
    transport = request.transport
    return transport is not None and not transport.is_closing()
