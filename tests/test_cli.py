"""The command line, as an operator uses it: one clear line on every startup problem."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from bot.apidouble import BotApiDouble
from storage import open_store
from tests.support import CONTENT_DIR

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
