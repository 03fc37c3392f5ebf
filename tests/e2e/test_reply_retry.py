"""A reply lost to a few Bot API errors that certainly did not deliver it is sent again."""

from __future__ import annotations

import pytest

from bot import output
from tests.e2e.harness import Harness


@pytest.fixture(autouse=True)
def no_waiting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(output, "FAILURE_BACKOFF", (0.0, 0.0, 0.0, 0.0))


async def test_a_reply_gets_through_a_few_bad_gateways(bot: Harness) -> None:
    ana = bot.double.new_user(first_name="Ana", language_code="es")
    bot.double.inject("sendMessage", status=502, times=3)
    reply = await bot.send(ana, "/help")
    assert reply.text and "/menu" in reply.text
    assert len([m for m in ana.messages if m.text == reply.text]) == 1
