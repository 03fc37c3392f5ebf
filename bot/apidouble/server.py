"""An HTTP server that plays the Telegram Bot API for tests and offline rehearsals."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import ipaddress
import json
import re
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web

from .actors import SimChannel, SimGroup, SimUser
from .formatting import (
    EntityParseError,
    UnsupportedParseMode,
    detect_entities,
    parse_text,
    trim,
    utf16_len,
)
from .media import FileStore, StoredFile, guess_mime, image_size
from .models import (
    ApiError,
    CallbackAnswer,
    ChatMessage,
    RateLimiter,
    RateLimits,
    Request,
    Stats,
)
from .spec import PRIMITIVES, BotApiSpec, CoercionError, UploadedFile, coerce, load_spec

TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024
CALLBACK_TEXT_LIMIT = 200
CALLBACK_DATA_LIMIT = 64
MAX_UPLOAD = 50 * 1024 * 1024
MAX_DOWNLOAD = 20 * 1024 * 1024

OPT_IN_UPDATES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})
SEND_METHODS = frozenset(
    {
        "sendMessage",
        "sendPhoto",
        "sendDocument",
        "sendAudio",
        "sendVideo",
        "sendAnimation",
        "sendVoice",
        "sendVideoNote",
        "sendSticker",
        "sendLocation",
        "sendVenue",
        "sendContact",
        "sendPoll",
        "sendDice",
        "sendMediaGroup",
        "sendPaidMedia",
        "sendInvoice",
        "sendGame",
        "sendChecklist",
        "copyMessage",
        "copyMessages",
        "forwardMessage",
        "forwardMessages",
    }
)
CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)
_MISSING_PARAM = {
    "chat_id": "Bad Request: chat_id is empty",
    "message_id": "Bad Request: message identifier is not specified",
    "from_chat_id": "Bad Request: chat_id is empty",
}
_MISSING_BY_METHOD = {
    ("sendMessage", "text"): "Bad Request: message text is empty",
    ("sendPhoto", "photo"): "Bad Request: there is no photo in the request",
    ("sendDocument", "document"): "Bad Request: there is no document in the request",
    ("sendChatAction", "action"): "Bad Request: wrong parameter action in request",
}
_QUERY_INVALID = "Bad Request: query is too old and response timeout expired or query ID is invalid"
_NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup "
    "are exactly the same as a current content and reply markup of the message"
)
_GATEWAY_TEXT = {
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Temporarily Unavailable",
    504: "Gateway Time-out",
}
_ERROR_TEXT = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden: bot was blocked by the user",
    404: "Not Found",
    409: "Conflict",
    420: "Flood",
}
_INLINE_ACTIONS = (
    "url",
    "callback_data",
    "web_app",
    "login_url",
    "switch_inline_query",
    "switch_inline_query_current_chat",
    "switch_inline_query_chosen_chat",
    "copy_text",
    "callback_game",
    "pay",
)
_COMMAND_RE = re.compile(r"^[a-z0-9_]{1,32}$")
_LANG_RE = re.compile(r"^[a-z]{2,3}$")
_SECRET_RE = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
WEBHOOK_PORTS = frozenset({80, 88, 443, 8443})
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
_URL_RE = re.compile(r"^(https?://[^\s/$.?#][^\s]*|tg://\S+)$", re.IGNORECASE)
_CONTENT_KEYS = (
    "text",
    "entities",
    "link_preview_options",
    "photo",
    "document",
    "sticker",
    "voice",
    "location",
    "contact",
    "caption",
    "caption_entities",
)


class _GatewayError(Exception):
    """Carry a non-JSON gateway failure such as nginx's 502 page."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


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


class BotApiDouble:
    """Serve the Bot API methods a python-telegram-bot bot uses, with real Telegram semantics."""

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
        self.webhook_routes: dict[str, str] = {}
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
        self._handlers: dict[str, Handler] = {
            "getMe": self._get_me,
            "logOut": self._true,
            "close": self._true,
            "getUpdates": self._get_updates,
            "setWebhook": self._set_webhook,
            "deleteWebhook": self._delete_webhook,
            "getWebhookInfo": self._get_webhook_info,
            "sendMessage": self._send_message,
            "sendPhoto": self._send_photo,
            "sendDocument": self._send_document,
            "sendChatAction": self._send_chat_action,
            "copyMessage": self._copy_message,
            "forwardMessage": self._forward_message,
            "editMessageText": self._edit_message_text,
            "editMessageCaption": self._edit_message_caption,
            "editMessageReplyMarkup": self._edit_message_reply_markup,
            "deleteMessage": self._delete_message,
            "answerCallbackQuery": self._answer_callback_query,
            "getFile": self._get_file,
            "setMyCommands": self._set_my_commands,
            "getMyCommands": self._get_my_commands,
            "deleteMyCommands": self._delete_my_commands,
            "setChatMenuButton": self._set_chat_menu_button,
            "getChatMenuButton": self._get_chat_menu_button,
            "getChat": self._get_chat,
            "setMyName": self._set_bot_text("name"),
            "getMyName": self._get_bot_text("name"),
            "setMyDescription": self._set_bot_text("description"),
            "getMyDescription": self._get_bot_text("description"),
            "setMyShortDescription": self._set_bot_text("short_description"),
            "getMyShortDescription": self._get_bot_text("short_description"),
        }

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Start serving on host:port (port 0 picks a free one)."""
        app = web.Application(client_max_size=MAX_UPLOAD)
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        # Cancelling handlers on disconnect lets a dropped long poll vanish like on Telegram.
        runner = web.AppRunner(
            app, handler_cancellation=True, access_log=None, shutdown_timeout=1.0
        )
        await runner.setup()
        site = web.TCPSite(runner, self._host, self._port)
        await site.start()
        self._runner = runner
        self._port = int(runner.addresses[0][1])
        self._closing = False

    async def stop(self) -> None:
        """Release pending long polls and stop the server."""
        self._closing = True
        if self._poll is not None and not self._poll.wake.done():
            self._poll.wake.set_result("closing")
        if self._pusher is not None:
            self._pusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pusher
            self._pusher = None
        if self._webhook_session is not None:
            await self._webhook_session.close()
            self._webhook_session = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> BotApiDouble:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def url(self) -> str:
        """Return the base URL, e.g. http://127.0.0.1:PORT."""
        if self._runner is None:
            raise RuntimeError("BotApiDouble is not started")
        return f"http://{self._host}:{self._port}"

    @property
    def base_url(self) -> str:
        """Return the value for PTB's base_url."""
        return f"{self.url}/bot"

    @property
    def base_file_url(self) -> str:
        """Return the value for PTB's base_file_url."""
        return f"{self.url}/file/bot"

    # ------------------------------------------------------------------ actors

    def new_user(
        self,
        first_name: str = "Ana",
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = "es",
        *,
        user_id: int | None = None,
        is_premium: bool = False,
        started: bool = False,
    ) -> SimUser:
        """Create a user; its private chat id equals its user id.

        Like on Telegram the bot cannot write first: until the user sends something
        (or ``started=True``), sends to them fail with 403.
        """
        if user_id is None:
            while self._next_user_id in self._users:
                self._next_user_id += 1
            user_id = self._next_user_id
            self._next_user_id += 1
        if user_id in self._users or user_id in self._chats:
            raise ValueError(f"user id {user_id} already exists")
        user = SimUser(
            self,
            user_id,
            first_name,
            last_name=last_name,
            username=username,
            language_code=language_code,
            is_premium=is_premium,
        )
        user.started = started
        self._users[user_id] = user
        self._chats[user_id] = ChatState(id=user_id, type="private", user=user)
        return user

    def new_group(
        self,
        title: str = "Grupo",
        members: Iterable[SimUser] = (),
        *,
        username: str | None = None,
        chat_id: int | None = None,
    ) -> SimGroup:
        """Create a supergroup (negative id) the bot is a member of."""
        if chat_id is None:
            chat_id = -(1_001_000_000_000 + self._next_group_seq)
            self._next_group_seq += 1
        group = SimGroup(self, chat_id, title, username=username, members=list(members))
        self._chats[chat_id] = ChatState(
            id=chat_id, type="supergroup", title=title, username=username
        )
        return group

    def new_channel(
        self, title: str = "Canal", *, username: str | None = None, chat_id: int | None = None
    ) -> SimChannel:
        """Create a channel where the bot is an administrator."""
        if chat_id is None:
            chat_id = -(1_002_000_000_000 + self._next_group_seq)
            self._next_group_seq += 1
        channel = SimChannel(self, chat_id, title, username=username)
        self._chats[chat_id] = ChatState(id=chat_id, type="channel", title=title, username=username)
        return channel

    async def post_to_channel(self, text: str, channel: SimChannel | None = None) -> ChatMessage:
        """Publish a text post in a channel (a default one is created) as a channel_post."""
        if channel is None:
            if self._default_channel is None:
                self._default_channel = self.new_channel()
            channel = self._default_channel
        return await channel.post(text)

    def user(self, user_id: int) -> SimUser:
        """Return a user created with new_user."""
        return self._users[user_id]

    def chat_messages(self, chat_id: int, *, from_bot: bool | None = True) -> list[ChatMessage]:
        """Return the messages of a chat in order (default: only the bot's)."""
        chat = self._chats.get(chat_id)
        if chat is None:
            return []
        return [m for m in chat.messages.values() if from_bot is None or m.from_bot == from_bot]

    def message(self, chat_id: int, message_id: int) -> ChatMessage:
        """Return one stored message of a chat."""
        return self._chats[chat_id].messages[message_id]

    # ------------------------------------------------------------------ test helpers

    def inject(
        self,
        method: str,
        *,
        status: int,
        description: str | None = None,
        retry_after: int | None = None,
        times: int = 1,
        chat_id: int | None = None,
    ) -> None:
        """Make the next `times` calls of method ("*" for any) fail like Telegram would."""
        canonical = "*" if method == "*" else self.spec.canonical_method(method)
        if canonical is None:
            raise ValueError(f"unknown Bot API method {method!r}")
        self._injections.append(
            Injection(canonical, status, description, retry_after, times, chat_id)
        )

    def delay(
        self, method: str, seconds: float, *, times: int = 1, chat_id: int | None = None
    ) -> None:
        """Make the next `times` calls of method ("*" for any) reach Telegram `seconds` late."""
        canonical = "*" if method == "*" else self.spec.canonical_method(method)
        if canonical is None:
            raise ValueError(f"unknown Bot API method {method!r}")
        self._delays.append(Delay(canonical, seconds, times, chat_id))

    def route_webhook(self, public: str, local: str) -> None:
        """Deliver webhook posts for URLs starting with `public` to `local` instead."""
        self.webhook_routes[public.rstrip("/")] = local.rstrip("/")

    def unanswered_callbacks(self) -> list[str]:
        """Return ids of callback queries the bot has not answered yet."""
        return [q.query_id for q in self._callbacks.values() if not q.answered]

    def commands(
        self,
        language_code: str | None = None,
        scope: str = "default",
        *,
        chat_id: int | None = None,
        user_id: int | None = None,
    ) -> list[dict[str, str]]:
        """Return the commands set for exactly this scope type/chat/user and language."""
        key = (scope, chat_id, user_id, language_code or "")
        return [dict(c) for c in self._commands.get(key, [])]

    def menu_button(self, chat_id: int | None = None) -> dict[str, Any]:
        """Return the menu button set for a chat (or the default one)."""
        chat = self._chats.get(chat_id) if chat_id is not None else None
        if chat is not None and chat.menu_button is not None:
            return dict(chat.menu_button)
        return dict(self._default_menu_button or {"type": "default"})

    def requests_for(self, method: str) -> list[Request]:
        """Return the received requests of one method (case-insensitive)."""
        wanted = method.lower()
        return [r for r in self.requests if r.method.lower() == wanted]

    @property
    def pending_updates(self) -> int:
        """Return how many updates are queued and not yet confirmed by an offset."""
        return len(self._queue)

    @property
    def updates_fetched(self) -> int:
        """Return how many updates getUpdates has returned to the bot so far."""
        return self._fetched_upto - (self._first_update_id - 1)

    @property
    def unfetched_updates(self) -> int:
        """Return how many queued updates getUpdates has never returned."""
        return sum(1 for u in self._queue if u["update_id"] > self._fetched_upto)

    # The timeout parameter is the agreed test-facing API, hence the ASYNC109 waivers.
    async def wait_for(
        self,
        condition: Callable[[], object],
        timeout: float = 5.0,  # noqa: ASYNC109
        *,
        message: str | None = None,
        poll_interval: float | None = None,
    ) -> None:
        """Wait until condition() is truthy, re-checking after every request and update.

        poll_interval adds periodic re-checks for conditions on state the double
        does not see (a database, for instance).
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not condition():
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise AssertionError(self._timeout_report(message or "condition", timeout))
            if poll_interval is not None:
                remaining = min(remaining, poll_interval)
            event = self._changed
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), remaining)

    async def wait_until_fetched(self, timeout: float = 5.0) -> None:  # noqa: ASYNC109
        """Wait until getUpdates has returned every enqueued update to the bot."""
        await self.wait_for(
            lambda: self.unfetched_updates == 0,
            timeout,
            message=f"bot to fetch {self.unfetched_updates} pending update(s)",
        )

    def _timeout_report(self, what: str, timeout: float) -> str:
        lines = [f"timed out after {timeout}s waiting for {what}"]
        lines.append(f"updates enqueued={self.updates_enqueued} unfetched={self.unfetched_updates}")
        if self.webhook.get("url"):
            lines.append(f"webhook {self.webhook['url']}, last error: {self._webhook_error}")
        recent = self.requests[-10:]
        lines.append(f"last {len(recent)} of {len(self.requests)} request(s):")
        lines.extend("  " + r.short() for r in recent)
        if self.violations:
            lines.append("violations: " + "; ".join(self.violations[-5:]))
        return "\n".join(lines)

    def _notify(self) -> None:
        event = self._changed
        self._changed = asyncio.Event()
        event.set()

    def _violate(self, text: str) -> None:
        self.violations.append(text)

    # ------------------------------------------------------------------ JSON builders

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

    def _check_result(self, value: Any, types: tuple[str, ...] | list[str], what: str) -> None:
        if not self.self_check:
            return
        for problem in self.spec.check(value, types, what)[:5]:
            self._violate(f"double-bug: {problem}")

    # ------------------------------------------------------------------ updates

    def _enqueue(self, kind: str, payload: dict[str, Any]) -> dict[str, Any] | None:
        """Queue an update unless allowed_updates filters its type out (as Telegram does)."""
        if kind not in self._allowed:
            return None
        update = {"update_id": self._next_update_id, kind: payload}
        self._next_update_id += 1
        self._check_result(update, ("Update",), "Update")
        self._queue.append(update)
        self.updates_enqueued += 1
        if self._poll is not None and not self._poll.wake.done():
            self._poll.wake.set_result("update")
        self._push_wake.set()
        self._notify()
        return update

    def _set_allowed(self, value: list[Any]) -> None:
        unknown = [v for v in value if v not in self._update_kinds]
        for item in unknown:
            self._violate(f"allowed_updates: unknown update type {item!r}")
        known = {v for v in value if v in self._update_kinds}
        self._allowed = frozenset(known) if known else self._update_kinds - OPT_IN_UPDATES

    # ------------------------------------------------------------------ HTTP plumbing

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        if path.startswith("/file/bot"):
            return self._serve_file(path[len("/file/bot") :])
        if not path.startswith("/bot"):
            return _json_response(404, ApiError(404, "Not Found").payload())
        token, _, method_name = path[len("/bot") :].partition("/")
        if token != self.token:
            return _json_response(401, ApiError(401, "Unauthorized").payload())
        canonical = self.spec.canonical_method(method_name) if method_name else None
        if canonical is None:
            self._violate(f"unknown method {method_name!r} (HTTP 404)")
            self.requests.append(Request(method_name, {}, self.clock(), 404, "Not Found"))
            self._notify()
            return _json_response(404, ApiError(404, "Not Found").payload())
        record = Request(canonical, {}, self.clock())
        self.requests.append(record)
        try:
            raw, attachments = await self._decode(request, canonical)
            record.params = dict(raw)
            params = self._validate(canonical, raw, attachments)
            record.params = params
            # Waiters may watch for a request's arrival (e.g. a long poll being open).
            self._notify()
            result = await self._call(canonical, params, request)
        except ApiError as err:
            if err.violation:
                self._violate(err.violation)
            if err.code == 429:
                self.stats.rate_limited += 1
            record.status, record.description = err.code, err.description
            self._notify()
            return _json_response(err.code, err.payload())
        except _GatewayError as err:
            text = _GATEWAY_TEXT.get(err.status, "Bad Gateway")
            record.status, record.description = err.status, text
            self._notify()
            page = (
                f"<html>\r\n<head><title>{err.status} {text}</title></head>\r\n<body>\r\n"
                f"<center><h1>{err.status} {text}</h1></center>\r\n"
                "<hr><center>nginx/1.18.0</center>\r\n</body>\r\n</html>\r\n"
            )
            return web.Response(status=err.status, text=page, content_type="text/html")
        record.status = 200
        self._notify()
        return _json_response(200, {"ok": True, "result": result})

    async def _decode(
        self, request: web.Request, method: str
    ) -> tuple[dict[str, Any], dict[str, UploadedFile]]:
        """Read query string and body (form, multipart or JSON) into raw values."""
        raw: dict[str, Any] = dict(request.query)
        attachments: dict[str, UploadedFile] = {}
        if request.method not in ("POST", "PUT"):
            return raw, attachments
        ctype = request.content_type
        if ctype == "application/json":
            body = await request.read()
            if body.strip():
                try:
                    decoded = json.loads(body)
                except ValueError:
                    raise ApiError(
                        400,
                        "Bad Request: can't parse JSON request body",
                        violation=f"{method}: malformed JSON body",
                    ) from None
                if not isinstance(decoded, dict):
                    raise ApiError(
                        400,
                        "Bad Request: JSON body must be an object",
                        violation=f"{method}: JSON body is not an object",
                    )
                raw.update(decoded)
            return raw, attachments
        if ctype in ("application/x-www-form-urlencoded", "multipart/form-data"):
            form = await request.post()
            for key, value in form.items():
                if isinstance(value, web.FileField):
                    upload = UploadedFile(
                        name=key,
                        filename=value.filename or key,
                        content_type=value.content_type,
                        data=value.file.read(),
                    )
                    attachments[key] = upload
                    raw[key] = upload
                else:
                    raw[key] = value if isinstance(value, str) else bytes(value).decode()
        return raw, attachments

    def _validate(
        self, method: str, raw: dict[str, Any], attachments: dict[str, UploadedFile]
    ) -> dict[str, Any]:
        """Check names against the spec, coerce values and enforce required parameters."""
        fields = self.spec.methods[method]
        referenced = {
            m.group(1)
            for value in raw.values()
            if isinstance(value, str)
            for m in re.finditer(r"attach://([\w-]+)", value)
        }
        params: dict[str, Any] = {}
        for name, value in raw.items():
            spec_field = fields.get(name)
            if spec_field is None:
                if name in attachments and name in referenced:
                    continue
                self._violate(f"{method}: unknown parameter {name!r} (Telegram ignores it)")
                continue
            if value is None or (value == "" and any(t != "String" for t in spec_field.types)):
                # The Bot API treats empty values as absent.
                continue
            try:
                params[name] = coerce(spec_field, value, attachments)
            except CoercionError as exc:
                raise ApiError(
                    400,
                    f"Bad Request: can't parse {name}: {exc}",
                    violation=f"{method}: malformed value: {exc}",
                ) from None
            if not isinstance(params[name], UploadedFile) and not set(spec_field.types) <= (
                PRIMITIVES | {"InputFile"}
            ):
                value_to_check = _normalize_keyboard_strings(params[name])
                for problem in self.spec.check(value_to_check, spec_field.types, name)[:5]:
                    self._violate(f"{method}: {problem}")
        for name, spec_field in fields.items():
            if spec_field.required and name not in params:
                description = _MISSING_BY_METHOD.get(
                    (method, name),
                    _MISSING_PARAM.get(name, f'Bad Request: parameter "{name}" is required'),
                )
                raise ApiError(
                    400,
                    description,
                    violation=f"{method}: missing required parameter {name!r}",
                )
        return params

    async def _call(self, method: str, params: dict[str, Any], request: web.Request) -> Any:
        await self._apply_delay(method, params)
        self._apply_injection(method, params)
        handler = self._handlers.get(method)
        if handler is None:
            raise ApiError(
                400,
                "Bad Request: method not supported by the test double",
                violation=f"{method}: not implemented by the test double",
            )
        limited_chat: ChatState | None = None
        if method in SEND_METHODS:
            limited_chat = self._chat_or_none(params.get("chat_id"))
            if self._limiter is not None and limited_chat is not None:
                retry = self._limiter.retry_after(
                    limited_chat.id, is_group=limited_chat.type != "private"
                )
                if retry is not None:
                    raise ApiError(
                        429,
                        f"Too Many Requests: retry after {retry}",
                        parameters={"retry_after": retry},
                    )
        result = await handler(params, request)
        if method in SEND_METHODS:
            self.stats.sends_accepted += 1
            if self._limiter is not None and limited_chat is not None:
                self.stats.accepted_times.append(self._limiter.record(limited_chat.id))
            else:
                self.stats.accepted_times.append(self.clock())
        self._check_result(result, self.spec.returns.get(method, ()), f"{method} result")
        return result

    async def _apply_delay(self, method: str, params: dict[str, Any]) -> None:
        for delay in self._delays:
            if delay.method not in ("*", method) or delay.remaining <= 0:
                continue
            if delay.chat_id is not None and params.get("chat_id") != delay.chat_id:
                continue
            delay.remaining -= 1
            self._delays = [d for d in self._delays if d.remaining > 0]
            # A client that gives up meanwhile cancels this handler: the call never happens.
            await asyncio.sleep(delay.seconds)
            return

    def _apply_injection(self, method: str, params: dict[str, Any]) -> None:
        for injection in self._injections:
            if injection.method not in ("*", method) or injection.remaining <= 0:
                continue
            if injection.chat_id is not None and params.get("chat_id") != injection.chat_id:
                continue
            injection.remaining -= 1
            self._injections = [i for i in self._injections if i.remaining > 0]
            status = injection.status
            if status >= 500:
                raise _GatewayError(status)
            if status == 429:
                retry = injection.retry_after if injection.retry_after is not None else 1
                raise ApiError(
                    429,
                    injection.description or f"Too Many Requests: retry after {retry}",
                    parameters={"retry_after": retry},
                )
            parameters = None
            if injection.retry_after is not None:
                parameters = {"retry_after": injection.retry_after}
            raise ApiError(
                status,
                injection.description or _ERROR_TEXT.get(status, "Bad Request"),
                parameters=parameters,
            )

    def _serve_file(self, rest: str) -> web.StreamResponse:
        token, _, file_path = rest.partition("/")
        if token != self.token:
            return _json_response(401, ApiError(401, "Unauthorized").payload())
        stored = self.files.by_path.get(file_path)
        if stored is None:
            return _json_response(404, ApiError(404, "Not Found").payload())
        self._notify()
        return web.Response(
            body=stored.data, content_type=stored.mime_type or "application/octet-stream"
        )

    # ------------------------------------------------------------------ chats & checks

    def _chat_or_none(self, chat_id: Any) -> ChatState | None:
        if isinstance(chat_id, int):
            return self._chats.get(chat_id)
        if isinstance(chat_id, str) and chat_id.startswith("@"):
            wanted = chat_id[1:].lower()
            for chat in self._chats.values():
                # Only public groups and channels are reachable by @username.
                if chat.type != "private" and (chat.username or "").lower() == wanted:
                    return chat
        return None

    def _known_chat(self, chat_id: Any, *, param: str = "chat_id") -> ChatState:
        if chat_id is None or chat_id == "":
            raise ApiError(400, f"Bad Request: {param} is empty")
        chat = self._chat_or_none(chat_id)
        if chat is None:
            raise ApiError(400, "Bad Request: chat not found")
        return chat

    def _writable_chat(self, chat_id: Any) -> ChatState:
        """Resolve a chat the bot writes to, with Telegram's 403 cases."""
        chat = self._known_chat(chat_id)
        user = chat.user
        if user is not None:
            if user.deactivated:
                raise ApiError(403, "Forbidden: user is deactivated")
            if user.blocked:
                raise ApiError(403, "Forbidden: bot was blocked by the user")
            if not user.started:
                raise ApiError(403, "Forbidden: bot can't initiate conversation with a user")
        elif not chat.bot_is_member:
            kind = "channel" if chat.type == "channel" else chat.type
            raise ApiError(403, f"Forbidden: bot is not a member of the {kind} chat")
        return chat

    def _format(
        self,
        raw_text: str,
        parse_mode: str | None,
        explicit: list[dict[str, Any]] | None,
        *,
        limit: int,
        too_long: str,
        empty: str | None,
    ) -> tuple[str, list[dict[str, Any]]]:
        """Parse text like Telegram: markup, trimming, length limits, auto entities."""
        try:
            text, entities = parse_text(raw_text, parse_mode, strict_html=self.strict_html)
        except EntityParseError as exc:
            raise ApiError(400, f"Bad Request: can't parse entities: {exc}") from None
        except UnsupportedParseMode:
            raise ApiError(
                400,
                "Bad Request: unsupported parse_mode",
                violation=f"unsupported parse_mode {parse_mode!r}",
            ) from None
        if not parse_mode and explicit:
            entities = self._check_entities(text, explicit)
        text, entities = trim(text, entities)
        if not text and empty is not None:
            raise ApiError(400, f"Bad Request: {empty}")
        if len(text) > limit:
            raise ApiError(400, f"Bad Request: {too_long}")
        return text, detect_entities(text, entities)

    def _check_entities(self, text: str, entities: list[Any]) -> list[dict[str, Any]]:
        total = utf16_len(text)
        out: list[dict[str, Any]] = []
        for entity in entities:
            if not isinstance(entity, dict) or not isinstance(entity.get("offset"), int):
                raise ApiError(400, "Bad Request: can't parse entities JSON object")
            offset, length = entity["offset"], entity.get("length", 0)
            if offset < 0 or not isinstance(length, int) or length <= 0:
                continue
            if offset + length > total:
                length = total - offset
                if length <= 0:
                    continue
            out.append({**entity, "offset": offset, "length": length})
        return sorted(out, key=lambda e: (e["offset"], -e["length"]))

    def _check_markup(self, markup: Any, *, inline_only: bool = False) -> dict[str, Any] | None:
        """Validate reply_markup the way Telegram does and return it normalised."""
        if markup is None:
            return None
        if not isinstance(markup, dict):
            raise ApiError(400, "Bad Request: can't parse reply keyboard markup JSON object")
        if "inline_keyboard" in markup:
            rows = markup["inline_keyboard"]
            if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
                raise ApiError(
                    400,
                    "Bad Request: can't parse inline keyboard button: "
                    "InlineKeyboardMarkup must be an Array of Arrays",
                )
            for row in rows:
                for button in row:
                    self._check_inline_button(button)
            return {"inline_keyboard": [[dict(b) for b in row] for row in rows]}
        if inline_only:
            raise ApiError(400, "Bad Request: inline keyboard expected")
        if "keyboard" in markup:
            rows = markup["keyboard"]
            if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
                raise ApiError(400, 'Bad Request: field "keyboard" must be an Array of Arrays')
            for row in rows:
                for button in row:
                    text = (
                        button
                        if isinstance(button, str)
                        else (button.get("text") if isinstance(button, dict) else None)
                    )
                    if not isinstance(text, str) or not text:
                        raise ApiError(400, "Bad Request: keyboard button text can't be empty")
            return copy.deepcopy(markup)
        if markup.get("remove_keyboard") is True or markup.get("force_reply") is True:
            return dict(markup)
        raise ApiError(
            400,
            "Bad Request: can't parse reply keyboard markup JSON object",
            violation=f"reply_markup of no known kind: {markup!r}",
        )

    def _check_inline_button(self, button: Any) -> None:
        if not isinstance(button, dict):
            raise ApiError(400, "Bad Request: can't parse inline keyboard button: Object expected")
        text = button.get("text")
        if not isinstance(text, str):
            raise ApiError(
                400,
                'Bad Request: can\'t parse inline keyboard button: Field "text" must be of type '
                "String",
            )
        if not text.strip():
            raise ApiError(400, "Bad Request: BUTTON_TEXT_INVALID")
        actions = [a for a in _INLINE_ACTIONS if a in button]
        if not actions:
            raise ApiError(
                400,
                "Bad Request: can't parse inline keyboard button: Text buttons are unallowed in "
                "the inline keyboard",
            )
        if len(actions) > 1:
            # Telegram silently keeps the first one; the documentation demands exactly one.
            self._violate(f"inline button {text!r} has several actions: {actions}")
        if "callback_data" in button:
            data = button["callback_data"]
            size = len(data.encode("utf-8")) if isinstance(data, str) else 0
            if not 1 <= size <= CALLBACK_DATA_LIMIT:
                raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")
        if "url" in button:
            url = button["url"]
            if not isinstance(url, str) or not _URL_RE.match(url):
                raise ApiError(
                    400,
                    f"Bad Request: inline keyboard button URL '{url}' is invalid: Wrong HTTP URL",
                )

    def _reply_target(self, chat: ChatState, params: dict[str, Any]) -> ChatMessage | None:
        reply = params.get("reply_parameters")
        if not isinstance(reply, dict) or "message_id" not in reply:
            return None
        target_chat = chat
        if reply.get("chat_id") not in (None, chat.id):
            target_chat = self._known_chat(reply["chat_id"])
        msg = target_chat.messages.get(reply["message_id"])
        if msg is None or msg.deleted:
            if reply.get("allow_sending_without_reply"):
                return None
            raise ApiError(400, "Bad Request: message to be replied not found")
        return msg

    # ------------------------------------------------------------------ message storage

    def _add_message(
        self,
        chat: ChatState,
        *,
        from_bot: bool,
        sender: SimUser | None = None,
        content: dict[str, Any],
        reply_to: ChatMessage | None = None,
        markup: dict[str, Any] | None = None,
        extra: dict[str, Any] | None = None,
        **fields: Any,
    ) -> ChatMessage:
        """Store a new message in a chat and build its Bot API Message object."""
        message_id = chat.next_message_id
        chat.next_message_id += 1
        raw: dict[str, Any] = {"message_id": message_id}
        if chat.type == "channel":
            raw["sender_chat"] = chat.to_json()
        elif from_bot:
            raw["from"] = self.bot_user_json()
        elif sender is not None:
            raw["from"] = sender.user_json()
        raw["date"] = self._now()
        raw["chat"] = chat.to_json()
        if reply_to is not None:
            quoted = {k: v for k, v in reply_to.raw.items() if k != "reply_to_message"}
            raw["reply_to_message"] = copy.deepcopy(quoted)
        raw.update(copy.deepcopy(content))
        if extra:
            raw.update(extra)
        if markup is not None and "inline_keyboard" in markup:
            raw["reply_markup"] = copy.deepcopy(markup)
        msg = ChatMessage(
            message_id=message_id,
            chat_id=chat.id,
            from_bot=from_bot,
            reply_markup=copy.deepcopy(markup),
            date=raw["date"],
            sender_id=self.bot_id if from_bot else (sender.id if sender else None),
            raw=raw,
            **fields,
        )
        chat.messages[message_id] = msg
        if from_bot and markup is not None:
            if "keyboard" in markup:
                chat.reply_keyboard = copy.deepcopy(markup)
            elif markup.get("remove_keyboard"):
                chat.reply_keyboard = None
        return msg

    def _text_content(self, text: str, entities: list[dict[str, Any]]) -> dict[str, Any]:
        content: dict[str, Any] = {"text": text}
        if entities:
            content["entities"] = entities
        return content

    def _caption_content(
        self, caption: str | None, entities: list[dict[str, Any]]
    ) -> dict[str, Any]:
        if not caption:
            return {}
        content: dict[str, Any] = {"caption": caption}
        if entities:
            content["caption_entities"] = entities
        return content

    def _send_extra(self, params: dict[str, Any]) -> dict[str, Any]:
        extra: dict[str, Any] = {}
        if params.get("protect_content"):
            extra["has_protected_content"] = True
        if params.get("show_caption_above_media"):
            extra["show_caption_above_media"] = True
        if params.get("has_spoiler"):
            extra["has_media_spoiler"] = True
        return extra

    def _input_file(self, params: dict[str, Any], name: str, kind: str) -> StoredFile | None:
        """Return a known file for a file_id string, or None for an upload."""
        value = params[name]
        if isinstance(value, UploadedFile):
            return None
        if not isinstance(value, str) or not value:
            raise ApiError(400, "Bad Request: wrong file identifier/HTTP URL specified")
        if re.match(r"^https?://", value, re.IGNORECASE):
            raise ApiError(
                400,
                "Bad Request: failed to get HTTP URL content",
                violation=f"{name}: sending by URL is not supported by the test double ({value})",
            )
        stored = self.files.by_id.get(value)
        if stored is None:
            raise ApiError(400, "Bad Request: wrong file identifier/HTTP URL specified")
        if stored.kind != kind:
            raise ApiError(400, "Bad Request: type of file mismatch")
        return stored

    # ------------------------------------------------------------------ methods: bot & updates

    async def _true(self, params: dict[str, Any], request: web.Request) -> Any:
        return True

    async def _get_me(self, params: dict[str, Any], request: web.Request) -> Any:
        return {
            **self.bot_user_json(),
            "can_join_groups": True,
            "can_read_all_group_messages": not self.privacy_mode,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    async def _get_updates(self, params: dict[str, Any], request: web.Request) -> Any:
        if self.webhook.get("url"):
            raise ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; use "
                "deleteWebhook to delete the webhook first",
            )
        if "allowed_updates" in params:
            self._set_allowed(params["allowed_updates"])
        offset = int(params.get("offset", 0))
        limit = int(params.get("limit", 100))
        if not 1 <= limit <= 100:
            limit = 100
        timeout = max(0, int(params.get("timeout", 0)))
        if offset > 0:
            self._queue = [u for u in self._queue if u["update_id"] >= offset]
        elif offset < 0:
            self._queue = self._queue[offset:]
        loop = asyncio.get_running_loop()
        previous = self._poll
        poll = _Poll(loop.create_future(), request)
        self._poll = poll
        if previous is not None:
            previous.superseded = True
            if not previous.wake.done():
                previous.wake.set_result("conflict")
        try:
            deadline = loop.time() + timeout
            while (
                not self._queue
                and not self._closing
                and not poll.superseded
                and not self.webhook.get("url")
            ):
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                await asyncio.wait({poll.wake}, timeout=remaining)
                if poll.wake.done():
                    poll.wake = loop.create_future()
            if poll.superseded:
                await self._report_conflict(request)
                raise ApiError(
                    409,
                    "Conflict: terminated by other getUpdates request; make sure that only one "
                    "bot instance is running",
                )
        finally:
            if self._poll is poll:
                self._poll = None
        batch = self._queue[:limit]
        if batch and _connected(request):
            self._fetched_upto = max(self._fetched_upto, batch[-1]["update_id"])
        return copy.deepcopy(batch)

    async def _report_conflict(self, request: web.Request) -> None:
        # A client that dropped its long poll is cancelled by aiohttp within a few loop
        # turns; only a still-connected poller means two bot instances really compete.
        for _ in range(5):
            await asyncio.sleep(0)
        if _connected(request):
            self._violate("getUpdates: two concurrent getUpdates requests (409 Conflict)")

    async def _set_webhook(self, params: dict[str, Any], request: web.Request) -> Any:
        url = str(params.get("url", ""))
        if url:
            self._check_webhook_url(url)
        secret = params.get("secret_token")
        if secret is not None and not _SECRET_RE.match(secret):
            raise ApiError(400, "Bad Request: secret token contains unallowed characters")
        max_connections = int(params.get("max_connections", 40))
        if not 1 <= max_connections <= 100:
            raise ApiError(400, "Bad Request: bad webhook: max_connections must be 1-100")
        if params.get("drop_pending_updates"):
            self._queue.clear()
        if "allowed_updates" in params:
            self._set_allowed(params["allowed_updates"])
        if not url:
            self.webhook = {}
            self._webhook_error = None
            return True
        if url != self.webhook.get("url"):
            self._webhook_error = None
        self.webhook = {
            "url": url,
            "secret_token": secret,
            "max_connections": max_connections,
            "ip_address": params.get("ip_address"),
        }
        if self._poll is not None and not self._poll.wake.done():
            self._poll.wake.set_result("webhook")
        if self._pusher is None or self._pusher.done():
            self._pusher = asyncio.create_task(self._push_updates(), name="double-webhook")
        self._push_wake.set()
        return True

    @staticmethod
    def _check_webhook_url(url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme.lower() != "https" or not parts.hostname:
            raise ApiError(
                400, "Bad Request: bad webhook: An HTTPS URL must be provided for webhook"
            )
        try:
            port = parts.port or 443
        except ValueError:
            raise ApiError(400, "Bad Request: bad webhook: Wrong port number specified") from None
        if port not in WEBHOOK_PORTS:
            raise ApiError(
                400,
                "Bad Request: bad webhook: Webhook can be set up only on ports 80, 88, 443 or 8443",
            )
        try:
            ip = ipaddress.ip_address(parts.hostname)
        except ValueError:
            return
        if not ip.is_global:
            raise ApiError(400, f"Bad Request: bad webhook: IP address {ip} is reserved")

    async def _delete_webhook(self, params: dict[str, Any], request: web.Request) -> Any:
        self.webhook = {}
        self._webhook_error = None
        if params.get("drop_pending_updates"):
            self._queue.clear()
        self._push_wake.set()
        return True

    async def _get_webhook_info(self, params: dict[str, Any], request: web.Request) -> Any:
        info: dict[str, Any] = {
            "url": self.webhook.get("url", ""),
            "has_custom_certificate": False,
            "pending_update_count": len(self._queue),
        }
        if self.webhook.get("url"):
            info["max_connections"] = self.webhook.get("max_connections", 40)
            if self.webhook.get("ip_address"):
                info["ip_address"] = self.webhook["ip_address"]
            info["allowed_updates"] = sorted(self._allowed)
            if self._webhook_error is not None:
                info["last_error_date"], info["last_error_message"] = self._webhook_error
        return info

    # ------------------------------------------------------------------ webhook delivery

    async def _push_updates(self) -> None:
        """Post queued updates to the webhook one at a time, in order, retrying failures.

        Telegram may use up to max_connections connections; one keeps every chat's updates
        in order, which is what a bot may rely on.
        """
        first, longest = self.webhook_retry
        wait = first
        while not self._closing:
            hook = dict(self.webhook)
            if not hook.get("url") or not self._queue:
                self._push_wake.clear()
                await self._push_wake.wait()
                continue
            update = self._queue[0]
            delivery = await self._post_update(hook, update)
            self.webhook_deliveries.append(delivery)
            if delivery.ok:
                if self._queue and self._queue[0] is update:
                    self._queue.pop(0)
                self._fetched_upto = max(self._fetched_upto, update["update_id"])
                wait = first
            else:
                self._webhook_error = (self._now(), delivery.error or "")
                self._push_wake.clear()
                # Retried later, sooner if the bot sets its webhook again.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._push_wake.wait(), wait)
                wait = min(longest, wait * 2)
            self._notify()

    def _webhook_target(self, url: str) -> str | None:
        for public, local in self.webhook_routes.items():
            if url == public or url.startswith((public + "/", public + "?")):
                return local + url[len(public) :]
        return None

    async def _post_update(self, hook: dict[str, Any], update: dict[str, Any]) -> WebhookDelivery:
        url = str(hook["url"])
        update_id = int(update["update_id"])
        target = self._webhook_target(url)
        if target is None:
            return WebhookDelivery(
                update_id, url, None, "Failed to resolve host: Name or service not known"
            )
        headers = {"Content-Type": "application/json"}
        if hook.get("secret_token"):
            headers[SECRET_HEADER] = hook["secret_token"]
        if self._webhook_session is None:
            self._webhook_session = aiohttp.ClientSession()
        try:
            async with self._webhook_session.post(
                target,
                data=json.dumps(update, ensure_ascii=False).encode(),
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=self.webhook_timeout),
                allow_redirects=False,
            ) as resp:
                body = await resp.read()
                if not 200 <= resp.status < 300:
                    error = f"Wrong response from the webhook: {resp.status} {_phrase(resp.status)}"
                    return WebhookDelivery(update_id, url, resp.status, error)
        except TimeoutError:
            return WebhookDelivery(update_id, url, None, "Read timeout expired")
        except aiohttp.ClientConnectorError:
            return WebhookDelivery(update_id, url, None, "Connection refused")
        except aiohttp.ClientError as exc:
            return WebhookDelivery(update_id, url, None, f"Connection failed: {exc}")
        self._check_webhook_reply(body)
        return WebhookDelivery(update_id, url, resp.status, None)

    def _check_webhook_reply(self, body: bytes) -> None:
        # Telegram runs a method the bot puts in its reply; the double does not.
        with contextlib.suppress(ValueError):
            reply = json.loads(body) if body.strip() else None
            if isinstance(reply, dict) and "method" in reply:
                self._violate("webhook reply carries a method call (not supported by the double)")

    # ------------------------------------------------------------------ methods: sending

    async def _send_message(self, params: dict[str, Any], request: web.Request) -> Any:
        chat = self._writable_chat(params["chat_id"])
        raw_text = params["text"]
        text, entities = self._format(
            raw_text,
            params.get("parse_mode"),
            params.get("entities"),
            limit=TEXT_LIMIT,
            too_long="message is too long",
            empty="message text is empty",
        )
        markup = self._check_markup(params.get("reply_markup"))
        reply_to = self._reply_target(chat, params)
        msg = self._add_message(
            chat,
            from_bot=True,
            content=self._text_content(text, entities),
            reply_to=reply_to,
            markup=markup,
            extra=self._send_extra(params),
            kind="text",
            text=text,
            html=raw_text,
            entities=entities,
            parse_mode=params.get("parse_mode"),
        )
        return copy.deepcopy(msg.raw)

    def _caption(self, params: dict[str, Any]) -> tuple[str | None, list[dict[str, Any]]]:
        raw = params.get("caption")
        if raw is None:
            return None, []
        caption, entities = self._format(
            raw,
            params.get("parse_mode"),
            params.get("caption_entities"),
            limit=CAPTION_LIMIT,
            too_long="message caption is too long",
            empty=None,
        )
        return (caption or None), (entities if caption else [])

    async def _send_photo(self, params: dict[str, Any], request: web.Request) -> Any:
        chat = self._writable_chat(params["chat_id"])
        known = self._input_file(params, "photo", "photo")
        if known is None:
            upload: UploadedFile = params["photo"]
            dims = image_size(upload.data)
            if dims is None or dims[0] <= 0 or dims[1] <= 0:
                raise ApiError(400, "Bad Request: IMAGE_PROCESS_FAILED")
            sizes = self.files.add_photo(upload.data, dims[0], dims[1])
        else:
            sizes = [self.files.by_id[fid] for fid in known.group or [known.file_id]]
        caption, entities = self._caption(params)
        markup = self._check_markup(params.get("reply_markup"))
        reply_to = self._reply_target(chat, params)
        content = {
            "photo": [s.photo_size() for s in sizes],
            **self._caption_content(caption, entities),
        }
        msg = self._add_message(
            chat,
            from_bot=True,
            content=content,
            reply_to=reply_to,
            markup=markup,
            extra=self._send_extra(params),
            kind="photo",
            caption=caption,
            caption_html=params.get("caption"),
            entities=entities,
            parse_mode=params.get("parse_mode"),
            photo=sizes[-1].data,
        )
        return copy.deepcopy(msg.raw)

    async def _send_document(self, params: dict[str, Any], request: web.Request) -> Any:
        chat = self._writable_chat(params["chat_id"])
        stored = self._input_file(params, "document", "document")
        if stored is None:
            upload: UploadedFile = params["document"]
            stored = self.files.add(
                "document",
                upload.data,
                filename=upload.filename,
                mime_type=guess_mime(upload.filename, upload.content_type),
            )
        caption, entities = self._caption(params)
        markup = self._check_markup(params.get("reply_markup"))
        reply_to = self._reply_target(chat, params)
        content = {"document": stored.document(), **self._caption_content(caption, entities)}
        msg = self._add_message(
            chat,
            from_bot=True,
            content=content,
            reply_to=reply_to,
            markup=markup,
            extra=self._send_extra(params),
            kind="document",
            caption=caption,
            caption_html=params.get("caption"),
            entities=entities,
            parse_mode=params.get("parse_mode"),
            document=(stored.filename or "document", stored.data),
        )
        return copy.deepcopy(msg.raw)

    async def _send_chat_action(self, params: dict[str, Any], request: web.Request) -> Any:
        self._writable_chat(params["chat_id"])
        if params["action"] not in CHAT_ACTIONS:
            raise ApiError(400, "Bad Request: wrong parameter action in request")
        return True

    def _source_message(self, params: dict[str, Any], verb: str) -> ChatMessage:
        source_chat = self._known_chat(params["from_chat_id"], param="from_chat_id")
        msg = source_chat.messages.get(params["message_id"])
        if msg is None or msg.deleted:
            raise ApiError(400, f"Bad Request: message to {verb} not found")
        return msg

    def _clone_fields(self, source: ChatMessage) -> dict[str, Any]:
        return {
            "kind": source.kind,
            "text": source.text,
            "html": source.html,
            "caption": source.caption,
            "caption_html": source.caption_html,
            "entities": copy.deepcopy(source.entities),
            "parse_mode": source.parse_mode,
            "photo": source.photo,
            "document": source.document,
        }

    async def _copy_message(self, params: dict[str, Any], request: web.Request) -> Any:
        source = self._source_message(params, "copy")
        chat = self._writable_chat(params["chat_id"])
        content = {k: v for k, v in source.raw.items() if k in _CONTENT_KEYS}
        fields = self._clone_fields(source)
        if "caption" in params and source.kind != "text":
            caption, entities = self._caption(params)
            for key in ("caption", "caption_entities"):
                content.pop(key, None)
            content.update(self._caption_content(caption, entities))
            fields.update(caption=caption, caption_html=params.get("caption"), entities=entities)
        markup = self._check_markup(params.get("reply_markup"))
        reply_to = self._reply_target(chat, params)
        msg = self._add_message(
            chat,
            from_bot=True,
            content=content,
            reply_to=reply_to,
            markup=markup,
            extra=self._send_extra(params),
            **fields,
        )
        return {"message_id": msg.message_id}

    async def _forward_message(self, params: dict[str, Any], request: web.Request) -> Any:
        source = self._source_message(params, "forward")
        chat = self._writable_chat(params["chat_id"])
        content = {k: v for k, v in source.raw.items() if k in _CONTENT_KEYS}
        origin: dict[str, Any]
        if "sender_chat" in source.raw:
            origin = {
                "type": "channel",
                "date": source.date,
                "chat": source.raw["sender_chat"],
                "message_id": source.message_id,
            }
        else:
            origin = {"type": "user", "date": source.date, "sender_user": source.raw["from"]}
        msg = self._add_message(
            chat,
            from_bot=True,
            content=content,
            extra={"forward_origin": origin, **self._send_extra(params)},
            **self._clone_fields(source),
        )
        return copy.deepcopy(msg.raw)

    # ------------------------------------------------------------------ methods: editing

    def _edit_target(self, params: dict[str, Any], method: str) -> tuple[ChatState, ChatMessage]:
        if "inline_message_id" in params:
            raise ApiError(
                400,
                "Bad Request: inline messages are not supported by the test double",
                violation=f"{method}: inline_message_id is not supported by the test double",
            )
        if "chat_id" not in params:
            raise ApiError(400, "Bad Request: chat_id is empty")
        if "message_id" not in params:
            raise ApiError(400, "Bad Request: message identifier is not specified")
        chat = self._writable_chat(params["chat_id"])
        msg = chat.messages.get(params["message_id"])
        if msg is None or msg.deleted:
            raise ApiError(400, "Bad Request: message to edit not found")
        if not msg.from_bot:
            raise ApiError(400, "Bad Request: message can't be edited")
        return chat, msg

    @staticmethod
    def _inline_of(msg: ChatMessage) -> dict[str, Any] | None:
        markup = msg.reply_markup
        return markup if markup is not None and "inline_keyboard" in markup else None

    def _apply_markup(self, msg: ChatMessage, markup: dict[str, Any] | None) -> None:
        if markup is None and self._inline_of(msg) is None:
            return
        msg.reply_markup = copy.deepcopy(markup)
        if markup is None:
            msg.raw.pop("reply_markup", None)
        else:
            msg.raw["reply_markup"] = copy.deepcopy(markup)

    def _mark_edited(self, msg: ChatMessage) -> None:
        msg.edit_count += 1
        msg.edit_date = self._now()
        msg.raw["edit_date"] = msg.edit_date

    async def _edit_message_text(self, params: dict[str, Any], request: web.Request) -> Any:
        _, msg = self._edit_target(params, "editMessageText")
        if msg.kind != "text":
            raise ApiError(400, "Bad Request: there is no text in the message to edit")
        if "text" not in params:
            raise ApiError(
                400,
                "Bad Request: message text is empty",
                violation="editMessageText: no text given",
            )
        text, entities = self._format(
            params["text"],
            params.get("parse_mode"),
            params.get("entities"),
            limit=TEXT_LIMIT,
            too_long="MESSAGE_TOO_LONG",
            empty="message text is empty",
        )
        markup = self._check_markup(params.get("reply_markup"), inline_only=True)
        if text == msg.text and entities == msg.entities and markup == self._inline_of(msg):
            raise ApiError(400, _NOT_MODIFIED)
        msg.history.append(msg.text)
        msg.text, msg.html, msg.entities = text, params["text"], entities
        msg.parse_mode = params.get("parse_mode")
        msg.raw.pop("entities", None)
        msg.raw.update(self._text_content(text, entities))
        self._apply_markup(msg, markup)
        self._mark_edited(msg)
        return copy.deepcopy(msg.raw)

    async def _edit_message_caption(self, params: dict[str, Any], request: web.Request) -> Any:
        _, msg = self._edit_target(params, "editMessageCaption")
        if msg.kind == "text":
            raise ApiError(400, "Bad Request: there is no caption in the message to edit")
        caption, entities = self._caption(params)
        markup = self._check_markup(params.get("reply_markup"), inline_only=True)
        if (
            caption == msg.caption
            and entities == (msg.entities if msg.caption else [])
            and markup == self._inline_of(msg)
        ):
            raise ApiError(400, _NOT_MODIFIED)
        msg.history.append(msg.caption)
        msg.caption, msg.caption_html, msg.entities = caption, params.get("caption"), entities
        msg.parse_mode = params.get("parse_mode")
        for key in ("caption", "caption_entities"):
            msg.raw.pop(key, None)
        msg.raw.update(self._caption_content(caption, entities))
        self._apply_markup(msg, markup)
        self._mark_edited(msg)
        return copy.deepcopy(msg.raw)

    async def _edit_message_reply_markup(self, params: dict[str, Any], request: web.Request) -> Any:
        _, msg = self._edit_target(params, "editMessageReplyMarkup")
        markup = self._check_markup(params.get("reply_markup"), inline_only=True)
        if markup == self._inline_of(msg):
            raise ApiError(400, _NOT_MODIFIED)
        self._apply_markup(msg, markup)
        self._mark_edited(msg)
        return copy.deepcopy(msg.raw)

    async def _delete_message(self, params: dict[str, Any], request: web.Request) -> Any:
        chat = self._known_chat(params["chat_id"])
        msg = chat.messages.get(params["message_id"])
        if msg is None or msg.deleted:
            raise ApiError(400, "Bad Request: message to delete not found")
        if chat.type != "private" and not msg.from_bot:
            raise ApiError(400, "Bad Request: message can't be deleted")
        msg.deleted = True
        return True

    # ------------------------------------------------------------------ methods: callbacks & files

    async def _answer_callback_query(self, params: dict[str, Any], request: web.Request) -> Any:
        query_id = params["callback_query_id"]
        issued = self._callbacks.get(query_id)
        if issued is None:
            raise ApiError(
                400,
                _QUERY_INVALID,
                violation=f"answerCallbackQuery: unknown callback_query_id {query_id!r}",
            )
        if issued.answered:
            raise ApiError(
                400,
                _QUERY_INVALID,
                violation=f"answerCallbackQuery: callback query {query_id!r} answered twice",
            )
        text = params.get("text")
        if text is not None and len(text) > CALLBACK_TEXT_LIMIT:
            raise ApiError(400, "Bad Request: MESSAGE_TOO_LONG")
        issued.answered = True
        self.callback_answers[query_id] = CallbackAnswer(
            text=text,
            show_alert=bool(params.get("show_alert", False)),
            url=params.get("url"),
            cache_time=params.get("cache_time"),
        )
        return True

    async def _get_file(self, params: dict[str, Any], request: web.Request) -> Any:
        stored = self.files.by_id.get(params["file_id"])
        if stored is None:
            raise ApiError(400, "Bad Request: invalid file_id")
        if len(stored.data) > MAX_DOWNLOAD:
            raise ApiError(400, "Bad Request: file is too big")
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": len(stored.data),
            "file_path": self.files.path_for(stored),
        }

    # ------------------------------------------------------------------ methods: commands & menu

    def _scope_key(self, params: dict[str, Any]) -> tuple[str, int | None, int | None, str]:
        scope = params.get("scope") or {"type": "default"}
        kind = scope.get("type")
        if kind not in (
            "default",
            "all_private_chats",
            "all_group_chats",
            "all_chat_administrators",
            "chat",
            "chat_administrators",
            "chat_member",
        ):
            raise ApiError(400, "Bad Request: wrong scope type specified")
        chat_id: int | None = None
        user_id: int | None = None
        if kind in ("chat", "chat_administrators", "chat_member"):
            chat_id = self._known_chat(scope.get("chat_id")).id
        if kind == "chat_member":
            user_id = scope.get("user_id")
            if not isinstance(user_id, int):
                raise ApiError(400, "Bad Request: user not found")
        language = params.get("language_code") or ""
        if language and not _LANG_RE.match(language):
            raise ApiError(400, "Bad Request: invalid language code specified")
        return str(kind), chat_id, user_id, language

    async def _set_my_commands(self, params: dict[str, Any], request: web.Request) -> Any:
        commands = params["commands"]
        if len(commands) > 100:
            raise ApiError(400, "Bad Request: too many commands specified")
        clean: list[dict[str, str]] = []
        for item in commands:
            if not isinstance(item, dict):
                raise ApiError(400, "Bad Request: can't parse BotCommand JSON object")
            command = item.get("command")
            description = item.get("description")
            if not isinstance(command, str) or not _COMMAND_RE.match(command):
                raise ApiError(400, "Bad Request: BOT_COMMAND_INVALID")
            if not isinstance(description, str) or not 1 <= len(description.strip()) <= 256:
                raise ApiError(400, "Bad Request: BOT_COMMAND_DESCRIPTION_INVALID")
            clean.append({"command": command, "description": description})
        key = self._scope_key(params)
        if clean:
            self._commands[key] = clean
        else:
            self._commands.pop(key, None)
        return True

    async def _get_my_commands(self, params: dict[str, Any], request: web.Request) -> Any:
        return [dict(c) for c in self._commands.get(self._scope_key(params), [])]

    async def _delete_my_commands(self, params: dict[str, Any], request: web.Request) -> Any:
        self._commands.pop(self._scope_key(params), None)
        return True

    async def _set_chat_menu_button(self, params: dict[str, Any], request: web.Request) -> Any:
        button = params.get("menu_button") or {"type": "default"}
        if button.get("type") not in ("commands", "web_app", "default"):
            raise ApiError(400, "Bad Request: unsupported menu button type")
        if "chat_id" in params:
            chat = self._known_chat(params["chat_id"])
            if chat.type != "private":
                raise ApiError(400, "Bad Request: menu button can be set only in private chats")
            chat.menu_button = dict(button)
        else:
            self._default_menu_button = dict(button)
        return True

    async def _get_chat_menu_button(self, params: dict[str, Any], request: web.Request) -> Any:
        if "chat_id" in params:
            self._known_chat(params["chat_id"])
        return self.menu_button(params.get("chat_id"))

    async def _get_chat(self, params: dict[str, Any], request: web.Request) -> Any:
        chat = self._known_chat(params["chat_id"])
        info = chat.to_json()
        info.update(
            accent_color_id=chat.id % 7,
            max_reaction_count=11,
            accepted_gift_types={
                "unlimited_gifts": True,
                "limited_gifts": True,
                "unique_gifts": True,
                "premium_subscription": True,
                "gifts_from_channels": True,
            },
        )
        return info

    def _set_bot_text(self, what: str) -> Handler:
        async def handler(params: dict[str, Any], request: web.Request) -> Any:
            """Store the text for a language ("" for all)."""
            value = params.get(what, "")
            language = params.get("language_code") or ""
            if value:
                self._bot_texts[(what, language)] = value
            else:
                self._bot_texts.pop((what, language), None)
            return True

        return handler

    def _get_bot_text(self, what: str) -> Handler:
        async def handler(params: dict[str, Any], request: web.Request) -> Any:
            """Return the text for a language, falling back to the default one."""
            language = params.get("language_code") or ""
            value = self._bot_texts.get((what, language), self._bot_texts.get((what, ""), ""))
            if what == "name" and not value:
                value = self.bot_first_name
            return {what: value}

        return handler

    # ------------------------------------------------------------------ user-side operations

    def _privacy_filtered(self, chat: ChatState, msg: ChatMessage) -> bool:
        """Return True if privacy mode hides this group message from the bot."""
        if not self.privacy_mode or chat.type == "private":
            return False
        text = msg.text if msg.text is not None else (msg.caption or "")
        for entity in msg.entities:
            if entity["type"] == "bot_command" and entity["offset"] == 0:
                command = text[: entity["length"]]
                target = command.partition("@")[2]
                if not target or target.lower() == self.bot_username.lower():
                    return False
        reply = msg.raw.get("reply_to_message")
        return not (reply and reply.get("from", {}).get("id") == self.bot_id)

    def user_message(
        self,
        user: SimUser,
        chat: ChatState,
        *,
        kind: str,
        content: dict[str, Any],
        reply_to: ChatMessage | None = None,
        **fields: Any,
    ) -> ChatMessage:
        """Store a message the user sent and enqueue its update (used by SimUser)."""
        if user.deactivated:
            raise AssertionError(f"{user.first_name}'s account is deactivated; it cannot send")
        if chat.type == "private":
            if user.blocked:
                # Telegram clients unblock the bot before they let the user write to it.
                user.unblock()
            user.started = True
        msg = self._add_message(
            chat,
            from_bot=False,
            sender=user,
            content=content,
            reply_to=reply_to,
            kind=kind,
            **fields,
        )
        if chat.reply_keyboard and chat.reply_keyboard.get("one_time_keyboard"):
            chat.reply_keyboard = None
        if not self._privacy_filtered(chat, msg):
            chat.delivered.add(msg.message_id)
            self._enqueue("message", copy.deepcopy(msg.raw))
        else:
            self._notify()
        return msg

    def user_edit(self, user: SimUser, chat: ChatState, msg: ChatMessage, text: str) -> None:
        """Edit a user's own text message and enqueue edited_message (used by SimUser)."""
        if msg.from_bot or msg.sender_id != user.id:
            raise AssertionError(f"message {msg.message_id} was not sent by {user.first_name}")
        if msg.kind != "text":
            raise AssertionError(f"message {msg.message_id} is not a text message")
        entities = detect_entities(text)
        msg.history.append(msg.text)
        msg.text, msg.html, msg.entities = text, text, entities
        msg.raw.pop("entities", None)
        msg.raw.update(self._text_content(text, entities))
        self._mark_edited(msg)
        if msg.message_id in chat.delivered:
            self._enqueue("edited_message", copy.deepcopy(msg.raw))
        else:
            self._notify()

    def channel_post(self, chat: ChatState, text: str) -> ChatMessage:
        """Store a channel post and enqueue channel_post (used by SimChannel)."""
        entities = detect_entities(text)
        msg = self._add_message(
            chat,
            from_bot=False,
            content=self._text_content(text, entities),
            kind="text",
            text=text,
            html=text,
            entities=entities,
        )
        self._enqueue("channel_post", copy.deepcopy(msg.raw))
        return msg

    def issue_callback(
        self, user: SimUser, chat: ChatState, msg: ChatMessage, data: str | None
    ) -> str:
        """Enqueue a callback_query for a tap on msg and return its id (used by SimUser)."""
        self._callback_seq += 1
        query_id = str(4_000_000_000_000_000_000 + self.bot_id * 1_000 + self._callback_seq)
        message: dict[str, Any]
        if msg.deleted:
            message = {"chat": chat.to_json(), "message_id": msg.message_id, "date": 0}
        else:
            message = copy.deepcopy(msg.raw)
        payload: dict[str, Any] = {
            "id": query_id,
            "from": user.user_json(),
            "message": message,
            "chat_instance": str(-(abs(chat.id) * 7919 + 1_234_567_891)),
        }
        if data is not None:
            payload["data"] = data
        self._callbacks[query_id] = _IssuedCallback(
            query_id, user.id, chat.id, msg.message_id, data
        )
        self._enqueue("callback_query", payload)
        return query_id

    def member_update(self, user: SimUser, old_status: str, new_status: str) -> None:
        """Enqueue my_chat_member for a block/unblock in a private chat (used by SimUser)."""
        chat = self._chats[user.id]

        def member(status: str) -> dict[str, Any]:
            """Build the bot's ChatMember object for a status."""
            out: dict[str, Any] = {"status": status, "user": self.bot_user_json()}
            if status == "kicked":
                out["until_date"] = 0
            return out

        self._enqueue(
            "my_chat_member",
            {
                "chat": chat.to_json(),
                "from": user.user_json(),
                "date": self._now(),
                "old_chat_member": member(old_status),
                "new_chat_member": member(new_status),
            },
        )

    def chat_state(self, chat_id: int) -> ChatState:
        """Return the internal state of a chat (used by the actors)."""
        return self._chats[chat_id]


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


def _connected(request: web.Request) -> bool:
    transport = request.transport
    return transport is not None and not transport.is_closing()


def _json_response(status: int, body: dict[str, Any]) -> web.Response:
    return web.Response(
        status=status,
        body=json.dumps(body, ensure_ascii=False).encode("utf-8"),
        content_type="application/json",
    )


def _normalize_keyboard_strings(value: Any) -> Any:
    """Turn plain-string reply keyboard buttons into objects for the spec check."""
    if isinstance(value, dict) and isinstance(value.get("keyboard"), list):
        rows = [
            [{"text": b} if isinstance(b, str) else b for b in row]
            if isinstance(row, list)
            else row
            for row in value["keyboard"]
        ]
        return {**value, "keyboard": rows}
    return value
