"""Two processes that open the same new database at the same moment both migrate it safely."""

from __future__ import annotations

import asyncio
import sqlite3
import sys
from collections.abc import Callable
from pathlib import Path

from storage import open_store
from storage.sqlite import migrations

ROOT = Path(__file__).resolve().parents[1]
PROCESSES = 2
# Races per test run: one lost race in a few dozen was enough to fail a CI run, and the
# processes start once, so each further race costs only tens of milliseconds.
ROUNDS = 20
TIMEOUT = 60.0

# Python starts slowly and unevenly, so each child starts once and then, round by round,
# waits for that round's go file and opens that round's new database: both open it together.
CHILD = """
import asyncio, sys, time
from pathlib import Path
from storage import open_store

folder, rounds, me = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3]

def wait_for(path: Path) -> None:
    deadline = time.monotonic() + 30
    while not path.exists():
        if time.monotonic() > deadline:
            sys.exit(f"{path} never appeared")
        time.sleep(0.0005)

async def main() -> None:
    for n in range(rounds):
        wait_for(folder / f"go-{n}")
        store = await open_store(f"sqlite:///{folder / f'db-{n}.sqlite3'}")
        await store.close()
        (folder / f"done-{n}-{me}").touch()

(folder / f"ready-{me}").touch()
asyncio.run(main())
"""


def schema(path: Path) -> list[tuple[str, str, str]]:
    """Return every table, index and trigger of a database with its SQL."""
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute(
            "SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'"
            " ORDER BY type, name"
        ).fetchall()
    finally:
        conn.close()
    return [(t, n, s or "") for t, n, s in rows]


def recorded(path: Path) -> tuple[list[tuple[int, str]], str]:
    """Return the rows of schema_migrations (duplicates kept) and the journal mode."""
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute("SELECT version, name FROM schema_migrations ORDER BY version")
        return [(v, n) for v, n in rows], conn.execute("PRAGMA journal_mode").fetchone()[0]
    finally:
        conn.close()


async def wait_until(condition: Callable[[], bool], what: str) -> None:
    """Wait until condition() holds, checking every few milliseconds, up to TIMEOUT."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + TIMEOUT
    while not condition():
        assert loop.time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.002)


async def test_two_processes_migrating_a_new_database(tmp_path: Path) -> None:
    names = [str(i) for i in range(PROCESSES)]
    children = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            CHILD,
            str(tmp_path),
            str(ROUNDS),
            me,
            cwd=ROOT,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        for me in names
    ]

    def touched(prefix: str) -> Callable[[], bool]:
        """Return a check that each child touched `{prefix}-{name}`, or one exited."""
        return lambda: (
            any(c.returncode is not None for c in children)
            or all((tmp_path / f"{prefix}-{me}").exists() for me in names)
        )

    try:
        await wait_until(touched("ready"), "both processes to start")
        for n in range(ROUNDS):
            (tmp_path / f"go-{n}").touch()
            await wait_until(touched(f"done-{n}"), f"both processes to open database {n}")
        outputs = await asyncio.wait_for(
            asyncio.gather(*(child.communicate() for child in children)), TIMEOUT
        )
    finally:
        for child in children:
            if child.returncode is None:
                child.kill()
                await child.wait()
    for child, (_, err) in zip(children, outputs, strict=True):
        assert child.returncode == 0, err.decode(errors="replace")

    # One process alone builds the reference: no migration may be skipped or half-done.
    reference = tmp_path / "reference.sqlite3"
    store = await open_store(f"sqlite:///{reference}")
    await store.close()
    expected = [(number, name) for number, name, _ in migrations()]
    for n in range(ROUNDS):
        database = tmp_path / f"db-{n}.sqlite3"
        assert recorded(database) == (expected, "wal"), f"database {n}"
        assert schema(database) == schema(reference), f"database {n}"
