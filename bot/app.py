"""The production factory: the Application with its services and handlers."""

from __future__ import annotations

import gc
import logging
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from telegram import BotCommandScopeDefault
from telegram.ext import Application, ApplicationBuilder, ContextTypes

from bot.clock import Clock, SystemClock
from bot.content import Content
from bot.context import BotContext, BotData
from bot.delivery import Limits, build_delivery
from bot.handlers import register
from bot.handlers.common import bot_commands
from bot.i18n import FALLBACK, I18n
from bot.processor import OrderedUpdateProcessor
from bot.services import Services
from bot.settings import Settings
from storage import open_store

log = logging.getLogger(__name__)

ALLOWED_UPDATES = ["message", "edited_message", "callback_query", "my_chat_member"]
BotApplication = Application[Any, BotContext, Any, Any, BotData, Any]


def build_application(
    settings: Settings,
    content: Content,
    i18n: I18n,
    *,
    clock: Clock | None = None,
) -> BotApplication:
    """Build the bot: services open in post_init and close in post_shutdown."""
    the_clock = clock or SystemClock()

    async def post_init(app: BotApplication) -> None:
        store = await open_store(settings.database_url)
        # "spawn": a fresh interpreter, not a fork of a process that already runs threads.
        pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
        app.bot_data.services = Services(
            process_pool=pool,
            store=store,
            content=content,
            i18n=i18n,
            clock=the_clock,
            admin_ids=settings.bot_admin_ids,
            bot_username=app.bot.username,
        )
        await _set_commands(app, i18n)
        limits = Limits(
            per_second=settings.send_per_second,
            per_chat_seconds=settings.send_per_chat_seconds,
            per_group_per_minute=settings.send_per_group_per_minute,
        )
        delivery = build_delivery(app.bot, app.bot_data.services, app.job_queue, limits)
        app.bot_data.delivery = delivery
        await delivery.start()
        # Everything loaded so far lives as long as the bot: keeping it out of the garbage
        # collector's full passes shortens the pauses that chart rendering causes.
        gc.freeze()
        log.info("bot @%s ready", app.bot.username)

    async def post_stop(app: BotApplication) -> None:
        delivery = app.bot_data.delivery
        if delivery is not None:
            await delivery.stop()
            app.bot_data.delivery = None

    async def post_shutdown(app: BotApplication) -> None:
        services = app.bot_data.services
        if services is not None:
            await services.store.close()
            if services.process_pool is not None:
                services.process_pool.shutdown(wait=False, cancel_futures=True)
            app.bot_data.services = None

    context_types = ContextTypes(context=BotContext, bot_data=BotData)
    app: BotApplication = (
        ApplicationBuilder()
        .token(settings.token)
        .base_url(f"{settings.telegram_api_url}/bot")
        .base_file_url(f"{settings.telegram_api_url}/file/bot")
        .context_types(context_types)
        .concurrent_updates(OrderedUpdateProcessor(settings.max_concurrent_updates))
        .connection_pool_size(max(8, settings.max_concurrent_updates))
        .post_init(post_init)
        .post_stop(post_stop)
        .post_shutdown(post_shutdown)
        .build()
    )
    register(app)
    return app


async def _set_commands(app: BotApplication, i18n: I18n) -> None:
    """Register the command menu for each language, Spanish by default."""
    await app.bot.set_my_commands(bot_commands(i18n, FALLBACK), scope=BotCommandScopeDefault())
    for lang in i18n.languages:
        await app.bot.set_my_commands(
            bot_commands(i18n, lang), scope=BotCommandScopeDefault(), language_code=lang
        )
