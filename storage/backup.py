"""Online backup of the database, safe while the bot runs: SQLite's backup API, or pg_dump."""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

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
    # How the copy was checked, for the command's report.
    checked: str = "integrity ok"


PG_DUMP_MISSING = (
    "backing up PostgreSQL needs pg_dump and pg_restore, and {missing} is not installed:"
    " install the PostgreSQL client tools (Debian or Ubuntu: apt-get install postgresql-client),"
    " at least as new as the server"
)
# Connection parameters libpq understands in a URL; asyncpg passes any other one to the
# server as a setting, which libpq spells options=-c name=value.
LIBPQ_PARAMETERS = frozenset(
    {
        "application_name",
        "channel_binding",
        "client_encoding",
        "connect_timeout",
        "gssencmode",
        "gsslib",
        "host",
        "hostaddr",
        "keepalives",
        "keepalives_count",
        "keepalives_idle",
        "keepalives_interval",
        "krbsrvname",
        "load_balance_hosts",
        "options",
        "passfile",
        "port",
        "service",
        "ssl_max_protocol_version",
        "ssl_min_protocol_version",
        "sslcert",
        "sslcrl",
        "sslcrldir",
        "sslkey",
        "sslmode",
        "sslnegotiation",
        "sslpassword",
        "sslrootcert",
        "sslsni",
        "target_session_attrs",
        "tcp_user_timeout",
        "user",
        "dbname",
    }
)


def backup_database(database_url: str, target: Path, *, force: bool = False) -> BackupResult:
    """Copy the database to `target` consistently, verify the copy, then move it into place."""
    started = time.monotonic()
    postgres = is_postgres_url(database_url)
    if postgres:
        tools = _pg_tools()
    else:
        source = sqlite_path(database_url)
        if not source.is_file():
            raise StorageError(f"database {source} does not exist")
    target = target.expanduser()
    if target.exists() and not force:
        raise StorageError(f"{target} already exists (use --force to replace it)")
    if target.is_dir():
        raise StorageError(f"{target} is a folder")
    if not postgres and target.resolve() == source.resolve():
        raise StorageError("the backup would overwrite the database itself")
    folder = target.parent
    if not folder.is_dir():
        raise StorageError(f"folder {folder} does not exist")
    try:
        # mkstemp makes the file readable by its owner only: a backup holds personal data.
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=folder)
    except OSError as exc:
        raise StorageError(f"cannot write in {folder}: {exc}") from exc
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        if postgres:
            version = _dump(database_url, tmp, *tools)
            checked = "pg_dump custom format, read back by pg_restore"
        else:
            version = _copy(source, tmp)
            checked = "integrity ok"
        _fsync(tmp)
        _place(tmp, target, force=force)
    finally:
        tmp.unlink(missing_ok=True)
    _fsync_dir(folder)
    seconds = time.monotonic() - started
    return BackupResult(target, target.stat().st_size, version, seconds, checked)


def _pg_tools() -> tuple[str, str]:
    """Return the paths of pg_dump and pg_restore, or say which is missing."""
    pg_dump, pg_restore = shutil.which("pg_dump"), shutil.which("pg_restore")
    if pg_dump is None or pg_restore is None:
        missing = "pg_dump" if pg_dump is None else "pg_restore"
        raise StorageError(PG_DUMP_MISSING.format(missing=missing))
    return pg_dump, pg_restore


def libpq_url(database_url: str) -> tuple[str, dict[str, str]]:
    """Return a DATABASE_URL as libpq takes it, and the environment carrying its password.

    The password leaves the URL, which any user on the machine can read in the process
    list, for PGPASSWORD, which only the process's owner can read.
    """
    parts = urlsplit(database_url)
    env = {}
    netloc = parts.netloc
    userinfo, at, hostport = netloc.rpartition("@")
    if at:
        user, colon, password = userinfo.partition(":")
        if colon:
            env["PGPASSWORD"] = unquote(password)
        netloc = f"{user}@{hostport}" if user else hostport
    kept, settings = [], []
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        if name in LIBPQ_PARAMETERS:
            kept.append((name, value))
        else:
            # Backslashes escape spaces (and themselves) inside libpq's options.
            escaped = value.replace("\\", "\\\\").replace(" ", "\\ ")
            settings.append(f"-c {name}={escaped}")
    if settings:
        kept.append(("options", " ".join(settings)))
    # quote, not quote_plus: libpq reads a + as a plus sign.
    query = urlencode(kept, quote_via=quote)
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment)), env


def _dump(database_url: str, tmp: Path, pg_dump: str, pg_restore: str) -> int:
    """Write a pg_dump custom-format archive to `tmp`, read it back; return the schema version."""
    url, password = libpq_url(database_url)
    env = {**os.environ, **password}
    # pg_dump reads the whole database in one repeatable-read snapshot, so it is consistent
    # while the bot writes; --no-password: fail at once rather than wait for a prompt.
    _run([pg_dump, "--format=custom", "--no-password", f"--file={tmp}", f"--dbname={url}"], env)
    # Reading the archive's table of contents and one table's rows proves it is readable.
    _run([pg_restore, "--list", "--file=-", str(tmp)], env)
    rows = _run([pg_restore, "--data-only", "--table=schema_migrations", "--file=-", str(tmp)], env)
    return _max_version(rows)


def _run(command: list[str], env: dict[str, str]) -> str:
    tool = Path(command[0]).name
    try:
        done = subprocess.run(
            command,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            check=False,
        )
    except OSError as exc:
        raise StorageError(f"cannot run {tool}: {exc}") from exc
    if done.returncode != 0:
        said = " ".join(line.strip() for line in done.stderr.splitlines() if line.strip())
        raise StorageError(f"{tool} failed: {said or f'exit status {done.returncode}'}")
    return done.stdout


def _max_version(copy_text: str) -> int:
    """Return the largest version in the COPY rows pg_restore printed for schema_migrations."""
    versions, inside = [], False
    for line in copy_text.splitlines():
        if line.startswith("COPY "):
            inside = True
        elif line == "\\.":
            inside = False
        elif inside and line:
            versions.append(int(line.split("\t", 1)[0]))
    return max(versions, default=0)


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
