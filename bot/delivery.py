"""Delivery: the outbox sender within Telegram's limits, reminders and broadcast progress."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from telegram import Bot
from telegram.error import (
    BadRequest,
    Forbidden,
    NetworkError,
    RetryAfter,
)
from telegram.ext import ContextTypes, JobQueue

from bot.flows import broadcast as broadcast_flow
from bot.flows import checkins, progress, reminders, retention
from bot.output import (
    Responder,
    edit_text,
    not_delivered,
    post_text,
    retry_seconds,
    send_file,
    send_text,
    stored_keyboard,
)
from bot.services import Services
from storage import BroadcastStatus, OutboxRow, ScheduledRow

log = logging.getLogger(__name__)
WINDOW_MARGIN = 0.01
# Round trips remembered to know the fastest one lately (see RateLimiter.wait).
RTT_SAMPLES = 100
# Sends in flight at once: 30/s at round trips up to 400 ms. A SIGKILL can repeat this many.
SEND_WINDOW = 12
# The recorded outcome of a send that may or may not have reached Telegram.
UNKNOWN_OUTCOME = "outcome unknown, not retried"


@dataclass(frozen=True)
class Limits:
    """Telegram's sending limits for bots."""

    per_second: float = 30.0
    per_chat_seconds: float = 1.0
    per_group_per_minute: float = 20.0


@dataclass
class Ticket:
    """One send's reserved slot: when it left, and when it was answered."""

    chat_id: int
    sent_at: float
    answered_at: float | None = None
    answered: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def rtt(self) -> float:
        """Return the round trip (0 until answered)."""
        return 0.0 if self.answered_at is None else self.answered_at - self.sent_at


class RateLimiter:
    """Spaces sends to stay within Telegram's limits; a 429 pauses everything.

    Several sends may be in flight: every limit counts from when a send left, plus how much
    longer its round trip took than the fastest one lately (see `wait`).
    """

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
        self._recent: deque[Ticket] = deque(maxlen=max(1, int(limits.per_second)))
        self._rtts: deque[float] = deque(maxlen=RTT_SAMPLES)
        self._lock = asyncio.Lock()

    def _chat_gap(self, chat_id: int) -> float:
        # Group and channel ids are negative; they have a per-minute limit.
        if chat_id < 0:
            return 60.0 / self.limits.per_group_per_minute
        return self.limits.per_chat_seconds

    def _lateness(self, ticket: Ticket) -> float:
        # Telegram counts a send when it arrives, somewhere within its round trip. A round
        # trip longer than the fastest one lately may have been late on the way there (a
        # stall on our side, a slow network): count it as having arrived that much later.
        fastest = min(self._rtts, default=ticket.rtt)
        return max(0.0, ticket.rtt - fastest)

    def now(self) -> float:
        """Return the limiter's clock."""
        return self._clock()

    def ready_at(self, chat_id: int) -> float:
        """Return when a message to `chat_id` may go, as far as that chat's limit goes."""
        return self._next_chat.get(chat_id, 0.0)

    async def wait(self, chat_id: int) -> Ticket:
        """Wait until a message to `chat_id` may be sent, and reserve that slot.

        Reservations are made one at a time, in the order asked for.
        """
        async with self._lock:
            while True:
                now = self._clock()
                slot = max(now, self._next_global, self._paused_until, self.ready_at(chat_id))
                window = self._recent
                if len(window) == window.maxlen:
                    oldest = window[0]
                    if oldest.answered_at is None:
                        # Not answered within a second: when it arrived is anyone's guess.
                        await oldest.answered.wait()
                        continue
                    # Never more than the limit in any second as Telegram counts it.
                    earliest = oldest.sent_at + self._lateness(oldest) + 1.0 + WINDOW_MARGIN
                    slot = max(slot, earliest)
                if slot <= now:
                    break
                # Then look again: a 429 may have paused everything meanwhile.
                await self._sleep(slot - now)
            ticket = Ticket(chat_id, now)
            window.append(ticket)
            self._next_global = now + 1.0 / self.limits.per_second
            self._next_chat[chat_id] = now + self._chat_gap(chat_id)
            if len(self._next_chat) > 10_000:
                self._next_chat = {c: t for c, t in self._next_chat.items() if t > now}
            return ticket

    def sent(self, ticket: Ticket) -> None:
        """Record that a send was answered (whatever the answer), or abandoned."""
        if ticket.answered_at is not None:
            return
        ticket.answered_at = self._clock()
        self._rtts.append(ticket.rtt)
        chat = ticket.chat_id
        # The chat's next message must also arrive a full gap after this one did.
        after = ticket.sent_at + self._chat_gap(chat) + self._lateness(ticket)
        self._next_chat[chat] = max(self._next_chat.get(chat, 0.0), after)
        ticket.answered.set()

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
    unknown: int = 0
    rate_limited: int = 0
    retry_after_total: float = 0.0
    network_retries: int = 0
    most_in_flight: int = 0


FinishHook = Callable[[str], Awaitable[None]]


@dataclass
class OutboxSender:
    """Sends queued messages within the limits, several at once, each chat's in order.

    Up to `window` sends are in flight, never two to one chat, so a crash can send at most
    `window` messages twice: those whose answer had not been recorded yet.
    """

    bot: Bot
    services: Services
    limiter: RateLimiter
    on_finish: FinishHook | None = None
    max_attempts: int = 5
    backoff_seconds: float = 1.0
    window: int = SEND_WINDOW
    # Who claims the queued messages (Store.claim_outbox): this process, named once.
    instance: str = "local"
    # How often to look at the outbox unasked: another process may have queued messages.
    idle_poll: float = 15.0
    # Asked before every send when instances share the database: may this one still send?
    may_send: Callable[[], bool] | None = None
    stats: SenderStats = field(default_factory=SenderStats)
    _event: asyncio.Event = field(default_factory=asyncio.Event)
    _task: asyncio.Task[None] | None = None
    _stopping: bool = False
    _in_flight: dict[int, asyncio.Task[None]] = field(default_factory=dict)
    _busy_chats: set[int] = field(default_factory=set)
    # Set whenever a send in flight ends: its chat and its place in the window are free.
    _changed: asyncio.Event = field(default_factory=asyncio.Event)
    _finished: asyncio.Queue[str] = field(default_factory=asyncio.Queue)
    _reporter: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start sending in the background."""
        self._stopping = False
        self._task = asyncio.create_task(self._run(), name="outbox-sender")
        if self.on_finish is not None:
            self._reporter = asyncio.create_task(self._report(), name="outbox-progress")

    def wake(self) -> None:
        """Tell the sender there is something new in the outbox."""
        self._event.set()

    @property
    def in_flight(self) -> int:
        """Return how many messages are in flight (sent, their outcome not yet recorded)."""
        return len(self._in_flight)

    async def stop(self) -> None:
        """Finish the messages in flight, then stop."""
        self._stopping = True
        self._event.set()
        self._changed.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(self._drain(self._task), timeout=8)
            except TimeoutError:
                log.warning(
                    "the outbox sender did not stop in time; its %d message(s) in flight"
                    " may go again",
                    len(self._in_flight),
                )
                await self._cancel()
            except asyncio.CancelledError:
                pass
            self._task = None
        if self._reporter is not None:
            self._reporter.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reporter
            self._reporter = None

    async def _cancel(self) -> None:
        tasks = [t for t in (self._task, *self._in_flight.values()) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _drain(self, task: asyncio.Task[None]) -> None:
        await task
        if self._in_flight:
            await asyncio.wait(set(self._in_flight.values()))
        # The progress of what just finished is still shown (a broadcast's final report).
        await self._finished.join()

    def _allowed(self) -> bool:
        return self.may_send is None or self.may_send()

    async def _run(self) -> None:
        while not self._stopping:
            if not self._allowed():
                # Its turn lapsed: the coordinator stops this sender soon; send nothing more.
                await asyncio.sleep(0.5)
                continue
            # Cleared before reading: a wake during the read then leads to another read.
            self._event.clear()
            try:
                rows = await self.services.store.claim_outbox(
                    self.instance, 200, self.services.clock.now()
                )
            except Exception:
                log.exception("cannot read the outbox")
                rows = []
            # Rows in flight are still pending in the store; their task owns them.
            rows = [r for r in rows if r.id not in self._in_flight]
            if not rows:
                if self._stopping:
                    return
                # Also look again now and then: another process (an import) may add rows.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._event.wait(), timeout=self.idle_poll)
                continue
            await self._dispatch(rows)

    def _next_row(self, queue: list[OutboxRow], now: float) -> tuple[int | None, float]:
        """Return the index of the first row that may go now, else when one may."""
        soonest = float("inf")
        seen: set[int] = set()
        for i, row in enumerate(queue):
            chat = row.message.chat_id
            if chat in seen:
                # A later message to a chat waits for the earlier one: no overtaking.
                continue
            seen.add(chat)
            if chat in self._busy_chats:
                continue
            ready = self.limiter.ready_at(chat)
            if ready <= now:
                return i, now
            soonest = min(soonest, ready)
        return None, soonest

    async def _dispatch(self, rows: list[OutboxRow]) -> None:
        queue = list(rows)
        while queue and not self._stopping:
            # Cleared before looking: an answer that comes after the look sets it again.
            self._changed.clear()
            if len(self._in_flight) >= self.window:
                await self._changed.wait()
                continue
            now = self.limiter.now()
            index, soonest = self._next_row(queue, now)
            if index is None:
                # Every chat left is busy or resting (its per-chat gap): a message to one
                # of them must not hold up the others, so wait for an answer or the rest.
                timeout = None if soonest == float("inf") else max(0.0, soonest - now)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), timeout=timeout)
                continue
            row = queue.pop(index)
            ticket = await self.limiter.wait(row.message.chat_id)
            if self._stopping or not self._allowed():
                self.limiter.sent(ticket)
                return
            self._start(row, ticket)

    def _start(self, row: OutboxRow, ticket: Ticket) -> None:
        chat = row.message.chat_id
        self._busy_chats.add(chat)
        task = asyncio.create_task(self._handle(row, ticket), name=f"outbox-{row.id}")
        self._in_flight[row.id] = task
        self.stats.most_in_flight = max(self.stats.most_in_flight, len(self._in_flight))

        def done(_: asyncio.Task[None]) -> None:
            self._in_flight.pop(row.id, None)
            self._busy_chats.discard(chat)
            self._changed.set()

        task.add_done_callback(done)

    async def _handle(self, row: OutboxRow, ticket: Ticket) -> None:
        try:
            await self._deliver(row, ticket)
        except Exception:
            log.exception("outbox message %s could not be handled", row.id)
            await self.services.store.finish_outbox(
                row.id, "failed", self.services.clock.now(), "internal error"
            )
            if self.on_finish is not None:
                self._finished.put_nowait(row.source)

    async def _deliver(self, row: OutboxRow, ticket: Ticket) -> None:
        store, message = self.services.store, row.message
        error: str | None = None
        try:
            while True:
                try:
                    try:
                        await self._send(row)
                    finally:
                        self.limiter.sent(ticket)
                    status = "sent"
                except RetryAfter as exc:
                    seconds = retry_seconds(exc)
                    self.stats.rate_limited += 1
                    self.stats.retry_after_total += seconds
                    log.warning("flood control: pausing all sending for %.0f s", seconds)
                    self.limiter.pause(seconds)
                    ticket = await self.limiter.wait(message.chat_id)
                    continue
                except Forbidden as exc:
                    status, error = "unreachable", exc.message
                    await store.set_unreachable(message.chat_id, self.services.clock.now())
                except BadRequest as exc:
                    error = exc.message
                    status = "unreachable" if "chat not found" in exc.message.lower() else "failed"
                except NetworkError as exc:
                    if not not_delivered(exc):
                        # Telegram may have it: a second copy is worse than a missing one.
                        status, error = "failed", f"{UNKNOWN_OUTCOME}: {exc}"
                        break
                    attempts = await store.retry_outbox(row.id, str(exc))
                    if attempts == 0:
                        # The row is gone: its recipient used /forget meanwhile. Not again.
                        status, error = "failed", "erased while queued"
                        break
                    self.stats.network_retries += 1
                    if attempts < self.max_attempts:
                        await asyncio.sleep(self.backoff_seconds * 2 ** (attempts - 1))
                        if not await store.outbox_queued(row.id):
                            status, error = "failed", "erased while queued"
                            break
                        ticket = await self.limiter.wait(message.chat_id)
                        continue
                    status, error = "failed", str(exc)
                break
        finally:
            # A ticket left open would hold every later reservation (RateLimiter.wait).
            self.limiter.sent(ticket)
        await store.finish_outbox(row.id, status, self.services.clock.now(), error)
        if status == "sent":
            self.stats.sent += 1
        elif status == "unreachable":
            self.stats.unreachable += 1
        elif error is not None and error.startswith(UNKNOWN_OUTCOME):
            self.stats.unknown += 1
            log.warning("outbox message %s to %s: %s", row.id, message.chat_id, error)
        else:
            self.stats.failed += 1
            log.warning("outbox message %s failed: %s", row.id, error)
        if self.on_finish is not None:
            self._finished.put_nowait(row.source)

    def recheck(self, source: str) -> None:
        """Have a source's progress looked at again, in turn with the sends that finish."""
        if self.on_finish is not None:
            self._finished.put_nowait(source)

    async def _report(self) -> None:
        # One at a time, in the background: a slow progress edit holds up no send, and two
        # messages finishing together cannot both post a broadcast's final report.
        assert self.on_finish is not None
        while True:
            source = await self._finished.get()
            sources = [source]
            while not self._finished.empty():
                sources.append(self._finished.get_nowait())
            try:
                for each in dict.fromkeys(sources):
                    try:
                        await self.on_finish(each)
                    except Exception:
                        log.exception("progress of %s not updated", each)
            finally:
                for _ in sources:
                    self._finished.task_done()

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
        pending = counts.get("pending", 0)
        done = pending == 0
        now = time.monotonic()
        if not done and now - self._last_edit.get(broadcast_id, 0.0) < self.interval:
            # Unless what is left waits for people's morning: the count shown until then
            # must be the latest, not one from a moment ago.
            held = await store.outbox_waiting(source, self.services.clock.now())
            if held < pending:
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
        if done:
            # Several sends finish together: the first hook to see none pending reported.
            return
        await self.show(broadcast_id, counts, final=False)

    async def show(self, broadcast_id: int, counts: dict[str, int], *, final: bool) -> None:
        """Edit the organizer's progress message (or send the final report)."""
        broadcast = await self.services.store.broadcast(broadcast_id)
        if broadcast is None or broadcast.progress_chat_id is None:
            return
        text, buttons = await broadcast_flow.progress(self.services, broadcast, counts, final)
        chat_id, message_id = broadcast.progress_chat_id, broadcast.progress_message_id
        # A new message, not an edit: the last copies may go at someone else's morning, the
        # organizer's night perhaps, and then it arrives without a sound.
        silent = (final or message_id is None) and await broadcast_flow.night_for_organizer(
            self.services, broadcast
        )
        try:
            if not final and message_id is None:
                # A scheduled broadcast has no message to edit yet: its first progress
                # becomes the one edited from then on.
                sent = await post_text(
                    self.bot, chat_id, text, buttons, retry=False, previews=True, silent=silent
                )
                await self.services.store.update_broadcast(broadcast_id, progress_message_id=sent)
            elif final:
                # Right after the last broadcast message this often meets flood control:
                # the final report must not be lost to it.
                await send_text(self.bot, chat_id, text, previews=True, silent=silent)
                if message_id is not None:
                    # The progress message shows the final count, not the last one it had.
                    bar = await broadcast_flow.finished_bar(self.services, broadcast, counts)
                    await edit_text(
                        self.bot,
                        chat_id,
                        message_id,
                        bar,
                        None,
                        retry=False,
                        previews=True,
                        resend=False,
                    )
            else:
                assert message_id is not None
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
        # Only the instance that sends runs the schedule (see bot/instances.py).
        self.active = True
        # Seconds between the periodic checks, the safety net for what others added.
        self.check_every = 60.0

    async def tick(self) -> int:
        """Handle every occasion due by now (once); return how many were handled."""
        if not self.active:
            return 0
        async with self._lock:
            if not self.active:
                return 0  # stopped while waiting for the tick before it
            svc = self.services
            now = svc.clock.now()
            handled = 0
            # Sorted here, by the instant: due times are stored with each workshop's offset,
            # so their text order is not their time order across time zones.
            pending = await svc.store.pending_schedule()
            rows = sorted((r for r in pending if r.due_at <= now), key=lambda r: (r.due_at, r.id))
            together: dict[int, list[ScheduledRow]] = {}
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
                if reminders.waits_to_merge(row, pending, now):
                    continue  # the workshop's next occasion is minutes away: one message
                together.setdefault(row.workshop_id, []).append(row)
            for group in together.values():
                handled += await self._send_together(group, now)
            for broadcast in await svc.store.broadcasts_with_status(BroadcastStatus.SCHEDULED):
                if broadcast.scheduled_at is not None and broadcast.scheduled_at <= now:
                    if await broadcast_flow.waits_for_morning(svc, broadcast, now):
                        continue  # due in the night (the bot was down): sent in the morning
                    await broadcast_flow.launch(svc, broadcast.id)
                    handled += 1
            # A broadcast whose last waiting copies were erased (/forget, retention) has no
            # send left to finish it: its report is posted here.
            for broadcast in await svc.store.broadcasts_with_status(BroadcastStatus.SENDING):
                source = f"bc:{broadcast.id}"
                if (await svc.store.outbox_counts(source)).get("pending", 0) == 0:
                    self.sender.recheck(source)
            # Overdue steps, nudges and digests follow from the data, not from schedule rows.
            handled += await checkins.follow_up_tick(svc, now)
            handled += await progress.digest_tick(svc, now)
            await retention.retention_tick(svc, now)
            # Also when nothing was handled: a message held for someone's morning may be due.
            self.sender.wake()
            return handled

    async def _send_together(self, group: list[ScheduledRow], now: datetime) -> int:
        """Compose a workshop's occasions due now; each person gets them as one message."""
        svc = self.services
        composed = [(row, *await reminders.compose(svc, row, now)) for row in group]
        if len(composed) > 1:
            merged = reminders.merge([messages for _, _, messages in composed])
            closes = [(row.id, status) for row, status, _ in composed]
            if merged is not None:
                if await svc.store.complete_scheduled_together(closes, merged, now):
                    log.info("sent %s together", ", ".join(row.key for row in group))
                    return len(group)
                return 0
        handled = 0
        for row, status, messages in composed:
            if await svc.store.complete_scheduled(row.id, status, messages, now):
                handled += 1
                if status == "skipped":
                    log.info(
                        "skipped %s of workshop %s: no longer useful", row.key, row.workshop_id
                    )
        return handled

    def disarm(self, *, periodic: bool = True) -> None:
        """Remove the armed jobs (with `periodic`, the minute check too)."""
        if self.job_queue is None:
            return
        for job in self.job_queue.jobs():
            if job.name and (
                job.name.startswith(self.JOB_PREFIX) or (periodic and job.name == "tick")
            ):
                job.schedule_removal()

    async def _job(self, context: ContextTypes.DEFAULT_TYPE) -> None:
        await self.tick()
        await self.arm()

    async def arm(self) -> int:
        """Arm one job at the soonest future occasion, plus a periodic check; return how many wait.

        One job, re-armed after each run, rather than one per occasion: a database holding
        thousands of reminders months ahead would otherwise spend seconds at every start
        creating scheduler jobs.
        """
        if self.job_queue is None or not self.active:
            return 0
        self.disarm(periodic=False)
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
            self.job_queue.run_repeating(self._job, interval=self.check_every, first=1, name="tick")
        return len(moments)


@dataclass
class Delivery:
    """The host-side services that send on their own: outbox, reminders, progress."""

    sender: OutboxSender
    runner: ReminderRunner
    tracker: BroadcastTracker

    async def start(self) -> None:
        """Resume what was interrupted, arm the schedule and start sending."""
        self.runner.active = True
        await broadcast_flow.resume_interrupted(self.sender.services)
        await self.runner.arm()
        await self.runner.tick()
        self.sender.start()

    async def stop(self) -> None:
        """Stop sending after the messages in flight, and stop running the schedule."""
        self.runner.active = False
        self.runner.disarm()
        stopping = asyncio.ensure_future(self.sender.stop())
        # The sender can clear its wake-up event just after stop() set it (when it was
        # reading the outbox at that moment) and then sleep: waking it until it stops avoids that.
        while not stopping.done():
            self.sender.wake()
            await asyncio.wait({stopping}, timeout=0.1)
        stopping.result()


def build_delivery(
    bot: Bot,
    services: Services,
    job_queue: JobQueue[Any] | None,
    limits: Limits | None = None,
    *,
    instance: str = "local",
    idle_poll: float = 15.0,
) -> Delivery:
    """Wire the sender, the reminder runner and the broadcast tracker together."""
    tracker = BroadcastTracker(bot, services)
    sender = OutboxSender(
        bot,
        services,
        RateLimiter(limits or Limits()),
        tracker.on_finish,
        instance=instance,
        idle_poll=idle_poll,
    )

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
        event = row.payload.get("event")
        event_id = event if isinstance(event, str) else None
        events = await reports.evaluation_report(services, workshop, lang, event_id)
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
