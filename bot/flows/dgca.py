"""The DGCA self-assessment: opening it for a workshop, scoring it, the personal profile."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import date
from functools import partial
from statistics import fmean
from typing import Any
from zoneinfo import ZoneInfo

from bot.content import Questionnaire
from bot.flows import forms
from bot.flows import questionnaire as engine
from bot.flows.callbacks import OpenMenu
from bot.flows.common import Ctx, current_workshop, fit_lines, member_file, workshop_file
from bot.flows.events import Button, Event, Send, SendPhoto
from bot.flows.nav import pick_workshop
from bot.flows.profile import ask_next_profile_step
from storage import AnswerValue, Participant, Workshop

# Telegram takes captions of up to 1,024 characters.
CAPTION_LIMIT = 1_024


@dataclass(frozen=True)
class DimensionScore:
    """A dimension's mean score on 1–5, with how many statements fed it."""

    section_id: str
    score: float | None
    answered: int
    total: int


@dataclass(frozen=True)
class DimensionStat:
    """The group's mean on a dimension, over the people who scored it."""

    section_id: str
    title: str
    mean: float | None
    n: int


ScoringIndex = list[tuple[str, int, list[tuple[str, dict[str, float | None]]]]]


def scoring_index(q: Questionnaire) -> ScoringIndex:
    """List, per section, its question count and the scored questions with their values."""
    values_of = {
        name: {o.code: o.value for o in scale.all_options()} for name, scale in q.scales.items()
    }
    index: ScoringIndex = []
    for section in q.sections:
        slots = [s for s in q.slots() if s.section.id == section.id]
        scored = [
            (s.question.id, values_of[s.question.scale])
            for s in slots
            if s.question.scale is not None
        ]
        index.append((section.id, len(slots), scored))
    return index


def scores_with(index: ScoringIndex, answers: Mapping[str, AnswerValue]) -> list[DimensionScore]:
    """Score each section with a prepared index (for many people at once)."""
    out = []
    for section_id, total, scored in index:
        values = [
            v for qid, by_code in scored if (v := by_code.get(str(answers.get(qid)))) is not None
        ]
        out.append(
            DimensionScore(section_id, fmean(values) if values else None, len(values), total)
        )
    return out


def dimension_scores(q: Questionnaire, answers: Mapping[str, AnswerValue]) -> list[DimensionScore]:
    """Score each section: the mean of its answered statements, 'don't know' left out."""
    return scores_with(scoring_index(q), answers)


def _profile_caption(ctx: Ctx, q: Questionnaire, scores: list[DimensionScore]) -> str:
    tr = ctx.tr
    titles = {s.id: s.title.get(ctx.lang) for s in q.sections}
    lines = [tr.t("profile_chart.caption_title"), ""]
    for item in scores:
        value = tr.number(item.score) if item.score is not None else tr.t("profile_chart.no_data")
        lines.append(
            tr.t("profile_chart.caption_line", dimension=titles[item.section_id], score=value)
        )
    scored = [s for s in scores if s.score is not None]
    lines.append("")
    if not scored:
        lines.append(tr.t("profile_chart.all_unknown"))
        return "\n".join(lines)
    best = max(s.score for s in scored if s.score is not None)
    worst = min(s.score for s in scored if s.score is not None)
    if best == worst:
        lines.append(tr.t("profile_chart.even", score=tr.number(best)))
    else:
        strongest = ", ".join(titles[s.section_id] for s in scored if s.score == best)
        weakest = ", ".join(titles[s.section_id] for s in scored if s.score == worst)
        lines.append(tr.t("profile_chart.strongest", dimension=strongest, score=tr.number(best)))
        lines.append(tr.t("profile_chart.weakest", dimension=weakest, score=tr.number(worst)))
    return "\n".join(lines)


async def profile_event(ctx: Ctx, run: forms.Run) -> SendPhoto:
    """Describe the participant's own profile chart (beside the group's, once big enough)."""
    q, tr = run.questionnaire, ctx.tr
    scores = dimension_scores(q, run.answers)
    spec = workshop_file(run.workshop)
    submitted = run.response.submitted_at or ctx.svc.clock.now()
    local = submitted.astimezone(ZoneInfo(run.workshop.timezone))
    store = ctx.svc.store
    # Each submission keeps its own scores, so the group's means are one small query rather
    # than a read of every answer of the workshop (1,000 people submitting at once would
    # otherwise each load all the others' answers).
    await store.save_dimension_scores(run.response.id, {s.section_id: s.score for s in scores})
    for response_id in await store.unscored_responses(run.workshop.id, q.id):
        # Submitted before scores were kept (an upgrade): scored once, here.
        theirs = dimension_scores(q, await store.answers(response_id))
        await store.save_dimension_scores(response_id, {s.section_id: s.score for s in theirs})
    people, means = await store.group_dimension_means(run.workshop.id, q.id)
    if people >= spec.report_min_group:
        group = [
            DimensionStat(
                section.id,
                section.title.get(ctx.lang),
                *means.get(section.id, (None, 0)),
            )
            for section in q.sections
        ]
        return _with_group(ctx, run, scores, group, people, local.date())
    from bot.charts import ProfileChart, render_profile

    chart = ProfileChart(
        title=tr.plain("profile_chart.title"),
        subtitle=tr.plain(
            "profile_chart.subtitle", name=run.participant.name or "", date=tr.date(local.date())
        ),
        footer=spec.title.get(ctx.lang),
        labels=[s.title.get(ctx.lang) for s in q.sections],
        scores=[s.score for s in scores],
        value_labels=[
            tr.number(s.score) if s.score is not None else tr.plain("profile_chart.no_data")
            for s in scores
        ],
        axis_label=tr.plain("profile_chart.axis"),
    )
    return SendPhoto(
        render=partial(render_profile, chart),
        caption=_profile_caption(ctx, q, scores),
        buttons=[[Button(tr.t("button.menu"), OpenMenu().pack())]],
    )


def _with_group(
    ctx: Ctx,
    run: forms.Run,
    scores: list[DimensionScore],
    group: list[DimensionStat],
    n: int,
    day: date,
) -> SendPhoto:
    """Describe the participant's profile next to the group mean; only they receive it."""
    from bot import report_charts as rc

    tr, q = ctx.tr, run.questionnaire
    spec = workshop_file(run.workshop)
    frame = rc.Frame(
        title=tr.plain("profile_chart.title"),
        subtitle=tr.plain("profile_chart.group_subtitle", n=n, date=tr.date(day)),
        footer=spec.title.get(ctx.lang),
    )
    figure = partial(
        _profile_group_png,
        frame,
        [s.title.get(ctx.lang) for s in q.sections],
        [s.score for s in scores],
        [g.mean for g in group],
        tr.plain("profile_chart.you"),
        tr.plain("profile_chart.group", n=n),
        tr.plain("profile_chart.axis"),
        tr.plain("profile_chart.no_data"),
        tr.number,
    )
    caption = _profile_caption(ctx, q, scores) + "\n\n" + tr.t("profile_chart.group_line", n=n)
    caption += "\n" + "\n".join(
        tr.t(
            "profile_chart.caption_line",
            dimension=g.title,
            score=tr.number(g.mean) if g.mean is not None else tr.t("profile_chart.no_data"),
        )
        for g in group
    )
    return SendPhoto(
        render=figure,
        caption=fit_lines(caption.split("\n"), CAPTION_LIMIT),
        buttons=[[Button(tr.t("button.menu"), OpenMenu().pack())]],
    )


def _profile_group_png(
    frame: Any,
    labels: list[str],
    own: list[float | None],
    group: list[float | None],
    own_label: str,
    group_label: str,
    axis: str,
    no_data: str,
    number: Callable[[float, int], str],
) -> bytes:
    from bot import report_charts as rc

    return rc.to_png(
        rc.profile_vs_group_figure(
            frame,
            labels,
            own,
            group,
            own_label=own_label,
            group_label=group_label,
            axis_label=axis,
            fmt=number,
            no_data=no_data,
        )
    )


async def after_submit(ctx: Ctx, run: forms.Run) -> list[Event]:
    """Thank the participant, say what happens next, and send their profile."""
    spec = workshop_file(run.workshop)
    today = ctx.svc.clock.now().astimezone(ZoneInfo(run.workshop.timezone)).date()
    if today <= spec.start_date:
        next_text = ctx.tr.t("dgca.next_before", date=ctx.tr.date(spec.start_date))
    else:
        next_text = ctx.tr.t("dgca.next_after")
    # One message for the result: what comes next, above the profile chart and its reading.
    photo = await profile_event(ctx, run)
    caption = fit_lines([*next_text.split("\n"), "", *photo.caption.split("\n")], CAPTION_LIMIT)
    return [replace(photo, caption=caption)]


async def open_dgca(ctx: Ctx, workshop_id: int | None = None) -> list[Event]:
    """Open the DGCA of the workshop in question (asking which, if unclear)."""
    participant: Participant | None
    workshop: Workshop | None
    if workshop_id is not None:
        workshop = await ctx.svc.store.workshop(workshop_id)
        participant = (
            await ctx.svc.store.participant(workshop_id, ctx.actor.telegram_id)
            if workshop
            else None
        )
        if participant is None:
            return [Send(ctx.tr.t("dgca.not_joined"))]
        await ctx.svc.store.set_active_workshop(
            ctx.actor.telegram_id, workshop_id, ctx.svc.clock.now()
        )
    else:
        current = await current_workshop(ctx)
        if current.ambiguous:
            return pick_workshop(ctx, current.choices, then="od")
        participant, workshop = current.participant, current.workshop
        if participant is None or workshop is None:
            return [Send(ctx.tr.t("dgca.not_joined"))]
    assert workshop is not None
    if not participant.profile_done:
        return [
            Send(ctx.tr.t("dgca.profile_first")),
            *await ask_next_profile_step(ctx, participant, workshop),
        ]
    spec = await member_file(ctx.svc, workshop, participant.id)
    if spec.dgca is None:
        return [Send(ctx.tr.t("dgca.off", title=spec.title.get(ctx.lang)))]
    questionnaire = ctx.svc.content.questionnaires.get(spec.dgca)
    if questionnaire is None:
        return [Send(ctx.tr.t("error.generic"))]
    existing = await ctx.svc.store.find_response(participant.id, questionnaire.id)
    if existing is not None and existing.submitted:
        run = await engine.load_run(ctx, existing.id)
        assert run is not None
        return [Send(ctx.tr.t("dgca.already_done")), await profile_event(ctx, run)]
    return await engine.open_questionnaire(ctx, participant, workshop, questionnaire, after_submit)
