"""The running rehearsal: the real bot, the double it talks to, the clock, and the people.

Simulated people act like Telegram users: they type, and they tap the buttons the bot
shows. They find a button by what it does (its kind in the callback data), never by its
label, so the rehearsal keeps working when a text in the catalogs changes.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TypeVar
from zoneinfo import ZoneInfo

from bot.apidouble import BotApiDouble, ChatMessage, SimGroup, SimUser
from bot.app import BotApplication
from bot.clock import SimulatedClock
from bot.content import Questionnaire, QuestionType, WorkshopFile
from bot.delivery import Delivery
from bot.flows import dialogs
from bot.flows.callbacks import (
    Answer,
    CallbackData,
    Done,
    Skip,
    Submit,
    SubmitConfirm,
    Toggle,
    parse,
)
from bot.flows.questionnaire import QuestionText
from bot.processor import OrderedUpdateProcessor
from bot.rehearsal.people import Person
from bot.rehearsal.progress import Progress
from bot.rehearsal.transcript import Recorder
from bot.services import Services
from storage import BroadcastStatus, Dialog, Store

# Generous: charts and exports render in threads on a machine that may be busy.
SETTLE_SECONDS = 120.0
QUESTIONNAIRE_KINDS: frozenset[type[CallbackData]] = frozenset(
    {Answer, Toggle, Done, Skip, Submit, SubmitConfirm}
)
T = TypeVar("T", bound=CallbackData)
# The bot's scheduler checks every minute for what the data make due (overdue steps,
# check-in reminders, the monthly digest); the rehearsal checks on every hour of the clock,
# day and night, so such messages go out within the hour they would in production, and one
# that leaks into the night is caught.
HEARTBEAT = timedelta(hours=1)
# An occasion may wait for the morning; one still pending a day after its time is stuck.
STUCK_AFTER = timedelta(days=1)


def field_is(name: str, value: object) -> Callable[[CallbackData], bool]:
    """Match buttons whose callback field `name` is `value`."""
    return lambda cb: getattr(cb, name) == value


def next_beat(after: datetime, zone: ZoneInfo) -> datetime:
    """Return the first whole hour of the clock in `zone` strictly after `after`."""
    offset = after.astimezone(zone).utcoffset() or timedelta(0)
    # Zones a half or quarter hour off UTC have their whole hours off UTC's.
    shift = timedelta(seconds=offset.total_seconds() % 3600)
    hour = (after + shift).replace(minute=0, second=0, microsecond=0) - shift
    return hour + HEARTBEAT


class RehearsalError(Exception):
    """The rehearsal cannot go on; the message says who was stuck where."""


@dataclass(frozen=True)
class Chat:
    """How a chat is named in the results: its file name and its transcript's title."""

    slug: str
    title: str
    about: list[str]


@dataclass
class Usage:
    """What one person's use of a questionnaire cost: sittings, answers, messages, calls."""

    sittings: int = 0
    answers: int = 0
    # The bot's messages in the chat while the person was at it (intro, questions, result).
    messages: int = 0
    # Bot API calls made for one answer → how many answers took that many.
    calls_per_answer: collections.Counter[int] = field(default_factory=collections.Counter)
    submitted: bool = False


@dataclass(frozen=True)
class Delivered:
    """Messages the outbox sent for one source (a reminder, a check-in, a digest)."""

    at: datetime
    source: str
    count: int


@dataclass(frozen=True)
class Occasion:
    """An automatic occasion the rehearsal's clock reached."""

    key: str
    kind: str
    due_at: datetime
    status: str


class Pace:
    """Let a crowd act in step: everyone does one thing, then the clock moves on.

    Nobody acts while the clock moves, and what falls due in between (a reminder, a
    session) is sent before anyone acts again, as it would be in real time.
    """

    def __init__(self, world: World, step: timedelta, parties: int) -> None:
        self.world = world
        self.step = step
        self.parties = parties
        self._waiting = 0
        self._release = asyncio.Event()

    async def wait_turn(self) -> None:
        """Wait until everyone still acting is ready, then let time pass one step."""
        self._waiting += 1
        release = self._release
        if self._waiting >= self.parties:
            await self._open()
        await release.wait()

    async def leave(self) -> None:
        """Stop taking part (the person is done); the others no longer wait for them."""
        self.parties -= 1
        if self.parties > 0 and self._waiting >= self.parties:
            await self._open()

    async def _open(self) -> None:
        self._waiting = 0
        release, self._release = self._release, asyncio.Event()
        try:
            await self.world.pass_time(self.step)
        finally:
            release.set()


class World:
    """The bot, the double, the clock and everyone in the rehearsal."""

    def __init__(
        self,
        double: BotApiDouble,
        app: BotApplication,
        clock: SimulatedClock,
        recorder: Recorder,
        spec: WorkshopFile,
        workshop_file: Path,
        progress: Progress,
    ) -> None:
        self.double = double
        self.app = app
        self.clock = clock
        self.recorder = recorder
        self.spec = spec
        self.workshop_file = workshop_file
        self.progress = progress
        self.players: list[Player] = []
        self.admin: Player | None = None
        self.organizer: Player | None = None
        self.viewer: Player | None = None
        self.group: SimGroup | None = None
        self.chats: dict[int, Chat] = {}
        self.workshop_id: int | None = None
        self.join_code: str | None = None
        # Players who join a programme by one event's own link, not the programme's.
        self.entry_codes: dict[int, str] = {}
        self.occasions: list[Occasion] = []
        self.delivered: collections.Counter[str] = collections.Counter()
        self.deliveries: list[Delivered] = []
        # Occasions a tick left pending (they wait for the morning), with their due time.
        self.deferred: dict[int, datetime] = {}
        self.held: list[str] = []
        self.ticks = 0
        self._sent_seen = 0
        self._count_deliveries()

    # ------------------------------------------------------------------ the bot's parts

    @property
    def services(self) -> Services:
        """Return the running bot's services."""
        services = self.app.bot_data.services
        if services is None:
            raise RehearsalError("the bot is not running")
        return services

    @property
    def store(self) -> Store:
        """Return the bot's store."""
        return self.services.store

    @property
    def delivery(self) -> Delivery:
        """Return the bot's outbox sender and reminder runner."""
        delivery = self.app.bot_data.delivery
        if delivery is None:
            raise RehearsalError("the bot is not running")
        return delivery

    def _count_deliveries(self) -> None:
        """Count each message the outbox sends, by what queued it (reminder, broadcast)."""
        sender = self.delivery.sender
        then = sender.on_finish

        async def counted(source: str) -> None:
            if sender.stats.sent > self._sent_seen:
                count = sender.stats.sent - self._sent_seen
                self.delivered[source] += count
                self.deliveries.append(Delivered(self.clock.now(), source, count))
            self._sent_seen = sender.stats.sent
            if then is not None:
                await then(source)

        sender.on_finish = counted

    # ------------------------------------------------------------------ waiting

    async def settle(self) -> None:
        """Wait until the bot has fetched and fully handled every update sent so far."""
        processor = self.app.update_processor
        assert isinstance(processor, OrderedUpdateProcessor)
        try:
            await self.double.wait_until_fetched(SETTLE_SECONDS)
            await asyncio.wait_for(
                processor.wait_completed(self.double.updates_fetched), SETTLE_SECONDS
            )
        except (AssertionError, TimeoutError) as exc:
            raise RehearsalError(f"the bot did not keep up: {exc}") from exc

    async def flush(self) -> None:
        """Wait until the outbox is empty, then until the bot is idle."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + SETTLE_SECONDS
        while await self.store.pending_outbox(1, now=self.clock.now()):
            if loop.time() > deadline:
                raise RehearsalError("the outbox did not drain")
            await asyncio.sleep(0.01)
        await self.settle()

    async def broadcast_finished(self, broadcast_id: int) -> None:
        """Wait until a broadcast is done and its final report is in the organizer's chat."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + SETTLE_SECONDS
        while True:
            broadcast = await self.store.broadcast(broadcast_id)
            if broadcast is None:
                raise RehearsalError(f"broadcast {broadcast_id} vanished")
            if broadcast.status is BroadcastStatus.DONE:
                break
            if loop.time() > deadline:
                raise RehearsalError(f"broadcast {broadcast_id} did not finish")
            await asyncio.sleep(0.02)
        chat, progress = broadcast.progress_chat_id, broadcast.progress_message_id
        if chat is not None and progress is not None:
            # The final report comes first; then the progress message loses its Stop button.
            await self.double.wait_for(
                lambda: not self.double.message(chat, progress).buttons,
                SETTLE_SECONDS,
                message="the broadcast's final report",
            )
        await self.settle()

    # ------------------------------------------------------------------ time

    async def tick(self) -> None:
        """Send what is due at the clock's time, as the bot's scheduler would."""
        now = self.clock.now()
        self.ticks += 1
        due = {r.id: r for r in await self.store.pending_schedule() if r.due_at <= now}
        await self.delivery.runner.tick()
        await self.flush()
        if not due:
            return
        still = {r.id for r in await self.store.pending_schedule()}
        status: dict[int, str] = {}
        if self.workshop_id is not None and len(still & due.keys()) < len(due):
            status = {r.id: r.status for r in await self.store.schedule_of(self.workshop_id)}
        for row in due.values():
            if row.id in still:
                if now - row.due_at > STUCK_AFTER:
                    raise RehearsalError(
                        f"an occasion due at {row.due_at} ({row.key}) stays pending"
                    )
                if row.id not in self.deferred:
                    self.held.append(f"{row.key} due {row.due_at:%Y-%m-%d %H:%M} UTC")
                self.deferred[row.id] = row.due_at
                continue
            self.deferred.pop(row.id, None)
            if row.id in status:
                self.occasions.append(Occasion(row.key, row.kind, row.due_at, status[row.id]))

    async def next_due(self) -> datetime | None:
        """Return when the next automatic occasion falls due."""
        pending = await self.store.pending_schedule()
        return min((r.due_at for r in pending), default=None)

    async def _next_stop(self) -> datetime:
        """Return when to tick next: an occasion due, or the next hour's check."""
        now = self.clock.now()
        stops = [next_beat(now, self.spec.zone)]
        for row in await self.store.pending_schedule():
            if row.due_at > now:
                stops.append(row.due_at)
            elif row.id not in self.deferred:
                # Due already (added by what someone just did): the bot's armed job sends it.
                stops.append(now)
        return min(stops)

    async def advance_to(self, when: datetime) -> None:
        """Move the clock to `when`, ticking at every occasion and every hour on the way."""
        if when < self.clock.now():
            return
        while (stop := await self._next_stop()) <= when:
            self.clock.move_to(stop)
            await self.tick()
        self.clock.move_to(when)

    async def pass_time(self, step: timedelta) -> None:
        """Let `step` pass, sending whatever falls due meanwhile."""
        await self.advance_to(self.clock.now() + step)

    async def crowd(
        self,
        players: Iterable[Player],
        script: Callable[[Player], Awaitable[None]],
        *,
        step: timedelta,
        label: str,
    ) -> None:
        """Let players follow a script at the same time, in step with the clock."""
        group = list(players)
        if not group:
            return
        pace = Pace(self, step, len(group))
        done = 0

        async def one(player: Player) -> None:
            nonlocal done
            player.pace = pace
            try:
                await script(player)
            finally:
                player.pace = None
                await pace.leave()
                done += 1
                self.progress.step(done, len(group), label)

        self.progress.step(0, len(group), label)
        results = await asyncio.gather(*(one(p) for p in group), return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result


class Player:
    """One simulated Telegram user: a participant, the organizer or the administrator."""

    def __init__(
        self, world: World, user: SimUser, slug: str, person: Person | None = None
    ) -> None:
        self.world = world
        self.user = user
        self.slug = slug
        self.person = person
        self.pace: Pace | None = None
        self.joined = False
        self.usage: dict[str, Usage] = {}
        # Bot API calls in this chat while the bot handled the person's latest message or tap.
        self.last_calls = 0

    @property
    def name(self) -> str:
        """Return the name shown in transcripts."""
        return f"{self.user.first_name} {self.user.last_name or ''}".strip()

    @property
    def id(self) -> int:
        """Return the Telegram user id (also the private chat id)."""
        return self.user.id

    async def _turn(self) -> None:
        if self.pace is not None:
            await self.pace.wait_turn()

    # ------------------------------------------------------------------ acting

    async def say(self, text: str, *, chat: SimGroup | None = None) -> None:
        """Type and send a message (in private, or in a group), then wait for the bot."""
        await self._turn()
        calls = self.world.recorder.calls_by_chat[self.id]
        self.world.recorder.said(chat.id if chat else self.id, text, self.user.first_name)
        await self.user.send(text, chat=chat)
        await self.world.settle()
        self.last_calls = self.world.recorder.calls_by_chat[self.id] - calls

    async def upload(self, name: str, data: bytes) -> None:
        """Send a file as a document, then wait for the bot to handle it."""
        await self._turn()
        self.world.recorder.uploaded(self.id, name, self.user.first_name)
        await self.user.send_document(name, data)
        await self.world.settle()

    async def tap(
        self,
        kind: type[T],
        match: Callable[[T], bool] | None = None,
        *,
        message: ChatMessage | None = None,
        chat: SimGroup | None = None,
    ) -> T:
        """Tap the button that does `kind` (and passes `match`) in the latest message with one."""
        found = self.find(kind, match, message=message, chat=chat)
        if found is None:
            raise RehearsalError(f"{self.name}: no {kind.__name__} button to tap{self.context()}")
        msg, label, data = found
        await self._turn()
        # Counted once it is this person's turn: a reminder sent while they waited is not theirs.
        calls = self.world.recorder.calls_by_chat[self.id]
        query = await self.user.tap_data(data, message=msg, chat=chat)
        shown = [[str(b.get("text", "")) for b in row] for row in msg.buttons]
        self.world.recorder.tapped(
            msg.chat_id, msg.message_id, label, shown, query, self.user.first_name
        )
        await self.world.settle()
        self.last_calls = self.world.recorder.calls_by_chat[self.id] - calls
        callback = kind.unpack(data)
        assert callback is not None
        return callback

    # ------------------------------------------------------------------ reading the chat

    def find(
        self,
        kind: type[T],
        match: Callable[[T], bool] | None = None,
        *,
        message: ChatMessage | None = None,
        chat: SimGroup | None = None,
    ) -> tuple[ChatMessage, str, str] | None:
        """Return (message, label, data) of the newest matching button, or None."""
        if message is not None:
            messages = [message]
        else:
            messages = list(reversed(chat.messages if chat else self.user.messages))
        for msg in messages:
            if msg.deleted:
                continue
            for row in msg.buttons:
                for button in row:
                    data = button.get("callback_data")
                    cb = kind.unpack(data) if isinstance(data, str) else None
                    if cb is not None and (match is None or match(cb)):
                        return msg, str(button.get("text", "")), str(data)
        return None

    def kinds(self, message: ChatMessage | None) -> set[type[CallbackData]]:
        """Return what the buttons of a message do."""
        out: set[type[CallbackData]] = set()
        if message is None:
            return out
        for row in message.buttons:
            for button in row:
                data = button.get("callback_data")
                cb = parse(data) if isinstance(data, str) else None
                if cb is not None:
                    out.add(type(cb))
        return out

    @property
    def last(self) -> ChatMessage | None:
        """Return the bot's latest message in the private chat."""
        live = [m for m in self.user.messages if not m.deleted]
        return live[-1] if live else None

    def texts(self) -> list[str]:
        """Return the text (or caption) of every bot message in the private chat."""
        return [m.content or "" for m in self.user.messages]

    async def dialog(self) -> Dialog | None:
        """Return what the bot is waiting for from this person."""
        return await self.world.store.dialog(self.id)

    def context(self) -> str:
        """Describe the bot's last message, for error messages."""
        last = self.last
        if last is None:
            return " (the bot has said nothing yet)"
        text = (last.content or "").replace("\n", " ")[:160]
        return f"; the bot's last message: {text!r}, buttons {last.button_texts}"

    # ------------------------------------------------------------------ questionnaires

    @asynccontextmanager
    async def sitting(self, questionnaire_id: str) -> AsyncIterator[Usage]:
        """Count the bot's messages in the chat from opening a questionnaire to leaving it."""
        usage = self.usage.setdefault(questionnaire_id, Usage())
        usage.sittings += 1
        sent = self.world.recorder.sends_by_chat[self.id]
        try:
            yield usage
        finally:
            usage.messages += self.world.recorder.sends_by_chat[self.id] - sent

    async def answer(
        self, questionnaire: Questionnaire, *, assessment: bool, stop_after: int | None = None
    ) -> bool:
        """Answer the questionnaire on screen to the end (or stop early); True if submitted."""
        if self.person is None:
            raise RehearsalError(f"{self.name} has no answers to give")
        usage = self.usage.setdefault(questionnaire.id, Usage())
        answered = 0
        limit = 4 * sum(1 for _ in questionnaire.slots()) + 10
        for _ in range(limit):
            if stop_after is not None and answered >= stop_after:
                return False
            dialog = await self.dialog()
            waiting = dialogs.as_(dialog, QuestionText)
            if waiting is not None:
                qid = waiting.question_id
                choice = self.person.choose(
                    questionnaire, questionnaire.question(qid), assessment=assessment
                )
                if isinstance(choice, str):
                    await self.say(choice)
                else:
                    await self.tap(Skip, field_is("question", qid))
                answered += 1
                usage.answers += 1
                usage.calls_per_answer[self.last_calls] += 1
                continue
            msg = next(
                (m for m in reversed(self.user.messages) if self.kinds(m) & QUESTIONNAIRE_KINDS),
                None,
            )
            kinds = self.kinds(msg)
            if SubmitConfirm in kinds:
                await self.tap(SubmitConfirm, message=msg)
                usage.submitted = True
                return True
            if Submit in kinds:
                await self.tap(Submit, message=msg)
                continue
            if Answer in kinds or Toggle in kinds:
                calls = await self._answer_buttons(questionnaire, msg, assessment)
                answered += 1
                usage.answers += 1
                usage.calls_per_answer[calls] += 1
                continue
            raise RehearsalError(
                f"{self.name}: lost in {questionnaire.id} after {answered} answers" + self.context()
            )
        raise RehearsalError(f"{self.name}: {questionnaire.id} never ended" + self.context())

    async def _answer_buttons(
        self, questionnaire: Questionnaire, msg: ChatMessage | None, assessment: bool
    ) -> int:
        """Answer the question of `msg` with its buttons; return the Bot API calls it took."""
        assert self.person is not None and msg is not None
        found = self.find(Answer, message=msg) or self.find(Toggle, message=msg)
        assert found is not None
        cb = parse(found[2])
        assert isinstance(cb, Answer | Toggle)
        qid = cb.question
        question = questionnaire.question(qid)
        choice = self.person.choose(questionnaire, question, assessment=assessment)
        if question.type is QuestionType.MULTI and isinstance(choice, list):
            calls = 0
            for code in choice:
                await self.tap(Toggle, field_is("option", code), message=msg)
                calls += self.last_calls
            await self.tap(Done, field_is("question", qid))
            return calls + self.last_calls
        await self.tap(Answer, field_is("option", choice), message=msg)
        return self.last_calls
