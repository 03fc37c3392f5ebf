"""The rehearsal's script: an ordered list of named phases, each a stretch of the workshop.

A phase is an `async def` that takes the World; put it in PHASES at its place in the
workshop's timeline, since the clock only moves forward. What a phase has to work with:

* `world.advance_to(when)` moves the clock, sending every reminder that falls due on the way;
* `world.crowd(players, script, step=..., label=...)` lets people act together, in step
  with the clock, and shows progress;
* `player.say(text)`, `player.tap(Report, field_is("what", "dgca"))` and `player.answer(q, ...)`
  act as the person would on Telegram; `player.find(...)` looks for a button first;
* `world.store` (the bot's Store) to read what the bot recorded, never to write.
"""

from __future__ import annotations

import collections
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from bot.apidouble import ChatMessage
from bot.content import Event, WorkshopFile
from bot.flows import dialogs
from bot.flows.callbacks import (
    Answer,
    Audience,
    BroadcastSend,
    CallbackData,
    CommentSession,
    Consent,
    Done,
    JoinContinue,
    JoinLanguage,
    LinkGroup,
    OpenDgca,
    OpenEvaluation,
    OpenEventEvaluation,
    OrgInvite,
    Pick,
    PickOther,
    PickPage,
    ProgressExport,
    ProgressView,
    RateSession,
    Report,
    SetAttendance,
    Skip,
    Suggest,
    UpdateStart,
    ViewerInvite,
)
from bot.flows.questionnaire import QuestionText
from bot.rehearsal import plans as plan_phases
from bot.rehearsal.people import (
    BLOCKED_NOTES,
    SESSION_COMMENTS,
    CheckinRole,
    DgcaPlan,
    Person,
    StatusCode,
    checkin_roles,
)
from bot.rehearsal.world import Chat, Player, RehearsalError, T, World, field_is

JOIN_WAVES = (timedelta(hours=1), timedelta(hours=6), timedelta(days=1), timedelta(days=2))
DGCA_WAVES = (timedelta(minutes=20), timedelta(hours=3), timedelta(days=1, hours=2))
WAVE_SIZE = 8
ANSWER_STEP = timedelta(seconds=15)
TYPING_STEP = timedelta(seconds=40)
RATING_STEP = timedelta(minutes=1)
COMMENT_SHARE = 0.3
CURIOUS = 3
SESSION_BASE = 4.2
BROADCAST_TEXT = (
    "¡Gracias por participar en el taller! Las presentaciones y la relatoría estarán "
    "disponibles la próxima semana. / Thank you for taking part in the workshop! The slides "
    "and the report will be available next week."
)
# Of the participants of a hybrid workshop, the share who follow it online.
ONLINE_SHARE = 0.3
REPORTS = ("status", "dgca", "eval", "inst", "xlsx", "csv")
# People open a check-in half an hour after it comes, or two hours after its reminder.
CHECKIN_DELAY = timedelta(minutes=30)
NUDGE_DELAY = timedelta(hours=2)
UPDATE_STEP = timedelta(minutes=1)
# Share of plan authors who leave a check-in unanswered: more as the months go by.
SILENT_SHARE = 0.2
SILENT_GROWTH = 0.08
MAX_STEPS = 12
# Office hours, for what people do on their own (not answering the bot at once).
OFFICE = (time(9), time(18))
LINK = re.compile(r"\?start=([A-Za-z0-9_-]+)")


@dataclass(frozen=True)
class Phase:
    """A named stretch of the rehearsal."""

    name: str
    about: str
    run: Callable[[World], Awaitable[None]]


# ---------------------------------------------------------------------- timeline


def rehearsal_start(spec: WorkshopFile) -> datetime:
    """Return when the rehearsal begins: three days before anything happens, at 10:00."""
    moments = [spec.local(s.start) for s in spec.agenda]
    if spec.dgca_window is not None:
        moments.append(spec.local(spec.dgca_window.opens))
    if spec.evaluation_window is not None:
        moments.append(spec.local(spec.evaluation_window.opens))
    first = min(moments) if moments else spec.local(datetime.combine(spec.start_date, time(9)))
    day = (first - timedelta(days=3)).date()
    return spec.local(datetime.combine(day, time(10)))


async def _due(world: World, *keys: str, events: set[str] | None = None) -> datetime | None:
    """Return when the first of the workshop's occasions with one of these keys falls due.

    In a programme, occasions are per event ("evaluation_open@replica"); `events` keeps
    those of these events only.
    """
    assert world.workshop_id is not None
    rows = await world.store.schedule_of(world.workshop_id)
    times = [
        r.due_at
        for r in rows
        if (r.key.partition("@")[0] in keys or r.kind in keys)
        and (events is None or r.payload.get("event") in events)
    ]
    return min(times) if times else None


def _next_morning(world: World, hour: int = 10) -> datetime:
    local = world.clock.now().astimezone(world.spec.zone)
    day = local.date() + timedelta(days=1)
    return world.spec.local(datetime.combine(day, time(hour)))


def _waves(
    offsets: tuple[timedelta, ...], players: list[Player]
) -> list[tuple[timedelta, list[Player]]]:
    """Spread people over moments; a few people come together, so they are quicker to run."""
    count = min(len(offsets), max(1, len(players) // WAVE_SIZE))
    return [(offsets[i], players[i::count]) for i in range(count)]


def _before(when: datetime, limit: datetime | None) -> datetime:
    """Return `when`, or earlier so that people still have two hours before `limit`."""
    return when if limit is None else min(when, limit - timedelta(hours=2))


def _joined(world: World) -> list[Player]:
    return [p for p in world.players if p.joined]


def _person(player: Player) -> Person:
    if player.person is None:
        raise RehearsalError(f"{player.name} is not a participant")
    return player.person


# ---------------------------------------------------------------------- join


async def join(world: World) -> None:
    """Set up the workshop as a real team would, then let everyone join by the link."""
    admin, organizer = world.admin, world.organizer
    assert admin is not None and organizer is not None
    await admin.upload(world.workshop_file.name, world.workshop_file.read_bytes())
    workshop = await world.store.workshop_by_slug(world.spec.id)
    if workshop is None:
        raise RehearsalError(f"the bot did not import {world.workshop_file}" + admin.context())
    world.workshop_id = workshop.id
    await admin.say("/organizer")
    await admin.tap(OrgInvite, field_is("workshop", workshop.id))
    invitation = _link_payload(admin, "org-")
    await world.pass_time(timedelta(hours=1))
    await organizer.say(f"/start {invitation}")
    # The team's group gets the automatic reports, once for everyone.
    group = world.group
    if group is not None:
        await organizer.say("/linkgroup", chat=group)
        await organizer.tap(LinkGroup, field_is("workshop", workshop.id), chat=group)
    await organizer.say("/invite")
    # The workshop's (or programme's) own link: a programme's event links follow it.
    world.join_code = workshop.join_code
    if not any(workshop.join_code in text for text in organizer.texts()):
        raise RehearsalError("/invite did not give the join link" + organizer.context())
    await _entry_links(world, workshop.id)
    start = world.clock.now()
    for offset, wave in _waves(JOIN_WAVES, world.players):
        await world.advance_to(start + offset)
        await world.crowd(wave, _join_one, step=TYPING_STEP, label="joined")


def _link_payload(player: Player, prefix: str) -> str:
    """Return the start payload of the newest t.me link the bot sent to `player`."""
    for text in reversed(player.texts()):
        for payload in LINK.findall(text):
            if payload.startswith(prefix) and (prefix or not payload.startswith("org-")):
                return payload
    raise RehearsalError(f"{player.name}: no link in the bot's messages" + player.context())


async def _entry_links(world: World, workshop_id: int) -> None:
    """Send every fourth player of a programme in by its first closed event's own link."""
    closed = [e for e in world.spec.events if not e.open]
    if not closed:
        return
    code = (await world.store.event_codes(workshop_id)).get(closed[0].id)
    organizer = world.organizer
    assert organizer is not None
    if code is None or not any(code in text for text in organizer.texts()):
        raise RehearsalError(f"/invite did not give {closed[0].id}'s link" + organizer.context())
    for index, player in enumerate(world.players):
        if index % 4 == 3:
            world.entry_codes[player.id] = code


async def _join_one(player: Player) -> None:
    """Open the join link and answer the greeting, consent and profile questions."""
    person = _person(player)
    code = player.world.entry_codes.get(player.id, player.world.join_code)
    await player.say(f"/start {code}")
    for _ in range(30):
        last = player.last
        kinds = player.kinds(last)
        if OpenDgca in kinds or await _profile_done(player):
            player.joined = True
            if player.find(SetAttendance):
                # A hybrid workshop asks how they attend: most come in person.
                online = person.rng("attendance").random() < ONLINE_SHARE
                mode = "online" if online else "in_person"
                await player.tap(SetAttendance, field_is("mode", mode))
            return
        if JoinLanguage in kinds and player.find(
            JoinLanguage, field_is("lang", person.language), message=last
        ):
            await player.tap(JoinLanguage, field_is("lang", person.language), message=last)
            continue
        if JoinContinue in kinds:
            await player.tap(JoinContinue, message=last)
            continue
        if Consent in kinds:
            await player.tap(Consent, field_is("accept", True), message=last)
            continue
        # The profile questions: what the bot waits for says which one is asked; a question
        # answered with a button (a workshop's own profile: the kind of institution) waits
        # for nothing.
        waiting = dialogs.as_(await player.dialog(), QuestionText)
        question = waiting.question_id if waiting is not None else None
        if waiting is None and Answer in kinds:
            options = _callbacks(last, Answer) if last is not None else []
            choice = person.rng("profile", len(options)).choice(options)
            await player.tap(Answer, field_is("option", choice.option), message=last)
            continue
        if waiting is None:
            break
        listed = Pick in kinds or PickOther in kinds
        if question == "name":
            if person.typed_name is None and Suggest in kinds:
                await player.tap(Suggest, message=last)
            else:
                await player.say(person.typed_name or person.full_name)
        elif question == "institution" and (waiting.typing or not listed):
            await player.say(person.institution)
        elif question == "institution":
            await _pick_institution(player, person)
        elif question == "position":
            await player.say(person.position)
        elif question == "country" and (waiting.typing or not listed):
            country = player.world.spec.country
            await player.say(person.typed_country or (country.get("es") if country else "Bolivia"))
        elif question == "country":
            if person.typed_country:
                await player.tap(PickOther, message=last)
            else:
                await player.tap(Pick, message=last)
        else:
            break
    raise RehearsalError(f"{player.name}: stuck while joining" + player.context())


async def _profile_done(player: Player) -> bool:
    """Tell whether the person's profile is complete (the bot then says what comes next)."""
    workshop_id = player.world.workshop_id
    if workshop_id is None:
        return False
    participant = await player.world.store.participant(workshop_id, player.id)
    return participant is not None and participant.profile_done


async def _pick_institution(player: Player, person: Person) -> None:
    """Tap the person's institution, turning pages of the list to find it."""
    wanted = person.listed_institution
    if wanted is None:
        await player.tap(PickOther)
        return
    if player.find(Pick, field_is("index", wanted)):
        await player.tap(Pick, field_is("index", wanted))
        return
    found = player.find(Pick)
    if found is None:
        raise RehearsalError(f"{player.name}: no list of institutions" + player.context())
    page = found[0]
    shown = [cb.index for cb in _callbacks(page, Pick)]
    pages = [cb.page for cb in _callbacks(page, PickPage)]
    if not shown or not pages:
        raise RehearsalError(f"{player.name}: cannot find {person.institution!r}")
    target = max(pages) if wanted > max(shown) else min(pages)
    await player.tap(PickPage, field_is("page", target), message=page)


def _callbacks(message: ChatMessage, kind: type[T]) -> list[T]:
    out = []
    for row in message.buttons:
        for button in row:
            data = button.get("callback_data")
            cb = kind.unpack(data) if isinstance(data, str) else None
            if cb is not None:
                out.append(cb)
    return out


# ---------------------------------------------------------------------- DGCA


async def dgca(world: World) -> None:
    """Open the self-assessment; people answer, some stop midway, reminders bring some back."""
    if world.spec.dgca is None:
        return  # the workshop does without it
    questionnaire = world.services.content.questionnaire(world.spec.dgca)
    opens = await _due(world, "dgca_open") or world.clock.now()
    nudge = await _due(world, "dgca_nudge")
    closes = await _due(world, "report:dgca")
    joined = _joined(world)

    async def start(player: Player) -> None:
        person = _person(player)
        async with player.sitting(questionnaire.id):
            if player.find(OpenDgca):
                await player.tap(OpenDgca)
            else:
                await player.say("/dgca")
            stop = person.stop_after if person.dgca_plan in STOPS_MIDWAY else None
            await player.answer(questionnaire, assessment=True, stop_after=stop)

    # Without a window the DGCA is open from the start; it still belongs before the workshop.
    sessions = [world.spec.local(s.start) for s in world.spec.agenda]
    deadline = closes or (min(sessions) - timedelta(hours=12) if sessions else None)
    await world.advance_to(opens)
    first = [p for p in joined if _person(p).dgca_plan in FIRST_GO]
    for offset, wave in _waves(DGCA_WAVES, first):
        await world.advance_to(_before(opens + offset, deadline))
        await world.crowd(wave, start, step=ANSWER_STEP, label="answered")
    if nudge is not None:
        later = nudge + timedelta(hours=2)
    else:
        later = opens + ((deadline - opens) / 2 if deadline else timedelta(days=2))
    await world.advance_to(_before(later, deadline))
    second = [p for p in joined if _person(p).dgca_plan in SECOND_GO]

    async def resume(player: Player) -> None:
        async with player.sitting(questionnaire.id):
            if player.find(OpenDgca):
                await player.tap(OpenDgca)
            else:
                await player.say("/dgca")
            await player.answer(questionnaire, assessment=True)

    await world.crowd(second, resume, step=ANSWER_STEP, label="answered after a reminder")
    if closes is not None:
        await world.advance_to(closes)


STOPS_MIDWAY = (DgcaPlan.RESUMED, DgcaPlan.DROPPED)
FIRST_GO = (DgcaPlan.EARLY, DgcaPlan.RESUMED, DgcaPlan.DROPPED)
SECOND_GO = (DgcaPlan.LATE, DgcaPlan.RESUMED)


# ---------------------------------------------------------------------- agenda


async def agenda(world: World) -> None:
    """Run the agenda: digests, reminders before sessions, and ratings after them."""
    spec = world.spec
    sessions = sorted(spec.agenda, key=lambda s: s.start)
    joined = _joined(world)
    for i, session in enumerate(sessions):
        start, end = spec.local(session.start), spec.local(session.until)
        if i == 0:
            await world.advance_to(start + timedelta(minutes=5))
            curious = joined[:CURIOUS]

            async def look(player: Player) -> None:
                await player.say("/agenda")
                await player.say("/next")

            await world.crowd(curious, look, step=TYPING_STEP, label="looked at the agenda")
        await world.advance_to(end)
        # Ratings are asked after each session or once the day is over (one message that
        # moves from session to session): rate whatever is asked now, in agenda order.
        for asked in sessions[: i + 1]:
            if asked.rated:
                await _rate_or_skip(world, joined, asked.id)
        # A programme's event is evaluated when its last session is over, before the next.
        event = spec.event_of(session)
        if event is not None and all(s.event != event.id for s in sessions[i + 1 :]):
            await _evaluate(world, event)


def _asks(player: Player, session_id: str) -> bool:
    return (
        player.find(RateSession, lambda cb: cb.session == session_id and cb.rating > 0) is not None
    )


async def _rate_or_skip(world: World, joined: list[Player], session_id: str) -> None:
    """Let those asked about a session rate it (if they want) or skip it (if they can)."""
    asked = [p for p in joined if _asks(p, session_id)]

    def wants(player: Player) -> bool:
        return _person(player).rng("rates", session_id).random() < _person(player).rating_share

    async def rate(player: Player) -> None:
        await _rate(player, session_id)

    async def skip(player: Player) -> None:
        await player.tap(RateSession, lambda cb: cb.session == session_id and cb.rating == 0)

    skippers = [
        p
        for p in asked
        if not wants(p)
        and p.find(RateSession, lambda cb: cb.session == session_id and cb.rating == 0)
    ]
    await world.crowd(
        [p for p in asked if wants(p)], rate, step=RATING_STEP, label=f"rated «{session_id}»"
    )
    await world.crowd(skippers, skip, step=RATING_STEP, label=f"skipped «{session_id}»")


async def _rate(player: Player, session_id: str) -> None:
    person = _person(player)
    rng = person.rng("rating", session_id)
    rating = max(1, min(5, round(SESSION_BASE + person.mood + rng.gauss(0.0, 0.8))))
    await player.tap(
        RateSession,
        lambda cb: cb.session == session_id and cb.rating == rating,
    )
    if person.comments and (rng.random() < COMMENT_SHARE or not person.commented):
        person.commented += 1
        await player.tap(CommentSession, field_is("session", session_id))
        await player.say(person.text(SESSION_COMMENTS, session_id))


# ---------------------------------------------------------------------- evaluation


async def evaluation(world: World) -> None:
    """Open the evaluation after the last session; most answer, a reminder brings others."""
    if world.spec.events:
        return  # a programme's evaluations ran in the agenda, each after its event
    await _evaluate(world, None)


async def _evaluate(world: World, event: Event | None) -> None:
    """Run one evaluation: the workshop's, or one event's with its members."""
    spec = world.spec.for_event(event) if event is not None else world.spec
    questionnaire = world.services.content.questionnaires.get(spec.evaluation or "")
    if questionnaire is None:
        return
    events = {event.id} if event is not None else None
    opens = await _due(world, "evaluation_open", events=events) or world.clock.now()
    nudge = await _due(world, "evaluation_nudge", events=events)
    closes = await _due(world, "report:evaluation", events=events)
    joined = [p for p in await _members(world, event) if _person(p).evaluates]

    async def evaluate(player: Player) -> None:
        async with player.sitting(questionnaire.id):
            if player.find(OpenEvaluation):
                await player.tap(OpenEvaluation)
            elif event is not None and player.find(
                OpenEventEvaluation, field_is("event", event.id)
            ):
                await player.tap(OpenEventEvaluation, field_is("event", event.id))
            else:
                await player.say("/evaluation")
            await player.answer(questionnaire, assessment=False)

    await world.advance_to(opens + timedelta(minutes=15))
    soon = [p for p in joined if not _person(p).evaluates_late]
    await world.crowd(soon, evaluate, step=TYPING_STEP, label="evaluated")
    later = nudge + timedelta(hours=3) if nudge else opens + timedelta(days=2)
    await world.advance_to(_before(later, closes))
    late = [p for p in joined if _person(p).evaluates_late]
    await world.crowd(late, evaluate, step=TYPING_STEP, label="evaluated after a reminder")
    if closes is not None:
        await world.advance_to(closes)


async def _members(world: World, event: Event | None) -> list[Player]:
    """Return the players who joined, or those in one event of the programme."""
    joined = _joined(world)
    if event is None:
        return joined
    assert world.workshop_id is not None
    members = await world.store.event_members(world.workshop_id)
    found = []
    for player in joined:
        participant = await world.store.participant(world.workshop_id, player.id)
        if participant is not None and event.id in members.get(participant.id, frozenset()):
            found.append(player)
    return found


# ---------------------------------------------------------------------- organizer


async def broadcast(world: World) -> None:
    """Have the organizer thank everyone with a broadcast and watch it go out."""
    organizer = world.organizer
    assert organizer is not None
    await world.advance_to(_next_morning(world))
    await organizer.say("/broadcast")
    await organizer.tap(Audience, field_is("audience", "all"))
    await organizer.say(BROADCAST_TEXT)
    sent = await organizer.tap(BroadcastSend)
    broadcast_id = sent.broadcast
    if broadcast_id is None:
        raise RehearsalError("the broadcast's send button carries no broadcast")
    await world.flush()
    await world.broadcast_finished(broadcast_id)


async def reports(world: World) -> None:
    """Have the organizer ask for every report and both exports."""
    organizer = world.organizer
    assert organizer is not None and world.workshop_id is not None
    await world.pass_time(timedelta(minutes=30))
    # A workshop without a DGCA (or an evaluation) offers no report of it.
    off = {"dgca": world.spec.dgca is None, "inst": world.spec.dgca is None}
    off["eval"] = world.spec.evaluation is None
    kinds = [kind for kind in REPORTS if not off.get(kind, False)]
    for done, kind in enumerate(kinds):
        world.progress.step(done, len(kinds), "reports")
        await organizer.say("/report")
        menu = organizer.last
        if kind == "eval" and world.spec.events and menu is not None:
            # A programme's evaluation reports are its events': every one of them.
            for index in [cb.index for cb in _callbacks(menu, Report) if cb.what == "eval"]:
                await organizer.tap(Report, _report_of_event(index), message=menu)
                await world.pass_time(timedelta(minutes=2))
            continue
        await organizer.tap(Report, field_is("what", kind))
        if kind == "inst" and organizer.find(Report, lambda cb: cb.index is not None):
            index = await _largest_institution(world)
            await organizer.tap(Report, field_is("index", index))
        await world.pass_time(timedelta(minutes=2))
    world.progress.step(len(kinds), len(kinds), "reports")
    await world.flush()


def _report_of_event(index: int | None) -> Callable[[CallbackData], bool]:
    """Match the evaluation report button of the event at `index`."""
    return lambda cb: isinstance(cb, Report) and cb.what == "eval" and cb.index == index


async def _largest_institution(world: World) -> int:
    """Return the position, in the bot's list, of the institution with most DGCA answers."""
    assert world.workshop_id is not None
    sets = await world.store.answer_sets(world.workshop_id, world.spec.dgca or "")
    counts = collections.Counter(s.institution for s in sets if s.institution and s.submitted_at)
    names = sorted(counts)
    return names.index(counts.most_common(1)[0][0]) if names else 0


# ---------------------------------------------------------------------- six months after


def _office_hours(world: World, moment: datetime) -> datetime:
    """Return `moment`, or the next morning's 10:00 when it falls outside office hours."""
    local = moment.astimezone(world.spec.zone)
    if OFFICE[0] <= local.time() < OFFICE[1]:
        return moment
    day = local.date() + timedelta(days=1 if local.time() >= OFFICE[1] else 0)
    return world.spec.local(datetime.combine(day, time(10)))


async def association(world: World) -> None:
    """Appoint an officer of the association as viewer; the monthly digests go to them."""
    admin = world.admin
    assert admin is not None
    user = world.double.new_user("Valeria", "Paz", language_code="es")
    world.chats[user.id] = Chat(
        "viewer",
        "Valeria Paz — association officer",
        ["Officer of the association who follows up the plans (a viewer): gets the monthly "
         "digest and opens /progress."],
    )  # fmt: skip
    viewer = world.viewer = Player(world, user, "viewer")
    await world.advance_to(_office_hours(world, world.clock.now() + timedelta(hours=2)))
    await admin.say("/viewer")
    await admin.tap(ViewerInvite)
    link = next(
        (t.split("start=", 1)[1].split()[0] for t in reversed(admin.texts()) if "start=view-" in t),
        None,
    )
    if link is None:
        raise RehearsalError("no viewer link" + admin.context())
    await viewer.say(f"/start {link}")
    await viewer.tap(ProgressView)


async def _plan_authors(world: World) -> list[Player]:
    """Return the participants who wrote a plan, in the order they were cast."""
    assert world.workshop_id is not None
    authors = {
        m.telegram_id for p in await world.store.plans_in(world.workshop_id) for m in p.members
    }
    return [p for p in world.players if p.person is not None and p.id in authors]


def _asked_since(player: Player, since: datetime) -> bool:
    """Tell whether the bot asked the person for an update of a whole plan since `since`."""
    stamp = since.timestamp()
    return any(
        m.date >= stamp and player.find(UpdateStart, lambda cb: cb.step is None, message=m)
        for m in player.user.messages
    )


async def _asked_step(player: Player, tap: Answer) -> int:
    """Return the id of the step an update's status question is about (from its run)."""
    state = await player.world.store.run_state(tap.response, player.id)
    if state is None:
        raise RehearsalError(f"{player.name}: an update question without its run")
    subject = state.response.questionnaire_id.partition("@")[2]
    return int(subject.split(".")[1])


def _status_of(option: str) -> Callable[[Answer], bool]:
    return lambda cb: cb.question == "status" and cb.option == option


async def _answer_checkin(player: Player, months: int, block_first: bool) -> None:
    """Open the newest request for an update and give each open step a status, or skip it.

    With `block_first`, the first step is reported blocked, with the first of the notes
    that say why (the server's budget), so every check-in shows a blocked step. The whole
    update is one message, edited from step to step; a note comes below it, with the
    button that goes on.
    """
    person = _person(player)
    await player.tap(UpdateStart, lambda cb: cb.step is None)
    for index in range(MAX_STEPS):
        prompt = player.last
        found = player.find(Answer, lambda cb: cb.question == "status", message=prompt)
        if found is None or prompt is None:
            return  # nothing open any more: the bot showed the plan instead
        asked = Answer.unpack(found[2])
        assert asked is not None
        step_id = await _asked_step(player, asked)
        if block_first and index == 0:
            status: StatusCode | None = "bl"
            note: str | None = BLOCKED_NOTES[person.language][0]
        else:
            status, note = person.step_update(step_id, months)
        if status is None:
            await player.tap(Skip, message=prompt)
            continue
        await player.tap(Answer, _status_of(status), message=prompt)
        person.steps[step_id] = status
        if note:
            await player.say(note)
        # Only the bot's newest message counts: older ones lost their buttons.
        await player.tap(Done, message=player.last)
    raise RehearsalError(f"{player.name}: stuck in a check-in" + player.context())


def _checkin_script(months: int, blocker: Player | None) -> Callable[[Player], Awaitable[None]]:
    async def script(player: Player) -> None:
        await _answer_checkin(player, months, player is blocker)

    return script


async def follow_up(world: World) -> None:
    """Walk six months on: each check-in, its reminder a week later, and the digests.

    The clock ticks every hour in between, so overdue steps, reminders and the monthly
    digest to the association go out when the bot's own scheduler would send them.
    """
    assert world.workshop_id is not None
    rows = await world.store.schedule_of(world.workshop_id)
    checkins = sorted((r for r in rows if r.kind == "checkin"), key=lambda r: r.due_at)
    nudge_after = timedelta(days=world.spec.follow_up.nudge_after_days)
    for number, row in enumerate(checkins):
        months = int(row.payload.get("months", 0))
        authors = await _plan_authors(world)
        share = SILENT_SHARE + SILENT_GROWTH * number
        people = [_person(p) for p in authors]
        roles = dict(zip(authors, checkin_roles(people, months, share), strict=True))
        await world.advance_to(row.due_at + CHECKIN_DELAY)
        asked = [p for p in authors if _asked_since(p, row.due_at)]
        soon = [p for p in asked if roles[p] is CheckinRole.SOON]
        # One person per check-in reports a blocked step, a Spanish speaker if there is one.
        blocker = next((p for p in soon if _person(p).language == "es"), soon[0] if soon else None)
        answer = _checkin_script(months, blocker)
        await world.crowd(
            soon, answer, step=UPDATE_STEP, label=f"answered the {months}-month check-in"
        )
        await world.advance_to(row.due_at + nudge_after + NUDGE_DELAY)
        late = [
            p
            for p in asked
            if roles[p] is CheckinRole.LATE and _asked_since(p, row.due_at + nudge_after)
        ]
        await world.crowd(
            late, answer, step=UPDATE_STEP, label=f"answered the {months}-month reminder"
        )
    # The last check-in's answers reach the association in the next monthly digest.
    if checkins:
        last = checkins[-1].due_at.astimezone(world.spec.zone)
        first_of_next = (last.replace(day=1) + timedelta(days=32)).replace(day=1)
        digest = world.spec.local(
            datetime.combine(first_of_next.date(), world.spec.follow_up.send_time)
        )
        await world.advance_to(max(world.clock.now(), digest) + timedelta(hours=1))


async def dashboards(world: World) -> None:
    """Have the officer open /progress from the last digest and export; the organizer too."""
    viewer, organizer = world.viewer, world.organizer
    assert viewer is not None and organizer is not None
    await world.advance_to(_office_hours(world, world.clock.now() + timedelta(hours=2)))
    await viewer.tap(ProgressView)
    await viewer.tap(ProgressExport)
    await organizer.say("/progress")
    await organizer.tap(ProgressExport)
    await world.flush()


PHASES: tuple[Phase, ...] = (
    Phase("join", "the team sets up the workshop; participants join by the link", join),
    Phase("dgca", "the self-assessment window, with its invitation and reminders", dgca),
    Phase("agenda", "the workshop days: digests, session reminders and ratings", agenda),
    Phase("evaluation", "the evaluation after the last session, and its reminder", evaluation),
    Phase("broadcast", "the organizer's message to everyone", broadcast),
    Phase("reports", "the organizer's reports and exports", reports),
    Phase("plans", "participants write their action plans in chat", plan_phases.plans),
    Phase(
        "association", "an officer of the association becomes a viewer of the plans", association
    ),
    Phase(
        "follow-up",
        "six months of check-ins (1, 3 and 6 months), their reminders, overdue steps and "
        "the association's monthly digests; some answer, some block, some stay silent",
        follow_up,
    ),
    Phase(
        "dashboards",
        "the association officer opens /progress from the last digest; both export",
        dashboards,
    ),
)
