"""`python -m bot run` on PostgreSQL: a participant joins and answers, across a SIGKILL.

The bot process gets a fresh database of its own on the test server (TEST_DATABASE_URL):
a process cannot be pointed at a schema through its DATABASE_URL. Skipped without the
variable, failed when it is set and the server cannot be reached (tests/conftest.py).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from bot.apidouble import BotApiDouble
from bot.content import Content, load_workshop_file
from bot.flows.workshops import import_workshop
from storage import open_store
from tests.conftest import PG_URL_VARIABLE
from tests.e2e.harness import COCHABAMBA, progress
from tests.e2e.test_restart import answer, until
from tests.realproc import BotProcess
from tests.support import FakeClock, make_services


@pytest.fixture
async def pg_database() -> AsyncIterator[str]:
    """Create an empty database on the test server; yield its URL; drop it afterwards."""
    url = os.environ.get(PG_URL_VARIABLE)
    if not url:
        pytest.skip(f"{PG_URL_VARIABLE} is not set")
    import asyncpg

    name = f"bot_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield urlunsplit(urlsplit(url)._replace(path=f"/{name}"))
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@pytest.fixture
async def double() -> AsyncIterator[BotApiDouble]:
    async with BotApiDouble() as d:
        yield d


async def test_the_bot_runs_on_postgresql_across_a_kill(
    double: BotApiDouble, pg_database: str, tmp_path: Path, content: Content
) -> None:
    store = await open_store(pg_database)
    clock = FakeClock()
    svc = make_services(store, content, clock)
    workshop = (
        await import_workshop(svc, load_workshop_file(COCHABAMBA), "x", clock.now())
    ).workshop
    await store.close()

    bot = BotProcess(double, pg_database, tmp_path / "bot.log")
    await bot.start()
    ana = double.new_user(first_name="Ana", last_name="Quispe", language_code="es")
    await ana.send(f"/start {workshop.join_code}")
    await until(double, lambda: "Continuar ›" in ana.buttons(), "greeting")
    await ana.tap("Continuar ›")
    await until(double, lambda: "Acepto" in ana.buttons(), "consent")
    await ana.tap("Acepto")
    await until(double, lambda: "Usar «Ana Quispe»" in ana.buttons(), "name")
    await ana.tap("Usar «Ana Quispe»")
    await until(double, lambda: "Otra institución" in ana.buttons(), "institution")
    await ana.tap("Gobierno Autónomo Municipal de Sacaba")
    await until(double, lambda: "cargo" in (ana.last.text or ""), "position")
    await ana.send("Jefa de Sistemas")
    await until(double, lambda: "Bolivia" in ana.buttons(), "country")
    await ana.tap("Bolivia")
    await until(double, lambda: "📝 Empezar la autoevaluación" in ana.buttons(), "profile done")
    await ana.tap("📝 Empezar la autoevaluación")
    await until(double, lambda: "· 1/36" in (ana.last.text or ""), "first statement")
    for label in ("De acuerdo", "En desacuerdo", "Totalmente de acuerdo"):
        await answer(double, ana, label)
    assert progress(ana.last)[1] == 4

    await bot.kill()
    await bot.start()
    before = len(ana.messages)
    await ana.send("/dgca")
    await until(double, lambda: len(ana.messages) >= before + 2, "resume")
    assert progress(ana.last)[1] == 4
    code, _ = await bot.terminate()
    assert code == 0

    store = await open_store(pg_database)
    try:
        participant = await store.participant(workshop.id, ana.id)
        assert participant is not None
        assert participant.institution == "Gobierno Autónomo Municipal de Sacaba"
        response = await store.find_response(participant.id, "dgca")
        assert response is not None
        assert list((await store.answers(response.id)).values()) == ["4", "2", "5"]
    finally:
        await store.close()
    assert "Traceback" not in bot.log_text()
