"""The form engine: runs any questionnaire file, one question per message.

It runs the DGCA and the evaluation (section progress, a review, then submit), the profile
(numbered steps, submitted with its last answer), and the action plan with each of its steps
(numbered steps bound to a record). Answers live in `responses` and `answers`; a form whose
answers mean more elsewhere registers a `Binding` with `register_form`: where each answer
also goes (the profile fills the participant's record), what follows its last answer, and,
for a form bound to a record of its own (a plan, a step), how to read the record, who may
change it and what to show after one answer is changed.

A form bound to a record runs once per record: its response is keyed `form@subject` (the
plan's or step's id, or `new…` until the record exists), is never submitted, and any answer
can be asked again with `edit_answer`. A plan's steps are such a repeat: one run of the step
form per step.
"""

from __future__ import annotations

import dataclasses
import re
from datetime import date, datetime
from typing import ClassVar
from zoneinfo import ZoneInfo

from pydantic import Field

from bot.content import (
    Option,
    PickSource,
    Question,
    Questionnaire,
    QuestionType,
    Slot,
    WorkshopFile,
)
from bot.flows import dialogs
from bot.flows.callbacks import (
    Answer,
    AnswerDate,
    Back,
    Done,
    EditCancel,
    Pick,
    PickOther,
    PickPage,
    ReviewEdit,
    ReviewQuestion,
    ReviewSection,
    ReviewShow,
    Skip,
    Submit,
    SubmitConfirm,
    Suggest,
    Toggle,
)
from bot.flows.common import (
    Ctx,
    Media,
    clean_text_answer,
    normalise,
    short_hash,
    text_length_error,
    workshop_file,
)
from bot.flows.dates import parse_date
from bot.flows.dialogs import Waiting
from bot.flows.events import Button, Edit, Event, Keyboard, Notice, Send
from bot.flows.forms import (
    AfterSubmit,
    EvidenceItem,
    Run,
    binding_of,
    fill,
    first_open,
    instance_key,
    is_skipped,
    split_key,
)
from bot.flows.schedule import add_months
from storage import AnswerValue, DialogState, Participant, Response, Workshop

SKIPPED: tuple[str, ...] = ()
REVIEW_LINE_CHARS = 70
# A typed answer is echoed back at most this long, so the message stays within Telegram's
# 4,096 characters whatever the questionnaire's own limit.
ECHO_CHARS = 600
NPS_ROWS = ((0, 6), (6, 11))
PICK_PER_PAGE = 6
DATE_MONTHS = (1, 3, 6, 12)
# Telegram lets bots download files up to 20 MB; evidence must stay downloadable by viewers.
MAX_EVIDENCE_BYTES = 20 * 1024 * 1024
EVIDENCE_MEDIA = ("photo", "document")
LINK = re.compile(r"https?://[^\s<>\"]{3,2000}", re.IGNORECASE)


class QuestionText(Waiting):
    """A text question (or a pick question, typed) waits for its answer."""

    state: ClassVar[DialogState] = DialogState.QUESTION_TEXT
    response_id: int
    question_id: str
    # A pick question whose list is shown takes typed text only when it matches an item;
    # once the person chose to type ("other"), any text within the limits is the answer.
    typing: bool = False


class QuestionEvidence(Waiting):
    """An evidence question takes notes, links, photos and documents until it is closed."""

    state: ClassVar[DialogState] = DialogState.QUESTION_EVIDENCE
    response_id: int
    question_id: str
    # The kinds kept so far ("note", "photo"…): the question's answer once it is closed.
    items: list[str] = Field(default_factory=list)


class QuestionMulti(Waiting):
    """A multiple-choice question holds the options ticked but not yet confirmed."""

    state: ClassVar[DialogState] = DialogState.QUESTION_MULTI
    expects_text: ClassVar[bool] = False
    response_id: int
    question_id: str
    selected: list[str] = Field(default_factory=list)


def option_label(ctx: Ctx, q: Questionnaire, slot: Slot, value: AnswerValue) -> str:
    """Return the label of a stored answer in the person's language."""
    if is_skipped(value):
        return ctx.tr.t("question.skipped")
    question = slot.question
    if question.type in (QuestionType.TEXT, QuestionType.PICK):
        return str(value)
    if question.type is QuestionType.DATE:
        try:
            return ctx.tr.date(date.fromisoformat(str(value)))
        except ValueError:
            return str(value)
    by_code = {o.code: o for o in q.options_of(question)}
    codes = value if isinstance(value, list) else [value]
    return ", ".join(by_code[c].label.get(ctx.lang) for c in codes if c in by_code)


def _header(ctx: Ctx, run: Run, slot: Slot, *, typing: bool = False) -> str:
    slots = run.slots()
    position = next(i for i, s in enumerate(slots) if s.question.id == slot.question.id) + 1
    asked = slot.question.text_other if typing and slot.question.text_other else slot.question.text
    text = fill(asked.get(ctx.lang), run.values)
    heading = run.questionnaire.heading
    if heading is not None:
        # One answer asked again is not a step of the way: no "(2 de 6)".
        numbered = run.questionnaire.progress == "step" and not run.editing
        key = "question.step_heading" if numbered else "question.heading"
        title = fill(heading.get(ctx.lang), run.values)
        return ctx.tr.t(key, heading=title, n=position, total=len(slots), text=text)
    if run.questionnaire.progress == "step":
        return ctx.tr.t("question.step", n=position, total=len(slots), text=text)
    lines = [
        ctx.tr.t(
            "question.progress",
            section=slot.section.title.get(ctx.lang),
            bar=progress_bar(position - 1, len(slots)),
            n=position,
            total=len(slots),
        )
    ]
    if slot.subsection is not None:
        lines.append(ctx.tr.t("question.subsection", title=slot.subsection.title.get(ctx.lang)))
    lines.append("")
    lines.append(ctx.tr.t("question.text", text=text))
    return "\n".join(lines)


BAR_CELLS = 10


def progress_bar(done: int, total: int) -> str:
    """Draw how much of a questionnaire is answered as ▰▰▰▱▱▱▱▱▱▱."""
    filled = round(BAR_CELLS * done / total) if total else 0
    return "▰" * filled + "▱" * (BAR_CELLS - filled)


def _live(run: Run) -> bool:
    # A survey is answered in one message edited from question to question; a short form
    # (the profile) reads as a conversation, one message per step, unless it says `live`.
    q = run.questionnaire
    return q.live if q.live is not None else q.progress == "section"


async def _retire_live(ctx: Ctx, run: Run, text: str) -> list[Event]:
    """Turn the message the person was answering in into plain text, and forget it."""
    old = run.response.live_message_id
    if old is None or not _live(run):
        return []
    await ctx.svc.store.set_live_message(run.response.id, None)
    run.response = dataclasses.replace(run.response, live_message_id=None)
    return [Edit(old, text, None, resend=False)]


async def _adopt_live(ctx: Ctx, run: Run, message_id: int) -> list[Event]:
    """Make the tapped message the live one, retiring any other that still has buttons."""
    if not _live(run) or run.response.live_message_id == message_id:
        return []
    events = await _retire_live(ctx, run, ctx.tr.t("question.moved"))
    await ctx.svc.store.set_live_message(run.response.id, message_id)
    run.response = dataclasses.replace(run.response, live_message_id=message_id)
    return events


def _hint(ctx: Ctx, run: Run, slot: Slot) -> str | None:
    question = slot.question
    if question.type is QuestionType.DATE:
        return _date_hint(ctx, run)
    if run.questionnaire.progress != "section":
        # A short form's questions say what they expect, with an example, themselves.
        return None
    if question.type is QuestionType.MULTI:
        return ctx.tr.t("question.hint_multi")
    if question.type is QuestionType.TEXT:
        return ctx.tr.t("question.hint_text", max=question.max_length)
    if question.type is QuestionType.NPS:
        return ctx.tr.t("question.hint_nps")
    return None


def _date_sample(ctx: Ctx, run: Run) -> str:
    """Return a date six months ahead as typed: an example that is not already past."""
    return f"{add_months(_local(run, ctx.svc.clock.now()).date(), 6):%d/%m/%Y}"


def _date_hint(ctx: Ctx, run: Run) -> str:
    return ctx.tr.t("question.date_example", example=_date_sample(ctx, run))


def _option_rows(
    ctx: Ctx, run: Run, slot: Slot, chosen: AnswerValue | None, draft: list[str] | None
) -> Keyboard:
    q, question, rid = run.questionnaire, slot.question, run.response.id
    options = q.options_of(question)
    if question.type is QuestionType.NPS:
        return [
            [
                Button(
                    ("✅ " if chosen == o.code else "") + o.label.get(ctx.lang),
                    Answer(rid, run.version, question.id, o.code).pack(),
                )
                for o in options[lo:hi]
            ]
            for lo, hi in NPS_ROWS
        ]
    if question.type is QuestionType.MULTI:
        selected = draft if draft is not None else (chosen if isinstance(chosen, list) else [])
        untick = "▫️ " if question.columns == 1 else ""
        rows: Keyboard = _in_columns(
            [
                Button(
                    # Two to a row leave no room for an empty box before what is not ticked.
                    (("✅ " if o.code in selected else untick) + o.label.get(ctx.lang))[:64],
                    Toggle(rid, run.version, question.id, o.code).pack(),
                )
                for o in options
            ],
            question.columns,
        )
        rows.append([Button(ctx.tr.t("button.done"), Done(rid, run.version, question.id).pack())])
        return rows
    if question.type is QuestionType.TEXT:
        rows = []
        suggestion = _suggestion(ctx, question)
        if suggestion is not None:
            label = ctx.tr.plain("button.use_value", value=suggestion)
            rows.append([Button(label, Suggest(rid, run.version, question.id).pack())])
        if isinstance(chosen, str) and not run.editing:
            rows.append(
                [Button(ctx.tr.t("button.keep"), Done(rid, run.version, question.id).pack())]
            )
        return rows
    if question.type is QuestionType.EVIDENCE:
        label = question.done.get(ctx.lang) if question.done else ctx.tr.t("button.done")
        return [[Button(label, Done(rid, run.version, question.id).pack())]]
    if question.type is QuestionType.DATE:
        today = _local(run, ctx.svc.clock.now()).date()
        return _in_columns(
            [
                Button(
                    ctx.tr.plain(
                        "question.date_in", n=months, date=ctx.tr.date(add_months(today, months))
                    ),
                    AnswerDate(rid, run.version, question.id, months).pack(),
                )
                for months in question.months or DATE_MONTHS
            ],
            2,
        )
    return _in_columns(
        [
            Button(
                ("✅ " if chosen == o.code else "") + o.label.get(ctx.lang),
                Answer(rid, run.version, question.id, o.code).pack(),
            )
            for o in options
        ],
        question.columns,
    )


def _in_columns(buttons: list[Button], columns: int) -> Keyboard:
    return [buttons[i : i + columns] for i in range(0, len(buttons), columns)]


def _suggestion(ctx: Ctx, question: Question) -> str | None:
    """Return the one-tap answer a text question offers, if it fits the question's limits."""
    if question.suggest != "telegram_name":
        return None
    name = ctx.actor.full_name
    return name if question.min_length <= len(name) <= question.max_length else None


def pick_items(run: Run, slot: Slot) -> list[str]:
    """Return the list a pick question offers, from the workshop file."""
    spec = workshop_file(run.workshop)
    return _items(spec, slot.question.source, run.workshop.language)


def _items(spec: WorkshopFile, source: PickSource | None, lang: str) -> list[str]:
    if source is PickSource.INSTITUTIONS:
        return list(spec.institutions)
    if source is PickSource.COUNTRY and spec.country is not None:
        # Stored in the workshop's language, so that reports group one spelling.
        return [spec.country.get(lang)]
    return []


def _pick_page(ctx: Ctx, run: Run, slot: Slot, items: list[str], page: int) -> tuple[str, Keyboard]:
    question, rid, version = slot.question, run.response.id, run.version
    digest = short_hash(*items)
    pages = max(1, -(-len(items) // PICK_PER_PAGE))
    page = min(max(page, 0), pages - 1)
    start = page * PICK_PER_PAGE
    rows: Keyboard = [
        [Button(item, Pick(rid, version, question.id, index, digest).pack())]
        for index, item in enumerate(items[start : start + PICK_PER_PAGE], start=start)
    ]
    turn: list[Button] = []
    if page > 0:
        back = ctx.tr.plain("button.previous_page")
        turn.append(Button(back, PickPage(rid, version, question.id, page - 1, digest).pack()))
    if page < pages - 1:
        more = ctx.tr.plain("button.next_page")
        turn.append(Button(more, PickPage(rid, version, question.id, page + 1, digest).pack()))
    if turn:
        rows.append(turn)
    if question.other is not None:
        other = question.other.get(ctx.lang)
        rows.append([Button(other, PickOther(rid, version, question.id).pack())])
    text = _header(ctx, run, slot)
    if pages > 1:
        text += "\n" + ctx.tr.t("question.page", page=page + 1, pages=pages)
    return text, rows


async def _ask(
    ctx: Ctx,
    run: Run,
    slot: Slot,
    *,
    edit: int | None = None,
    draft: list[str] | None = None,
    page: int = 0,
    typing: bool = False,
) -> Event:
    """Show a question (as a new message, or by editing `edit`), arming text input."""
    question = slot.question
    rid, version, qid = run.response.id, run.version, question.id
    chosen = run.answers.get(qid)
    if question.type is QuestionType.PICK:
        items = pick_items(run, slot)
        # An empty list (a workshop without institutions) can only be answered by typing.
        typing = typing or not items
        if not typing:
            text, rows = _pick_page(ctx, run, slot, items, page)
        else:
            text, rows = _header(ctx, run, slot, typing=True), []
        run.dialog = await dialogs.wait_for(
            ctx, QuestionText(response_id=rid, question_id=qid, typing=typing)
        )
        return Edit(edit, text, rows or None) if edit is not None else Send(text, rows or None)
    if question.type is QuestionType.MULTI:
        # Re-showing a multi-choice question keeps the selection not yet confirmed.
        if draft is None:
            draft = await _multi_draft(ctx, run, qid)
        if draft is None:
            draft = list(chosen) if isinstance(chosen, list) else []
    text = _header(ctx, run, slot)
    if question.type in (QuestionType.TEXT, QuestionType.DATE) and isinstance(chosen, str):
        shown = option_label(ctx, run.questionnaire, slot, chosen)
        text += "\n\n" + ctx.tr.t("question.current_answer", answer=_shorten(shown, ECHO_CHARS))
    hint = _hint(ctx, run, slot)
    if hint:
        text += "\n\n" + hint
    rows = _option_rows(ctx, run, slot, chosen, draft)
    nav: list[Button] = []
    # A short form goes forward only, like a conversation; a survey lets people go back.
    if run.editing:
        # One answer asked again from a plan's menu: leaving it as it was is the way out.
        nav.append(Button(ctx.tr.t("button.cancel"), EditCancel(rid, version, qid).pack()))
    else:
        survey = run.questionnaire.progress == "section"
        if survey and [s.question.id for s in run.slots()].index(qid) > 0:
            nav.append(Button(ctx.tr.t("button.back"), Back(rid, version, qid).pack()))
        if question.optional:
            nav.append(Button(ctx.tr.t("button.skip"), Skip(rid, version, qid).pack()))
    if nav:
        rows.append(nav)
    binding = binding_of(run.questionnaire)
    if binding.buttons is not None:
        rows.extend(binding.buttons(ctx, run))
    if question.type is QuestionType.EVIDENCE:
        items = await _evidence_draft(ctx, run, qid)
        evidence = QuestionEvidence(response_id=rid, question_id=qid, items=items)
        run.dialog = await dialogs.wait_for(ctx, evidence)
    elif question.type in (QuestionType.TEXT, QuestionType.DATE):
        run.dialog = await dialogs.wait_for(ctx, QuestionText(response_id=rid, question_id=qid))
    elif question.type is QuestionType.MULTI:
        waiting = QuestionMulti(response_id=rid, question_id=qid, selected=draft or [])
        run.dialog = await dialogs.wait_for(ctx, waiting)
    else:
        await _clear_question_dialog(ctx, run)
    buttons = rows or None
    return Edit(edit, text, buttons) if edit is not None else Send(text, buttons)


async def _multi_draft(ctx: Ctx, run: Run, question_id: str) -> list[str] | None:
    """Return the pending selection of a multi-choice question of this run, if any."""
    waiting = dialogs.as_(run.dialog, QuestionMulti)
    if (
        waiting is None
        or waiting.response_id != run.response.id
        or waiting.question_id != question_id
    ):
        return None
    return list(waiting.selected)


async def _selection(ctx: Ctx, run: Run, question_id: str) -> list[str]:
    """Return the pending selection, else the saved answer, of a multi-choice question."""
    draft = await _multi_draft(ctx, run, question_id)
    if draft is not None:
        return draft
    saved = run.answers.get(question_id)
    return list(saved) if isinstance(saved, list) else []


async def _evidence_draft(ctx: Ctx, run: Run, question_id: str) -> list[str]:
    """Return the kinds of evidence given so far to this run's open evidence question."""
    waiting = dialogs.as_(run.dialog, QuestionEvidence)
    if (
        waiting is not None
        and waiting.response_id == run.response.id
        and waiting.question_id == question_id
    ):
        return list(waiting.items)
    saved = run.answers.get(question_id)
    return list(saved) if isinstance(saved, list) else []


async def _clear_question_dialog(ctx: Ctx, run: Run | None) -> None:
    # With a run, its dialog is current (read with it, then kept up to date here).
    dialog = run.dialog if run is not None else await ctx.svc.store.dialog(ctx.actor.telegram_id)
    if dialog is not None and dialog.state in (
        DialogState.QUESTION_TEXT,
        DialogState.QUESTION_MULTI,
        DialogState.QUESTION_EVIDENCE,
    ):
        await ctx.svc.store.clear_dialog(ctx.actor.telegram_id)
        if run is not None:
            run.dialog = None


async def load_run(ctx: Ctx, response_id: int | None) -> Run | None:
    """Load a response that belongs to the person talking, or None."""
    if response_id is None:
        return None
    state = await ctx.svc.store.run_state(response_id, ctx.actor.telegram_id)
    if state is None or state.participant.telegram_id != ctx.actor.telegram_id:
        return None
    form_id, _ = split_key(state.response.questionnaire_id)
    questionnaire = ctx.svc.content.questionnaires.get(form_id)
    if questionnaire is None:
        return None
    known = questionnaire.question_ids
    # Answers to questions a newer version dropped are kept in storage but not shown.
    answers = {k: v for k, v in state.answers.items() if k in known}
    run = Run(
        questionnaire, state.response, answers, state.participant, state.workshop, state.dialog
    )
    binding = binding_of(questionnaire)
    if binding.source is not None:
        # The record is the truth: a teammate may have changed it, or an older release
        # written it without the engine.
        for qid, value in (await binding.source(ctx, run)).items():
            if qid in known and value not in (None, "", []):
                run.answers[qid] = value
    if binding.variables is not None:
        run.values = await binding.variables(ctx, run)
    return run


async def _refusal(ctx: Ctx, run: Run) -> str | None:
    """Return why the person may no longer answer this run (a catalog key), if so."""
    binding = binding_of(run.questionnaire)
    if binding.guard is None:
        return None
    return await binding.guard(ctx, run)


async def leave_forms(ctx: Ctx, form_ids: tuple[str, ...]) -> None:
    """Stop waiting for typed answers to these forms (the person left for a menu)."""
    waiting = dialogs.decode(await ctx.svc.store.dialog(ctx.actor.telegram_id))
    if not isinstance(waiting, QuestionText | QuestionMulti | QuestionEvidence):
        return
    state = await ctx.svc.store.run_state(waiting.response_id, ctx.actor.telegram_id)
    if state is None or split_key(state.response.questionnaire_id)[0] in form_ids:
        await ctx.svc.store.clear_dialog(ctx.actor.telegram_id)


async def rekey(ctx: Ctx, run: Run, subject: str) -> None:
    """Bind a draft's run to the record its first answer created."""
    key = instance_key(run.questionnaire.id, subject)
    await ctx.svc.store.rekey_response(run.response.id, key)
    run.response = dataclasses.replace(run.response, questionnaire_id=key)
    binding = binding_of(run.questionnaire)
    if binding.variables is not None:
        run.values = await binding.variables(ctx, run)


async def _start(
    ctx: Ctx, participant: Participant, questionnaire: Questionnaire, subject: str | None
) -> Response:
    first = next(questionnaire.slots())
    key = questionnaire.id if subject is None else instance_key(questionnaire.id, subject)
    return await ctx.svc.store.start_response(
        participant_id=participant.id,
        questionnaire_id=key,
        version=questionnaire.version,
        first_question=first.question.id,
        now=ctx.svc.clock.now(),
    )


async def open_questionnaire(
    ctx: Ctx,
    participant: Participant,
    workshop: Workshop,
    questionnaire: Questionnaire,
    after_submit: AfterSubmit,
    *,
    subject: str | None = None,
    message_id: int | None = None,
) -> list[Event]:
    """Start or resume a questionnaire (for one record: `subject`) at its first open question.

    A live form given `message_id` (the message its previous run was answered in) turns that
    message into its first question instead of sending a new one.
    """
    store, now = ctx.svc.store, ctx.svc.clock.now()
    response = await _start(ctx, participant, questionnaire, subject)
    if response.submitted:
        return [
            Send(
                ctx.tr.t("questionnaire.already_submitted", title=questionnaire.title.get(ctx.lang))
            )
        ]
    if response.version != questionnaire.version:
        await store.reopen_response(response.id, questionnaire.version, now)
    run = await load_run(ctx, response.id)
    assert run is not None
    if run.response.reviewing and run.editing:
        # A change left halfway from the record's menu: this is the way through, not it.
        await store.move_to(response.id, run.response.current_question, reviewing=False, now=now)
        run.response = dataclasses.replace(run.response, reviewing=False)
    events: list[Event] = await _retire_live(ctx, run, ctx.tr.t("question.moved"))
    slot = first_open(questionnaire, run.answers)
    if slot is None and not questionnaire.review:
        return await _finish(ctx, run)
    # A short form starts and resumes at its next question, without a preamble.
    stepwise = questionnaire.progress != "section"
    if not stepwise and not run.answers and questionnaire.intro is not None:
        events.append(
            Send(
                ctx.tr.t(
                    "questionnaire.intro",
                    title=questionnaire.title.get(ctx.lang),
                    intro=questionnaire.intro.get(ctx.lang),
                    total=ctx.tr.plain("count.questions", n=len(run.slots())),
                )
            )
        )
    elif not stepwise and run.answers and slot is not None:
        events.append(
            Send(
                ctx.tr.t(
                    "questionnaire.resume",
                    answered=len([s for s in run.slots() if s.question.id in run.answers]),
                    total=len(run.slots()),
                )
            )
        )
    if slot is None:
        await store.move_to(response.id, None, reviewing=True, now=now)
        events.append(_review(ctx, run))
        return events
    await store.move_to(response.id, slot.question.id, reviewing=run.response.reviewing, now=now)
    run.response = dataclasses.replace(run.response, current_question=slot.question.id)
    if message_id is not None and _live(run):
        await store.set_live_message(response.id, message_id)
        run.response = dataclasses.replace(run.response, live_message_id=message_id)
        events.append(await _ask(ctx, run, slot, edit=message_id))
        return events
    events.append(await _ask(ctx, run, slot))
    return events


async def discard(ctx: Ctx, run: Run) -> None:
    """Forget a draft's run (a step left as it was): next time its form starts afresh."""
    await _clear_question_dialog(ctx, run)
    await ctx.svc.store.discard_response(run.response.id)


async def edit_answer(
    ctx: Ctx,
    participant: Participant,
    questionnaire: Questionnaire,
    subject: str,
    question_id: str,
) -> list[Event]:
    """Ask one question of a record's form again; its binding's `edited` follows."""
    response = await _start(ctx, participant, questionnaire, subject)
    now = ctx.svc.clock.now()
    if response.version != questionnaire.version:
        await ctx.svc.store.reopen_response(response.id, questionnaire.version, now)
    run = await load_run(ctx, response.id)
    slot = next((s for s in run.slots() if s.question.id == question_id), None) if run else None
    binding = binding_of(questionnaire)
    if run is None or slot is None or not binding.record or binding.edited is None:
        return _stale(ctx)
    if binding.source is not None:
        # Asked again, the question shows what the record holds now, even nothing (a
        # teammate cleared the SDGs): an unchanged "Listo" must not bring back one's own.
        current = (await binding.source(ctx, run)).get(question_id)
        if current is not None:
            run.answers[question_id] = current
    await ctx.svc.store.move_to(response.id, question_id, reviewing=True, now=now)
    run.response = dataclasses.replace(
        run.response, current_question=question_id, reviewing=True, version=questionnaire.version
    )
    return [await _ask(ctx, run, slot)]


async def show_current(ctx: Ctx, response_id: int, notice: str | None = None) -> list[Event]:
    """Show the question (or review) the person is at, as a new message."""
    run = await load_run(ctx, response_id)
    events: list[Event] = [Send(notice)] if notice else []
    if run is None or run.response.submitted:
        return events
    # The questionnaire comes to the bottom of the chat; the message above loses its buttons.
    events = [*await _retire_live(ctx, run, ctx.tr.t("question.moved")), *events]
    current = run.response.current_question
    slot = next((s for s in run.slots() if s.question.id == current), None)
    if slot is None:
        slot = first_open(run.questionnaire, run.answers)
    if slot is None and not run.questionnaire.review:
        # A form without a review (a plan, the profile) has nothing left to ask: its
        # ending says what follows.
        return [*events, *await _finish(ctx, run)]
    if slot is None:
        return [*events, _review(ctx, run)]
    return [*events, await _ask(ctx, run, slot)]


def _stale(ctx: Ctx) -> list[Event]:
    return [Notice(ctx.tr.t("notice.stale"))]


async def _stale_here(ctx: Ctx, run: Run, message_id: int) -> list[Event]:
    """Answer a button of another question; in the live message, also show the current one.

    The live message can lag behind the answers: an answer recorded just before a crash
    (or another instance handled the tap) whose edit never went out. Tapping it again
    then brings the message up to date instead of leaving the person stuck.
    """
    current = run.response.current_question
    slot = next((s for s in run.slots() if s.question.id == current), None)
    if not _live(run) or run.response.live_message_id != message_id or slot is None:
        return _stale(ctx)
    return [Notice(ctx.tr.t("notice.stale")), await _ask(ctx, run, slot, edit=message_id)]


# Every button of a questionnaire run; each carries the response and the version.
QuestionTap = (
    Answer
    | AnswerDate
    | Toggle
    | Done
    | Back
    | Skip
    | Pick
    | PickPage
    | PickOther
    | Suggest
    | EditCancel
)
ReviewTap = ReviewEdit | ReviewSection | ReviewQuestion | ReviewShow | Submit | SubmitConfirm
RunTap = QuestionTap | ReviewTap
RUN_TAPS: tuple[type[RunTap], ...] = (
    Answer,
    AnswerDate,
    EditCancel,
    Toggle,
    Done,
    Back,
    Skip,
    Pick,
    PickPage,
    PickOther,
    Suggest,
    ReviewEdit,
    ReviewSection,
    ReviewQuestion,
    ReviewShow,
    Submit,
    SubmitConfirm,
)


async def on_callback(
    ctx: Ctx, cb: RunTap, message_id: int, after_submit: AfterSubmit
) -> list[Event]:
    """Handle every questionnaire button: answers, navigation, review and submit."""
    return await on_run_callback(
        ctx, cb, message_id, await load_run(ctx, cb.response), after_submit
    )


async def on_run_callback(
    ctx: Ctx, cb: RunTap, message_id: int, run: Run | None, after_submit: AfterSubmit
) -> list[Event]:
    """Handle a questionnaire button whose run (load_run of its response) is loaded."""
    if run is None:
        return _stale(ctx)
    if run.response.submitted:
        return [Notice(ctx.tr.t("notice.already_submitted"))]
    refusal = await _refusal(ctx, run)
    if refusal is not None:
        await _clear_question_dialog(ctx, run)
        return [Notice(ctx.tr.t(refusal), alert=True)]
    run.tapped = message_id
    if cb.version != run.version or run.response.version != run.version:
        # The content changed since this button was drawn: show the question afresh.
        if run.response.version != run.version:
            await ctx.svc.store.reopen_response(run.response.id, run.version, ctx.svc.clock.now())
        return [Notice(ctx.tr.t("notice.changed")), *await show_current(ctx, run.response.id)]
    events = await _on_run_tap(ctx, run, cb, message_id, after_submit)
    if not any(isinstance(e, Edit | Send) for e in events):
        return events  # a refused or merely acknowledged tap leaves the live message alone
    return [*await _adopt_live(ctx, run, message_id), *events]


async def _on_run_tap(
    ctx: Ctx, run: Run, cb: RunTap, message_id: int, after_submit: AfterSubmit
) -> list[Event]:
    """Handle a button of a current, unsubmitted run."""
    if isinstance(cb, QuestionTap):
        return await _on_question(ctx, run, cb, message_id)
    if not run.questionnaire.review:
        # A form without a review (the profile) is submitted by its last answer, never by hand.
        return _stale(ctx)
    at_review = run.response.current_question is None
    if isinstance(cb, ReviewQuestion):
        slot = next((s for s in run.slots() if s.question.id == cb.question), None)
        if not at_review or slot is None:
            return _stale(ctx)
        await ctx.svc.store.move_to(
            run.response.id, slot.question.id, reviewing=True, now=ctx.svc.clock.now()
        )
        return [Notice(), await _ask(ctx, run, slot, edit=message_id)]
    if not at_review:
        return _stale(ctx)
    if isinstance(cb, ReviewShow):
        return [Notice(), _review(ctx, run, edit=message_id)]
    if isinstance(cb, ReviewEdit):
        return [Notice(), _section_picker(ctx, run, message_id)]
    if isinstance(cb, ReviewSection):
        if not 0 <= cb.index < len(run.questionnaire.sections):
            return _stale(ctx)
        return [Notice(), _section_questions(ctx, run, cb.index, message_id)]
    if isinstance(cb, Submit):
        return [
            Notice(),
            Edit(
                message_id,
                ctx.tr.t("questionnaire.confirm_submit"),
                [
                    [
                        Button(
                            ctx.tr.t("button.keep_reviewing"),
                            ReviewShow(run.response.id, run.version).pack(),
                        ),
                        Button(
                            ctx.tr.t("button.submit_confirm"),
                            SubmitConfirm(run.response.id, run.version).pack(),
                        ),
                    ]
                ],
            ),
        ]
    return await _submit(ctx, run, message_id, after_submit)


async def _on_question(ctx: Ctx, run: Run, cb: QuestionTap, message_id: int) -> list[Event]:
    """Handle a button of the question the person is at (any other is stale)."""
    if cb.question != run.response.current_question:
        return await _stale_here(ctx, run, message_id)
    slot = next((s for s in run.slots() if s.question.id == cb.question), None)
    if slot is None:
        return _stale(ctx)
    if isinstance(cb, Answer):
        return await _answer_option(ctx, run, slot, cb.option, message_id)
    if isinstance(cb, AnswerDate):
        return await _answer_date(ctx, run, slot, cb.months, message_id)
    if isinstance(cb, EditCancel):
        return await _cancel_edit(ctx, run, slot, message_id)
    if isinstance(cb, Toggle):
        return await _toggle(ctx, run, slot, cb.option, message_id)
    if isinstance(cb, Done):
        return await _done(ctx, run, slot, message_id)
    if isinstance(cb, Back):
        if run.questionnaire.progress != "section":
            return _stale(ctx)  # only a survey shows a Back button
        return await _back(ctx, run, slot, message_id)
    if isinstance(cb, Skip):
        if run.editing:
            return _stale(ctx)
        return await _skip(ctx, run, slot, message_id)
    if isinstance(cb, Suggest):
        suggestion = _suggestion(ctx, slot.question)
        if slot.question.type is not QuestionType.TEXT or suggestion is None:
            return _stale(ctx)
        return [Notice(), *await _record_and_continue(ctx, run, slot, suggestion, message_id)]
    return await _on_pick(ctx, run, slot, cb, message_id)


async def _on_pick(
    ctx: Ctx, run: Run, slot: Slot, cb: Pick | PickPage | PickOther, message_id: int
) -> list[Event]:
    """Handle a pick question's buttons: an item, another page, or typing instead."""
    if slot.question.type is not QuestionType.PICK:
        return _stale(ctx)
    items = pick_items(run, slot)
    if isinstance(cb, PickOther):
        if slot.question.other is None:
            return _stale(ctx)
        return [Notice(), await _ask(ctx, run, slot, edit=message_id, typing=True)]
    if cb.digest != short_hash(*items):
        # The workshop's list changed since these buttons were drawn.
        return [Notice(ctx.tr.t("notice.changed")), await _ask(ctx, run, slot)]
    if isinstance(cb, PickPage):
        return [Notice(), await _ask(ctx, run, slot, edit=message_id, page=cb.page)]
    if not 0 <= cb.index < len(items):
        return _stale(ctx)
    return [Notice(), *await _record_and_continue(ctx, run, slot, items[cb.index], message_id)]


def _chosen_text(ctx: Ctx, run: Run, slot: Slot, value: AnswerValue) -> str:
    label = _shorten(option_label(ctx, run.questionnaire, slot, value), ECHO_CHARS)
    return _header(ctx, run, slot) + "\n\n" + ctx.tr.t("question.chosen", answer=label)


async def _record_and_continue(
    ctx: Ctx, run: Run, slot: Slot, value: AnswerValue, message_id: int | None
) -> list[Event]:
    """Store an answer, then show the next unanswered question or the review."""
    qid = slot.question.id
    binding = binding_of(run.questionnaire)
    editing = run.editing
    changed = run.answers.get(qid) != value
    run.answers[qid] = value
    nxt = None if editing else first_open(run.questionnaire, run.answers)
    await ctx.svc.store.record_answer(
        run.response.id,
        qid,
        list(value) if isinstance(value, list) else value,
        next_question=nxt.question.id if nxt else None,
        # A record's form has no review: it ends on its record, ready for any change.
        reviewing=not binding.record and (run.response.reviewing or nxt is None),
        is_text=slot.question.type in (QuestionType.TEXT, QuestionType.PICK)
        and not is_skipped(value),
        now=ctx.svc.clock.now(),
    )
    if binding.sink is not None:
        await binding.sink(ctx, run, qid, value)
    events: list[Event] = []
    # In a survey a tapped answer turns the same message into the next question; a typed
    # one came below it, so the next question follows as a new message.
    in_place = message_id if _live(run) else None
    if message_id is not None and in_place is None:
        events.append(Edit(message_id, _chosen_text(ctx, run, slot, value)))
    if message_id is None:
        events += await _retire_live(ctx, run, _chosen_text(ctx, run, slot, value))
    run.response = dataclasses.replace(
        run.response,
        current_question=nxt.question.id if nxt else None,
        reviewing=not binding.record and (run.response.reviewing or nxt is None),
    )
    if editing:
        await _clear_question_dialog(ctx, run)
        assert binding.edited is not None
        return [*events, *await binding.edited(ctx, run, changed)]
    if nxt is None:
        await _clear_question_dialog(ctx, run)
        if not run.questionnaire.review:
            return [*events, *await _finish(ctx, run)]
        events.append(_review(ctx, run, edit=in_place))
    else:
        events.append(await _ask(ctx, run, nxt, edit=in_place))
    return events


async def _answer_option(
    ctx: Ctx, run: Run, slot: Slot, code: str | None, message_id: int
) -> list[Event]:
    options: list[Option] = run.questionnaire.options_of(slot.question)
    if slot.question.type not in (QuestionType.LIKERT, QuestionType.SINGLE, QuestionType.NPS):
        return _stale(ctx)
    if code not in {o.code for o in options}:
        return _stale(ctx)
    assert code is not None
    return [Notice(), *await _record_and_continue(ctx, run, slot, code, message_id)]


async def _answer_date(ctx: Ctx, run: Run, slot: Slot, months: int, message_id: int) -> list[Event]:
    question = slot.question
    if question.type is not QuestionType.DATE or months not in (question.months or DATE_MONTHS):
        return _stale(ctx)
    day = add_months(_local(run, ctx.svc.clock.now()).date(), months)
    await _clear_question_dialog(ctx, run)
    return [Notice(), *await _record_and_continue(ctx, run, slot, day.isoformat(), message_id)]


async def _cancel_edit(ctx: Ctx, run: Run, slot: Slot, message_id: int) -> list[Event]:
    binding = binding_of(run.questionnaire)
    if not run.editing or binding.edited is None:
        return _stale(ctx)
    await ctx.svc.store.move_to(run.response.id, None, reviewing=False, now=ctx.svc.clock.now())
    run.response = dataclasses.replace(run.response, current_question=None, reviewing=False)
    await _clear_question_dialog(ctx, run)
    return [
        Notice(),
        Edit(message_id, _header(ctx, run, slot) + "\n\n" + ctx.tr.t("question.unchanged")),
        *await binding.edited(ctx, run, False),
    ]


async def _toggle(ctx: Ctx, run: Run, slot: Slot, code: str | None, message_id: int) -> list[Event]:
    question = slot.question
    if question.type is not QuestionType.MULTI:
        return _stale(ctx)
    if code not in {o.code for o in run.questionnaire.options_of(question)}:
        return _stale(ctx)
    selected = await _selection(ctx, run, question.id)
    assert code is not None
    if code in selected:
        selected.remove(code)
    else:
        if question.max_choices is not None and len(selected) >= question.max_choices:
            return [Notice(ctx.tr.t("notice.max_choices", max=question.max_choices))]
        selected.append(code)
    order = [o.code for o in run.questionnaire.options_of(question)]
    selected.sort(key=order.index)
    return [Notice(), await _ask(ctx, run, slot, edit=message_id, draft=selected)]


async def _done(ctx: Ctx, run: Run, slot: Slot, message_id: int) -> list[Event]:
    question = slot.question
    if question.type is QuestionType.EVIDENCE:
        items = await _evidence_draft(ctx, run, question.id)
        await _clear_question_dialog(ctx, run)
        return [Notice(), *await _record_and_continue(ctx, run, slot, items, message_id)]
    if question.type is QuestionType.TEXT:
        current = run.answers.get(question.id)
        if not isinstance(current, str):
            return _stale(ctx)
        return [Notice(), *await _record_and_continue(ctx, run, slot, current, message_id)]
    if question.type is not QuestionType.MULTI:
        return _stale(ctx)
    selected = await _selection(ctx, run, question.id)
    # min_choices: 0 makes "none" an answer; otherwise a required question needs one.
    needed = (
        question.min_choices
        if question.min_choices == 0
        else max(question.min_choices, 0 if question.optional else 1)
    )
    if len(selected) < needed:
        return [Notice(ctx.tr.t("notice.min_choices", min=max(question.min_choices, 1)))]
    await _clear_question_dialog(ctx, run)
    return [Notice(), *await _record_and_continue(ctx, run, slot, selected, message_id)]


async def _back(ctx: Ctx, run: Run, slot: Slot, message_id: int) -> list[Event]:
    slots = run.slots()
    index = [s.question.id for s in slots].index(slot.question.id)
    if index == 0:
        return _stale(ctx)
    previous = slots[index - 1]
    await ctx.svc.store.move_to(
        run.response.id,
        previous.question.id,
        reviewing=run.response.reviewing,
        now=ctx.svc.clock.now(),
    )
    return [Notice(), await _ask(ctx, run, previous, edit=message_id)]


async def _skip(ctx: Ctx, run: Run, slot: Slot, message_id: int) -> list[Event]:
    if not slot.question.optional:
        return _stale(ctx)
    await _clear_question_dialog(ctx, run)
    return [Notice(), *await _record_and_continue(ctx, run, slot, [], message_id)]


async def on_text(ctx: Ctx, waiting: QuestionText, text: str) -> list[Event]:
    """Take typed text as the answer to the open text question."""
    typed = (QuestionType.TEXT, QuestionType.PICK, QuestionType.DATE)
    found = await _waiting_run(ctx, waiting.response_id, waiting.question_id, typed)
    if isinstance(found, list):
        return found
    run, slot = found
    if slot.question.type is QuestionType.DATE:
        return await _typed_date(ctx, run, slot, text)
    value = clean_text_answer(text)
    if slot.question.single_line or slot.question.type is QuestionType.PICK:
        value = " ".join(value.split())
    if slot.question.type is QuestionType.PICK:
        # A typed name that matches the list takes the list's spelling, so that reports per
        # institution stay consistent.
        wanted = normalise(value)
        match = next((i for i in pick_items(run, slot) if normalise(i) == wanted), None)
        if match is not None:
            return await _record_and_continue(ctx, run, slot, match, None)
        if not waiting.typing:
            other = slot.question.other
            notice = (
                ctx.tr.t("question.not_in_list", other=other.get(ctx.lang))
                if other is not None
                else ctx.tr.t("input.use_buttons")
            )
            return [Send(notice), await _ask(ctx, run, slot)]
    problem = text_length_error(ctx.tr, value, slot.question.min_length, slot.question.max_length)
    if problem:
        return [Send(problem)]
    await _clear_question_dialog(ctx, run)
    return await _record_and_continue(ctx, run, slot, value, None)


async def _typed_date(ctx: Ctx, run: Run, slot: Slot, text: str) -> list[Event]:
    """Take a typed date: readable, and not before today in the workshop's time zone."""
    day = parse_date(text[:100])
    sample = _date_sample(ctx, run)
    if day is None:
        return [Send(ctx.tr.t("question.date_unreadable", example=sample))]
    if day < _local(run, ctx.svc.clock.now()).date():
        return [Send(ctx.tr.t("question.date_past", example=sample))]
    await _clear_question_dialog(ctx, run)
    return await _record_and_continue(ctx, run, slot, day.isoformat(), None)


def _review(ctx: Ctx, run: Run, *, edit: int | None = None) -> Event:
    q, tr = run.questionnaire, ctx.tr
    slots = run.slots()
    lines = [tr.t("review.title", title=q.title.get(ctx.lang)), ""]
    for section in q.sections:
        in_section = [s for s in slots if s.section.id == section.id]
        if not in_section:
            continue
        done = sum(1 for s in in_section if s.question.id in run.answers)
        lines.append(
            tr.t(
                "review.section_line",
                section=section.title.get(ctx.lang),
                answered=done,
                total=len(in_section),
            )
        )
    dont_know = sum(1 for s in slots if _is_not_applicable(q, s, run.answers.get(s.question.id)))
    lines.append("")
    if dont_know:
        lines.append(tr.t("review.dont_know", n=dont_know))
    lines.append(tr.t("review.ready"))
    rid, ver = run.response.id, run.version
    buttons = [
        [Button(tr.t("button.change_answer"), ReviewEdit(rid, ver).pack())],
        [Button(tr.t("button.submit"), Submit(rid, ver).pack())],
    ]
    text = "\n".join(lines)
    return Edit(edit, text, buttons) if edit is not None else Send(text, buttons)


def _is_not_applicable(q: Questionnaire, slot: Slot, value: AnswerValue | None) -> bool:
    if slot.question.scale is None or value is None:
        return False
    na = q.scales[slot.question.scale].not_applicable
    return na is not None and value == na.code


def _section_picker(ctx: Ctx, run: Run, message_id: int) -> Event:
    rid, ver = run.response.id, run.version
    shown = {s.section.id for s in run.slots()}
    rows: Keyboard = [
        [Button(section.title.get(ctx.lang), ReviewSection(rid, ver, index).pack())]
        for index, section in enumerate(run.questionnaire.sections)
        if section.id in shown
    ]
    rows.append([Button(ctx.tr.t("button.back"), ReviewShow(rid, ver).pack())])
    return Edit(message_id, ctx.tr.t("review.pick_section"), rows)


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _section_questions(ctx: Ctx, run: Run, index: int, message_id: int) -> Event:
    q = run.questionnaire
    section = q.sections[index]
    rid, ver = run.response.id, run.version
    in_section = [s for s in run.slots() if s.section.id == section.id]
    lines = [ctx.tr.t("review.section_title", section=section.title.get(ctx.lang)), ""]
    buttons: list[Button] = []
    for number, slot in enumerate(in_section, start=1):
        value = run.answers.get(slot.question.id)
        answer = option_label(ctx, q, slot, value) if value is not None else "—"
        lines.append(
            ctx.tr.t(
                "review.question_line",
                n=number,
                text=_shorten(slot.question.text.get(ctx.lang), REVIEW_LINE_CHARS),
                answer=_shorten(answer, 40),
            )
        )
        buttons.append(Button(str(number), ReviewQuestion(rid, ver, slot.question.id).pack()))
    rows: Keyboard = [buttons[i : i + 6] for i in range(0, len(buttons), 6)]
    rows.append([Button(ctx.tr.t("button.back"), ReviewEdit(rid, ver).pack())])
    lines.append("")
    lines.append(ctx.tr.t("review.pick_question"))
    return Edit(message_id, "\n".join(lines), rows)


async def _submit(ctx: Ctx, run: Run, message_id: int, after_submit: AfterSubmit) -> list[Event]:
    if first_open(run.questionnaire, run.answers) is not None:
        return [Notice(ctx.tr.t("notice.unanswered")), *await show_current(ctx, run.response.id)]
    store, now = ctx.svc.store, ctx.svc.clock.now()
    shown = {s.question.id for s in run.slots()}
    for qid in [k for k in run.answers if k not in shown]:
        # An answer to a question that a later answer hid is not part of the submission.
        await store.record_answer(
            run.response.id, qid, None, next_question=None, reviewing=True, now=now
        )
        del run.answers[qid]
    if not await store.submit_response(run.response.id, now):
        return [Notice(ctx.tr.t("notice.already_submitted"))]
    return [
        Notice(),
        Edit(
            message_id,
            ctx.tr.t(
                "questionnaire.submitted",
                title=run.questionnaire.title.get(ctx.lang),
                when=ctx.tr.datetime(_local(run, now)),
            ),
        ),
        *await after_submit(ctx, run),
    ]


def _local(run: Run, now: datetime) -> datetime:
    return now.astimezone(ZoneInfo(run.workshop.timezone))


async def _finish(ctx: Ctx, run: Run) -> list[Event]:
    """Submit a form without a review (a record's form stays open), then run its ending."""
    binding = binding_of(run.questionnaire)
    if not binding.record and not await ctx.svc.store.submit_response(
        run.response.id, ctx.svc.clock.now()
    ):
        return [Notice(ctx.tr.t("notice.already_submitted"))]
    await _clear_question_dialog(ctx, run)
    return await binding.ending(ctx, run) if binding.ending is not None else []


async def _waiting_run(
    ctx: Ctx, response_id: int, question_id: str, types: tuple[QuestionType, ...]
) -> tuple[Run, Slot] | list[Event]:
    """Load the run that typed text or a file answers, or say why nothing waits for it."""
    run = await load_run(ctx, response_id)
    if run is None or run.response.submitted or run.response.current_question != question_id:
        await _clear_question_dialog(ctx, run)
        return [Send(ctx.tr.t("fallback.nothing_pending"))]
    refusal = await _refusal(ctx, run)
    if refusal is not None:
        await _clear_question_dialog(ctx, run)
        return [Send(ctx.tr.t(refusal))]
    slot = next((s for s in run.slots() if s.question.id == question_id), None)
    binding = binding_of(run.questionnaire)
    evidence = slot is not None and slot.question.type is QuestionType.EVIDENCE
    if slot is None or slot.question.type not in types or (evidence and binding.evidence is None):
        await _clear_question_dialog(ctx, run)
        return await show_current(ctx, run.response.id)
    return run, slot


async def _evidence_run(ctx: Ctx, waiting: QuestionEvidence) -> tuple[Run, Slot] | list[Event]:
    """Load the run an evidence question waits in, or say why it no longer does."""
    return await _waiting_run(
        ctx, waiting.response_id, waiting.question_id, (QuestionType.EVIDENCE,)
    )


async def _keep_evidence(ctx: Ctx, run: Run, slot: Slot, item: EvidenceItem) -> list[Event]:
    """Hand one piece of evidence to the form's owner, then confirm it under the buttons."""
    binding = binding_of(run.questionnaire)
    assert binding.evidence is not None
    rows = _option_rows(ctx, run, slot, None, None)
    if binding.buttons is not None:
        rows.extend(binding.buttons(ctx, run))
    refusal = await binding.evidence(ctx, run, slot.question.id, item)
    if refusal is not None:
        return [Send(ctx.tr.t(refusal, max=slot.question.max_length), rows)]
    items = [*await _evidence_draft(ctx, run, slot.question.id), item.kind]
    waiting = QuestionEvidence(
        response_id=run.response.id, question_id=slot.question.id, items=items
    )
    run.dialog = await dialogs.wait_for(ctx, waiting)
    # The buttons move down to the confirmation: the message above keeps its text only.
    events = await _retire_live(ctx, run, _header(ctx, run, slot))
    return [*events, Send(ctx.tr.t(f"question.evidence_{item.kind}_saved"), rows)]


async def _on_evidence_text(ctx: Ctx, waiting: QuestionEvidence, text: str) -> list[Event]:
    """Take a note, or a link, as evidence for the open evidence question."""
    found = await _evidence_run(ctx, waiting)
    if isinstance(found, list):
        return found
    run, slot = found
    value = clean_text_answer(text)
    if LINK.fullmatch(value):
        return await _keep_evidence(ctx, run, slot, EvidenceItem("link", text=value))
    problem = text_length_error(ctx.tr, value, 1, slot.question.max_length)
    if problem:
        return [Send(problem)]
    return await _keep_evidence(ctx, run, slot, EvidenceItem("note", text=value))


async def _on_evidence_media(ctx: Ctx, waiting: QuestionEvidence, item: Media) -> list[Event]:
    """Take a photo or a document (with its caption as a note) as evidence."""
    found = await _evidence_run(ctx, waiting)
    if isinstance(found, list):
        return found
    run, slot = found
    if item.kind not in EVIDENCE_MEDIA:
        return [Send(ctx.tr.t("question.evidence_kind"))]
    if item.file_size is not None and item.file_size > MAX_EVIDENCE_BYTES:
        size = ctx.tr.number(item.file_size / 1024 / 1024, 1)
        limit = MAX_EVIDENCE_BYTES // 1024 // 1024
        return [Send(ctx.tr.t("question.evidence_too_big", size=size, max=limit))]
    piece = EvidenceItem(
        item.kind, file_id=item.file_id, file_name=item.file_name, file_size=item.file_size
    )
    events = await _keep_evidence(ctx, run, slot, piece)
    caption = clean_text_answer(item.caption or "")
    if caption:
        # The caption is the note that goes with the file (cut to the note's limit).
        note = EvidenceItem("note", text=caption[: slot.question.max_length])
        binding = binding_of(run.questionnaire)
        assert binding.evidence is not None
        await binding.evidence(ctx, run, slot.question.id, note)
    return events


async def _on_multi_text(ctx: Ctx, waiting: QuestionMulti, text: str) -> list[Event]:
    """Ask for the buttons again: a multiple-choice question is answered by ticking."""
    return [Send(ctx.tr.t("input.use_buttons")), *await show_current(ctx, waiting.response_id)]


dialogs.handles(QuestionText, on_text)
dialogs.handles(QuestionMulti, _on_multi_text)
dialogs.handles(QuestionEvidence, _on_evidence_text, _on_evidence_media)
