"""Secrets stay out of logs: the bot token never, participants' answers not even at DEBUG.

The logs are read as the operator sees them: `setup_logging` configures the root logger
exactly as `python -m bot run` does, at DEBUG, and its handler writes into a buffer.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.flows.callbacks import RateSession
from bot.flows.common import workshop_file
from bot.logs import setup_logging
from tests.e2e.harness import TOKEN, Harness
from tests.test_cli import run_cli

NAME, SURNAME = "Zyxwvu", "Qwertyson"
POSITION = "Jefa de Sistemas Kvopqx"
TYPED_NAME = "Ximena Jopqlor"
COMMENT = "Comentario privado Wqzzyx"


@pytest.fixture
def operator_logs() -> Iterator[io.StringIO]:
    """Configure logging as production does, at DEBUG, into a buffer; restore it after."""
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    noisy = {
        name: logging.getLogger(name).level
        for name in ("httpx", "httpcore", "apscheduler", "aiosqlite")
    }
    buffer = io.StringIO()
    setup_logging("DEBUG", TOKEN)
    production = root.handlers[0]
    assert isinstance(production, logging.StreamHandler)
    production.setStream(buffer)
    # pytest's capture handlers stay, after the production one, so the fixtures that fail
    # a test on an ERROR still see the records.
    root.handlers.extend(saved[0])
    try:
        yield buffer
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
        for name, level in noisy.items():
            logging.getLogger(name).setLevel(level)


def assert_clean(text: str, *secrets: str) -> None:
    """Fail if any secret shows in text (the token also without its numeric prefix)."""
    for secret in (TOKEN, TOKEN.split(":", 1)[1], *secrets):
        assert secret not in text, f"{secret!r} leaked: ...{_around(text, secret)}..."


def _around(text: str, secret: str) -> str:
    at = text.find(secret)
    return text[max(0, at - 200) : at + 100]


async def test_a_whole_journey_at_debug_logs_no_answer_and_no_token(
    bot: Harness, operator_logs: io.StringIO
) -> None:
    workshop = await bot.import_workshop()
    ana = bot.double.new_user(first_name=NAME, last_name=SURNAME, language_code="es")
    await bot.send(ana, f"/start {workshop.join_code}")
    await bot.tap(ana, "Continuar ›")
    await bot.tap(ana, "Acepto")
    await bot.send(ana, TYPED_NAME)
    await bot.tap(ana, "Gobierno Autónomo Municipal de Sacaba")
    await bot.send(ana, POSITION)
    await bot.tap(ana, "Bolivia")
    await bot.send(ana, "/dgca")
    for _ in range(3):
        await bot.tap(ana, "De acuerdo")
    session = workshop_file(workshop).agenda[0]
    await ana.tap_data(RateSession(workshop.id, session.id, 4).pack(), message=ana.last)
    await bot.settle()
    await bot.tap(ana, "comentario")
    await bot.send(ana, COMMENT)
    await bot.send(ana, "/mydata")
    # The journey went through: these texts were really typed and stored.
    participant = await bot.services.store.participant(workshop.id, ana.id)
    assert participant is not None and participant.position == POSITION
    logs = operator_logs.getvalue()
    assert "DEBUG" in logs  # PTB's request logging was on
    assert_clean(logs, NAME, SURNAME, TYPED_NAME, POSITION, COMMENT)


@pytest.fixture
def allowed_errors() -> list[str]:
    return ["error handling update"]


async def test_failures_log_no_token(
    bot: Harness, operator_logs: io.StringIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    ana = bot.double.new_user(first_name="Ana", language_code="es")
    # A network failure (gateway error pages, past the retries), then a 401 as for a revoked
    # token.
    from bot import output

    monkeypatch.setattr(output, "FAILURE_BACKOFF", (0.0, 0.0, 0.0, 0.0))
    bot.double.inject("sendMessage", status=502, chat_id=ana.id, times=5)
    await bot.send(ana, "/help")
    bot.double.inject("sendMessage", status=401, description="Unauthorized", chat_id=ana.id)
    await bot.send(ana, "/help")
    # An exception inside a flow whose message carries the Bot API address.
    from bot.flows import menu

    def broken(ctx: object) -> list[object]:
        raise RuntimeError(f"cannot reach {bot.double.url}/bot{TOKEN}/sendMessage")

    monkeypatch.setattr(menu, "help_text", broken)
    reply = await bot.send(ana, "/help")
    assert "Algo salió mal" in (reply.text or "")
    logs = operator_logs.getvalue()
    assert logs.count("error handling update") == 3, logs
    assert_clean(logs)
    assert_clean("\n".join(m.text or "" for m in ana.messages))


@pytest.mark.slow
@pytest.mark.parametrize("url", ["http://127.0.0.1:9", "http://exa mple.invalid", "ftp://x"])
async def test_startup_preflight_with_a_bad_url_prints_no_token(tmp_path: Path, url: str) -> None:
    env = {
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "TELEGRAM_API_URL": url,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "LOG_LEVEL": "DEBUG",
    }
    code, out, err = await run_cli("run", env=env, cwd=tmp_path)
    assert code != 0
    assert_clean(out + err)
