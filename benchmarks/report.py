"""Organizer report benchmark, and the committed sample charts.

Benchmark mode::

    .venv/bin/python -m benchmarks.report                     # 1,000 participants, 5 runs
    .venv/bin/python -m benchmarks.report --participants 1000 --runs 3 --tracemalloc
    .venv/bin/python -m benchmarks.report --simulate-each-run  # a new simulation per run
    .venv/bin/python -m benchmarks.report --quick              # smoke test: 30, 1 run

The workshop is simulated once (`benchmarks.simulate.simulate_workshop`) and every run gets
a fresh copy of that database and a fresh worker process, then builds the full organizer
report the way the bot does: each of the flows `dgca_report`, `evaluation_report`,
`status_report` and `export_events(..., "xlsx")` runs on the event loop (queries and
aggregation) and is followed by its files made as `bot.output.Responder` makes them
(`render_event`): charts drawn ahead in the worker processes (`bot.output.DrawAhead`, a few
at a time, two side by side), workbooks in a worker process. Sending to Telegram is left out.

Simulating goes through the `Store` one transaction per answer, as the bot writes them
(about 10 s for 1,000 participants here; not part of the measured report).

Figures per run, and the median over runs:

* wall time of the whole report, split into flows (on the loop) and rendering (threads);
* memory: the process's peak RSS (`ru_maxrss`, a high-water mark since the process
  started), the RSS sampled during the report, and with `--tracemalloc` the peak of Python
  allocations during the report (tracing slows everything down, so times are then inflated);
* event-loop stalls: a heartbeat task on the same loop sleeps 5 ms again and again and
  records how late it wakes; the worst and the 99th percentile lateness during the report,
  and the phase (flow or rendered file) the worst one fell in.
* the garbage collector's passes during the report: a pass holds the GIL whichever thread
  triggered it, so a long one stalls the loop even while the work is in a thread;
* a blocking baseline, after the last run only: one chart rendered directly on the loop
  under the same heartbeat, which shows that the probe sees a stall as long as the call;
* the 1-minute load average when each run ended, beside each run's figures.

The goals (issue "Exports in seconds", 1,000 participants): the XLSX in under 3 s, the full
report in under 10 s, peak RSS of the bot's process under 150 MB (medians over the runs),
and no event-loop stall of 50 ms or more in any run.
* outside the report: one participant's `profile_event` (sent after each DGCA submission),
  which aggregates the whole group on the loop.

Samples mode::

    .venv/bin/python -m benchmarks.report --samples docs/samples [--participants 40]

simulates 40 participants (seed 7, clock fixed on 2023-11-29 at 18:00 in La Paz) and writes
every chart of the organizer report, one participant's profile chart, the XLSX export, the
open-answers document and a README with every caption, so that reviewers can read the figures
without running the bot. Running it twice writes the same bytes.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import html
import math
import os
import platform
import re
import resource
import shutil
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
import tracemalloc
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from types import FrameType
from typing import Any

from benchmarks.simulate import FIRST_TELEGRAM_ID, simulate_workshop
from bot.content import QuestionType, load_content
from bot.flows import forms
from bot.flows.common import Actor, Ctx, workshop_file
from bot.flows.dgca import profile_event
from bot.flows.events import Event, Send, SendDocument, SendPhoto
from bot.flows.exports import export_events
from bot.flows.reports import dgca_report, evaluation_report, status_report
from bot.flows.schedule import EVALUATION_ID
from bot.output import DrawAhead, Responder
from bot.services import Services, worker_pool
from storage import Store, Workshop, open_store
from tests.support import CONTENT_DIR, FakeClock, make_services

# 18:00 in La Paz on the workshop's last day: the DGCA is closed, the evaluation open.
CLOCK_NOW = datetime(2023, 11, 29, 22, 0, tzinfo=UTC)
SEED = 7
HEARTBEAT_S = 0.005
RSS_EVERY = 4  # heartbeat ticks between two RSS samples
# The goals of issue "Exports in seconds", at 1,000 participants.
STALL_GOAL_MS = 50.0  # in every run, not only the median
REPORT_GOAL_S = 10.0
XLSX_GOAL_S = 3.0
RSS_GOAL_MB = 150.0
QUICK_PARTICIPANTS = 30
BENCH_PARTICIPANTS = 1000
SAMPLE_PARTICIPANTS = 40
MB = 1024 * 1024
ROOT = Path(__file__).resolve().parent.parent


# ---------------------------------------------------------------- probes


def current_rss() -> int:
    """Return the process's resident set size in bytes (0 where /proc is missing)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def worker_peak_rss(svc: Services) -> list[int]:
    """Return the peak RSS (VmHWM) of each of the bot's worker processes, in bytes."""
    processes = getattr(svc.process_pool, "_processes", None) or {}
    peaks = []
    for pid in processes:
        try:
            with open(f"/proc/{pid}/status", encoding="ascii") as f:
                line = next(x for x in f if x.startswith("VmHWM:"))
            peaks.append(int(line.split()[1]) * 1024)
        except (OSError, StopIteration, ValueError):
            pass
    return sorted(peaks, reverse=True)


def worker_cpu(svc: Services) -> float:
    """Return the CPU seconds (user + system) the bot's worker process has used so far."""
    processes = getattr(svc.process_pool, "_processes", None) or {}
    ticks = 0
    for pid in processes:
        try:
            with open(f"/proc/{pid}/stat", encoding="ascii") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])
        except (OSError, IndexError, ValueError):
            pass
    return ticks / os.sysconf("SC_CLK_TCK")


def max_rss() -> int:
    """Return the process's peak RSS so far, in bytes (ru_maxrss is in KiB on Linux)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def percentile(values: Sequence[float], share: float) -> float:
    """Return the nearest-rank percentile of `values` (0.0 for none)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(share * len(ordered))))
    return ordered[rank - 1]


class GcWatch:
    """Time the cyclic garbage collector's passes: a pass holds the GIL, whichever thread
    triggered it, so a long one stalls the event loop too."""

    def __init__(self) -> None:
        self.passes: list[tuple[int, float, float]] = []  # (generation, start, seconds)
        self._start = 0.0

    def __enter__(self) -> GcWatch:
        gc.callbacks.append(self._callback)
        return self

    def __exit__(self, *exc: object) -> None:
        gc.callbacks.remove(self._callback)

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        now = time.perf_counter()
        if phase == "start":
            self._start = now
        else:
            self.passes.append((info["generation"], self._start, now - self._start))

    def longest(self) -> tuple[int, float]:
        """Return the generation and length (s) of the longest pass."""
        generation, _, seconds = max(self.passes, key=lambda p: p[2], default=(0, 0.0, 0.0))
        return generation, seconds

    def full(self) -> int:
        """Return how many passes collected the oldest generation."""
        return sum(1 for g, _, _ in self.passes if g == 2)


class Heartbeat:
    """Sleep `interval` on the loop again and again; record how late each wake-up is.

    A wake-up late by L seconds means the loop could not run anything for about L: some
    callback held it. Each sample is kept with the time it was due, so that a stall can be
    attributed to the phase during which it began.
    """

    def __init__(self, interval: float = HEARTBEAT_S) -> None:
        self.interval = interval
        self.samples: list[tuple[float, float]] = []  # (due at, lateness), perf_counter
        self.woke = time.perf_counter()  # when the heartbeat last ran
        self.rss_peak = 0
        self._stopping = False
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Heartbeat:
        self._task = asyncio.create_task(self._run())
        await asyncio.sleep(0)  # let it take its first nap before the work starts
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._stopping = True
        if self._task is not None:
            await self._task

    async def _run(self) -> None:
        ticks = 0
        while not self._stopping:
            due = time.perf_counter() + self.interval
            await asyncio.sleep(self.interval)
            self.woke = time.perf_counter()
            self.samples.append((due, max(0.0, self.woke - due)))
            ticks += 1
            if ticks % RSS_EVERY == 0:
                self.rss_peak = max(self.rss_peak, current_rss())

    def lateness(self, start: float = float("-inf"), end: float = float("inf")) -> list[float]:
        """Return the lateness of the wake-ups due in [start, end), in seconds."""
        return [late for due, late in self.samples if start <= due < end]

    def worst(self) -> tuple[float, float]:
        """Return (due at, lateness) of the latest wake-up."""
        return max(self.samples, key=lambda s: s[1], default=(0.0, 0.0))


class StallSampler:
    """Note what the bot's process runs whenever the loop's heartbeat is late.

    A thread of its own wakes every `every` seconds. Once the heartbeat has not run for
    `threshold`, it records the innermost Python frames of the loop's thread, or, when that
    thread sits in its selector (then it waits for the GIL, or for a CPU), those of the
    other threads with their names. A C call that holds the GIL (a big pickle, freeing a big
    list) cannot be sampled while it runs: the first sample after it shows the next line.
    Frames cannot tell a thread waiting in C (on a queue) from one working in C, so the CPU
    time each thread used (from /proc/self/task, in clock ticks) is read every 20 ms too: it
    says which threads ran during a stall, or that the machine did not run the process.
    """

    def __init__(self, beat: Heartbeat, threshold: float = 0.02, every: float = 0.004) -> None:
        self.beat = beat
        self.threshold = threshold
        self.every = every
        self.samples: list[tuple[float, str]] = []  # (perf_counter, where)
        self.cpu: list[tuple[float, dict[str, int]]] = []  # (perf_counter, ticks by thread)
        self._main = threading.main_thread().ident or 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="stall-sampler", daemon=True)

    def __enter__(self) -> StallSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        me = threading.get_ident()
        wakes = 0
        while not self._stop.wait(self.every):
            now = time.perf_counter()
            wakes += 1
            stalled = now - self.beat.woke >= self.threshold
            # Ticks are 10 ms apart: reading them more often would only cost CPU and the GIL.
            if wakes % 5 == 0:
                self.cpu.append((now, _thread_ticks()))
            if not stalled:
                continue
            frames = sys._current_frames()
            main = frames.get(self._main)
            where = _where(main) if main is not None else "?"
            if main is None or main.f_code.co_name in IDLE_FUNCTIONS:
                names = {t.ident: t.name for t in threading.enumerate()}
                others = [
                    f"[{names.get(ident, ident)}] {_where(frame)}"
                    for ident, frame in frames.items()
                    if ident not in (me, self._main) and frame.f_code.co_name not in IDLE_FUNCTIONS
                ]
                where = " | ".join(others) or f"{where} (the loop waits)"
            self.samples.append((now, where))

    def during(self, start: float, end: float, top: int = 3) -> list[tuple[str, int]]:
        """Return the most frequent places sampled between `start` and `end`, with counts."""
        counts = Counter(where for at, where in self.samples if start <= at <= end)
        return counts.most_common(top)

    def cpu_during(self, start: float, end: float) -> dict[str, float] | None:
        """Return the CPU milliseconds each thread used from `start` to `end` (None: unknown)."""
        before = [ticks for at, ticks in self.cpu if at <= start]
        after = [ticks for at, ticks in self.cpu if at >= end]
        if not before or not after:
            return None
        tick_ms = 1000 / os.sysconf("SC_CLK_TCK")
        used = {
            name: (after[0].get(name, 0) - before[-1].get(name, 0)) * tick_ms for name in after[0]
        }
        return {name: ms for name, ms in used.items() if ms > 0}


def _thread_ticks() -> dict[str, int]:
    """Return the CPU clock ticks (user + system) each thread of this process has used."""
    names = {t.native_id: t.name for t in threading.enumerate()}
    out: dict[str, int] = {}
    try:
        tasks = os.listdir("/proc/self/task")
    except OSError:
        return out
    for task in tasks:
        try:
            with open(f"/proc/self/task/{task}/stat", encoding="ascii") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        name = names.get(int(task), f"thread {task}")
        # Fields 14 and 15 of stat (utime, stime); [1] here is field 3.
        out[name] = out.get(name, 0) + int(fields[11]) + int(fields[12])
    return out


# Where a thread waits rather than runs: the loop's selector, a queue, a lock, a sleep.
IDLE_FUNCTIONS = frozenset({"select", "poll", "wait", "_wait_for_tstate_lock", "sleep", "get"})


def _where(frame: FrameType, depth: int = 3) -> str:
    """Describe a stack by its innermost frames, shortest paths first."""
    parts: list[str] = []
    while frame is not None and len(parts) < depth:
        name = frame.f_code.co_filename
        for marker in ("/site-packages/", "/lib/python3."):
            if marker in name:
                name = name.split(marker, 1)[1]
        name = name.replace(str(ROOT) + os.sep, "")
        parts.append(f"{name}:{frame.f_lineno} {frame.f_code.co_name}")
        frame = frame.f_back  # type: ignore[assignment]
    return " < ".join(parts)


def describe_stall(
    sampler: StallSampler, due: float, late: float, passes: Sequence[tuple[int, float, float]]
) -> str:
    """Say what ran during a stall: sampled places, CPU by thread, the collector's passes."""
    end = due + late
    places = sampler.during(due, end + sampler.every * 2)
    collected = [(g, s) for g, start, s in passes if start < end and start + s > due]
    parts = [f"{count}× {where}" for where, count in places]
    cpu = sampler.cpu_during(due, end)
    if cpu is not None:
        window = (
            max(at for at, _ in sampler.cpu if at <= due),
            min(at for at, _ in sampler.cpu if at >= end),
        )
        spent = ", ".join(f"{name} {ms:.0f}" for name, ms in sorted(cpu.items()))
        parts.append(
            f"CPU in the {(window[1] - window[0]) * 1000:.0f} ms around it (ms):"
            f" {spent or 'none: the process did not run'}"
        )
    if collected:
        total = sum(s for _, s in collected) * 1000
        parts.append(
            f"collector: {len(collected)} passes, {total:.0f} ms"
            f" (generations {sorted({g for g, _ in collected})})"
        )
    return "; ".join(parts) or "nothing sampled"


@dataclass
class Phase:
    """A named stretch of the report, in perf_counter seconds."""

    name: str
    kind: str  # "flow" or "render"
    start: float
    end: float

    @property
    def seconds(self) -> float:
        return self.end - self.start


@dataclass
class RunResult:
    """Every figure of one benchmark run."""

    index: int
    participants: int
    simulate_s: float
    total_s: float
    phases: list[Phase]
    stall_worst_ms: float
    stall_p99_ms: float
    stall_phase: str
    stall_where: str
    flow_stall_ms: float
    render_stall_ms: float
    heartbeats: int
    rss_before_mb: float
    rss_peak_report_mb: float
    maxrss_mb: float
    traced_peak_mb: float | None
    photos: int
    documents: int
    output_mb: float
    baseline_block_ms: float
    baseline_stall_ms: float
    baseline_chart: str
    profile_ms: float
    profile_stall_ms: float
    gc_passes: int
    gc_full: int
    gc_longest_ms: float
    gc_longest_generation: int
    gc_total_ms: float
    xlsx_s: float = 0.0
    load: float = 0.0  # the 1-minute load average when the run ended
    worker_peak_mb: float = 0.0  # the highest of the worker processes' peaks
    worker_peaks_mb: list[float] = field(default_factory=list)  # each worker's peak

    @property
    def flows_s(self) -> float:
        return sum(p.seconds for p in self.phases if p.kind == "flow")

    @property
    def render_s(self) -> float:
        return sum(p.seconds for p in self.phases if p.kind == "render")

    def slowest(self, kind: str) -> Phase:
        return max((p for p in self.phases if p.kind == kind), key=lambda p: p.seconds)


# ---------------------------------------------------------------- building the report


@dataclass
class Report:
    """The events of the full organizer report, and what was timed while building them."""

    events: list[Event] = field(default_factory=list)
    names: list[str] = field(default_factory=list)  # a file name per event ("" for texts)
    phases: list[Phase] = field(default_factory=list)
    photos: int = 0
    documents: int = 0
    first_photo: tuple[SendPhoto, str] | None = None


FlowCall = Callable[[], Awaitable[list[Event]]]


def _flows(svc: Services, workshop: Workshop, lang: str) -> list[tuple[str, FlowCall]]:
    return [
        ("dgca_report", lambda: dgca_report(svc, workshop, lang)),
        ("evaluation_report", lambda: evaluation_report(svc, workshop, lang)),
        ("status_report", lambda: status_report(svc, workshop, lang)),
        ("export_events(xlsx)", lambda: export_events(svc, workshop, lang, "xlsx")),
    ]


def _names(svc: Services, workshop: Workshop, flow: str, events: list[Event]) -> list[str]:
    """Name each chart after what it shows (dgca-02-leadership.png, …), files by their own."""
    spec = workshop_file(workshop)
    charts: list[str] = []
    prefix = flow
    if flow == "dgca_report":
        q = svc.content.questionnaire(spec.dgca)
        scale_types = (QuestionType.LIKERT, QuestionType.SINGLE, QuestionType.NPS)
        charted = {s.section.id for s in q.slots() if s.question.type in scale_types}
        charts = ["dimensions"] + [s.id for s in q.sections if s.id in charted]
        prefix = "dgca"
    elif flow == "evaluation_report":
        ev = svc.content.questionnaires.get(EVALUATION_ID)
        scale_types = (QuestionType.LIKERT, QuestionType.SINGLE, QuestionType.NPS)
        charts = [s.question.id for s in ev.slots() if s.question.type in scale_types] if ev else []
        prefix = "evaluation"
    photos = [e for e in events if isinstance(e, SendPhoto)]
    if photos and len(photos) != len(charts):
        raise RuntimeError(f"{flow}: {len(photos)} charts, expected {len(charts)} ({charts})")
    out, i = [], 0
    for event in events:
        if isinstance(event, SendPhoto):
            out.append(f"{prefix}-{i + 1:02d}-{charts[i]}.png")
            i += 1
        elif isinstance(event, SendDocument):
            out.append(event.filename)
        else:
            out.append("")
    return out


async def build_report(
    svc: Services,
    workshop: Workshop,
    *,
    keep: Callable[[str, bytes], None] | None = None,
    retain: bool = True,
) -> Report:
    """Run the four organizer flows, each followed by rendering its files off the loop.

    As in the bot, where each is one tap of the organizer: the Responder renders a flow's
    events before the next update. With `retain` off, the events are dropped once rendered
    (as the Responder drops them), so they do not inflate the memory figures.
    """
    lang = svc.i18n.pick(workshop.language)
    report = Report()
    for flow, call in _flows(svc, workshop, lang):
        start = time.perf_counter()
        events = await call()
        report.phases.append(Phase(flow, "flow", start, time.perf_counter()))
        names = _names(svc, workshop, flow, events)
        if retain:
            report.events += events
            report.names += names
        # As the Responder does: the worker processes start on the charts at once, a few
        # ahead of the one being handed out. A file's phase is the wait for it in its turn.
        ahead = DrawAhead(svc, events)
        ahead.start()
        try:
            for index, (event, name) in enumerate(zip(events, names, strict=True)):
                if not isinstance(event, SendPhoto | SendDocument):
                    continue
                if isinstance(event, SendPhoto):
                    report.photos += 1
                    report.first_photo = report.first_photo or (event, name)
                else:
                    report.documents += 1
                start = time.perf_counter()
                data = await render_event(svc, event, ahead, index)
                report.phases.append(Phase(name, "render", start, time.perf_counter()))
                if keep is not None:
                    keep(name, data)
        finally:
            ahead.cancel()
        del events
    return report


async def render_event(
    svc: Services, event: SendPhoto | SendDocument, ahead: DrawAhead | None = None, index: int = 0
) -> bytes:
    """Draw a chart or build a file exactly as `bot.output.Responder` does before sending."""
    if isinstance(event, SendPhoto):
        # Charts that ask for it are drawn in the worker processes, ahead, as the Responder
        # draws them.
        png = await ahead.png(index) if ahead is not None else None
        if png is not None:
            return png
        if event.separate_process and svc.process_pool is not None:
            return await svc.build(event.render, separate_process=True)
        # The Responder's own chart thread, and its collection after each chart.
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(Responder._charts, Responder._draw, event.render)
    return await svc.build(event.build, separate_process=event.separate_process)


# ---------------------------------------------------------------- benchmark mode


def _mb(value: float) -> float:
    return value / MB


async def _open(tmp: Path, name: str = "bench.db") -> Store:
    return await open_store(f"sqlite:///{tmp / name}")


async def one_run(index: int, args: argparse.Namespace, template: Path | None) -> RunResult:
    """Simulate a workshop in a fresh database and time the full report with the probes."""
    content = load_content(CONTENT_DIR)
    with tempfile.TemporaryDirectory(prefix="bench-report-") as tmp_name:
        tmp = Path(tmp_name)
        started = time.perf_counter()
        if template is not None:
            shutil.copyfile(template, tmp / "bench.db")
        store = await _open(tmp)
        # The bot's worker processes for heavy files, as bot.app's post_init creates them.
        pool = worker_pool()
        try:
            svc = make_services(store, content, FakeClock(CLOCK_NOW))
            svc.process_pool = pool
            if template is None:
                workshop = await simulate_workshop(
                    svc, participants=args.participants, seed=args.seed
                )
            else:
                found = await store.workshop_by_slug("cochabamba-2023")
                assert found is not None
                workshop = found
            simulate_s = time.perf_counter() - started
            return await _measure(index, args, svc, workshop, simulate_s)
        finally:
            pool.shutdown(wait=True)
            await store.close()


async def _measure(
    index: int, args: argparse.Namespace, svc: Services, workshop: Workshop, simulate_s: float
) -> RunResult:
    gc.collect()
    # As bot.app's post_init does once everything long-lived is loaded.
    gc.freeze()
    rss_before = current_rss()
    sizes: list[int] = []
    if args.tracemalloc:
        tracemalloc.start()
    with GcWatch() as collector:
        async with Heartbeat() as beat:
            with StallSampler(beat) as sampler:
                start = time.perf_counter()
                report = await build_report(
                    svc, workshop, keep=lambda _n, data: sizes.append(len(data)), retain=False
                )
                end = time.perf_counter()
                # Now, not after the baseline below: that one loads matplotlib into this process.
                rss_end = current_rss()
    gc.unfreeze()
    load = os.getloadavg()[0]
    worker_mbs = [_mb(peak) for peak in worker_peak_rss(svc)]
    traced = tracemalloc.get_traced_memory()[1] if args.tracemalloc else None
    if args.tracemalloc:
        tracemalloc.stop()
    due, late = beat.worst()
    phase = next((p for p in report.phases if p.start <= due < p.end), None)
    # A stall that overlaps a collector pass of over half its length is put down to it.
    gc_overlap = max(
        (
            min(due + late, g_start + g_s) - max(due, g_start)
            for _, g_start, g_s in collector.passes
        ),
        default=0.0,
    )
    gc_generation, gc_longest = collector.longest()
    flow_lates = [
        x for p in report.phases if p.kind == "flow" for x in beat.lateness(p.start, p.end)
    ]
    render_lates = [
        x for p in report.phases if p.kind == "render" for x in beat.lateness(p.start, p.end)
    ]

    # The baseline: the same probe, and one chart drawn right on the loop (what the
    # Responder avoids with asyncio.to_thread).
    # Only after the last run: it loads matplotlib into this process, which would then count
    # in the memory of the runs after it.
    photo = report.first_photo
    assert photo is not None
    block_ms = 0.0
    async with Heartbeat() as baseline:
        if index == args.runs:
            block_start = time.perf_counter()
            photo[0].render()
            block_ms = (time.perf_counter() - block_start) * 1000
        await asyncio.sleep(HEARTBEAT_S * 2)

    # Not part of the organizer report: what one participant's DGCA submission costs the
    # loop, since the profile chart now compares the person with the whole group.
    async with Heartbeat() as participant_beat:
        profile_start = time.perf_counter()
        await _profile(svc, workshop, FIRST_TELEGRAM_ID)
        profile_ms = (time.perf_counter() - profile_start) * 1000
        await asyncio.sleep(HEARTBEAT_S * 2)
    return RunResult(
        index=index,
        participants=args.participants,
        simulate_s=simulate_s,
        total_s=end - start,
        phases=report.phases,
        stall_worst_ms=late * 1000,
        stall_p99_ms=percentile(beat.lateness(start, end), 0.99) * 1000,
        stall_phase=(f"{phase.kind} {phase.name}" if phase else "between phases")
        + (" (a garbage-collector pass)" if late and gc_overlap > late / 2 else ""),
        stall_where=describe_stall(sampler, due, late, collector.passes),
        gc_passes=len(collector.passes),
        gc_full=collector.full(),
        gc_longest_ms=gc_longest * 1000,
        gc_longest_generation=gc_generation,
        gc_total_ms=sum(p[2] for p in collector.passes) * 1000,
        flow_stall_ms=max(flow_lates, default=0.0) * 1000,
        render_stall_ms=max(render_lates, default=0.0) * 1000,
        heartbeats=len(beat.lateness(start, end)),
        rss_before_mb=_mb(rss_before),
        rss_peak_report_mb=_mb(max(beat.rss_peak, rss_end)),
        maxrss_mb=_mb(max_rss()),
        traced_peak_mb=_mb(traced) if traced is not None else None,
        photos=report.photos,
        documents=report.documents,
        xlsx_s=sum(p.seconds for p in report.phases if p.name.endswith(".xlsx")),
        load=load,
        worker_peak_mb=max(worker_mbs, default=0.0),
        worker_peaks_mb=worker_mbs,
        output_mb=_mb(sum(sizes)),
        baseline_block_ms=block_ms,
        baseline_stall_ms=baseline.worst()[1] * 1000,
        baseline_chart=photo[1],
        profile_ms=profile_ms,
        profile_stall_ms=participant_beat.worst()[1] * 1000,
    )


def machine_info() -> list[str]:
    """Describe the machine and the versions that matter to the figures."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            models = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
        if models:
            cpu = models[0]
    except OSError:
        pass
    mem = ""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            total_kb = int(next(line for line in f if line.startswith("MemTotal")).split()[1])
        mem = f", {total_kb / 1024 / 1024:.1f} GiB RAM"
    except (OSError, StopIteration, ValueError):
        pass
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    load = ", load average {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())

    def version(name: str) -> str:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return "?"

    return [
        f"Machine: python {platform.python_version()}, {cpu}, {os.cpu_count()} CPUs"
        f" ({usable} usable){mem}{load}",
        f"system: {platform.platform()}",
        f"python {platform.python_version()} ({platform.python_implementation()}),"
        f" matplotlib {version('matplotlib')}, xlsxwriter {version('xlsxwriter')},"
        f" aiosqlite {version('aiosqlite')}, SQLite {sqlite3.sqlite_version},"
        f" switch interval {sys.getswitchinterval() * 1000:.0f} ms",
    ]


def describe_run(r: RunResult) -> list[str]:
    slow_flow, slow_render = r.slowest("flow"), r.slowest("render")
    flows = ", ".join(f"{p.name} {p.seconds * 1000:.0f}" for p in r.phases if p.kind == "flow")
    traced = f", traced Python peak {r.traced_peak_mb:.1f} MB" if r.traced_peak_mb else ""
    verdict = "OK" if r.stall_worst_ms < STALL_GOAL_MS else "OVER THE GOAL"
    return [
        f"run {r.index}: {r.participants} participants, simulated in {r.simulate_s:.1f} s,"
        f" load average {r.load:.2f} at the end",
        f"  report {r.total_s:.2f} s = flows on the loop {r.flows_s:.2f} s"
        f" + rendering off the loop {r.render_s:.2f} s"
        f" ({r.photos} charts, {r.documents} files, {r.output_mb:.1f} MB); XLSX {r.xlsx_s:.2f} s",
        f"  flows (ms): {flows}",
        f"  slowest file: {slow_render.name} {slow_render.seconds * 1000:.0f} ms;"
        f" slowest flow: {slow_flow.name} {slow_flow.seconds * 1000:.0f} ms",
        f"  loop stall: worst {r.stall_worst_ms:.1f} ms (during {r.stall_phase}),"
        f" p99 {r.stall_p99_ms:.1f} ms over {r.heartbeats} heartbeats;"
        f" worst in flows {r.flow_stall_ms:.1f} ms, in rendering {r.render_stall_ms:.1f} ms"
        f" [{verdict}: goal {STALL_GOAL_MS:.0f} ms]",
        f"  worst stall, sampled: {r.stall_where}",
        f"  garbage collector: {r.gc_passes} passes ({r.gc_full} full), {r.gc_total_ms:.0f} ms"
        f" in all, longest {r.gc_longest_ms:.0f} ms (generation {r.gc_longest_generation})",
        f"  memory: RSS {r.rss_before_mb:.0f} MB before, {r.rss_peak_report_mb:.0f} MB peak"
        f" during the report; ru_maxrss {r.maxrss_mb:.0f} MB{traced};"
        f" worker processes' peaks {' + '.join(f'{mb:.0f}' for mb in r.worker_peaks_mb) or '?'}"
        f" MB",
        (
            f"  baseline: {r.baseline_chart} rendered on the loop blocked it"
            f" {r.baseline_block_ms:.0f} ms; the probe saw a {r.baseline_stall_ms:.0f} ms stall"
            if r.baseline_block_ms
            else "  baseline: drawn after the last run only"
        ),
        f"  participant flow (not in the report): profile_event took {r.profile_ms:.0f} ms,"
        f" worst loop stall {r.profile_stall_ms:.1f} ms",
    ]


def describe_medians(results: list[RunResult]) -> list[str]:
    """Summarize the runs: medians, then each goal with every run and its load average."""

    def med(get: Callable[[RunResult], float]) -> float:
        return statistics.median(get(r) for r in results)

    rows: list[tuple[str, float, str]] = [
        ("report wall time", med(lambda r: r.total_s), "s"),
        ("  flows on the loop", med(lambda r: r.flows_s), "s"),
        ("  rendering off the loop", med(lambda r: r.render_s), "s"),
        ("  XLSX (worker process)", med(lambda r: r.xlsx_s), "s"),
        ("worst loop stall", med(lambda r: r.stall_worst_ms), "ms"),
        ("p99 loop stall", med(lambda r: r.stall_p99_ms), "ms"),
        ("worst stall in flows", med(lambda r: r.flow_stall_ms), "ms"),
        ("worst stall in rendering", med(lambda r: r.render_stall_ms), "ms"),
        ("longest garbage-collector pass", med(lambda r: r.gc_longest_ms), "ms"),
        ("RSS peak during report", med(lambda r: r.rss_peak_report_mb), "MB"),
        ("ru_maxrss (process peak)", med(lambda r: r.maxrss_mb), "MB"),
        ("worker process peak RSS (highest)", med(lambda r: r.worker_peak_mb), "MB"),
        ("worker processes' peaks, summed", med(lambda r: sum(r.worker_peaks_mb)), "MB"),
        ("baseline (last run): chart on the loop", results[-1].baseline_block_ms, "ms"),
        ("baseline (last run): stall seen", results[-1].baseline_stall_ms, "ms"),
        ("participant profile_event", med(lambda r: r.profile_ms), "ms"),
        ("  its worst loop stall", med(lambda r: r.profile_stall_ms), "ms"),
        ("simulation", med(lambda r: r.simulate_s), "s"),
    ]
    traced = [r.traced_peak_mb for r in results if r.traced_peak_mb is not None]
    if traced:
        rows.insert(11, ("traced Python peak", statistics.median(traced), "MB"))
    for name in [p.name for p in results[0].phases if p.kind == "flow"]:
        rows.append(
            (
                f"flow {name}",
                statistics.median(
                    next(p.seconds for p in r.phases if p.name == name) * 1000 for r in results
                ),
                "ms",
            )
        )
    width = max(len(name) for name, _, _ in rows)
    out = [f"median over {len(results)} runs:"]
    for name, value, unit in rows:
        digits = 2 if unit == "s" else 1 if unit == "ms" else 0
        out.append(f"  {name.ljust(width)}  {value:>9.{digits}f} {unit}")
    out.append("goals (median; each run with the load average when it ended):")
    out += goal_lines(
        results,
        [
            ("XLSX", lambda r: r.xlsx_s, "s", XLSX_GOAL_S, False),
            ("full report", lambda r: r.total_s, "s", REPORT_GOAL_S, False),
            (
                "peak RSS during the report",
                lambda r: r.rss_peak_report_mb,
                "MB",
                RSS_GOAL_MB,
                False,
            ),
            ("worst event-loop stall", lambda r: r.stall_worst_ms, "ms", STALL_GOAL_MS, True),
        ],
    )
    return out


def goal_lines(
    results: Sequence[Any], goals: Sequence[tuple[str, Any, str, float, bool]]
) -> list[str]:
    """One line per goal: the median, every run with its load, and met or not.

    A goal marked `every` must hold in every run; the others are judged on the median.
    """
    out = []
    for name, get, unit, limit, every in goals:
        values = [get(r) for r in results]
        digits = 2 if unit == "s" else 0 if unit == "MB" else 1
        runs = ", ".join(
            f"{v:.{digits}f} (load {r.load:.1f})" for v, r in zip(values, results, strict=True)
        )
        median = statistics.median(values)
        met = all(v < limit for v in values) if every else median < limit
        judged = "in every run" if every else "median"
        out.append(
            f"  {name}: {median:.{digits}f} {unit} [{runs}];"
            f" goal < {limit:g} {unit} {judged}: {'met' if met else 'NOT met'}"
        )
    return out


async def _make_template(args: argparse.Namespace, folder: Path) -> tuple[Path, float]:
    started = time.perf_counter()
    store = await _open(folder, "template.db")
    try:
        svc = make_services(store, load_content(CONTENT_DIR), FakeClock(CLOCK_NOW))
        await simulate_workshop(svc, participants=args.participants, seed=args.seed)
    finally:
        await store.close()  # the last connection checkpoints the WAL into the file
    return folder / "template.db", time.perf_counter() - started


async def benchmark(args: argparse.Namespace) -> None:
    for line in machine_info():
        print(line)
    print(
        f"{args.participants} participants, seed {args.seed}, {args.runs} runs,"
        f" heartbeat every {HEARTBEAT_S * 1000:.0f} ms"
        + (", tracemalloc on (times inflated)" if args.tracemalloc else "")
        + (", one simulation copied per run" if args.reuse_simulation else ""),
        flush=True,
    )
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-report-template-") as folder:
        template = None
        if args.reuse_simulation:
            template, seconds = await _make_template(args, Path(folder))
            print(f"simulated once in {seconds:.1f} s", flush=True)
        for index in range(1, args.runs + 1):
            result = await one_run(index, args, template)
            results.append(result)
            print("\n".join(describe_run(result)), flush=True)
    print("\n".join(describe_medians(results)))


# ---------------------------------------------------------------- samples mode

_TAGS = (
    (re.compile(r"</?(b|strong)>"), "**"),
    (re.compile(r"</?(i|em)>"), "_"),
    (re.compile(r"</?code>"), "`"),
    (re.compile(r"<[^>]+>"), ""),
)


def plain_markdown(text: str) -> str:
    """Turn a caption's Telegram HTML into Markdown for the README."""
    for pattern, replacement in _TAGS:
        text = pattern.sub(replacement, text)
    return html.unescape(text)


def quote(text: str) -> str:
    """Quote a caption in Markdown, each of its lines a paragraph of the quote."""
    lines = [line.strip() for line in plain_markdown(text).splitlines()]
    return "\n>\n".join(f"> {line}" for line in lines if line)


async def _profile(svc: Services, workshop: Workshop, telegram_id: int) -> SendPhoto:
    participant = await svc.store.participant(workshop.id, telegram_id)
    assert participant is not None
    q = svc.content.questionnaire(workshop_file(workshop).dgca)
    response = await svc.store.find_response(participant.id, q.id)
    assert response is not None
    answers = await svc.store.answers(response.id)
    run = forms.Run(q, response, answers, participant, workshop)
    lang = svc.i18n.pick(workshop.language)
    ctx = Ctx(svc, Actor(telegram_id, participant.name or "", None, lang), lang)
    return await profile_event(ctx, run)


async def samples(args: argparse.Namespace) -> None:
    out = Path(args.samples)
    with tempfile.TemporaryDirectory(prefix="samples-") as tmp:
        store = await _open(Path(tmp))
        try:
            svc = make_services(store, load_content(CONTENT_DIR), FakeClock(CLOCK_NOW))
            workshop = await simulate_workshop(svc, participants=args.participants, seed=args.seed)
            written: dict[str, bytes] = {}
            report = await build_report(svc, workshop, keep=written.__setitem__)
            profile = await _profile(svc, workshop, FIRST_TELEGRAM_ID)
            written["participant-profile.png"] = await asyncio.to_thread(profile.render)
        finally:
            await store.close()
    local = CLOCK_NOW.astimezone(workshop_file(workshop).zone)
    written["README.md"] = _readme(args, report, profile, local.strftime("%Y-%m-%d %H:%M")).encode(
        "utf-8"
    )
    _write_samples(out, written)
    print(f"wrote {len(written)} files to {out}")


def _write_samples(out: Path, files: dict[str, bytes]) -> None:
    """Replace the generated files of `out` (only kinds this script writes) with `files`."""
    out.mkdir(parents=True, exist_ok=True)
    for old in [*out.glob("*.png"), *out.glob("*.xlsx"), *out.glob("*.txt")]:
        old.unlink()
    for name, data in files.items():
        (out / name).write_bytes(data)


def _readme(args: argparse.Namespace, report: Report, profile: SendPhoto, local: str) -> str:
    lines = [
        "# Sample organizer report (simulated data)",
        "",
        "Every file here was produced by the bot's own report code from **simulated** answers"
        f" ({args.participants} participants, seed {args.seed}, `benchmarks/simulate.py`) for the"
        f" workshop `cochabamba-2023`, with the clock fixed at {local} in La Paz. Regenerate"
        " them with:",
        "",
        "```sh",
        f".venv/bin/python -m benchmarks.report --samples docs/samples"
        f" --participants {args.participants}",
        "```",
        "",
        "The same command writes the same bytes. Below, each file with the caption the bot sends"
        " beside it, then the text messages of the report, so the figures can be read without"
        " the pictures.",
        "",
        "## Files",
        "",
    ]
    entries: list[tuple[str, str]] = []
    for event, name in zip(report.events, report.names, strict=True):
        if isinstance(event, SendPhoto | SendDocument):
            entries.append((name, event.caption))
    entries.append(("participant-profile.png", profile.caption))
    for name, caption in entries:
        lines += [f"### `{name}`", ""]
        if name.endswith(".png"):
            lines += [f"![{name}]({name})", ""]
        lines += [quote(caption) if caption else "_(no caption)_", ""]
    lines += ["## Messages", ""]
    for event in report.events:
        if isinstance(event, Send):
            lines += [quote(event.text), ""]
    return "\n".join(lines).rstrip() + "\n"


# ---------------------------------------------------------------- command line


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Read the command line; --quick and --samples change the defaults."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.report",
        description="Time the organizer report for a simulated workshop, or write samples.",
    )
    parser.add_argument("--participants", type=int, help="default 1000 (40 with --samples)")
    parser.add_argument("--runs", type=int, default=5, help="benchmark runs (default 5)")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--samples", metavar="DIR", help="write sample files to DIR instead")
    parser.add_argument(
        "--tracemalloc",
        action="store_true",
        help="also trace the peak of Python allocations (slows the report down)",
    )
    parser.add_argument(
        "--reuse-simulation",
        action="store_true",
        default=True,
        help="simulate once and give each run a fresh copy of that database (the default)",
    )
    parser.add_argument(
        "--simulate-each-run",
        dest="reuse_simulation",
        action="store_false",
        help="simulate the workshop anew in every run",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"a smoke test: {QUICK_PARTICIPANTS} participants, 1 run",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.participants, args.runs = args.participants or QUICK_PARTICIPANTS, 1
    if args.participants is None:
        args.participants = SAMPLE_PARTICIPANTS if args.samples else BENCH_PARTICIPANTS
    if args.participants < 1 or args.runs < 1:
        parser.error("--participants and --runs must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> None:
    """Run the benchmark or write the samples."""
    args = parse_args(argv)
    try:
        asyncio.run(samples(args) if args.samples else benchmark(args))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        raise SystemExit(130) from None


if __name__ == "__main__":
    main()
