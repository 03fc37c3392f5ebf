"""`db copy`: every row of one database into another, empty one (SQLite ↔ PostgreSQL).

Tables, columns, keys and foreign keys are read from the two databases' catalogs, never
listed here, so a new migration needs nothing in this module as long as both backends get it.
The source is read as one snapshot; the target is written in one transaction, so a failed
copy leaves it with no rows.
"""

from __future__ import annotations

import json
import sqlite3
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import quote

from storage import is_postgres_url, open_store
from storage.interface import StorageError
from storage.migrate import migrations
from storage.sqlite import BUSY_TIMEOUT_MS, sqlite_path

if TYPE_CHECKING:
    import asyncpg

# Rows per read and per write: large enough that round trips do not dominate, small enough
# that a batch of answers with long texts stays a few megabytes.
BATCH_ROWS = 5000
# Kept by each backend's migration runner, numbered differently in each: never copied.
MIGRATIONS_TABLE = "schema_migrations"

Progress = Callable[[str, int], None]
Converter = Callable[[Any], Any]


@dataclass(frozen=True)
class Table:
    """One data table as a catalog describes it."""

    name: str
    # Column name to its declared type (lower case), in the table's column order.
    columns: dict[str, str]
    key: tuple[str, ...]
    parents: frozenset[str]
    # Column name to the PostgreSQL sequence that numbers it (identity or serial).
    sequences: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class CopyResult:
    """What a finished copy wrote: rows per table in copy order, and how long it took."""

    source: str
    target: str
    counts: tuple[tuple[str, int], ...]
    seconds: float

    @property
    def total(self) -> int:
        """Return the number of rows copied, all tables together."""
        return sum(n for _, n in self.counts)


def database_url(text: str) -> str:
    """Return the DATABASE_URL for a URL or a bare SQLite file path."""
    if is_postgres_url(text) or text.startswith("sqlite:///"):
        return text
    if "://" in text:
        raise StorageError(f"unsupported database URL scheme: {text.split('://', 1)[0]}")
    return f"sqlite:///{text}"


def describe_url(url: str) -> str:
    """Return a database's name for messages: a file path, or host, port and database."""
    if is_postgres_url(url):
        from storage.postgres import describe

        return f"PostgreSQL {describe(url)}"
    return f"SQLite {sqlite_path(url)}"


async def copy_database(
    from_url: str,
    to_url: str,
    *,
    batch_rows: int = BATCH_ROWS,
    progress: Progress | None = None,
) -> CopyResult:
    """Copy every row of `from_url` into the empty database `to_url`, migrated first."""
    started = time.monotonic()
    source_url, target_url = database_url(from_url), database_url(to_url)
    if _same_database(source_url, target_url):
        raise StorageError("the source and the target are the same database")
    source = await _open(source_url, create=False)
    try:
        await _check_version(source)
        # Before migrating: a database that holds rows is refused untouched.
        await _refuse_rows_in(target_url)
        store = await open_store(target_url, pool_size=1)
        await store.close()
        target = await _open(target_url, create=True)
        try:
            counts = await _copy(source, target, batch_rows, progress)
        finally:
            await target.close()
    finally:
        await source.close()
    return CopyResult(
        describe_url(source_url),
        describe_url(target_url),
        tuple(counts),
        time.monotonic() - started,
    )


def _same_database(a: str, b: str) -> bool:
    if is_postgres_url(a) or is_postgres_url(b):
        return a == b
    return sqlite_path(a).expanduser().resolve() == sqlite_path(b).expanduser().resolve()


async def _check_version(source: Side) -> None:
    """Refuse a source another release migrated: its columns would not match the target's."""
    found = await source.schema_version()
    latest = len(migrations(source.migrations_folder))
    if found is None:
        raise StorageError(f"{source.name} has no {MIGRATIONS_TABLE} table: not a bot database")
    if found < latest:
        raise StorageError(
            f"{source.name} is at schema version {found}, this release's is {latest}: start"
            " this release of the bot on it once (it migrates at start), stop it, then copy"
        )
    if found > latest:
        raise StorageError(
            f"{source.name} is at schema version {found}, newer than this release's"
            f" ({latest}): copy it with the release that wrote it"
        )


async def _refuse_rows_in(url: str) -> None:
    if not is_postgres_url(url) and not sqlite_path(url).exists():
        return
    side = await _open(url, create=False)
    try:
        tables = await side.tables()
        await _refuse_rows(side, sorted(tables))
    finally:
        await side.close()


class NotEmptyError(StorageError):
    """The target of a copy holds rows."""


async def _refuse_rows(side: Side, tables: Iterable[str]) -> None:
    for name in tables:
        rows = await side.count(name)
        if rows:
            raise NotEmptyError(
                f"the target is not empty: table {name} has {rows:,} row{'' if rows == 1 else 's'}"
                " (db copy fills only an empty database)"
            )


async def _copy(
    source: Side, target: Side, batch_rows: int, progress: Progress | None
) -> list[tuple[str, int]]:
    source_tables = await source.tables()
    target_tables = await target.tables()
    _compare(source_tables, target_tables, source.name, target.name)
    order = _dependency_order(target_tables)
    counts: list[tuple[str, int]] = []
    try:
        async with source.snapshot(), target.transaction():
            # Again inside the transaction, which holds the target's tables from here on.
            await target.lock(order)
            await _refuse_rows(target, order)
            for name in order:
                table = target_tables[name]
                copied = await _copy_table(
                    source, target, table, source_tables[name].key, batch_rows
                )
                counts.append((name, copied))
                if progress is not None:
                    progress(name, copied)
            await target.reset_sequences([target_tables[n] for n in order])
            for name, copied in counts:
                in_source = await source.count(name)
                in_target = await target.count(name)
                if not in_source == copied == in_target:
                    raise StorageError(
                        f"row counts differ for table {name}: {in_source} in the source,"
                        f" {copied} copied, {in_target} in the target"
                    )
    except NotEmptyError:
        raise
    except Exception as exc:
        if isinstance(exc, StorageError):
            message = str(exc)
        elif isinstance(exc, _driver_errors()):
            message = f"the copy failed: {exc}"
        else:
            raise
        raise StorageError(f"{message}; nothing was copied, the target holds no rows") from exc
    return counts


def _driver_errors() -> tuple[type[Exception], ...]:
    """Return the database drivers' error classes, asyncpg's only if a side loaded it."""
    errors: list[type[Exception]] = [sqlite3.Error]
    asyncpg = sys.modules.get("asyncpg")
    if asyncpg is not None:
        errors += [asyncpg.PostgresError, asyncpg.InterfaceError]
    return tuple(errors)


async def _copy_table(
    source: Side, target: Side, table: Table, key: tuple[str, ...], batch_rows: int
) -> int:
    columns = list(table.columns)
    converters = [target.converter(table.columns[c]) for c in columns]
    copied = 0
    async for batch in source.rows(table.name, columns, key, batch_rows):
        rows = [_convert(table.name, columns, converters, row) for row in batch]
        await target.insert(table.name, columns, rows)
        copied += len(rows)
    return copied


def _convert(
    table: str, columns: list[str], converters: list[Converter], row: tuple[Any, ...]
) -> tuple[Any, ...]:
    out: list[Any] = []
    for column, convert, value in zip(columns, converters, row, strict=True):
        if value is None:
            out.append(None)
            continue
        try:
            out.append(convert(value))
        except (TypeError, ValueError) as exc:
            raise StorageError(f"cannot copy {table}.{column} value {value!r}: {exc}") from exc
    return tuple(out)


def _compare(
    source: dict[str, Table], target: dict[str, Table], source_name: str, target_name: str
) -> None:
    """Refuse to copy unless both databases have the same tables with the same columns."""
    problems = []
    for name in sorted(source.keys() - target.keys()):
        problems.append(f"table {name} only in the source")
    for name in sorted(target.keys() - source.keys()):
        problems.append(f"table {name} only in the target")
    for name in sorted(source.keys() & target.keys()):
        theirs, ours = set(source[name].columns), set(target[name].columns)
        problems += [f"column {name}.{c} only in the source" for c in sorted(theirs - ours)]
        problems += [f"column {name}.{c} only in the target" for c in sorted(ours - theirs)]
    if problems:
        raise StorageError(
            f"the schemas of {source_name} and {target_name} differ ({'; '.join(problems)}):"
            " both backends' migrations must create the same tables and columns"
        )


def _dependency_order(tables: dict[str, Table]) -> list[str]:
    """Return the tables so that each comes after the tables its foreign keys point to."""
    waiting = {name: set(t.parents & tables.keys()) - {name} for name, t in tables.items()}
    order: list[str] = []
    while waiting:
        ready = sorted(name for name, parents in waiting.items() if not parents)
        if not ready:
            raise StorageError(
                f"the foreign keys of tables {', '.join(sorted(waiting))} form a cycle"
            )
        for name in ready:
            del waiting[name]
        for parents in waiting.values():
            parents.difference_update(ready)
        order += ready
    return order


def _ident(name: str) -> str:
    """Quote an identifier read from a catalog, for both SQLite and PostgreSQL."""
    return '"' + name.replace('"', '""') + '"'


class Side(Protocol):
    """One end of a copy: a database read through its catalog and written in batches."""

    name: str
    migrations_folder: str

    async def close(self) -> None: ...
    async def schema_version(self) -> int | None: ...
    async def tables(self) -> dict[str, Table]: ...
    async def count(self, table: str) -> int: ...
    def snapshot(self) -> AbstractAsyncContextManager[None]: ...
    def transaction(self) -> AbstractAsyncContextManager[None]: ...
    async def lock(self, tables: list[str]) -> None: ...
    def rows(
        self, table: str, columns: list[str], key: tuple[str, ...], batch_rows: int
    ) -> AsyncIterator[list[tuple[Any, ...]]]: ...
    def converter(self, declared_type: str) -> Converter: ...
    async def insert(self, table: str, columns: list[str], rows: list[tuple[Any, ...]]) -> None: ...
    async def reset_sequences(self, tables: list[Table]) -> None: ...


async def _open(url: str, *, create: bool) -> Side:
    if is_postgres_url(url):
        return await _Postgres.connect(url)
    return _Sqlite.connect(url, create=create)


# SQLite


class _Sqlite:
    """A SQLite file, through the standard library: the copy is one process, one thread."""

    migrations_folder = "migrations"

    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        self._conn = conn
        self.name = f"SQLite {path}"

    @classmethod
    def connect(cls, url: str, *, create: bool) -> _Sqlite:
        path = sqlite_path(url)
        if not create and not path.is_file():
            raise StorageError(f"database {path} does not exist")
        try:
            if create:
                conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
                conn.execute("PRAGMA foreign_keys = ON")
            else:
                # Read-only: a source is never changed, and a wrong path is never created.
                uri = f"file:{quote(str(path.resolve()))}?mode=ro"
                conn = sqlite3.connect(
                    uri, uri=True, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None
                )
        except sqlite3.Error as exc:
            raise StorageError(f"cannot open database {path}: {exc}") from exc
        return cls(conn, path)

    async def close(self) -> None:
        self._conn.close()

    async def schema_version(self) -> int | None:
        if MIGRATIONS_TABLE not in self._table_names(with_migrations=True):
            return None
        row = self._conn.execute(f"SELECT MAX(version) FROM {MIGRATIONS_TABLE}").fetchone()  # noqa: S608
        return int(row[0]) if row and row[0] is not None else 0

    def _table_names(self, *, with_migrations: bool = False) -> list[str]:
        names = [
            r[0]
            for r in self._conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'"
                " AND name NOT LIKE 'sqlite!_%' ESCAPE '!' ORDER BY name"
            )
        ]
        return [n for n in names if with_migrations or n != MIGRATIONS_TABLE]

    async def tables(self) -> dict[str, Table]:
        found = {}
        for name in self._table_names():
            info = self._conn.execute(
                "SELECT name, lower(type), pk FROM pragma_table_info(?) ORDER BY cid", (name,)
            ).fetchall()
            parents = self._conn.execute(
                'SELECT DISTINCT "table" FROM pragma_foreign_key_list(?)', (name,)
            ).fetchall()
            key = tuple(c for c, _, pk in sorted(info, key=lambda r: r[2]) if pk)
            found[name] = Table(
                name, {c: t for c, t, _ in info}, key, frozenset(p[0] for p in parents)
            )
        return found

    async def count(self, table: str) -> int:
        row = self._conn.execute(f"SELECT COUNT(*) FROM {_ident(table)}").fetchone()  # noqa: S608
        return int(row[0])

    @asynccontextmanager
    async def snapshot(self) -> AsyncIterator[None]:
        # One read transaction: in WAL mode every table is read as of the first SELECT.
        self._conn.execute("BEGIN")
        try:
            yield
        finally:
            self._conn.execute("ROLLBACK")

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    async def lock(self, tables: list[str]) -> None:
        # BEGIN IMMEDIATE already holds the write lock on the whole file.
        return None

    async def rows(
        self, table: str, columns: list[str], key: tuple[str, ...], batch_rows: int
    ) -> AsyncIterator[list[tuple[Any, ...]]]:
        order = f" ORDER BY {', '.join(map(_ident, key))}" if key else ""
        sql = f"SELECT {', '.join(map(_ident, columns))} FROM {_ident(table)}{order}"  # noqa: S608
        cursor = self._conn.execute(sql)
        try:
            while batch := cursor.fetchmany(batch_rows):
                yield batch
        finally:
            cursor.close()

    def converter(self, declared_type: str) -> Converter:
        return _to_sqlite

    async def insert(self, table: str, columns: list[str], rows: list[tuple[Any, ...]]) -> None:
        marks = ", ".join("?" for _ in columns)
        sql = f"INSERT INTO {_ident(table)} ({', '.join(map(_ident, columns))}) VALUES ({marks})"  # noqa: S608
        try:
            self._conn.executemany(sql, rows)
        except sqlite3.Error as exc:
            raise StorageError(f"copying table {table} failed: {exc}") from exc

    async def reset_sequences(self, tables: list[Table]) -> None:
        # An INTEGER PRIMARY KEY takes the largest id + 1, and AUTOINCREMENT's
        # sqlite_sequence follows explicit ids: nothing to reset.
        return None


def _to_sqlite(value: Any) -> Any:
    """Return a value as SQLite keeps it: times and days as ISO text, flags as 0/1."""
    if isinstance(value, date):
        # datetime too: the SQLite backend writes datetime.isoformat(), PostgreSQL hands
        # back UTC times, so the text sorts as the bot's own.
        return value.isoformat()
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return value


# PostgreSQL


class _Postgres:
    """A PostgreSQL database (its current schema), on one asyncpg connection."""

    migrations_folder = "migrations_pg"

    def __init__(self, conn: asyncpg.Connection[asyncpg.Record], name: str) -> None:
        self._conn = conn
        self.name = name

    @classmethod
    async def connect(cls, url: str) -> _Postgres:
        # Imported here: a SQLite-only `db copy` never loads the PostgreSQL driver.
        import asyncpg

        from storage.postgres import describe

        where = describe(url)
        try:
            conn = await asyncpg.connect(url)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            raise StorageError(f"cannot connect to PostgreSQL at {where}: {exc}") from exc
        return cls(conn, f"PostgreSQL {where}")

    async def close(self) -> None:
        await self._conn.close()

    async def schema_version(self) -> int | None:
        if MIGRATIONS_TABLE not in await self._table_names(with_migrations=True):
            return None
        version = await self._conn.fetchval(f"SELECT MAX(version) FROM {MIGRATIONS_TABLE}")  # noqa: S608
        return int(version) if version is not None else 0

    async def _table_names(self, *, with_migrations: bool = False) -> list[str]:
        rows = await self._conn.fetch(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') ORDER BY 1"
        )
        return [r[0] for r in rows if with_migrations or r[0] != MIGRATIONS_TABLE]

    async def tables(self) -> dict[str, Table]:
        names = await self._table_names()
        columns = await self._conn.fetch(
            "SELECT c.relname AS tab, a.attname AS col,"
            " format_type(a.atttypid, a.atttypmod) AS type,"
            " pg_get_serial_sequence(format('%I.%I', n.nspname, c.relname), a.attname) AS seq"
            " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " JOIN pg_attribute a ON a.attrelid = c.oid"
            " WHERE n.nspname = current_schema() AND a.attnum > 0 AND NOT a.attisdropped"
            " AND a.attgenerated = '' ORDER BY c.relname, a.attnum"
        )
        keys = await self._conn.fetch(
            "SELECT c.relname AS tab, a.attname AS col"
            " FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid"
            " JOIN pg_namespace n ON n.oid = c.relnamespace"
            " JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = ANY(i.indkey)"
            " WHERE i.indisprimary AND n.nspname = current_schema()"
            " ORDER BY c.relname, array_position(i.indkey::int2[], a.attnum)"
        )
        parents = await self._conn.fetch(
            "SELECT c.relname AS tab, p.relname AS parent FROM pg_constraint k"
            " JOIN pg_class c ON c.oid = k.conrelid JOIN pg_class p ON p.oid = k.confrelid"
            " JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE k.contype = 'f' AND n.nspname = current_schema()"
        )
        found = {}
        for name in names:
            mine = [r for r in columns if r["tab"] == name]
            found[name] = Table(
                name,
                {r["col"]: r["type"] for r in mine},
                tuple(r["col"] for r in keys if r["tab"] == name),
                frozenset(r["parent"] for r in parents if r["tab"] == name),
                {r["col"]: r["seq"] for r in mine if r["seq"] is not None},
            )
        return found

    async def count(self, table: str) -> int:
        return int(await self._conn.fetchval(f"SELECT COUNT(*) FROM {_ident(table)}"))  # noqa: S608

    @asynccontextmanager
    async def snapshot(self) -> AsyncIterator[None]:
        async with self._conn.transaction(isolation="repeatable_read", readonly=True):
            yield

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        async with self._conn.transaction():
            yield

    async def lock(self, tables: list[str]) -> None:
        # Nothing else writes (a bot started on the target by mistake waits) until commit.
        if tables:
            names = ", ".join(map(_ident, tables))
            await self._conn.execute(f"LOCK TABLE {names} IN EXCLUSIVE MODE")

    async def rows(
        self, table: str, columns: list[str], key: tuple[str, ...], batch_rows: int
    ) -> AsyncIterator[list[tuple[Any, ...]]]:
        order = f" ORDER BY {', '.join(map(_ident, key))}" if key else ""
        sql = f"SELECT {', '.join(map(_ident, columns))} FROM {_ident(table)}{order}"  # noqa: S608
        cursor = await self._conn.cursor(sql)
        while batch := await cursor.fetch(batch_rows):
            yield [tuple(r) for r in batch]

    def converter(self, declared_type: str) -> Converter:
        return _PG_CONVERTERS.get(declared_type, _same)

    async def insert(self, table: str, columns: list[str], rows: list[tuple[Any, ...]]) -> None:
        import asyncpg

        try:
            # COPY: one round trip per batch and no statement text to build.
            await self._conn.copy_records_to_table(table, records=rows, columns=columns)
        except (asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            raise StorageError(f"copying table {table} failed: {exc}") from exc

    async def reset_sequences(self, tables: list[Table]) -> None:
        for table in tables:
            for column, sequence in table.sequences.items():
                # is_called false: the next id handed out is max + 1 (1 on an empty table).
                await self._conn.execute(
                    f"SELECT setval($1::regclass, COALESCE((SELECT MAX({_ident(column)})"  # noqa: S608
                    f" FROM {_ident(table.name)}), 0) + 1, false)",
                    sequence,
                )


def _same(value: Any) -> Any:
    return value


def _to_int(value: Any) -> int:
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        return int(value)
    raise TypeError(f"not an integer: {type(value).__name__}")


def _to_float(value: Any) -> float:
    if isinstance(value, int | float | str):
        return float(value)
    raise TypeError(f"not a number: {type(value).__name__}")


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if value in (0, 1):
        return bool(value)
    raise ValueError("not a flag (0 or 1)")


def _to_time(value: Any) -> datetime:
    found = datetime.fromisoformat(value) if isinstance(value, str) else value
    if not isinstance(found, datetime):
        raise TypeError(f"not a time: {type(value).__name__}")
    # The bot writes aware times only; a naive one can only be a hand edit, and UTC is
    # what the bot's clock uses.
    return found if found.tzinfo is not None else found.replace(tzinfo=UTC)


def _to_date(value: Any) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        # Both backends read an empty day as no day (storage/rows.py opt_date).
        return date.fromisoformat(value) if value else None
    raise TypeError(f"not a day: {type(value).__name__}")


def _to_json(value: Any) -> str:
    # asyncpg takes JSONB as text; the server checks that it is JSON.
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _to_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return str(value)
    raise TypeError(f"not text: {type(value).__name__}")


_PG_CONVERTERS: dict[str, Converter] = {
    "bigint": _to_int,
    "integer": _to_int,
    "smallint": _to_int,
    "double precision": _to_float,
    "real": _to_float,
    "boolean": _to_bool,
    "timestamp with time zone": _to_time,
    "date": _to_date,
    "jsonb": _to_json,
    "json": _to_json,
    "text": _to_text,
}
