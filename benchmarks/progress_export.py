"""The association's /progress dashboard and its XLSX export, timed at scale.

    .venv/bin/python -m benchmarks.progress_export             # 3,000 plans, 5 runs
    .venv/bin/python -m benchmarks.progress_export --plans 300 --runs 3
    .venv/bin/python -m benchmarks.progress_export --quick     # 20 plans, 1 run

Simulates once, through the `Store` as the bot writes: the Cochabamba workshop linked to an
association, and `--plans` plans, each by its own participant, with `--steps` steps (a due
date each) and `--updates` updates per step (a note on every other one, a link as evidence
on every fourth). Each run gets a fresh copy of that database and the bot's worker process,
as `bot.app` creates it, then does what a viewer's two taps do: `progress.view` (the summary
and its two charts) and `progress.export_events` (the plans, steps and updates workbook),
each flow on the loop followed by its files drawn and built as `bot.output.Responder` does
(`benchmarks.report.render_event`). The probes are those of `benchmarks.report`: a 5 ms
heartbeat on the loop, the garbage collector's passes, the RSS of the bot's process and the
peak of its worker process. The goals are those of the organizer report.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import multiprocessing
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from babel.dates import format_date

from benchmarks.report import (
    REPORT_GOAL_S,
    RSS_GOAL_MB,
    STALL_GOAL_MS,
    XLSX_GOAL_S,
    GcWatch,
    Heartbeat,
    Phase,
    StallSampler,
    current_rss,
    describe_stall,
    goal_lines,
    machine_info,
    percentile,
    render_event,
    worker_cpu,
    worker_peak_rss,
)
from benchmarks.simulate import WORKSHOP_FILE
from bot.content import load_content, load_workshop_file
from bot.flows import progress
from bot.flows.checkins import STATUS_CODES
from bot.flows.common import Actor, Ctx
from bot.flows.events import Event, SendDocument, SendPhoto
from bot.flows.workshops import import_workshop
from bot.services import Services
from storage import Store, open_store
from tests.support import CONTENT_DIR, FakeClock, make_services

# Six months after the Cochabamba workshop: every check-in has been asked.
CLOCK_NOW = datetime(2024, 5, 29, 14, 0, tzinfo=UTC)
STARTED = datetime(2023, 11, 29, 18, 0, tzinfo=UTC)
FIRST_TELEGRAM_ID = 8_000_000_000
VIEWER_ID = 7_999_999_999
MB = 1024 * 1024
ASSOCIATION_SLUG = "amdeco"
ACTIONS = (
    "Digitalizar el trámite de licencias de funcionamiento",
    "Capacitar al personal de ventanilla en el nuevo sistema",
    "Publicar datos abiertos del presupuesto municipal",
    "Crear la mesa de ayuda ciudadana por WhatsApp",
    "Firmar el convenio de interoperabilidad con la AGETIC",
    "Diagnóstico de los sistemas existentes",
)
TITLES = (
    "Trámites municipales en línea",
    "Gobierno abierto municipal",
    "Atención ciudadana digital",
    "Catastro digital",
)
NOTES = (
    "Avance según lo previsto; falta la aprobación del concejo.",
    "=Revisar con la unidad legal",  # typed by a person: stays text in the workbook
    "Se reasignó el presupuesto al segundo semestre.",
)


@dataclass
class Run:
    """Every figure of one run."""

    index: int
    total_s: float
    phases: list[Phase]
    stall_worst_ms: float
    stall_p99_ms: float
    stall_phase: str
    stall_where: str
    stalls_over_goal: int
    gc_longest_ms: float
    rss_before_mb: float
    rss_peak_mb: float
    worker_peak_mb: float
    xlsx_s: float
    xlsx_worker_cpu_s: float
    xlsx_kb: float
    load: float

    def seconds(self, kind: str) -> float:
        """Return the time spent in phases of one kind ("flow" or "render")."""
        return sum(p.seconds for p in self.phases if p.kind == kind)


async def simulate(store: Store, svc: Services, args: argparse.Namespace) -> int:
    """Write the association, its workshop and every plan; return the association's id."""
    rng = random.Random(args.seed)
    spec = load_workshop_file(WORKSHOP_FILE)
    workshop = (await import_workshop(svc, spec, str(WORKSHOP_FILE), STARTED)).workshop
    association = await store.upsert_association(
        ASSOCIATION_SLUG, "Asociación de Municipios", STARTED
    )
    await store.set_workshop_association(workshop.id, association)
    statuses = list(STATUS_CODES.values())
    for n in range(args.plans):
        participant, _ = await store.join(
            workshop_id=workshop.id, telegram_id=FIRST_TELEGRAM_ID + n, language="es", now=STARTED
        )
        institution = spec.institutions[n % len(spec.institutions)]
        await store.update_profile(participant.id, field="institution", value=institution)
        plan = await store.create_plan(workshop.id, participant.id, rng.choice(TITLES), STARTED)
        sdgs = sorted(rng.sample([8, 9, 10, 11, 16, 17], rng.randint(1, 3)))
        await store.set_plan_field(plan, "sdgs", ",".join(map(str, sdgs)), STARTED)
        for s in range(args.steps):
            step = await store.add_step(plan, ACTIONS[(n + s) % len(ACTIONS)], STARTED)
            due = date(2024, 1 + rng.randrange(5), 1 + rng.randrange(28))
            await store.set_step_field(step, "due_date", due.isoformat(), STARTED)
            when = STARTED
            for u in range(args.updates):
                when += timedelta(days=rng.randint(5, 40), minutes=rng.randint(0, 600))
                update = await store.record_update(
                    step, participant.id, rng.choice(statuses).value, None, when
                )
                if u % 2 == 0:
                    await store.add_update_note(update, rng.choice(NOTES), 2000)
                if u % 4 == 1:
                    await store.add_evidence(
                        update,
                        "link",
                        file_id=None,
                        url=f"https://municipio.example.bo/informes/{plan}-{s}-{u}",
                        file_name=None,
                        file_size=None,
                        now=when,
                    )
    return association


async def _association_of(database: Path) -> int:
    """Return the id of the association a kept simulation holds."""
    store = await open_store(f"sqlite:///{database}")
    try:
        found = [a.id for a in await store.all_associations() if a.slug == ASSOCIATION_SLUG]
    finally:
        await store.close()
    if not found:
        raise SystemExit(f"{database} is not a database this benchmark simulated")
    return found[0]


async def one_run(index: int, template: Path, association_id: int) -> Run:
    """Copy the simulated database and time the dashboard and its export, with the probes."""
    content = load_content(CONTENT_DIR)
    with tempfile.TemporaryDirectory(prefix="bench-progress-") as tmp:
        shutil.copyfile(template, Path(tmp) / "bench.db")
        store = await open_store(f"sqlite:///{Path(tmp) / 'bench.db'}")
        pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
        try:
            svc = make_services(store, content, FakeClock(CLOCK_NOW))
            svc.process_pool = pool
            ctx = Ctx(svc, Actor(VIEWER_ID, "Vera", None, "es"), "es")
            scope = progress.Scope("a", association_id)
            _warm_up(ctx)
            return await _measure(index, svc, ctx, scope)
        finally:
            pool.shutdown(wait=True)
            await store.close()


def _warm_up(ctx: Ctx) -> None:
    """Load what a running bot has loaded long before anyone opens a dashboard.

    Babel reads a language's locale data on its first date or number (about 60 ms on the
    loop, more on a busy machine); the bot formats dates in every reminder, so it is done
    here, before the clock starts.
    """
    today = CLOCK_NOW.date()
    ctx.tr.date(today)
    ctx.tr.datetime(CLOCK_NOW)
    ctx.tr.number(1.5)
    format_date(today, format="MMM yy", locale=ctx.lang)


async def _measure(index: int, svc: Services, ctx: Ctx, scope: progress.Scope) -> Run:
    gc.collect()
    gc.freeze()  # as bot.app's post_init does once everything long-lived is loaded
    rss_before = current_rss()
    phases: list[Phase] = []
    sizes: dict[str, int] = {}
    worker_s: dict[str, float] = {}  # CPU of the worker process while it made each file
    with GcWatch() as collector:
        async with Heartbeat() as beat:
            with StallSampler(beat) as sampler:
                start = time.perf_counter()
                for flow, call in (
                    ("view", lambda: progress.view(ctx, scope)),
                    ("export_events", lambda: progress.export_events(ctx, scope)),
                ):
                    began = time.perf_counter()
                    events: list[Event] = await call()
                    phases.append(Phase(flow, "flow", began, time.perf_counter()))
                    for i, event in enumerate(events):
                        if not isinstance(event, SendPhoto | SendDocument):
                            continue
                        name = event.filename if isinstance(event, SendDocument) else f"chart-{i}"
                        began, cpu = time.perf_counter(), worker_cpu(svc)
                        sizes[name] = len(await render_event(svc, event))
                        phases.append(Phase(name, "render", began, time.perf_counter()))
                        worker_s[name] = worker_cpu(svc) - cpu
                    del events
                end = time.perf_counter()
    gc.unfreeze()
    due, late = beat.worst()
    phase = next((p for p in phases if p.start <= due < p.end), None)
    xlsx = [p for p in phases if p.name.endswith(".xlsx")]
    return Run(
        index=index,
        total_s=end - start,
        phases=phases,
        stall_worst_ms=late * 1000,
        stall_p99_ms=percentile(beat.lateness(start, end), 0.99) * 1000,
        stall_phase=f"{phase.kind} {phase.name}" if phase else "between phases",
        stall_where=describe_stall(sampler, due, late, collector.passes),
        stalls_over_goal=sum(1 for x in beat.lateness(start, end) if x * 1000 >= STALL_GOAL_MS),
        gc_longest_ms=collector.longest()[1] * 1000,
        rss_before_mb=rss_before / MB,
        rss_peak_mb=max(beat.rss_peak, current_rss()) / MB,
        # The export is one workbook: one worker draws it; the largest is the one that did.
        worker_peak_mb=max(worker_peak_rss(svc), default=0) / MB,
        xlsx_s=sum(p.seconds for p in xlsx),
        xlsx_worker_cpu_s=sum(worker_s[p.name] for p in xlsx),
        xlsx_kb=sum(sizes[p.name] for p in xlsx) / 1024,
        load=os.getloadavg()[0],
    )


def describe(r: Run) -> list[str]:
    """Describe one run."""
    verdict = "OK" if r.stall_worst_ms < STALL_GOAL_MS else "OVER THE GOAL"
    parts = ", ".join(f"{p.name} {p.seconds * 1000:.0f}" for p in r.phases)
    return [
        f"run {r.index}: load average {r.load:.2f} at the end",
        f"  dashboard and export {r.total_s:.2f} s = flows on the loop {r.seconds('flow'):.2f} s"
        f" + rendering off the loop {r.seconds('render'):.2f} s;"
        f" XLSX {r.xlsx_s:.2f} s ({r.xlsx_kb:.0f} KB), {r.xlsx_worker_cpu_s:.2f} s of the"
        " worker's CPU",
        f"  phases (ms): {parts}",
        f"  loop stall: worst {r.stall_worst_ms:.1f} ms (during {r.stall_phase}),"
        f" p99 {r.stall_p99_ms:.1f} ms; {r.stalls_over_goal} heartbeats late by"
        f" {STALL_GOAL_MS:.0f} ms or more; longest collector pass {r.gc_longest_ms:.0f} ms"
        f" [{verdict}: goal {STALL_GOAL_MS:.0f} ms]",
        f"  worst stall, sampled: {r.stall_where}",
        f"  memory: RSS {r.rss_before_mb:.0f} MB before, {r.rss_peak_mb:.0f} MB peak;"
        f" worker process peak {r.worker_peak_mb:.0f} MB",
    ]


async def benchmark(args: argparse.Namespace) -> None:
    """Simulate once, then time `args.runs` runs and print them against the goals."""
    for line in machine_info():
        print(line)
    print(
        f"{args.plans} plans x {args.steps} steps x {args.updates} updates per step"
        f" ({args.plans * args.steps * args.updates} updates), seed {args.seed}, {args.runs} runs",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="bench-progress-template-") as folder:
        template = args.database or Path(folder) / "template.db"
        if args.database is not None and args.database.exists():
            association_id = await _association_of(template)
            print(f"reusing the simulation in {template}", flush=True)
        else:
            started = time.perf_counter()
            store = await open_store(f"sqlite:///{template}")
            try:
                svc = make_services(store, load_content(CONTENT_DIR), FakeClock(CLOCK_NOW))
                association_id = await simulate(store, svc, args)
            finally:
                await store.close()
            print(f"simulated once in {time.perf_counter() - started:.1f} s", flush=True)
        runs = []
        for index in range(1, args.runs + 1):
            run = await one_run(index, template, association_id)
            runs.append(run)
            print("\n".join(describe(run)), flush=True)
    print(f"median over {len(runs)} runs:")
    print(f"  flows on the loop {statistics.median(r.seconds('flow') for r in runs):.2f} s,")
    print(f"  worker process peak RSS {statistics.median(r.worker_peak_mb for r in runs):.0f} MB")
    print("goals (median; each run with the load average when it ended):")
    for line in goal_lines(
        runs,
        [
            ("XLSX", lambda r: r.xlsx_s, "s", XLSX_GOAL_S, False),
            ("dashboard and export", lambda r: r.total_s, "s", REPORT_GOAL_S, False),
            ("peak RSS during the run", lambda r: r.rss_peak_mb, "MB", RSS_GOAL_MB, False),
            ("worst event-loop stall", lambda r: r.stall_worst_ms, "ms", STALL_GOAL_MS, True),
        ],
    ):
        print(line)


def main(argv: Sequence[str] | None = None) -> None:
    """Parse the command line and run the benchmark."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.progress_export")
    parser.add_argument("--plans", type=int, default=3000)
    parser.add_argument("--steps", type=int, default=5, help="steps per plan")
    parser.add_argument("--updates", type=int, default=4, help="updates per step")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="a smoke test: 20 plans, 1 run")
    parser.add_argument(
        "--database",
        type=Path,
        help="keep the simulated database here and reuse it next time (same --plans, --steps,"
        " --updates and --seed: the file is not checked against them)",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.plans, args.runs = 20, 1
    if min(args.plans, args.steps, args.runs) < 1 or args.updates < 0:
        parser.error("--plans, --steps and --runs must be at least 1")
    try:
        asyncio.run(benchmark(args))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        raise SystemExit(130) from None


if __name__ == "__main__":
    main()
