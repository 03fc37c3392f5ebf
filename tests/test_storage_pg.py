"""What only the PostgreSQL backend has: URLs, connection errors, types, locked migrations."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import pytest

from bot.cli import main
from storage import StorageError, open_store
from storage.backup import backup_database
from storage.migrate import migrations
from storage.postgres import PostgresStore


def test_backup_of_postgres_says_it_needs_pg_dump(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    with pytest.raises(StorageError, match="pg_dump"):
        backup_database("postgresql://u@h/db", tmp_path / "copy")
    monkeypatch.setenv("DATABASE_URL", "postgres://u:secret@h:5432/db")
    assert main(["backup", str(tmp_path / "copy")]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "pg_dump" in err and "secret" not in err
    assert not (tmp_path / "copy").exists()


async def test_unreachable_server_is_one_clear_error_without_the_password() -> None:
    # Port 1 on the loopback refuses at once: no waiting for a timeout.
    where = r"127\.0\.0\.1:1/db"
    with pytest.raises(StorageError, match=f"cannot connect to PostgreSQL at {where}") as e:
        await open_store("postgresql://bot:s3cret@127.0.0.1:1/db")
    assert "s3cret" not in str(e.value)


# Ids that name content or Telegram files, not rows or people.
TEXT_IDS = {
    "questionnaire_id",
    "question_id",
    "section_id",
    "session_id",
    "event_id",
    "file_id",
    "media_file_id",
}


def _in_schema(url: str, schema: str, scheme: str = "postgresql://") -> str:
    """Return the test URL under `scheme`, with sslmode and the schema as search_path."""
    rest = url.split("://", 1)[1]
    separator = "&" if "?" in rest else "?"
    # asyncpg hands query parameters it does not know to the server as settings.
    return f"{scheme}{rest}{separator}sslmode=disable&search_path={schema}"


async def test_url_schemes_sslmode_and_reopening(pg_schema: tuple[str, str]) -> None:
    url, schema = pg_schema
    first = await open_store(_in_schema(url, schema), pool_size=2)
    try:
        assert isinstance(first, PostgresStore)
        assert await first.schema_version() == len(migrations("migrations_pg"))
        await first.set_user_language(7, "es", datetime(2024, 1, 1, tzinfo=UTC))
    finally:
        await first.close()
    second = await open_store(_in_schema(url, schema, "postgres://"), pool_size=1)
    try:
        user = await second.user(7)
        assert user is not None and user.language == "es"
    finally:
        await second.close()
    conn = await asyncpg.connect(url, server_settings={"search_path": schema})
    try:
        applied = await conn.fetchval("SELECT COUNT(*) FROM schema_migrations")
    finally:
        await conn.close()
    assert applied == len(migrations("migrations_pg"))


async def test_instances_starting_together_migrate_once(pg_schema: tuple[str, str]) -> None:
    url, schema = pg_schema
    stores = await asyncio.gather(
        *(
            PostgresStore.open(url, pool_size=1, server_settings={"search_path": schema})
            for _ in range(3)
        )
    )
    try:
        for store in stores:
            assert await store.schema_version() == len(migrations("migrations_pg"))
    finally:
        for store in stores:
            await store.close()


async def test_columns_have_postgres_types(pg_store: PostgresStore) -> None:
    rows = await pg_store._all(
        "SELECT table_name, column_name, data_type FROM information_schema.columns"
        " WHERE table_schema = current_schema() AND table_name <> 'schema_migrations'"
    )
    assert rows
    wrong = []
    for table, column, kind in rows:
        if column in TEXT_IDS:
            expected = "text"
        elif column == "id" or column.endswith(("_id", "_by")):
            expected = "bigint"
        elif column.endswith("_at"):
            expected = "timestamp with time zone"
        elif column.endswith("_date"):
            expected = "date"
        elif column.endswith("_json"):
            expected = "jsonb"
        else:
            continue
        if kind != expected:
            wrong.append(f"{table}.{column}: {kind}")
    assert wrong == []
