"""The state every part of the Bot API double shares, and the records it keeps."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

from .actors import SimChannel, SimUser
from .media import FileStore
from .models import CallbackAnswer, ChatMessage, RateLimiter, RateLimits, Request, Stats
from .spec import BotApiSpec, load_spec

OPT_IN_UPDATES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})


@dataclass
class Injection:
    """Describe a scripted failure for the next matching calls."""

    method: str
    status: int
    description: str | None
    retry_after: int | None
    remaining: int
    chat_id: int | None


@dataclass
class Delay:
    """Hold back the next matching calls, as a slow network or a busy Telegram would."""

    method: str
    seconds: float
    remaining: int
    chat_id: int | None


@dataclass(frozen=True)
class WebhookDelivery:
    """One attempt to post an update to the bot's webhook."""

    update_id: int
    url: str
    status: int | None
    error: str | None

    @property
    def ok(self) -> bool:
        """Return whether the bot accepted the update (a 2xx answer)."""
        return self.status is not None and 200 <= self.status < 300


@dataclass
class ChatState:
    """Hold everything the double knows about one chat."""

    id: int
    type: str
    title: str | None = None
    username: str | None = None
    user: SimUser | None = None
    messages: dict[int, ChatMessage] = field(default_factory=dict)
    next_message_id: int = 1
    reply_keyboard: dict[str, Any] | None = None
    menu_button: dict[str, Any] | None = None
    bot_is_member: bool = True
    delivered: set[int] = field(default_factory=set)

    def to_json(self) -> dict[str, Any]:
        """Return the Chat object of this chat."""
        if self.user is not None:
            return self.user.chat_json()
        out: dict[str, Any] = {"id": self.id, "type": self.type}
        if self.title is not None:
            out["title"] = self.title
        if self.username:
            out["username"] = self.username
        return out


@dataclass
class _IssuedCallback:
    query_id: str
    user_id: int
    chat_id: int | None
    message_id: int | None
    data: str | None
    answered: bool = False


@dataclass
class _Poll:
    wake: asyncio.Future[str]
    request: web.Request
    superseded: bool = False


Handler = Callable[[dict[str, Any], web.Request], Awaitable[Any]]


class DoubleState:
    """Hold the double's configuration and the state all its parts share."""

    def __init__(
        self,
        token: str = "123456:TEST-TOKEN",
        *,
        bot_id: int | None = None,
        bot_username: str = "taller_test_bot",
        bot_first_name: str = "Taller",
        host: str = "127.0.0.1",
        port: int = 0,
        limits: RateLimits | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        privacy_mode: bool = True,
        strict_html: bool = True,
        first_update_id: int = 1,
        self_check: bool = True,
        spec: BotApiSpec | None = None,
        webhook_timeout: float = 10.0,
        webhook_retry: tuple[float, float] = (0.05, 1.0),
    ) -> None:
        prefix = token.split(":", 1)[0]
        self.token = token
        self.bot_id = bot_id if bot_id is not None else (int(prefix) if prefix.isdigit() else 1)
        self.bot_username = bot_username
        self.bot_first_name = bot_first_name
        self.privacy_mode = privacy_mode
        self.strict_html = strict_html
        self.self_check = self_check
        self.clock = clock
        self.wall_clock = wall_clock
        self.spec = spec or load_spec()
        self.limits = limits
        self.violations: list[str] = []
        self.requests: list[Request] = []
        self.callback_answers: dict[str, CallbackAnswer] = {}
        self.updates_enqueued = 0
        self.stats = Stats()
        self.webhook: dict[str, Any] = {}
        # Public https:// origins mapped to local http:// ones, as a TLS-terminating proxy
        # in front of the bot would; without a route the double never leaves 127.0.0.1.
        # Public webhook URL -> the local servers behind it (a load balancer's backends).
        self.webhook_routes: dict[str, list[str]] = {}
        self.webhook_balance = random.Random(0)
        self.webhook_deliveries: list[WebhookDelivery] = []
        self.webhook_timeout = webhook_timeout
        self.webhook_retry = webhook_retry
        self.files = FileStore(salt=token)
        self._host = host
        self._port = port
        self._runner: web.AppRunner | None = None
        self._limiter = RateLimiter(limits, clock) if limits else None
        self._chats: dict[int, ChatState] = {}
        self._users: dict[int, SimUser] = {}
        self._queue: list[dict[str, Any]] = []
        self._next_update_id = first_update_id
        self._fetched_upto = first_update_id - 1
        self._first_update_id = first_update_id
        self._update_kinds = frozenset(k for k in self.spec.types["Update"] if k != "update_id")
        self._allowed = self._update_kinds - OPT_IN_UPDATES
        self._poll: _Poll | None = None
        self._closing = False
        self._changed = asyncio.Event()
        self._callbacks: dict[str, _IssuedCallback] = {}
        self._callback_seq = 0
        self._injections: list[Injection] = []
        self._delays: list[Delay] = []
        self._pusher: asyncio.Task[None] | None = None
        self._push_wake = asyncio.Event()
        self._webhook_session: aiohttp.ClientSession | None = None
        self._webhook_error: tuple[int, str] | None = None
        self._commands: dict[tuple[str, int | None, int | None, str], list[dict[str, str]]] = {}
        self._bot_texts: dict[tuple[str, str], str] = {}
        self._default_menu_button: dict[str, Any] | None = None
        self._next_user_id = 1_000_001
        self._next_group_seq = 1
        self._default_channel: SimChannel | None = None
        self._handlers: dict[str, Handler] = self._method_table()

    def _method_table(self) -> dict[str, Handler]:
        # Only the assembled double knows every part's handlers.
        raise NotImplementedError

    def bot_user_json(self) -> dict[str, Any]:
        """Return the bot as a User object (as it appears in messages)."""
        return {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": self.bot_first_name,
            "username": self.bot_username,
        }

    def _now(self) -> int:
        return int(self.wall_clock())

    def _notify(self) -> None:
        event = self._changed
        self._changed = asyncio.Event()
        event.set()

    def _violate(self, text: str) -> None:
        self.violations.append(text)

    def _check_result(self, value: Any, types: tuple[str, ...] | list[str], what: str) -> None:
        if not self.self_check:
            return
        for problem in self.spec.check(value, types, what)[:5]:
            self._violate(f"double-bug: {problem}")
