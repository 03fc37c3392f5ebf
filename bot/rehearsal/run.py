"""Start the bot against the built-in Bot API double, run the phases, and write the results."""

from __future__ import annotations

import asyncio
import collections
import itertools
import json
import logging
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TextIO

import content as content_pkg
from bot.app import ALLOWED_UPDATES, BotApplication, build_application
from bot.clock import SimulatedClock
from bot.content import Content, QuestionType, load_workshop_file
from bot.i18n import I18n
from bot.rehearsal.people import DgcaPlan, Person, make_people
from bot.rehearsal.phases import PHASES, rehearsal_start
from bot.rehearsal.progress import Progress
from bot.rehearsal.transcript import (
    FileRef,
    Recorder,
    RecordingDouble,
    download_files,
    render_chat,
)
from bot.rehearsal.world import Chat, Player, RehearsalError, World
from bot.settings import Settings
from storage import Checkin, StepStatus

DEFAULT_WORKSHOP = content_pkg.DEFAULT_DIR / "workshops" / "cochabamba-2023.yaml"
DEFAULT_OUT = Path("rehearsal")
# A made-up token: the double accepts it, Telegram never sees it.
TOKEN = "777000777:REHEARSAL-OFFLINE"
BOT_USERNAME = "taller_rehearsal_bot"
ADMIN_ID = 900_001
ORGANIZER_ID = 900_002
FIRST_PARTICIPANT_ID = 910_001
# What a rehearsal writes: --force replaces these and leaves anything else alone.
OWN_ENTRIES = ("summary.md", "summary.json", "bot.log", "transcripts", "files")
LANGUAGE_NAMES = {"es": "Spanish", "en": "English"}
PLAN_TEXT = {
    DgcaPlan.EARLY: "takes the self-assessment soon after the invitation",
    DgcaPlan.LATE: "takes the self-assessment after a reminder",
    DgcaPlan.RESUMED: "stops the self-assessment midway and finishes it after a reminder",
    DgcaPlan.DROPPED: "stops the self-assessment midway for good",
    DgcaPlan.NEVER: "never starts the self-assessment",
}


@dataclass(frozen=True)
class Options:
    """What to rehearse and where to write it."""

    participants: int = 40
    seed: int = 1
    workshop: Path = DEFAULT_WORKSHOP
    out: Path = DEFAULT_OUT
    force: bool = False
    database: Path | None = None
    quiet: bool = False
    # For golden tests: what races by design (a tapped button's pop-up against the reply,
    # a broadcast's progress edits paced on the wall clock) comes out the same every run.
    stable: bool = False


@dataclass
class Summary:
    """The rehearsal's figures, as printed and as written to summary.json."""

    workshop: str
    participants: int
    seed: int
    simulated_from: str = ""
    simulated_to: str = ""
    joined: int = 0
    languages: dict[str, int] = field(default_factory=dict)
    institutions: int = 0
    # False when the workshop file switches the DGCA off (`dgca: false`).
    dgca_used: bool = True
    dgca_submitted: int = 0
    dgca_partial: int = 0
    evaluation_submitted: int = 0
    open_answers: int = 0
    session_ratings: int = 0
    session_raters: int = 0
    session_comments: int = 0
    reminders_delivered: int = 0
    reminders_by_kind: dict[str, int] = field(default_factory=dict)
    automatic_reports: int = 0
    broadcast_delivered: int = 0
    bot_messages: int = 0
    bot_edits: int = 0
    # Per workshop day: the most messages one participant got, and the median; first those
    # the bot sent on its own (no action of the person in the minute before), then all.
    messages_per_day: dict[str, list[int]] = field(default_factory=dict)
    # Messages the bot sent on its own in the workshop's quiet hours, to anyone (goal: none),
    # and which: "YYYY-MM-DD HH:MM chat: text".
    night_messages: int = 0
    night_details: list[str] = field(default_factory=list)
    # Occasions that fell due in quiet hours and were held for the morning.
    held_for_morning: list[str] = field(default_factory=list)
    # The DGCA's cost: Bot API calls per answer (mean, and how many answers took each
    # count), and the bot's messages in a participant's chat per DGCA (median and most,
    # over those who submitted; most in one sitting).
    dgca_calls_per_answer: float = 0.0
    dgca_calls: dict[str, int] = field(default_factory=dict)
    dgca_messages: dict[str, int] = field(default_factory=dict)
    # After the workshop, per calendar month: messages to participants (all, the most one
    # person got, the median), to the association's officer and to the organizers, and
    # what the outbox sent by kind.
    messages_per_month: dict[str, dict[str, int]] = field(default_factory=dict)
    # Follow-up of the plans: per check-in (m1, m3, m6) plans asked, answered, answered
    # after the reminder, reminded; overdue-step prompts; updates by status; digests.
    checkins: dict[str, dict[str, int]] = field(default_factory=dict)
    overdue_prompts: int = 0
    updates_by_status: dict[str, int] = field(default_factory=dict)
    blocked_notes: list[str] = field(default_factory=list)
    association_digests: int = 0
    ticks: int = 0
    files_sent: int = 0
    files_written: int = 0
    bytes_written: int = 0
    transcripts: int = 0
    warnings: int = 0
    errors: list[str] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    failure: str = ""
    wall_seconds: float = 0.0
    phase_seconds: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Return True when every phase ran and the bot logged no error nor broke an API rule."""
        return not self.failure and not self.errors and not self.violations

    def lines(self, out: Path) -> list[str]:
        """Return the summary as aligned lines of plain text."""
        share = f" ({self.dgca_submitted / self.joined:.0%})" if self.joined else ""
        langs = ", ".join(
            f"{n} in {LANGUAGE_NAMES.get(lang, lang)}" for lang, n in sorted(self.languages.items())
        )
        kinds = ", ".join(f"{k} {n}" for k, n in sorted(self.reminders_by_kind.items()))
        phases = ", ".join(f"{k} {v:.0f} s" for k, v in self.phase_seconds.items())
        dgca = (
            f"{self.dgca_submitted} submitted{share}, {self.dgca_partial} partial, "
            f"{self.joined - self.dgca_submitted - self.dgca_partial} not started"
            if self.dgca_used
            else "switched off in this workshop (dgca: false)"
        )
        rows = [
            ("participants joined", f"{self.joined} of {self.participants} ({langs}; "
             f"{self.institutions} institutions)"),
            ("DGCA", dgca),
            ("session ratings", f"{self.session_ratings} from {self.session_raters} people, "
             f"{_plural(self.session_comments, 'comment')}"),
            ("evaluation", f"{self.evaluation_submitted} submitted, "
             f"{self.open_answers} open answers"),
            ("reminders delivered", f"{self.reminders_delivered} ({kinds})"),
            ("automatic reports", f"{self.automatic_reports} (as questionnaire windows closed)"),
            ("broadcast", f"{self.broadcast_delivered} delivered"),
            ("messages sent by the bot", f"{self.bot_messages} (and {self.bot_edits} edits), "
             f"{self.files_sent} of them files"),
            ("per participant and day", "; ".join(
                f"{day}: unasked at most {most} (median {median}), all at most {top} ({mid})"
                for day, (most, median, top, mid) in self.messages_per_day.items()
            )),
            ("sent in quiet hours", f"{self.night_messages} (goal 0)" + "".join(
                f"; {line}" for line in self.night_details[:5])
             + f"; {len(self.held_for_morning)} occasions held for the morning"),
            *([] if not self.dgca_used else [
                ("DGCA, per answer", f"{self.dgca_calls_per_answer:.2f} Bot API calls ("
                 + ", ".join(f"{n} calls: {k}" for n, k in sorted(
                     self.dgca_calls.items(), key=lambda kv: int(kv[0]))) + " answers)"),
                ("DGCA, chat messages", _dgca_messages(self.dgca_messages)),
            ]),
            *_follow_up_rows(self),
            *_month_rows(self.messages_per_month),
            (f"written to {out}/", f"{self.transcripts} transcripts, {self.files_written} files "
             f"({self.bytes_written / 1e6:.1f} MB), summary.md, bot.log"),
            ("simulated time", f"{self.simulated_from} to {self.simulated_to}, "
             f"the scheduler run {self.ticks} times (every hour and at each occasion)"),
            ("wall time", f"{self.wall_seconds:.0f} s ({phases})"),
            ("bot log", f"{len(self.errors)} errors, {self.warnings} warnings; "
             f"{len(self.violations)} Bot API protocol violations"),
        ]  # fmt: skip
        width = max(len(k) for k, _ in rows)
        return [f"  {k.ljust(width)}  {v}" for k, v in rows]


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" + ("" if count == 1 else "s")


def _dgca_messages(figures: dict[str, int]) -> str:
    if not figures:
        return "nobody submitted"
    return (
        f"median {figures['median']}, at most {figures['most']} per DGCA submitted "
        f"({figures['submitted']}); at most {figures['one_sitting']} in one sitting"
    )


def _follow_up_rows(summary: Summary) -> list[tuple[str, str]]:
    if not summary.checkins:
        return []
    asked = "; ".join(
        f"{key}: {c['asked']} plans asked, {c['answered']} answered before the next "
        f"({c['after_reminder']} after a reminder), {c['reminded']} reminded"
        for key, c in summary.checkins.items()
    )
    updates = ", ".join(f"{k} {n}" for k, n in sorted(summary.updates_by_status.items()))
    return [
        ("check-ins", asked),
        ("plan updates", f"{sum(summary.updates_by_status.values())} ({updates}); "
         f"{len(summary.blocked_notes)} blocked with a note; "
         f"{summary.overdue_prompts} overdue-step prompts"),
        ("association digests", f"{summary.association_digests} delivered to the officer"),
    ]  # fmt: skip


def _month_rows(months: dict[str, dict[str, int]]) -> list[tuple[str, str]]:
    rows = []
    for month, m in months.items():
        rows.append((
            f"messages in {month}",
            f"participants {m['participants']} ({m['unasked']} unasked; at most {m['most']} "
            f"to one, median {m['median']}), association officer {m['association']}, "
            f"organizers {m['organizers']}",
        ))  # fmt: skip
    return rows


class UsageError(RehearsalError):
    """The options ask for something the rehearsal will not do (like overwrite a folder)."""


class _Capture(logging.Handler):
    """Keep the bot's log: count warnings, keep errors, write everything to a file."""

    def __init__(self, path: Path) -> None:
        super().__init__(logging.INFO)
        self.warnings = 0
        self.errors: list[str] = []
        self._file = path.open("w", encoding="utf-8")
        self._format = logging.Formatter("%(levelname)s %(name)s: %(message)s")

    def emit(self, record: logging.LogRecord) -> None:
        text = self._format.format(record)
        self._file.write(text + "\n")
        if record.levelno >= logging.ERROR:
            self.errors.append(text)
        elif record.levelno >= logging.WARNING:
            self.warnings += 1

    def close(self) -> None:
        self._file.close()
        super().close()


@contextmanager
def _captured_logs(path: Path) -> Iterator[_Capture]:
    capture = _Capture(path)
    root = logging.getLogger()
    previous = root.level
    # HTTP clients log every call; the scheduler warns that the real-time jobs it holds
    # for the simulated dates were missed, which is expected: the rehearsal sends them.
    noisy = {name: logging.getLogger(name).level for name in ("httpx", "httpcore", "apscheduler")}
    root.addHandler(capture)
    root.setLevel(logging.INFO)
    for name in noisy:
        logging.getLogger(name).setLevel(
            logging.ERROR if name == "apscheduler" else logging.WARNING
        )
    try:
        yield capture
    finally:
        root.removeHandler(capture)
        root.setLevel(previous)
        for name, level in noisy.items():
            logging.getLogger(name).setLevel(level)
        capture.close()


def prepare_out(out: Path, force: bool) -> None:
    """Make sure `out` can take the results; refuse to overwrite unless forced."""
    if out.exists() and not out.is_dir():
        raise UsageError(f"{out} exists and is not a folder")
    if out.is_dir() and any(out.iterdir()):
        if not force:
            raise UsageError(f"{out} is not empty (use --force to replace a rehearsal there)")
        for name in OWN_ENTRIES:
            target = out / name
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
    out.mkdir(parents=True, exist_ok=True)


def database_url(options: Options, tmp: str) -> str:
    """Return the database to rehearse on: a new file in `tmp`, or `--database`."""
    if options.database is None:
        return f"sqlite:///{Path(tmp) / 'rehearsal.sqlite3'}"
    path = options.database.resolve()
    if path.exists() and path.stat().st_size and not options.force:
        raise UsageError(f"{options.database} already exists (use --force to reuse it)")
    return f"sqlite:///{path}"


async def _start(app: BotApplication) -> None:
    """Start the application as `python -m bot run` does, inside this event loop."""
    await app.initialize()
    assert app.post_init is not None
    await app.post_init(app)
    assert app.updater is not None
    await app.updater.start_polling(poll_interval=0.0, timeout=5, allowed_updates=ALLOWED_UPDATES)
    await app.start()
    # The rehearsal sends what falls due as it moves the clock. The scheduler's real-time
    # jobs would only race with it: the safety tick, which the bot arms again whenever its
    # schedule changes, would send digests and follow-ups at whatever simulated moment the
    # wall clock happens to reach. Paused, the scheduler holds its jobs and runs none.
    if app.job_queue is not None:
        app.job_queue.scheduler.pause()


async def _stop(app: BotApplication) -> None:
    assert app.updater is not None
    if app.updater.running:
        await app.updater.stop()
    if app.running:
        await app.stop()
    if app.post_stop is not None:
        await app.post_stop(app)
    await app.shutdown()
    if app.post_shutdown is not None:
        await app.post_shutdown(app)


def _cast(world: World, people: list[Person]) -> None:
    double = world.double
    admin = double.new_user("Sofía", "Méndez", language_code="en", user_id=ADMIN_ID)
    organizer = double.new_user("Olga", "Rojas", language_code="es", user_id=ORGANIZER_ID)
    world.admin = Player(world, admin, "administrator")
    world.organizer = Player(world, organizer, "organizer")
    world.chats[organizer.id] = Chat(
        "organizer", "Olga Rojas — organizer", ["Organizer of the workshop (Telegram in Spanish)."]
    )
    world.group = double.new_group("Equipo del taller", [organizer, admin])
    world.chats[world.group.id] = Chat(
        "organizers-group",
        "Equipo del taller — the organizers' Telegram group",
        ["The organizer and the administrator; the bot posts automatic reports here."],
    )
    world.chats[admin.id] = Chat(
        "administrator",
        "Sofía Méndez — administrator",
        ["Administrator (`BOT_ADMIN_IDS`), Telegram in English: imports the workshop file "
         "and appoints the organizer."],
    )  # fmt: skip
    for person in people:
        person.telegram_id = FIRST_PARTICIPANT_ID + person.index
        user = double.new_user(
            person.first_name,
            person.last_name,
            language_code=person.language,
            user_id=person.telegram_id,
        )
        world.players.append(Player(world, user, person.slug, person))
        world.chats[user.id] = Chat(
            person.slug, f"{person.full_name} — participant", _about(person)
        )


async def rehearse(options: Options, content: Content, i18n: I18n, *, stderr: TextIO) -> Summary:
    """Run the whole rehearsal and write its results; return the figures.

    The progress line goes to `stderr` when it is a terminal and `options.quiet` is off.
    """
    started = time.monotonic()
    if options.participants < 1:
        raise UsageError("--participants must be at least 1")
    spec = load_workshop_file(options.workshop)
    out = options.out
    prepare_out(out, options.force)
    people = make_people(spec, options.participants, options.seed)
    summary = Summary(spec.id, options.participants, options.seed)
    progress_bar = not options.quiet and stderr.isatty()
    progress = Progress(stderr, [p.name for p in PHASES], enabled=progress_bar)
    clock = SimulatedClock(rehearsal_start(spec))
    summary.simulated_from = f"{clock.now().astimezone(spec.zone):%Y-%m-%d %H:%M}"
    recorder = Recorder(clock, stable=options.stable)
    with (
        tempfile.TemporaryDirectory(prefix="rehearsal-") as tmp,
        _captured_logs(out / "bot.log") as logs,
    ):
        double = RecordingDouble(
            recorder,
            token=TOKEN,
            bot_username=BOT_USERNAME,
            bot_first_name="Taller",
            wall_clock=clock.timestamp,
        )
        await double.start()
        try:
            settings = Settings(
                telegram_bot_token=TOKEN,
                telegram_api_url=double.url,
                database_url=database_url(options, tmp),
                bot_admin_ids=frozenset({ADMIN_ID}),
                content_dir=content.root,
                # The clock is simulated, so sending need not wait on Telegram's real limits.
                send_per_second=1000,
                send_per_chat_seconds=0,
                send_per_group_per_minute=600,
                _env_file=None,
            )
            app = build_application(settings, content, i18n, clock=clock)
            world: World | None = None
            heartbeat = asyncio.create_task(progress.keep_drawing())
            try:
                await _start(app)
                delivery = app.bot_data.delivery
                if options.stable and delivery is not None:
                    # Progress after every message rather than every 2 s of wall time.
                    delivery.tracker.interval = 0.0
                world = World(double, app, clock, recorder, spec, options.workshop, progress)
                _cast(world, people)
                await _run_phases(world, summary)
                await _figures(world, summary)
            finally:
                heartbeat.cancel()
                progress.close()
                await _stop(app)
            summary.bytes_written = await download_files(
                double, recorder.files, lambda chat: out / "files" / _slug(world, chat)
            )
            summary.violations = list(double.violations)
            summary.violations += [
                f"callback query {q} never answered" for q in double.unanswered_callbacks()
            ]
        finally:
            await double.stop()
        summary.errors = list(logs.errors)
        summary.warnings = logs.warnings
    summary.simulated_to = f"{clock.now().astimezone(spec.zone):%Y-%m-%d %H:%M}"
    summary.files_written = len(recorder.files)
    await _write(world, summary, out)
    summary.wall_seconds = time.monotonic() - started
    _write_summary(world, summary, out)
    return summary


async def _run_phases(world: World, summary: Summary) -> None:
    """Run the phases in order; after a failure, keep what happened so far for the results."""
    for index, phase in enumerate(PHASES):
        world.progress.phase(index)
        started = time.monotonic()
        try:
            await phase.run(world)
        except RehearsalError as exc:
            summary.failure = f"{phase.name}: {exc}"
            return
        finally:
            summary.phase_seconds[phase.name] = time.monotonic() - started
    await world.flush()


def _slug(world: World | None, chat_id: int) -> str:
    if world is not None and chat_id in world.chats:
        return world.chats[chat_id].slug
    return f"chat-{chat_id}"


async def _figures(world: World, summary: Summary) -> None:
    """Read the figures from the bot's database and counters."""
    store, spec = world.store, world.spec
    if world.workshop_id is None:
        return
    wid = world.workshop_id
    joined = []
    for player in world.players:
        participant = await store.participant(wid, player.id)
        if participant is not None and participant.profile_done:
            joined.append(participant)
            assert player.person is not None
            lang = player.person.language
            summary.languages[lang] = summary.languages.get(lang, 0) + 1
    summary.joined = len(joined)
    summary.institutions = len({p.institution for p in joined if p.institution})
    summary.dgca_used = spec.dgca is not None
    dgca_sets = await store.answer_sets(wid, spec.dgca) if spec.dgca else []
    summary.dgca_submitted = sum(1 for s in dgca_sets if s.submitted_at is not None)
    summary.dgca_partial = sum(1 for s in dgca_sets if s.submitted_at is None and s.answers)
    # A programme's evaluations are its events', each a response key of its own.
    views = [spec.for_event(e) for e in spec.events] if spec.events else [spec]
    for view in views:
        evaluation = world.services.content.questionnaires.get(view.evaluation or "")
        key = view.evaluation_key()
        if evaluation is None or key is None:
            continue
        texts = {s.question.id for s in evaluation.slots() if s.question.type is QuestionType.TEXT}
        eval_sets = await store.answer_sets(wid, key)
        submitted = [s for s in eval_sets if s.submitted_at is not None]
        summary.evaluation_submitted += len(submitted)
        summary.open_answers += sum(
            1 for s in submitted for q, v in s.answers.items() if q in texts and v
        )
    ratings = await store.session_ratings(wid)
    summary.session_ratings = len(ratings)
    summary.session_raters = len({r.participant_id for r in ratings})
    summary.session_comments = sum(1 for r in ratings if r.comment)
    kinds = {r.id: r.kind for r in await store.schedule_of(wid)}
    by_kind: collections.Counter[str] = collections.Counter()
    for source, count in world.delivered.items():
        kind = _source_kind(source, kinds)
        if kind == "broadcast":
            summary.broadcast_delivered += count
        else:
            by_kind[kind] += count
    summary.reminders_by_kind = dict(sorted(by_kind.items()))
    summary.reminders_delivered = sum(by_kind.values())
    summary.association_digests = by_kind.get("association_digest", 0)
    summary.automatic_reports = sum(
        1 for o in world.occasions if o.kind.startswith("report_") and o.status == "done"
    )
    summary.bot_messages = world.recorder.sent
    summary.bot_edits = world.recorder.edited
    sends = _sends(world)
    _count_per_day(world, summary, sends)
    _count_night(world, summary, sends)
    _count_months(world, summary, sends)
    _dgca_cost(world, summary)
    await _follow_up(world, summary)
    summary.ticks = world.ticks
    summary.held_for_morning = list(world.held)
    summary.files_sent = len(world.recorder.files)


def _months(occasion: str) -> int:
    """Return the months of a check-in's occasion ("m3" → 3)."""
    digits = occasion.lstrip("m")
    return int(digits) if digits.isdigit() else 0


# What queued an outbox message, by the prefix of its source (see storage's outbox).
SOURCE_KINDS = {
    "bc": "broadcast",
    "ci": "checkin",
    "cn": "checkin_reminder",
    "od": "overdue_step",
    "dg": "association_digest",
}


def _source_kind(source: str, scheduled: dict[int, str]) -> str:
    """Name what queued a message: a scheduled occasion's kind, or the source's prefix."""
    head, _, rest = source.partition(":")
    if head != "sch":
        return SOURCE_KINDS.get(head, "other")
    # Occasions due together for one person go out merged, as "sch:12+14:…".
    ids = rest.split(":", 1)[0].split("+")
    kinds = [scheduled.get(int(i), "other") if i.isdigit() else "other" for i in ids]
    return "+".join(dict.fromkeys(kinds))


@dataclass(frozen=True)
class _Send:
    """A message the bot sent, and whether someone's action in the chat just asked for it."""

    chat_id: int
    at: datetime
    asked: bool
    text: str


def _sends(world: World) -> list[_Send]:
    """Return every message the bot sent to a chat of the rehearsal, in order."""
    last_action: dict[int, datetime] = {}
    sends = []
    for e in world.recorder.entries:
        if e.chat_id not in world.chats:
            continue
        if not e.by_bot:
            last_action[e.chat_id] = e.at
        elif e.action == "send":
            acted = last_action.get(e.chat_id)
            asked = acted is not None and e.at - acted <= timedelta(minutes=1)
            sends.append(_Send(e.chat_id, e.at, asked, e.text))
    return sends


def _count_per_day(world: World, summary: Summary, sends: list[_Send]) -> None:
    """Count what each participant received on each workshop day."""
    spec = world.spec
    people = {p.id for p in world.players}
    day = spec.start_date
    while day <= spec.end_date:
        of_day = [
            (s.chat_id, s.asked)
            for s in sends
            if s.chat_id in people and s.at.astimezone(spec.zone).date() == day
        ]
        unasked = collections.Counter(chat for chat, asked in of_day if not asked)
        every = collections.Counter(chat for chat, _ in of_day)
        few = sorted(unasked.get(p, 0) for p in people)
        all_ = sorted(every.get(p, 0) for p in people)
        if few:
            middle = len(few) // 2
            summary.messages_per_day[day.isoformat()] = [
                few[-1],
                few[middle],
                all_[-1],
                all_[middle],
            ]
        day += timedelta(days=1)


def _count_night(world: World, summary: Summary, sends: list[_Send]) -> None:
    """Find what the bot sent on its own in quiet hours, to anyone: people and the group."""
    spec = world.spec
    night = [s for s in sends if not s.asked and spec.is_quiet(s.at)]
    summary.night_messages = len(night)
    summary.night_details = [
        f"{s.at.astimezone(spec.zone):%Y-%m-%d %H:%M} {world.chats[s.chat_id].slug}: "
        + (s.text.split("\n", 1)[0][:60] or "(a file)")
        for s in night
    ]


def _count_months(world: World, summary: Summary, sends: list[_Send]) -> None:
    """Count the messages of each calendar month after the workshop, by who got them."""
    spec = world.spec
    people = {p.id for p in world.players}
    viewer = world.viewer.id if world.viewer is not None else None
    months: dict[str, list[_Send]] = {}
    for s in sends:
        local = s.at.astimezone(spec.zone)
        if local.date() > spec.end_date:
            months.setdefault(f"{local:%Y-%m}", []).append(s)
    for month, of_month in months.items():
        each = collections.Counter(s.chat_id for s in of_month if s.chat_id in people)
        counts = sorted(each.get(p, 0) for p in people)
        summary.messages_per_month[month] = {
            "participants": sum(each.values()),
            "unasked": sum(1 for s in of_month if s.chat_id in people and not s.asked),
            "most": counts[-1] if counts else 0,
            "median": counts[len(counts) // 2] if counts else 0,
            "association": sum(1 for s in of_month if s.chat_id == viewer),
            "organizers": sum(
                1 for s in of_month if s.chat_id not in people and s.chat_id != viewer
            ),
        }


def _dgca_cost(world: World, summary: Summary) -> None:
    """Sum what answering the DGCA cost: calls per answer and messages per DGCA."""
    calls: collections.Counter[int] = collections.Counter()
    messages, one_sitting = [], []
    for player in world.players:
        usage = player.usage.get(world.spec.dgca or "")
        if usage is None:
            continue
        calls.update(usage.calls_per_answer)
        if usage.submitted:
            messages.append(usage.messages)
            if usage.sittings == 1:
                one_sitting.append(usage.messages)
    answers = sum(calls.values())
    if answers:
        summary.dgca_calls_per_answer = sum(n * k for n, k in calls.items()) / answers
    summary.dgca_calls = {str(n): k for n, k in sorted(calls.items())}
    if messages:
        messages.sort()
        summary.dgca_messages = {
            "submitted": len(messages),
            "median": messages[len(messages) // 2],
            "most": messages[-1],
            "one_sitting": max(one_sitting, default=0),
        }


async def _follow_up(world: World, summary: Summary) -> None:
    """Read from the database how the plans were followed up: check-ins and updates."""
    assert world.workshop_id is not None
    data = await world.store.plan_data([world.workshop_id])
    # A plan's update answers all its open requests, so a late answer to the 6-month
    # check-in also marks those of months 1 and 3 answered: count each answered only if
    # it came before the plan's next check-in.
    asked: dict[int, list[Checkin]] = {}
    for checkin in data.checkins:
        if checkin.kind == "overdue":
            summary.overdue_prompts += 1
        else:
            asked.setdefault(checkin.plan_id, []).append(checkin)
    for requests in asked.values():
        requests.sort(key=lambda c: c.created_at)
        for checkin, following in itertools.zip_longest(requests, requests[1:]):
            figures = summary.checkins.setdefault(
                checkin.occasion, {"asked": 0, "answered": 0, "after_reminder": 0, "reminded": 0}
            )
            when, nudged = checkin.answered_at, checkin.nudged_at
            answered = when is not None and (following is None or when < following.created_at)
            figures["asked"] += 1
            figures["answered"] += answered
            figures["reminded"] += nudged is not None
            figures["after_reminder"] += (
                answered and when is not None and nudged is not None and when > nudged
            )
    summary.checkins = dict(sorted(summary.checkins.items(), key=lambda kv: _months(kv[0])))
    statuses = collections.Counter(str(u.status.value) for u in data.updates)
    summary.updates_by_status = dict(sorted(statuses.items()))
    summary.blocked_notes = [
        u.note for u in data.updates if u.status is StepStatus.BLOCKED and u.note
    ]


async def _write(world: World | None, summary: Summary, out: Path) -> None:
    """Write one transcript per person."""
    if world is None:
        return
    folder = out / "transcripts"
    folder.mkdir(parents=True, exist_ok=True)
    zone = world.spec.zone
    for chat_id, chat in world.chats.items():
        entries = world.recorder.of_chat(chat_id)
        if not entries:
            continue
        text = render_chat(chat.title, chat.about, entries, zone, _file_link(chat.slug))
        (folder / f"{chat.slug}.md").write_text(text, encoding="utf-8")
        summary.transcripts += 1


def _file_link(slug: str) -> Callable[[FileRef], str]:
    """Link a file from a transcript (transcripts/) to where it was written (files/)."""
    return lambda ref: f"../files/{slug}/{ref.path.name}" if ref.path else ""


def _about(person: Person) -> list[str]:
    lines = [
        f"- Speaks {LANGUAGE_NAMES.get(person.language, person.language)} "
        f"(Telegram language `{person.language}`)",
        f"- {person.position}, {person.institution}",
        f"- Plan: {PLAN_TEXT[person.dgca_plan]}; "
        + ("answers the evaluation" if person.evaluates else "skips the evaluation")
        + (" after its reminder" if person.evaluates and person.evaluates_late else ""),
    ]
    return lines


def _write_summary(world: World | None, summary: Summary, out: Path) -> None:
    (out / "summary.json").write_text(
        json.dumps(asdict(summary), indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    lines = [f"# Rehearsal of {summary.workshop}", ""]
    if summary.failure:
        lines += [f"**The rehearsal stopped in phase {summary.failure}**", ""]
    lines += ["```", *summary.lines(out), "```", "", "## Phases", ""]
    lines += [f"1. **{phase.name}**: {phase.about}" for phase in PHASES]
    lines.append("")
    if world is not None:
        lines += ["## Transcripts", ""]
        for chat in world.chats.values():
            path = out / "transcripts" / f"{chat.slug}.md"
            if path.exists():
                lines.append(f"- [{chat.title}](transcripts/{path.name})")
        lines.append("")
        files = [ref for ref in world.recorder.files if ref.path is not None]
        if files:
            lines += ["## Files the bot sent", ""]
            for ref in files:
                assert ref.path is not None
                relative = ref.path.relative_to(out)
                lines.append(f"- [{relative}]({relative}) ({ref.size / 1000:.0f} kB)")
            lines.append("")
    (out / "summary.md").write_text("\n".join(lines), encoding="utf-8")
