"""Delivery: the outbox sender within Telegram's limits, reminders and broadcast progress."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from telegram import Bot
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TimedOut
from telegram.ext import ContextTypes, JobQueue

from bot.flows import broadcast as broadcast_flow
from bot.flows import checkins, progress, reminders, retention
from bot.output import (
    Responder,
    clear_buttons,
    edit_text,
    retry_seconds,
    send_file,
    send_text,
    stored_keyboard,
)
from bot.services import Services
from storage import BroadcastStatus, OutboxRow, ScheduledRow

log = logging.getLogger(__name__)
WINDOW_MARGIN = 0.01


@dataclass(frozen=True)
class Limits:
    """Telegram's sending limits for bots."""

    per_second: float = 30.0
    per_chat_seconds: float = 1.0
    per_group_per_minute: float = 20.0


class RateLimiter:
    """Spaces sends to stay within Telegram's limits; a 429 pauses everything."""

    def __init__(
        self,
        limits: Limits,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.limits = limits
        self._clock = clock
        self._sleep = sleep
        self._next_global = 0.0
        self._paused_until = 0.0
        self._next_chat: dict[int, float] = {}
        self._recent: deque[float] = deque(maxlen=max(1, int(limits.per_second)))

    def _chat_gap(self, chat_id: int) -> float:
        # Group and channel ids are negative; they have a per-minute limit.
        if chat_id < 0:
            return 60.0 / self.limits.per_group_per_minute
        return self.limits.per_chat_seconds

    async def wait(self, chat_id: int) -> None:
        """Wait until a message to `chat_id` may be sent, and reserve that slot."""
        now = self._clock()
        slot = max(now, self._next_global, self._paused_until, self._next_chat.get(chat_id, 0.0))
        window = self._recent
        if len(window) == window.maxlen:
            # Never more than the limit in any second as Telegram counts it. The window holds
            # when earlier sends were answered: by then Telegram had counted them, so a stall
            # on our side can never squeeze one more into its second.
            slot = max(slot, window[0] + 1.0 + WINDOW_MARGIN)
        self._next_global = slot + 1.0 / self.limits.per_second
        self._next_chat[chat_id] = slot + self._chat_gap(chat_id)
        if len(self._next_chat) > 10_000:
            self._next_chat = {c: t for c, t in self._next_chat.items() if t > now}
        if slot > now:
            await self._sleep(slot - now)

    def sent(self) -> None:
        """Record that a send was answered (whatever the answer)."""
        self._recent.append(self._clock())

    def pause(self, seconds: float) -> None:
        """Stop all sending for `seconds`, as Telegram's retry_after asks."""
        self._paused_until = max(self._paused_until, self._clock() + seconds)
        self._next_global = max(self._next_global, self._paused_until)


@dataclass
class SenderStats:
    """What the sender did, for logs and benchmarks."""

    sent: int = 0
    unreachable: int = 0
    failed: int = 0
    rate_limited: int = 0
    retry_after_total: float = 0.0
    network_retries: int = 0


FinishHook = Callable[[str], Awaitable[None]]


@dataclass
class OutboxSender:
    """Sends queued messages one at a time, in order, within the limits.

    One message is in flight at a time, so a crash can send at most that one twice.
    """

    bot: Bot
    services: Services
    limiter: RateLimiter
    on_finish: FinishHook | None = None
    max_attempts: int = 5
    backoff_seconds: float = 1.0
    stats: SenderStats = field(default_factory=SenderStats)
    _event: asyncio.Event = field(default_factory=asyncio.Event)
    _task: asyncio.Task[None] | None = None
    _stopping: bool = False

    def start(self) -> None:
        """Start sending in the background."""
        self._stopping = False
        self._task = asyncio.create_task(self._run(), name="outbox-sender")

    def wake(self) -> None:
        """Tell the sender there is something new in the outbox."""
        self._event.set()

    async def stop(self) -> None:
        """Finish the message in flight, then stop."""
        self._stopping = True
        self._event.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(self._task, timeout=8)
            except TimeoutError:
                log.warning("the outbox sender did not stop in time; its message may go again")
            except asyncio.CancelledError:
                pass
            self._task = None

    async def _run(self) -> None:
        while not self._stopping:
            try:
                rows = await self.services.store.pending_outbox(200)
            except Exception:
                log.exception("cannot read the outbox")
                rows = []
            if not rows:
                self._event.clear()
                # A stop that came while the outbox was being read set the event just cleared.
                if self._stopping:
                    return
                # Also look again now and then: another process (an import) may add rows.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._event.wait(), timeout=15)
                continue
            for row in rows:
                if self._stopping:
                    return
                try:
                    await self._deliver(row)
                except Exception:
                    log.exception("outbox message %s could not be handled", row.id)
                    await self.services.store.finish_outbox(
                        row.id, "failed", self.services.clock.now(), "internal error"
                    )

    async def _deliver(self, row: OutboxRow) -> None:
        store, message = self.services.store, row.message
        error: str | None = None
        while True:
            await self.limiter.wait(message.chat_id)
            try:
                try:
                    await self._send(row)
                finally:
                    self.limiter.sent()
                status = "sent"
            except RetryAfter as exc:
                seconds = retry_seconds(exc)
                self.stats.rate_limited += 1
                self.stats.retry_after_total += seconds
                log.warning("flood control: pausing all sending for %.0f s", seconds)
                self.limiter.pause(seconds)
                continue
            except Forbidden as exc:
                status, error = "unreachable", exc.message
                await store.set_unreachable(message.chat_id, self.services.clock.now())
            except BadRequest as exc:
                error = exc.message
                status = "unreachable" if "chat not found" in exc.message.lower() else "failed"
            except (TimedOut, NetworkError) as exc:
                attempts = await store.retry_outbox(row.id, str(exc))
                self.stats.network_retries += 1
                if attempts < self.max_attempts:
                    await asyncio.sleep(self.backoff_seconds * 2 ** (attempts - 1))
                    continue
                status, error = "failed", str(exc)
            break
        await store.finish_outbox(row.id, status, self.services.clock.now(), error)
        if status == "sent":
            self.stats.sent += 1
        elif status == "unreachable":
            self.stats.unreachable += 1
        else:
            self.stats.failed += 1
            log.warning("outbox message %s failed: %s", row.id, error)
        if self.on_finish is not None:
            await self.on_finish(row.source)

    async def _send(self, row: OutboxRow) -> None:
        m = row.message
        buttons = stored_keyboard(m.buttons)
        if m.media_kind in ("photo", "document") and m.media_file_id:
            await send_file(
                self.bot,
                m.chat_id,
                m.media_kind,
                m.media_file_id,
                m.text or None,
                buttons,
                retry=False,
            )
        else:
            await send_text(self.bot, m.chat_id, m.text, buttons, retry=False)


class BroadcastTracker:
    """Keeps each broadcast's progress message current, then posts the final report."""

    def __init__(self, bot: Bot, services: Services, interval: float = 2.0) -> None:
        self.bot = bot
        self.services = services
        self.interval = interval
        self._last_edit: dict[int, float] = {}

    async def on_finish(self, source: str) -> None:
        """Update the progress of the broadcast a message belonged to."""
        if not source.startswith("bc:"):
            return
        broadcast_id = int(source.split(":", 1)[1])
        store = self.services.store
        counts = await store.outbox_counts(source)
        done = counts.get("pending", 0) == 0
        now = time.monotonic()
        if not done and now - self._last_edit.get(broadcast_id, 0.0) < self.interval:
            return
        self._last_edit[broadcast_id] = now
        broadcast = await store.broadcast(broadcast_id)
        if broadcast is None:
            return
        if done and broadcast.status is BroadcastStatus.SENDING:
            # Done means the organizer has been told: the report goes first.
            await self.show(broadcast_id, counts, final=True)
            await store.update_broadcast(
                broadcast_id, status=BroadcastStatus.DONE, finished_at=self.services.clock.now()
            )
            self._last_edit.pop(broadcast_id, None)
            return
        await self.show(broadcast_id, counts, final=done)

    async def show(self, broadcast_id: int, counts: dict[str, int], *, final: bool) -> None:
        """Edit the organizer's progress message (or send the final report)."""
        broadcast = await self.services.store.broadcast(broadcast_id)
        if broadcast is None or broadcast.progress_chat_id is None:
            return
        text, buttons = await broadcast_flow.progress(self.services, broadcast, counts, final)
        chat_id, message_id = broadcast.progress_chat_id, broadcast.progress_message_id
        try:
            if final or message_id is None:
                # Right after the last broadcast message this often meets flood control:
                # the final report must not be lost to it.
                await send_text(self.bot, chat_id, text, previews=True)
                if message_id is not None:
                    await clear_buttons(self.bot, chat_id, message_id)
            else:
                # Waiting out flood control here would hold up the outbox sender.
                await edit_text(
                    self.bot,
                    chat_id,
                    message_id,
                    text,
                    buttons,
                    retry=False,
                    previews=True,
                    resend=False,
                )
        except BadRequest as exc:
            log.info("broadcast %s progress not shown: %s", broadcast_id, exc.message)
        except (Forbidden, RetryAfter, NetworkError) as exc:
            log.info("broadcast %s progress not shown: %s", broadcast_id, exc)


class ReminderRunner:
    """Sends what is due: re-armed from the database at startup through the JobQueue."""

    JOB_PREFIX = "due:"
    NEXT_JOB = "due:next"

    def __init__(
        self,
        services: Services,
        sender: OutboxSender,
        job_queue: JobQueue[Any] | None,
        reporter: Callable[[ScheduledRow], Awaitable[None]] | None = None,
    ) -> None:
        self.services = services
        self.sender = sender
        self.job_queue = job_queue
        self.reporter = reporter
        self._lock = asyncio.Lock()

    async def tick(self) -> int:
        """Handle every occasion due by now (once); return how many were handled."""
        async with self._lock:
            svc = self.services
            now = svc.clock.now()
            handled = 0
            # Sorted here, by the instant: due times are stored with each workshop's offset,
            # so their text order is not their time order across time zones.
            rows = sorted(
                (r for r in await svc.store.pending_schedule() if r.due_at <= now),
                key=lambda r: (r.due_at, r.id),
            )
            # Several check-ins due at once (a past workshop imported late, a long outage):
            # only the latest is asked, once, rather than three questions in a row.
            latest_checkin: dict[int, ScheduledRow] = {}
            for row in rows:
                if row.kind == "checkin":
                    latest_checkin[row.workshop_id] = row
            for row in rows:
                if await reminders.waits_for_morning(svc, row, now):
                    # Left pending: the minute tick takes it when the quiet hours end.
                    continue
                if row.kind == "checkin" and latest_checkin[row.workshop_id] is not row:
                    if await svc.store.complete_scheduled(row.id, "skipped", [], now):
                        handled += 1
                        log.info(
                            "skipped %s of workshop %s: a later one is due",
                            row.key,
                            row.workshop_id,
                        )
                    continue
                if row.kind.startswith("report_"):
                    # Reports are charts drawn now, not queued texts: hand them to the reporter.
                    if await svc.store.complete_scheduled(row.id, "done", [], now):
                        handled += 1
                        if self.reporter is not None:
                            await self.reporter(row)
                    continue
                if row.kind == "checkin":
                    # Check-ins open one record per plan with their messages, atomically.
                    if await checkins.run_checkin(svc, row, now):
                        handled += 1
                    continue
                status, messages = await reminders.compose(svc, row, now)
                if await svc.store.complete_scheduled(row.id, status, messages, now):
                    handled += 1
                    if status == "skipped":
                        log.info(
                            "skipped %s of workshop %s: no longer useful", row.key, row.workshop_id
                        )
            for broadcast in await svc.store.broadcasts_with_status(BroadcastStatus.SCHEDULED):
                if broadcast.scheduled_at is not None and broadcast.scheduled_at <= now:
                    await broadcast_flow.launch(svc, broadcast.id)
                    handled += 1
            # Overdue steps, nudges and digests follow from the data, not from schedule rows.
            handled += await checkins.follow_up_tick(svc, now)
            handled += await progress.digest_tick(svc, now)
            # Purging does not wake the sender: it queues nothing.
            await retention.retention_tick(svc, now)
            if handled:
                self.sender.wake()
            return handled

    async def _job(self, context: ContextTypes.DEFAULT_TYPE) -> None:
        await self.tick()
        await self.arm()

    async def arm(self) -> int:
        """Arm one job at the soonest future occasion, plus a periodic check; return how many wait.

        One job, re-armed after each run, rather than one per occasion: a database holding
        thousands of reminders months ahead would otherwise spend seconds at every start
        creating scheduler jobs.
        """
        if self.job_queue is None:
            return 0
        for job in self.job_queue.jobs():
            if job.name and job.name.startswith(self.JOB_PREFIX):
                job.schedule_removal()
        now = self.services.clock.now()
        moments = [r.due_at for r in await self.services.store.pending_schedule() if r.due_at > now]
        moments += [
            b.scheduled_at
            for b in await self.services.store.broadcasts_with_status(BroadcastStatus.SCHEDULED)
            if b.scheduled_at is not None and b.scheduled_at > now
        ]
        if moments:
            self.job_queue.run_once(self._job, when=min(moments), name=self.NEXT_JOB)
        if not self.job_queue.get_jobs_by_name("tick"):
            # A safety net: anything added by another process is picked up within a minute.
            self.job_queue.run_repeating(self._job, interval=60, first=1, name="tick")
        return len(moments)


@dataclass
class Delivery:
    """The host-side services that send on their own: outbox, reminders, progress."""

    sender: OutboxSender
    runner: ReminderRunner
    tracker: BroadcastTracker

    async def start(self) -> None:
        """Resume what was interrupted, arm the schedule and start sending."""
        await broadcast_flow.resume_interrupted(self.sender.services)
        await self.runner.arm()
        await self.runner.tick()
        self.sender.start()

    async def stop(self) -> None:
        """Stop sending after the message in flight."""
        await self.sender.stop()


def build_delivery(
    bot: Bot, services: Services, job_queue: JobQueue[Any] | None, limits: Limits | None = None
) -> Delivery:
    """Wire the sender, the reminder runner and the broadcast tracker together."""
    tracker = BroadcastTracker(bot, services)
    sender = OutboxSender(bot, services, RateLimiter(limits or Limits()), tracker.on_finish)

    async def report(row: ScheduledRow) -> None:
        await send_scheduled_report(bot, services, row)

    runner = ReminderRunner(services, sender, job_queue, report)
    return Delivery(sender, runner, tracker)


async def send_scheduled_report(bot: Bot, services: Services, row: ScheduledRow) -> None:
    """Send an automatic report to the organizers' group, or to each organizer."""
    from bot.flows import reports

    workshop = await services.store.workshop(row.workshop_id)
    if workshop is None:
        return
    lang = services.i18n.pick(workshop.language)
    if row.kind == "report_dgca":
        events = await reports.dgca_report(services, workshop, lang)
    else:
        events = await reports.evaluation_report(services, workshop, lang)
    targets = (
        [workshop.organizer_chat_id]
        if workshop.organizer_chat_id is not None
        else await services.store.organizers_of(workshop.id)
    )
    for chat_id in targets:
        try:
            await Responder(bot, services, chat_id).render(events)
        except (Forbidden, BadRequest, NetworkError) as exc:
            log.warning("report for workshop %s not delivered to %s: %s", workshop.id, chat_id, exc)
