"""The inbox and the delivery lease of bot/instances.py, on a real store, with a fake clock.

The two-process behaviour (a kill, a rolling deploy) is in tests/e2e/test_instances.py.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from types import SimpleNamespace
from typing import Any, cast

import pytest
from telegram import Bot, Update

from bot import instances
from bot.delivery import Delivery
from bot.instances import ALIVE_SECONDS, DELIVERY_LEASE, Coordinator, Inbox, InboxQueue
from storage import Store
from tests.support import FakeClock, make_services

BOT = Bot("123:TEST")


def _message(update_id: int, user_id: int, text: str = "hola") -> Update:
    user = {"id": user_id, "is_bot": False, "first_name": "Ana"}
    return Update.de_json(
        {
            "update_id": update_id,
            "message": {
                "message_id": update_id,
                "date": 1700000000,
                "chat": {"id": user_id, "type": "private", "first_name": "Ana"},
                "from": user,
                "text": text,
            },
        },
        BOT,
    )


def _drain(queue: InboxQueue) -> list[int]:
    ids = []
    while not queue.empty():
        item = queue.get_nowait()
        assert isinstance(item, Update)
        ids.append(item.update_id)
    return ids


async def test_the_inbox_hands_this_instance_each_persons_updates_in_turn(
    store: Store, content: Any, clock: FakeClock
) -> None:
    svc = make_services(store, content, clock)
    await store.heartbeat("here", clock.now(), clock.now() + timedelta(seconds=ALIVE_SECONDS))
    queue = InboxQueue()
    inbox = Inbox(svc, BOT, queue, "here", capacity=10)
    queue.inbox = inbox
    # What the webhook server does: put, and only then answer Telegram.
    for update in (_message(1, 100), _message(2, 100, "y otra"), _message(3, 200)):
        await queue.put(update)
    assert queue.empty() and await store.inbox_size() == 3
    assert await inbox._take() == 2
    assert _drain(queue) == [1, 3]
    # Person 100's second update waits for the first to be handled.
    assert await inbox._take() == 0
    await inbox.done(_message(1, 100))
    assert await inbox._take() == 1
    [second] = [queue.get_nowait()]
    assert isinstance(second, Update) and second.message is not None
    assert second.message.text == "y otra"
    # This instance's heartbeat lapses while it handles them: it takes nothing twice.
    clock.current += timedelta(seconds=ALIVE_SECONDS + 1)
    assert await inbox._take() == 0 and queue.empty()
    await inbox.done(second)
    await inbox.done(_message(3, 200))
    assert await store.inbox_size() == 0 and inbox.handled == 3


async def test_a_flood_of_messages_is_cut_before_it_is_stored(
    store: Store, content: Any, clock: FakeClock
) -> None:
    svc = make_services(store, content, clock)
    queue = InboxQueue()
    queue.inbox = Inbox(svc, BOT, queue, "here", capacity=10)
    for n in range(1, 21):
        await queue.put(_message(n, 100, f"mensaje {n}"))
    assert await store.inbox_size() == 8


class _FakeDelivery:
    def __init__(self, hold: asyncio.Event | None = None) -> None:
        self.running = False
        self.starts = 0
        self.sender = SimpleNamespace(may_send=None)
        self.hold = hold

    async def start(self) -> None:
        self.starts += 1
        if self.hold is not None:
            await self.hold.wait()  # a long catch-up at the start of a turn
        self.running = True

    async def stop(self) -> None:
        self.running = False


async def test_one_instance_sends_and_the_duty_moves_when_it_stops_or_dies(
    store: Store, content: Any, clock: FakeClock
) -> None:
    svc = make_services(store, content, clock)
    monotonic = [0.0]
    deliveries = [_FakeDelivery(), _FakeDelivery()]
    a, b = (
        Coordinator(svc, cast(Delivery, d), name, clock=lambda: monotonic[0])
        for d, name in zip(deliveries, ("a", "b"), strict=True)
    )
    await a._beat()
    await a._duty()
    await b._beat()
    await b._duty()
    assert [d.running for d in deliveries] == [True, False]
    assert await store.lease_holder(DELIVERY_LEASE) == "a"

    # "a" stops: it hands the duty over at once, and "b" takes it at its next check.
    await a.stop_duties()
    assert not deliveries[0].running
    await b._duty()
    assert deliveries[1].running

    # "b" dies (no more heartbeats): "a", back and alive, takes over once b's time is up.
    a2 = Coordinator(svc, cast(Delivery, deliveries[0]), "a2", clock=lambda: monotonic[0])
    await a2._beat()
    await a2._duty()
    assert not deliveries[0].running
    clock.current += timedelta(seconds=ALIVE_SECONDS + 1)
    monotonic[0] += ALIVE_SECONDS + 1
    await a2._beat()
    await a2._duty()
    assert deliveries[0].running
    # "b" wakes from a long stall: its own time has run out, so it stops sending by itself.
    await b._duty()
    assert not deliveries[1].running


async def test_an_instance_that_cannot_renew_its_heartbeat_stops_sending(
    store: Store, content: Any, clock: FakeClock
) -> None:
    svc = make_services(store, content, clock)
    monotonic = [0.0]
    delivery = _FakeDelivery()
    only = Coordinator(svc, cast(Delivery, delivery), "only", clock=lambda: monotonic[0])
    await only._beat()
    await only._duty()
    assert delivery.running
    # The database is out of reach for longer than the safety margin allows.
    monotonic[0] += ALIVE_SECONDS
    await only._duty()
    assert not delivery.running
    await only.leave()
    assert await store.lease_holder(DELIVERY_LEASE) is None
    await asyncio.sleep(0)


async def test_the_heartbeat_goes_on_while_the_delivery_takes_long_to_start(
    store: Store, content: Any, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(instances, "HEARTBEAT_SECONDS", 0.01)
    svc = make_services(store, content, clock)
    beats: list[object] = []
    original = store.heartbeat

    async def counted(*args: Any) -> None:
        beats.append(args)
        await original(*args)

    monkeypatch.setattr(store, "heartbeat", counted)
    hold = asyncio.Event()
    delivery = _FakeDelivery(hold)
    coordinator = Coordinator(svc, cast(Delivery, delivery), "slow")
    await coordinator.start()
    try:
        # The start of the delivery hangs; the heartbeats go on regardless.
        for _ in range(500):
            if delivery.starts and len(beats) >= 5:
                break
            await asyncio.sleep(0.01)
        assert delivery.starts == 1 and not delivery.running and len(beats) >= 5
        # The sender asks the coordinator before every send.
        assert delivery.sender.may_send == coordinator.valid and coordinator.valid()
        hold.set()
    finally:
        await coordinator.leave()
    assert await store.lease_holder(DELIVERY_LEASE) is None


async def test_updates_left_by_a_shared_deployment_are_handled_by_a_single_one(
    store: Store, content: Any, clock: FakeClock
) -> None:
    svc = make_services(store, content, clock)
    await store.inbox_put(1, 100, _message(1, 100).to_json(), clock.now())
    await store.inbox_put(2, 100, _message(2, 100, "luego").to_json(), clock.now())
    queue = InboxQueue()
    inbox = Inbox(svc, BOT, queue, "single", capacity=10)
    inbox.start(leftovers_only=True)
    handled = []
    for _ in range(2):
        update = await asyncio.wait_for(queue.get(), 5)
        assert isinstance(update, Update)
        handled.append(update.update_id)
        await inbox.done(update)
    assert handled == [1, 2]
    await asyncio.wait_for(inbox._task, 5)  # type: ignore[arg-type]
    assert await store.inbox_size() == 0
    # New updates are not stored: a single instance handles them as they come.
    await queue.put(_message(3, 100))
    assert await store.inbox_size() == 0 and queue.qsize() == 1
