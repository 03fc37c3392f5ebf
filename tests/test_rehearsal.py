"""The offline rehearsal: one small run of the whole workshop, then its outputs checked."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import logging
import re
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from openpyxl import load_workbook

from bot.cli import parser
from bot.clock import SimulatedClock
from bot.content import Content, load_workshop_file
from bot.flows.schedule import EVALUATION_ID
from bot.i18n import I18n
from bot.rehearsal import PHASES, Options, Phase, RehearsalError, Summary, rehearse, report
from bot.rehearsal import run as run_module
from bot.rehearsal.people import DgcaPlan, make_people
from bot.rehearsal.progress import Progress
from bot.rehearsal.run import DEFAULT_WORKSHOP, database_url, prepare_out
from bot.rehearsal.world import World
from storage import open_store
from tests.support import load_i18n, load_test_content

PARTICIPANTS = 5
LINK = re.compile(r"\]\((\.\./files/[^)]+)\)")


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
