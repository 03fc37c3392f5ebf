"""The post-workshop evaluation, and participants' ratings of each session."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import ClassVar

from bot.content import AgendaSession, WorkshopFile
from bot.flows import dialogs, forms
from bot.flows import questionnaire as engine
from bot.flows.access import Action, may
from bot.flows.callbacks import (
    CommentSession,
    EvaluationAdmin,
    OpenEvaluation,
    OpenEventEvaluation,
    OpenMenu,
    RateSession,
)
from bot.flows.common import Ctx, current_workshop, text_length_error, workshop_file
from bot.flows.dialogs import Waiting
from bot.flows.events import Button, Deliver, Edit, Event, Keyboard, Notice, Rearm, Send
from bot.flows.nav import pick_workshop
from bot.flows.profile import ask_next_profile_step
from bot.flows.workshops import reschedule
from bot.i18n import Translator
from storage import DialogState, Workshop

COMMENT_MAX = 500
DEFAULT_OPEN_DAYS = 7


def window(spec: WorkshopFile, workshop: Workshop) -> tuple[datetime | None, datetime | None]:
    """Return when the evaluation opens and closes (None: not known yet)."""
    opens: datetime | None = None
    if spec.evaluation_window is not None:
        opens = spec.local(spec.evaluation_window.opens)
    elif any(not s.time_tbc for s in spec.agenda):
        # As the schedule plans it: after the last session with a time.
        opens = max(spec.local(s.until) for s in spec.agenda if not s.time_tbc)
    # An organizer's opening by hand is the workshop's; a programme's events keep their own.
    if (
        spec.event_id is None
        and workshop.evaluation_opened_at is not None
        and (opens is None or workshop.evaluation_opened_at < opens)
    ):
        opens = workshop.evaluation_opened_at
    if spec.evaluation_window is not None:
        closes: datetime | None = spec.local(spec.evaluation_window.closes)
    elif opens is not None:
        closes = opens + timedelta(days=DEFAULT_OPEN_DAYS)
    else:
        closes = None
    return opens, closes


def state(spec: WorkshopFile, workshop: Workshop, now: datetime) -> str:
    """Say whether the evaluation is 'not_open', 'open' or 'closed'."""
    opens, closes = window(spec, workshop)
    if opens is None or now < opens:
        return "not_open"
    if closes is not None and now >= closes:
        return "closed"
    return "open"


def evaluation_button(tr: Translator, workshop_id: int, spec: WorkshopFile) -> Button:
    """Return the button that opens this workshop's (or this event's) evaluation."""
    event = spec.event_id
    data = OpenEvaluation(workshop_id) if event is None else OpenEventEvaluation(workshop_id, event)
    return Button(tr.t("button.start_evaluation"), data.pack())


def evaluation_view(spec: WorkshopFile, run: forms.Run) -> WorkshopFile | None:
    """Return the workshop or event whose evaluation this run answers, or None."""
    event = spec.event(run.subject)
    if event is not None:
        view = spec.for_event(event)
        return view if view.evaluation == run.questionnaire.id else None
    if run.subject is None and not spec.events and run.questionnaire.id == spec.evaluation:
        return spec
    return None


async def after_submit(ctx: Ctx, run: forms.Run) -> list[Event]:
    """Thank the participant for the evaluation."""
    return [
        Send(ctx.tr.t("evaluation.thanks"), [[Button(ctx.tr.t("button.menu"), OpenMenu().pack())]])
    ]


async def open_evaluation(
    ctx: Ctx, workshop_id: int | None = None, event_id: str | None = None
) -> list[Event]:
    """Open the evaluation for the participant (of one event, in a programme), if open."""
    if workshop_id is not None:
        workshop = await ctx.svc.store.workshop(workshop_id)
        participant = (
            await ctx.svc.store.participant(workshop_id, ctx.actor.telegram_id)
            if workshop
            else None
        )
    else:
        current = await current_workshop(ctx)
        if current.ambiguous:
            return pick_workshop(ctx, current.choices, then="oe")
        workshop, participant = current.workshop, current.participant
    if workshop is None or participant is None:
        return [Send(ctx.tr.t("dgca.not_joined"))]
    spec = workshop_file(workshop)
    if spec.events:
        view = await _event_view(ctx, spec, workshop, participant.id, event_id)
        if view is None:
            return [Send(ctx.tr.t("evaluation.off", title=spec.title.get(ctx.lang)))]
        spec = view
    if spec.evaluation is None:
        return [Send(ctx.tr.t("evaluation.off", title=spec.title.get(ctx.lang)))]
    questionnaire = ctx.svc.content.questionnaires.get(spec.evaluation)
    key = spec.evaluation_key()
    if questionnaire is None or key is None:
        return [Send(ctx.tr.t("evaluation.not_open"))]
    now = ctx.svc.clock.now()
    status = state(spec, workshop, now)
    if status == "not_open":
        return [Send(ctx.tr.t("evaluation.not_open"))]
    existing = await ctx.svc.store.find_response(participant.id, key)
    if status == "closed" and not (existing is not None and existing.submitted):
        return [Send(ctx.tr.t("evaluation.closed"))]
    if not participant.profile_done:
        return [
            Send(ctx.tr.t("dgca.profile_first")),
            *await ask_next_profile_step(ctx, participant, workshop),
        ]
    return await engine.open_questionnaire(
        ctx, participant, workshop, questionnaire, after_submit, subject=spec.event_id
    )


async def _event_view(
    ctx: Ctx, spec: WorkshopFile, workshop: Workshop, participant_id: int, event_id: str | None
) -> WorkshopFile | None:
    """Pick the event whose evaluation a programme participant means: the one open now."""
    members = await ctx.svc.store.events_of(participant_id)
    views = [
        spec.for_event(e)
        for e in spec.events
        if e.id in members and (event_id is None or e.id == event_id)
    ]
    views = [v for v in views if v.evaluation is not None]
    now = ctx.svc.clock.now()

    async def answered(view: WorkshopFile) -> bool:
        response = await ctx.svc.store.find_response(participant_id, view.evaluation_key() or "")
        return response is not None and response.submitted

    # What the person most likely means: an open evaluation not yet answered, then an open
    # one, then the next to open, and only then one already closed.
    opened = [v for v in views if state(v, workshop, now) == "open"]
    for view in opened:
        if not await answered(view):
            return view
    if opened:
        return opened[-1]
    coming = [v for v in views if state(v, workshop, now) == "not_open"]
    if coming:
        return coming[0]
    return views[-1] if views else None


async def is_closed_for(ctx: Ctx, view: WorkshopFile, workshop: Workshop) -> bool:
    """Tell whether answers to this workshop's (or event's) evaluation are no longer taken."""
    return state(view, workshop, ctx.svc.clock.now()) == "closed"


# Organizers open the evaluation by hand.


async def admin_menu(ctx: Ctx, workshop: Workshop) -> list[Event]:
    """Show the evaluation's state to an organizer, with the button to open it now.

    A programme shows each event's evaluation: they open from their own agenda or window.
    """
    spec = workshop_file(workshop)
    now = ctx.svc.clock.now()
    if spec.events:
        views = [spec.for_event(e) for e in spec.events]
        texts = [_admin_text(ctx, v, workshop, now) for v in views if v.evaluation is not None]
        return [Send("\n\n".join(texts) or ctx.tr.t("report.evaluation_off"))]
    text = _admin_text(ctx, spec, workshop, now)
    status = state(spec, workshop, now)
    rows: Keyboard = []
    if status == "not_open":
        rows = [[Button(ctx.tr.t("button.open_evaluation"), EvaluationAdmin(workshop.id).pack())]]
    return [Send(text, rows or None)]


def _admin_text(ctx: Ctx, spec: WorkshopFile, workshop: Workshop, now: datetime) -> str:
    opens, closes = window(spec, workshop)
    return ctx.tr.t(
        f"evaluation.admin_{state(spec, workshop, now)}",
        title=spec.title.get(ctx.lang),
        opens=ctx.tr.datetime(opens.astimezone(spec.zone)) if opens else "—",
        closes=ctx.tr.datetime(closes.astimezone(spec.zone)) if closes else "—",
    )


async def on_admin_callback(ctx: Ctx, cb: EvaluationAdmin, message_id: int) -> list[Event]:
    """Open the evaluation now; the invitation goes out at once."""
    workshop_id = cb.workshop
    if not await may(ctx.svc, ctx.actor.telegram_id, Action.EVALUATION_OPEN, workshop_id):
        return [Notice(ctx.tr.t("notice.stale"))]
    workshop = await ctx.svc.store.workshop(workshop_id)
    # A programme's evaluations open event by event, from their agenda or window.
    spec = workshop_file(workshop) if workshop is not None else None
    if spec is None or spec.evaluation is None or spec.events:
        return [Notice(ctx.tr.t("notice.stale"))]
    now = ctx.svc.clock.now()
    await ctx.svc.store.set_evaluation_opened(workshop_id, now)
    refreshed = await ctx.svc.store.workshop(workshop_id)
    assert refreshed is not None
    await reschedule(ctx.svc, refreshed, workshop_file(refreshed), now)
    title = workshop_file(refreshed).title.get(ctx.lang)
    return [
        Notice(),
        Edit(message_id, ctx.tr.t("evaluation.opened", title=title)),
        Rearm(),
        Deliver(),
    ]


# Session ratings.


# A "rating" of 0 skips a session in the day's series of ratings.
SKIP_RATING = 0


def rating_buttons(workshop_id: int, session_id: str, skip: str | None = None) -> Keyboard:
    """Return the one-tap 1-5 rating row for a session, and a skip button if labelled."""
    rows = [[Button(str(n), RateSession(workshop_id, session_id, n).pack()) for n in range(1, 6)]]
    if skip is not None:
        rows.append([Button(skip, RateSession(workshop_id, session_id, SKIP_RATING).pack())])
    return rows


async def on_rating_callback(
    ctx: Ctx, cb: RateSession | CommentSession, message_id: int
) -> list[Event]:
    """Record a session rating, or start a comment on it."""
    workshop_id, session_id = cb.workshop, cb.session
    workshop = await ctx.svc.store.workshop(workshop_id)
    participant = (
        await ctx.svc.store.participant(workshop.id, ctx.actor.telegram_id) if workshop else None
    )
    if workshop is None or participant is None:
        return [Notice(ctx.tr.t("notice.stale"))]
    spec = workshop_file(workshop)
    session = next((s for s in spec.agenda if s.id == session_id), None)
    if session is None or not await _takes_part_in(ctx, participant.id, session):
        return [Notice(ctx.tr.t("notice.stale"))]
    title = session.title.get(ctx.lang)
    now = ctx.svc.clock.now()
    if isinstance(cb, CommentSession):
        return await _ask_comment(ctx, workshop, spec, participant.id, session, message_id)
    # A rating tapped instead of typing the comment asked for: the person moved on.
    if isinstance(
        dialogs.decode(await ctx.svc.store.dialog(ctx.actor.telegram_id)), SessionComment
    ):
        await ctx.svc.store.clear_dialog(ctx.actor.telegram_id)
    rating = cb.rating
    following = await _next_to_rate(ctx, participant.id, spec, session)
    keep = await _evaluation_kept(ctx, spec, workshop, participant.id, session)
    if rating == SKIP_RATING and following is None and spec.reminders.ratings == "end_of_day":
        return [Notice(), Edit(message_id, ctx.tr.t("feedback.day_done"), keep or None)]
    if rating == SKIP_RATING and following is not None:
        text, rows = "", []
    elif not 1 <= rating <= 5:
        return [Notice(ctx.tr.t("notice.stale"))]
    else:
        await ctx.svc.store.rate_session(participant.id, workshop.id, session.id, rating, now)
        text = ctx.tr.t("feedback.rated", title=title, rating=rating)
        rows = [
            [Button(ctx.tr.t("button.add_comment"), CommentSession(workshop.id, session.id).pack())]
        ]
    if following is not None:
        # One message for the day's ratings: it moves on to the next session.
        ask = ctx.tr.t("feedback.ask", title=following.title.get(ctx.lang))
        text = f"{text}\n\n{ask}" if text else ask
        skip = ctx.tr.plain("button.skip")
        rows = [*rating_buttons(workshop.id, following.id, skip), *rows]
    return [Notice(), Edit(message_id, text, [*rows, *keep])]


async def _evaluation_kept(
    ctx: Ctx, spec: WorkshopFile, workshop: Workshop, participant_id: int, session: AgendaSession
) -> Keyboard:
    """Return the evaluation's button while it is open and unanswered, else nothing.

    The day's ratings may have come in one message with the evaluation's invitation: its
    button stays under the ratings until the evaluation is answered.
    """
    owner = spec.event_of(session)
    view = spec.for_event(owner) if owner is not None else spec
    key = view.evaluation_key()
    if key is None or state(view, workshop, ctx.svc.clock.now()) != "open":
        return []
    answered = await ctx.svc.store.find_response(participant_id, key)
    if answered is not None and answered.submitted:
        return []
    return [[evaluation_button(ctx.tr, workshop.id, view)]]


async def _rated_text(ctx: Ctx, participant_id: int, session: AgendaSession) -> str:
    """Say how the person rated a session ("Calificó … con 4 de 5"), or nothing."""
    given = (await ctx.svc.store.ratings_of(participant_id)).get(session.id)
    if given is None:
        return ""
    return ctx.tr.t("feedback.rated", title=session.title.get(ctx.lang), rating=given)


async def _ask_comment(
    ctx: Ctx,
    workshop: Workshop,
    spec: WorkshopFile,
    participant_id: int,
    session: AgendaSession,
    message_id: int,
) -> list[Event]:
    """Ask for the comment in the rating message itself; the day's next rating stays in it."""
    waiting = SessionComment(
        participant_id=participant_id, session_id=session.id, message_id=message_id
    )
    await dialogs.wait_for(ctx, waiting)
    title = session.title.get(ctx.lang)
    rated = await _rated_text(ctx, participant_id, session)
    following = await _next_to_rate(ctx, participant_id, spec, session)
    rows: Keyboard = []
    if following is None:
        parts = [rated, ctx.tr.t("feedback.ask_comment", title=title, max=COMMENT_MAX)]
    else:
        # Type the comment, or tap the next session's rating and leave it.
        parts = [
            rated,
            ctx.tr.t("feedback.ask_comment_or_next", title=title, max=COMMENT_MAX),
            ctx.tr.t("feedback.ask", title=following.title.get(ctx.lang)),
        ]
        rows = rating_buttons(workshop.id, following.id, ctx.tr.plain("button.skip"))
    rows += await _evaluation_kept(ctx, spec, workshop, participant_id, session)
    text = "\n\n".join(p for p in parts if p)
    return [Notice(), Edit(message_id, text, rows or None)]


async def _takes_part_in(ctx: Ctx, participant_id: int, session: AgendaSession) -> bool:
    """Tell whether a participant is in the session's event (always, in a plain workshop)."""
    if session.event is None:
        return True
    return session.event in await ctx.svc.store.events_of(participant_id)


async def _next_to_rate(
    ctx: Ctx, participant_id: int, spec: WorkshopFile, rated: AgendaSession
) -> AgendaSession | None:
    """Return the day's next rated session this person has not rated, in day-rating mode."""
    if spec.reminders.ratings != "end_of_day":
        return None
    done = set(await ctx.svc.store.ratings_of(participant_id))
    later = sorted(
        (
            s
            for s in spec.agenda
            if s.rated
            and s.event == rated.event
            and s.start.date() == rated.start.date()
            and s.start > rated.start
        ),
        key=lambda s: s.start,
    )
    return next((s for s in later if s.id not in done), None)


class SessionComment(Waiting):
    """A session rating waits for an optional typed comment."""

    state: ClassVar[DialogState] = DialogState.FEEDBACK_COMMENT
    expects_text: ClassVar[bool] = False
    participant_id: int
    session_id: str
    # The rating message the comment was asked in: its buttons move below the comment.
    message_id: int | None = None


async def on_comment_text(ctx: Ctx, waiting: SessionComment, text: str) -> list[Event]:
    """Store the typed comment on a session rating."""
    session_id = waiting.session_id
    participant = await ctx.svc.store.participant_by_id(waiting.participant_id)
    if participant is None or participant.telegram_id != ctx.actor.telegram_id:
        await ctx.svc.store.clear_dialog(ctx.actor.telegram_id)
        return [Send(ctx.tr.t("fallback.nothing_pending"))]
    comment = " ".join(text.split())
    problem = text_length_error(ctx.tr, comment, 2, COMMENT_MAX)
    if problem:
        return [Send(problem)]
    await ctx.svc.store.comment_session(participant.id, session_id, comment)
    await ctx.svc.store.clear_dialog(ctx.actor.telegram_id)
    workshop = await ctx.svc.store.workshop(participant.workshop_id)
    spec = workshop_file(workshop) if workshop is not None else None
    session = next((s for s in spec.agenda if s.id == session_id), None) if spec else None
    if workshop is None or spec is None or session is None or waiting.message_id is None:
        return [Send(ctx.tr.t("feedback.thanks"))]
    # The rating message keeps what was rated and loses its buttons; they come below the
    # comment, in one message with the thanks, so the live prompt is at the bottom.
    events: list[Event] = []
    rated = await _rated_text(ctx, participant.id, session)
    if rated:
        # Retired, not repeated: if the person deleted it, nothing is sent again.
        events.append(Edit(waiting.message_id, rated, resend=False))
    text = ctx.tr.t("feedback.thanks")
    rows: Keyboard = []
    following = await _next_to_rate(ctx, participant.id, spec, session)
    if following is not None:
        text += "\n\n" + ctx.tr.t("feedback.ask", title=following.title.get(ctx.lang))
        rows = rating_buttons(workshop.id, following.id, ctx.tr.plain("button.skip"))
    rows += await _evaluation_kept(ctx, spec, workshop, participant.id, session)
    return [*events, Send(text, rows or None)]


dialogs.handles(SessionComment, on_comment_text)
