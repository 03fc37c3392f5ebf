"""Answer latency: 200 participants answering the DGCA at the same time.

Run with::

    .venv/bin/python -m benchmarks.latency            # 3 runs, 200 participants × 8 answers
    .venv/bin/python -m benchmarks.latency --quick    # 1 run, 5 participants × 3 (a smoke test)

The real bot (``bot.app.build_application``) runs in its own process
(``benchmarks.botproc bot``) against the Bot API double in this process. Each run adds N
participants with a finished profile to a fresh database; they all open the DGCA, then
answer K statements each. After each statement arrives, a participant waits a think time
drawn uniformly from ``--think`` (default 5–15 s, 10 s on average, where the DGCA's
introduction estimates about 10 minutes for the 36 statements, 17 s each) and taps an
answer; 200 people then offer about 20 answers per second.

Bot-side latency, measured inside the bot process without changing production code: from
the moment ``getUpdates`` returned the tap to the bot (``ExtBot.get_updates`` wrapped) to
the moment the update processor finished the handler, i.e. after the bot's last Bot API
call for that tap (answerCallbackQuery, then editMessageText showing the next statement)
was answered (``do_process_update`` wrapped). It includes waiting for a work slot and for
the same person's earlier update, the flow, the SQLite commit and the two HTTP round trips
to the double. The round trip the participant sees (tap to next
statement, measured in the double) adds the long-poll delivery.

With a PostgreSQL server (``--postgres URL``, by default TEST_DATABASE_URL) every run is
made twice, on SQLite and on PostgreSQL (a database made for the run and dropped after).

Goal: p99 under 50 ms (median of the runs), on each backend.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import statistics
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from benchmarks.answers import Bench, Round, one_round
from benchmarks.support import (
    BOT_USERNAME,
    TOKEN,
    Driver,
    DrivingDouble,
    Population,
    add_postgres_options,
    drop_database,
    fresh_database,
    header,
    load_texts,
    percentile,
    postgres_url,
    spread,
    verdict,
)
from bot.content import Content
from bot.i18n import I18n

GOAL_P99_MS = 50.0


@dataclass
class Run:
    """One run's figures on one backend."""

    backend: str
    round: Round
    offered: float
    round_trip_p99_ms: float


async def bench(args: argparse.Namespace) -> list[Run]:
    content, i18n = load_texts()
    runs: list[Run] = []
    backends = ["sqlite", *(["postgresql"] if args.postgres else [])]
    for n in range(1, args.runs + 1):
        for backend in backends if n % 2 else backends[::-1]:
            runs.append(await one_run(args, backend, n, content, i18n))

    return runs


async def one_run(
    args: argparse.Namespace, backend: str, n: int, content: Content, i18n: I18n
) -> Run:
    """Run the bot on a fresh database of `backend` while participants answer."""
    with tempfile.TemporaryDirectory(prefix="bench-latency-") as tmp:
        folder = Path(tmp)
        if backend == "sqlite":
            database_url = f"sqlite:///{folder / 'bot.sqlite3'}"
        else:
            database_url = await fresh_database(args.postgres)
        population = await Population.create(database_url, content, i18n)
        double = DrivingDouble(token=TOKEN, bot_username=BOT_USERNAME)
        await double.start()
        try:
            driver = Driver(double, think=(args.think[0], args.think[1]), seed=n)
            bench = Bench(
                double, driver, {"bot": population}, {"bot": database_url}, folder, args.slots
            )
            result = await one_round(bench, "bot", args.participants, args.answers)
            trips = [t * 1000 for t in driver.round_trips]
        finally:
            await double.stop()
            await population.close()
            if backend != "sqlite":
                await drop_database(args.postgres, database_url)
    offered = args.participants / statistics.fmean(args.think)
    print(
        f"  run {n}/{args.runs} on {backend}: p50 {result.latency_p50_ms:.1f} ms, "
        f"p99 {result.latency_p99_ms:.1f} ms over {result.answers} answers",
        file=sys.stderr,
        flush=True,
    )
    return Run(backend, result, offered, percentile(trips, 0.99))


def report(args: argparse.Namespace, runs: list[Run]) -> str:
    head = (
        f"{'run':>3}  {'backend':>10}  {'answers':>7}  {'answers/s':>9}  {'bot p50 ms':>10}  "
        f"{'bot p99 ms':>10}  {'trip p50 ms':>11}  {'trip p99 ms':>11}  {'CPU ms/ans':>10}"
    )
    lines = [head, "-" * len(head)]
    backends = list(dict.fromkeys(run.backend for run in runs))
    for i, run in enumerate(runs):
        r = run.round
        lines.append(
            f"{i // len(backends) + 1:>3}  {run.backend:>10}  {r.answers:>7}  {r.rate:>9.1f}  "
            f"{r.latency_p50_ms:>10.1f}  {r.latency_p99_ms:>10.1f}  {r.round_trip_p50_ms:>11.1f}  "
            f"{run.round_trip_p99_ms:>11.1f}  {r.bot_cpu_ms:>10.2f}"
            + (f"  ! {'; '.join(r.problems)}" if r.problems else "")
        )
    lines += ["", "Medians over the runs (min–max):"]
    goals = []
    for backend in backends:
        mine = [run for run in runs if run.backend == backend]
        p50 = [run.round.latency_p50_ms for run in mine]
        p99 = [run.round.latency_p99_ms for run in mine]
        med99 = statistics.median(p99) if p99 else 0.0
        trips = [run.round_trip_p99_ms for run in mine]
        lines += [
            f"  {backend}: bot-side latency p50 {spread(p50, 1, ' ms')},"
            f" p99 {spread(p99, 1, ' ms')}",
            f"  {backend}: round trip seen by the participant p99 {spread(trips, 1, ' ms')}",
        ]
        where = "" if backend == "sqlite" else " on PostgreSQL"
        goals.append(
            f"Goal: bot-side p99{where} < {GOAL_P99_MS:.0f} ms: {med99:.1f} ms "
            f"{verdict(med99 < GOAL_P99_MS)}"
        )
    lines += ["", *goals]
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.latency",
        description="Bot-side latency per answer with many participants answering at once.",
    )
    parser.add_argument("--runs", type=int, help="runs (default 3)")
    parser.add_argument("--participants", type=int, help="answering at once (default 200)")
    parser.add_argument("--answers", type=int, help="statements each answers, ≤ 36 (default 8)")
    parser.add_argument(
        "--think",
        type=float,
        nargs=2,
        metavar=("MIN", "MAX"),
        help="seconds between a statement's arrival and the tap (default 5 15)",
    )
    parser.add_argument("--slots", type=int, default=64, help="MAX_CONCURRENT_UPDATES")
    parser.add_argument("--quick", action="store_true", help="1 run, 5 × 3 answers (a smoke test)")
    add_postgres_options(parser)
    args = parser.parse_args(argv)
    args.postgres = postgres_url(args)
    if args.runs is None:
        args.runs = 1 if args.quick else 3
    if args.participants is None:
        args.participants = 5 if args.quick else 200
    if args.answers is None:
        args.answers = 3 if args.quick else 8
    if args.think is None:
        args.think = [0.05, 0.2] if args.quick else [5.0, 15.0]
    if not 1 <= args.answers <= 36 or args.participants < 1 or args.runs < 1:
        parser.error("need 1–36 answers, a participant and a run")
    if not 0 < args.think[0] <= args.think[1]:
        parser.error("--think needs 0 < MIN ≤ MAX")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    print(header("Answer latency"), flush=True)
    print(
        f"{args.runs} runs; {args.participants} participants × {args.answers} answers, think "
        f"time {args.think[0]:g}–{args.think[1]:g} s (about "
        f"{args.participants / statistics.fmean(args.think):.0f} answers/s offered); "
        f"MAX_CONCURRENT_UPDATES={args.slots}",
        flush=True,
    )
    with contextlib.suppress(ValueError):
        signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        runs = asyncio.run(bench(args))
    except KeyboardInterrupt:
        print("stopped", file=sys.stderr)
        return 130
    print()
    print(report(args, runs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
