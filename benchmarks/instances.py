"""Webhook instances on one PostgreSQL database: answers per second with one and with two.

Run with::

    .venv/bin/python -m benchmarks.instances            # 3 rounds, 100 participants × 20
    .venv/bin/python -m benchmarks.instances --quick    # 1 round, 5 participants × 3

The database is the PostgreSQL server named by ``--database`` (default: TEST_DATABASE_URL);
every round creates a database of its own there and drops it afterwards.

In a round, one and then two ``python -m bot run --webhook`` processes (the order swaps
from round to round) serve one webhook URL; the Bot API double, in this process, posts each
update to one of them at random, one update at a time as a single Telegram connection does.
N participants open the DGCA and then, all at once, answer K statements, each tapping the
next as soon as it arrives (a closed loop that keeps the bots saturated). Every update goes
through the database's inbox (bot/instances.py) before it is answered.

Figures per round: answers per second in the steady state, and where the CPU went (bot
processes, the PostgreSQL server, the double), as cores busy over the measured interval:
what limits the rate is whatever is near its ceiling (on a 2-core machine, the cores).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.support import (
    BOT_USERNAME,
    CLK_TCK,
    DATABASE_VARIABLE,
    TOKEN,
    ChildBot,
    Driver,
    DrivingDouble,
    Population,
    drop_database,
    fresh_database,
    header,
    load_line,
    load_texts,
    spread,
    trimmed_rate,
)
from tests.realproc import BotProcess


class WebhookBot(ChildBot):
    """`python -m bot run --webhook` in its own process, behind the double's balancer."""

    def __init__(self, double: DrivingDouble, database_url: str, log: Path) -> None:
        env = {"LOG_LEVEL": "WARNING", "PYTHONUNBUFFERED": "1"}
        BotProcess.__init__(self, double, database_url, log, "webhook", extra_env=env)

    async def stop(self, timeout: float = 20.0) -> int:  # noqa: ASYNC109 (as BotProcess.stop)
        """Stop the process and take it out of the double's balancer."""
        code = await super().stop(timeout)
        if self._route is not None:
            self.double.unroute_webhook(*self._route)
        return code


@dataclass
class Round:
    """One configuration's figures in one round."""

    instances: int
    answers: int = 0
    rate: float = 0.0
    bots_cores: float = 0.0
    postgres_cores: float = 0.0
    double_cores: float = 0.0
    problems: list[str] = field(default_factory=list)


def postgres_cpu_seconds() -> float:
    """Return the CPU time of every PostgreSQL server process on this machine."""
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            raw = (entry / "stat").read_text()
        except OSError:
            continue
        name, rest = raw.split("(", 1)[1].rsplit(")", 1)
        if name.startswith("postgres"):
            fields = rest.split()
            total += int(fields[11]) + int(fields[12])
    return total / CLK_TCK


async def one_round(
    double: DrivingDouble, admin_url: str, folder: Path, instances: int, args: argparse.Namespace
) -> Round:
    """Run `instances` webhook bots on a fresh database while participants answer."""
    result = Round(instances)
    content, i18n = load_texts()
    url = await fresh_database(admin_url)
    population = await Population.create(url, content, i18n)
    bots = [WebhookBot(double, url, folder / f"bot{instances}-{i}.log") for i in range(instances)]
    driver = Driver(double)
    violations = len(double.violations)
    try:
        users = await population.add(double, args.participants, f"i{instances}")
        for bot in bots:
            await bot.start()
        driver.add(users, args.answers)
        await asyncio.wait_for(driver.open(), 120)
        double.forget_requests()
        cpu0 = [b.cpu_seconds() for b in bots]
        pg0, own0, t0 = postgres_cpu_seconds(), time.process_time(), time.perf_counter()
        driver.go()
        budget = 60 + args.participants * args.answers / 5
        await asyncio.wait_for(driver.all_done.wait(), budget)
        wall = time.perf_counter() - t0
        cpu1 = [b.cpu_seconds() for b in bots]
        pg1, own1 = postgres_cpu_seconds(), time.process_time()
    finally:
        codes = [await bot.stop() for bot in bots]
        await population.close()
        await drop_database(admin_url, url)
        double.on_call = None
    done = len(driver.completions)
    result.answers = done
    result.rate = trimmed_rate(driver.completions)
    result.bots_cores = sum(b - a for a, b in zip(cpu0, cpu1, strict=True)) / wall
    result.postgres_cores = (pg1 - pg0) / wall
    result.double_cores = (own1 - own0) / wall
    if any(codes):
        result.problems.append(f"exit status {codes}")
    if len(double.violations) > violations:
        result.problems.append(f"{len(double.violations) - violations} protocol violation(s)")
    if double.unanswered_callbacks():
        result.problems.append(f"{len(double.unanswered_callbacks())} unanswered callbacks")
    if done != args.participants * args.answers:
        result.problems.append(f"{done} of {args.participants * args.answers} answers")
    for bot in bots:
        log = bot.tail(200)
        if "ERROR" in log or "Traceback" in log:
            result.problems.append("errors in a bot's log")
    return result


async def bench(args: argparse.Namespace) -> list[Round]:
    rounds: list[Round] = []
    with tempfile.TemporaryDirectory(prefix="bench-instances-") as tmp:
        double = DrivingDouble(token=TOKEN, bot_username=BOT_USERNAME)
        await double.start()
        try:
            for n in range(1, args.rounds + 1):
                for instances in (1, 2) if n % 2 else (2, 1):
                    result = await one_round(double, args.database, Path(tmp), instances, args)
                    rounds.append(result)
                    print(
                        f"  round {n}/{args.rounds}, {instances} instance(s): "
                        f"{result.rate:.1f} answers/s",
                        file=sys.stderr,
                        flush=True,
                    )
        finally:
            await double.stop()
    return rounds


def table(rounds: list[Round]) -> str:
    head = (
        f"{'instances':>9}  {'answers/s':>9}  {'bots cores':>10}  "
        f"{'PostgreSQL cores':>16}  {'double cores':>12}"
    )
    lines = [head, "-" * len(head)]
    for r in rounds:
        lines.append(
            f"{r.instances:>9}  {r.rate:>9.1f}  {r.bots_cores:>10.2f}  "
            f"{r.postgres_cores:>16.2f}  {r.double_cores:>12.2f}"
            + (f"  ! {'; '.join(r.problems)}" if r.problems else "")
        )
    return "\n".join(lines)


def summary(rounds: list[Round]) -> str:
    one = [r for r in rounds if r.instances == 1]
    two = [r for r in rounds if r.instances == 2]
    # Side by side in one round: the first 1-instance run with the first 2-instance run...
    ratios = [b.rate / a.rate for a, b in zip(one, two, strict=False) if a.rate > 0]
    cores = os.cpu_count() or 1
    busy = [r.bots_cores + r.postgres_cores + r.double_cores for r in two]
    lines = [
        "Medians over the rounds (min–max):",
        f"  one instance  {spread([r.rate for r in one])} answers/s",
        f"  two instances {spread([r.rate for r in two])} answers/s",
        f"  scaling two/one (per round) {spread(ratios, 2)}",
        f"  cores busy with two instances (bots + PostgreSQL + double) {spread(busy, 2)}"
        f" of {cores}",
        f"  {load_line()}",
    ]
    if busy and statistics.median(busy) >= 0.85 * cores:
        lines.append(
            "What limits it: the machine's cores. The bots, the PostgreSQL server and the"
            " double share them, so a second instance adds no CPU; on separate machines"
            " the instances would scale until the database or Telegram's pace limits them."
        )
    else:
        lines.append(
            "What limits it: not the cores (they are not all busy): each person's updates"
            " are handled one at a time, and the double posts one update at a time."
        )
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.instances",
        description="Answers per second of one and two webhook instances on one PostgreSQL.",
    )
    parser.add_argument(
        "--database",
        default=os.environ.get(DATABASE_VARIABLE),
        help=f"a PostgreSQL URL where databases may be created (default: ${DATABASE_VARIABLE})",
    )
    parser.add_argument("--rounds", type=int, help="rounds of both set-ups (default 3)")
    parser.add_argument("--participants", type=int, help="answering at once (default 100)")
    parser.add_argument("--answers", type=int, help="statements each answers (default 20)")
    parser.add_argument("--quick", action="store_true", help="1 round, 5 × 3 (a smoke test)")
    args = parser.parse_args(argv)
    if not args.database:
        parser.error(f"needs --database or {DATABASE_VARIABLE} (a PostgreSQL server)")
    if args.rounds is None:
        args.rounds = 1 if args.quick else 3
    if args.participants is None:
        args.participants = 5 if args.quick else 100
    if args.answers is None:
        args.answers = 3 if args.quick else 20
    if not 1 <= args.answers <= 36 or args.participants < 1 or args.rounds < 1:
        parser.error("need 1–36 answers, a participant and a round")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    print(header("Webhook instances on one PostgreSQL database"), flush=True)
    print(
        f"{args.rounds} rounds; {args.participants} participants × {args.answers} answers "
        "per set-up and round",
        flush=True,
    )
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
