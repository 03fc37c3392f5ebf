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
from bot.flows.access import POLICY, Action, On, Role, markdown_table
from bot.flows.callbacks import (
    Answer,
    AnswerDate,
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
    EditCancel,
    EvaluationAdmin,
    Evidence,
    Forget,
    JoinContinue,
    JoinLanguage,
    LinkGroup,
    MyData,
    OpenDgca,
    OpenEvaluation,
    OpenEventEvaluation,
    OpenMenu,
    OrgAction,
    OrgInvite,
    OrgPanel,
    OrgRemove,
    OrgRevoke,
    Pick,
    PickLanguage,
    PickOther,
    PickPage,
    PickTimezone,
    PickWorkshop,
    PlanAddStep,
    PlanContact,
    PlanEdit,
    PlanField,
    PlanLeave,
    PlanLeaveConfirm,
    PlanList,
    PlanNew,
    PlanNewLink,
    PlanOpen,
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
    SetAttendance,
    SetReminders,
    ShowHelp,
    ShowPrivacy,
    Skip,
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
    UpdateStart,
    UpdateStop,
    ViewerInvite,
    ViewerPanel,
    ViewerRemove,
)
from bot.flows.common import short_hash, workshop_file
from bot.i18n import I18n
from bot.output import ADMIN_COMMANDS, COMMAND_NAMES, ORGANIZER_COMMANDS
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

# What each test person holds, by what an action is about: this workshop ("here"), the
# association both workshops belong to, the participant's own plan. The organizer of the
# other workshop holds their role over the association too, not over this workshop.
ANY_PLACE = "anywhere"
HOLDS: dict[str, dict[On | str, frozenset[Role]]] = {
    "participant": {
        On.WORKSHOP: frozenset({Role.PARTICIPANT}),
        On.PLAN: frozenset({Role.MEMBER, Role.OWNER}),
        ANY_PLACE: frozenset({Role.PARTICIPANT, Role.MEMBER, Role.OWNER}),
    },
    "organizer_here": {
        On.WORKSHOP: frozenset({Role.ORGANIZER}),
        On.ASSOCIATION: frozenset({Role.ORGANIZER}),
        On.PLAN: frozenset({Role.ORGANIZER}),
        ANY_PLACE: frozenset({Role.ORGANIZER}),
    },
    "organizer_other": {
        On.ASSOCIATION: frozenset({Role.ORGANIZER}),
        ANY_PLACE: frozenset({Role.ORGANIZER}),
    },
    "viewer": {
        On.WORKSHOP: frozenset({Role.VIEWER}),
        On.ASSOCIATION: frozenset({Role.VIEWER}),
        On.PLAN: frozenset({Role.VIEWER}),
        ANY_PLACE: frozenset({Role.VIEWER}),
    },
    "admin": {place: frozenset({Role.ADMIN}) for place in [*On, ANY_PLACE]},
    "stranger": {},
}
assert set(HOLDS) == EVERYONE


def by_policy(action: Action, place: On | str, otherwise: Outcome) -> dict[str, Outcome]:
    """Return each role's outcome as bot/flows/access.POLICY says, for a target `place`."""
    rule = POLICY[action]
    out: dict[str, Outcome] = {}
    for role in ROLES:
        held = HOLDS[role].get(place, frozenset()) | {Role.ANYONE}
        out[role] = A if held & rule.roles else otherwise
    return out


def only(*roles: str) -> dict[str, Outcome]:
    """Return an outcome table: ALLOWED for `roles`, REFUSED for the rest."""
    unknown = set(roles) - EVERYONE
    assert not unknown, unknown
    return {role: A if role in roles else R for role in ROLES}


Data = Callable[[World], Awaitable[str]]


@dataclass(frozen=True)
class Row:
    """One command or button kind, the guarded action it takes, and how it is tried."""

    name: str
    action: Action
    data: Data | None = None  # button data; None for a command
    chat: str = "private"
    # How a role without the right is answered: refused, or told to join first.
    otherwise: Outcome = R
    # The world's state, not a right, decides: the button is stale for these roles' reasons.
    state: dict[str, Outcome] | None = None
    # The catalog key of this action's refusal, when it has its own.
    refusal: str | None = None
    # Roles refused with another key than the row's.
    refusal_for: dict[str, str] = field(default_factory=dict)
    # What the command points at, when not what its chat says (see `place`).
    target: On | str | None = None

    @property
    def place(self) -> On | str:
        """Return what the tried command or button points at."""
        if self.target is not None:
            return self.target
        if self.data is None and self.chat == "private":
            return ANY_PLACE  # a command offers whatever the person holds anywhere
        if self.data is None:
            return On.WORKSHOP  # in a group: the workshop linked to it (this one)
        return POLICY[self.action].on

    @property
    def outcomes(self) -> dict[str, Outcome]:
        """Return each role's expected outcome, derived from the policy."""
        if self.state is not None:
            return self.state
        return by_policy(self.action, self.place, self.otherwise)


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


NO_VIEW = "progress.not_allowed"


async def removable_organizer(world: World) -> str:
    """Point at an organizer of this workshop whose removal changes no later row."""
    await world.store.add_organizer(world.here.id, 424_242, world.bot.clock.now(), "Extra")
    return OrgRemove(world.here.id, 424_242).pack()


def association_scope(kind: type[CallbackData], *extra: object) -> Data:
    async def data(world: World) -> str:
        assert world.here.association_id is not None
        return kind("a", world.here.association_id, *extra).pack()  # type: ignore[call-arg]

    return data


def association(kind: type[CallbackData], *extra: object) -> Data:
    async def data(world: World) -> str:
        assert world.here.association_id is not None
        return kind(world.here.association_id, *extra).pack()  # type: ignore[call-arg]

    return data


# Commands, in private chats unless the row says "group". The outcome of every row comes
# from bot/flows/access.POLICY; only rows with `state=` say otherwise, and why.
COMMAND_ROWS = [
    *(Row(c, Action.USE_BOT) for c in ("start", "language", "help", "privacy", "mydata")),
    Row("forget", Action.USE_BOT),
    *(
        Row(c, Action.TAKE_PART, otherwise=N)
        for c in ("menu", "dgca", "agenda", "next", "reminders", "evaluation", "plan")
    ),
    Row("broadcast", Action.BROADCAST),
    Row("invite", Action.JOIN_LINK),
    Row("report", Action.REPORT),
    # In a group, reports only for the workshops linked to it (the group is this workshop's):
    # an organizer of another workshop is told to link the group or ask in private.
    Row(
        "report",
        Action.REPORT,
        chat="group",
        refusal_for={"organizer_other": "organizer.group_not_linked"},
    ),
    Row("openeval", Action.EVALUATION_OPEN),
    Row("organizers", Action.ORGANIZERS_MANAGE),
    Row("organizer", Action.ORGANIZERS_MANAGE),
    # It offers the person's own workshops, to link this group to one of them.
    Row("linkgroup", Action.LINK_GROUP, chat="group", target=ANY_PLACE),
    Row("progress", Action.WORKSHOP_PROGRESS, refusal="progress.only"),
    Row("viewer", Action.VIEWERS_MANAGE, refusal="viewer.only"),
]

# The participant has finished joining: the join and profile steps are over, so their
# buttons are stale even for them; the rows still prove nobody else gets through.
STALE = only()
KIND_ROWS = [
    Row("JoinLanguage", Action.USE_BOT, here(JoinLanguage, "en"), state=STALE),
    Row("JoinContinue", Action.USE_BOT, here(JoinContinue), state=STALE),
    Row("Consent", Action.USE_BOT, here(Consent, True), state=STALE),
    Row("Answer", Action.TAKE_PART, question(Answer, "4")),
    # The DGCA has no multiple-choice and no optional statement: toggles, "done" and "skip"
    # are stale even for the participant.
    Row("Toggle", Action.TAKE_PART, question(Toggle, "4"), state=STALE),
    Row("Done", Action.TAKE_PART, question(Done), state=STALE),
    Row("Back", Action.TAKE_PART, question(Back)),
    Row("Skip", Action.TAKE_PART, question(Skip), state=STALE),
    # The DGCA has no pick or suggested-answer question either (the profile has, and the
    # participant's is submitted): these are stale for everyone too.
    Row("Pick", Action.TAKE_PART, question(Pick, 0, "abcdef"), state=STALE),
    Row("PickPage", Action.TAKE_PART, question(PickPage, 1, "abcdef"), state=STALE),
    Row("PickOther", Action.TAKE_PART, question(PickOther), state=STALE),
    Row("Suggest", Action.TAKE_PART, question(Suggest), state=STALE),
    # Nor a date question, nor one answer asked again from a plan's menu.
    Row("AnswerDate", Action.TAKE_PART, question(AnswerDate, 3), state=STALE),
    Row("EditCancel", Action.TAKE_PART, question(EditCancel), state=STALE),
    Row("ReviewEdit", Action.TAKE_PART, review(ReviewEdit)),
    Row("ReviewSection", Action.TAKE_PART, review(ReviewSection, 0)),
    Row("ReviewQuestion", Action.TAKE_PART, review(ReviewQuestion)),
    Row("ReviewShow", Action.TAKE_PART, review(ReviewShow)),
    Row("Submit", Action.TAKE_PART, review(Submit)),
    Row("SubmitConfirm", Action.TAKE_PART, review(SubmitConfirm)),
    Row("OpenDgca", Action.TAKE_PART, here(OpenDgca), otherwise=N),
    Row("OpenMenu", Action.USE_BOT, plain(OpenMenu)),
    Row("PickLanguage", Action.USE_BOT, plain(PickLanguage)),
    Row("PickWorkshop", Action.TAKE_PART, here(PickWorkshop, "mn")),
    Row("Forget", Action.USE_BOT, plain(Forget)),
    Row("ShowPrivacy", Action.USE_BOT, plain(ShowPrivacy)),
    Row("ShowHelp", Action.USE_BOT, plain(ShowHelp)),
    Row("MyData", Action.USE_BOT, plain(MyData)),
    Row("PickTimezone", Action.USE_BOT, plain(PickTimezone)),
    Row("SetReminders", Action.TAKE_PART, plain(SetReminders, True), otherwise=N),
    Row("SetAttendance", Action.TAKE_PART, here(SetAttendance, "online"), otherwise=N),
    Row("OrgAction", Action.REPORT, here(OrgAction, "rp")),
    Row("OrgPanel", Action.ORGANIZERS_MANAGE, here(OrgPanel)),
    Row("OrgInvite", Action.ORGANIZERS_MANAGE, here(OrgInvite)),
    Row("OrgRevoke", Action.ORGANIZERS_MANAGE, here(OrgRevoke)),
    Row("OrgRemove", Action.ORGANIZERS_MANAGE, removable_organizer),
    Row("Audience", Action.BROADCAST, here(Audience, "all")),
    Row("AudienceInstitution", Action.BROADCAST, institution_audience),
    Row("BroadcastSend", Action.BROADCAST, draft_broadcast(BroadcastSend)),
    Row("BroadcastSchedule", Action.BROADCAST, draft_broadcast(BroadcastSchedule)),
    Row("BroadcastCancel", Action.BROADCAST, draft_broadcast(BroadcastCancel)),
    Row(
        "BroadcastStop",
        Action.BROADCAST,
        draft_broadcast(BroadcastStop, BroadcastStatus.SENDING),
    ),
    Row("LinkGroup", Action.LINK_GROUP, here(LinkGroup), chat="group"),
    Row("OpenEvaluation", Action.TAKE_PART, here(OpenEvaluation), otherwise=N),
    # An event's evaluation: the workshop here has no events, so nobody's is open.
    Row("OpenEventEvaluation", Action.TAKE_PART, here(OpenEventEvaluation, "tot"), otherwise=N),
    Row("EvaluationAdmin", Action.EVALUATION_OPEN, here(EvaluationAdmin)),
    Row("RateSession", Action.TAKE_PART, first_session(RateSession, 4)),
    Row("CommentSession", Action.TAKE_PART, first_session(CommentSession)),
    Row("Report", Action.REPORT, here(Report, "status")),
    Row("PlanList", Action.TAKE_PART, plain(PlanList), otherwise=N),
    Row("PlanNew", Action.TAKE_PART, here(PlanNew), otherwise=N),
    *(
        Row(kind.__name__, Action.PLAN_EDIT, own_plan(kind, *extra), refusal="plan.not_member")
        for kind, extra in (
            (PlanOpen, ()),
            (PlanEdit, ()),
            (PlanField, ("title",)),
            (PlanContact, (True,)),
            (PlanAddStep, ()),
            (PlanTeam, ()),
            (PlanLeave, ()),
            (PlanLeaveConfirm, ()),
            (UpdateStart, ()),
            (UpdateStop, ()),
        )
    ),
    Row("PlanNewLink", Action.PLAN_TEAM_LINK, own_plan(PlanNewLink), refusal="plan.not_member"),
    *(
        Row(kind.__name__, Action.PLAN_EDIT, own_step(kind, *extra), refusal="plan.not_member")
        for kind, extra in (
            (StepOpen, ()),
            (StepField, ("action",)),
            (StepUp, ()),
            (StepDown, ()),
            (StepRemove, ()),
            (StepRemoveConfirm, ()),
        )
    ),
    *(
        Row(kind.__name__, Action.WORKSHOP_PROGRESS, here_scope(kind, *extra), refusal=NO_VIEW)
        for kind, extra in ((ProgressView, ()), (ProgressExport, ()), (ProgressEvidence, (0,)))
    ),
    Row("Evidence", Action.WORKSHOP_PROGRESS, own_evidence, refusal=NO_VIEW),
    *(
        Row(
            kind.__name__,
            Action.ASSOCIATION_PROGRESS,
            association_scope(kind, *extra),
            refusal=NO_VIEW,
        )
        for kind, extra in ((ProgressView, ()), (ProgressExport, ()), (ProgressEvidence, (0,)))
    ),
    Row(
        "ProgressDigest",
        Action.ASSOCIATION_DIGEST,
        association_scope(ProgressDigest, True),
        refusal=NO_VIEW,
    ),
    *(
        Row(kind.__name__, Action.VIEWERS_MANAGE, association(kind, *extra), refusal="viewer.only")
        for kind, extra in (
            (ViewerPanel, ()),
            (ViewerInvite, ()),
            # Nobody's id: removing the real viewer would change later rows' outcomes.
            (ViewerRemove, (424_242,)),
        )
    ),
]
# Rows for commands and buttons added later go at the end of COMMAND_ROWS and KIND_ROWS:
# one line each, naming the action of bot/flows/access.POLICY they take.

CASES = [
    pytest.param(row, role, id=f"/{row.name}@{row.chat}-{role}")
    for row in COMMAND_ROWS
    for role in ROLES
] + [
    pytest.param(row, role, id=f"{row.name}[{row.action.value}]@{row.chat}-{role}")
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
    commands |= set(ADMIN_COMMANDS)
    assert commands == {row.name for row in COMMAND_ROWS}
    assert {kind.__name__ for kind in taps.registered()} == {row.name for row in KIND_ROWS}
    for row in [*COMMAND_ROWS, *KIND_ROWS]:
        assert set(row.outcomes) == EVERYONE, row.name


def test_every_row_takes_an_action_the_policy_lists_for_it() -> None:
    """The table in access.py and this one agree, both ways."""
    listed = {
        (name, action)
        for action, rule in POLICY.items()
        for name in [*rule.commands, *(b.__name__ for b in rule.buttons)]
    }
    tried = {(row.name, row.action) for row in [*COMMAND_ROWS, *KIND_ROWS]}
    assert tried - listed == set(), "rows whose command or button the policy does not list"
    assert listed - tried == set(), "policy entries no row tries"


def test_the_documented_table_is_the_policy() -> None:
    text = (CONTENT_DIR.parent / "docs" / "authorization.md").read_text("utf-8")
    assert markdown_table() in text, "regenerate with: python -m bot.flows.access"


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
        await user.send(f"/{row.name}{suffix}", chat=target)
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
    seen = f"{row.name} ({row.action}) by {role}: answer {answer!r}, replies {replies!r}"
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
