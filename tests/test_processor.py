"""Update processing: each person's updates in order, people concurrently, no hogging."""

from __future__ import annotations

import asyncio

from telegram import Chat, Message, Update, User

from bot.processor import OrderedUpdateProcessor, ordering_key


def update(update_id: int, user_id: int) -> Update:
    user = User(user_id, "U", is_bot=False)
    chat = Chat(user_id, Chat.PRIVATE)
    message = Message(update_id, None, chat, from_user=user, text="x")  # type: ignore[arg-type]
    return Update(update_id, message=message)


async def test_keys() -> None:
    assert ordering_key(update(1, 42)) == 42
    assert ordering_key(object()) is None


async def test_same_person_in_order_others_concurrently() -> None:
    processor = OrderedUpdateProcessor(max_concurrent=4)
    order: list[tuple[int, int]] = []
    gate = asyncio.Event()

    async def work(user: int, n: int, wait: bool) -> None:
        if wait:
            await gate.wait()
        order.append((user, n))

    tasks = [asyncio.create_task(processor.process_update(update(1, 1), work(1, 1, True)))]
    tasks += [
        asyncio.create_task(processor.process_update(update(n, 1), work(1, n, False)))
        for n in range(2, 6)
    ]
    tasks.append(asyncio.create_task(processor.process_update(update(9, 2), work(2, 1, False))))
    await asyncio.wait_for(processor.wait_completed(1), 2)
    # Person 2 finished while person 1's first update is still blocked.
    assert order == [(2, 1)]
    gate.set()
    await asyncio.wait_for(asyncio.gather(*tasks), 2)
    assert [n for user, n in order if user == 1] == [1, 2, 3, 4, 5]
    assert processor.completed == 6


async def test_a_flood_does_not_hold_work_slots() -> None:
    processor = OrderedUpdateProcessor(max_concurrent=2)
    gate = asyncio.Event()
    done: list[int] = []

    async def slow() -> None:
        await gate.wait()

    async def quick(user: int) -> None:
        done.append(user)

    flood = [asyncio.create_task(processor.process_update(update(n, 1), slow())) for n in range(50)]
    others = [
        asyncio.create_task(processor.process_update(update(100 + u, u), quick(u)))
        for u in range(2, 12)
    ]
    await asyncio.wait_for(asyncio.gather(*others), 2)
    assert sorted(done) == list(range(2, 12))
    gate.set()
    await asyncio.wait_for(asyncio.gather(*flood), 2)
    assert processor.completed == 60


async def test_errors_release_the_lock() -> None:
    processor = OrderedUpdateProcessor(max_concurrent=1)

    async def boom() -> None:
        raise RuntimeError("x")

    async def fine() -> None:
        return None

    failing = asyncio.create_task(processor.process_update(update(1, 1), boom()))
    await asyncio.gather(failing, return_exceptions=True)
    await asyncio.wait_for(processor.process_update(update(2, 1), fine()), 1)
    assert processor.completed == 2


async def test_a_flood_of_messages_is_cut_but_taps_are_kept() -> None:
    from telegram import CallbackQuery

    from bot.processor import MAX_BACKLOG

    processor = OrderedUpdateProcessor(max_concurrent=4)
    gate = asyncio.Event()
    ran: list[int] = []

    async def work(n: int, wait: bool = False) -> None:
        if wait:
            await gate.wait()
        ran.append(n)

    flood = [asyncio.create_task(processor.process_update(update(1, 1), work(1, True)))]
    flood += [
        asyncio.create_task(processor.process_update(update(n, 1), work(n))) for n in range(2, 31)
    ]
    await asyncio.sleep(0)
    user = User(1, "U", is_bot=False)
    tap = Update(99, callback_query=CallbackQuery("q", user, "chat", data="1mn"))
    flood.append(asyncio.create_task(processor.process_update(tap, work(99))))
    # Someone else is served while the flooder's first message is still running.
    await processor.process_update(update(100, 2), work(100))
    assert ran == [100]
    gate.set()
    await asyncio.gather(*flood)
    assert ran[1:] == [*range(1, MAX_BACKLOG + 1), 99]
    assert processor.dropped == 30 - MAX_BACKLOG
    assert processor.completed == 32
