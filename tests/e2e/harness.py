"""Drive the production Application through the Bot API double."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from bot.apidouble import BotApiDouble, ChatMessage, SimUser
from bot.app import ALLOWED_UPDATES, BotApplication, build_application
from bot.content import Content, load_workshop_file
from bot.delivery import Delivery
from bot.flows.workshops import import_workshop
from bot.i18n import I18n
from bot.processor import OrderedUpdateProcessor
from bot.services import Services
from bot.settings import Settings
from storage import Workshop
from tests.support import CONTENT_DIR, FakeClock

COCHABAMBA = CONTENT_DIR / "workshops" / "cochabamba-2023.yaml"
TOKEN = "123456:TEST-TOKEN"


@dataclass
class Harness:
    """The running bot, the double it talks to, and the clock it reads."""

    double: BotApiDouble
    app: BotApplication
    clock: FakeClock
    database_url: str = ""
    content: Content | None = None
    # Updates fetched before this application started are not its to process.
    baseline: int = 0

    @property
    def services(self) -> Services:
        services = self.app.bot_data.services
        assert services is not None
        return services

    @property
    def processor(self) -> OrderedUpdateProcessor:
        processor = self.app.update_processor
        assert isinstance(processor, OrderedUpdateProcessor)
        return processor

    async def settle(self, timeout: float = 10.0) -> None:
        """Wait until the bot has fetched and fully processed every update sent so far."""
        await self.double.wait_until_fetched(timeout)
        await asyncio.wait_for(
            self.processor.wait_completed(self.double.updates_fetched - self.baseline), timeout
        )

    async def restart(self) -> None:
        """Stop the application and start a new one on the same database."""
        assert self.content is not None and self.database_url
        await self.settle()
        await stop_app(self.app)
        self.baseline = self.double.updates_fetched
        self.app = await start_app(self.double, self.database_url, self.content, self.clock)

    @property
    def delivery(self) -> Delivery:
        delivery = self.app.bot_data.delivery
        assert delivery is not None
        return delivery

    async def flush(self, timeout: float = 10.0) -> None:
        """Wait until the outbox is empty and the sender has finished its last message."""
        store = self.services.store

        async def empty() -> bool:
            # A message held for someone's morning is not due yet: it does not count.
            return not await store.pending_outbox(1, now=self.clock.now())

        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not await empty():
            if loop.time() > deadline:
                raise AssertionError("the outbox did not drain")
            await asyncio.sleep(0.01)
        await self.settle()

    async def tick(self) -> int:
        """Run the reminder check at the fake clock's time, then deliver what it queued."""
        handled = await self.delivery.runner.tick()
        await self.flush()
        return handled

    async def at(self, when: datetime) -> int:
        """Move the clock to `when` and run the reminder check."""
        assert when >= self.clock.now(), "the clock only moves forward"
        self.clock.current = when
        return await self.tick()

    async def import_workshop(self, path: Path = COCHABAMBA) -> Workshop:
        spec = load_workshop_file(path)
        result = await import_workshop(self.services, spec, str(path), self.clock.now())
        # As after an import in chat: re-arm the schedule and send any change notices.
        await self.delivery.runner.arm()
        self.delivery.sender.wake()
        return result.workshop

    async def send(self, user: SimUser, text: str) -> ChatMessage:
        await user.send(text)
        await self.settle()
        return user.last

    async def tap(self, user: SimUser, label: str, message: ChatMessage | None = None) -> None:
        await user.tap(label, message=message)
        await self.settle()


def settings_for(double: BotApiDouble, database_url: str) -> Settings:
    return Settings(
        telegram_bot_token=TOKEN,
        telegram_api_url=double.url,
        database_url=database_url,
        bot_admin_ids="999",
        content_dir=CONTENT_DIR,
        _env_file=None,
    )


async def start_app(
    double: BotApiDouble, database_url: str, content: Content, clock: FakeClock
) -> BotApplication:
    """Start the application the way `python -m bot run` does, but inside this loop."""
    settings = settings_for(double, database_url)
    i18n = I18n.load(CONTENT_DIR / "locales")
    app = build_application(settings, content, i18n, clock=clock)
    await app.initialize()
    assert app.post_init is not None
    await app.post_init(app)
    # Tests drive the schedule with explicit ticks on the fake clock; the real-time safety
    # tick would race with them.
    assert app.job_queue is not None
    assert app.job_queue.get_jobs_by_name("tick")
    for job in app.job_queue.get_jobs_by_name("tick"):
        job.schedule_removal()
    assert app.updater is not None
    await app.updater.start_polling(poll_interval=0.0, timeout=5, allowed_updates=ALLOWED_UPDATES)
    await app.start()
    return app


async def stop_app(app: BotApplication) -> None:
    assert app.updater is not None
    await app.updater.stop()
    await app.stop()
    assert app.post_stop is not None
    await app.post_stop(app)
    await app.shutdown()
    assert app.post_shutdown is not None
    await app.post_shutdown(app)


PROGRESS = re.compile(r"(?P<section>[^\n·]+) · (?P<n>\d+)/(?P<total>\d+)")


def progress(message: ChatMessage) -> tuple[str, int, int]:
    """Read the progress line of a question message."""
    match = PROGRESS.search(message.text or "")
    assert match, message.text
    return match["section"].strip(), int(match["n"]), int(match["total"])
