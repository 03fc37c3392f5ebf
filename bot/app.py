"""The production factory: the Application with its services and handlers."""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
from typing import Any

from telegram import BotCommandScopeDefault
from telegram.ext import Application, ApplicationBuilder, ContextTypes
from tornado.httpserver import HTTPServer

from bot.clock import Clock, SystemClock
from bot.content import Content
from bot.context import BotContext, BotData
from bot.delivery import SEND_WINDOW, Delivery, Limits, build_delivery
from bot.handlers import register
from bot.i18n import FALLBACK, I18n
from bot.instances import (
    HEARTBEAT_SECONDS,
    Coordinator,
    Inbox,
    InboxQueue,
    new_instance_id,
)
from bot.output import bot_commands
from bot.processor import OrderedUpdateProcessor
from bot.services import Services, worker_pool
from bot.settings import Settings
from storage import open_store

log = logging.getLogger(__name__)

ALLOWED_UPDATES = ["message", "edited_message", "callback_query", "my_chat_member"]
BotApplication = Application[Any, BotContext, Any, Any, BotData, Any]
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
# After a stop signal, updates still running this long are cancelled (their transaction is
# rolled back), so that the whole stop fits in the 10 s hosting platforms allow before SIGKILL;
# the outbox sender has its own limit (OutboxSender.stop) and is stopped at the same time.
UPDATE_GRACE_SECONDS = 7.0
# How long a Bot API call may wait for a free connection of the pool (PTB's default: 1 s).
POOL_TIMEOUT = 10.0
# How long a stop waits for webhook requests already being received to get their answer.
WEBHOOK_DRAIN_SECONDS = 2.0


def build_application(
    settings: Settings,
    content: Content,
    i18n: I18n,
    *,
    clock: Clock | None = None,
    shared: bool = False,
) -> BotApplication:
    """Build the bot: services open in post_init and close in post_shutdown.

    `shared`: one of several instances on one database (webhook mode on PostgreSQL): webhook
    updates go through the database's inbox, and this instance sends only while it holds
    the delivery lease (bot/instances.py).
    """
    the_clock = clock or SystemClock()
    instance = new_instance_id()
    queue = InboxQueue()

    async def post_init(app: BotApplication) -> None:
        store = await open_store(settings.database_url, pool_size=settings.database_pool_size)
        app.bot_data.services = Services(
            process_pool=worker_pool(),
            store=store,
            content=content,
            i18n=i18n,
            clock=the_clock,
            admin_ids=settings.bot_admin_ids,
            bot_username=app.bot.username,
            retention=settings.retention_enabled,
        )
        await _set_commands(app, i18n)
        limits = Limits(
            per_second=settings.send_per_second,
            per_chat_seconds=settings.send_per_chat_seconds,
            per_group_per_minute=settings.send_per_group_per_minute,
        )
        services = app.bot_data.services
        delivery = build_delivery(
            app.bot,
            services,
            app.job_queue,
            limits,
            instance=instance,
            # Another instance may have queued a broadcast: look often rather than wait.
            idle_poll=HEARTBEAT_SECONDS / 2 if shared else 15.0,
        )
        app.bot_data.delivery = delivery
        # Shared: every webhook update goes through the inbox. Alone: the inbox only holds
        # what a shared deployment left (it switched to polling, or its database was
        # copied), handled here rather than lost.
        inbox = Inbox(services, app.bot, queue, instance, settings.max_concurrent_updates)
        processor = app.update_processor
        if isinstance(processor, OrderedUpdateProcessor):
            processor.on_done = inbox.done
        app.bot_data.inbox = inbox
        if shared:
            delivery.runner.active = False
            delivery.runner.check_every = 20.0
            coordinator = Coordinator(services, delivery, instance)
            app.bot_data.coordinator = coordinator
            await coordinator.start()
            log.info("instance %s shares its database with other instances", instance)
        else:
            await delivery.start()
        inbox.start(leftovers_only=not shared)
        # Everything loaded so far lives as long as the bot: keeping it out of the garbage
        # collector's full passes shortens the pauses that chart rendering causes.
        gc.freeze()
        log.info("bot @%s ready", app.bot.username)

    async def post_stop(app: BotApplication) -> None:
        inbox, coordinator = app.bot_data.inbox, app.bot_data.coordinator
        if inbox is not None:
            await inbox.stop()
            app.bot_data.inbox = None
        if coordinator is not None:
            # After the updates in flight (PTB's stop waited for them): what this instance
            # claimed and did not handle goes back to the others now, not after a timeout.
            await coordinator.leave()
            app.bot_data.coordinator = None
        delivery = app.bot_data.delivery
        if delivery is not None:
            await _stop_delivery(delivery)
            app.bot_data.delivery = None

    async def post_shutdown(app: BotApplication) -> None:
        # A stop signal during post_init skips post_stop: the sender may still be running.
        await post_stop(app)
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
        .update_queue(queue)
        .concurrent_updates(OrderedUpdateProcessor(settings.max_concurrent_updates))
        .connection_pool_size(connection_pool_size(settings))
        .pool_timeout(POOL_TIMEOUT)
        # On stop, PTB cancels the long poll and at once calls getUpdates again to confirm
        # the last offset. With PTB's single connection that call can wait for the
        # cancelled one to be released and time out (seen on a loaded CI machine).
        .get_updates_connection_pool_size(2)
        .get_updates_pool_timeout(5.0)
        .post_init(post_init)
        .post_stop(post_stop)
        .post_shutdown(post_shutdown)
        .build()
    )
    register(app)
    return app


def connection_pool_size(settings: Settings) -> int:
    """Return how many connections to the Bot API the bot may open at once."""
    # One per work slot and one per send the outbox keeps in flight. An update may want
    # two at once (the button's answer beside the reply); then a call waits for a free one
    # (POOL_TIMEOUT), which is cheaper than more connections: httpcore checks every open
    # connection on every request, and twice the connections cost about 1 ms of CPU per
    # answer (benchmarks/README.md).
    return max(8, settings.max_concurrent_updates) + SEND_WINDOW


async def _set_commands(app: BotApplication, i18n: I18n) -> None:
    """Register the command menu for each language, Spanish by default."""
    await app.bot.set_my_commands(bot_commands(i18n, FALLBACK), scope=BotCommandScopeDefault())
    for lang in i18n.languages:
        await app.bot.set_my_commands(
            bot_commands(i18n, lang), scope=BotCommandScopeDefault(), language_code=lang
        )


def webhook_options(settings: Settings) -> dict[str, Any]:
    """Return the arguments of PTB's start_webhook/run_webhook for these settings."""
    if not settings.webhook_url:
        raise ValueError("WEBHOOK_URL is not set")
    return {
        "listen": settings.webhook_listen,
        "port": settings.port,
        "url_path": settings.webhook_path,
        "webhook_url": settings.webhook_url,
        "secret_token": settings.webhook_secret_token,
        "allowed_updates": ALLOWED_UPDATES,
        # Updates that arrived while the bot was down are still owed an answer.
        "drop_pending_updates": False,
    }


def run(app: BotApplication, settings: Settings, *, webhook: bool) -> None:
    """Serve until SIGINT or SIGTERM, by webhook or long polling, then stop gracefully."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    stopping = False
    background: list[asyncio.Task[None]] = []

    def on_signal(signum: int) -> None:
        nonlocal stopping
        if stopping:
            return
        stopping = True
        log.info(
            "%s received: finishing the updates in flight, then stopping",
            signal.Signals(signum).name,
        )
        delivery, coordinator = app.bot_data.delivery, app.bot_data.coordinator
        inbox = app.bot_data.inbox
        if inbox is not None:
            # No new claims from now on: PTB's stop waits for everything queued to it.
            background.append(loop.create_task(inbox.stop_taking(), name="stop-inbox"))
        if coordinator is not None:
            # The delivery duty goes to another instance as soon as this one stops sending.
            background.append(loop.create_task(coordinator.stop_duties(), name="hand-over"))
        elif delivery is not None:
            # Stop the sender now rather than after the updates: both get the same time limit.
            background.append(loop.create_task(_stop_delivery(delivery), name="stop-delivery"))
        loop.call_later(UPDATE_GRACE_SECONDS, _cancel_stragglers, app)
        if webhook:
            background.append(loop.create_task(_drain_then_stop(app), name="drain-webhook"))
        else:
            app.stop_running()

    for sig in STOP_SIGNALS:
        loop.add_signal_handler(sig, on_signal, sig)
    if webhook:
        # One request per connection: a connection is then open only while an update is
        # being received, so a stop can wait for those instead of cutting them (see
        # _drain_then_stop). Tornado's own configuration hook; only the webhook uses tornado.
        HTTPServer.configure(None, no_keep_alive=True)
        options = webhook_options(settings)
        log.info(
            "serving updates by webhook on %s:%s%s",
            options["listen"],
            options["port"],
            options["url_path"],
        )
        app.run_webhook(**options, stop_signals=None)
    else:
        app.run_polling(
            allowed_updates=ALLOWED_UPDATES, drop_pending_updates=False, stop_signals=None
        )
    log.info("bot stopped")


async def _stop_delivery(delivery: Delivery) -> None:
    """Stop the outbox sender after its message in flight, never raising on a slow stop."""
    try:
        await delivery.stop()
    except TimeoutError:
        log.warning("outbox sender did not stop in time; its message in flight may go again")


async def _drain_then_stop(app: BotApplication) -> None:
    """Stop taking webhook connections, let open ones get their answer, then stop the bot.

    PTB's stop closes every connection at once: an update already taken into the queue
    (and so processed) could lose its 200 answer, and Telegram would send it again.
    """
    httpd = getattr(app.updater, "_httpd", None)
    server = getattr(httpd, "_http_server", None)
    if isinstance(server, HTTPServer):
        server.stop()
        # Tornado signals nothing when a connection closes: look every 20 ms.
        for _ in range(int(WEBHOOK_DRAIN_SECONDS / 0.02)):
            if not getattr(server, "_connections", None):
                break
            await asyncio.sleep(0.02)
    else:
        log.warning("webhook server not found: stopping without waiting for open requests")
    app.stop_running()


def _cancel_stragglers(app: BotApplication) -> None:
    """Cancel update handlers and jobs that outlived the grace period after a stop signal."""
    prefix = f"Application:{app.bot.id}:process_concurrent_update"
    tasks = [t for t in asyncio.all_tasks() if t.get_name().startswith(prefix) and not t.done()]
    jobs: list[asyncio.Future[Any]] = []
    if app.job_queue is not None:
        # PTB keeps running jobs only in its executor's private set, and waits for all of them.
        jobs = [f for f in app.job_queue._executor._pending_futures if not f.done()]
    if not tasks and not jobs:
        return
    log.warning(
        "stopping: cancelled %d update(s) and %d job(s) still running after %.0f s",
        len(tasks),
        len(jobs),
        UPDATE_GRACE_SECONDS,
    )
    for future in [*tasks, *jobs]:
        future.cancel()
