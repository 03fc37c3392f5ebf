"""Turning updates into flow input, and handing flow events to the Responder."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

from telegram import Update
from telegram.error import Forbidden, NetworkError
from telegram.ext import CallbackQueryHandler, CommandHandler, filters

from bot.context import BotContext
from bot.flows import router as fallback_flows
from bot.flows.callbacks import CallbackData, parse, pattern
from bot.flows.common import Actor, Ctx, make_ctx
from bot.flows.events import Event, Notice
from bot.output import Responder

log = logging.getLogger(__name__)


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
        username=user.username,
    )


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


# A flow taking one of the classes its handler was registered for (a union, when several).
FlowCallback = Callable[[Ctx, Any, int], Awaitable[list[Event]]]
FlowCommand = Callable[[Ctx, str], Awaitable[list[Event]]]


def callback_handler(
    flow: FlowCallback, kinds: Iterable[type[CallbackData]]
) -> CallbackQueryHandler[Any, Any]:
    """Build a handler that passes taps on `kinds` buttons, decoded, to `flow`."""
    accepted = tuple(kinds)

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
            tap = parse(query.data)
            if not isinstance(tap, accepted):
                return [Notice(ctx.tr.t("notice.stale"))]
            return await flow(ctx, tap, message_id)

        await respond(update, context, produce)

    return CallbackQueryHandler(handle, pattern=pattern(accepted))


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
