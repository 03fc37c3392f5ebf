"""Plain records the Bot API double exposes to tests."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


class ApiError(Exception):
    """Carry a Bot API error reply (status code, description, optional parameters)."""

    def __init__(
        self,
        code: int,
        description: str,
        *,
        parameters: dict[str, Any] | None = None,
        violation: str | None = None,
    ) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.parameters = parameters
        self.violation = violation

    def payload(self) -> dict[str, Any]:
        """Return the JSON body Telegram sends for this error."""
        body: dict[str, Any] = {
            "ok": False,
            "error_code": self.code,
            "description": self.description,
        }
        if self.parameters:
            body["parameters"] = self.parameters
        return body


@dataclass
class Request:
    """Record one Bot API call the double received."""

    method: str
    params: dict[str, Any]
    time: float
    status: int = 0
    description: str | None = None

    def short(self) -> str:
        """Render a one-line summary for failure messages."""
        shown = {
            k: (v if not isinstance(v, str) or len(v) <= 40 else v[:37] + "...")
            for k, v in self.params.items()
        }
        outcome = f"{self.status}" + (f" {self.description}" if self.description else "")
        return f"{self.method}({shown}) -> {outcome}"


@dataclass
class CallbackAnswer:
    """Record how the bot answered one callback query."""

    text: str | None
    show_alert: bool
    url: str | None = None
    cache_time: int | None = None


@dataclass
class ChatMessage:
    """Hold one message of a chat as it currently is (edits applied in place)."""

    message_id: int
    chat_id: int
    from_bot: bool
    text: str | None = None
    html: str | None = None
    caption: str | None = None
    reply_markup: dict[str, Any] | None = None
    photo: bytes | None = None
    document: tuple[str, bytes] | None = None
    edit_count: int = 0
    deleted: bool = False
    kind: str = "text"
    entities: list[dict[str, Any]] = field(default_factory=list)
    caption_html: str | None = None
    parse_mode: str | None = None
    date: int = 0
    edit_date: int | None = None
    sender_id: int | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)
    history: list[str | None] = field(default_factory=list, repr=False)

    @property
    def buttons(self) -> list[list[dict[str, Any]]]:
        """Return the inline keyboard rows (empty when there is none)."""
        markup = self.reply_markup or {}
        rows = markup.get("inline_keyboard")
        return [list(row) for row in rows] if isinstance(rows, list) else []

    @property
    def button_texts(self) -> list[str]:
        """Return the texts of all inline buttons, row by row."""
        return [str(button.get("text", "")) for row in self.buttons for button in row]

    @property
    def keyboard(self) -> list[list[str]]:
        """Return the reply keyboard rows as button texts (empty when there is none)."""
        markup = self.reply_markup or {}
        rows = markup.get("keyboard")
        if not isinstance(rows, list):
            return []
        return [[b if isinstance(b, str) else str(b.get("text", "")) for b in row] for row in rows]

    @property
    def content(self) -> str | None:
        """Return the text, or the caption for media messages."""
        return self.text if self.text is not None else self.caption


@dataclass(frozen=True)
class RateLimits:
    """Configure Telegram-like flood limits for sending methods (None disables one)."""

    global_per_second: int | None = 30
    per_chat_per_second: int | None = 1
    per_group_per_minute: int | None = 20


@dataclass
class Stats:
    """Count sends and 429 replies so benchmarks can compute throughput."""

    sends_accepted: int = 0
    rate_limited: int = 0
    accepted_times: list[float] = field(default_factory=list)

    def throughput(self) -> float:
        """Return accepted sends per second between the first and the last accepted send."""
        if len(self.accepted_times) < 2:
            return 0.0
        span = self.accepted_times[-1] - self.accepted_times[0]
        return (len(self.accepted_times) - 1) / span if span > 0 else math.inf


class RateLimiter:
    """Apply RateLimits with sliding windows over an injectable clock."""

    def __init__(self, limits: RateLimits, clock: Callable[[], float]) -> None:
        self.limits = limits
        self.clock = clock
        self._global: deque[float] = deque()
        self._per_chat: dict[int, deque[float]] = {}

    def retry_after(self, chat_id: int, is_group: bool) -> int | None:
        """Return the seconds to wait if a send to chat_id now would exceed a limit."""
        now = self.clock()
        waits: list[float] = []
        if self.limits.global_per_second:
            waits.append(_window_wait(self._global, now, 1.0, self.limits.global_per_second))
        per_chat_limit = (
            self.limits.per_group_per_minute if is_group else self.limits.per_chat_per_second
        )
        if per_chat_limit:
            window = 60.0 if is_group else 1.0
            times = self._per_chat.setdefault(chat_id, deque())
            waits.append(_window_wait(times, now, window, per_chat_limit))
        worst = max(waits, default=0.0)
        if worst <= 0:
            return None
        # Telegram always asks for whole seconds, at least one.
        return max(1, math.ceil(worst))

    def record(self, chat_id: int) -> float:
        """Record an accepted send to chat_id and return its timestamp."""
        now = self.clock()
        self._global.append(now)
        self._per_chat.setdefault(chat_id, deque()).append(now)
        return now


def _window_wait(times: deque[float], now: float, window: float, limit: int) -> float:
    """Return how long until one more event fits in the sliding window (0 if it fits)."""
    while times and times[0] <= now - window:
        times.popleft()
    if len(times) < limit:
        return 0.0
    return times[len(times) - limit] + window - now
