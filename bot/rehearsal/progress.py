"""A one-line progress bar on stderr, redrawn in place; silent when nobody watches."""

from __future__ import annotations

import asyncio
import time
from typing import TextIO

BAR_WIDTH = 24
REDRAW_SECONDS = 0.1


class Progress:
    """Show which phase runs, how far it is, and the time spent."""

    def __init__(self, stream: TextIO, phases: list[str], *, enabled: bool) -> None:
        self.stream = stream
        self.phases = phases
        self.enabled = enabled
        self.started = time.monotonic()
        self._index = 0
        self._last_draw = 0.0
        self._width = 0
        self._shown: tuple[int, int, str] = (0, 0, "")

    def phase(self, index: int) -> None:
        """Start phase number `index`."""
        self._index = index
        self._draw(0, 0, "", force=True)

    def step(self, done: int, total: int, label: str) -> None:
        """Say how far the current phase is: `done` of `total` things."""
        self._draw(done, total, label, force=done >= total)

    async def keep_drawing(self, every: float = 0.5) -> None:
        """Redraw now and then, so the clock runs on while a long step (a report) works."""
        while True:
            await asyncio.sleep(every)
            self._draw(*self._shown, force=True)

    def _draw(self, done: int, total: int, label: str, *, force: bool) -> None:
        if not self.enabled:
            return
        self._shown = (done, total, label)
        now = time.monotonic()
        if not force and now - self._last_draw < REDRAW_SECONDS:
            return
        self._last_draw = now
        count = max(1, len(self.phases))
        fraction = (self._index + (done / total if total else 0.0)) / count
        filled = min(BAR_WIDTH, int(fraction * BAR_WIDTH))
        bar = "#" * filled + "." * (BAR_WIDTH - filled)
        name = self.phases[self._index] if self._index < count else "done"
        detail = f" · {label} {done}/{total}" if total else ""
        elapsed = int(now - self.started)
        line = (
            f"[{bar}] {fraction:4.0%} {name} ({self._index + 1}/{count}){detail}"
            f" · {elapsed // 60}:{elapsed % 60:02d}"
        )
        pad = max(0, self._width - len(line))
        self._width = len(line)
        self.stream.write("\r" + line + " " * pad)
        self.stream.flush()

    def close(self) -> None:
        """End the line so that what follows starts on its own."""
        if self.enabled and self._width:
            self.stream.write("\r" + " " * self._width + "\r")
            self.stream.flush()
        self.enabled = False
