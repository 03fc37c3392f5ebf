"""The services every flow works with, built once at startup."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field

from bot.clock import Clock
from bot.content import Content
from bot.i18n import I18n
from storage import Store


@dataclass
class Services:
    """Storage, content, texts and time, handed to flows."""

    store: Store
    content: Content
    i18n: I18n
    clock: Clock
    admin_ids: frozenset[int] = field(default_factory=frozenset)
    bot_username: str = ""
    process_pool: Executor | None = None
    # Remove personal data of workshops past their retention_months (RETENTION_ENABLED).
    retention: bool = False

    async def build(self, build: Callable[[], bytes], *, separate_process: bool) -> bytes:
        """Run CPU-heavy work off the event loop: in the worker process, or a thread."""
        if separate_process and self.process_pool is not None:
            return await asyncio.get_running_loop().run_in_executor(self.process_pool, build)
        return await asyncio.to_thread(build)

    def join_link(self, join_code: str) -> str:
        """Return the deep link that joins a workshop."""
        return f"https://t.me/{self.bot_username}?start={join_code}"
