"""The pipelined outbox through the Bot API double: order, the window, the crash bound, timeouts.

Each test watches PTB's transport (`Wire`): which chats have a request out, and how many are
out at once. Answers can be held back after the double has taken a message, to fill the
window or to leave messages delivered but not yet recorded, as a crash would find them.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import pytest
from telegram import Bot
from telegram.request import HTTPXRequest, RequestData

from bot.apidouble import BotApiDouble
from bot.delivery import UNKNOWN_OUTCOME, Limits, OutboxSender, RateLimiter
from bot.services import Services
from storage import OutMessage
from tests.e2e.harness import TOKEN

FAST = Limits(per_second=1000, per_chat_seconds=0)


class Wire(HTTPXRequest):
    """PTB's HTTP transport, watched; answers wait for `release` once Telegram has them."""

    def __init__(self, *, hold_until: float = 0, read_timeout: float = 5.0) -> None:
        super().__init__(connection_pool_size=32, read_timeout=read_timeout)
        self.out: Counter[int] = Counter()
        self.most = 0
        self.most_per_chat = 0
        self.hold_until = hold_until
        self.release = asyncio.Event()
        if hold_until <= 0:
            self.release.set()

    @property
    def total(self) -> int:
        return sum(self.out.values())

    async def do_request(self, *args: Any, **kwargs: Any) -> tuple[int, bytes]:
        # PTB passes every argument by name.
        data: RequestData | None = kwargs.get("request_data")
        value = data.parameters.get("chat_id") if data else None
        if not isinstance(value, int | str):
            return await super().do_request(*args, **kwargs)
        chat = int(value)
        self.out[chat] += 1
        self.most = max(self.most, self.total)
        self.most_per_chat = max(self.most_per_chat, self.out[chat])
        try:
            answer = await super().do_request(*args, **kwargs)
            if self.total >= self.hold_until:
                self.release.set()
            await self.release.wait()
            return answer
        finally:
            self.out[chat] -= 1


@pytest.fixture
async def double() -> AsyncIterator[BotApiDouble]:
    async with BotApiDouble(token=TOKEN, bot_username="taller_test_bot") as d:
        yield d
        assert d.violations == [], d.violations


async def bot_on(double: BotApiDouble, wire: Wire) -> Bot:
    bot = Bot(TOKEN, base_url=double.base_url, base_file_url=double.base_file_url, request=wire)
    await bot.initialize()
    return bot


async def crash(sender: OutboxSender) -> None:
    """Stop the sender as a SIGKILL would: nothing more is recorded."""
    tasks = [t for t in asyncio.all_tasks() if t.get_name().startswith("outbox")]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    assert sender.in_flight == 0


def texts(double: BotApiDouble, chat: int) -> list[str]:
    return [m.text or "" for m in double.chat_messages(chat)]


async def test_several_in_flight_but_never_two_to_one_chat_nor_out_of_order(
    double: BotApiDouble, svc: Services
) -> None:
    chats = [double.new_user(first_name=f"P{i}", started=True).id for i in range(6)]
    for n in range(4):
        messages = [OutMessage(chat, f"{n}") for chat in chats]
        await svc.store.enqueue(f"test:{n}", messages, svc.clock.now())
    # The first answers wait until the window is full: a sender that waited for each answer
    # before the next send would never get there.
    wire = Wire(hold_until=4)
    bot = await bot_on(double, wire)
    sender = OutboxSender(bot, svc, RateLimiter(FAST), window=4)
    sender.start()
    try:
        await double.wait_for(
            lambda: all(len(double.chat_messages(c)) == 4 for c in chats), timeout=20
        )
    finally:
        await sender.stop()
        await bot.shutdown()
    assert wire.most == 4
    assert wire.most_per_chat == 1
    # Every chat got its messages in the order they were queued.
    assert all(texts(double, chat) == ["0", "1", "2", "3"] for chat in chats)
    for n in range(4):
        assert await svc.store.outbox_counts(f"test:{n}") == {"sent": 6}
    assert sender.stats.sent == 24


async def test_a_crash_repeats_at_most_the_messages_in_flight(
    double: BotApiDouble, svc: Services
) -> None:
    window, recipients, text = 5, 30, "Mañana a las 8:30"
    chats = [double.new_user(first_name=f"P{i}", started=True).id for i in range(recipients)]
    await svc.store.enqueue("bc:1", [OutMessage(c, text) for c in chats], svc.clock.now())
    # Telegram takes every message, but no answer comes back before the crash.
    wire = Wire(hold_until=float("inf"))
    bot = await bot_on(double, wire)
    sender = OutboxSender(bot, svc, RateLimiter(FAST), window=window)

    def delivered() -> list[int]:
        return [c for c in chats if double.chat_messages(c)]

    sender.start()
    try:
        # A full window: every message out has reached Telegram, none is answered.
        await double.wait_for(
            lambda: wire.total == window and len(delivered()) == window,
            timeout=20,
            poll_interval=0.02,
        )
        await crash(sender)
    finally:
        await bot.shutdown()
    assert wire.most == window
    assert await svc.store.outbox_counts("bc:1") == {"pending": recipients}

    # After the restart the rows without an answer go again: the window's worth, no more.
    wire = Wire()
    bot = await bot_on(double, wire)
    sender = OutboxSender(bot, svc, RateLimiter(FAST), window=window)
    sender.start()
    try:
        await double.wait_for(lambda: all(double.chat_messages(c) for c in chats), timeout=20)
        await double.wait_for(
            lambda: sender.stats.sent == recipients, timeout=20, poll_interval=0.02
        )
    finally:
        await sender.stop()
        await bot.shutdown()
    copies = [len(double.chat_messages(c)) for c in chats]
    assert min(copies) == 1
    assert sum(c - 1 for c in copies) == window
    assert await svc.store.outbox_counts("bc:1") == {"sent": recipients}


async def test_a_send_answered_after_the_client_timeout_is_not_repeated(
    double: BotApiDouble, svc: Services, caplog: pytest.LogCaptureFixture
) -> None:
    slow, quick = (double.new_user(first_name=n, started=True).id for n in ("Ana", "Bob"))
    await svc.store.enqueue(
        "bc:1", [OutMessage(slow, "hola"), OutMessage(quick, "hola")], svc.clock.now()
    )
    # Telegram answers a second late; the client gives up after 0.2 s. It may well have
    # delivered the message: sending it again could give the person two copies.
    double.delay("sendMessage", 1.0, chat_id=slow)
    bot = await bot_on(double, Wire(read_timeout=0.2))
    sender = OutboxSender(bot, svc, RateLimiter(FAST), backoff_seconds=0.01)
    sender.start()
    try:
        with caplog.at_level(logging.WARNING, logger="bot.delivery"):
            await double.wait_for(
                lambda: sender.stats.unknown == 1 and sender.stats.sent == 1,
                timeout=20,
                poll_interval=0.02,
            )
    finally:
        await sender.stop()
        await bot.shutdown()
    sends = [r for r in double.requests_for("sendMessage") if r.params.get("chat_id") == slow]
    assert len(sends) == 1
    assert sender.stats.network_retries == 0
    assert await svc.store.outbox_counts("bc:1") == {"failed": 1, "sent": 1}
    assert any(UNKNOWN_OUTCOME in r.getMessage() for r in caplog.records)


async def test_a_gateway_error_is_retried(double: BotApiDouble, svc: Services) -> None:
    chat = double.new_user(first_name="Ana", started=True).id
    await svc.store.enqueue("bc:1", [OutMessage(chat, "hola")], svc.clock.now())
    # A 502 is Telegram's front saying the message did not get through.
    double.inject("sendMessage", status=502)
    bot = await bot_on(double, Wire())
    sender = OutboxSender(bot, svc, RateLimiter(FAST), backoff_seconds=0.01)
    sender.start()
    try:
        await double.wait_for(lambda: sender.stats.sent == 1, timeout=20, poll_interval=0.02)
    finally:
        await sender.stop()
        await bot.shutdown()
    assert texts(double, chat) == ["hola"]
    assert sender.stats.network_retries == 1
    assert await svc.store.outbox_counts("bc:1") == {"sent": 1}


async def test_a_message_erased_by_forget_during_a_retry_is_not_sent(
    double: BotApiDouble, svc: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    chat = double.new_user(first_name="Ana", started=True).id
    await svc.store.enqueue("bc:1", [OutMessage(chat, "hola")], svc.clock.now())
    double.inject("sendMessage", status=502)
    # The pause before the retry lasts until the person has erased their data.
    backoff, erased, real_sleep = 7.25, asyncio.Event(), asyncio.sleep

    async def held(seconds: float, *args: Any) -> Any:
        if seconds == backoff:
            await erased.wait()
            return None
        return await real_sleep(seconds, *args)

    monkeypatch.setattr("bot.delivery.asyncio.sleep", held)
    bot = await bot_on(double, Wire())
    sender = OutboxSender(bot, svc, RateLimiter(FAST), backoff_seconds=backoff)
    sender.start()
    try:
        await double.wait_for(
            lambda: sender.stats.network_retries == 1, timeout=20, poll_interval=0.02
        )
        await svc.store.forget_user(chat, svc.clock.now())
        erased.set()
        await sender.stop()  # it finishes the message in flight first
    finally:
        await bot.shutdown()
    assert texts(double, chat) == []
    assert len(double.requests_for("sendMessage")) == 1
    assert await svc.store.outbox_counts("bc:1") == {}
