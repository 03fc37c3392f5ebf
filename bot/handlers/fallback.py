"""Everything no feature claimed: typed text, media, edits, groups, old buttons, errors."""

from __future__ import annotations

import logging
from typing import Any

from telegram import Update
from telegram.error import Forbidden, NetworkError, RetryAfter
from telegram.ext import Application, CallbackQueryHandler, MessageHandler, filters

from bot.context import BotContext
from bot.flows import router
from bot.flows.common import make_ctx
from bot.flows.events import Notice
from bot.handlers.common import actor_of, reply

log = logging.getLogger(__name__)
PRIVATE = filters.ChatType.PRIVATE


async def _text(update: Update, context: BotContext) -> None:
    actor = actor_of(update)
    message = update.effective_message
    if actor is None or message is None or message.text is None:
        return
    await reply(update, context, await router.text(context.services, actor, message.text))


async def _unknown_command(update: Update, context: BotContext) -> None:
    actor = actor_of(update)
    if actor is None:
        return
    await reply(update, context, await router.unknown_command(context.services, actor))


async def _media(update: Update, context: BotContext) -> None:
    actor = actor_of(update)
    if actor is None:
        return
    await reply(update, context, await router.media(context.services, actor))


async def _edited(update: Update, context: BotContext) -> None:
    actor = actor_of(update)
    if actor is None:
        return
    await reply(update, context, await router.edited(context.services, actor))


async def _group(update: Update, context: BotContext) -> None:
    actor = actor_of(update)
    if actor is None:
        return
    await reply(update, context, await router.group(context.services, actor))


async def _stale_button(update: Update, context: BotContext) -> None:
    actor = actor_of(update)
    if actor is None or update.callback_query is None:
        if update.callback_query is not None:
            await update.callback_query.answer()
        return
    ctx = await make_ctx(context.services, actor)
    await reply(update, context, [Notice(ctx.tr.t("notice.stale"))])


async def on_error(update: object, context: BotContext) -> None:
    """Log an unhandled error with its context and tell the person, politely."""
    error = context.error
    if isinstance(error, (Forbidden, RetryAfter, NetworkError)) and not isinstance(update, Update):
        log.warning("Bot API error outside an update: %s", type(error).__name__)
        return
    if isinstance(update, Update):
        user = update.effective_user
        chat = update.effective_chat
        log.error(
            "error handling update %s (user %s, chat %s): %s",
            update.update_id,
            user.id if user else None,
            chat.id if chat else None,
            type(error).__name__,
            exc_info=error,
        )
        actor = actor_of(update)
        if actor is None or chat is None or chat.type != chat.PRIVATE:
            return
        try:
            if update.callback_query is not None:
                await update.callback_query.answer()
        except Exception:  # the query may be too old; the message below still helps
            log.debug("could not answer callback after error", exc_info=True)
        try:
            events = await router.error(context.services, actor)
            await reply(update, context, events)
        except Exception:
            log.exception("could not tell user %s about an error", actor.telegram_id)
    else:
        log.error("error outside an update: %s", type(error).__name__, exc_info=error)


def register(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    """Add the catch-all handlers, after every feature's."""
    message = filters.UpdateType.MESSAGE
    app.add_handler(MessageHandler(PRIVATE & message & filters.COMMAND, _unknown_command))
    app.add_handler(MessageHandler(PRIVATE & message & filters.TEXT, _text))
    app.add_handler(MessageHandler(PRIVATE & filters.UpdateType.EDITED_MESSAGE, _edited))
    app.add_handler(MessageHandler(PRIVATE & message & ~filters.StatusUpdate.ALL, _media))
    app.add_handler(MessageHandler(filters.ChatType.GROUPS & message & filters.COMMAND, _group))
    app.add_handler(CallbackQueryHandler(_stale_button))
    app.add_error_handler(on_error)
