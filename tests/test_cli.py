"""The command line, as an operator uses it: one clear line on every startup problem."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from datetime import UTC, datetime
from pathlib import Path

from bot.apidouble import BotApiDouble
from bot.content import Questionnaire, parse_model_with_lines
from storage import open_store
from tests.support import CONTENT_DIR
from tests.test_xlsform import SURVEY_HEADER, q, workbook

ROOT = Path(__file__).resolve().parent.parent


async def run_cli(*args: str, env: dict[str, str], cwd: Path) -> tuple[int, str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "DATABASE_"))}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        *args,
        cwd=cwd,
        env={**clean, **env, "PYTHONPATH": str(ROOT)},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        stdin=asyncio.subprocess.DEVNULL,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def one_line(err: str) -> str:
    assert err.count("\n") == 1, err
    assert "Traceback" not in err
    assert err.startswith("error: ")
    return err


async def test_missing_token(tmp_path: Path) -> None:
    code, _, err = await run_cli("run", env={}, cwd=tmp_path)
    assert code == 2 and "TELEGRAM_BOT_TOKEN" in one_line(err)


async def test_database_not_writable(tmp_path: Path) -> None:
    (tmp_path / "blocker").write_text("a file, not a folder")
    env = {
        "TELEGRAM_BOT_TOKEN": "1:x",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'blocker' / 'db.sqlite3'}",
    }
    code, _, err = await run_cli("run", env=env, cwd=tmp_path)
    assert code == 2 and "not writable" in one_line(err)
    code, _, err = await run_cli("run", env={**env, "DATABASE_URL": "mysql://x"}, cwd=tmp_path)
    assert code == 2 and "DATABASE_URL" in one_line(err)


async def test_rejected_token_and_unreachable_server(tmp_path: Path) -> None:
    async with BotApiDouble(token="123456:RIGHT") as double:
        env = {
            "TELEGRAM_BOT_TOKEN": "123456:WRONG",
            "TELEGRAM_API_URL": double.url,
            "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        }
        code, _, err = await run_cli("run", env=env, cwd=tmp_path)
        assert code == 2 and "rejected TELEGRAM_BOT_TOKEN" in one_line(err)
        assert "WRONG" not in err
    code, _, err = await run_cli("run", env=env, cwd=tmp_path)  # the double is gone now
    assert code == 2 and "cannot reach the Bot API" in one_line(err)


async def test_bad_content_names_file_and_field(tmp_path: Path) -> None:
    content = tmp_path / "content"
    (content / "questionnaires").mkdir(parents=True)
    source = (CONTENT_DIR / "questionnaires" / "dgca.yaml").read_text(encoding="utf-8")
    (content / "questionnaires" / "dgca.yaml").write_text(
        source.replace("version: 1", "version: zero"), encoding="utf-8"
    )
    env = {
        "TELEGRAM_BOT_TOKEN": "1:x",
        "CONTENT_DIR": str(content),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
    }
    code, _, err = await run_cli("run", env=env, cwd=tmp_path)
    assert code == 2
    assert "dgca.yaml" in one_line(err) and "version" in err


async def test_workshop_import_prints_the_join_link(tmp_path: Path) -> None:
    db = tmp_path / "data" / "bot.sqlite3"
    workshop = CONTENT_DIR / "workshops" / "cochabamba-2023.yaml"
    async with BotApiDouble(token="123456:TOKEN", bot_username="taller_test_bot") as double:
        env = {"TELEGRAM_BOT_TOKEN": "123456:TOKEN", "TELEGRAM_API_URL": double.url}
        code, out, err = await run_cli("workshop", "import", str(workshop), env=env, cwd=tmp_path)
        assert code == 0, err
        assert "workshop cochabamba-2023 created" in out
        # The real clock is past 2023: the import says so, in case the year is a typo.
        assert "warning: the workshop ended on 2023-11-29" in err
        link = next(line for line in out.splitlines() if line.startswith("join link: "))
        assert link.startswith("join link: https://t.me/taller_test_bot?start=")
        code, out2, _ = await run_cli("workshop", "import", str(workshop), env=env, cwd=tmp_path)
        assert code == 0 and "updated" in out2 and link in out2  # the code is kept
    store = await open_store(f"sqlite:///{db}")  # the default DATABASE_URL, folder created
    try:
        stored = await store.workshop_by_slug("cochabamba-2023")
    finally:
        await store.close()
    assert stored is not None and len(stored.join_code) >= 16
    code, _, err = await run_cli(
        "workshop", "import", str(tmp_path / "missing.yaml"), env={}, cwd=tmp_path
    )
    assert code == 2 and "file not found" in one_line(err)


async def test_webhook_settings_are_checked_before_starting(tmp_path: Path) -> None:
    env = {"TELEGRAM_BOT_TOKEN": "1:x", "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}"}
    code, _, err = await run_cli("run", "--webhook", env=env, cwd=tmp_path)
    assert code == 2 and "--webhook needs WEBHOOK_URL" in one_line(err)
    for url, words in [
        ("http://bot.example.org/hook", "https://"),
        ("https://bot.example.org:8080/hook", "443, 80, 88 or 8443"),
        ("https://192.168.1.5/hook", "not reachable from Telegram"),
    ]:
        code, _, err = await run_cli("run", env={**env, "WEBHOOK_URL": url}, cwd=tmp_path)
        assert code == 2 and "WEBHOOK_URL" in one_line(err) and words in err
    bad = {**env, "WEBHOOK_URL": "https://bot.example.org/hook", "WEBHOOK_SECRET": "a b"}
    code, _, err = await run_cli("run", env=bad, cwd=tmp_path)
    assert code == 2 and "WEBHOOK_SECRET" in one_line(err)


async def test_webhook_port_in_use_is_one_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        async with BotApiDouble(token="123456:TOKEN") as double:
            env = {
                "TELEGRAM_BOT_TOKEN": "123456:TOKEN",
                "TELEGRAM_API_URL": double.url,
                "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
                "WEBHOOK_URL": "https://bot.example.org/hook",
                "WEBHOOK_LISTEN": "127.0.0.1",
                "PORT": str(port),
            }
            code, _, err = await run_cli("run", env=env, cwd=tmp_path)
    assert code == 2
    assert f"cannot listen for the webhook on 127.0.0.1:{port}" in err.splitlines()[-1]
    assert "123456:TOKEN" not in err


async def test_backup_command(tmp_path: Path) -> None:
    db = tmp_path / "db.sqlite3"
    env = {"DATABASE_URL": f"sqlite:///{db}"}
    code, _, err = await run_cli("backup", str(tmp_path / "b.sqlite3"), env=env, cwd=tmp_path)
    assert code == 2 and "does not exist" in one_line(err)
    store = await open_store(f"sqlite:///{db}")
    await store.close()
    code, out, err = await run_cli("backup", str(tmp_path / "b.sqlite3"), env=env, cwd=tmp_path)
    assert code == 0, err
    assert out.startswith(f"backup written to {tmp_path / 'b.sqlite3'}") and "integrity ok" in out
    code, _, err = await run_cli("backup", str(tmp_path / "b.sqlite3"), env=env, cwd=tmp_path)
    assert code == 2 and "already exists" in one_line(err)
    args = ("backup", str(tmp_path / "b.sqlite3"), "--force")
    code, _, err = await run_cli(*args, env=env, cwd=tmp_path)
    assert code == 0, err


async def test_db_copy_between_sqlite_files(tmp_path: Path) -> None:
    source, target = tmp_path / "source.sqlite3", tmp_path / "copy" / "bot.sqlite3"
    store = await open_store(f"sqlite:///{source}")
    try:
        await store.upsert_association("amb", "AMB", datetime(2024, 1, 1, tzinfo=UTC))
    finally:
        await store.close()
    code, out, err = await run_cli(
        "db", "copy", f"sqlite:///{source}", str(target), env={}, cwd=tmp_path
    )
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == f"copying SQLite {source} into SQLite {target}"
    assert "associations 1" in " ".join(lines[1].split())
    assert lines[-1].startswith("row counts match in all ") and "1 rows copied" in lines[-1]
    code, _, err = await run_cli("db", "copy", str(source), str(target), env={}, cwd=tmp_path)
    assert code == 2 and "not empty: table associations has 1 row" in one_line(err)
    code, _, err = await run_cli("db", "copy", "nothing.db", "x.db", env={}, cwd=tmp_path)
    assert code == 2 and "does not exist" in one_line(err)
    code, out, _ = await run_cli("db", "copy", "--help", env={}, cwd=tmp_path)
    assert code == 0 and "Stop the bot first" in out


async def test_postgres_backup_without_pg_dump_is_one_line(tmp_path: Path) -> None:
    env = {"DATABASE_URL": "postgresql://bot:s3cret@127.0.0.1:1/db", "PATH": str(tmp_path)}
    code, _, err = await run_cli("backup", str(tmp_path / "b.dump"), env=env, cwd=tmp_path)
    assert code == 2 and "s3cret" not in err
    assert "pg_dump" in one_line(err) and "postgresql-client" in err
    assert not (tmp_path / "b.dump").exists()


async def test_questionnaire_export_then_import_round_trip(tmp_path: Path) -> None:
    env: dict[str, str] = {}
    code, out, err = await run_cli(
        "questionnaire", "export", "evaluation", "ev.xlsx", env=env, cwd=tmp_path
    )
    assert code == 0, err
    assert (tmp_path / "ev.xlsx").is_file() and "ev.xlsx" in out
    code, out, err = await run_cli("questionnaire", "import", "ev.xlsx", env=env, cwd=tmp_path)
    assert code == 0, err
    written = tmp_path / "evaluation.yaml"
    assert "12 questions" in out and written.is_file()
    shipped = parse_model_with_lines(
        Questionnaire, (ROOT / "content/questionnaires/evaluation.yaml").read_text(), "shipped"
    )
    back = parse_model_with_lines(Questionnaire, written.read_text(), written)
    assert back == shipped
    # A second import does not overwrite without --force.
    code, _, err = await run_cli("questionnaire", "import", "ev.xlsx", env=env, cwd=tmp_path)
    assert code == 2 and "exists" in one_line(err)


async def test_a_form_the_bot_cannot_run_is_not_written(tmp_path: Path) -> None:
    header = [*SURVEY_HEADER, "calculation"]
    survey = [q("text", "a", "A", "A"), [*q("calculate", "total", None, None), "1 + 1"]]
    (tmp_path / "calc.xlsx").write_bytes(workbook(survey, survey_header=header))
    code, _, err = await run_cli("questionnaire", "import", "calc.xlsx", env={}, cwd=tmp_path)
    assert code == 2 and "Traceback" not in err
    assert "survey sheet, row 3, column 'type'" in err
    assert not any(name.endswith(".yaml") for name in os.listdir(tmp_path))
