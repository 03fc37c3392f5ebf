"""The rate limiter, on a fake clock."""

from __future__ import annotations

from bot.delivery import Limits, RateLimiter


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
        await limiter.wait(chat)
        slots.append(clock.now)
        limiter.sent()
    # Spacing alone would allow sends at 0.0, 0.5, 1.0; the window counts from the answers.
    assert all(b - a >= 1.0 for a, b in zip(slots, slots[2:], strict=False))
