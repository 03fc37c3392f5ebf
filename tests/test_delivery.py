"""The rate limiter on a fake clock, and which network errors may be retried."""

from __future__ import annotations

import httpx
import pytest
from telegram.error import NetworkError, TelegramError, TimedOut

from bot.delivery import Limits, RateLimiter, not_delivered


class Clock:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(round(seconds, 6))
        self.now += seconds


async def test_global_spacing_and_per_chat_gap() -> None:
    clock = Clock()
    limiter = RateLimiter(Limits(per_second=10, per_chat_seconds=1.0), clock, clock.sleep)
    for chat in range(1, 6):
        await limiter.wait(chat)
    # Five different chats: 0.1 s apart.
    assert clock.slept == [0.1, 0.1, 0.1, 0.1]
    clock.slept.clear()
    await limiter.wait(1)  # chat 1 was served at 100.0; its next slot is 101.0
    assert clock.now == 101.0


async def test_groups_get_their_per_minute_gap() -> None:
    clock = Clock()
    limiter = RateLimiter(Limits(per_second=30, per_group_per_minute=20), clock, clock.sleep)
    await limiter.wait(-100)
    await limiter.wait(-100)
    assert clock.now == 103.0  # 60 s / 20 messages


async def test_pause_stops_everything_for_retry_after() -> None:
    clock = Clock()
    limiter = RateLimiter(Limits(per_second=30), clock, clock.sleep)
    await limiter.wait(1)
    limiter.pause(5)
    await limiter.wait(2)
    assert clock.now == 105.0


async def test_never_more_than_the_limit_in_any_second() -> None:
    clock = Clock()
    limiter = RateLimiter(Limits(per_second=2, per_chat_seconds=0), clock, clock.sleep)
    slots = []
    for chat in range(1, 6):
        ticket = await limiter.wait(chat)
        slots.append(clock.now)
        limiter.sent(ticket)
    # Spacing alone would allow sends at 0.0, 0.5, 1.0; the window keeps any two a second apart.
    assert all(b - a >= 1.0 for a, b in zip(slots, slots[2:], strict=False))


@pytest.mark.parametrize(
    ("first_rtt", "second_rtt", "third_leaves"),
    [
        # A steady round trip costs nothing: the window counts from when the first left.
        (0.25, 0.25, 101.01),
        # A round trip 0.7 s slower than the fastest may have reached Telegram 0.7 s late.
        (0.9, 0.2, 101.71),
    ],
)
async def test_the_window_counts_from_departures_and_late_answers(
    first_rtt: float, second_rtt: float, third_leaves: float
) -> None:
    clock = Clock()
    limiter = RateLimiter(Limits(per_second=2, per_chat_seconds=0), clock, clock.sleep)
    first = await limiter.wait(1)
    second = await limiter.wait(2)
    answers = sorted([(first, first_rtt), (second, second_rtt)], key=lambda a: a[0].sent_at + a[1])
    for ticket, rtt in answers:
        clock.now = ticket.sent_at + rtt
        limiter.sent(ticket)
    await limiter.wait(3)
    assert clock.now == pytest.approx(third_leaves)


async def test_the_next_message_to_a_chat_waits_for_a_late_answer() -> None:
    clock = Clock()
    limiter = RateLimiter(Limits(per_second=30, per_chat_seconds=1.0), clock, clock.sleep)
    fast = await limiter.wait(1)
    clock.now += 0.1
    limiter.sent(fast)  # the fastest round trip: 0.1 s
    slow = await limiter.wait(2)
    clock.now += 0.6
    limiter.sent(slow)
    assert limiter.ready_at(1) == pytest.approx(101.0)
    assert limiter.ready_at(2) == pytest.approx(100.1 + 1.0 + 0.5)


def _raised(exc: TelegramError, cause: BaseException | None) -> TelegramError:
    try:
        raise exc from cause
    except TelegramError as raised:
        return raised


@pytest.mark.parametrize(
    ("error", "certain"),
    [
        # No connection was made, or no free one: the request never left.
        (_raised(NetworkError("httpx.ConnectError: refused"), httpx.ConnectError("x")), True),
        (_raised(TimedOut(), httpx.ConnectTimeout("x")), True),
        (_raised(TimedOut("Pool timeout: ..."), httpx.PoolTimeout("x")), True),
        # Telegram answered with an error: it did not take the message.
        (NetworkError("Bad Gateway"), True),
        (_raised(NetworkError("Internal Server Error (500)"), TelegramError("bad JSON")), True),
        # The request may have been written: Telegram may have delivered it.
        (_raised(TimedOut(), httpx.ReadTimeout("x")), False),
        (_raised(TimedOut(), httpx.WriteTimeout("x")), False),
        (TimedOut(), False),
        (_raised(NetworkError("httpx.ReadError"), httpx.ReadError("x")), False),
        (_raised(NetworkError("httpx.RemoteProtocolError"), httpx.RemoteProtocolError("x")), False),
        (_raised(NetworkError("Unknown error in HTTP implementation"), OSError()), False),
    ],
)
def test_only_certain_failures_are_retried(error: NetworkError, certain: bool) -> None:
    assert not_delivered(error) is certain
