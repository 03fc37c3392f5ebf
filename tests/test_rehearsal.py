"""The offline rehearsal: one small run of the whole workshop, then its outputs checked."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import logging
import re
from dataclasses import asdict
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook

from bot.cli import parser
from bot.clock import SimulatedClock
from bot.content import Content, WorkshopFile, load_workshop_file
from bot.flows.schedule import EVALUATION_ID, add_months
from bot.i18n import I18n
from bot.rehearsal import PHASES, Options, Phase, RehearsalError, Summary, rehearse, report
from bot.rehearsal import run as run_module
from bot.rehearsal.people import BLOCKED_NOTES, CheckinRole, DgcaPlan, checkin_roles, make_people
from bot.rehearsal.progress import Progress
from bot.rehearsal.run import DEFAULT_WORKSHOP, database_url, prepare_out
from bot.rehearsal.world import World, next_beat
from storage import StepStatus, open_store
from tests.support import load_i18n, load_test_content

PARTICIPANTS = 5
LINK = re.compile(r"\]\((\.\./files/[^)]+)\)")
# A transcript's day heading and its lines with a time: "**10:31** 👤 …", "**10:31** 🤖 sends".
DAY = re.compile(r"^## \w+ (\d+ \w+ \d{4})$")
MOMENT = re.compile(r"^\*\*(\d\d):(\d\d)\*\* (👤|🤖) (\S+)")
# Six months of simulated time, checked every hour: the module's rehearsal takes about 30 s
# on a quiet machine, but a shared one under load can take several times that.
pytestmark = pytest.mark.timeout(600)


class Run:
    """One rehearsal's results, shared by the tests of this module."""

    def __init__(self, root: Path) -> None:
        self.out = root / "out"
        self.database = root / "rehearsal.sqlite3"
        self.stderr = io.StringIO()
        self.content: Content = load_test_content()
        self.i18n: I18n = load_i18n()
        options = Options(participants=PARTICIPANTS, seed=3, out=self.out, database=self.database)
        self.summary: Summary = asyncio.run(
            rehearse(options, self.content, self.i18n, stderr=self.stderr)
        )
        self.people = make_people(load_workshop_file(DEFAULT_WORKSHOP), PARTICIPANTS, 3)

    def transcript(self, slug: str) -> str:
        return (self.out / "transcripts" / f"{slug}.md").read_text("utf-8")


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    return Run(tmp_path_factory.mktemp("rehearsal"))


def test_the_rehearsal_runs_clean(run: Run) -> None:
    s = run.summary
    assert s.ok, (s.errors, s.violations)
    assert run.stderr.getvalue() == ""  # no progress bar when asked for none
    assert s.joined == PARTICIPANTS
    assert set(s.languages) == {"es", "en"}
    assert s.institutions >= 3
    assert s.dgca_submitted >= 3 and s.dgca_partial >= 1
    assert s.evaluation_submitted >= 3 and s.open_answers >= s.evaluation_submitted
    assert s.session_ratings > 0 and s.session_comments >= 1
    # Everyone got the DGCA invitation; those still missing got the nudges.
    assert s.reminders_by_kind["dgca_open"] == PARTICIPANTS
    assert s.reminders_by_kind["dgca_nudge"] >= 2
    # Nine sessions in five blocks (same place, at most 30 minutes apart): five reminders.
    assert s.reminders_by_kind["session"] == PARTICIPANTS * 5
    assert s.reminders_by_kind["digest"] == PARTICIPANTS * 2
    assert s.broadcast_delivered == PARTICIPANTS
    assert s.automatic_reports == 2
    assert s.bot_messages > s.reminders_delivered + s.broadcast_delivered
    assert list(s.phase_seconds) == [p.name for p in PHASES]
    assert s.night_messages == 0, s.night_details
    # The DGCA is answered in one message edited in place: each answer is a tap answered
    # and an edit, and the chat holds a handful of the bot's messages for the whole DGCA.
    assert 1 <= s.dgca_calls_per_answer <= 3
    assert 2 <= s.dgca_messages["one_sitting"] <= s.dgca_messages["most"]
    written = json.loads((run.out / "summary.json").read_text("utf-8"))
    assert written["joined"] == s.joined and written["errors"] == []
    assert {k: v for k, v in asdict(s).items() if k != "wall_seconds"} == {
        k: v for k, v in written.items() if k != "wall_seconds"
    }
    text = (run.out / "summary.md").read_text("utf-8")
    assert "transcripts/organizer.md" in text and "files/organizer/" in text


async def test_the_figures_are_the_databases(run: Run) -> None:
    store = await open_store(f"sqlite:///{run.database}")
    try:
        workshop = await store.workshop_by_slug("cochabamba-2023")
        assert workshop is not None
        recipients = await store.recipients(workshop.id, "dgca", EVALUATION_ID)
        assert len(recipients) == run.summary.joined
        dgca = await store.answer_sets(workshop.id, "dgca")
        assert sum(1 for a in dgca if a.submitted_at) == run.summary.dgca_submitted
        assert sum(1 for a in dgca if not a.submitted_at) == run.summary.dgca_partial
        evaluation = await store.answer_sets(workshop.id, EVALUATION_ID)
        assert sum(1 for a in evaluation if a.submitted_at) == run.summary.evaluation_submitted
        ratings = await store.session_ratings(workshop.id)
        assert len(ratings) == run.summary.session_ratings
        assert sum(1 for r in ratings if r.comment) == run.summary.session_comments
        # Those who stopped midway left a partial answer, as planned.
        dropped = [p for p in run.people if p.dgca_plan is DgcaPlan.DROPPED]
        assert len(dropped) == run.summary.dgca_partial
        assert await store.pending_outbox(1) == []
    finally:
        await store.close()


def test_transcripts_show_both_languages(run: Run) -> None:
    slugs = [
        "organizer",
        "organizers-group",
        "administrator",
        "viewer",
        *(p.slug for p in run.people),
    ]
    assert sorted(p.stem for p in (run.out / "transcripts").glob("*.md")) == sorted(slugs)
    assert run.summary.transcripts == len(slugs)
    for person in run.people:
        text = run.transcript(person.slug)
        agree = run.i18n(person.language).t("button.accept")
        assert f"taps `[{agree}]`" in text, person.slug
        assert "Times are on the simulated clock, in America/La_Paz." in text
    english = [p for p in run.people if p.language == "en"]
    spanish = [p for p in run.people if p.language == "es"]
    assert english and spanish
    statement = next(run.content.questionnaire("dgca").slots()).question.text
    finished = [p for p in run.people if p.dgca_plan is not DgcaPlan.NEVER]
    for person in finished:
        assert statement.get(person.language)[:40] in run.transcript(person.slug)
    organizer = run.transcript("organizer")
    assert "taps `[" in organizer and "/broadcast" in organizer and "/report" in organizer


def test_every_file_the_bot_sent_is_written_and_linked(run: Run) -> None:
    files = sorted(p for p in (run.out / "files").rglob("*") if p.is_file())
    assert len(files) == run.summary.files_written == run.summary.files_sent
    linked: set[Path] = set()
    for transcript in (run.out / "transcripts").glob("*.md"):
        for target in LINK.findall(transcript.read_text("utf-8")):
            path = (transcript.parent / target).resolve()
            assert path.is_file(), target
            linked.add(path)
    assert linked == {p.resolve() for p in files}
    organizer = {p.suffix for p in (run.out / "files" / "organizer").iterdir()}
    assert {".png", ".xlsx", ".csv", ".txt"} <= organizer
    for png in (run.out / "files").rglob("*.png"):
        assert png.read_bytes()[:4] == b"\x89PNG"
    xlsx = next((run.out / "files" / "organizer").glob("*-taller-*.xlsx"))
    book = load_workbook(xlsx)
    sheet = book[book.sheetnames[0]]
    assert sheet.max_row == 1 + run.summary.dgca_submitted + run.summary.dgca_partial
    exported = next((run.out / "files" / "organizer").glob("*.csv")).read_text("utf-8-sig")
    assert len(list(csv.reader(io.StringIO(exported)))) > 1


async def test_plans_checkin_and_dashboards_match_the_database(run: Run) -> None:
    store = await open_store(f"sqlite:///{run.database}")
    try:
        workshop = await store.workshop_by_slug("cochabamba-2023")
        assert workshop is not None
        plans = await store.plans_in(workshop.id)
        data = await store.plan_data([workshop.id])
    finally:
        await store.close()
    assert plans, "nobody wrote a plan"
    assert all(p.steps and p.sdgs for p in plans)
    assert data.checkins and data.updates
    viewer = run.transcript("viewer")
    assert "Avance de los planes" in viewer and "Planes:" in viewer
    book = load_workbook(next((run.out / "files" / "viewer").glob("*-planes-*.xlsx")))
    assert book["Pasos"].max_row == 1 + sum(len(p.steps) for p in plans)
    assert book["Actualizaciones"].max_row == 1 + len(data.updates)
    profiles = list((run.out / "files").glob("p*/*.png"))
    assert len(profiles) == run.summary.dgca_submitted


def _night_sends(transcript: str, spec: WorkshopFile) -> list[str]:
    """Return the bot's messages sent in quiet hours that nobody's action just asked for."""
    found, day, acted = [], "", None
    for line in transcript.splitlines():
        if heading := DAY.match(line):
            day = heading.group(1)
            continue
        moment = MOMENT.match(line)
        if moment is None:
            continue
        hour, minute, who, verb = moment.groups()
        at = datetime.strptime(f"{day} {hour}:{minute}", "%d %B %Y %H:%M")
        if who == "👤":
            acted = at
        elif (
            verb == "sends"
            and spec.quiet_hours.contains(at.time())
            and (acted is None or at - acted > timedelta(minutes=1))
        ):
            found.append(f"{day} {line}")
    return found


def test_nothing_is_sent_in_quiet_hours(run: Run) -> None:
    spec = load_workshop_file(DEFAULT_WORKSHOP)
    night = {
        path.stem: _night_sends(path.read_text("utf-8"), spec)
        for path in (run.out / "transcripts").glob("*.md")
    }
    assert {slug: lines for slug, lines in night.items() if lines} == {}
    assert run.summary.night_messages == 0 and run.summary.held_for_morning == []
    # The clock went through every night, not only from one occasion to the next.
    assert run.summary.ticks > 24 * 180


def test_a_message_at_night_is_caught() -> None:
    spec = load_workshop_file(DEFAULT_WORKSHOP)
    transcript = "\n".join(
        [
            "## Friday 29 December 2023",
            "**22:10** 👤 **Ana:** /agenda",
            "**22:10** 🤖 sends #5:",  # asked for: an answer at night is fine
            "**23:00** 🤖 sends #6:",  # not asked for
            "**10:00** 🤖 sends #7:",
        ]
    )
    assert _night_sends(transcript, spec) == ["29 December 2023 **23:00** 🤖 sends #6:"]


def _sent_on(transcript: str, day: date, at: time) -> bool:
    """Tell whether the bot sent a message in a transcript on `day` at `at`."""
    heading = f"## {day:%A} {day.day} {day:%B %Y}\n"
    if heading not in transcript:
        return False
    return f"**{at:%H:%M}** 🤖 sends" in transcript.split(heading, 1)[1].split("\n## ", 1)[0]


async def test_six_months_of_check_ins_and_digests(run: Run) -> None:
    s = run.summary
    spec = load_workshop_file(DEFAULT_WORKSHOP)
    assert spec.follow_up.checkin_months == [1, 3, 6]
    assert s.simulated_to >= add_months(spec.end_date, 6).isoformat()
    # Each check-in reached the plans' authors; some answered, some stayed silent.
    assert list(s.checkins) == ["m1", "m3", "m6"]
    send_time = spec.follow_up.send_time
    for months in (1, 3, 6):
        day = add_months(spec.end_date, months)
        got = [p.slug for p in run.people if _sent_on(run.transcript(p.slug), day, send_time)]
        assert got, f"nobody got the {months}-month check-in"
    for key, figures in s.checkins.items():
        assert 0 < figures["answered"] < figures["asked"], key
        assert figures["reminded"] >= 1, key
    assert s.reminders_by_kind["checkin"] >= 3 and s.reminders_by_kind["checkin_reminder"] >= 1
    # Blocked steps come with the reason, as the association needs it.
    assert BLOCKED_NOTES["es"][0] in s.blocked_notes or BLOCKED_NOTES["en"][0] in s.blocked_notes
    store = await open_store(f"sqlite:///{run.database}")
    try:
        workshop = await store.workshop_by_slug("cochabamba-2023")
        assert workshop is not None
        data = await store.plan_data([workshop.id])
    finally:
        await store.close()
    asked = {c.occasion: c.created_at.astimezone(spec.zone).date() for c in data.checkins}
    for months in (1, 3, 6):
        assert asked[f"m{months}"] == add_months(spec.end_date, months)
    blocked = [u for u in data.updates if u.status is StepStatus.BLOCKED]
    assert blocked and all(u.note for u in blocked)
    assert {StepStatus.DONE, StepStatus.IN_PROGRESS} <= {u.status for u in data.updates}
    # One digest a month to the association's officer, from the first month after the
    # officer was appointed to the month after the last check-in.
    viewer = run.transcript("viewer")
    assert s.association_digests == 6
    for month in range(1, 7):
        assert _sent_on(viewer, date(2024, month, 1), send_time), f"no digest in month {month}"
    per_month = s.messages_per_month
    assert [m for m in per_month if m >= "2024"] == [f"2024-{n:02d}" for n in range(1, 7)]
    assert all(per_month[m]["association"] >= 1 for m in per_month if m >= "2024")
    assert sum(m["participants"] for m in per_month.values()) > 0


def test_check_in_roles_show_every_behaviour() -> None:
    people = make_people(load_workshop_file(DEFAULT_WORKSHOP), 6, 2)
    roles = checkin_roles(people, 3, 0.3)
    assert sorted(roles) == sorted(
        [CheckinRole.SILENT, CheckinRole.SILENT, CheckinRole.LATE] + [CheckinRole.SOON] * 3
    )
    assert checkin_roles(people, 3, 0.3) == roles  # the same for the same people
    assert checkin_roles(people[:1], 1, 0.2) == [CheckinRole.SOON]


def test_the_clock_is_checked_on_every_hour_of_the_workshops_zone() -> None:
    la_paz, kolkata = ZoneInfo("America/La_Paz"), ZoneInfo("Asia/Kolkata")
    moment = datetime(2024, 1, 5, 14, 20, tzinfo=UTC)
    assert next_beat(moment, la_paz) == datetime(2024, 1, 5, 15, 0, tzinfo=UTC)
    assert next_beat(datetime(2024, 1, 5, 15, 0, tzinfo=UTC), la_paz) == datetime(
        2024, 1, 5, 16, 0, tzinfo=UTC
    )
    beat = next_beat(moment, kolkata)
    assert beat == datetime(2024, 1, 5, 14, 30, tzinfo=UTC)
    assert beat.astimezone(kolkata).time() == time(20, 0)
    assert beat.astimezone(kolkata).date() == date(2024, 1, 5)


def test_the_output_folder_is_never_clobbered(tmp_path: Path) -> None:
    out = tmp_path / "out"
    prepare_out(out, force=False)  # created when missing
    (out / "transcripts").mkdir()
    (out / "summary.md").write_text("old", "utf-8")
    (out / "notes.txt").write_text("mine", "utf-8")
    with pytest.raises(RehearsalError, match="not empty"):
        prepare_out(out, force=False)
    prepare_out(out, force=True)
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]
    (tmp_path / "file").write_text("x", "utf-8")
    with pytest.raises(RehearsalError, match="not a folder"):
        prepare_out(tmp_path / "file", force=True)
    # A database file that holds something is reused only when asked to.
    with pytest.raises(RehearsalError, match="already exists"):
        database_url(Options(database=tmp_path / "file"), str(tmp_path))
    assert database_url(Options(database=tmp_path / "file", force=True), "") == (
        f"sqlite:///{(tmp_path / 'file').resolve()}"
    )
    assert database_url(Options(), str(tmp_path)) == f"sqlite:///{tmp_path / 'rehearsal.sqlite3'}"


def test_the_simulated_clock_only_moves_forward() -> None:
    start = datetime(2023, 11, 17, 14, 0, tzinfo=UTC)
    clock = SimulatedClock(start)
    clock.advance(timedelta(minutes=5))
    clock.move_to(start + timedelta(days=1))
    assert clock.now() == start + timedelta(days=1)
    assert clock.timestamp() == (start + timedelta(days=1)).timestamp()
    with pytest.raises(ValueError, match="forward"):
        clock.move_to(start)
    with pytest.raises(ValueError, match="forward"):
        clock.advance(timedelta(seconds=-1))
    with pytest.raises(ValueError, match="time zone"):
        SimulatedClock(datetime(2023, 11, 17, 14, 0))


def test_the_progress_line_is_drawn_in_place_or_not_at_all() -> None:
    quiet = io.StringIO()
    Progress(quiet, ["join", "dgca"], enabled=False).step(1, 2, "joined")
    assert quiet.getvalue() == ""
    shown = io.StringIO()
    progress = Progress(shown, ["join", "dgca", "agenda"], enabled=True)
    progress.phase(1)
    progress.step(4, 4, "answered")  # a finished step is always drawn
    progress.close()
    assert shown.getvalue().startswith("\r[")
    assert "dgca (2/3) · answered 4/4" in shown.getvalue() and "67%" in shown.getvalue()
    assert shown.getvalue().endswith("\r")  # the line is wiped for what follows


def test_people_are_the_same_for_the_same_seed() -> None:
    spec = load_workshop_file(DEFAULT_WORKSHOP)
    first, again = make_people(spec, 40, 7), make_people(spec, 40, 7)
    assert [(p.full_name, p.institution, p.dgca_plan) for p in first] == [
        (p.full_name, p.institution, p.dgca_plan) for p in again
    ]
    assert {p.language for p in first} == {"es", "en"}
    assert len({p.institution for p in first}) >= 6
    assert {p.dgca_plan for p in first} == set(DgcaPlan)


def test_the_command_line_options() -> None:
    args = parser().parse_args(["rehearse"])
    assert (args.participants, args.seed, args.out, args.force, args.quiet) == (
        40,
        1,
        None,
        False,
        False,
    )
    args = parser().parse_args(
        ["rehearse", "--participants", "6", "--seed", "2", "--out", "x", "--force", "--quiet"]
    )
    assert (args.participants, args.seed, args.out, args.force, args.quiet) == (
        6,
        2,
        "x",
        True,
        True,
    )


def test_a_failed_phase_still_leaves_results_and_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def stuck(world: World) -> None:
        assert world.admin is not None
        await world.admin.say("/help")
        logging.getLogger("bot.test").error("something broke")
        raise RehearsalError("nobody could join")

    monkeypatch.setattr(run_module, "PHASES", (Phase("join", "a phase that fails", stuck),))
    out = tmp_path / "out"
    options = Options(participants=2, out=out)
    summary = asyncio.run(rehearse(options, load_test_content(), load_i18n(), stderr=io.StringIO()))
    assert summary.failure == "join: nobody could join"
    assert summary.errors == ["ERROR bot.test: something broke"]
    assert not summary.ok
    assert "stopped in phase join" in (out / "summary.md").read_text("utf-8")
    assert "/help" in (out / "transcripts" / "administrator.md").read_text("utf-8")
    printed, problems = io.StringIO(), io.StringIO()
    assert report(summary, out, printed, problems) == 1
    assert "Rehearsal of cochabamba-2023 with 2 simulated participants" in printed.getvalue()
    assert "stopped in phase join: nobody could join" in problems.getvalue()
    assert "the bot logged: ERROR bot.test: something broke" in problems.getvalue()


async def test_a_programme_is_rehearsed_event_by_event(tmp_path: Path) -> None:
    """A programme of three events: one DGCA, an evaluation and a report per event."""
    workshop = Path(__file__).parent / "data" / "programme.yaml"
    database = tmp_path / "programme.sqlite3"
    options = Options(
        participants=8, seed=5, workshop=workshop, out=tmp_path / "out", database=database
    )
    summary = await rehearse(options, load_test_content(), load_i18n(), stderr=io.StringIO())
    assert summary.ok, (summary.failure, summary.errors, summary.violations)
    store = await open_store(f"sqlite:///{database}")
    try:
        found = await store.workshop_by_slug("programa-prueba")
        assert found is not None
        members = await store.event_members(found.id)
        by_event = {e: sum(e in m for m in members.values()) for e in ("presencial", "replica")}
        # Every fourth person came in by the replica's own link, and is in it alone.
        assert by_event == {"presencial": 6, "replica": 2}
        assert sum(m == {"replica"} for m in members.values()) == 2
        # One DGCA response per person at most, whichever event they are in.
        dgca = await store.answer_sets(found.id, "dgca")
        assert len({s.participant_id for s in dgca}) == len(dgca)
        # Each event's evaluation is its own response, answered by its members only.
        for event in ("presencial", "replica"):
            sets = await store.answer_sets(found.id, f"{EVALUATION_ID}@{event}")
            submitted = {s.participant_id for s in sets if s.submitted_at is not None}
            assert submitted and all(event in members[p] for p in submitted)
        assert await store.answer_sets(found.id, EVALUATION_ID) == []
    finally:
        await store.close()
    organizer = (tmp_path / "out" / "transcripts" / "organizer.md").read_text("utf-8")
    # A report per event, and the programme's participation by event.
    assert "respuestas-abiertas-programa-prueba-presencial" in organizer
    assert "taps `[📝 Evaluación: Réplica]`" in organizer
    assert "Por evento" in organizer
