"""The services every flow works with, built once at startup."""

from __future__ import annotations

import asyncio
import multiprocessing
from collections.abc import Callable
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass, field

from bot.clock import Clock
from bot.content import Content
from bot.i18n import I18n
from storage import Store

# Two worker processes on a 2-core machine: a report's charts are drawn two at a time while
# the bot's own process mostly waits for them (benchmarks/README.md, "Report"). More would
# only add memory: each worker holds about 140 MB once it has drawn, until the bot stops.
# The second one is spawned only when two files are wanted at once (a report's charts), so
# a bot that never reports never pays for it.
WORKERS = 2


def worker_pool(workers: int = WORKERS) -> ProcessPoolExecutor:
    """Create the pool of worker processes for charts and workbooks (spawned on first use)."""
    # "spawn": a fresh interpreter, not a fork of a process that already runs threads.
    return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))


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
        """Run CPU-heavy work off the event loop: in a worker process, or a thread."""
        if separate_process and self.process_pool is not None:
            return await asyncio.get_running_loop().run_in_executor(self.process_pool, build)
        return await asyncio.to_thread(build)

    def join_link(self, join_code: str) -> str:
        """Return the deep link that joins a workshop."""
        return f"https://t.me/{self.bot_username}?start={join_code}"
