"""Everything no feature claimed: typed text, media, edits, groups, old buttons, errors."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any

from telegram import Update
from telegram.ext import Application, CallbackQueryHandler, MessageHandler, filters

from bot.context import BotContext
from bot.flows import router
from bot.flows.common import Actor, make_ctx
from bot.flows.events import Event, Notice
from bot.handlers.common import actor_of, respond
from bot.services import Services

log = logging.getLogger(__name__)
PRIVATE = filters.ChatType.PRIVATE

ActorFlow = Callable[[Services, Actor], Awaitable[Sequence[Event]]]


def _actor_handler(flow: ActorFlow) -> Callable[[Update, BotContext], Coroutine[Any, Any, None]]:
    """Wrap a flow that needs only the person into a PTB callback."""

    async def handle(update: Update, context: BotContext) -> None:
        actor = actor_of(update)
        if actor is None:
            return
        await respond(update, context, lambda: flow(context.services, actor))

    return handle


async def _text(update: Update, context: BotContext) -> None:
    actor = actor_of(update)
    message = update.effective_message
    if actor is None or message is None or message.text is None:
        return
    text = message.text
    await respond(update, context, lambda: router.text(context.services, actor, text))


async def _stale_button(update: Update, context: BotContext) -> None:
    actor = actor_of(update)

    async def produce() -> list[Event]:
        if actor is None:
            return [Notice()]
        ctx = await make_ctx(context.services, actor)
        return [Notice(ctx.tr.t("notice.stale"))]

    await respond(update, context, produce)


async def on_error(update: object, context: BotContext) -> None:
    """Log what escaped every handler (handlers apologise to the person themselves)."""
    if isinstance(update, Update):
        log.error(
            "error outside a flow for update %s: %s",
            update.update_id,
            type(context.error).__name__,
            exc_info=context.error,
        )
    else:
        log.error(
            "error outside an update: %s", type(context.error).__name__, exc_info=context.error
        )


def register(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    """Add the catch-all handlers, after every feature's."""
    message = filters.UpdateType.MESSAGE
    app.add_handler(
        MessageHandler(PRIVATE & message & filters.COMMAND, _actor_handler(router.unknown_command))
    )
    app.add_handler(MessageHandler(PRIVATE & message & filters.TEXT, _text))
    app.add_handler(
        MessageHandler(PRIVATE & filters.UpdateType.EDITED_MESSAGE, _actor_handler(router.edited))
    )
    app.add_handler(
        MessageHandler(PRIVATE & message & ~filters.StatusUpdate.ALL, _actor_handler(router.media))
    )
    app.add_handler(
        MessageHandler(
            filters.ChatType.GROUPS & message & filters.COMMAND, _actor_handler(router.group)
        )
    )
    app.add_handler(CallbackQueryHandler(_stale_button))
    app.add_error_handler(on_error)
