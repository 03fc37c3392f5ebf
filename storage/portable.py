"""SQL written once for every backend: the dialect and the connection each store provides.

The mixins that share their SQL write it with `?` placeholders and call a `Db`, whose
methods have one shape on every backend (rows touched, rows, one row, one value). What
still differs is asked of the `Dialect`:

- times: SQLite keeps ISO text and compares it through julianday(); PostgreSQL keeps
  TIMESTAMPTZ and compares it as it is;
- JSON parameters, which PostgreSQL needs cast to JSONB where it cannot infer the type;
- row locks (FOR UPDATE, SKIP LOCKED), which SQLite does without: its writer lock, taken
  when a unit of work begins, already serialises writers;
- the bulk insert of the outbox, one statement per message on SQLite and one statement
  for all of them on PostgreSQL.

Only what truly differs lives in the two store modules; everything else is written here
or in the shared mixins (`storage/comm.py`, `storage/coord.py`).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from functools import lru_cache
from typing import Any, Protocol, TypeVar

from storage.models import OutMessage
from storage.rows import Row

T = TypeVar("T")
# Rows turned into models at a time: each batch becomes models as it comes and is dropped,
# so a large read never holds all its rows and all its models at once.
MODEL_BATCH = 500


class Db(Protocol):
    """One unit of work's connection, the same shape on every backend."""

    async def execute(self, sql: str, *args: Any) -> int:
        """Run a statement; return how many rows it touched."""
        ...

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        """Run a query (or a statement with RETURNING); return its rows."""
        ...

    async def fetchrow(self, sql: str, *args: Any) -> Row | None:
        """Return a query's first row, or None."""
        ...

    async def fetchval(self, sql: str, *args: Any) -> Any:
        """Return the first column of a query's first row, or None."""
        ...

    async def models(self, convert: Callable[[Row], T], sql: str, *args: Any) -> list[T]:
        """Return a query's rows as models, converted MODEL_BATCH rows at a time."""
        ...


class Dialect(Protocol):
    """What the shared SQL asks of one backend."""

    name: str
    # Appended to a SELECT that picks rows to change: FOR UPDATE, or nothing on SQLite.
    for_update: str
    # The same for claims, where instances must skip rows another is claiming.
    skip_locked: str

    def time(self, expr: str) -> str:
        """Return `expr` (a column or `?`) as something times compare correctly with."""
        ...

    def json(self, expr: str) -> str:
        """Return the parameter `expr` as JSON where the database needs telling."""
        ...

    def day_text(self, expr: str) -> str:
        """Return the DATE column `expr` as its ISO text (YYYY-MM-DD)."""
        ...

    # A subquery listing ids given as one parameter (see id_values): one SQL text however
    # many ids, so statement caches stay small and no limit on parameters is reached.
    id_list: str

    def id_values(self, ids: list[int]) -> Any:
        """Return ids as the one parameter id_list takes."""
        ...

    async def insert_outbox(
        self, db: Db, source: str, messages: list[OutMessage], now: datetime
    ) -> int:
        """Queue messages under a source; return how many were new."""
        ...


class Portable(Protocol):
    """What a store gives the shared mixins."""

    _dialect: Dialect

    def _work(self) -> AbstractAsyncContextManager[Db]: ...
    def _reading(self) -> AbstractAsyncContextManager[Db]: ...
    async def _rows(self, sql: str, *args: Any) -> list[Row]: ...
    async def _row(self, sql: str, *args: Any) -> Row | None: ...


@lru_cache(maxsize=2048)
def numbered(sql: str) -> str:
    """Return `sql` with its `?` placeholders numbered $1, $2, … as PostgreSQL wants them."""
    out: list[str] = []
    n = 0
    quoted = False
    for char in sql:
        if char == "'":
            quoted = not quoted
        elif char == "?" and not quoted:
            n += 1
            out.append(f"${n}")
            continue
        out.append(char)
    return "".join(out)


def marks(count: int) -> str:
    """Return `count` placeholders for an IN list; callers skip the query when it is 0."""
    return ", ".join("?" * count)
