from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.content import Content
from bot.services import Services
from storage import Store, open_store
from tests.support import FakeClock, load_test_content, make_services


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
async def store(db_url: str) -> AsyncIterator[Store]:
    s = await open_store(db_url)
    yield s
    await s.close()


@pytest.fixture
async def svc(store: Store, content: Content, clock: FakeClock) -> Services:
    return make_services(store, content, clock)
