"""Telegram output: the one place where flow events and keyboards become Bot API calls."""

from __future__ import annotations

import asyncio
import gc
import logging
import warnings
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import TYPE_CHECKING, ClassVar, TypeVar

import httpx
from telegram import (
    Bot,
    BotCommand,
    BotCommandScopeChat,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputFile,
    LinkPreviewOptions,
    Message,
)
from telegram.constants import ChatAction, ParseMode
from telegram.error import BadRequest, NetworkError, RetryAfter, TelegramError, TimedOut

from bot.flows.events import (
    Button,
    Deliver,
    Edit,
    Event,
    Keyboard,
    Notice,
    Rearm,
    Send,
    SendDocument,
    SendMedia,
    SendPhoto,
    SetCommands,
)
from bot.i18n import I18n
from bot.services import Services

if TYPE_CHECKING:
    from bot.delivery import Delivery

log = logging.getLogger(__name__)
T = TypeVar("T")
NO_PREVIEW = LinkPreviewOptions(is_disabled=True)
MAX_RETRIES = 3
# Waits before trying again a call that certainly did not get through (Telegram down for a
# few seconds, a 502): about 8 s in all, within what a person waits for a reply.
FAILURE_BACKOFF = (0.5, 1.0, 2.0, 4.0)
ANSWER_ATTEMPTS = 2
ANSWER_RETRY_SECONDS = 0.5
COMMAND_NAMES = (
    "start",
    "menu",
    "dgca",
    "agenda",
    "next",
    "reminders",
    "evaluation",
    "plan",
    "language",
    "help",
    "privacy",
    "mydata",
    "forget",
)
ORGANIZER_COMMANDS = ("broadcast", "invite", "report", "openeval", "progress", "viewer")
VIEWER_COMMANDS = ("progress",)
ADMIN_COMMANDS = ("organizers",)
# Charts of one reply drawn in the worker processes before their turn to be sent: enough to
# keep two workers busy while the bot sends the one before (an upload takes a round trip or
# more), few enough that the PNGs waiting in the bot's process stay small (about 170 kB each).
DRAW_AHEAD = 3


def bot_commands(
    i18n: I18n, lang: str, *, organizer: bool = False, viewer: bool = False, admin: bool = False
) -> list[BotCommand]:
    """Return the command menu in `lang` (with the tools of organizers, viewers, admins)."""
    tr = i18n(lang)
    names: tuple[str, ...] = COMMAND_NAMES
    if organizer or admin:
        names += ORGANIZER_COMMANDS
    elif viewer:
        names += VIEWER_COMMANDS
    if admin:
        names += ADMIN_COMMANDS
    return [BotCommand(name, tr.plain(f"command.{name}")) for name in names]


def markup(buttons: Keyboard | None) -> InlineKeyboardMarkup | None:
    """Build Telegram's inline keyboard from flow buttons."""
    if not buttons:
        return None
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(b.text, url=b.url)
                if b.url
                else InlineKeyboardButton(b.text, callback_data=b.data)
                for b in row
            ]
            for row in buttons
        ]
    )


def stored_keyboard(rows: list[list[dict[str, str]]] | None) -> Keyboard | None:
    """Turn the buttons an outbox row stores as JSON back into flow buttons."""
    if rows is None:
        return None
    return [
        [
            Button(b["text"], url=b["url"])
            if b.get("url")
            else Button(b["text"], b["callback_data"])
            for b in row
        ]
        for row in rows
    ]


def retry_seconds(exc: RetryAfter) -> float:
    """Return how long Telegram asked us to wait, in seconds."""
    with warnings.catch_warnings():
        # PTB 22 warns that retry_after will become a timedelta; both forms are handled here.
        warnings.simplefilter("ignore")
        value = exc.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def not_delivered(exc: NetworkError) -> bool:
    """Tell whether a network error certainly means Telegram did not get the request.

    True when no connection was made (refused, connect timeout, no free connection in the
    pool) or Telegram answered with an error (a 5xx). False when the request may have been
    written before the failure (a read timeout, a dropped connection): then Telegram may
    well have acted on it, and sending again would repeat it.
    """
    cause = exc.__cause__
    if isinstance(cause, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout):
        return True
    if isinstance(exc, TimedOut):
        return False
    # No transport error behind it: Telegram answered, with a 5xx or an unreadable page.
    return cause is None or isinstance(cause, TelegramError)


async def with_retry(call: Callable[[], Awaitable[T]]) -> T:
    """Make a Bot API call, waiting out flood control (429) and failures certainly not done.

    A call whose outcome is unknown (it timed out after being sent) is never repeated.
    """
    floods = failures = 0
    while True:
        try:
            return await call()
        except RetryAfter as exc:
            floods += 1
            if floods > MAX_RETRIES:
                raise
            delay = retry_seconds(exc)
            log.warning("flood control: waiting %.0f s before retrying", delay)
            await asyncio.sleep(delay)
        except BadRequest:
            # Telegram's definite no (PTB makes it a NetworkError): asking again changes nothing.
            raise
        except NetworkError as exc:
            failures += 1
            if failures > len(FAILURE_BACKOFF) or not not_delivered(exc):
                raise
            delay = FAILURE_BACKOFF[failures - 1]
            log.warning("Bot API call failed (%s): trying again in %.1f s", exc, delay)
            await asyncio.sleep(delay)


async def _call(call: Callable[[], Awaitable[T]], retry: bool) -> T:
    # The outbox sender waits out flood control itself, pausing all sending, so it asks
    # for no retry here.
    return await (with_retry(call) if retry else call())


def _previews(previews: bool) -> LinkPreviewOptions | None:
    # None leaves the option out of the request (PTB drops it): Telegram's default, previews.
    return None if previews else NO_PREVIEW


def _not_modified(exc: BadRequest) -> bool:
    return "not modified" in exc.message.lower()


async def send_text(
    bot: Bot,
    chat_id: int,
    text: str,
    buttons: Keyboard | None = None,
    *,
    retry: bool = True,
    previews: bool = False,
    silent: bool = False,
) -> None:
    """Send an HTML message with optional buttons; link previews off unless asked for."""
    await _send_message(bot, chat_id, text, buttons, retry, previews, silent)


async def post_text(
    bot: Bot,
    chat_id: int,
    text: str,
    buttons: Keyboard | None = None,
    *,
    retry: bool = True,
    previews: bool = False,
    silent: bool = False,
) -> int:
    """Send an HTML message as send_text does; return its id, to edit it later."""
    sent = await _send_message(bot, chat_id, text, buttons, retry, previews, silent)
    return sent.message_id


async def _send_message(
    bot: Bot,
    chat_id: int,
    text: str,
    buttons: Keyboard | None,
    retry: bool,
    previews: bool,
    silent: bool,
) -> Message:
    return await _call(
        lambda: bot.send_message(
            chat_id,
            text,
            parse_mode=ParseMode.HTML,
            reply_markup=markup(buttons),
            link_preview_options=_previews(previews),
            # None leaves the option out of the request: Telegram's default, a notification.
            disable_notification=True if silent else None,
        ),
        retry,
    )


async def edit_text(
    bot: Bot,
    chat_id: int,
    message_id: int,
    text: str,
    buttons: Keyboard | None = None,
    *,
    retry: bool = True,
    previews: bool = False,
    resend: bool = True,
) -> None:
    """Replace a message's text and buttons; "not modified" is fine, a vanished one is resent."""
    try:
        await _call(
            lambda: bot.edit_message_text(
                text,
                chat_id=chat_id,
                message_id=message_id,
                parse_mode=ParseMode.HTML,
                reply_markup=markup(buttons),
                link_preview_options=_previews(previews),
            ),
            retry,
        )
    except BadRequest as exc:
        if _not_modified(exc):
            return
        message = exc.message.lower()
        vanished = "not found" in message or "can't be edited" in message or "no text" in message
        if vanished:
            if resend:
                # The message is gone or cannot be edited: say it again instead.
                await send_text(bot, chat_id, text, buttons, retry=retry, previews=previews)
            return
        raise


async def clear_buttons(bot: Bot, chat_id: int, message_id: int) -> None:
    """Remove a message's buttons; a message that has none is fine."""
    try:
        await bot.edit_message_reply_markup(chat_id, message_id)
    except BadRequest as exc:
        if not _not_modified(exc):
            raise


async def send_file(
    bot: Bot,
    chat_id: int,
    kind: str,
    file: bytes | str | InputFile,
    caption: str | None,
    buttons: Keyboard | None = None,
    *,
    retry: bool = True,
) -> None:
    """Send a photo (`kind` "photo") or else a document, with an HTML caption and buttons."""
    send = bot.send_photo if kind == "photo" else bot.send_document
    await _call(
        lambda: send(
            chat_id,
            file,
            caption=caption,
            parse_mode=ParseMode.HTML,
            reply_markup=markup(buttons),
        ),
        retry,
    )


async def set_commands(bot: Bot, chat_id: int, commands: list[BotCommand]) -> None:
    """Show one chat its own command menu."""
    await with_retry(lambda: bot.set_my_commands(commands, scope=BotCommandScopeChat(chat_id)))


class DrawAhead:
    """Draw the worker-process charts of a reply ahead of their turn, a few at a time.

    The charts are drawn in the worker processes, side by side when there are several, while
    the reply goes on in order: `png(i)` hands back event `i`'s chart when its turn comes and
    starts the next one waiting.
    """

    def __init__(
        self, services: Services, events: Sequence[Event], ahead: int = DRAW_AHEAD
    ) -> None:
        self._services = services
        self._ahead = ahead
        self._waiting = deque(
            (i, event.render)
            for i, event in enumerate(events)
            if isinstance(event, SendPhoto) and event.separate_process
        )
        if services.process_pool is None:
            self._waiting.clear()
        self._drawing: dict[int, asyncio.Future[bytes]] = {}

    def start(self) -> None:
        """Start drawing waiting charts until `ahead` are being drawn or done and unclaimed."""
        while self._waiting and len(self._drawing) < self._ahead:
            index, render = self._waiting.popleft()
            self._drawing[index] = asyncio.ensure_future(
                self._services.build(render, separate_process=True)
            )

    async def png(self, index: int) -> bytes | None:
        """Return event `index`'s chart (None: it is not drawn here) once drawn."""
        self.start()
        drawing = self._drawing.pop(index, None)
        if drawing is None:
            return None
        # Its place is free: the next chart starts while this one is still being drawn.
        self.start()
        return await drawing

    def cancel(self) -> None:
        """Stop the charts not handed out: the reply failed or was cancelled before them."""
        self._waiting.clear()
        for drawing in self._drawing.values():
            if drawing.done() and not drawing.cancelled():
                # Retrieved, so that asyncio does not log a failure nobody waited for.
                drawing.exception()
            else:
                drawing.cancel()
        self._drawing.clear()


class Responder:
    """Carries flow events into one chat; a tapped button is answered exactly once."""

    # Charts are drawn one at a time, on a thread of their own: drawn side by side on the
    # default pool's threads they kept about 100 MB more alive (benchmarks/memory.py).
    _charts: ClassVar[ThreadPoolExecutor] = ThreadPoolExecutor(1, thread_name_prefix="chart")

    def __init__(
        self,
        bot: Bot,
        services: Services,
        chat_id: int,
        query: CallbackQuery | None = None,
        delivery: Delivery | None = None,
    ) -> None:
        self.bot = bot
        self.services = services
        self.chat_id = chat_id
        self.query = query
        self.delivery = delivery
        self.answered = query is None
        self._answering: asyncio.Future[None] | None = None

    async def answer(self, text: str | None = None, *, alert: bool = False) -> None:
        """Answer the tapped button, once; a query Telegram no longer accepts is fine."""
        self._answer_soon(text, alert)
        await self._answered()

    def _answer_soon(self, text: str | None = None, alert: bool = False) -> None:
        # The answer goes out beside the rest of the reply rather than before it: on a
        # slow connection the next question then arrives one round trip sooner.
        if self.answered or self.query is None:
            return
        self.answered = True
        self._answering = asyncio.ensure_future(self._answer(self.query, text, alert))

    @staticmethod
    async def _answer(query: CallbackQuery, text: str | None, alert: bool) -> None:
        for attempt in range(ANSWER_ATTEMPTS):
            try:
                await with_retry(lambda: query.answer(text, show_alert=alert))
                return
            except BadRequest as exc:
                # After a restart an update may come again whose query has expired (or a
                # timed-out first try did arrive); the person still gets the reply.
                log.info("callback query %s not answered: %s", query.id, exc.message)
                return
            except NetworkError as exc:
                # A gateway error or a timeout: the button's spinner turns until answered.
                if attempt + 1 < ANSWER_ATTEMPTS:
                    log.info("callback query %s: %s, answering again", query.id, exc.message)
                    await asyncio.sleep(ANSWER_RETRY_SECONDS)
                    continue
                failure: TelegramError = exc
            except TelegramError as exc:
                failure = exc
            # The reply itself may well have gone through: a lost answer only leaves the
            # spinner turning, not worth an apology.
            log.warning("callback query %s not answered: %s", query.id, type(failure).__name__)
            return

    async def _answered(self) -> None:
        answering, self._answering = self._answering, None
        if answering is not None:
            await answering

    async def render(self, events: Sequence[Event]) -> None:
        """Carry out events in order; the button is answered at once, beside them."""
        try:
            await self._render(events)
        except BaseException as exc:
            answering, self._answering = self._answering, None
            if answering is not None and isinstance(exc, asyncio.CancelledError):
                answering.cancel()
            elif answering is not None:
                # The reply's own error is the one to report; the answer still finishes.
                try:
                    await asyncio.wait({answering})
                except asyncio.CancelledError:
                    answering.cancel()
                    raise
                if not answering.cancelled():
                    answering.exception()
            raise
        await self._answered()

    async def _render(self, events: Sequence[Event]) -> None:
        ahead = DrawAhead(self.services, events)
        ahead.start()
        try:
            await self._render_in_order(events, ahead)
        finally:
            ahead.cancel()

    async def _render_in_order(self, events: Sequence[Event], ahead: DrawAhead) -> None:
        bot, chat_id = self.bot, self.chat_id
        for index, event in enumerate(events):
            if isinstance(event, Notice):
                self._answer_soon(event.text, event.alert)
                continue
            self._answer_soon()
            if isinstance(event, Send):
                await send_text(bot, chat_id, event.text, event.buttons)
            elif isinstance(event, Edit):
                await edit_text(
                    bot, chat_id, event.message_id, event.text, event.buttons, resend=event.resend
                )
            elif isinstance(event, SendPhoto):
                await with_retry(lambda: bot.send_chat_action(chat_id, ChatAction.UPLOAD_PHOTO))
                png = await ahead.png(index)
                if png is None:
                    png = await asyncio.get_running_loop().run_in_executor(
                        self._charts, self._draw, event.render
                    )
                await send_file(bot, chat_id, "photo", png, event.caption, event.buttons)
            elif isinstance(event, SendDocument):
                await with_retry(lambda: bot.send_chat_action(chat_id, ChatAction.UPLOAD_DOCUMENT))
                data = await self.services.build(
                    event.build, separate_process=event.separate_process
                )
                document = InputFile(data, filename=event.filename)
                await send_file(bot, chat_id, "document", document, event.caption or None)
            elif isinstance(event, SendMedia):
                await send_file(
                    bot, chat_id, event.kind, event.file_id, event.caption or None, event.buttons
                )
            elif isinstance(event, Deliver):
                if self.delivery is not None:
                    self.delivery.sender.wake()
            elif isinstance(event, Rearm):
                if self.delivery is not None:
                    await self.delivery.runner.arm()
                    await self.delivery.runner.tick()
            elif isinstance(event, SetCommands):
                commands = bot_commands(
                    self.services.i18n,
                    event.lang,
                    organizer=event.organizer,
                    viewer=event.viewer,
                    admin=event.admin,
                )
                await set_commands(bot, chat_id, commands)
        self._answer_soon()

    @staticmethod
    def _draw(render: Callable[[], bytes]) -> bytes:
        png = render()
        # A drawn figure is garbage held only by its own reference cycles, with megabytes of
        # pixel buffers: free it now rather than whenever the collector next gets to it.
        gc.collect()
        return png
