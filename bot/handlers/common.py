"""Turning updates into flow input, and flow events into Bot API calls."""

from __future__ import annotations

import asyncio
import gc
import logging
import re
import warnings
from collections.abc import Awaitable, Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from telegram import (
    Bot,
    BotCommand,
    BotCommandScopeChat,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputFile,
    LinkPreviewOptions,
    Update,
)
from telegram.constants import ChatAction, ParseMode
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError
from telegram.ext import CallbackQueryHandler, CommandHandler, filters

from bot.context import BotContext
from bot.flows import router as fallback_flows
from bot.flows.callbacks import CODEC_VERSION, Callback, Kind, unpack
from bot.flows.common import Actor, Ctx, make_ctx
from bot.flows.events import (
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


def actor_of(update: Update) -> Actor | None:
    """Describe the person behind an update, or None for channel posts and the like."""
    user = update.effective_user
    if user is None or user.is_bot:
        return None
    return Actor(
        telegram_id=user.id,
        first_name=user.first_name,
        last_name=user.last_name,
        language_code=user.language_code,
    )


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


def bot_commands(
    i18n: I18n, lang: str, *, organizer: bool = False, viewer: bool = False
) -> list[BotCommand]:
    """Return the command menu in `lang` (with the tools of organizers and viewers)."""
    tr = i18n(lang)
    names: tuple[str, ...] = COMMAND_NAMES
    if organizer:
        names += ORGANIZER_COMMANDS
    elif viewer:
        names += VIEWER_COMMANDS
    return [BotCommand(name, tr.plain(f"command.{name}")) for name in names]


MAX_RETRIES = 3
ANSWER_ATTEMPTS = 2
ANSWER_RETRY_SECONDS = 0.5


def retry_seconds(exc: RetryAfter) -> float:
    """Return how long Telegram asked us to wait, in seconds."""
    with warnings.catch_warnings():
        # PTB 22 warns that retry_after will become a timedelta; both forms are handled here.
        warnings.simplefilter("ignore")
        value = exc.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


async def with_retry(call: Callable[[], Awaitable[T]]) -> T:
    """Make a Bot API call, waiting out flood control (429) a few times."""
    for attempt in range(MAX_RETRIES + 1):
        try:
            return await call()
        except RetryAfter as exc:
            if attempt == MAX_RETRIES:
                raise
            delay = retry_seconds(exc)
            log.warning("flood control: waiting %.0f s before retrying", delay)
            await asyncio.sleep(delay)
    raise AssertionError("unreachable")


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
        bot, chat_id = self.bot, self.chat_id
        for event in events:
            if isinstance(event, Notice):
                self._answer_soon(event.text, event.alert)
                continue
            self._answer_soon()
            if isinstance(event, Send):
                await self._send(event.text, event.buttons)
            elif isinstance(event, Edit):
                await self._edit(event)
            elif isinstance(event, SendPhoto):
                await with_retry(lambda: bot.send_chat_action(chat_id, ChatAction.UPLOAD_PHOTO))
                png = await asyncio.get_running_loop().run_in_executor(
                    self._charts, self._draw, event.render
                )
                await with_retry(
                    lambda e=event, p=png: bot.send_photo(  # type: ignore[misc]
                        chat_id,
                        p,
                        caption=e.caption,
                        parse_mode=ParseMode.HTML,
                        reply_markup=markup(e.buttons),
                    )
                )
            elif isinstance(event, SendDocument):
                await with_retry(lambda: bot.send_chat_action(chat_id, ChatAction.UPLOAD_DOCUMENT))
                data = await self.services.build(
                    event.build, separate_process=event.separate_process
                )
                await with_retry(
                    lambda e=event, d=data: bot.send_document(  # type: ignore[misc]
                        chat_id,
                        InputFile(d, filename=e.filename),
                        caption=e.caption or None,
                        parse_mode=ParseMode.HTML,
                    )
                )
            elif isinstance(event, SendMedia):
                send = bot.send_photo if event.kind == "photo" else bot.send_document
                await with_retry(
                    lambda e=event, s=send: s(  # type: ignore[misc]
                        chat_id,
                        e.file_id,
                        caption=e.caption or None,
                        parse_mode=ParseMode.HTML,
                        reply_markup=markup(e.buttons),
                    )
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
                    self.services.i18n, event.lang, organizer=event.organizer, viewer=event.viewer
                )
                await with_retry(
                    lambda c=commands: bot.set_my_commands(  # type: ignore[misc]
                        c, scope=BotCommandScopeChat(chat_id)
                    )
                )
        self._answer_soon()

    @staticmethod
    def _draw(render: Callable[[], bytes]) -> bytes:
        png = render()
        # A drawn figure is garbage held only by its own reference cycles, with megabytes of
        # pixel buffers: free it now rather than whenever the collector next gets to it.
        gc.collect()
        return png

    async def _send(self, text: str, buttons: Keyboard | None) -> None:
        await with_retry(
            lambda: self.bot.send_message(
                self.chat_id,
                text,
                parse_mode=ParseMode.HTML,
                reply_markup=markup(buttons),
                link_preview_options=NO_PREVIEW,
            )
        )

    async def _edit(self, event: Edit) -> None:
        try:
            await with_retry(
                lambda: self.bot.edit_message_text(
                    event.text,
                    chat_id=self.chat_id,
                    message_id=event.message_id,
                    parse_mode=ParseMode.HTML,
                    reply_markup=markup(event.buttons),
                    link_preview_options=NO_PREVIEW,
                )
            )
        except BadRequest as exc:
            message = exc.message.lower()
            if "not modified" in message:
                return
            if "not found" in message or "can't be edited" in message or "no text" in message:
                # The message is gone or cannot be edited: say it again instead.
                await self._send(event.text, event.buttons)
                return
            raise


Producer = Callable[[], Awaitable[Sequence[Event]]]


async def respond(update: Update, context: BotContext, produce: Producer) -> None:
    """Run a flow and render its events; on any failure, log and apologise once."""
    chat = update.effective_chat
    if chat is None:
        return
    responder = Responder(
        context.bot, context.services, chat.id, update.callback_query, context.bot_data.delivery
    )
    try:
        await responder.render(await produce())
    except Forbidden:
        # The person blocked the bot between their message and our answer.
        log.info("chat %s is unreachable (blocked or deactivated)", chat.id)
    except Exception as exc:
        # Telegram slow or unreachable (a timeout, a gateway error) is not a bug: no
        # traceback. The person gets an apology either way.
        network = isinstance(exc, NetworkError)
        user = update.effective_user
        log.log(
            logging.WARNING if network else logging.ERROR,
            "error handling update %s (user %s, chat %s): %s%s",
            update.update_id,
            user.id if user else None,
            chat.id,
            type(exc).__name__,
            " from the Bot API" if network else "",
            exc_info=None if network else exc,
        )
        await _apologise(update, context, responder)


async def _apologise(update: Update, context: BotContext, responder: Responder) -> None:
    actor = actor_of(update)
    try:
        await responder.answer()
        if (
            actor is not None
            and update.effective_chat is not None
            and (update.effective_chat.type == update.effective_chat.PRIVATE)
        ):
            await responder.render(await fallback_flows.error(context.services, actor))
    except Exception as exc:  # nothing more can be done for this update
        log.warning("could not tell chat %s about an error: %s", responder.chat_id, exc)


async def reply(update: Update, context: BotContext, events: Sequence[Event]) -> None:
    """Render ready-made events into the chat the update came from."""

    async def ready() -> Sequence[Event]:
        return events

    await respond(update, context, ready)


FlowCallback = Callable[[Ctx, Callback, int], Awaitable[list[Event]]]
FlowCommand = Callable[[Ctx, str], Awaitable[list[Event]]]


def callback_pattern(kinds: Iterable[Kind]) -> re.Pattern[str]:
    """Match the callback data of the given button kinds."""
    alternatives = "|".join(sorted(re.escape(k.value) for k in kinds))
    return re.compile(rf"^{CODEC_VERSION}(?:{alternatives})(?::|$)")


def callback_handler(flow: FlowCallback, kinds: Iterable[Kind]) -> CallbackQueryHandler[Any, Any]:
    """Build a handler that passes taps on `kinds` buttons to `flow`."""

    async def handle(update: Update, context: BotContext) -> None:
        query = update.callback_query
        actor = actor_of(update)
        if query is None or actor is None or query.message is None:
            if query is not None:
                await query.answer()
            return
        message_id = query.message.message_id
        chat_id = query.message.chat.id

        async def produce() -> list[Event]:
            ctx = await make_ctx(context.services, actor, chat_id=chat_id)
            cb = unpack(query.data)
            if cb is None:
                return [Notice(ctx.tr.t("notice.stale"))]
            return await flow(ctx, cb, message_id)

        await respond(update, context, produce)

    return CallbackQueryHandler(handle, pattern=callback_pattern(kinds))


def command_handler(
    names: str | Sequence[str], flow: FlowCommand, *, groups: bool = False
) -> CommandHandler[Any, Any]:
    """Build a handler that runs `flow` for a command in a private chat (or in groups)."""

    async def handle(update: Update, context: BotContext) -> None:
        actor = actor_of(update)
        if actor is None:
            return
        args = " ".join(context.args or [])
        chat_id = update.effective_chat.id if update.effective_chat else None

        async def produce() -> list[Event]:
            ctx = await make_ctx(context.services, actor, chat_id=chat_id)
            return await flow(ctx, args)

        await respond(update, context, produce)

    chats = filters.ChatType.GROUPS if groups else filters.ChatType.PRIVATE
    return CommandHandler(names, handle, filters=chats & filters.UpdateType.MESSAGE)
