"""Time as a service, so that tests can move it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """Something that tells the current time."""

    def now(self) -> datetime:
        """Return the current time, timezone-aware."""
        ...


class SystemClock:
    """The real clock, in UTC."""

    def now(self) -> datetime:
        """Return the current time in UTC."""
        return datetime.now(UTC)


class SimulatedClock:
    """A clock that stands still until moved forward, so weeks can pass in a minute.

    The offline rehearsal moves it from one moment of a workshop to the next; it never
    goes back, because the bot's schedule assumes time only moves forward.
    """

    def __init__(self, start: datetime) -> None:
        self._now = _aware(start)

    def now(self) -> datetime:
        """Return the simulated time, in UTC."""
        return self._now

    def timestamp(self) -> float:
        """Return the simulated time as POSIX seconds (for clients that want a number)."""
        return self._now.timestamp()

    def move_to(self, when: datetime) -> None:
        """Jump forward to `when`; raise ValueError for a time in the past."""
        target = _aware(when)
        if target < self._now:
            raise ValueError(f"the clock only moves forward ({target} is before {self._now})")
        self._now = target

    def advance(self, delta: timedelta) -> None:
        """Move forward by `delta`; raise ValueError for a negative step."""
        if delta < timedelta(0):
            raise ValueError(f"the clock only moves forward (step {delta})")
        self._now += delta


def _aware(when: datetime) -> datetime:
    if when.tzinfo is None or when.utcoffset() is None:
        raise ValueError(f"a simulated time needs a time zone: {when}")
    return when.astimezone(UTC)
