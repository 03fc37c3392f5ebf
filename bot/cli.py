"""Command line: run the bot, check content, import workshops, back up and copy databases."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from pydantic import ValidationError
from telegram import Bot
from telegram.error import InvalidToken, NetworkError, TelegramError

from bot.content import (
    Content,
    ContentError,
    Questionnaire,
    load_content,
    load_workshop_file,
    parse_model_with_lines,
)
from bot.i18n import I18n
from bot.logs import setup_logging
from bot.settings import Settings
from storage import StorageError, is_postgres_url, open_store
from storage.copy import copy_database, database_url, describe_url

log = logging.getLogger("bot")


TOKEN_REJECTED = "Telegram rejected TELEGRAM_BOT_TOKEN (check it with @BotFather)"


class StartupError(Exception):
    """A problem that stops the bot with one clear line and no traceback."""


def load_settings() -> Settings:
    """Read the settings, turning validation errors into one line."""
    try:
        return Settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        name = str(first["loc"][0]).upper() if first["loc"] else "settings"
        raise StartupError(f"{name}: {first['msg']}") from exc


def load_all(content_dir: Path) -> tuple[Content, I18n]:
    """Load and validate questionnaires, workshops and catalogs."""
    return load_content(content_dir), I18n.load(content_dir / "locales")


def _run(args: argparse.Namespace) -> int:
    from bot.app import build_application, run
    from storage.sqlite import check_writable

    settings = load_settings()
    if not settings.token:
        raise StartupError("TELEGRAM_BOT_TOKEN is not set (get one from @BotFather)")
    webhook = bool(settings.webhook_url) and not args.polling
    if args.webhook and not settings.webhook_url:
        raise StartupError("--webhook needs WEBHOOK_URL (the public https:// address of the bot)")
    setup_logging(settings.log_level, settings.token)
    content, i18n = load_all(settings.content_dir)
    if not is_postgres_url(settings.database_url):
        check_writable(settings.database_url)
    # Ask Telegram once before PTB starts, so a bad token or an unreachable server ends
    # with one line instead of PTB's retry-loop traceback.
    asyncio.run(_preflight(settings))
    # Several instances may serve one webhook URL on one PostgreSQL database.
    shared = webhook and is_postgres_url(settings.database_url)
    app = build_application(settings, content, i18n, shared=shared)
    try:
        run(app, settings, webhook=webhook)
    except InvalidToken as exc:
        raise StartupError(TOKEN_REJECTED) from exc
    except NetworkError as exc:
        raise StartupError(f"cannot reach the Bot API at {settings.telegram_api_url}") from exc
    except TelegramError as exc:
        what = "the webhook" if webhook else "long polling"
        raise StartupError(f"Telegram refused {what}: {exc.message}") from exc
    except OSError as exc:
        if not webhook:
            raise
        where = f"{settings.webhook_listen}:{settings.port}"
        raise StartupError(f"cannot listen for the webhook on {where}: {exc}") from exc
    return 0


async def _preflight(settings: Settings) -> None:
    bot = Bot(
        settings.token,
        base_url=f"{settings.telegram_api_url}/bot",
        base_file_url=f"{settings.telegram_api_url}/file/bot",
    )
    try:
        async with bot:
            pass
    except InvalidToken as exc:
        raise StartupError(TOKEN_REJECTED) from exc
    except NetworkError as exc:
        raise StartupError(f"cannot reach the Bot API at {settings.telegram_api_url}") from exc


def _check_content(args: argparse.Namespace) -> int:
    settings = load_settings()
    content, i18n = load_all(settings.content_dir)
    count = sum(1 for q in content.questionnaires.values() for _ in q.slots())
    print(
        f"content OK: {len(content.questionnaires)} questionnaires ({count} questions), "
        f"{len(content.workshop_examples)} example workshops, "
        f"languages {', '.join(i18n.languages)}"
    )
    return 0


async def _bot_username(settings: Settings) -> str | None:
    if not settings.token:
        return None
    bot = Bot(
        settings.token,
        base_url=f"{settings.telegram_api_url}/bot",
        base_file_url=f"{settings.telegram_api_url}/file/bot",
    )
    try:
        async with bot:
            return bot.username
    except TelegramError:
        return None


async def _import(path: Path, settings: Settings, content: Content, i18n: I18n) -> int:
    from bot.clock import SystemClock
    from bot.flows.workshops import import_workshop
    from bot.services import Services

    spec = load_workshop_file(path)
    store = await open_store(settings.database_url, pool_size=settings.database_pool_size)
    clock = SystemClock()
    svc = Services(store=store, content=content, i18n=i18n, clock=clock)
    try:
        result = await import_workshop(svc, spec, str(path), clock.now())
        event_codes = await store.event_codes(result.workshop.id)
    finally:
        await store.close()
    code = result.workshop.join_code
    verb = "created" if result.created else "updated"
    print(f"workshop {spec.id} {verb}")
    sched = result.schedule
    print(
        f"schedule: {len(sched.added)} added, {len(sched.changed)} changed, "
        f"{len(sched.removed)} removed; {result.notified} change notices queued"
    )
    print(f"join code: {code}")
    if result.all_past:
        print(
            f"warning: the workshop ended on {spec.end_date.isoformat()}: nothing before or"
            " during it will be sent (is the year right?)",
            file=sys.stderr,
        )
    username = await _bot_username(settings) or "<bot username>"
    print(f"join link: https://t.me/{username}?start={code}")
    for event, event_code in event_codes.items():
        print(f"event {event} link: https://t.me/{username}?start={event_code}")
    return 0


def _backup(args: argparse.Namespace) -> int:
    from storage.backup import backup_database

    settings = load_settings()
    result = backup_database(settings.database_url, Path(args.path), force=args.force)
    print(
        f"backup written to {result.path}: {result.size_bytes:,} bytes, "
        f"schema version {result.schema_version}, {result.checked}, {result.seconds:.2f} s"
    )
    return 0


DB_COPY_HELP = """\
Copy every row of a bot database into another, empty one: SQLite to PostgreSQL, or back.
Stop the bot first and keep it stopped until you have switched DATABASE_URL: rows the bot
writes during the copy would not be in the copy.

FROM and TO are DATABASE_URL values (sqlite:///path/bot.sqlite3, a bare file path, or
postgresql://user:password@host:5432/db?sslmode=require). TO is migrated to this release's
schema first and must hold no rows; FROM must be at this release's schema (start this
release of the bot on it once). The copy is one transaction: if it fails, TO keeps no rows.
"""


def _db_copy(args: argparse.Namespace) -> int:
    source, target = database_url(args.source), database_url(args.target)
    print(f"copying {describe_url(source)} into {describe_url(target)}")

    def table_done(table: str, rows: int) -> None:
        print(f"  {table:<24} {rows:>10,}", flush=True)

    result = asyncio.run(copy_database(source, target, progress=table_done))
    print(
        f"row counts match in all {len(result.counts)} tables: {result.total:,} rows copied"
        f" in {result.seconds:.2f} s"
    )
    return 0


def _workshop(args: argparse.Namespace) -> int:
    settings = load_settings()
    content, i18n = load_all(settings.content_dir)
    return asyncio.run(_import(Path(args.file), settings, content, i18n))


def _problems(heading: str, problems: Sequence[object]) -> int:
    """Print a heading and one indented line per problem; return the exit status."""
    print(heading, file=sys.stderr)
    for problem in problems:
        print(f"  {problem}", file=sys.stderr)
    return 2


def _kept(target: Path, force: bool) -> bool:
    """Tell (and say) that an existing file stays, unless --force replaces it."""
    if target.exists() and not force:
        print(f"error: {target} exists (use --force to replace it)", file=sys.stderr)
        return True
    return False


def _form_import(args: argparse.Namespace) -> int:
    # pyxform takes half a second to load: only this command pays for it.
    from bot.xlsform import XLSFormError, import_xlsform

    source = Path(args.file)
    if not source.is_file():
        print(f"error: {source}: file not found", file=sys.stderr)
        return 2
    try:
        imported = import_xlsform(source)
    except XLSFormError as exc:
        # Nothing is written: a form is imported whole or not at all.
        return _problems(f"{source}: not imported, {len(exc.problems)} problem(s):", exc.problems)
    for warning in imported.warnings:
        print(f"{source}: left out: {warning}", file=sys.stderr)
    form = imported.questionnaire
    target = Path(args.out) if args.out else Path(f"{form.id}.yaml")
    if _kept(target, args.force):
        return 2
    target.write_text(imported.yaml_text, encoding="utf-8")
    questions = sum(1 for _ in form.slots())
    print(f"questionnaire {form.id} v{form.version}: {questions} questions -> {target}")
    return 0


def _form_export(args: argparse.Namespace) -> int:
    from bot.xlsform import XLSFormError, export_xlsform

    settings = load_settings()
    path = Path(args.questionnaire)
    if path.suffix in (".yaml", ".yml"):
        form = parse_model_with_lines(Questionnaire, path.read_text(encoding="utf-8"), path)
    else:
        content, _ = load_all(settings.content_dir)
        found = content.questionnaires.get(args.questionnaire)
        if found is None:
            known = ", ".join(sorted(content.questionnaires))
            print(
                f"error: no questionnaire {args.questionnaire!r} (known: {known})", file=sys.stderr
            )
            return 2
        form = found
    target = Path(args.out)
    if _kept(target, args.force):
        return 2
    try:
        data = export_xlsform(form)
    except XLSFormError as exc:
        return _problems(f"error: {form.id} cannot be written as XLSForm:", exc.problems)
    target.write_bytes(data)
    print(f"questionnaire {form.id} -> {target} (XLSForm: survey, choices, settings)")
    return 0


def _rehearse(args: argparse.Namespace) -> int:
    from bot.rehearsal import command

    settings = load_settings()
    content, i18n = load_all(settings.content_dir)
    return command(args, content, i18n)


def parser() -> argparse.ArgumentParser:
    """Return the command-line parser."""
    p = argparse.ArgumentParser(prog="python -m bot", description="Workshop companion bot")
    sub = p.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the bot (webhook when WEBHOOK_URL is set, else polling)")
    mode = run.add_mutually_exclusive_group()
    mode.add_argument("--webhook", action="store_true", help="serve a webhook (needs WEBHOOK_URL)")
    mode.add_argument("--polling", action="store_true", help="long-poll even if WEBHOOK_URL is set")
    run.set_defaults(func=_run)
    backup = sub.add_parser(
        "backup",
        help="back up the database while the bot runs (SQLite file copy, or pg_dump -Fc)",
    )
    backup.add_argument("path", help="file to write (refused if it exists, unless --force)")
    backup.add_argument("--force", action="store_true", help="replace an existing file")
    backup.set_defaults(func=_backup)
    db = sub.add_parser("db", help="database tools")
    dbsub = db.add_subparsers(dest="action", required=True)
    copy = dbsub.add_parser(
        "copy",
        help="copy a stopped bot's database into an empty one (SQLite <-> PostgreSQL)",
        description=DB_COPY_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    copy.add_argument("source", metavar="FROM", help="database to read (the bot stopped)")
    copy.add_argument("target", metavar="TO", help="empty database to fill")
    copy.set_defaults(func=_db_copy)
    sub.add_parser("check-content", help="validate content files").set_defaults(func=_check_content)
    workshop = sub.add_parser("workshop", help="manage workshops")
    wsub = workshop.add_subparsers(dest="action", required=True)
    imp = wsub.add_parser("import", help="create or update a workshop from a YAML file")
    imp.add_argument("file")
    imp.set_defaults(func=_workshop)
    form = sub.add_parser("questionnaire", help="import or export questionnaires as XLSForm")
    fsub = form.add_subparsers(dest="action", required=True)
    fimp = fsub.add_parser(
        "import", help="check an XLSForm (.xlsx, as in KoboToolbox) and write the bot's YAML file"
    )
    fimp.add_argument("file", metavar="FILE.xlsx")
    fimp.add_argument("--out", metavar="FILE", help="where to write (default: <form id>.yaml)")
    fimp.add_argument("--force", action="store_true", help="replace an existing file")
    fimp.set_defaults(func=_form_import)
    fexp = fsub.add_parser("export", help="write a questionnaire as an XLSForm, for Kobo")
    fexp.add_argument("questionnaire", metavar="ID|FILE.yaml", help="e.g. evaluation or dgca")
    fexp.add_argument("out", metavar="OUT.xlsx")
    fexp.add_argument("--force", action="store_true", help="replace an existing file")
    fexp.set_defaults(func=_form_export)
    rehearse = sub.add_parser("rehearse", help="run a whole workshop offline, without a token")
    rehearse.add_argument("--participants", type=int, default=40, metavar="N")
    rehearse.add_argument("--seed", type=int, default=1, metavar="S")
    rehearse.add_argument("--workshop", metavar="FILE", help="workshop file (default: example)")
    rehearse.add_argument("--out", metavar="DIR", help="where to write (default: ./rehearsal)")
    rehearse.add_argument("--force", action="store_true", help="replace a rehearsal in --out")
    rehearse.add_argument("--database", metavar="FILE", help="keep the database in FILE")
    rehearse.add_argument("--quiet", action="store_true", help="no progress bar")
    rehearse.set_defaults(func=_rehearse)
    return p


def main(argv: list[str] | None = None) -> int:
    """Run the command line and return the exit code."""
    args = parser().parse_args(argv)
    try:
        code: int = args.func(args)
        return code
    except (StartupError, ContentError, StorageError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
