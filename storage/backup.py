"""Online backup of the SQLite database, safe while the bot runs."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from storage import is_postgres_url
from storage.interface import StorageError
from storage.sqlite import BUSY_TIMEOUT_MS, sqlite_path


@dataclass(frozen=True)
class BackupResult:
    """What a finished backup wrote."""

    path: Path
    size_bytes: int
    schema_version: int
    seconds: float


def backup_database(database_url: str, target: Path, *, force: bool = False) -> BackupResult:
    """Copy the database to `target` consistently, verify the copy, then move it into place."""
    started = time.monotonic()
    if is_postgres_url(database_url):
        raise StorageError(
            "backup copies SQLite databases only; back up PostgreSQL with pg_dump"
            " (see docs/operations.md)"
        )
    source = sqlite_path(database_url)
    if not source.is_file():
        raise StorageError(f"database {source} does not exist")
    target = target.expanduser()
    if target.exists() and not force:
        raise StorageError(f"{target} already exists (use --force to replace it)")
    if target.is_dir():
        raise StorageError(f"{target} is a folder")
    if target.resolve() == source.resolve():
        raise StorageError("the backup would overwrite the database itself")
    folder = target.parent
    if not folder.is_dir():
        raise StorageError(f"folder {folder} does not exist")
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=folder)
    except OSError as exc:
        raise StorageError(f"cannot write in {folder}: {exc}") from exc
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        version = _copy(source, tmp)
        _fsync(tmp)
        _place(tmp, target, force=force)
    finally:
        tmp.unlink(missing_ok=True)
    _fsync_dir(folder)
    return BackupResult(target, target.stat().st_size, version, time.monotonic() - started)


def _copy(source: Path, tmp: Path) -> int:
    """Copy `source` into `tmp` with SQLite's backup API; return the schema version."""
    try:
        src = sqlite3.connect(source, timeout=BUSY_TIMEOUT_MS / 1000)
    except sqlite3.Error as exc:
        raise StorageError(f"cannot open database {source}: {exc}") from exc
    try:
        dst = sqlite3.connect(tmp)
        try:
            # One step: the copy is a single read transaction, so it is one consistent
            # snapshot; in WAL mode the bot keeps writing meanwhile. Copies made in several
            # steps restart whenever the bot commits, and might never finish on a busy bot.
            src.backup(dst, pages=-1)
            # A single self-contained file: nothing depends on a -wal file beside it.
            dst.execute("PRAGMA journal_mode = DELETE")
            problems = [row[0] for row in dst.execute("PRAGMA integrity_check")]
            if problems != ["ok"]:
                raise StorageError(f"the copy failed its integrity check: {'; '.join(problems)}")
            return _schema_version(dst)
        finally:
            dst.close()
    except sqlite3.Error as exc:
        raise StorageError(f"backup of {source} failed: {exc}") from exc
    finally:
        src.close()


def _schema_version(conn: sqlite3.Connection) -> int:
    try:
        row = conn.execute("SELECT MAX(version) FROM schema_migrations").fetchone()
    except sqlite3.OperationalError:
        return 0
    return int(row[0]) if row and row[0] is not None else 0


def _place(tmp: Path, target: Path, *, force: bool) -> None:
    """Move the verified copy to `target`, never replacing a file unless `force`."""
    try:
        if force:
            os.replace(tmp, target)
            return
        try:
            # A hard link fails if the name was taken meanwhile, where a rename would replace.
            os.link(tmp, target)
        except FileExistsError:
            raise StorageError(f"{target} already exists (use --force to replace it)") from None
        except OSError:
            if target.exists():
                raise StorageError(f"{target} already exists (use --force to replace it)") from None
            os.replace(tmp, target)
    except OSError as exc:
        raise StorageError(f"cannot write {target}: {exc}") from exc


def _fsync(path: Path) -> None:
    with path.open("rb+") as f:
        os.fsync(f.fileno())


def _fsync_dir(folder: Path) -> None:
    # The rename is durable only once the folder is; some systems cannot open folders.
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
