"""The participant's details after joining, asked by the form engine.

The profile is a questionnaire with `purpose: profile`: `content/questionnaires/profile.yaml`
unless the workshop file names its own (`profile: profile_flacma`). Numbered steps, no
review, submitted with its last answer. Its answers are kept like any other; those with the
ids name, institution, position and country also fill the participant's record, which
reports, broadcasts and exports read. Other questions (a department, a kind of institution)
stay answers of the profile, shown pseudonymised in the export's profile sheet.
"""

from __future__ import annotations

from bot.content import PROFILE_FIELDS, Questionnaire
from bot.flows import forms
from bot.flows import questionnaire as engine
from bot.flows.agenda import attendance_question
from bot.flows.callbacks import OpenDgca, OpenMenu
from bot.flows.common import Ctx, member_file, workshop_file
from bot.flows.events import Button, Event, Send
from storage import AnswerValue, Participant, Workshop

# The questions whose answers are the participant's record, by the record's field names.
RECORD_FIELDS = tuple(sorted(PROFILE_FIELDS))


async def ask_next_profile_step(
    ctx: Ctx, participant: Participant, workshop: Workshop
) -> list[Event]:
    """Ask the first unanswered profile question, or say the profile is complete."""
    if participant.profile_done:
        return await _done(ctx, participant, workshop)
    form = ctx.svc.content.questionnaire(workshop_file(workshop).profile)
    response = await ctx.svc.store.find_response(participant.id, form.id)
    if response is not None and response.submitted:
        # Submitted, but the record was not filled (the bot stopped in between): finish now.
        run = await engine.load_run(ctx, response.id)
        if run is not None:
            return await _submitted(ctx, run)
    await _answers_from_record(ctx, participant, form)
    return await engine.open_questionnaire(ctx, participant, workshop, form, _submitted)


async def _answers_from_record(ctx: Ctx, participant: Participant, form: Questionnaire) -> None:
    """Count what the record already holds as answers (a profile begun by an older release)."""
    known = {f: getattr(participant, f) for f in RECORD_FIELDS if getattr(participant, f)}
    if not known:
        return
    store, now = ctx.svc.store, ctx.svc.clock.now()
    first = next(form.slots()).question.id
    response = await store.start_response(
        participant_id=participant.id,
        questionnaire_id=form.id,
        version=form.version,
        first_question=first,
        now=now,
    )
    answered = await store.answers(response.id)
    for field, value in known.items():
        if field in form.question_ids and field not in answered:
            # Typed by the person: /forget and the retention purge remove it.
            await store.record_answer(
                response.id,
                field,
                value,
                next_question=None,
                reviewing=False,
                is_text=True,
                now=now,
            )


async def _to_record(ctx: Ctx, run: forms.Run, question_id: str, value: AnswerValue) -> None:
    """Copy an answer to the participant's record, if it is one of its fields."""
    if question_id in RECORD_FIELDS and isinstance(value, str):
        await ctx.svc.store.update_profile(run.participant.id, field=question_id, value=value)


async def _submitted(ctx: Ctx, run: forms.Run) -> list[Event]:
    """Mark the profile complete, then say what comes next."""
    store = ctx.svc.store
    for field in RECORD_FIELDS:
        # The record may lag the answers (a profile given before answers were copied).
        value = run.answers.get(field)
        if isinstance(value, str):
            await _to_record(ctx, run, field, value)
    await store.mark_profile_done(run.participant.id)
    participant = await store.participant_by_id(run.participant.id)
    assert participant is not None
    return await _done(ctx, participant, run.workshop)


async def _done(ctx: Ctx, participant: Participant, workshop: Workshop) -> list[Event]:
    spec = await member_file(ctx.svc, workshop, participant.id)
    title, name = spec.title.get(ctx.lang), participant.name or ""
    menu = [Button(ctx.tr.t("button.menu"), OpenMenu().pack())]
    # A hybrid workshop asks how the person attends, once: reminders then carry only the
    # place or only the link.
    ask: list[Event] = []
    if participant.attendance is None and spec.is_hybrid():
        ask = [attendance_question(ctx, workshop.id)]
    if spec.dgca is None:
        return [*ask, Send(ctx.tr.t("profile.done_no_dgca", name=name, title=title), [menu])]
    return [
        *ask,
        Send(
            ctx.tr.t("profile.done", name=name, title=title),
            [[Button(ctx.tr.t("button.start_dgca"), OpenDgca(workshop.id).pack())], menu],
        ),
    ]


forms.register_purpose("profile", forms.Binding(sink=_to_record, ending=_submitted))
