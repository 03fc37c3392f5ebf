"""Who may do what: every command and every button kind, for every role, in one table.

Each row names an action (a command, or a button kind with data that points at *this*
workshop's or *this participant's* things) and the outcome for each role. A refusal is
the polite refusal text (commands) or the stale-button notice (buttons), identical when
the ids point at nothing, and it changes no row of the database.
"""

from __future__ import annotations

import dataclasses
import sqlite3
import typing
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import pytest
import pytest_asyncio
from telegram.ext import CommandHandler

from bot.apidouble import SimGroup, SimUser
from bot.app import build_application
from bot.content import Content
from bot.flows import callbacks as taps
from bot.flows.callbacks import (
    Answer,
    Audience,
    AudienceInstitution,
    Back,
    BroadcastCancel,
    BroadcastSchedule,
    BroadcastSend,
    BroadcastStop,
    CallbackData,
    CommentSession,
    Consent,
    Done,
    EvaluationAdmin,
    Evidence,
    Forget,
    JoinContinue,
    JoinLanguage,
    LinkGroup,
    MyData,
    OpenDgca,
    OpenEvaluation,
    OpenMenu,
    OrgAction,
    OrgInvite,
    Pick,
    PickLanguage,
    PickOther,
    PickPage,
    PickTimezone,
    PickWorkshop,
    PlanAddStep,
    PlanEdit,
    PlanField,
    PlanLeave,
    PlanLeaveConfirm,
    PlanList,
    PlanNew,
    PlanNewLink,
    PlanOpen,
    PlanSdg,
    PlanSdgDone,
    PlanSkip,
    PlanTeam,
    ProgressDigest,
    ProgressEvidence,
    ProgressExport,
    ProgressView,
    RateSession,
    Report,
    ReviewEdit,
    ReviewQuestion,
    ReviewSection,
    ReviewShow,
    SetReminders,
    ShowHelp,
    ShowPrivacy,
    Skip,
    StepDate,
    StepDown,
    StepField,
    StepOpen,
    StepRemove,
    StepRemoveConfirm,
    StepUp,
    Submit,
    SubmitConfirm,
    Suggest,
    Toggle,
    UpdateNext,
    UpdateStart,
    UpdateStatus,
    UpdateStop,
    ViewerInvite,
    ViewerPanel,
    ViewerRemove,
)
from bot.flows.common import short_hash, workshop_file
from bot.i18n import I18n
from bot.output import COMMAND_NAMES, ORGANIZER_COMMANDS
from bot.settings import Settings
from storage import BroadcastStatus, Workshop
from tests.e2e.conftest import live_bot
from tests.e2e.harness import COCHABAMBA, TOKEN, Harness
from tests.e2e.test_journey import join_es
from tests.support import CONTENT_DIR, FakeClock, load_test_content

MODULE_LOOP = pytest.mark.asyncio(loop_scope="module")

ADMIN_ID = 999  # BOT_ADMIN_IDS in tests.e2e.harness.settings_for
GHOST_ID = 987_654_321  # an id no row has


# ----------------------------------------------------------------------------- database


def snapshot(database_url: str) -> dict[str, set[tuple[Any, ...]]]:
    """Read every row of every table (read-only), to compare before and after."""
    path = database_url.removeprefix("sqlite:///")
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        tables = [
            r[0]
            for r in db.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )
        ]
        return {t: set(db.execute(f'SELECT * FROM "{t}"')) for t in tables}
    finally:
        db.close()


def changes(
    before: dict[str, set[tuple[Any, ...]]], after: dict[str, set[tuple[Any, ...]]]
) -> dict[str, tuple[set[tuple[Any, ...]], set[tuple[Any, ...]]]]:
    """Return, per table, the rows that disappeared and the rows that appeared."""
    out = {}
    for table in sorted(set(before) | set(after)):
        old, new = before.get(table, set()), after.get(table, set())
        if old != new:
            out[table] = (old - new, new - old)
    return out


# ----------------------------------------------------------------------------- roles


@dataclass
class World:
    """The workshop under test, another one, and one person per role."""

    bot: Harness
    here: Workshop
    other: Workshop
    group: SimGroup
    people: dict[str, SimUser] = field(default_factory=dict)

    @property
    def store(self) -> Any:
        return self.bot.services.store

    async def participant_ids(self) -> tuple[int, int]:
        """Return the participant's id and DGCA response id in this workshop."""
        participant = await self.store.participant(self.here.id, self.people["participant"].id)
        assert participant is not None
        response = await self.store.find_response(participant.id, "dgca")
        assert response is not None
        return participant.id, response.id


RoleSetup = Callable[[World, SimUser], Awaitable[None]]


async def _participant(world: World, user: SimUser) -> None:
    await join_es(world.bot, user, world.here.join_code)
    await world.bot.send(user, "/dgca")


async def _organizer_here(world: World, user: SimUser) -> None:
    await world.store.add_organizer(world.here.id, user.id, world.bot.clock.now())


async def _organizer_other(world: World, user: SimUser) -> None:
    await world.store.add_organizer(world.other.id, user.id, world.bot.clock.now())


async def _nobody(world: World, user: SimUser) -> None:
    return None


async def _viewer(world: World, user: SimUser) -> None:
    # Both workshops belong to the example's association; the viewer follows it.
    assert world.here.association_id is not None
    await world.store.add_viewer(
        world.here.association_id, user.id, ADMIN_ID, world.bot.clock.now()
    )


# One line per role: its name, the Telegram id (None: any), and how it gets its rights.
ROLES: dict[str, tuple[int | None, RoleSetup]] = {
    "participant": (None, _participant),
    "organizer_here": (None, _organizer_here),
    "organizer_other": (None, _organizer_other),
    "viewer": (None, _viewer),
    "admin": (ADMIN_ID, _nobody),
    "stranger": (None, _nobody),
}
EVERYONE = frozenset(ROLES)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(tmp_path_factory: pytest.TempPathFactory, content: Content) -> AsyncIterator[World]:
    tmp = tmp_path_factory.mktemp("authorization")
    clock = FakeClock(FakeClock().current.replace(year=2023, month=11, day=15))
    async with live_bot(tmp, content, clock) as (bot, _):
        other_file = tmp / "other.yaml"
        other_file.write_text(
            COCHABAMBA.read_text("utf-8").replace("id: cochabamba-2023", "id: otro-2023"), "utf-8"
        )
        here = await bot.import_workshop()
        other = await bot.import_workshop(other_file)
        group = bot.double.new_group(title="Equipo")
        # The organizers' group of this workshop, as /linkgroup makes it.
        await bot.services.store.set_organizer_chat(here.id, group.id)
        world = World(bot, here, other, group)
        for role, (user_id, setup) in ROLES.items():
            user = bot.double.new_user(
                first_name=role.title(), last_name="Prueba", language_code="es", user_id=user_id
            )
            group.add_member(user)
            world.people[role] = user
            await setup(world, user)
            # Something of the bot's in the chat to tap buttons on.
            await bot.send(user, "/help")
        await world.people["stranger"].send("/help@taller_test_bot", chat=group)
        await bot.settle()
        yield world


# ----------------------------------------------------------------------------- outcomes


class Outcome(Enum):
    """What a role gets."""

    ALLOWED = "the feature answers"
    REFUSED = "the polite refusal, nothing changes"
    NOT_JOINED = "a hint to join a workshop first, nothing changes"


A, R, N = Outcome.ALLOWED, Outcome.REFUSED, Outcome.NOT_JOINED


def only(*roles: str, otherwise: Outcome = R) -> dict[str, Outcome]:
    """Return an outcome table: ALLOWED for `roles`, `otherwise` for the rest."""
    unknown = set(roles) - EVERYONE
    assert not unknown, unknown
    return {role: A if role in roles else otherwise for role in ROLES}


def everyone(**exceptions: Outcome) -> dict[str, Outcome]:
    """Return an outcome table: ALLOWED for every role except the ones named."""
    return {role: exceptions.get(role, A) for role in ROLES}


Data = Callable[[World], Awaitable[str]]


@dataclass(frozen=True)
class Row:
    """One action and the outcome for each role."""

    action: str
    outcomes: dict[str, Outcome]
    data: Data | None = None  # button data; None for a command
    chat: str = "private"
    # The catalog key of this action's refusal, when it has its own.
    refusal: str | None = None
    # Roles refused with another key than the row's.
    refusal_for: dict[str, str] = field(default_factory=dict)


async def _dgca_at_question(world: World) -> tuple[int, int, str]:
    """Put the participant's DGCA at its second statement, and return its ids."""
    _, rid = await world.participant_ids()
    questionnaire = world.bot.services.content.questionnaires["dgca"]
    qid = list(questionnaire.slots())[1].question.id
    await world.store.move_to(rid, qid, reviewing=False, now=world.bot.clock.now())
    return rid, questionnaire.version, qid


async def _dgca_at_review(world: World) -> tuple[int, int]:
    _, rid = await world.participant_ids()
    await world.store.move_to(rid, None, reviewing=True, now=world.bot.clock.now())
    return rid, world.bot.services.content.questionnaires["dgca"].version


def question(kind: type[CallbackData], *extra: object) -> Data:
    async def data(world: World) -> str:
        rid, version, qid = await _dgca_at_question(world)
        return kind(rid, version, qid, *extra).pack()  # type: ignore[call-arg]

    return data


def review(kind: type[CallbackData], *extra: object) -> Data:
    async def data(world: World) -> str:
        rid, version = await _dgca_at_review(world)
        if kind is ReviewQuestion:
            slots = world.bot.services.content.questionnaires["dgca"].slots()
            extra_fields: tuple[object, ...] = (next(iter(slots)).question.id,)
        else:
            extra_fields = extra
        return kind(rid, version, *extra_fields).pack()  # type: ignore[call-arg]

    return data


def here(kind: type[CallbackData], *extra: object) -> Data:
    async def data(world: World) -> str:
        return kind(world.here.id, *extra).pack()  # type: ignore[call-arg]

    return data


def here_scope(kind: type[CallbackData], *extra: object) -> Data:
    async def data(world: World) -> str:
        return kind("w", world.here.id, *extra).pack()  # type: ignore[call-arg]

    return data


def plain(kind: type[CallbackData], *fields: object) -> Data:
    async def data(world: World) -> str:
        return kind(*fields).pack()

    return data


def draft_broadcast(
    kind: type[CallbackData], status: BroadcastStatus = BroadcastStatus.DRAFT
) -> Data:
    """Point at a fresh broadcast that the organizer of this workshop started."""

    async def data(world: World) -> str:
        organizer = world.people["organizer_here"]
        broadcast_id = await world.store.create_broadcast(
            world.here.id, organizer.id, "all", world.bot.clock.now()
        )
        await world.store.update_broadcast(broadcast_id, text="Aviso de prueba", status=status)
        return kind(broadcast_id).pack()  # type: ignore[call-arg]

    return data


async def institution_audience(world: World) -> str:
    """Point at the first institution of this workshop's audience (the participant's)."""
    participant = await world.store.participant(world.here.id, world.people["participant"].id)
    assert participant is not None and participant.institution
    return AudienceInstitution(world.here.id, 0, short_hash(participant.institution)).pack()


def first_session(kind: type[CallbackData], *extra: object) -> Data:
    async def data(world: World) -> str:
        session = workshop_file(world.here).agenda[0]
        return kind(world.here.id, session.id, *extra).pack()  # type: ignore[call-arg]

    return data


async def _own_plan_id(world: World) -> int:
    """Return the participant's plan in this workshop, writing one the first time."""
    store, now = world.store, world.bot.clock.now()
    plans = await store.plans_of(world.people["participant"].id)
    if plans:
        return int(plans[0].id)
    pid, _ = await world.participant_ids()
    plan_id = await store.create_plan(world.here.id, pid, "Plan de prueba", now)
    await store.add_step(plan_id, "Paso de prueba", now)
    return int(plan_id)


async def _own_step_id(world: World, plan_id: int) -> int:
    """Return a live step of the participant's plan (a row before may have removed one)."""
    plan = await world.store.plan(plan_id)
    assert plan is not None
    if plan.steps:
        return int(plan.steps[0].id)
    return int(await world.store.add_step(plan_id, "Otro paso de prueba", world.bot.clock.now()))


def own_plan(kind: type[CallbackData], *extra: object) -> Data:
    async def data(world: World) -> str:
        return kind(await _own_plan_id(world), *extra).pack()  # type: ignore[call-arg]

    return data


def own_step(kind: type[CallbackData], *extra: object) -> Data:
    async def data(world: World) -> str:
        plan_id = await _own_plan_id(world)
        step_id = await _own_step_id(world, plan_id)
        return kind(plan_id, step_id, *extra).pack()  # type: ignore[call-arg]

    return data


async def own_evidence(world: World) -> str:
    """Point at a link the participant gave as evidence for a step of their plan."""
    plan_id = await _own_plan_id(world)
    step_id = await _own_step_id(world, plan_id)
    pid, _ = await world.participant_ids()
    now = world.bot.clock.now()
    update = await world.store.record_update(step_id, pid, "in_progress", None, now)
    evidence = await world.store.add_evidence(
        update,
        "link",
        file_id=None,
        url="https://example.org/x",
        file_name=None,
        file_size=None,
        now=now,
    )
    return Evidence(evidence).pack()


def association(kind: type[CallbackData], *extra: object) -> Data:
    async def data(world: World) -> str:
        assert world.here.association_id is not None
        return kind(world.here.association_id, *extra).pack()  # type: ignore[call-arg]

    return data


# Who sees this workshop's plans: its organizers, its association's viewers, administrators.
DASHBOARD = only("organizer_here", "viewer", "admin")
ORGANIZER_ONLY = only("organizer_here")
PARTICIPANT_ONLY = only("participant")

# Commands, in private chats unless the row says "group".
COMMAND_ROWS = [
    Row("start", everyone()),
    Row("menu", only("participant", otherwise=N)),
    Row("dgca", only("participant", otherwise=N)),
    Row("agenda", only("participant", otherwise=N)),
    Row("next", only("participant", otherwise=N)),
    Row("reminders", only("participant", otherwise=N)),
    Row("evaluation", only("participant", otherwise=N)),
    Row("language", everyone()),
    Row("help", everyone()),
    Row("privacy", everyone()),
    Row("mydata", everyone()),
    Row("forget", everyone()),
    Row("broadcast", ORGANIZER_ONLY | {"organizer_other": A}),
    Row("invite", ORGANIZER_ONLY | {"organizer_other": A}),
    Row("report", ORGANIZER_ONLY | {"organizer_other": A}),
    # In a group, reports only for the workshops linked to it (the group is this workshop's):
    # an organizer of another workshop is told to link the group or ask in private.
    Row(
        "report",
        ORGANIZER_ONLY,
        chat="group",
        refusal_for={"organizer_other": "organizer.group_not_linked"},
    ),
    Row("openeval", ORGANIZER_ONLY | {"organizer_other": A}),
    Row("organizer", only("admin")),
    Row("linkgroup", ORGANIZER_ONLY | {"organizer_other": A}, chat="group"),
    Row("plan", only("participant", otherwise=N)),
    # Organizers see their own workshop's progress; viewers their association's.
    Row(
        "progress",
        only("organizer_here", "organizer_other", "viewer", "admin"),
        refusal="progress.only",
    ),
    # Both workshops belong to the association, so both organizers appoint its viewers.
    Row("viewer", only("organizer_here", "organizer_other", "admin"), refusal="viewer.only"),
]

# Buttons: the data points at this workshop, or at the participant's own records.
# The participant has finished joining: the join and profile steps are over, so their
# buttons are stale even for them; the rows still prove nobody else gets through.
JOINED = only()
PLAN_MEMBER = {"participant": A} | {r: R for r in ROLES if r != "participant"}
KIND_ROWS = [
    Row("JoinLanguage", JOINED, here(JoinLanguage, "en")),
    Row("JoinContinue", JOINED, here(JoinContinue)),
    Row("Consent", JOINED, here(Consent, True)),
    Row("Answer", PARTICIPANT_ONLY, question(Answer, "4")),
    # The DGCA has no multiple-choice and no optional statement: toggles, "done" and "skip"
    # are stale even for the participant.
    Row("Toggle", only(), question(Toggle, "4")),
    Row("Done", only(), question(Done)),
    Row("Back", PARTICIPANT_ONLY, question(Back)),
    Row("Skip", only(), question(Skip)),
    # The DGCA has no pick or suggested-answer question either (the profile has, and the
    # participant's is submitted): these are stale for everyone too.
    Row("Pick", only(), question(Pick, 0, "abcdef")),
    Row("PickPage", only(), question(PickPage, 1, "abcdef")),
    Row("PickOther", only(), question(PickOther)),
    Row("Suggest", only(), question(Suggest)),
    Row("ReviewEdit", PARTICIPANT_ONLY, review(ReviewEdit)),
    Row("ReviewSection", PARTICIPANT_ONLY, review(ReviewSection, 0)),
    Row("ReviewQuestion", PARTICIPANT_ONLY, review(ReviewQuestion)),
    Row("ReviewShow", PARTICIPANT_ONLY, review(ReviewShow)),
    Row("Submit", PARTICIPANT_ONLY, review(Submit)),
    Row("SubmitConfirm", PARTICIPANT_ONLY, review(SubmitConfirm)),
    Row("OpenDgca", only("participant", otherwise=N), here(OpenDgca)),
    Row("OpenMenu", everyone(), plain(OpenMenu)),
    Row("PickLanguage", everyone(), plain(PickLanguage)),
    Row("PickWorkshop", PARTICIPANT_ONLY, here(PickWorkshop, "mn")),
    Row("Forget", everyone(), plain(Forget)),
    Row("ShowPrivacy", everyone(), plain(ShowPrivacy)),
    Row("ShowHelp", everyone(), plain(ShowHelp)),
    Row("MyData", everyone(), plain(MyData)),
    Row("PickTimezone", everyone(), plain(PickTimezone)),
    Row("SetReminders", only("participant", otherwise=N), plain(SetReminders, True)),
    Row("OrgAction", ORGANIZER_ONLY, here(OrgAction, "rp")),
    Row("OrgInvite", only("admin"), here(OrgInvite)),
    Row("Audience", ORGANIZER_ONLY, here(Audience, "all")),
    Row("AudienceInstitution", ORGANIZER_ONLY, institution_audience),
    Row("BroadcastSend", ORGANIZER_ONLY, draft_broadcast(BroadcastSend)),
    Row("BroadcastSchedule", ORGANIZER_ONLY, draft_broadcast(BroadcastSchedule)),
    Row("BroadcastCancel", ORGANIZER_ONLY, draft_broadcast(BroadcastCancel)),
    Row("BroadcastStop", ORGANIZER_ONLY, draft_broadcast(BroadcastStop, BroadcastStatus.SENDING)),
    Row("LinkGroup", ORGANIZER_ONLY, here(LinkGroup), chat="group"),
    Row("OpenEvaluation", only("participant", otherwise=N), here(OpenEvaluation)),
    Row("EvaluationAdmin", ORGANIZER_ONLY, here(EvaluationAdmin)),
    Row("RateSession", PARTICIPANT_ONLY, first_session(RateSession, 4)),
    Row("CommentSession", PARTICIPANT_ONLY, first_session(CommentSession)),
    Row("Report", ORGANIZER_ONLY, here(Report, "status")),
    Row("PlanList", only("participant", otherwise=N), plain(PlanList)),
    Row("PlanNew", only("participant", otherwise=N), here(PlanNew)),
    *(
        Row(kind.__name__, PLAN_MEMBER, own_plan(kind, *extra), refusal="plan.not_member")
        for kind, extra in (
            (PlanOpen, ()),
            (PlanEdit, ()),
            (PlanField, ("t",)),
            (PlanSdg, (3,)),
            (PlanSdgDone, ()),
            (PlanAddStep, ()),
            (PlanSkip, (None, "o")),
            (PlanTeam, ()),
            (PlanNewLink, ()),
            (PlanLeave, ()),
            (PlanLeaveConfirm, ()),
            (UpdateStart, ()),
            (UpdateStop, ()),
        )
    ),
    *(
        Row(kind.__name__, PLAN_MEMBER, own_step(kind, *extra), refusal="plan.not_member")
        for kind, extra in (
            (StepOpen, ()),
            (StepField, ("a",)),
            (StepDate, (3,)),
            (StepUp, ()),
            (StepDown, ()),
            (UpdateStatus, ("ip",)),
            (UpdateNext, ()),
            (StepRemove, ()),
            (StepRemoveConfirm, ()),
        )
    ),
    Row("ProgressView", DASHBOARD, here_scope(ProgressView), refusal="progress.not_allowed"),
    Row("ProgressExport", DASHBOARD, here_scope(ProgressExport), refusal="progress.not_allowed"),
    Row(
        "ProgressEvidence",
        DASHBOARD,
        here_scope(ProgressEvidence, 0),
        refusal="progress.not_allowed",
    ),
    Row(
        "ProgressDigest",
        DASHBOARD,
        here_scope(ProgressDigest, True),
        refusal="progress.not_allowed",
    ),
    Row("Evidence", DASHBOARD, own_evidence, refusal="progress.not_allowed"),
    *(
        Row(
            kind.__name__,
            only("organizer_here", "organizer_other", "admin"),
            association(kind, *extra),
            refusal="viewer.only",
        )
        for kind, extra in (
            (ViewerPanel, ()),
            (ViewerInvite, ()),
            # Nobody's id: removing the real viewer would change later rows' outcomes.
            (ViewerRemove, (424_242,)),
        )
    ),
]
# Rows for commands and buttons added later (plans, progress, viewers) go at the end of
# COMMAND_ROWS and KIND_ROWS: one line each, with the outcome for every role.

CASES = [
    pytest.param(row, role, id=f"/{row.action}@{row.chat}-{role}" if row.data is None else None)
    for row in COMMAND_ROWS
    for role in ROLES
] + [
    pytest.param(row, role, id=f"{row.action}@{row.chat}-{role}")
    for row in KIND_ROWS
    for role in ROLES
]

# Texts that answer a person who is in no workshop (keys of the catalogs).
NOT_JOINED_KEYS = ("menu.no_workshop", "dgca.not_joined", "plan.join_first")


def registered_commands() -> set[str]:
    """Return every command the built application has a handler for."""
    settings = Settings(
        telegram_bot_token=TOKEN,
        telegram_api_url="http://127.0.0.1:9",
        database_url="sqlite:///unused.sqlite3",
        content_dir=CONTENT_DIR,
        _env_file=None,
    )
    app = build_application(settings, load_test_content(), I18n.load(CONTENT_DIR / "locales"))
    names: set[str] = set()
    for handlers in app.handlers.values():
        for handler in handlers:
            if isinstance(handler, CommandHandler):
                names |= set(handler.commands)
    return names


def test_every_command_and_button_kind_has_a_row() -> None:
    commands = registered_commands() | set(COMMAND_NAMES) | set(ORGANIZER_COMMANDS)
    assert commands == {row.action for row in COMMAND_ROWS}
    assert {kind.__name__ for kind in taps.registered()} == {row.action for row in KIND_ROWS}
    for row in [*COMMAND_ROWS, *KIND_ROWS]:
        assert set(row.outcomes) == EVERYONE, row.action


def _busy(database_url: str) -> bool:
    """Tell whether messages are still queued or a broadcast is still sending."""
    path = database_url.removeprefix("sqlite:///")
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        (count,) = db.execute(
            "SELECT (SELECT count(*) FROM outbox WHERE status = 'pending')"
            " + (SELECT count(*) FROM broadcasts b WHERE status = 'sending'"
            "    AND EXISTS (SELECT 1 FROM outbox WHERE source = 'bc:' || b.id))"
        ).fetchone()
        return bool(count)
    finally:
        db.close()


async def quiesce(bot: Harness) -> None:
    """Wait until every update is handled and every queued message and broadcast is done."""
    await bot.settle()
    await bot.double.wait_for(
        lambda: not _busy(bot.database_url), 10, message="the outbox to drain", poll_interval=0.01
    )
    await bot.settle()


def _chat_state(world: World, chat_id: int) -> dict[int, tuple[str | None, str | None]]:
    return {
        m.message_id: (m.text, m.caption)
        for m in world.bot.double.chat_messages(chat_id)
        if not m.deleted
    }


def _replies(
    before: dict[int, tuple[str | None, str | None]],
    after: dict[int, tuple[str | None, str | None]],
) -> list[str]:
    """Return the texts of new or edited bot messages, in order."""
    return [
        text or caption or ""
        for message_id, (text, caption) in sorted(after.items())
        if before.get(message_id) != (text, caption)
    ]


async def _act(
    world: World, user: SimUser, chat_id: int, row: Row, data: str | None
) -> tuple[list[str], str | None]:
    """Send the command or tap the button; return the replies and the button's answer."""
    before = _chat_state(world, chat_id)
    answer = None
    target = None if chat_id == user.id else chat_id
    if data is None:
        suffix = "@taller_test_bot" if target else ""
        await user.send(f"/{row.action}{suffix}", chat=target)
        await quiesce(world.bot)
    else:
        last = world.bot.double.chat_messages(chat_id)[-1]
        query_id = await user.tap_data(data, message=last, chat=target)
        await quiesce(world.bot)
        answer = world.bot.double.callback_answers[query_id].text
    return _replies(before, _chat_state(world, chat_id)), answer


def _ghost(data: str) -> str:
    """Point every record id of the button data at a record that does not exist."""
    tap = taps.parse(data)
    assert tap is not None, data
    hints = typing.get_type_hints(type(tap), include_extras=True)
    ids = {
        f.name: GHOST_ID
        for f in dataclasses.fields(tap)  # type: ignore[arg-type]
        if hints[f.name] in (taps.Id, taps.Id | None) and getattr(tap, f.name) is not None
    }
    return dataclasses.replace(tap, **ids).pack()  # type: ignore[type-var]


@MODULE_LOOP
@pytest.mark.parametrize(("row", "role"), CASES)
async def test_authorization_matrix(world: World, row: Row, role: str) -> None:
    user = world.people[role]
    chat_id = world.group.id if row.chat == "group" else user.id
    data = await row.data(world) if row.data is not None else None
    await quiesce(world.bot)
    expected = row.outcomes[role]
    tr = world.bot.services.i18n("es")
    if role in row.refusal_for:
        refusal = tr.t(row.refusal_for[role])
    elif row.refusal is not None:
        refusal = tr.t(row.refusal)
    else:
        refusal = tr.t("notice.stale") if data is not None else tr.t("organizer.only")
    not_joined = {tr.t(key) for key in NOT_JOINED_KEYS}
    before = snapshot(world.bot.database_url)
    replies, answer = await _act(world, user, chat_id, row, data)
    seen = f"{row.action} by {role}: answer {answer!r}, replies {replies!r}"
    if expected is A:
        if data is None:
            assert replies, seen
            assert not set(replies) & ({refusal} | not_joined), seen
        else:
            assert answer != refusal, seen
        return
    assert changes(before, snapshot(world.bot.database_url)) == {}, seen
    if expected is N:
        assert answer != refusal and len(replies) == 1 and replies[0] in not_joined, seen
        return
    if data is None:
        assert replies == [refusal], seen
        return
    assert (answer, replies) == (refusal, []), seen
    # The same refusal when the ids point at nothing: a refusal tells nothing about what exists.
    ghost = await _act(world, user, chat_id, row, _ghost(data))
    assert ghost == ([], refusal), f"{seen}; with ids of nothing: {ghost}"
    assert changes(before, snapshot(world.bot.database_url)) == {}, seen
