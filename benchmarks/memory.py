"""Memory: peak RSS of a real ``python -m bot run`` serving 1,000 participants the DGCA.

Run with::

    .venv/bin/python -m benchmarks.memory            # 1,000 participants × 36 statements
    .venv/bin/python -m benchmarks.memory --quick    # 3 participants × 36 statements

The bot is the production command, ``python -m bot run``, in its own process, against the
Bot API double in this process. N participants with a finished profile are written to a
fresh database through the ``Store``; each opens the DGCA (/dgca), answers all 36
statements, opens the review, submits and confirms, and receives the profile chart (drawn
with matplotlib beside the group's means once three people have submitted). Everyone
taps as soon as the bot's message arrives, so all N are in flight at once.

The process's resident set size is sampled from ``/proc/<pid>/status`` every half second
(VmRSS), and its peak (VmHWM, kept by the kernel, so no short spike is missed) is read
before the process is stopped with SIGTERM. Goal: peak under 150 MB.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
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
    header,
    load_texts,
    spread,
    verdict,
)

GOAL_MB = 150.0
STATEMENTS = 36
PROGRESS_EVERY = 30.0


@dataclass
class Run:
    """One run's figures (MB, seconds)."""

    participants: int
    ready_rss: float = 0.0
    opened_rss: float = 0.0
    answered_rss: float = 0.0
    end_rss: float = 0.0
    peak: float = 0.0
    answers: int = 0
    answering_s: float = 0.0
    total_s: float = 0.0
    samples: list[tuple[float, float]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


async def sample(child: ChildBot, run: Run, driver: Driver, t0: float) -> None:
    shown = 0.0
    while True:
        elapsed = time.perf_counter() - t0
        with contextlib.suppress(OSError):
            rss, peak = child.memory_mb()
            run.samples.append((elapsed, rss))
            run.peak = peak
            if elapsed - shown >= PROGRESS_EVERY:
                shown = elapsed
                print(
                    f"  {elapsed:.0f} s: {len(driver.completions)} answers, RSS {rss:.1f} MB, "
                    f"peak {peak:.1f} MB",
                    file=sys.stderr,
                    flush=True,
                )
        # Only the count of getUpdates at start matters; the log would grow with every call.
        driver.double.forget_requests()
        await asyncio.sleep(0.5)


async def one_run(participants: int, timeout: float) -> Run:  # noqa: ASYNC109
    run = Run(participants)
    content, i18n = load_texts()
    with tempfile.TemporaryDirectory(prefix="bench-memory-") as tmp:
        folder = Path(tmp)
        database_url = f"sqlite:///{folder / 'bot.sqlite3'}"
        population = await Population.create(database_url, content, i18n)
        double = DrivingDouble(token=TOKEN, bot_username=BOT_USERNAME)
        await double.start()
        child = ChildBot(
            double, ["-m", "bot", "run"], database_url, folder / "bot.log", {"LOG_LEVEL": "INFO"}
        )
        sampler: asyncio.Task[None] | None = None
        driver = Driver(double)
        try:
            users = await population.add(double, participants, "m")
            await population.close()
            await child.start()
            t0 = time.perf_counter()
            run.ready_rss = child.memory_mb()[0]
            sampler = asyncio.create_task(sample(child, run, driver, t0))
            driver.add(users, STATEMENTS, submit=True)
            await asyncio.wait_for(driver.open(), timeout)
            run.opened_rss = child.memory_mb()[0]
            started = time.perf_counter()
            driver.go()

            await asyncio.wait_for(driver.all_answered.wait(), timeout)
            run.answering_s = time.perf_counter() - started
            run.answered_rss = child.memory_mb()[0]
            await asyncio.wait_for(driver.all_done.wait(), timeout)
            run.total_s = time.perf_counter() - started
            run.end_rss, run.peak = child.memory_mb()
            run.answers = len(driver.completions)
        except TimeoutError:
            run.problems.append(f"timed out: figures so far, {len(driver.completions)} answers")
            run.answers = len(driver.completions)
            with contextlib.suppress(OSError):
                run.end_rss, run.peak = child.memory_mb()
        finally:
            if sampler is not None:
                sampler.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await sampler
            code = await child.stop()
            await double.stop()
            with contextlib.suppress(Exception):
                await population.close()
        if code != 0:
            run.problems.append(f"exit status {code}")
        if double.violations:
            run.problems.append(f"{len(double.violations)} protocol violation(s)")
        log = child.tail(100_000)
        if " ERROR " in log or "Traceback" in log:
            run.problems.append("errors in the bot's log")
    return run


def report(runs: list[Run]) -> str:
    head = (
        f"{'run':>3}  {'people':>6}  {'answers':>7}  {'ready MB':>8}  {'opened MB':>9}  "
        f"{'answered MB':>11}  {'end MB':>7}  {'peak MB':>7}  {'answering s':>11}  {'total s':>7}"
    )
    lines = [head, "-" * len(head)]
    for n, r in enumerate(runs, 1):
        lines.append(
            f"{n:>3}  {r.participants:>6}  {r.answers:>7}  {r.ready_rss:>8.1f}  "
            f"{r.opened_rss:>9.1f}  {r.answered_rss:>11.1f}  {r.end_rss:>7.1f}  {r.peak:>7.1f}  "
            f"{r.answering_s:>11.1f}  {r.total_s:>7.1f}"
            + (f"  ! {'; '.join(r.problems)}" if r.problems else "")
        )
    peaks = [r.peak for r in runs]
    med = statistics.median(peaks) if peaks else 0.0
    lines += [
        "",
        "ready: after startup; opened: everyone at statement 1; answered: every statement "
        "answered (some already submitting); end: every chart sent; peak: VmHWM",
        f"Peak RSS, median (min–max): {spread(peaks, 1, ' MB')}",
        "",
        f"Goal: peak RSS < {GOAL_MB:.0f} MB: {med:.1f} MB {verdict(med < GOAL_MB)}",
    ]
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.memory",
        description="Peak RSS of python -m bot run serving many participants the DGCA.",
    )
    parser.add_argument("--participants", type=int, help="default 1000")
    parser.add_argument("--runs", type=int, help="default 1")
    parser.add_argument(
        "--timeout", type=float, help="seconds per phase before reporting what was reached"
    )
    parser.add_argument("--quick", action="store_true", help="3 participants (a smoke test)")
    args = parser.parse_args(argv)
    if args.participants is None:
        args.participants = 3 if args.quick else 1000
    if args.runs is None:
        args.runs = 1
    if args.participants < 1 or args.runs < 1:
        parser.error("need a participant and a run")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    print(header("Memory of python -m bot run through the DGCA"), flush=True)
    print(f"{args.runs} run(s) of {args.participants} participants × {STATEMENTS}", flush=True)
    with contextlib.suppress(ValueError):
        signal.signal(signal.SIGTERM, signal.default_int_handler)
    runs: list[Run] = []
    try:
        for n in range(1, args.runs + 1):
            timeout = args.timeout or 120 + args.participants * 3
            run = asyncio.run(one_run(args.participants, timeout))
            runs.append(run)
            print(
                f"  run {n}/{args.runs}: peak {run.peak:.1f} MB in {run.total_s:.0f} s",
                file=sys.stderr,
                flush=True,
            )
    except KeyboardInterrupt:
        print("stopped", file=sys.stderr)
        return 130
    print()
    print(report(runs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
