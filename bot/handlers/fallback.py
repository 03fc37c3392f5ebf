"""Everything no feature claimed: typed text, media, edits, groups, old buttons, errors."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import replace
from typing import Any

from telegram import Message, Update
from telegram.error import BadRequest, Conflict, TelegramError
from telegram.ext import Application, CallbackQueryHandler, MessageHandler, filters

from bot.context import BotContext
from bot.flows import router
from bot.flows.common import Actor, Media, make_ctx
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


def media_of(message: Message) -> Media | None:
    """Describe the media of a message (the largest size of a photo)."""
    if message.photo:
        largest = message.photo[-1]
        return Media("photo", largest.file_id, message.caption, None, largest.file_size)
    if message.document:
        doc = message.document
        return Media("document", doc.file_id, message.caption, doc.file_name, doc.file_size)
    for kind in ("sticker", "voice", "video", "audio", "animation", "video_note"):
        item = getattr(message, kind, None)
        if item is not None:
            return Media(kind, item.file_id, message.caption, None, item.file_size)
    return None


async def _media(update: Update, context: BotContext) -> None:
    actor = actor_of(update)
    message = update.effective_message
    if actor is None or message is None:
        return
    item = media_of(message)
    svc = context.services

    async def produce() -> list[Event]:
        data: bytes | None = None
        shown = item
        if router.is_workshop_file(item) and await router.wants_workshop_file(svc, actor):
            assert item is not None
            file = await context.bot.get_file(item.file_id)
            limit = router.import_limit(item) or 0
            # A message may leave the size out; getFile tells it before anything is fetched.
            if file.file_size is not None and file.file_size > limit:
                shown = replace(item, file_size=file.file_size)
            else:
                data = bytes(await file.download_as_bytearray())
                if len(data) > limit:
                    shown, data = replace(item, file_size=len(data)), None
        return await router.media(svc, actor, shown, data)

    await respond(update, context, produce)


async def _stale_button(update: Update, context: BotContext) -> None:
    actor = actor_of(update)
    query = update.callback_query
    if update.effective_chat is None and query is not None:
        # A button under an inline-mode message has no chat for `respond` to answer in,
        # but Telegram still waits for the tap to be answered.
        text = None
        if actor is not None:
            text = (await make_ctx(context.services, actor)).tr.plain("notice.stale")
        try:
            await query.answer(text)
        except BadRequest as exc:
            log.info("callback query %s not answered: %s", query.id, exc.message)
        return

    async def produce() -> list[Event]:
        if actor is None:
            return [Notice()]
        ctx = await make_ctx(context.services, actor)
        return [Notice(ctx.tr.t("notice.stale"))]

    await respond(update, context, produce)


class PollingErrors:
    """Log what goes wrong while long polling: a second poller once, not at every retry.

    Telegram answers 409 Conflict to one of two processes polling with the same token; PTB
    retries (every 30 s at most) and hands each error to the error handlers, which logged
    each with a traceback. A conflict is told in one WARNING line, again only after
    `REPEAT_SECONDS` of conflicts or after an error of another kind; other polling errors
    (the network, Telegram's 5xx) are one WARNING line each, since PTB retries them.
    """

    REPEAT_SECONDS = 600.0

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._told: float | None = None

    def __call__(self, exc: TelegramError) -> None:
        """Log one error of the polling loop."""
        now = self._clock()
        if isinstance(exc, Conflict):
            if self._told is None or now - self._told >= self.REPEAT_SECONDS:
                log.warning(
                    "another process is polling with this bot token (%s): this one waits and"
                    " retries; run one polling process per token, or use WEBHOOK_URL",
                    exc.message,
                )
                self._told = now
            return
        self._told = None
        log.warning("polling for updates failed: %s; retrying", exc)


def error_handler(
    polling: PollingErrors,
) -> Callable[[object, BotContext], Coroutine[Any, Any, None]]:
    """Return the application's error handler, with its memory of polling errors."""

    async def handle(update: object, context: BotContext) -> None:
        if update is None and context.job is None and isinstance(context.error, TelegramError):
            # The polling loop reports its errors without an update or a job.
            polling(context.error)
            return
        await on_error(update, context)

    return handle


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


async def _group_command(update: Update, context: BotContext) -> None:
    message = update.effective_message
    command = (message.text or message.caption or "") if message else ""
    addressee = command.split(maxsplit=1)[0].partition("@")[2] if command.strip() else ""
    # With privacy mode off (or as a group admin) the bot sees commands meant for other
    # bots too; those are not ours to answer.
    if addressee and addressee.lower() != (context.bot.username or "").lower():
        return
    await _actor_handler(router.group)(update, context)


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
    app.add_handler(MessageHandler(PRIVATE & message & ~filters.StatusUpdate.ALL, _media))
    app.add_handler(
        MessageHandler(filters.ChatType.GROUPS & message & filters.COMMAND, _group_command)
    )
    app.add_handler(CallbackQueryHandler(_stale_button))
    app.add_error_handler(error_handler(PollingErrors()))
