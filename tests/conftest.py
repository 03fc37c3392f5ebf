from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.content import Content
from bot.services import Services
from storage import Store, open_store
from tests.support import FakeClock, load_test_content, make_services

# The PostgreSQL server the store contract also runs against; unset, those tests skip.
PG_URL_VARIABLE = "TEST_DATABASE_URL"
BACKENDS = ("sqlite", "postgres")


def _backends_line() -> str:
    if os.environ.get(PG_URL_VARIABLE):
        return f"store contract: SQLite and PostgreSQL ({PG_URL_VARIABLE} is set)"
    return (
        f"store contract: SQLite only, PostgreSQL tests skip; to run them: "
        f"{PG_URL_VARIABLE}=postgresql://postgres@127.0.0.1:5432/test bash scripts/test"
    )


def pytest_report_header(config: pytest.Config) -> str:
    return _backends_line()


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    # -q hides the header; the line then comes at the end instead.
    if config.get_verbosity() < 0 and not os.environ.get(PG_URL_VARIABLE):
        terminalreporter.write_line(_backends_line())


@pytest.fixture(scope="session")
def content() -> Content:
    return load_test_content()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'bot.sqlite3'}"


@pytest.fixture
async def sqlite_store(db_url: str) -> AsyncIterator[Store]:
    s = await open_store(db_url)
    yield s
    await s.close()


@pytest.fixture
def store(sqlite_store: Store) -> Store:
    return sqlite_store


@pytest.fixture
async def pg_schema() -> AsyncIterator[tuple[str, str]]:
    """Create a fresh schema on the test server; yield (url, schema); drop it afterwards.

    Unset TEST_DATABASE_URL skips; a set one that cannot be reached fails the test, so CI
    never passes without having run the PostgreSQL contract.
    """
    url = os.environ.get(PG_URL_VARIABLE)
    if not url:
        pytest.skip(f"{PG_URL_VARIABLE} is not set")
    import asyncpg

    schema = f"test_{uuid.uuid4().hex[:16]}"
    admin = await asyncpg.connect(url)
    try:
        await admin.execute(f'CREATE SCHEMA "{schema}"')
        yield url, schema
    finally:
        await admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await admin.close()


@pytest.fixture
async def pg_store(pg_schema: tuple[str, str]) -> AsyncIterator[Store]:
    from storage.postgres import PostgresStore

    url, schema = pg_schema
    s = await PostgresStore.open(url, pool_size=4, server_settings={"search_path": schema})
    yield s
    await s.close()


@pytest.fixture(params=BACKENDS)
def any_store(request: pytest.FixtureRequest) -> Store:
    """Every backend in turn: the store contract tests ask for this one."""
    fixture = "sqlite_store" if request.param == "sqlite" else "pg_store"
    return request.getfixturevalue(fixture)


@pytest.fixture
async def svc(store: Store, content: Content, clock: FakeClock) -> Services:
    return make_services(store, content, clock)
