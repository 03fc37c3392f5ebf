"""Charts drawn ahead in the worker processes: sent in order, a bounded few at once, none leaked.

Behaviour only, never speed (benchmarks/report.py times the report). A thread pool stands in
for the worker processes, so that the tests can hold a chart back and release it.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, cast

import pytest
from telegram import Bot

from bot.flows.events import Event, Send, SendPhoto
from bot.output import DrawAhead, Responder
from bot.services import Services, worker_pool
from storage import Store
from tests.support import FakeClock, load_i18n, load_test_content


class Easel:
    """Charts that record when they start and finish only when released."""

    def __init__(self) -> None:
        self.started: list[int] = []
        self.gates: dict[int, threading.Event] = {}
        self._lock = threading.Lock()

    def chart(self, n: int, *, in_worker: bool = True) -> SendPhoto:
        self.gates[n] = threading.Event()
        return SendPhoto(render=lambda: self._draw(n), caption=f"c{n}", separate_process=in_worker)

    def _draw(self, n: int) -> bytes:
        with self._lock:
            self.started.append(n)
        if not self.gates[n].wait(10):
            raise TimeoutError(f"chart {n} was never released")
        return f"png {n}".encode()

    def release(self, *charts: int) -> None:
        for n in charts or tuple(self.gates):
            self.gates[n].set()


@pytest.fixture
def pool() -> Iterator[ThreadPoolExecutor]:
    executor = ThreadPoolExecutor(4)
    yield executor
    executor.shutdown(wait=True, cancel_futures=True)


def services(pool: ThreadPoolExecutor | None) -> Services:
    return Services(
        store=cast(Store, None),
        content=load_test_content(),
        i18n=load_i18n(),
        clock=FakeClock(),
        process_pool=pool,
    )


async def until(condition: Callable[[], bool]) -> None:
    for _ in range(1000):
        if condition():
            return
        await asyncio.sleep(0.005)
    raise AssertionError("condition never came true")


async def test_charts_are_handed_out_in_order_though_drawn_out_of_order(
    pool: ThreadPoolExecutor,
) -> None:
    easel = Easel()
    events: list[Event] = [Send("hola"), easel.chart(1), easel.chart(2), easel.chart(3)]
    ahead = DrawAhead(services(pool), events, ahead=3)
    ahead.start()
    await until(lambda: len(easel.started) == 3)
    easel.release(3, 2)
    first = asyncio.ensure_future(ahead.png(1))
    await asyncio.sleep(0.05)
    assert not first.done(), "chart 1 is still being drawn: nothing may overtake it"
    easel.release(1)
    assert [await first, await ahead.png(2), await ahead.png(3)] == [b"png 1", b"png 2", b"png 3"]
    assert await ahead.png(0) is None


async def test_no_more_than_ahead_charts_are_started_before_being_claimed(
    pool: ThreadPoolExecutor,
) -> None:
    easel = Easel()
    events: list[Event] = [easel.chart(n) for n in range(5)]
    ahead = DrawAhead(services(pool), events, ahead=2)
    ahead.start()
    await until(lambda: len(easel.started) == 2)
    await asyncio.sleep(0.05)
    assert easel.started == [0, 1]
    easel.release(0)
    assert await ahead.png(0) == b"png 0"
    # Claiming chart 0 made room for exactly one more.
    await until(lambda: len(easel.started) == 3)
    await asyncio.sleep(0.05)
    assert sorted(easel.started) == [0, 1, 2]
    easel.release()
    assert [await ahead.png(n) for n in range(1, 5)] == [f"png {n}".encode() for n in range(1, 5)]


async def test_cancel_leaves_the_charts_not_started_undrawn(pool: ThreadPoolExecutor) -> None:
    easel = Easel()
    events: list[Event] = [easel.chart(n) for n in range(4)]
    ahead = DrawAhead(services(pool), events, ahead=2)
    ahead.start()
    await until(lambda: len(easel.started) == 2)
    ahead.cancel()
    easel.release()
    await asyncio.sleep(0.1)
    assert sorted(easel.started) == [0, 1]
    assert await ahead.png(2) is None


async def test_only_worker_charts_are_drawn_ahead(pool: ThreadPoolExecutor) -> None:
    easel = Easel()
    events: list[Event] = [easel.chart(1, in_worker=False), easel.chart(2)]
    easel.release()
    ahead = DrawAhead(services(pool), events)
    ahead.start()
    assert await ahead.png(0) is None
    assert await ahead.png(1) == b"png 2"
    # Without worker processes the Responder draws every chart on its own thread.
    alone = DrawAhead(services(None), events)
    alone.start()
    assert await alone.png(1) is None


class FakeBot:
    """Records the photos sent; the `fail_at`-th photo's upload fails."""

    def __init__(self, fail_at: int | None = None) -> None:
        self.sent: list[tuple[str, Any]] = []
        self.fail_at = fail_at

    async def send_message(self, chat_id: int, text: str, **_: Any) -> None:
        self.sent.append(("text", text))

    async def send_chat_action(self, chat_id: int, action: str, **_: Any) -> None:
        pass

    async def send_photo(self, chat_id: int, photo: bytes, **kwargs: Any) -> None:
        if self.fail_at is not None and len(self.sent) == self.fail_at:
            raise RuntimeError("upload failed")
        self.sent.append(("photo", (photo, kwargs["caption"])))


async def test_the_responder_sends_charts_drawn_ahead_in_order(pool: ThreadPoolExecutor) -> None:
    easel = Easel()
    events: list[Event] = [easel.chart(1), Send("entre"), easel.chart(2), easel.chart(3)]
    easel.release(3, 2)
    bot = FakeBot()
    rendering = asyncio.ensure_future(Responder(cast(Bot, bot), services(pool), 7).render(events))
    await until(lambda: len(easel.started) == 3)
    assert bot.sent == []
    easel.release(1)
    await rendering
    assert bot.sent == [
        ("photo", (b"png 1", "c1")),
        ("text", "entre"),
        ("photo", (b"png 2", "c2")),
        ("photo", (b"png 3", "c3")),
    ]


async def test_a_failed_upload_stops_the_charts_still_waiting(pool: ThreadPoolExecutor) -> None:
    easel = Easel()
    events: list[Event] = [easel.chart(n) for n in range(6)]
    easel.release()
    bot = FakeBot(fail_at=1)
    with pytest.raises(RuntimeError, match="upload failed"):
        await Responder(cast(Bot, bot), services(pool), 7).render(events)
    await asyncio.sleep(0.1)
    assert [kind for kind, _ in bot.sent] == ["photo"]
    # Chart 0 was sent, chart 1's upload failed: at most DRAW_AHEAD more were ever started.
    assert len(easel.started) <= 2 + 3


def test_the_worker_pool_draws_two_files_side_by_side_in_processes_of_its_own() -> None:
    pool = worker_pool(2)
    try:
        # Nothing is spawned before a file is wanted: a bot that never reports has no worker.
        assert not pool._processes
        pids = {f.result(timeout=60) for f in [pool.submit(_pid_after, 0.5) for _ in range(2)]}
        assert len(pids) == 2
        assert os.getpid() not in pids
    finally:
        pool.shutdown(wait=True)


def _pid_after(seconds: float) -> int:
    time.sleep(seconds)
    return os.getpid()
