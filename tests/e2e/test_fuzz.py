"""Fuzzing: thousands of generated updates against the running bot.

One application serves the whole module; hypothesis draws batches of updates from three
people (a participant, an organizer of another workshop, a stranger) in private chats, a
group and a channel. After every update: no ERROR was logged, the double saw no protocol
violation, every private message got an answer (a button, its callback answer), groups
and channels got none unless a command addressed the bot, and no database row of anyone
but the sender changed (nor a workshop the sender does not organize).

CI runs the same 120 examples each time (a fixed seed); FUZZ_PROFILE=long (environment)
explores 1,000 new ones for local use.
"""

from __future__ import annotations

import functools
import os
import sqlite3
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import pytest_asyncio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.apidouble import SimChannel, SimGroup, SimUser
from bot.apidouble.server import _IssuedCallback
from bot.content import Content
from bot.flows.callbacks import CODEC_VERSION, registered
from bot.output import COMMAND_NAMES, ORGANIZER_COMMANDS
from storage.sqlite import migrations
from tests.e2e.conftest import ErrorTrap, live_bot
from tests.e2e.harness import COCHABAMBA, Harness
from tests.e2e.test_authorization import quiesce
from tests.e2e.test_journey import ES_ANSWERS, join_es
from tests.support import FakeClock

# CI feeds the same examples every run (a fixed seed), so a landing never hangs on what a
# random draw happens to find; the long profile explores new ones and is run by hand.
settings.register_profile(
    "ci",
    max_examples=int(os.environ.get("FUZZ_N", 120)),
    deadline=None,
    database=None,
    print_blob=True,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
settings.register_profile(
    "long", parent=settings.get_profile("ci"), max_examples=1000, derandomize=False
)
PROFILE = os.environ.get("FUZZ_PROFILE", "ci")

ADMIN_ID = 999
BOT = "taller_test_bot"

# ----------------------------------------------------------------------------- the world


@dataclass
class Fuzz:
    """The running bot, the people who send updates, and what the generators draw from."""

    bot: Harness
    trap: ErrorTrap
    fuzzers: list[SimUser]
    group: SimGroup
    channel: SimChannel
    ids: list[int] = field(default_factory=list)
    words: list[str] = field(default_factory=list)
    replayed: list[str] = field(default_factory=list)
    fed: int = 0
    seconds: float = 0.0


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def fuzz(tmp_path_factory: pytest.TempPathFactory, content: Content) -> AsyncIterator[Fuzz]:
    tmp = tmp_path_factory.mktemp("fuzz")
    clock = FakeClock(FakeClock().current.replace(day=15))
    # Privacy mode off: the bot sees every group message, and must still keep quiet.
    async with live_bot(tmp, content, clock, privacy_mode=False) as (bot, trap):
        other_file = tmp / "other.yaml"
        other_file.write_text(
            COCHABAMBA.read_text("utf-8").replace("id: cochabamba-2023", "id: otro-2023"), "utf-8"
        )
        here = await bot.import_workshop()
        other = await bot.import_workshop(other_file)
        double, store, now = bot.double, bot.services.store, clock.now()
        # People whose data nobody else may touch; they never send anything during the run.
        victims = []
        for name in ("Vera", "Vico"):
            victim = double.new_user(first_name=name, last_name="Mamani", language_code="es")
            await join_es(bot, victim, here.join_code)
            await bot.send(victim, "/dgca")
            for answer in ES_ANSWERS[:3]:
                await bot.tap(victim, answer)
            victims.append(victim)
        organizer = double.new_user(first_name="Olga", language_code="es")
        await store.add_organizer(here.id, organizer.id, now)
        await bot.send(organizer, "/report")
        await bot.send(organizer, "/broadcast")
        # The people who send: a participant, an organizer of the other workshop, a stranger.
        eve = double.new_user(first_name="Eve", last_name="Rojas", language_code="es")
        await join_es(bot, eve, here.join_code)
        rita = double.new_user(first_name="Rita", language_code="en")
        await store.add_organizer(other.id, rita.id, now)
        sam = double.new_user(first_name="Sam", language_code=None)
        fuzzers = [eve, rita, sam]
        for user in fuzzers:
            await bot.send(user, "/help")
        group = double.new_group(title="Equipo", members=[*fuzzers, organizer])
        await eve.send(f"/help@{BOT}", chat=group)
        channel = double.new_channel(title="Avisos")
        await quiesce(bot)

        world = Fuzz(bot, trap, fuzzers, group, channel)
        rows = _rows(bot.database_url)
        world.ids = sorted(
            {v for _, table in rows.values() for row in table.values() for v in row if _small(v)}
        )
        world.words = sorted(
            {
                here.join_code,
                other.join_code,
                *(s.question.id for s in content.questionnaires["dgca"].slots()),
            }
        )[:200]
        world.replayed = [
            str(button["callback_data"])
            for person in [*victims, organizer]
            for message in double.chat_messages(person.id)
            for row in message.buttons
            for button in row
            if "callback_data" in button
        ]
        yield world
        print(f"\nfuzz: {world.fed} updates in {world.seconds:.1f} s ({PROFILE} profile)")


def _small(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 10**12


# ----------------------------------------------------------------------------- ownership

Rows = dict[str, tuple[list[str], dict[int, tuple[Any, ...]]]]


def _rows(database_url: str) -> Rows:
    """Read every table as (columns, rows by rowid)."""
    path = database_url.removeprefix("sqlite:///")
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        out: Rows = {}
        for (table,) in db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        ).fetchall():
            cursor = db.execute(f'SELECT rowid, * FROM "{table}"')
            columns = [c[0] for c in cursor.description][1:]
            out[table] = (columns, {r[0]: tuple(r[1:]) for r in cursor})
        return out
    finally:
        db.close()


@functools.cache
def schema_references() -> dict[tuple[str, str], str]:
    """Return the table each foreign-key column points at, from the migrated schema."""
    db = sqlite3.connect(":memory:")
    try:
        for _, _, sql in migrations():
            db.executescript(sql)
        tables = [
            row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        ]
        return {
            (table, fk[3]): fk[2]
            for table in tables
            for fk in db.execute("SELECT * FROM pragma_foreign_key_list(?)", (table,))
        }
    finally:
        db.close()


class Owners:
    """Tell whose a row is (a person) and which workshop it belongs to, from column names.

    A `telegram_id` column names the person; `<thing>_id` points at a row of `<thing>s`
    whose person and workshop it inherits, so tables added later (plans, check-ins) are
    covered when they follow the schema's naming. The outbox is a delivery queue: its rows
    belong to the workshop of the recipient, since organizers write to their participants.
    """

    def __init__(self, *snapshots: Rows) -> None:
        self.snapshots = snapshots
        self.references = schema_references()

    def _find(self, table: str, rowid: object) -> tuple[list[str], tuple[Any, ...]] | None:
        for snap in self.snapshots:
            if table in snap:
                columns, rows = snap[table]
                for row in rows.values():
                    if "id" in columns and row[columns.index("id")] == rowid:
                        return columns, row
        return None

    def of(self, table: str, columns: list[str], row: tuple[Any, ...]) -> tuple[set[int], set[int]]:
        """Return (people, workshops) the row belongs to."""
        people: set[int] = set()
        workshops: set[int] = set()
        if table == "workshops":
            workshops.add(row[columns.index("id")])
        for column, value in zip(columns, row, strict=True):
            if value is None:
                continue
            if column == "telegram_id" and table != "outbox":
                people.add(value)
            elif column in ("created_by", "used_by") and table.endswith("_invites"):
                # An invitation is its maker's (and, once used, its user's) write.
                people.add(value)
            elif column == "workshop_id":
                workshops.add(value)
            elif column.endswith("_id") and column not in ("telegram_id", "active_workshop_id"):
                # The schema's own foreign key where there is one (owner_id: participants).
                target = self.references.get((table, column), f"{column.removesuffix('_id')}s")
                found = self._find(target, value)
                if found is not None and target != table:
                    inherited_people, inherited_workshops = self.of(target, *found)
                    if table != "outbox":
                        people |= inherited_people
                    workshops |= inherited_workshops
        return people, workshops


def foreign_writes(sender: int, organizes: set[int], before: Rows, after: Rows) -> list[str]:
    """Return the rows that changed on behalf of someone other than the sender."""
    owners = Owners(before, after)
    problems = []
    for table in sorted(set(before) | set(after)):
        columns, old = before.get(table, ([], {}))
        columns_after, new = after.get(table, (columns, {}))
        for rowid in sorted(set(old) | set(new)):
            if old.get(rowid) == new.get(rowid):
                continue
            # A row belongs to whoever owned it before or after the change: /forget turns
            # the sender's own row anonymous, and that is still the sender's write.
            people: set[int] = set()
            workshops: set[int] = set()
            shown = new.get(rowid) or old.get(rowid)
            for row, cols in ((old.get(rowid), columns), (new.get(rowid), columns_after)):
                if row is not None:
                    row_people, row_workshops = owners.of(table, cols, row)
                    people |= row_people
                    workshops |= row_workshops
            if table == "organizers":
                # /forget ends the sender's own roles; nothing else a sender does changes who
                # organizes.
                if not (rowid not in new and people == {sender}):
                    problems.append(f"organizers changed: {shown}")
            elif table.endswith("_invites") and sender in people:
                continue
            elif people and people != {sender}:
                problems.append(f"{table} row of {people}: {shown}")
            elif not people and not (workshops and workshops <= organizes):
                problems.append(f"{table} row of workshops {workshops or '-'}: {shown}")
    return problems


# ----------------------------------------------------------------------------- generators

ODD = (
    "\u200f\u202e\u200b\u200c\u200d\u2066\u2069\ufeff"  # bidi marks, zero-width, BOM
    "שלום مرحبا ދިވެހި"  # RTL scripts
    "\U0001f600\U0001f1e7\U0001f1f4\u0301\u0000\n\t<>&\"'`*_~|"
)
texts = st.one_of(
    st.text(max_size=40),
    st.text(alphabet=st.sampled_from(ODD), max_size=60),
    st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=300),
    st.integers(4090, 5000).map(lambda n: "ñ" * n),
    st.sampled_from(["", " ", "\n", "<b>", "&amp;", "</i>", "@" + BOT, "/", "//", "0", "-1"]),
)
COMMANDS = sorted({*COMMAND_NAMES, *ORGANIZER_COMMANDS, "organizer", "linkgroup"})


@st.composite
def commands(draw: st.DrawFn) -> str:
    name = draw(
        st.one_of(st.sampled_from(COMMANDS), st.from_regex(r"[a-zA-Z0-9_]{1,40}", fullmatch=True))
    )
    at = draw(st.sampled_from(["", "", f"@{BOT}", "@otro_bot", "@"]))
    args = draw(st.one_of(st.just(""), texts.map(lambda t: " " + t[:200])))
    return f"/{name}{at}{args}"


@st.composite
def forged_data(draw: st.DrawFn, world: Fuzz) -> str:
    """Button data for any kind (new kinds included), with ids of anyone's records."""
    replay: bool = draw(st.booleans())
    if world.replayed and replay:
        data: str = draw(st.sampled_from(world.replayed))
        keep: bool = draw(st.booleans())
        if keep:
            return data
        head, *fields = data.split(":")
        if fields:
            index = draw(st.integers(0, len(fields) - 1))
            fields[index] = str(draw(st.sampled_from(world.ids or [0])))
        return ":".join([head, *fields])
    kind = draw(st.sampled_from(registered()))
    field_value = st.one_of(
        st.sampled_from(world.ids or [0]).map(str),
        st.sampled_from(world.words or ["x"]),
        st.integers(-(2**70), 2**70).map(str),
        st.text(alphabet=st.characters(codec="utf-8", exclude_characters=":"), max_size=8),
        st.sampled_from(["", "1", "0", "all", "inst", "dgca", "xlsx", "csv", "mn", "en", "es"]),
    )
    # Half the forgeries have the kind's own number of fields, so they reach its flow.
    count = len(kind._fields)
    sizes = st.sampled_from([count, count, 0, count + 1, max(count - 1, 0)])
    values: list[str] = draw(sizes.flatmap(lambda n: st.lists(field_value, min_size=n, max_size=n)))
    version = draw(st.sampled_from([CODEC_VERSION, CODEC_VERSION, "1", "9", ""]))
    return ":".join([version + kind.prefix, *values])[: draw(st.sampled_from([64, 64, 200]))]


MEDIA = ["photo", "document", "yaml", "sticker", "voice", "location", "contact"]


@dataclass(frozen=True)
class Step:
    """One update to feed: who sends it, where, and what."""

    sender: int
    where: str  # private, group, channel
    what: str  # text, command, tap, forge, bare, media, edit
    payload: str = ""
    index: int = 0


def steps(world: Fuzz) -> st.SearchStrategy[Step]:
    who = st.integers(0, len(world.fuzzers) - 1)
    private = st.one_of(
        st.builds(Step, who, st.just("private"), st.just("text"), texts),
        st.builds(Step, who, st.just("private"), st.just("command"), commands()),
        st.builds(Step, who, st.just("private"), st.just("tap"), st.just(""), st.integers(0, 40)),
        st.builds(Step, who, st.just("private"), st.just("forge"), forged_data(world)),
        st.builds(Step, who, st.just("private"), st.just("bare"), forged_data(world)),
        st.builds(Step, who, st.just("private"), st.just("media"), st.sampled_from(MEDIA)),
        st.builds(Step, who, st.just("private"), st.just("edit"), texts),
    )
    elsewhere = st.one_of(
        st.builds(Step, who, st.just("group"), st.just("text"), texts),
        st.builds(Step, who, st.just("group"), st.just("command"), commands()),
        st.builds(Step, who, st.just("group"), st.just("forge"), forged_data(world)),
        st.builds(Step, who, st.just("group"), st.just("media"), st.sampled_from(MEDIA)),
        st.builds(Step, who, st.just("channel"), st.just("text"), texts),
    )
    return st.one_of(private, private, private, elsewhere)


# ----------------------------------------------------------------------------- feeding


def _bot_messages(world: Fuzz) -> dict[int, dict[int, tuple[str | None, str | None]]]:
    double = world.bot.double
    chats = {u.id for u in double._users.values()} | {world.group.id, world.channel.id}
    return {
        chat: {m.message_id: (m.text, m.caption) for m in double.chat_messages(chat)}
        for chat in chats
    }


def bare_tap(bot: Harness, user: SimUser, data: str) -> str:
    """Press a button under an inline-mode message: the query carries no message at all."""
    # The double has no public way to make one, so it is registered as the double would.
    double = bot.double
    double._callback_seq += 1
    query_id = f"bare-{double._callback_seq}"
    double._callbacks[query_id] = _IssuedCallback(query_id, user.id, None, None, data)
    payload: dict[str, Any] = {
        "id": query_id,
        "from": user.user_json(),
        "inline_message_id": f"inline-{double._callback_seq}",
        "chat_instance": "42",
        "data": data,
    }
    double._enqueue("callback_query", payload)
    return query_id


async def feed(world: Fuzz, step: Step) -> str | None:
    """Send one update; return the callback query id when it is a button press."""
    user = world.fuzzers[step.sender]
    double = world.bot.double
    chat = world.group if step.where == "group" else None
    chat_id = chat.id if chat else user.id
    if step.where == "channel":
        await world.channel.post(step.payload.strip() or ".")
        return None
    if step.what in ("text", "command"):
        await user.send(step.payload.strip() or ".", chat=chat)
    elif step.what == "tap":
        buttons = [
            (message, str(button["callback_data"]))
            for message in double.chat_messages(chat_id)
            for row in message.buttons
            for button in row
            if "callback_data" in button
        ]
        if not buttons:
            return None
        message, data = buttons[-1 - step.index % len(buttons)]
        return await user.tap_data(data, message=message, chat=chat)
    elif step.what == "forge":
        last = double.chat_messages(chat_id)[-1]
        return await user.tap_data(step.payload, message=last, chat=chat)
    elif step.what == "bare":
        return bare_tap(world.bot, user, step.payload)
    elif step.what == "media":
        kind = step.payload
        if kind == "yaml":
            await user.send_document("taller.yaml", b"id: [unclosed\n\xff\xfe", chat=chat)
        elif kind == "document":
            await user.send_document(chat=chat)
        else:
            await getattr(user, f"send_{kind}")(chat=chat)
    elif step.what == "edit":
        own = [
            m
            for m in double.chat_messages(chat_id, from_bot=False)
            if m.sender_id == user.id and m.kind == "text"
        ]
        if not own:
            return None
        await user.edit(own[-1], step.payload.strip() or ".", chat=chat)
    return None


async def check_step(world: Fuzz, step: Step) -> None:
    """Feed one update and check every property the module promises."""
    bot, double = world.bot, world.bot.double
    user = world.fuzzers[step.sender]
    organizes = {w.id for w in await bot.services.store.organizer_workshops(user.id)}
    before, seen = _rows(bot.database_url), _bot_messages(world)
    fed = double.updates_enqueued
    query_id = await feed(world, step)
    world.fed += double.updates_enqueued - fed
    await quiesce(bot)
    after, shown = _rows(bot.database_url), _bot_messages(world)
    what = f"{user.first_name}: {step}"
    assert world.trap.messages == [], (what, world.trap.messages)
    assert double.violations == [], (what, double.violations)
    assert double.unanswered_callbacks() == [], what
    if query_id is not None:
        assert query_id in double.callback_answers, what
    changed = {chat for chat in shown if shown[chat] != seen.get(chat, {})}
    private_message = step.where == "private" and step.what in ("text", "command", "media", "edit")
    if private_message and double.updates_enqueued > fed:
        assert user.id in changed, f"no answer to {what}"
    if step.where == "group" and (step.what in ("text", "media") or "@" in step.payload):
        # Plain chatter gets no answer; nor do commands addressed to another bot.
        addressee = (
            step.payload.split(maxsplit=1)[0].partition("@")[2] if step.payload.strip() else ""
        )
        if step.what != "command" or addressee not in ("", BOT):
            assert world.group.id not in changed, f"group answer to {what}"
    assert world.channel.id not in changed, f"channel answer to {what}"
    if not organizes:
        # Only organizers write to others (broadcasts to their own participants).
        assert changed <= {user.id, world.group.id}, (what, changed)
    problems = foreign_writes(user.id, organizes, before, after)
    assert problems == [], (what, problems)


@pytest.mark.asyncio(loop_scope="module")
# The long profile feeds about 25 updates a second here: 1,000 examples take longer.
@pytest.mark.timeout(600 if PROFILE == "ci" else 7200)
@settings(settings.get_profile(PROFILE))
@given(data=st.data())
async def test_fuzz_updates(fuzz: Fuzz, data: st.DataObject) -> None:
    batch = data.draw(st.lists(steps(fuzz), min_size=10, max_size=40), label="updates")
    started = time.perf_counter()
    try:
        for step in batch:
            await check_step(fuzz, step)
    finally:
        fuzz.seconds += time.perf_counter() - started


# ----------------------------------------------------------------------------- found by fuzzing


async def test_a_command_for_another_bot_in_a_group_gets_no_answer(bot: Harness) -> None:
    bot.double.privacy_mode = False  # as when the bot is a group administrator
    ana = bot.double.new_user(first_name="Ana", language_code="es")
    group = bot.double.new_group(title="Equipo", members=[ana])
    await ana.send("/dgca@otro_bot", chat=group)
    await ana.send("/start@otro_bot hola", chat=group)
    await bot.settle()
    assert group.messages == []
    await ana.send(f"/dgca@{BOT}", chat=group)
    await bot.settle()
    assert "Trabajo en chats privados" in (group.last.text or "")


@pytest.mark.parametrize("data", ["1mn", "ow", "", "1qa:1:1:lea_1:4"])
async def test_a_button_without_a_message_is_answered(bot: Harness, data: str) -> None:
    ana = bot.double.new_user(first_name="Ana", language_code="es")
    query_id = bare_tap(bot, ana, data)
    await bot.settle()
    assert query_id in bot.double.callback_answers


def test_a_row_is_owned_through_the_schemas_foreign_keys() -> None:
    # A plan names its owner in owner_id, a participant: the owner's own write is no alarm.
    participants = (["id", "workshop_id", "telegram_id"], {3: (3, 1, 1000004)})
    plan_columns = ["id", "workshop_id", "owner_id", "title"]
    before: Rows = {"participants": participants, "plans": (plan_columns, {})}
    after: Rows = {"participants": participants, "plans": (plan_columns, {1: (1, 1, 3, "/")})}
    assert foreign_writes(1000004, set(), before, after) == []
    assert foreign_writes(1000005, set(), before, after) == [
        "plans row of {1000004}: (1, 1, 3, '/')"
    ]
