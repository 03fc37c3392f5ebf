"""Flood benchmark: does one participant sending 50 messages a second slow the others down?

Run with::

    .venv/bin/python -m benchmarks.flood             # 20 participants, 8 answers a phase, 3 rounds
    .venv/bin/python -m benchmarks.flood --quick     # 3 participants, 2 answers, 1 round

Each round gets a fresh SQLite database, a fresh BotApiDouble on 127.0.0.1 and a fresh
`python -m bot run` process pointed at it. The participants have joined the example workshop
(content/workshops/cochabamba-2023.yaml) through the Store and opened the DGCA. Each round
has two phases, measured the same way, one after the other:

* calm: every participant answers `--answers` statements, one tap at a time, pausing
  `--think` seconds between taps (so that the bot's replies stay within Telegram's limit of
  one message a second per chat);
* flood: the same while one more participant sends `--rate` text messages a second.

Latency is the time from a participant's tap (the update entering the double) to the
moment the double holds the bot's next statement for them. The figures are p50 and p99 per
phase and round, and the medians over the rounds with the ratio flood / calm.

By default the double enforces Telegram's limits (30 messages/s overall, 1/s per private
chat); `--no-limits` turns them off. The benchmark asserts nothing; it prints its figures.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import content as content_pkg
from bot.apidouble import BotApiDouble, ChatMessage, RateLimits, SimUser
from bot.content import load_content, load_workshop_file
from bot.flows.workshops import import_workshop
from bot.i18n import I18n
from bot.services import Services
from storage import open_store
from tests.realproc import BotProcess

TOKEN = "123456:FLOOD-BENCH"
CONTENT_DIR = content_pkg.DEFAULT_DIR
WORKSHOP_FILE = CONTENT_DIR / "workshops" / "cochabamba-2023.yaml"
PROGRESS = re.compile(r" · (\d+)/(\d+)")
LABELS = ["Totalmente de acuerdo", "De acuerdo", "En desacuerdo", "No sé / No aplica"]
WAIT = 60.0


class FixedClock:
    """The import's clock: the workshop's own dates, so the schedule is planned as usual."""

    def now(self) -> datetime:
        return datetime(2023, 11, 15, 14, 0, tzinfo=UTC)


@dataclass
class Phase:
    """Latencies of one phase of one round, in seconds."""

    name: str
    latencies: list[float] = field(default_factory=list)
    flood_sent: int = 0
    flood_replied: int = 0
    http_429: int = 0

    def pct(self, q: float) -> float:
        """Return the q-quantile of the latencies (nearest rank)."""
        ordered = sorted(self.latencies)
        if not ordered:
            return float("nan")
        return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


@dataclass
class Round:
    """Both phases of a round and what the bot process left behind."""

    calm: Phase
    flood: Phase
    warnings: int = 0
    errors: int = 0
    stop_seconds: float = 0.0
    stopped_cleanly: bool = False


async def prepare(db_url: str, double: BotApiDouble, count: int) -> list[SimUser]:
    """Import the example workshop and enrol `count` participants with a finished profile."""
    content = load_content(CONTENT_DIR)
    store = await open_store(db_url)
    try:
        svc = Services(
            store=store,
            content=content,
            i18n=I18n.load(CONTENT_DIR / "locales"),
            clock=FixedClock(),
            admin_ids=frozenset(),
            bot_username="taller_bench_bot",
        )
        spec = load_workshop_file(WORKSHOP_FILE)
        now = svc.clock.now()
        workshop = (await import_workshop(svc, spec, str(WORKSHOP_FILE), now)).workshop
        users = []
        for i in range(count):
            user = double.new_user(f"F{i:02d}", "Bench", language_code="es", started=True)
            participant, _ = await store.join(
                workshop_id=workshop.id, telegram_id=user.id, language="es", now=now
            )
            await store.update_profile(participant.id, field="name", value=f"F{i:02d} Bench")
            await store.mark_profile_done(participant.id)
            users.append(user)
        return users
    finally:
        await store.close()


def keyboard_message(user: SimUser) -> ChatMessage | None:
    """Return the bot's newest message with buttons in the user's chat."""
    for msg in reversed(user.messages):
        if not msg.deleted and msg.buttons:
            return msg
    return None


async def answer(double: BotApiDouble, user: SimUser, index: int) -> float:
    """Tap an answer to the current statement; return the seconds until the next one arrived."""
    msg = keyboard_message(user)
    match = PROGRESS.search(msg.text or "") if msg is not None else None
    assert msg is not None and match, "no statement to answer"
    n = int(match.group(1))

    def moved_on() -> bool:
        # The next statement replaces this one in the same message.
        now = PROGRESS.search(msg.text or "")
        return (now is not None and int(now.group(1)) > n) or "Revisión" in (msg.text or "")

    started = time.monotonic()
    await user.tap(LABELS[index % len(LABELS)], message=msg)
    await double.wait_for(moved_on, timeout=WAIT, message=f"{user.first_name}: next statement")
    return time.monotonic() - started


async def participant(
    double: BotApiDouble, user: SimUser, count: int, think: float, phase: Phase
) -> None:
    """Answer `count` statements, pausing `think` seconds after each."""
    for i in range(count):
        phase.latencies.append(await answer(double, user, i))
        await asyncio.sleep(think)


async def flood(user: SimUser, rate: float, stop: asyncio.Event, phase: Phase) -> None:
    """Send `rate` text messages a second until stopped, on an absolute schedule."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    while not stop.is_set():
        await user.send(f"mensaje {phase.flood_sent}")
        phase.flood_sent += 1
        delay = start + phase.flood_sent / rate - loop.time()
        if delay > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)


async def one_round(args: argparse.Namespace, number: int) -> Round:
    """Run both phases against a fresh database, double and bot process."""
    folder = Path(tempfile.mkdtemp(prefix="flood-bench-"))
    limits = None if args.no_limits else RateLimits()
    bot: BotProcess | None = None
    try:
        async with BotApiDouble(token=TOKEN, bot_username="taller_bench_bot", limits=limits) as d:
            db_url = f"sqlite:///{folder / 'bot.sqlite3'}"
            users = await prepare(db_url, d, args.participants + 1)
            flooder, others = users[0], users[1:]
            bot = BotProcess(d, db_url, folder / "bot.log")
            await bot.start(timeout=WAIT)
            for user in others:
                await user.send("/dgca")
            for user in others:
                await d.wait_for(lambda u=user: keyboard_message(u), timeout=WAIT)  # type: ignore[misc]
            # Warm-up: one answer each, not measured.
            warm = Phase("warm-up")
            await asyncio.gather(*(participant(d, u, 1, args.think, warm) for u in others))

            calm = Phase("calm")
            base_429 = d.stats.rate_limited
            await asyncio.gather(
                *(participant(d, u, args.answers, args.think, calm) for u in others)
            )
            calm.http_429 = d.stats.rate_limited - base_429

            loud = Phase("flood")
            base_429 = d.stats.rate_limited
            replies_before = len(flooder.messages)
            stop = asyncio.Event()
            flooding = asyncio.create_task(flood(flooder, args.rate, stop, loud))
            # Let the flood build up before the others start answering.
            await asyncio.sleep(0.5)
            await asyncio.gather(
                *(participant(d, u, args.answers, args.think, loud) for u in others)
            )
            stop.set()
            await flooding
            loud.flood_replied = len(flooder.messages) - replies_before
            loud.http_429 = d.stats.rate_limited - base_429
            result = Round(calm, loud)
            started = time.monotonic()
            result.stopped_cleanly = await bot.stop(timeout=20) == 0
            result.stop_seconds = time.monotonic() - started
            text = bot.log_text()
            result.warnings = text.count(" WARNING ")
            result.errors = text.count(" ERROR ")
            print(
                f"  round {number}: calm p50/p99 {ms(calm.pct(0.5))}/{ms(calm.pct(0.99))} ms,"
                f" flood {ms(loud.pct(0.5))}/{ms(loud.pct(0.99))} ms",
                flush=True,
            )
            return result
    finally:
        if bot is not None:
            await bot.kill()
        shutil.rmtree(folder, ignore_errors=True)


def ms(seconds: float) -> str:
    """Format seconds as whole milliseconds."""
    return f"{seconds * 1000:.0f}"


def report(args: argparse.Namespace, rounds: list[Round]) -> str:
    """Render every round and the medians with the flood/calm ratios."""
    lines = [
        "",
        f"Flood: {args.participants} participants answer {args.answers} statements per phase"
        f" ({args.think} s between taps); one more sends {args.rate:g} messages/s in the flood"
        f" phase; {'no limits' if args.no_limits else 'Telegram limits'} in the double;"
        f" {len(rounds)} round(s).",
        "",
        f"{'round':>5}  {'calm p50':>8}  {'calm p99':>8}  {'flood p50':>9}  {'flood p99':>9}"
        f"  {'flood sent':>10}  {'replied':>7}  {'429s':>4}  {'warn':>4}  {'err':>3}  {'stop':>6}",
    ]
    for i, r in enumerate(rounds, start=1):
        lines.append(
            f"{i:>5}  {ms(r.calm.pct(0.5)):>8}  {ms(r.calm.pct(0.99)):>8}"
            f"  {ms(r.flood.pct(0.5)):>9}  {ms(r.flood.pct(0.99)):>9}"
            f"  {r.flood.flood_sent:>10}  {r.flood.flood_replied:>7}"
            f"  {r.calm.http_429 + r.flood.http_429:>4}  {r.warnings:>4}  {r.errors:>3}"
            f"  {r.stop_seconds:>5.1f}s{'' if r.stopped_cleanly else '!'}"
        )
    calm50 = statistics.median(r.calm.pct(0.5) for r in rounds)
    calm99 = statistics.median(r.calm.pct(0.99) for r in rounds)
    flood50 = statistics.median(r.flood.pct(0.5) for r in rounds)
    flood99 = statistics.median(r.flood.pct(0.99) for r in rounds)
    lines += [
        "",
        "Medians over the rounds (ms):",
        f"  calm   p50 {ms(calm50)}  p99 {ms(calm99)}",
        f"  flood  p50 {ms(flood50)}  p99 {ms(flood99)}",
        f"  ratio flood/calm  p50 {flood50 / calm50:.2f}  p99 {flood99 / calm99:.2f}"
        "  (goal: p99 ratio at most 2)",
        "Latencies in ms; stop is SIGTERM to exit (! = not a clean exit within 20 s).",
    ]
    return "\n".join(lines)


def parse(argv: list[str] | None) -> argparse.Namespace:
    """Read the options, filling in the full or quick defaults."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.flood", description=__doc__)
    parser.add_argument("--participants", type=int, default=None)
    parser.add_argument("--answers", type=int, default=None, help="statements per phase")
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--rate", type=float, default=50.0, help="flood messages per second")
    parser.add_argument("--think", type=float, default=1.2, help="seconds between taps")
    parser.add_argument("--no-limits", action="store_true", help="no rate limits in the double")
    parser.add_argument("--quick", action="store_true", help="3 participants, 2 answers, 1 round")
    args = parser.parse_args(argv)
    quick = {"participants": 3, "answers": 2, "rounds": 1}
    full = {"participants": 20, "answers": 8, "rounds": 3}
    for name, value in (quick if args.quick else full).items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    if args.participants < 1 or args.answers < 1 or args.rounds < 1 or args.rate <= 0:
        parser.error("participants, answers, rounds and rate must be positive")
    if 2 * args.answers + 1 > 36:
        parser.error("at most 17 answers per phase (the DGCA has 36 statements)")
    return args


async def run(args: argparse.Namespace) -> list[Round]:
    """Run the rounds one after another."""
    rounds = []
    for number in range(1, args.rounds + 1):
        rounds.append(await one_round(args, number))
    return rounds


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its figures."""
    args = parse(argv)
    print(
        f"flood benchmark: {args.rounds} round(s), {args.participants} participants,"
        f" Python {sys.version.split()[0]}, {os.cpu_count()} CPUs",
        flush=True,
    )
    try:
        rounds = asyncio.run(run(args))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    print(report(args, rounds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
