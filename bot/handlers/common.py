"""Turning updates into flow input, and flow events into Bot API calls."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

from telegram import (
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
from telegram.error import BadRequest, Forbidden
from telegram.ext import CallbackQueryHandler, CommandHandler, filters

from bot.context import BotContext
from bot.flows.callbacks import CODEC_VERSION, Callback, Kind, unpack
from bot.flows.common import Actor, Ctx, make_ctx
from bot.flows.events import (
    Edit,
    Event,
    Keyboard,
    Notice,
    Send,
    SendDocument,
    SendPhoto,
    SetCommands,
)
from bot.i18n import I18n

log = logging.getLogger(__name__)
NO_PREVIEW = LinkPreviewOptions(is_disabled=True)
COMMAND_NAMES = ("start", "menu", "dgca", "language", "help", "privacy", "mydata", "forget")


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


def bot_commands(i18n: I18n, lang: str) -> list[BotCommand]:
    """Return the command menu in `lang`."""
    tr = i18n(lang)
    return [BotCommand(name, tr.t(f"command.{name}")) for name in COMMAND_NAMES]


async def render(
    context: BotContext,
    chat_id: int,
    events: Sequence[Event],
    query: CallbackQuery | None = None,
) -> None:
    """Carry out a flow's events in order; a tapped button is always answered once."""
    answered = query is None
    bot = context.bot
    for event in events:
        if isinstance(event, Notice):
            if not answered and query is not None:
                await answer_query(query, event.text, alert=event.alert)
                answered = True
            continue
        if not answered and query is not None:
            # Answer before slow work so the phone stops its spinner.
            await answer_query(query)
            answered = True
        if isinstance(event, Send):
            await bot.send_message(
                chat_id,
                event.text,
                parse_mode=ParseMode.HTML,
                reply_markup=markup(event.buttons),
                link_preview_options=NO_PREVIEW,
            )
        elif isinstance(event, Edit):
            await _edit(context, chat_id, event)
        elif isinstance(event, SendPhoto):
            await bot.send_chat_action(chat_id, ChatAction.UPLOAD_PHOTO)
            png = await asyncio.to_thread(event.render)
            await bot.send_photo(
                chat_id,
                png,
                caption=event.caption,
                parse_mode=ParseMode.HTML,
                reply_markup=markup(event.buttons),
            )
        elif isinstance(event, SendDocument):
            await bot.send_chat_action(chat_id, ChatAction.UPLOAD_DOCUMENT)
            data = await asyncio.to_thread(event.build)
            await bot.send_document(
                chat_id,
                InputFile(data, filename=event.filename),
                caption=event.caption or None,
                parse_mode=ParseMode.HTML,
            )
        elif isinstance(event, SetCommands):
            await bot.set_my_commands(
                bot_commands(context.services.i18n, event.lang),
                scope=BotCommandScopeChat(chat_id),
            )
    if not answered and query is not None:
        await answer_query(query)


async def answer_query(
    query: CallbackQuery, text: str | None = None, *, alert: bool = False
) -> None:
    """Answer a tapped button; a query Telegram no longer accepts is not an error."""
    try:
        await query.answer(text, show_alert=alert)
    except BadRequest as exc:
        # After a restart, an update may come again whose query was already answered or
        # has expired; the person still gets the rest of the reply.
        log.info("callback query %s not answered: %s", query.id, exc.message)


async def _edit(context: BotContext, chat_id: int, event: Edit) -> None:
    try:
        await context.bot.edit_message_text(
            event.text,
            chat_id=chat_id,
            message_id=event.message_id,
            parse_mode=ParseMode.HTML,
            reply_markup=markup(event.buttons),
            link_preview_options=NO_PREVIEW,
        )
    except BadRequest as exc:
        message = exc.message.lower()
        if "not modified" in message:
            return
        if "not found" in message or "can't be edited" in message or "no text" in message:
            # The message is gone or too old to edit: say it again instead.
            await context.bot.send_message(
                chat_id,
                event.text,
                parse_mode=ParseMode.HTML,
                reply_markup=markup(event.buttons),
                link_preview_options=NO_PREVIEW,
            )
            return
        raise


async def reply(update: Update, context: BotContext, events: Sequence[Event]) -> None:
    """Render events into the chat the update came from."""
    chat = update.effective_chat
    if chat is None:
        return
    try:
        await render(context, chat.id, events, update.callback_query)
    except Forbidden:
        # The person blocked the bot between their message and our answer.
        log.info("chat %s is unreachable (blocked or deactivated)", chat.id)


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
        ctx = await make_ctx(context.services, actor)
        cb = unpack(query.data)
        if cb is None:
            events: list[Event] = [Notice(ctx.tr.t("notice.stale"))]
        else:
            events = await flow(ctx, cb, query.message.message_id)
        await reply(update, context, events)

    return CallbackQueryHandler(handle, pattern=callback_pattern(kinds))


def command_handler(names: str | Sequence[str], flow: FlowCommand) -> CommandHandler[Any, Any]:
    """Build a handler that runs `flow` for a command in a private chat."""

    async def handle(update: Update, context: BotContext) -> None:
        actor = actor_of(update)
        if actor is None:
            return
        ctx = await make_ctx(context.services, actor)
        events = await flow(ctx, " ".join(context.args or []))
        await reply(update, context, events)

    return CommandHandler(
        names, handle, filters=filters.ChatType.PRIVATE & filters.UpdateType.MESSAGE
    )
