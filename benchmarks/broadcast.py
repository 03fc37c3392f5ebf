"""Broadcast benchmark: the real Application sends one broadcast through the Bot API double.

Run with::

    .venv/bin/python -m benchmarks.broadcast            # full: 5,000 participants, 3 runs
    .venv/bin/python -m benchmarks.broadcast --quick    # 600 participants, 2 runs
    .venv/bin/python -m benchmarks.broadcast --rtt 250 --rtt-jitter 20   # a distant Telegram

Each run gets a fresh temporary SQLite database and a fresh BotApiDouble on 127.0.0.1 that
enforces Telegram's limits (30 messages/s overall, 1/s per chat, 20/min per group). The bot
is built with the production factory (`bot.app.build_application`) and started like
`python -m bot run` does, so the real `OutboxSender` and `RateLimiter` do the sending.

`--rtt MS` makes the double hold every Bot API call that long before answering it (with
`--rtt-jitter MS`, a different time for each call, uniform within ± that much), as a
network between the bot and Telegram would: the sender must keep several messages in flight
to reach 30/s.

Three scenarios, each a set of runs, and the median of every figure over the runs:

* matching limits: messages per second between the first and the last accepted send
  (goal: at least 95 % of 30/s), 429 replies (goal: 0), and every recipient has exactly one
  copy;
* injected 429s: `--inject` flood-control replies with `--retry-after` seconds, spread evenly
  through the broadcast; total time (first to last accepted send) against the ideal,
  (N - 1)/30 s plus the sum of every retry_after the double sent (goal: within 5 %);
* reminders: `--reminders` participants, the clock moved to the DGCA's opening and one
  reminder tick run as the JobQueue would; the time from the first invitation the double
  accepted to the last (goal: within 8 s for 200).

The benchmark asserts nothing; it prints its figures. Ctrl-C stops it cleanly.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import logging
import os
import platform
import random
import re
import signal
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

import telegram

import content as content_pkg
from bot.apidouble import BotApiDouble, RateLimits
from bot.app import ALLOWED_UPDATES, BotApplication, build_application
from bot.content import Content, load_content, load_workshop_file
from bot.delivery import Delivery, SenderStats
from bot.flows import broadcast as broadcast_flow
from bot.flows.workshops import import_workshop
from bot.i18n import I18n
from bot.services import Services
from bot.settings import Settings

TOKEN = "123456:BENCH-TOKEN"
CONTENT_DIR = content_pkg.DEFAULT_DIR
WORKSHOP_FILE = CONTENT_DIR / "workshops" / "cochabamba-2023.yaml"
PER_SECOND = 30
PER_CHAT_SECONDS = 1
PER_GROUP_PER_MINUTE = 20
# A week before the workshop's first automatic message (the DGCA opens on 2023-11-20 at
# 09:00 La Paz): no reminder falls due during a run, so only the broadcast is sent.
CLOCK_START = datetime(2023, 11, 13, 13, 0, tzinfo=UTC)
BROADCAST_TEXT = "Recordatorio: mañana empezamos a las 09:00 en punto. ¡Les esperamos!"
INJECTED_MARK = "[injected by the benchmark]"
RETRY_AFTER = re.compile(r"retry after (\d+)")
PROGRESS_EVERY = 15.0
# The DGCA opens on 2023-11-20 at 09:00 La Paz: every participant who has not answered it is
# invited then.
DGCA_OPENS = datetime(2023, 11, 20, 13, 0, tzinfo=UTC)
REMINDER_GOAL_S = 8.0
# Jittered delays armed ahead of the calls that will take them (one per call).
JITTER_STOCK = 200

T = TypeVar("T")

log = logging.getLogger("benchmarks.broadcast")


class BenchClock:
    """Real time, shifted so that it starts a week before the workshop's first reminder."""

    def __init__(self, start: datetime = CLOCK_START) -> None:
        self._start = start
        self._t0 = time.monotonic()

    def now(self) -> datetime:
        return self._start + timedelta(seconds=time.monotonic() - self._t0)

    def jump(self, to: datetime) -> None:
        """Move the clock to `to`; it runs on in real time from there."""
        self._start, self._t0 = to, time.monotonic()


class LogCounter(logging.Handler):
    """Count the bot's warnings and errors (they are shown too, errors only)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.counts: Counter[int] = Counter()

    def emit(self, record: logging.LogRecord) -> None:
        self.counts[record.levelno] += 1

    @property
    def errors(self) -> int:
        return sum(n for level, n in self.counts.items() if level >= logging.ERROR)


@dataclass
class RunResult:
    """The figures of one run."""

    scenario: str
    participants: int
    setup_s: float = 0.0
    complete: bool = False
    sent: int = 0
    span_s: float = 0.0
    rate: float = 0.0
    http_429: int = 0
    injected_429: int = 0
    retry_after_sum: float = 0.0
    injected_retry_after_sum: float = 0.0
    missing: int = 0
    duplicates: int = 0
    unexpected: int = 0
    gap_p50_ms: float = 0.0
    gap_p99_ms: float = 0.0
    gap_max_ms: float = 0.0
    sender_sent: int = 0
    sender_429: int = 0
    sender_unknown: int = 0
    most_in_flight: int = 0
    log_errors: int = 0
    violations: int = 0
    load: float = 0.0

    @property
    def percent(self) -> float:
        return 100.0 * self.rate / PER_SECOND

    @property
    def limit_429(self) -> int:
        """429s the double's limits caused (not the injected ones)."""
        return self.http_429 - self.injected_429

    @property
    def ideal_s(self) -> float:
        """N sends take N - 1 intervals of 1/30 s, plus every wait the double asked for."""
        return max(self.participants - 1, 0) / PER_SECOND + self.retry_after_sum

    @property
    def ratio(self) -> float:
        return self.span_s / self.ideal_s if self.ideal_s > 0 else 0.0

    @property
    def ideal_injected_s(self) -> float:
        """The ideal if the injected 429s were the only ones."""
        return max(self.participants - 1, 0) / PER_SECOND + self.injected_retry_after_sum

    @property
    def ratio_injected(self) -> float:
        return self.span_s / self.ideal_injected_s if self.ideal_injected_s > 0 else 0.0


# ---------------------------------------------------------------------- the application


def bench_settings(double: BotApiDouble, database_url: str) -> Settings:
    return Settings(
        telegram_bot_token=TOKEN,
        telegram_api_url=double.url,
        database_url=database_url,
        bot_admin_ids="999",
        content_dir=CONTENT_DIR,
        send_per_second=PER_SECOND,
        send_per_chat_seconds=PER_CHAT_SECONDS,
        send_per_group_per_minute=PER_GROUP_PER_MINUTE,
        _env_file=None,
    )


async def start_app(app: BotApplication) -> None:
    """Start the application the way `python -m bot run` does (as tests/e2e/harness.py)."""
    await app.initialize()
    assert app.post_init is not None
    await app.post_init(app)
    assert app.updater is not None
    await app.updater.start_polling(poll_interval=0.0, timeout=5, allowed_updates=ALLOWED_UPDATES)
    await app.start()


async def stop_app(app: BotApplication) -> None:
    """Stop whatever part of the application is running (safe to call after a failed start)."""
    if app.updater is not None and app.updater.running:
        await app.updater.stop()
    if app.running:
        await app.stop()
    if app.post_stop is not None:
        await app.post_stop(app)
    await app.shutdown()
    if app.post_shutdown is not None:
        await app.post_shutdown(app)


def services_of(app: BotApplication) -> Services:
    services = app.bot_data.services
    assert services is not None, "post_init did not run"
    return services


def delivery_of(app: BotApplication) -> Delivery:
    delivery = app.bot_data.delivery
    assert delivery is not None, "post_init did not run"
    return delivery


# ---------------------------------------------------------------------- one run


async def populate(
    double: BotApiDouble, app: BotApplication, participants: int
) -> tuple[int, int, list[int]]:
    """Import the workshop, add an organizer and N consenting participants.

    Return the workshop id, the organizer's id and the participants' chat ids.
    """
    svc, delivery = services_of(app), delivery_of(app)
    store = svc.store
    spec = load_workshop_file(WORKSHOP_FILE)
    result = await import_workshop(svc, spec, str(WORKSHOP_FILE), svc.clock.now())
    await delivery.runner.arm()
    delivery.sender.wake()
    workshop_id = result.workshop.id
    organizer = double.new_user("Olga", "Organizadora", started=True)
    await store.add_organizer(workshop_id, organizer.id, svc.clock.now())
    institutions = spec.institutions or ["Institución"]
    chat_ids: list[int] = []
    for i in range(participants):
        # started=True: the person has written to the bot, so the bot may write to them.
        user = double.new_user(f"Participante{i}", "Bench", language_code="es", started=True)
        participant, _ = await store.join(
            workshop_id=workshop_id, telegram_id=user.id, language="es", now=svc.clock.now()
        )
        await store.update_profile(participant.id, field="name", value=f"Participante {i}")
        await store.update_profile(
            participant.id, field="institution", value=institutions[i % len(institutions)]
        )
        await store.mark_profile_done(participant.id)
        chat_ids.append(user.id)
    return workshop_id, organizer.id, chat_ids


async def timed_populate(
    result: RunResult, double: BotApiDouble, app: BotApplication
) -> tuple[int, int, list[int]]:
    """Populate the run's participants, as `populate`, and note how long it took."""
    started = time.monotonic()
    populated = await populate(double, app, result.participants)
    result.setup_s = time.monotonic() - started
    return populated


async def inject_evenly(
    double: BotApiDouble, base_accepted: int, total: int, count: int, retry_after: int
) -> None:
    """Arm one 429 each time another total/(count+1) sends have been accepted."""

    def reached(threshold: int) -> Callable[[], bool]:
        return lambda: double.stats.sends_accepted - base_accepted >= threshold

    for k in range(1, count + 1):
        await double.wait_for(reached(round(total * k / (count + 1))), timeout=3600)
        double.inject(
            "sendMessage",
            status=429,
            retry_after=retry_after,
            description=f"Too Many Requests: retry after {retry_after} {INJECTED_MARK}",
        )


async def report_progress(
    label: str, double: BotApiDouble, base_accepted: int, base_429: int, total: int
) -> None:
    while True:
        await asyncio.sleep(PROGRESS_EVERY)
        sent = double.stats.sends_accepted - base_accepted
        limited = double.stats.rate_limited - base_429
        print(f"  {label}: {sent}/{total} sent, {limited} × 429", file=sys.stderr, flush=True)


def percentile(values: Sequence[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


class Stopped(Exception):
    """Ctrl-C or SIGTERM: stop after cleaning up."""


async def interruptible(work: Awaitable[T], stop: asyncio.Event) -> T:
    """Await `work` unless `stop` is set first; then cancel it and raise Stopped.

    The work is cancelled until it is done: on Python 3.11, asyncio.wait_for (used by the
    double and the bot) can swallow a single cancellation.
    """
    task = asyncio.ensure_future(work)
    stopper = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopper.cancel()
    if task.done():
        return task.result()
    while not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=0.5)
    with contextlib.suppress(asyncio.CancelledError, Exception):
        task.result()
    raise Stopped


async def one_run(
    label: str,
    scenario: str,
    participants: int,
    env: Environment,
    inject: int = 0,
    retry_after: int = 0,
) -> RunResult:
    """Broadcast once to `participants` people on a fresh database and double; measure it."""
    result = RunResult(scenario, participants)
    errors_before = env.logs.errors
    helpers: list[asyncio.Task[None]] = []
    async with contextlib.AsyncExitStack() as stack:
        tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-broadcast-"))
        database_url = f"sqlite:///{Path(tmp) / 'bot.sqlite3'}"
        limits = RateLimits(
            global_per_second=PER_SECOND,
            per_chat_per_second=PER_CHAT_SECONDS,
            per_group_per_minute=PER_GROUP_PER_MINUTE,
        )
        double = BotApiDouble(token=TOKEN, bot_username="taller_bench_bot", limits=limits)
        await double.start()
        stack.push_async_callback(double.stop)
        stack.push_async_callback(cancel_all, helpers)
        if env.rtt > 0:
            helpers.append(asyncio.create_task(network(double, env.rtt, env.jitter)))
        settings = bench_settings(double, database_url)
        clock = BenchClock()
        app = build_application(settings, env.content, env.i18n, clock=clock)
        stack.push_async_callback(stop_app, app)
        await interruptible(start_app(app), env.stop)
        if scenario == "reminders":
            work = measure_reminders(label, result, double, app, clock)
        else:
            work = measure(label, result, double, app, helpers, inject, retry_after)
        await interruptible(work, env.stop)
    result.violations = len(double.violations)
    result.log_errors = env.logs.errors - errors_before
    result.load = os.getloadavg()[0]
    return result


async def network(double: BotApiDouble, rtt: float, jitter: float) -> None:
    """Hold every Bot API call `rtt` seconds (± up to `jitter`, a new draw for each call).

    The double holds one delay per armed entry, taken by the next call, so the jittered
    ones are kept in stock ahead of the calls.
    """
    if jitter <= 0:
        double.delay("*", rtt, times=10**9)
        return
    rng = random.Random(20231120)
    while True:
        stocked = len(double.requests)
        for _ in range(JITTER_STOCK):
            double.delay("*", max(0.0, rng.uniform(rtt - jitter, rtt + jitter)))
        # Top up when half of the stock has been taken, at most every 50 ms.
        await double.wait_for(
            lambda stocked=stocked: len(double.requests) - stocked >= JITTER_STOCK // 2,
            timeout=24 * 3600,
            poll_interval=0.05,
        )


async def cancel_all(tasks: list[asyncio.Task[None]]) -> None:
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def measure(
    label: str,
    result: RunResult,
    double: BotApiDouble,
    app: BotApplication,
    helpers: list[asyncio.Task[None]],
    inject: int,
    retry_after: int,
) -> None:
    """Populate the database, launch the broadcast, wait for it and fill in `result`."""
    svc, delivery = services_of(app), delivery_of(app)
    workshop_id, organizer_id, chat_ids = await timed_populate(result, double, app)

    # From here on the only sends are the broadcast's (no progress chat is set).
    base_accepted = double.stats.sends_accepted
    base_429 = double.stats.rate_limited
    sender = delivery.sender.stats
    base = Baseline.take(double, sender)
    base_finished = finished(sender)

    store = svc.store
    broadcast_id = await store.create_broadcast(workshop_id, organizer_id, "all", svc.clock.now())
    await store.update_broadcast(broadcast_id, text=BROADCAST_TEXT)
    queued = await broadcast_flow.launch(svc, broadcast_id)
    if queued != result.participants:
        print(f"  {label}: launch queued {queued} of {result.participants}", file=sys.stderr)
    delivery.sender.wake()

    helpers.append(
        asyncio.create_task(report_progress(label, double, base_accepted, base_429, queued))
    )
    if inject:
        helpers.append(
            asyncio.create_task(inject_evenly(double, base_accepted, queued, inject, retry_after))
        )

    # A safety net only (nothing is asserted): four times the ideal, plus a minute.
    budget = (queued / PER_SECOND + inject * retry_after) * 4 + 60
    try:
        await double.wait_for(
            lambda: double.stats.sends_accepted - base_accepted >= queued, timeout=budget
        )
        # Every row finished (sent, unreachable or failed) and none is left queued.
        await double.wait_for(
            lambda: finished(sender) - base_finished >= queued,
            timeout=30,
            poll_interval=0.05,
        )
        result.complete = not await store.pending_outbox(1)
    except AssertionError:
        print(f"  {label}: incomplete after {budget:.0f} s", file=sys.stderr)

    tally(result, double, sender, base, chat_ids, BROADCAST_TEXT)


@dataclass(frozen=True)
class Baseline:
    """Where the double's and the sender's counts stood before the measured sends."""

    times: int
    requests: int
    sent: int
    limited: int
    unknown: int

    @classmethod
    def take(cls, double: BotApiDouble, sender: SenderStats) -> Baseline:
        """Read the counts now."""
        return cls(
            len(double.stats.accepted_times),
            len(double.requests),
            sender.sent,
            sender.rate_limited,
            sender.unknown,
        )


def tally(
    result: RunResult,
    double: BotApiDouble,
    sender: SenderStats,
    base: Baseline,
    chat_ids: list[int],
    text: str | None,
) -> None:
    """Fill in what the double and the sender saw since `base`; `text` None: any message."""
    times = double.stats.accepted_times[base.times :]
    result.sent = len(times)
    if len(times) >= 2:
        result.span_s = times[-1] - times[0]
        result.rate = (len(times) - 1) / result.span_s if result.span_s > 0 else 0.0
        gaps = [(b - a) * 1000 for a, b in itertools.pairwise(times)]
        result.gap_p50_ms = percentile(gaps, 0.50)
        result.gap_p99_ms = percentile(gaps, 0.99)
        result.gap_max_ms = max(gaps)
    for request in double.requests[base.requests :]:
        if request.status != 429:
            continue
        description = request.description or ""
        match = RETRY_AFTER.search(description)
        seconds = int(match.group(1)) if match else 0
        result.http_429 += 1
        result.retry_after_sum += seconds
        if INJECTED_MARK in description:
            result.injected_429 += 1
            result.injected_retry_after_sum += seconds
    for chat_id in chat_ids:
        messages = double.chat_messages(chat_id)
        copies = sum(1 for m in messages if text is None or m.text == text)
        result.unexpected += len(messages) - copies
        if copies == 0:
            result.missing += 1
        elif copies > 1:
            result.duplicates += copies - 1
    result.sender_sent = sender.sent - base.sent
    result.sender_429 = sender.rate_limited - base.limited
    result.sender_unknown = sender.unknown - base.unknown
    result.most_in_flight = sender.most_in_flight


def finished(stats: SenderStats) -> int:
    """Return how many outbox rows the sender has finished, whatever their outcome."""
    return stats.sent + stats.unreachable + stats.failed + stats.unknown


async def measure_reminders(
    label: str, result: RunResult, double: BotApiDouble, app: BotApplication, clock: BenchClock
) -> None:
    """Move the clock to the DGCA's opening, run one reminder tick and time the invitations."""
    svc, delivery = services_of(app), delivery_of(app)
    _, _, chat_ids = await timed_populate(result, double, app)
    sender = delivery.sender.stats
    base = Baseline.take(double, sender)
    clock.jump(DGCA_OPENS)
    # What the JobQueue's job does when the occasion falls due.
    await delivery.runner.tick()
    try:
        await double.wait_for(
            lambda: all(double.chat_messages(c) for c in chat_ids),
            timeout=result.participants / PER_SECOND * 4 + 60,
            poll_interval=0.05,
        )
        await double.wait_for(lambda: delivery.sender.in_flight == 0, timeout=30)
        result.complete = not await svc.store.pending_outbox(1)
    except AssertionError:
        print(f"  {label}: incomplete", file=sys.stderr)
    tally(result, double, sender, base, chat_ids, None)


# ---------------------------------------------------------------------- printing


@dataclass(frozen=True)
class Column:
    title: str
    value: Callable[[RunResult], float]
    digits: int = 0


MATCHING_COLUMNS = [
    Column("participants", lambda r: r.participants),
    Column("setup s", lambda r: r.setup_s, 1),
    Column("sent", lambda r: r.sent),
    Column("span s", lambda r: r.span_s, 2),
    Column("msgs/s", lambda r: r.rate, 2),
    Column("% of 30/s", lambda r: r.percent, 1),
    Column("429s", lambda r: r.http_429),
    Column("missing", lambda r: r.missing),
    Column("duplicates", lambda r: r.duplicates),
    Column("gap p50 ms", lambda r: r.gap_p50_ms, 1),
    Column("gap p99 ms", lambda r: r.gap_p99_ms, 1),
    Column("gap max ms", lambda r: r.gap_max_ms, 0),
    Column("in flight", lambda r: r.most_in_flight),
    Column("unknown", lambda r: r.sender_unknown),
    Column("load", lambda r: r.load, 2),
]

REMINDER_COLUMNS = [
    Column("participants", lambda r: r.participants),
    Column("setup s", lambda r: r.setup_s, 1),
    Column("sent", lambda r: r.sent),
    Column("first→last s", lambda r: r.span_s, 2),
    Column("msgs/s", lambda r: r.rate, 2),
    Column("429s", lambda r: r.http_429),
    Column("missing", lambda r: r.missing),
    Column("duplicates", lambda r: r.duplicates),
    Column("in flight", lambda r: r.most_in_flight),
    Column("load", lambda r: r.load, 2),
]

INJECTED_COLUMNS = [
    Column("participants", lambda r: r.participants),
    Column("sent", lambda r: r.sent),
    Column("429s", lambda r: r.http_429),
    Column("injected", lambda r: r.injected_429),
    Column("by limits", lambda r: r.limit_429),
    Column("Σ retry_after s", lambda r: r.retry_after_sum),
    Column("total s", lambda r: r.span_s, 2),
    Column("ideal s", lambda r: r.ideal_s, 2),
    Column("over ideal %", lambda r: (r.ratio - 1) * 100, 2),
    Column("ideal¹ s", lambda r: r.ideal_injected_s, 2),
    Column("over ideal¹ %", lambda r: (r.ratio_injected - 1) * 100, 2),
    Column("missing", lambda r: r.missing),
    Column("duplicates", lambda r: r.duplicates),
    Column("load", lambda r: r.load, 2),
]


def render(title: str, columns: list[Column], results: list[RunResult]) -> str:
    header = ["run", *(c.title for c in columns)]
    rows = [
        [str(i), *(f"{c.value(r):.{c.digits}f}" for c in columns)] for i, r in enumerate(results, 1)
    ]
    if results:
        rows.append(
            [
                "median",
                *(
                    f"{statistics.median(c.value(r) for r in results):.{c.digits}f}"
                    for c in columns
                ),
            ]
        )
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        return "  ".join(cell.rjust(width) for cell, width in zip(cells, widths, strict=True))

    out = [title, line(header), line(["-" * w for w in widths])]
    out.extend(line(row) for row in rows)
    checks = []
    for r in results:
        if not r.complete:
            checks.append("incomplete run")
        if r.log_errors:
            checks.append(f"{r.log_errors} error log line(s)")
        if r.unexpected:
            checks.append(f"{r.unexpected} message(s) other than the broadcast to participants")
        if r.violations:
            checks.append(f"{r.violations} protocol violation(s)")
        if r.sender_429 != r.http_429:
            checks.append(f"sender saw {r.sender_429} 429s, double sent {r.http_429}")
    if checks:
        out.append("  attention: " + "; ".join(sorted(set(checks))))
    return "\n".join(out)


def goals(
    matching: list[RunResult], injected: list[RunResult], reminded: Sequence[RunResult] = ()
) -> str:
    """Return the goals with the medians measured and a verdict for each."""
    rows: list[tuple[str, str, bool]] = []
    if matching:
        pct = statistics.median(r.percent for r in matching)
        n429 = statistics.median(r.http_429 for r in matching)
        rows.append(("throughput ≥ 95 % of 30/s", f"{pct:.1f} %", pct >= 95))
        rows.append(("no 429 with matching limits", f"{n429:.0f}", n429 == 0))
    everything = [*matching, *injected, *reminded]
    if everything:
        exact = all(r.missing == 0 and r.duplicates == 0 for r in everything)
        rows.append(("exactly one copy per recipient", "yes" if exact else "no", exact))
    if injected:
        over = statistics.median((r.ratio - 1) * 100 for r in injected)
        over1 = statistics.median((r.ratio_injected - 1) * 100 for r in injected)
        rows.append(("injected: total within 5 % of ideal", f"{over:+.2f} %", abs(over) <= 5))
        rows.append(("injected: total within 5 % of ideal¹", f"{over1:+.2f} %", abs(over1) <= 5))
    if reminded:
        span = statistics.median(r.span_s for r in reminded)
        name = f"reminders: first to last ≤ {REMINDER_GOAL_S:.0f} s"
        rows.append((name, f"{span:.2f} s", span <= REMINDER_GOAL_S))
    width = max((len(name) for name, _, _ in rows), default=0)
    load = os.getloadavg()
    lines = [f"Goals (medians over the runs); load average now {load[0]:.2f} {load[1]:.2f}"]
    lines.extend(f"  {name.ljust(width)}  {value:>9}  {verdict(ok)}" for name, value, ok in rows)
    return "\n".join(lines)


def verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for text in Path("/proc/cpuinfo").read_text().splitlines():
            if text.startswith("model name"):
                cpu = text.split(":", 1)[1].strip()
                break
    nproc = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return (
        f"python {platform.python_version()} ({platform.python_implementation()}), "
        f"python-telegram-bot {telegram.__version__}, {platform.system()} {platform.release()}, "
        f"nproc {nproc}, {cpu}"
    )


# ---------------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.broadcast",
        description="Broadcast through the Bot API double at 30 msgs/s and 1/s per chat.",
    )
    parser.add_argument("--participants", type=int, default=None, help="default 5000")
    parser.add_argument("--runs", type=int, default=None, help="runs per scenario, default 3")
    parser.add_argument("--inject", type=int, default=5, help="429s to inject (0: skip)")
    parser.add_argument("--retry-after", type=int, default=2, help="their retry_after, s")
    parser.add_argument(
        "--inject-participants",
        type=int,
        default=None,
        help="participants of the injected scenario (default: as --participants)",
    )
    parser.add_argument(
        "--reminders", type=int, default=200, help="participants reminded at once (0: skip)"
    )
    parser.add_argument("--rtt", type=float, default=0.0, help="round trip of every call, ms")
    parser.add_argument(
        "--rtt-jitter", type=float, default=0.0, help="± this much on each round trip, ms"
    )
    parser.add_argument(
        "--quick", action="store_true", help="600 participants, 2 runs (a fast check)"
    )
    args = parser.parse_args(argv)
    if args.participants is None:
        args.participants = 600 if args.quick else 5000
    if args.runs is None:
        args.runs = 2 if args.quick else 3
    if args.inject_participants is None:
        args.inject_participants = args.participants
    if args.participants < 2 or args.inject_participants < 2 or args.runs < 1:
        parser.error("need at least 2 participants and 1 run")
    if args.inject < 0 or args.retry_after < 1:
        parser.error("--inject must be ≥ 0 and --retry-after ≥ 1")
    if args.reminders < 0 or args.rtt < 0 or args.rtt_jitter < 0:
        parser.error("--reminders, --rtt and --rtt-jitter must be ≥ 0")
    return args


@dataclass
class Environment:
    """What every run shares: content, texts, the log counter and the stop request."""

    content: Content
    i18n: I18n
    logs: LogCounter
    stop: asyncio.Event
    rtt: float = 0.0
    jitter: float = 0.0


async def bench(args: argparse.Namespace) -> None:
    """Run both scenarios and print the figures (also those finished before a stop)."""
    loop = asyncio.get_running_loop()
    main_task = asyncio.current_task()
    stop = asyncio.Event()
    presses = 0

    def on_signal() -> None:
        # The first Ctrl-C (or SIGTERM) stops cleanly; a second one gives up waiting.
        nonlocal presses
        presses += 1
        stop.set()
        if presses == 1:
            print("\nstopping: cleaning up the application and the double...", file=sys.stderr)
        elif main_task is not None:
            main_task.cancel()

    signals = (signal.SIGINT, signal.SIGTERM)
    for sig in signals:
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, on_signal)
    logs = LogCounter()
    logging.getLogger().addHandler(logs)
    env = Environment(
        load_content(CONTENT_DIR),
        I18n.load(CONTENT_DIR / "locales"),
        logs,
        stop,
        rtt=args.rtt / 1000,
        jitter=args.rtt_jitter / 1000,
    )
    matching: list[RunResult] = []
    injected: list[RunResult] = []
    reminded: list[RunResult] = []
    expected = args.runs * (
        args.participants / PER_SECOND
        + (
            args.inject_participants / PER_SECOND + args.inject * args.retry_after
            if args.inject
            else 0
        )
    )
    print(f"Broadcast benchmark: {machine()}")
    print(f"Network: {network_text(args)}; load average {load_text()}")
    print(f"sending alone takes about {expected / 60:.1f} min, plus setup", flush=True)
    try:
        for run in range(1, args.runs + 1):
            label = f"matching limits, run {run}/{args.runs}"
            print(f"  {label}: {args.participants} participants", file=sys.stderr, flush=True)
            result = await one_run(label, "matching", args.participants, env)
            matching.append(result)
            print(
                f"  {label}: {result.rate:.2f} msgs/s ({result.percent:.1f} %), "
                f"{result.http_429} × 429, {result.missing} missing, "
                f"{result.duplicates} duplicates",
                file=sys.stderr,
                flush=True,
            )
        for run in range(1, args.runs + 1 if args.inject else 1):
            label = f"{args.inject} injected 429s, run {run}/{args.runs}"
            print(
                f"  {label}: {args.inject_participants} participants", file=sys.stderr, flush=True
            )
            result = await one_run(
                label,
                "injected",
                args.inject_participants,
                env,
                inject=args.inject,
                retry_after=args.retry_after,
            )
            injected.append(result)
            print(
                f"  {label}: {result.span_s:.2f} s against {result.ideal_s:.2f} s ideal "
                f"({(result.ratio - 1) * 100:+.2f} %)",
                file=sys.stderr,
                flush=True,
            )
        for run in range(1, args.runs + 1 if args.reminders else 1):
            label = f"reminders, run {run}/{args.runs}"
            print(f"  {label}: {args.reminders} participants", file=sys.stderr, flush=True)
            result = await one_run(label, "reminders", args.reminders, env)
            reminded.append(result)
            print(
                f"  {label}: first to last in {result.span_s:.2f} s, {result.missing} missing",
                file=sys.stderr,
                flush=True,
            )
    finally:
        logging.getLogger().removeHandler(logs)
        for sig in signals:
            with contextlib.suppress(NotImplementedError):
                loop.remove_signal_handler(sig)
        report(args, matching, injected, reminded)


def network_text(args: argparse.Namespace) -> str:
    """Describe the simulated network."""
    if not args.rtt:
        return "no delay (round trip on 127.0.0.1)"
    jitter = f" ± {args.rtt_jitter:g} ms" if args.rtt_jitter else ""
    return f"every Bot API call held {args.rtt:g} ms{jitter}"


def load_text() -> str:
    """Return the load average over 1, 5 and 15 minutes."""
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def report(
    args: argparse.Namespace,
    matching: list[RunResult],
    injected: list[RunResult],
    reminded: list[RunResult],
) -> None:
    """Print every finished run and the medians (only finished runs after Ctrl-C)."""
    planned = args.runs * (1 + bool(args.inject) + bool(args.reminders))
    done = len(matching) + len(injected) + len(reminded)
    print()
    if done < planned:
        print(f"Interrupted: {done} of {planned} runs finished.")
    print(f"Date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    print(f"Machine: {machine()}")
    print(f"Network: {network_text(args)}")
    print(f"Load average (1, 5, 15 min): {load_text()}")
    print(
        f"Limits: the double enforces {PER_SECOND}/s overall and 1/s per chat; "
        f"the bot is configured with SEND_PER_SECOND={PER_SECOND}, "
        f"SEND_PER_CHAT_SECONDS={PER_CHAT_SECONDS}"
    )
    if matching:
        print()
        print(
            render(
                "Matching limits: one broadcast to every participant", MATCHING_COLUMNS, matching
            )
        )
    if injected:
        print()
        print(
            render(
                f"Injected 429s: {args.inject} × retry_after={args.retry_after} s, "
                "spread evenly through the broadcast",
                INJECTED_COLUMNS,
                injected,
            )
        )
        print(
            "  total: first to last accepted send; ideal = (N-1)/30 s + Σ retry_after of"
            " every 429 the double sent;\n  ideal¹ = (N-1)/30 s + Σ retry_after of the"
            " injected 429s only (what it would be if the limits caused none)"
        )
    if reminded:
        print()
        print(
            render(
                f"Reminders: the DGCA's invitation to {args.reminders} participants at once",
                REMINDER_COLUMNS,
                reminded,
            )
        )
    if matching or injected or reminded:
        print()
        print(goals(matching, injected, reminded))


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    # Show the bot's errors; warnings (flood control) are expected and only counted.
    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger().setLevel(logging.WARNING)
    for handler in logging.getLogger().handlers:
        if not isinstance(handler, LogCounter):
            handler.setLevel(logging.ERROR)
    try:
        asyncio.run(bench(args))
    except (Stopped, KeyboardInterrupt, asyncio.CancelledError):
        print("stopped: the application and the double were shut down", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
