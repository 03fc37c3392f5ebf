"""`python -m bot backup`: a consistent copy of a live database, and a restore from it."""

from __future__ import annotations

import asyncio
import os
import shutil
import sqlite3
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from bot.apidouble import BotApiDouble
from bot.content import Content, load_workshop_file
from bot.flows.workshops import import_workshop
from storage import StorageError, Store, open_store
from storage.backup import backup_database, libpq_url
from storage.migrate import migrations
from storage.postgres import PostgresStore
from tests.conftest import PG_URL_VARIABLE
from tests.e2e.harness import COCHABAMBA, TOKEN, progress
from tests.e2e.test_restart import _shows, answer, until
from tests.e2e.test_shutdown import BotRun
from tests.support import FakeClock, make_services

ROOT = Path(__file__).resolve().parent.parent


async def seeded(db_url: str, content: Content, people: int = 3) -> Store:
    store = await open_store(db_url)
    clock = FakeClock()
    svc = make_services(store, content, clock)
    workshop = (
        await import_workshop(svc, load_workshop_file(COCHABAMBA), "x", clock.now())
    ).workshop
    for i in range(people):
        await store.join(
            workshop_id=workshop.id, telegram_id=100 + i, language="es", now=clock.now()
        )
    return store


def count(path: Path, table: str) -> int:
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])
    finally:
        conn.close()


def dgca_answers(path: Path) -> int:
    """Count the DGCA's answers (the profile's are answers too, since 0.5)."""
    conn = sqlite3.connect(path)
    try:
        row = conn.execute(
            "SELECT COUNT(*) FROM answers JOIN responses ON responses.id = answers.response_id"
            " WHERE responses.questionnaire_id = 'dgca'"
        ).fetchone()
        return int(row[0])
    finally:
        conn.close()


async def test_backup_is_a_verified_standalone_copy(
    tmp_path: Path, db_url: str, content: Content
) -> None:
    store = await seeded(db_url, content)
    try:
        target = tmp_path / "backups" / "bot-1.sqlite3"
        target.parent.mkdir()
        result = backup_database(db_url, target)
    finally:
        await store.close()
    assert result.path == target and result.size_bytes == target.stat().st_size
    assert result.schema_version >= 3
    conn = sqlite3.connect(target)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        conn.close()
    # Readable by the owner only: it holds participants' personal data.
    assert target.stat().st_mode & 0o077 == 0
    assert sorted(p.name for p in target.parent.iterdir()) == ["bot-1.sqlite3"]
    copy = await open_store(f"sqlite:///{target}")
    try:
        assert await copy.workshop_by_slug("cochabamba-2023") is not None
    finally:
        await copy.close()
    assert count(target, "participants") == 3


async def test_backup_refuses_to_overwrite_unless_forced(
    tmp_path: Path, db_url: str, content: Content
) -> None:
    store = await seeded(db_url, content)
    await store.close()
    target = tmp_path / "copy.sqlite3"
    target.write_text("precious")
    with pytest.raises(StorageError, match="already exists"):
        backup_database(db_url, target)
    assert target.read_text() == "precious"
    backup_database(db_url, target, force=True)
    assert count(target, "participants") == 3
    with pytest.raises(StorageError, match="overwrite the database itself"):
        backup_database(db_url, Path(db_url.removeprefix("sqlite:///")), force=True)
    with pytest.raises(StorageError, match="does not exist"):
        backup_database(f"sqlite:///{tmp_path / 'missing.sqlite3'}", tmp_path / "x.sqlite3")
    assert not (tmp_path / "missing.sqlite3").exists()
    with pytest.raises(StorageError, match="folder"):
        backup_database(db_url, tmp_path / "no" / "such" / "folder.sqlite3")


def test_a_damaged_database_leaves_no_backup(tmp_path: Path, db_url: str) -> None:
    path = Path(db_url.removeprefix("sqlite:///"))
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE t (x INTEGER PRIMARY KEY, y TEXT)")
    conn.executemany("INSERT INTO t (y) VALUES (?)", [("x" * 500,) for _ in range(200)])
    conn.commit()
    conn.close()
    data = bytearray(path.read_bytes())
    data[4096 * 2 : 4096 * 2 + 200] = b"\xff" * 200  # garble a page in the middle
    path.write_bytes(bytes(data))
    target = tmp_path / "copy.sqlite3"
    with pytest.raises(StorageError):
        backup_database(db_url, target)
    assert not target.exists()
    assert [p.name for p in tmp_path.iterdir() if p.suffix == ".tmp"] == []


async def test_backups_while_writing_are_consistent_snapshots(
    tmp_path: Path, db_url: str, content: Content
) -> None:
    store = await seeded(db_url, content, people=0)
    workshop = await store.workshop_by_slug("cochabamba-2023")
    assert workshop is not None
    stop = asyncio.Event()

    async def writer() -> int:
        n = 0
        while not stop.is_set():
            await store.join(
                workshop_id=workshop.id,
                telegram_id=10_000 + n,
                language="es",
                now=FakeClock().now(),
            )
            n += 1
        return n

    task = asyncio.create_task(writer())
    counts = []
    try:
        for i in range(5):
            target = tmp_path / f"copy-{i}.sqlite3"
            await asyncio.to_thread(backup_database, db_url, target)
            counts.append(count(target, "participants"))
            # Every participant in a copy has its user row: one transaction, all or nothing.
            conn = sqlite3.connect(target)
            try:
                orphans = conn.execute(
                    "SELECT COUNT(*) FROM participants p"
                    " LEFT JOIN workshops w ON w.id = p.workshop_id WHERE w.id IS NULL"
                ).fetchone()[0]
            finally:
                conn.close()
            assert orphans == 0
    finally:
        stop.set()
        written = await task
        await store.close()
    assert counts == sorted(counts) and counts[-1] <= written
    assert counts[-1] > 0


async def run_backup_cli(db_url: str, target: Path, *extra: str) -> tuple[int, str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "DATABASE_"))}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "backup",
        str(target),
        *extra,
        cwd=ROOT,
        env={**env, "DATABASE_URL": db_url},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        stdin=asyncio.subprocess.DEVNULL,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


@pytest.mark.slow
async def test_backup_of_a_running_bot_restores_into_a_working_bot(
    tmp_path: Path, content: Content
) -> None:
    db_url = f"sqlite:///{tmp_path / 'live' / 'bot.sqlite3'}"
    store = await seeded(db_url, content, people=0)
    workshop = await store.workshop_by_slug("cochabamba-2023")
    await store.close()
    assert workshop is not None
    async with BotApiDouble(token=TOKEN, bot_username="taller_test_bot") as double:
        bot = BotRun(double, db_url, tmp_path / "bot.log", "polling")
        await bot.start()
        ana = double.new_user(first_name="Ana", last_name="Quispe", language_code="es")
        await ana.send(f"/start {workshop.join_code}")
        await until(double, lambda: "Continuar ›" in ana.buttons(), "greeting")
        for label, expect in [
            ("Continuar ›", "Acepto"),
            ("Acepto", "Usar «Ana Quispe»"),
            ("Usar «Ana Quispe»", "Otra institución"),
            ("Gobierno Autónomo Municipal de Sacaba", None),
        ]:
            seen = len(ana.messages)
            await ana.tap(label)
            await until(double, _shows(ana, expect, seen), expect or "position question")
        await ana.send("Jefa de Sistemas")
        await until(double, lambda: "Bolivia" in ana.buttons(), "country")
        await ana.tap("Bolivia")
        await until(double, lambda: "📝 Empezar la autoevaluación" in ana.buttons(), "profile")
        await ana.tap("📝 Empezar la autoevaluación")
        await until(double, lambda: "· 1/36" in (ana.last.text or ""), "first statement")
        for _ in range(4):
            await answer(double, ana, "De acuerdo")
        # Back up while the bot is busy answering: taps keep coming during the copy.
        target = tmp_path / "backup.sqlite3"
        backup = asyncio.create_task(run_backup_cli(db_url, target))
        while not backup.done() and progress(ana.last)[1] < 20:
            await answer(double, ana, "En desacuerdo")
        code, out, err = await backup
        assert code == 0, err
        assert out.startswith(f"backup written to {target}") and "integrity ok" in out
        code, _, err = await run_backup_cli(db_url, target)
        assert code == 2 and "already exists" in err
        code, seconds = await bot.terminate()
        assert code == 0 and seconds < 10

        in_backup = dgca_answers(target)
        assert in_backup >= 4
        # Restore as docs/operations.md says: the bot is stopped, copy the file into place.
        restored = tmp_path / "restored" / "bot.sqlite3"
        restored.parent.mkdir()
        shutil.copy2(target, restored)
        bot = BotRun(double, f"sqlite:///{restored}", tmp_path / "bot2.log", "polling")
        await bot.start()
        seen = len(ana.messages)
        await ana.send("/dgca")
        await until(double, lambda: len(ana.messages) >= seen + 2, "resume message and question")
        assert f"lleva {in_backup} de 36" in (ana.messages[-2].text or "")
        assert progress(ana.last)[1] == in_backup + 1
        await answer(double, ana, "De acuerdo")
        code, _ = await bot.terminate()
        assert code == 0
        assert double.violations == []
    assert dgca_answers(restored) == in_backup + 1


# PostgreSQL: pg_dump, and restores with pg_restore as docs/operations.md says.


@pytest.fixture
async def pg_databases() -> AsyncIterator[tuple[str, str]]:
    """Create two fresh databases on the test server; yield their URLs; drop them afterwards.

    Whole databases, not schemas: pg_dump archives a database, and a restore recreates it.
    """
    url = os.environ.get(PG_URL_VARIABLE)
    if not url:
        pytest.skip(f"{PG_URL_VARIABLE} is not set")
    import asyncpg

    names = [f"test_{uuid.uuid4().hex[:16]}" for _ in range(2)]
    admin = await asyncpg.connect(url)
    try:
        for name in names:
            await admin.execute(f'CREATE DATABASE "{name}"')
        parts = urlsplit(url)
        first, second = (urlunsplit(parts._replace(path=f"/{n}")) for n in names)
        yield first, second
    finally:
        for name in names:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def pg_restore(url: str, archive: Path) -> None:
    """Restore an archive with the command docs/operations.md gives."""
    db, env = libpq_url(url)
    tool = shutil.which("pg_restore")
    assert tool, "pg_restore is not installed (Debian: apt-get install postgresql-client)"
    proc = await asyncio.create_subprocess_exec(
        tool,
        "--clean",
        "--if-exists",
        "-d",
        db,
        str(archive),
        env={**os.environ, **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()


async def people(url: str) -> list[int]:
    """Return the Telegram ids of the workshop's participants, read through the Store."""
    store = await open_store(url)
    try:
        workshop = await store.workshop_by_slug("cochabamba-2023")
        assert workshop is not None
        return sorted(r.telegram_id for r in await store.recipients(workshop.id, "dgca", "ev"))
    finally:
        await store.close()


async def test_postgres_backup_restores_in_place_and_into_a_new_database(
    tmp_path: Path, pg_databases: tuple[str, str], content: Content
) -> None:
    live, spare = pg_databases
    store = await seeded(live, content)
    await store.close()
    target = tmp_path / "taller.dump"
    result = await asyncio.to_thread(backup_database, live, target)
    assert result.path == target and result.size_bytes == target.stat().st_size > 0
    assert result.schema_version == len(migrations("migrations_pg"))
    assert "pg_restore" in result.checked
    assert target.read_bytes().startswith(b"PGDMP")
    # Readable by the owner only: it holds participants' personal data.
    assert target.stat().st_mode & 0o077 == 0
    assert os.listdir(tmp_path) == ["taller.dump"]
    with pytest.raises(StorageError, match="already exists"):
        await asyncio.to_thread(backup_database, live, target)

    # After the backup someone joins; restoring in place (--clean) brings back the backup.
    store = await open_store(live)
    try:
        workshop = await store.workshop_by_slug("cochabamba-2023")
        assert workshop is not None
        await store.join(
            workshop_id=workshop.id, telegram_id=500, language="es", now=FakeClock().now()
        )
    finally:
        await store.close()
    assert await people(live) == [100, 101, 102, 500]
    await pg_restore(live, target)
    await pg_restore(spare, target)
    for url in (live, spare):
        assert await people(url) == [100, 101, 102]
        restored = await PostgresStore.open(url)
        assert await restored.schema_version() == result.schema_version
        try:
            workshop = await restored.workshop_by_slug("cochabamba-2023")
            assert workshop is not None
            # The archive carries the sequences too: a new participant gets a new id.
            newcomer, new = await restored.join(
                workshop_id=workshop.id, telegram_id=600, language="es", now=FakeClock().now()
            )
            assert new and newcomer.id == 4
        finally:
            await restored.close()


def test_postgres_backup_needs_pg_dump_and_says_how_to_install_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(StorageError, match=r"pg_dump.*apt-get install postgresql-client"):
        backup_database("postgresql://bot:s3cret@127.0.0.1:1/db", tmp_path / "x.dump")
    assert list(tmp_path.iterdir()) == []


def test_libpq_url_moves_the_password_out_and_settings_into_options() -> None:
    url, env = libpq_url(
        "postgres://bot:p%40ss%3Aw@db.example.org:5432/taller?sslmode=require&search_path=a b"
    )
    assert env == {"PGPASSWORD": "p@ss:w"}
    assert url == (
        "postgres://bot@db.example.org:5432/taller"
        "?sslmode=require&options=-c%20search_path%3Da%5C%20b"
    )
    assert libpq_url("postgresql://127.0.0.1/test") == ("postgresql://127.0.0.1/test", {})
