"""Answer throughput: the real bot against a bare PTB bot, through the same Bot API double.

Run with::

    .venv/bin/python -m benchmarks.answers            # 5 rounds, 100 participants × 36
    .venv/bin/python -m benchmarks.answers --quick    # 1 round, 5 participants × 3 (a smoke test)

With a PostgreSQL server (``--postgres URL``, by default TEST_DATABASE_URL) the real bot
also runs on PostgreSQL in every round (a database made for the run, dropped afterwards),
beside SQLite and the bare bot: "pg" in the figures.

One double (in this process) serves every bot; each bot runs in its own process
(``benchmarks.botproc``), one at a time, alternating within every round (the order
swaps from round to round). Both use the production ``OrderedUpdateProcessor`` with the same
number of work slots (MAX_CONCURRENT_UPDATES, default 64) and the same connection pool.

In a round each of N participants opens the DGCA (not measured) and then, all at once,
answers K statements, tapping the next one as soon as it arrives (a closed loop that keeps
the bot saturated). The real bot records each answer in SQLite (one ``BEGIN IMMEDIATE …
COMMIT`` per answer, WAL mode, ``synchronous=NORMAL``) before it shows the next statement;
the bare bot makes the same two calls (answerCallbackQuery, and editMessageText showing
the next statement in the tapped message) with payloads of the same size and no storage
or logic.

Figures per bot and round: answers per second in the steady state (completions between
the first and the last 5 %), the bot process's CPU milliseconds per answer, the double's
CPU per answer and how busy it was (if the double were saturated, it and not the bot
would set the pace), and the bot-side latency of the taps. The ratio real / bare is taken
within each round; the median of the rounds' ratios is the result (goal: at least 0.8).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.support import (
    BOT_USERNAME,
    TOKEN,
    ChildBot,
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
    trimmed_rate,
    verdict,
)

GOAL_RATIO = 0.8


@dataclass
class Round:
    """One bot's figures in one round."""

    kind: str
    answers: int = 0
    rate: float = 0.0
    bot_cpu_ms: float = 0.0
    double_cpu_ms: float = 0.0
    double_busy: float = 0.0
    latency_p50_ms: float = 0.0
    latency_p99_ms: float = 0.0
    round_trip_p50_ms: float = 0.0
    startup_s: float = 0.0
    problems: list[str] = field(default_factory=list)


@dataclass
class Bench:
    """What the rounds share: the double, the driver, the database and a scratch folder."""

    double: DrivingDouble
    driver: Driver
    # The real bot's databases by kind: "bot" on SQLite, "pg" on PostgreSQL.
    populations: dict[str, Population]
    database_urls: dict[str, str]
    folder: Path
    slots: int
    profile: Path | None = None
    serial: int = 0

    def child(self, kind: str) -> tuple[ChildBot, Path]:
        self.serial += 1
        stats = self.folder / f"{kind}-{self.serial}.json"
        argv = ["-m", "benchmarks.botproc", "bare" if kind == "bare" else "bot"]
        argv += ["--stats", str(stats)]
        if self.profile is not None:
            argv += ["--profile", f"{self.profile}.{kind}{self.serial}"]
        child = ChildBot(
            self.double,
            argv,
            self.database_urls.get(kind, self.database_urls["bot"]),
            self.folder / f"{kind}.log",
            extra_env={"MAX_CONCURRENT_UPDATES": str(self.slots)},
        )
        return child, stats


async def one_round(bench: Bench, kind: str, participants: int, answers: int) -> Round:
    """Run one bot in its own process while N participants answer K statements each."""
    result = Round(kind)
    driver, double = bench.driver, bench.double
    driver.reset()
    tag = f"{kind}{bench.serial}p"
    if kind in bench.populations:
        users = await bench.populations[kind].add(double, participants, tag)
    else:
        users = [
            double.new_user(f"{tag}{i}", "Bench", language_code="es", started=True)
            for i in range(participants)
        ]
    child, stats = bench.child(kind)
    violations = len(double.violations)
    try:
        result.startup_s = await child.start()
        driver.add(users, answers)
        await asyncio.wait_for(driver.open(), 120)
        double.forget_requests()
        cpu0, own0, t0 = child.cpu_seconds(), time.process_time(), time.perf_counter()
        driver.go()
        budget = 60 + participants * answers / 5 + answers * driver.think[1] * 2
        await asyncio.wait_for(driver.all_done.wait(), budget)
        wall = time.perf_counter() - t0
        cpu1, own1 = child.cpu_seconds(), time.process_time()
    finally:
        code = await child.stop()
    done = len(driver.completions)
    result.answers = done
    result.rate = trimmed_rate(driver.completions)
    result.bot_cpu_ms = (cpu1 - cpu0) * 1000 / max(done, 1)
    result.double_cpu_ms = (own1 - own0) * 1000 / max(done, 1)
    result.double_busy = (own1 - own0) / wall if wall > 0 else 0.0
    result.round_trip_p50_ms = percentile(driver.round_trips, 0.5) * 1000
    if stats.exists():
        latencies = json.loads(stats.read_text(encoding="utf-8"))["latencies"]
        result.latency_p50_ms = percentile(latencies, 0.5) * 1000
        result.latency_p99_ms = percentile(latencies, 0.99) * 1000
    else:
        result.problems.append("no timing file")
    if code != 0:
        result.problems.append(f"exit status {code}")
    if len(double.violations) > violations:
        result.problems.append(f"{len(double.violations) - violations} protocol violation(s)")
    if double.unanswered_callbacks():
        result.problems.append(f"{len(double.unanswered_callbacks())} unanswered callbacks")
    if done != participants * answers:
        result.problems.append(f"{done} of {participants * answers} answers")
    log = child.tail(200)
    if "ERROR" in log or "Traceback" in log:
        result.problems.append("errors in the bot's log")
    return result


def table(rounds: list[tuple[Round, ...]]) -> str:
    head = (
        f"{'round':>5}  {'bot':>4}  {'answers/s':>9}  {'CPU ms/ans':>10}  "
        f"{'double ms/ans':>13}  {'double busy':>11}  {'lat p50 ms':>10}  {'lat p99 ms':>10}"
    )
    lines = [head, "-" * len(head)]
    for n, pair in enumerate(rounds, 1):
        for r in pair:
            lines.append(
                f"{n:>5}  {r.kind:>4}  {r.rate:>9.1f}  {r.bot_cpu_ms:>10.2f}  "
                f"{r.double_cpu_ms:>13.2f}  {r.double_busy * 100:>10.0f}%  "
                f"{r.latency_p50_ms:>10.1f}  {r.latency_p99_ms:>10.1f}"
                + (f"  ! {'; '.join(r.problems)}" if r.problems else "")
            )
        real, bare = by_kind(pair)
        lines.append(f"{n:>5}  ratio real/bare = {real.rate / bare.rate if bare.rate else 0:.3f}")
        pg = of_kind(pair, "pg")
        if pg is not None:
            ratio = pg.rate / bare.rate if bare.rate else 0
            lines.append(f"{n:>5}  ratio pg/bare = {ratio:.3f}")
    return "\n".join(lines)


def of_kind(group: tuple[Round, ...], kind: str) -> Round | None:
    return next((r for r in group if r.kind == kind), None)


def by_kind(group: tuple[Round, ...]) -> tuple[Round, Round]:
    real = of_kind(group, "bot")
    bare = of_kind(group, "bare")
    assert real is not None and bare is not None
    return real, bare


def postgres_summary(rounds: list[tuple[Round, ...]]) -> list[str]:
    """Return the PostgreSQL lines of the summary (none when it was not run)."""
    pairs = [
        (pg, bare) for g in rounds if (pg := of_kind(g, "pg")) and (bare := of_kind(g, "bare"))
    ]
    if not pairs:
        return []
    ratios = [pg.rate / bare.rate for pg, bare in pairs if bare.rate > 0]
    ratio = statistics.median(ratios) if ratios else 0.0
    p99 = [pg.latency_p99_ms for pg, _ in pairs]
    return [
        "",
        f"  bot on PostgreSQL {spread([pg.rate for pg, _ in pairs])} answers/s,"
        f" CPU {spread([pg.bot_cpu_ms for pg, _ in pairs], 2)} ms per answer,"
        f" latency p99 {spread(p99)} ms",
        f"  ratio pg/bare (per round) {spread(ratios, 3)}",
        f"Goal: answers/s on PostgreSQL ≥ {GOAL_RATIO} × the bare bot's: "
        f"{ratio:.3f} {verdict(ratio >= GOAL_RATIO)}",
    ]


def summary(rounds: list[tuple[Round, ...]]) -> str:
    pairs = [by_kind(p) for p in rounds]
    ratios = [real.rate / bare.rate for real, bare in pairs if bare.rate > 0]
    real_rates = [real.rate for real, _ in pairs]
    bare_rates = [bare.rate for _, bare in pairs]
    real_cpu = [real.bot_cpu_ms for real, _ in pairs]
    bare_cpu = [bare.bot_cpu_ms for _, bare in pairs]
    cpu_ratios = [b / r for r, b in zip(real_cpu, bare_cpu, strict=True) if r]
    ratio = statistics.median(ratios) if ratios else 0.0
    lines = [
        "Medians over the rounds (min–max):",
        f"  real bot     {spread(real_rates)} answers/s, CPU {spread(real_cpu, 2)} ms per answer",
        f"  bare PTB bot {spread(bare_rates)} answers/s, CPU {spread(bare_cpu, 2)} ms per answer",
        f"  ratio real/bare (per round) {spread(ratios, 3)}",
        f"  CPU per answer bare/real    {spread(cpu_ratios, 3)}",
        "",
        f"Goal: answers/s of the real bot ≥ {GOAL_RATIO} × the bare bot's: "
        f"{ratio:.3f} {verdict(ratio >= GOAL_RATIO)}",
        *postgres_summary(rounds),
    ]
    return "\n".join(lines)


async def bench(args: argparse.Namespace) -> list[tuple[Round, ...]]:
    content, i18n = load_texts()
    rounds: list[tuple[Round, ...]] = []
    with tempfile.TemporaryDirectory(prefix="bench-answers-") as tmp:
        folder = Path(tmp)
        urls = {"bot": f"sqlite:///{folder / 'bot.sqlite3'}"}
        if args.postgres:
            urls["pg"] = await fresh_database(args.postgres)
        populations = {
            kind: await Population.create(url, content, i18n) for kind, url in urls.items()
        }
        double = DrivingDouble(token=TOKEN, bot_username=BOT_USERNAME)
        await double.start()
        try:
            driver = Driver(double)
            bench = Bench(double, driver, populations, urls, folder, args.slots, args.profile)
            kinds = ["bot", "bare", *(["pg"] if args.postgres else [])]
            for n in range(1, args.rounds + 1):
                # Each kind goes first in turn: a warmer or cooler machine favours none.
                shift = (n - 1) % len(kinds)
                order = kinds[shift:] + kinds[:shift]
                pair = []
                for kind in order:
                    result = await one_round(bench, kind, args.participants, args.answers)
                    pair.append(result)
                    print(
                        f"  round {n}/{args.rounds} {kind}: {result.rate:.1f} answers/s",
                        file=sys.stderr,
                        flush=True,
                    )
                rounds.append(tuple(pair))
        finally:
            await double.stop()
            for population in populations.values():
                await population.close()
            if "pg" in urls:
                await drop_database(args.postgres, urls["pg"])
    return rounds


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.answers",
        description="Answers per second of the real bot against a bare PTB bot.",
    )
    parser.add_argument("--rounds", type=int, help="rounds of both bots (default 5)")
    parser.add_argument("--participants", type=int, help="answering at once (default 100)")
    parser.add_argument("--answers", type=int, help="statements each answers, ≤ 36 (default 36)")
    parser.add_argument(
        "--slots", type=int, default=64, help="MAX_CONCURRENT_UPDATES of both bots (default 64)"
    )
    parser.add_argument(
        "--quick", action="store_true", help="1 round, 5 × 3 answers (a smoke test)"
    )
    parser.add_argument(
        "--profile", type=Path, help="cProfile each bot process into PROFILE.<kind><n>"
    )
    add_postgres_options(parser)
    args = parser.parse_args(argv)
    args.postgres = postgres_url(args)
    if args.rounds is None:
        args.rounds = 1 if args.quick else 5
    if args.participants is None:
        args.participants = 5 if args.quick else 100
    if args.answers is None:
        args.answers = 3 if args.quick else 36
    if not 1 <= args.answers <= 36 or args.participants < 1 or args.rounds < 1:
        parser.error("need 1–36 answers, a participant and a round")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    print(header("Answer throughput: real bot / bare PTB bot"), flush=True)
    print(
        f"{args.rounds} rounds; {args.participants} participants × {args.answers} answers "
        f"per bot and round; MAX_CONCURRENT_UPDATES={args.slots} for every bot; the real bot"
        f" on SQLite{' and on PostgreSQL' if args.postgres else ''}",
        flush=True,
    )
    with contextlib.suppress(ValueError):
        signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        rounds = asyncio.run(bench(args))
    except KeyboardInterrupt:
        print("stopped", file=sys.stderr)
        return 130
    print()
    print(table(rounds))
    print()
    print(summary(rounds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
