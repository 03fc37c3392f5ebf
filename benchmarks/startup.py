"""Startup time with a large database: 100 workshops, 5,000 participants, 10,000 reminders.

Run with::

    .venv/bin/python -m benchmarks.startup            # 5 runs of each measurement
    .venv/bin/python -m benchmarks.startup --quick    # 2 workshops, 20 participants, 100 reminders

The database is generated once per invocation through the production code: each workshop
is the Cochabamba example with its dates moved into the future (relative to the real clock)
and an agenda long enough for about 100 automatic messages, imported with
``bot.flows.workshops.import_workshop`` (which plans and stores its schedule); participants
join and fill in their profile through the ``Store``. Every occasion is pending and in the
future, so the JobQueue arms one job per occasion at startup. Each run starts from a fresh
copy of that file.

Two measurements, each repeated ``--runs`` times:

* in process: ``build_application`` → ``initialize`` → ``post_init`` (open the store and
  migrate, register commands, resume broadcasts, arm every occasion, catch-up tick) →
  polling started and the double has received the first ``getUpdates`` (ready);
* a real ``python -m bot run`` process: from spawning it to its first ``getUpdates``
  (interpreter start, imports, content, preflight getMe, all of the above).

Goal: under 2 s.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import shutil
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from benchmarks.support import (
    BOT_USERNAME,
    CONTENT_DIR,
    TOKEN,
    WORKSHOP_FILE,
    ChildBot,
    header,
    load_texts,
    spread,
    verdict,
)
from bot.apidouble import BotApiDouble
from bot.app import ALLOWED_UPDATES, build_application
from bot.clock import SystemClock
from bot.content import Content, WorkshopFile
from bot.flows.schedule import plan
from bot.flows.workshops import import_workshop
from bot.i18n import I18n
from bot.services import Services
from bot.settings import Settings
from storage import open_store

GOAL_S = 2.0
SPAWN = "python -m bot run s"
SESSIONS_PER_DAY = 9
INSTITUTIONS = ["Gobierno Autónomo Municipal de Sacaba", "Gobierno Autónomo Municipal de Vinto"]


def workshop_spec(n: int, first_day: date, per_workshop: int) -> WorkshopFile:
    """Return workshop n: the Cochabamba file moved to `first_day`, with enough sessions.

    Sessions alternate between two rooms, so that each has a reminder of its own (sessions
    following each other in one room share one). The fewest sessions that plan at least
    `per_workshop` occasions are found by doubling, then halving the step.
    """
    base: dict[str, Any] = yaml.safe_load(WORKSHOP_FILE.read_text(encoding="utf-8"))
    template = base["agenda"][0]

    def build(sessions: int) -> WorkshopFile:
        days = -(-sessions // SESSIONS_PER_DAY)
        end_day = first_day + timedelta(days=days - 1)
        agenda = []
        for k in range(sessions):
            day = first_day + timedelta(days=k // SESSIONS_PER_DAY)
            start = datetime.combine(day, datetime.min.time()) + timedelta(hours=8 + k % 9)
            room = f"Sala {1 + k % 2}"
            agenda.append(
                {
                    **template,
                    "id": f"s{k}",
                    "start": start.isoformat(timespec="minutes"),
                    "end": (start + timedelta(minutes=45)).isoformat(timespec="minutes"),
                    "place": {"es": room, "en": room},
                }
            )
        data = {
            **base,
            "id": f"bench-{n:03d}",
            "start_date": first_day.isoformat(),
            "end_date": end_day.isoformat(),
            "agenda": agenda,
            "dgca_window": {
                "opens": f"{(first_day - timedelta(days=10)).isoformat()}T09:00",
                "closes": f"{(first_day - timedelta(days=1)).isoformat()}T23:00",
            },
            "evaluation_window": {
                "opens": f"{end_day.isoformat()}T18:00",
                "closes": f"{(end_day + timedelta(days=7)).isoformat()}T23:00",
            },
        }
        data.pop("join_code", None)
        return WorkshopFile.model_validate(data)

    def enough(sessions: int) -> bool:
        return len(plan(build(sessions), has_evaluation=True)) >= per_workshop

    high = 1
    while not enough(high):
        high *= 2
    low = high // 2  # not enough (or 0)
    while high - low > 1:
        middle = (low + high) // 2
        if enough(middle):
            high = middle
        else:
            low = middle
    return build(high)


async def generate(
    path: Path, content: Content, i18n: I18n, workshops: int, participants: int, reminders: int
) -> tuple[int, float]:
    """Write the database; return the pending occasions and the seconds it took."""
    started = time.perf_counter()
    store = await open_store(f"sqlite:///{path}")
    clock = SystemClock()
    svc = Services(store=store, content=content, i18n=i18n, clock=clock)
    per_workshop = -(-reminders // workshops)
    per_participants = -(-participants // workshops)
    today = clock.now().date()
    telegram_id = 5_000_000
    try:
        for n in range(workshops):
            # Spread over the coming months, all of it well after the DGCA window opens.
            first_day = today + timedelta(days=30 + n % 90)
            spec = workshop_spec(n, first_day, per_workshop)
            result = await import_workshop(svc, spec, f"bench-{n}", clock.now())
            workshop_id = result.workshop.id
            for i in range(min(per_participants, participants - n * per_participants)):
                telegram_id += 1
                participant, _ = await store.join(
                    workshop_id=workshop_id, telegram_id=telegram_id, language="es", now=clock.now()
                )
                await store.update_profile(participant.id, field="name", value=f"Persona {i}")
                await store.update_profile(
                    participant.id, field="institution", value=INSTITUTIONS[i % 2]
                )
                await store.mark_profile_done(participant.id)
        pending = len(await store.pending_schedule())
    finally:
        await store.close()
    return pending, time.perf_counter() - started


@dataclass
class InProcess:
    """One in-process start."""

    post_init_s: float
    ready_s: float
    jobs: int


async def in_process(database: Path, content: Content, i18n: I18n) -> InProcess:
    """Start the application as `python -m bot run` does, inside this process; time it."""
    async with BotApiDouble(token=TOKEN, bot_username=BOT_USERNAME) as double:
        settings = Settings(
            telegram_bot_token=TOKEN,
            telegram_api_url=double.url,
            database_url=f"sqlite:///{database}",
            content_dir=CONTENT_DIR,
            _env_file=None,
        )
        t0 = time.perf_counter()
        app = build_application(settings, content, i18n)
        await app.initialize()
        assert app.post_init is not None
        await app.post_init(app)
        post_init = time.perf_counter() - t0
        assert app.updater is not None and app.job_queue is not None
        await app.updater.start_polling(
            poll_interval=0.0, timeout=5, allowed_updates=ALLOWED_UPDATES
        )
        await app.start()
        await double.wait_for(lambda: double.requests_for("getUpdates"), timeout=30)
        ready = time.perf_counter() - t0
        jobs = len(app.job_queue.jobs())
        await app.updater.stop()
        await app.stop()
        assert app.post_stop is not None and app.post_shutdown is not None
        await app.post_stop(app)
        await app.shutdown()
        await app.post_shutdown(app)
    return InProcess(post_init, ready, jobs)


async def subprocess_start(database: Path, log: Path) -> float:
    """Spawn `python -m bot run`; return the seconds until its first getUpdates."""
    async with BotApiDouble(token=TOKEN, bot_username=BOT_USERNAME) as double:
        child = ChildBot(double, ["-m", "bot", "run"], f"sqlite:///{database}", log)
        try:
            return await child.start()
        finally:
            await child.stop()


async def bench(args: argparse.Namespace) -> None:
    content, i18n = load_texts()
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as tmp:
        folder = Path(tmp)
        master = args.database or folder / "master.sqlite3"
        if master.exists():
            print(f"reusing {master}", flush=True)
        else:
            pending, took = await generate(
                master, content, i18n, args.workshops, args.participants, args.reminders
            )
            print(
                f"generated {args.workshops} workshops, {args.participants} participants and "
                f"{pending} pending occasions in {took:.1f} s "
                f"({master.stat().st_size / 1e6:.1f} MB)",
                flush=True,
            )
        inproc: list[InProcess] = []
        spawned: list[float] = []
        for n in range(1, args.runs + 1):
            for kind in ("in-process", "subprocess") if n % 2 else ("subprocess", "in-process"):
                database = folder / f"run-{n}-{kind}.sqlite3"
                shutil.copyfile(master, database)
                if kind == "in-process":
                    inproc.append(await in_process(database, content, i18n))
                    last = inproc[-1]
                    figure = f"post_init {last.post_init_s:.3f} s, ready {last.ready_s:.3f} s"
                else:
                    spawned.append(await subprocess_start(database, folder / "bot.log"))
                    figure = f"ready {spawned[-1]:.3f} s"
                print(f"  run {n}/{args.runs} {kind}: {figure}", file=sys.stderr, flush=True)
    print()
    print(f"{'run':>3}  {'post_init s':>11}  {'ready s':>8}  {'jobs armed':>10}  {SPAWN:>19}")
    for n, (a, b) in enumerate(zip(inproc, spawned, strict=True), 1):
        print(f"{n:>3}  {a.post_init_s:>11.3f}  {a.ready_s:>8.3f}  {a.jobs:>10}  {b:>19.3f}")
    post = [r.post_init_s for r in inproc]
    ready = [r.ready_s for r in inproc]
    print()
    print("Medians over the runs (min–max):")
    print(f"  in process: post_init {spread(post, 3, ' s')}, ready {spread(ready, 3, ' s')}")
    print(f"  python -m bot run, spawn to first getUpdates: {spread(spawned, 3, ' s')}")
    print()
    med_in, med_sub = statistics.median(ready), statistics.median(spawned)
    print(f"Goal: ready in under {GOAL_S:.0f} s")
    for what, value in (
        ("in process (build_application to first getUpdates) ", med_in),
        ("python -m bot run (process start to first getUpdates)", med_sub),
    ):
        print(f"  {what} {value:.3f} s {verdict(value < GOAL_S)}")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.startup", description="Startup time with a large database."
    )
    parser.add_argument("--workshops", type=int, help="default 100")
    parser.add_argument("--participants", type=int, help="default 5000")
    parser.add_argument("--reminders", type=int, help="pending occasions, default 10000")
    parser.add_argument("--runs", type=int, help="runs of each measurement, default 5")
    parser.add_argument(
        "--database", type=Path, help="keep the generated database here and reuse it next time"
    )
    parser.add_argument(
        "--quick", action="store_true", help="2 workshops, 20 participants, 100 reminders"
    )
    args = parser.parse_args(argv)
    if args.workshops is None:
        args.workshops = 2 if args.quick else 100
    if args.participants is None:
        args.participants = 20 if args.quick else 5000
    if args.reminders is None:
        args.reminders = 100 if args.quick else 10_000
    if args.runs is None:
        args.runs = 1 if args.quick else 5
    if min(args.workshops, args.participants, args.reminders, args.runs) < 1:
        parser.error("every figure must be positive")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    print(header("Startup with a large database"), flush=True)
    with contextlib.suppress(ValueError):
        signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        asyncio.run(bench(args))
    except KeyboardInterrupt:
        print("stopped", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
