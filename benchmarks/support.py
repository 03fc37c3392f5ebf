"""What the answer, latency, startup and memory benchmarks share.

* machine and load lines, percentiles and "median (min–max)" figures;
* `ChildBot`: the tests' real bot process (``python -m bot run`` or ``benchmarks.botproc``),
  pointed at the double, with its CPU time and memory read from ``/proc``;
* `DrivingDouble` and `Driver`: simulated participants who answer every DGCA statement the
  bot shows as soon as it arrives (or after a think time), and optionally submit.

The double runs in the benchmark's process and every bot in a child process, so that the
double's own work (HTTP, validation against the Bot API spec) is not billed to the bot.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import random
import statistics
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import telegram
import yaml

import content as content_pkg
from bot.apidouble import BotApiDouble, SimUser
from bot.clock import SystemClock
from bot.content import Content, WorkshopFile, load_content
from bot.flows.callbacks import CODEC_VERSION, Answer, Submit, SubmitConfirm
from bot.flows.workshops import import_workshop
from bot.i18n import I18n
from bot.services import Services
from storage import Store, open_store
from tests.realproc import BotProcess

TOKEN = "123456:BENCH-TOKEN"
BOT_USERNAME = "taller_bench_bot"
CONTENT_DIR = content_pkg.DEFAULT_DIR
WORKSHOP_FILE = CONTENT_DIR / "workshops" / "cochabamba-2023.yaml"
ANSWER_PREFIX = f"{CODEC_VERSION}{Answer.prefix}:"
SUBMIT_PREFIX = f"{CODEC_VERSION}{Submit.prefix}:"
CONFIRM_PREFIX = f"{CODEC_VERSION}{SubmitConfirm.prefix}:"
CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


# ---------------------------------------------------------------------- figures


def percentile(values: Sequence[float], q: float) -> float:
    """Return the q-quantile (nearest rank) of values, 0 for none."""
    if not values:
        return 0.0
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def spread(values: Sequence[float], digits: int = 1, unit: str = "") -> str:
    """Format the median and the range of several runs: ``12.3 (11.9–13.0)``."""
    if not values:
        return "n/a"
    med = statistics.median(values)
    return f"{med:.{digits}f}{unit} ({min(values):.{digits}f}–{max(values):.{digits}f})"


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
        f"python {platform.python_version()}, python-telegram-bot {telegram.__version__}, "
        f"{platform.system()} {platform.release()}, nproc {nproc}, {cpu}"
    )


def load_line() -> str:
    """Return the load averages (other jobs share this machine)."""
    try:
        one, five, fifteen = os.getloadavg()
    except OSError:
        return "load: unknown"
    return f"load average {one:.2f}, {five:.2f}, {fifteen:.2f}"


def header(title: str) -> str:
    return (
        f"{title}\nDate: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {load_line()}\n"
        f"Machine: {machine()}"
    )


# ---------------------------------------------------------------------- the database

# Where a benchmark may create PostgreSQL databases (CI's and the tests' server).
DATABASE_VARIABLE = "TEST_DATABASE_URL"


def add_postgres_options(parser: argparse.ArgumentParser) -> None:
    """Add --postgres URL (default $TEST_DATABASE_URL) and --no-postgres to a benchmark."""
    parser.add_argument(
        "--postgres",
        default=os.environ.get(DATABASE_VARIABLE),
        help="also run on PostgreSQL: a server URL where a database may be created"
        f" (default: ${DATABASE_VARIABLE}; unset: SQLite only)",
    )
    parser.add_argument("--no-postgres", action="store_true", help="SQLite only")


def postgres_url(args: argparse.Namespace) -> str | None:
    """Return the PostgreSQL server a benchmark was given, unless told to leave it out."""
    return None if args.no_postgres else args.postgres


async def fresh_database(admin_url: str) -> str:
    """Create an empty database on the server; return its URL."""
    import asyncpg

    name = f"bench_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(admin_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    return urlunsplit(urlsplit(admin_url)._replace(path=f"/{name}"))


async def drop_database(admin_url: str, url: str) -> None:
    """Drop a database `fresh_database` made."""
    import asyncpg

    name = urlsplit(url).path.lstrip("/")
    admin = await asyncpg.connect(admin_url)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


def quiet_workshop(slug: str = "bench-workshop") -> WorkshopFile:
    """Return the Cochabamba workshop without agenda, windows or reminders.

    Nothing is scheduled for it, so the only messages of a run are the answers'.
    """
    data = yaml.safe_load(WORKSHOP_FILE.read_text(encoding="utf-8"))
    data.update(
        id=slug,
        agenda=[],
        dgca_window=None,
        evaluation_window=None,
        session_feedback=False,
        reminders={
            "dgca_invitation": False,
            "dgca_nudge_days_before_close": [],
            "agenda_digest": False,
            "session_minutes_before": 0,
            "evaluation_invitation": False,
            "evaluation_nudge_hours_before_close": 0,
            "notify_agenda_changes": False,
        },
    )
    return WorkshopFile.model_validate(data)


@dataclass
class Population:
    """A database with one quiet workshop, to which participants are added."""

    store: Store
    services: Services
    workshop_id: int

    @classmethod
    async def create(cls, database_url: str, content: Content, i18n: I18n) -> Population:
        store = await open_store(database_url)
        svc = Services(store=store, content=content, i18n=i18n, clock=SystemClock())
        spec = quiet_workshop()
        result = await import_workshop(svc, spec, "benchmark", svc.clock.now())
        return cls(store, svc, result.workshop.id)

    async def add(self, double: BotApiDouble, count: int, tag: str) -> list[SimUser]:
        """Add `count` participants with a finished profile, as the join flow leaves them."""
        users = []
        now = self.services.clock.now()
        for i in range(count):
            user = double.new_user(f"{tag}{i}", "Bench", language_code="es", started=True)
            participant, _ = await self.store.join(
                workshop_id=self.workshop_id, telegram_id=user.id, language="es", now=now
            )
            for name, value in (
                ("name", f"{tag} {i} Bench"),
                ("institution", "Gobierno Autónomo Municipal de Sacaba"),
                ("position", "Jefatura de Sistemas"),
                ("country", "Bolivia"),
            ):
                await self.store.update_profile(participant.id, field=name, value=value)
            await self.store.mark_profile_done(participant.id)
            users.append(user)
        return users

    async def close(self) -> None:
        await self.store.close()


def load_texts() -> tuple[Content, I18n]:
    return load_content(CONTENT_DIR), I18n.load(CONTENT_DIR / "locales")


# ---------------------------------------------------------------------- the child process


class ChildBot(BotProcess):
    """A bot in its own process, pointed at the double, with its CPU time and memory."""

    start_timeout = 60.0

    def __init__(
        self,
        double: BotApiDouble,
        argv: Sequence[str],
        database_url: str,
        log: Path,
        extra_env: dict[str, str] | None = None,
    ) -> None:
        # Only errors matter in a benchmark's log; unbuffered, it is complete up to a kill.
        env = {"LOG_LEVEL": "WARNING", "PYTHONUNBUFFERED": "1", **(extra_env or {})}
        super().__init__(double, database_url, log, argv=argv, extra_env=env)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def cpu_seconds(self) -> float:
        """Return the user + system CPU time the process has used so far."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK

    def memory_mb(self) -> tuple[float, float]:
        """Return the resident set size now and its peak (VmRSS, VmHWM), in MB."""
        now = peak = 0.0
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                now = int(line.split()[1]) / 1024
            elif line.startswith("VmHWM:"):
                peak = int(line.split()[1]) / 1024
        return now, peak


# ---------------------------------------------------------------------- the participants


class DrivingDouble(BotApiDouble):
    """The Bot API double, telling `on_call` of every call it has answered successfully."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.on_call: Callable[[str, dict[str, Any], Any], None] | None = None

    async def _call(self, method: str, params: dict[str, Any], request: Any) -> Any:
        result = await super()._call(method, params, request)
        if self.on_call is not None:
            self.on_call(method, params, result)
        return result

    def forget_requests(self) -> None:
        """Drop the request log, which would otherwise grow by three entries per answer."""
        self.requests.clear()


@dataclass
class Person:
    """One simulated participant's progress."""

    user: SimUser
    target: int
    submit: bool
    answered: int = 0
    tapped_at: float | None = None
    waiting: tuple[int, str] | None = None
    submitting: bool = False
    done: bool = False


@dataclass
class Driver:
    """Participants who answer each statement the bot shows, then (optionally) submit.

    An answer is complete when the next statement (or the review after the last one)
    arrives, as the tapped message edited in place: the bot's last Bot API call for the tap.
    """

    double: DrivingDouble
    answer_prefix: str = ANSWER_PREFIX
    think: tuple[float, float] = (0.0, 0.0)
    seed: int = 1
    people: dict[int, Person] = field(default_factory=dict)
    completions: list[float] = field(default_factory=list)
    round_trips: list[float] = field(default_factory=list)
    going: bool = False

    def __post_init__(self) -> None:
        self._random = random.Random(self.seed)
        self._ready = 0
        self._answered = 0
        self._left = 0
        self.all_ready = asyncio.Event()
        self.all_answered = asyncio.Event()
        self.all_done = asyncio.Event()
        self.double.on_call = self._on_call

    def add(self, users: Sequence[SimUser], answers: int, *, submit: bool = False) -> None:
        for user in users:
            self.people[user.id] = Person(user, answers, submit)
        self._left += len(users)
        self.all_done.clear()

    async def open(self, command: str = "/dgca") -> None:
        """Have everyone send `command` and wait until each sees a statement."""
        for person in self.people.values():
            await person.user.send(command)
        await self.all_ready.wait()

    def go(self) -> None:
        """Start answering (everyone whose statement is waiting taps now)."""
        self.going = True
        for person in self.people.values():
            if person.waiting is not None:
                message_id, data = person.waiting
                person.waiting = None
                self._schedule(person, message_id, data)

    def _schedule(self, person: Person, message_id: int, data: str) -> None:
        loop = asyncio.get_running_loop()
        low, high = self.think
        delay = self._random.uniform(low, high) if high > 0 else 0.0
        if delay > 0:
            loop.call_later(delay, self._tap, person, message_id, data)
        else:
            loop.call_soon(self._tap, person, message_id, data)

    def _tap(self, person: Person, message_id: int, data: str) -> None:
        chat = self.double.chat_state(person.user.id)
        if not person.submitting:
            person.tapped_at = time.perf_counter()
        self.double.issue_callback(person.user, chat, chat.messages[message_id], data)

    def _finish(self, person: Person) -> None:
        if not person.done:
            person.done = True
            self._left -= 1
            if self._left == 0:
                self.all_done.set()

    def _on_call(self, method: str, params: dict[str, Any], result: Any) -> None:
        if method not in ("sendMessage", "editMessageText", "sendPhoto"):
            return
        if not isinstance(result, dict):
            return
        person = self.people.get(int(result["chat"]["id"]))
        if person is None or person.done:
            return
        now = time.perf_counter()
        rows = (result.get("reply_markup") or {}).get("inline_keyboard", [])
        data = [str(b.get("callback_data", "")) for row in rows for b in row]
        message_id = int(result["message_id"])
        if method == "sendPhoto":
            if person.submitting:
                self._finish(person)
            return
        if method == "editMessageText":
            confirm = [d for d in data if d.startswith(CONFIRM_PREFIX)]
            if person.submitting and confirm:
                self._schedule(person, message_id, confirm[0])
                return
            if not data:
                return  # a message retired or confirmed, not the next statement
        if person.tapped_at is not None:
            person.answered += 1
            if person.answered == person.target:
                self._answered += 1
                if self._answered == len(self.people):
                    self.all_answered.set()
            self.round_trips.append(now - person.tapped_at)
            self.completions.append(now)
            person.tapped_at = None
        answers = [d for d in data if d.startswith(self.answer_prefix)]
        if answers and person.answered < person.target:
            # Varied answers: mostly the agreement options, sometimes "don't know".
            choice = answers[min(len(answers) - 1, int(self._random.triangular(0, 6, 3.5)))]
            if not self.going:
                if person.waiting is None:
                    self._ready += 1
                    if self._ready == len(self.people):
                        self.all_ready.set()
                person.waiting = (message_id, choice)
            else:
                self._schedule(person, message_id, choice)
            return
        if person.answered >= person.target:
            submit = [d for d in data if d.startswith(SUBMIT_PREFIX)]
            if person.submit and submit and not person.submitting:
                person.submitting = True
                self._schedule(person, message_id, submit[0])
            elif not person.submit:
                self._finish(person)

    def reset(self) -> None:
        """Forget everyone, for the next round."""
        self.people.clear()
        self.completions.clear()
        self.round_trips.clear()
        self.going = False
        self._ready = 0
        self._answered = 0
        self._left = 0
        self.all_ready = asyncio.Event()
        self.all_answered = asyncio.Event()
        self.all_done = asyncio.Event()


def trimmed_rate(completions: Sequence[float], trim: float = 0.05) -> float:
    """Return answers per second between the first and last `trim` of completions.

    Leaving out the ramp-up and the drain measures the steady state.
    """
    times = sorted(completions)
    if len(times) < 2:
        return 0.0
    lo = int(trim * len(times))
    hi = max(lo + 1, len(times) - 1 - int(trim * len(times)))
    span = times[hi] - times[lo]
    return (hi - lo) / span if span > 0 else 0.0
