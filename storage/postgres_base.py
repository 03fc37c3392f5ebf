"""What the PostgreSQL modules share: the connection type and the store's helpers."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, TypeAlias

import asyncpg
from asyncpg.pool import PoolConnectionProxy

if TYPE_CHECKING:
    from storage.models import OutMessage

    Conn: TypeAlias = PoolConnectionProxy[asyncpg.Record]
else:
    # Generic only in the stubs; the runtime class takes no parameters.
    Conn = PoolConnectionProxy


def count(status: str) -> int:
    """Return how many rows a command touched, from its status ("UPDATE 3", "INSERT 0 1")."""
    return int(status.rsplit(" ", 1)[-1])


class Base(Protocol):
    """The helpers of PostgresStore its mixins use."""

    def _tx(self) -> AbstractAsyncContextManager[Conn]: ...
    def _snapshot(self) -> AbstractAsyncContextManager[Conn]: ...
    async def _one(self, sql: str, *args: Any) -> asyncpg.Record | None: ...
    async def _all(self, sql: str, *args: Any) -> list[asyncpg.Record]: ...
    async def complete_scheduled_together(
        self, closes: list[tuple[int, str]], messages: list[OutMessage], now: datetime
    ) -> bool: ...
