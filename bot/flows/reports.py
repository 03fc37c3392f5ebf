"""Organizer reports: DGCA and evaluation aggregates, charts with captions, status, exports."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from statistics import fmean
from typing import TYPE_CHECKING

from bot.content import Questionnaire, QuestionType, ScaleKind, WorkshopFile
from bot.flows.access import Action, may
from bot.flows.callbacks import Report
from bot.flows.common import Ctx, short_hash, workshop_file, workshop_recipients
from bot.flows.dgca import DimensionStat, scores_with, scoring_index
from bot.flows.events import Button, Edit, Event, Keyboard, Notice, Send, SendDocument, SendPhoto
from bot.flows.exports import export_events
from bot.i18n import Translator
from bot.lazy import lazy_module
from bot.services import Services
from storage import AnswerSet, Recipient, SessionRating, Workshop

if TYPE_CHECKING:
    from bot import report_charts as rc
else:
    # matplotlib is loaded when the first chart is drawn, not when the bot starts.
    rc = lazy_module("bot.report_charts")

TOP = 3
CAPTION_STATEMENT_CHARS = 80
CAPTION_LIMIT = 1024  # Telegram's limit for a photo's caption


@dataclass(frozen=True)
class StatementStat:
    """How a group answered one statement on an ordered scale."""

    question_id: str
    text: str
    section_id: str
    labels: list[str]
    counts: list[int]
    not_applicable: int
    mean: float | None

    @property
    def answered(self) -> int:
        """Return how many gave an answer on the scale (not 'don't know')."""
        return sum(self.counts)

    @property
    def agree_share(self) -> float:
        """Return the share of the two most positive options among answers on the scale."""
        return sum(self.counts[:2]) / self.answered if self.answered else 0.0


def dimension_stats(q: Questionnaire, sets: list[AnswerSet], lang: str) -> list[DimensionStat]:
    """Average each person's dimension score over the group ('don't know' left out)."""
    scoring = scoring_index(q)
    per_person = [scores_with(scoring, s.answers) for s in sets]
    out = []
    for index, section in enumerate(q.sections):
        values = [p[index].score for p in per_person if p[index].score is not None]
        numbers = [v for v in values if v is not None]
        out.append(
            DimensionStat(
                section.id,
                section.title.get(lang),
                fmean(numbers) if numbers else None,
                len(numbers),
            )
        )
    return out


def statement_stats(q: Questionnaire, sets: list[AnswerSet], lang: str) -> list[StatementStat]:
    """Count the answers to every scale question, in scale order (most positive first)."""
    out = []
    for slot in q.slots():
        question = slot.question
        if question.type not in (QuestionType.LIKERT, QuestionType.SINGLE, QuestionType.NPS):
            continue
        options = q.options_of(question)
        na_code = None
        if question.scale is not None:
            na = q.scales[question.scale].not_applicable
            na_code = na.code if na else None
            options = q.scales[question.scale].options
        codes = [o.code for o in options]
        counts = [0] * len(codes)
        not_applicable = 0
        values: list[float] = []
        for s in sets:
            answer = s.answers.get(question.id)
            if not isinstance(answer, str):
                continue
            if answer == na_code:
                not_applicable += 1
            elif answer in codes:
                counts[codes.index(answer)] += 1
                value = options[codes.index(answer)].value
                if value is not None:
                    values.append(value)
        out.append(
            StatementStat(
                question.id,
                question.text.get(lang),
                slot.section.id,
                [o.label.get(lang) for o in options],
                counts,
                not_applicable,
                fmean(values) if values else None,
            )
        )
    return out


def _dgca_aggregates(
    q: Questionnaire, sets: list[AnswerSet], lang: str
) -> tuple[list[DimensionStat], list[StatementStat]]:
    return dimension_stats(q, sets, lang), statement_stats(q, sets, lang)


def strongest_and_weakest(
    stats: list[StatementStat], minimum: int, k: int = TOP
) -> tuple[list[StatementStat], list[StatementStat]]:
    """Return the k statements with the highest and the lowest mean (enough answers only)."""
    ranked = sorted(
        (s for s in stats if s.mean is not None and s.answered >= minimum),
        key=lambda s: (s.mean or 0.0, s.question_id),
    )
    return ranked[::-1][:k], ranked[:k]


def _diverging_png(
    frame: rc.Frame,
    rows: list[rc.LikertRow],
    labels: list[str],
    na: str,
    pct: Callable[[float], str],
) -> bytes:
    return rc.to_png(rc.diverging_figure(frame, rows, labels, na_label=na, pct=pct).figure)


def _distribution_png(
    frame: rc.Frame, dist: rc.Distribution, pct: Callable[[float], str], n_label: str
) -> bytes:
    return rc.to_png(rc.distribution_figure(frame, dist, pct=pct, n_label=n_label))


def _statements_caption(
    tr: Translator,
    head: str,
    rows: list[StatementStat],
    numbers: dict[int, int],
    pct: Callable[[float], str],
) -> str:
    """List a section's statements in full under its chart, shortened only past 1,024 chars."""
    for limit in (None, CAPTION_STATEMENT_CHARS):
        lines = [head] + [
            tr.t(
                "report.statement_line",
                number=numbers[id(s)],
                text=s.text if limit is None else _short(s.text, limit),
                agree=pct(s.agree_share),
            )
            for s in rows
        ]
        caption = "\n".join(lines)
        if len(caption) <= CAPTION_LIMIT:
            return caption
    return caption[:CAPTION_LIMIT]


def _short(text: str, limit: int = CAPTION_STATEMENT_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _percent(tr: Translator, share: float) -> str:
    return tr.plain("report.percent", value=tr.number(share * 100, 0))


def _formatters(tr: Translator) -> tuple[Callable[[float, int], str], Callable[[float], str]]:
    # Module-level callables, not closures: charts are drawn in the worker process.
    return tr.number, partial(_percent, tr)


def _dimension_png(
    frame: rc.Frame,
    figure_args: tuple[list[str], list[float | None], list[int]],
    axis_label: str,
    fmt: Callable[[float, int], str],
    no_data: str,
) -> bytes:
    return rc.to_png(
        rc.dimension_means_figure(
            frame, *figure_args, axis_label=axis_label, fmt=fmt, no_data=no_data
        )
    )


def _frame(
    tr: Translator, spec: WorkshopFile, lang: str, title: str, n: int, when: datetime
) -> rc.Frame:
    subtitle = tr.plain("report.subtitle", n=n, date=tr.date(when.astimezone(spec.zone).date()))
    return rc.Frame(title=title, subtitle=subtitle, footer=spec.title.get(lang))


async def _submitted(
    svc: Services, workshop: Workshop, questionnaire_id: str, institution: str | None
) -> list[AnswerSet]:
    sets = await svc.store.answer_sets(workshop.id, questionnaire_id)
    return [
        s
        for s in sets
        if s.submitted_at is not None and (institution is None or s.institution == institution)
    ]


async def dgca_report(
    svc: Services, workshop: Workshop, lang: str, institution: str | None = None
) -> list[Event]:
    """Describe the DGCA report: dimension means, a chart per dimension, the summary."""
    tr, spec = svc.i18n(lang), workshop_file(workshop)
    if spec.dgca is None:
        return [Send(tr.t("report.dgca_off"))]
    q = svc.content.questionnaire(spec.dgca)
    sets = await _submitted(svc, workshop, q.id, institution)
    scope = tr.t("report.scope_institution", institution=institution) if institution else ""
    minimum = spec.report_min_group
    if len(sets) < minimum:
        return [
            Send(tr.t("report.too_few", what=q.title.get(lang), n=len(sets), min=minimum) + scope)
        ]
    now = svc.clock.now()
    fmt, pct = _formatters(tr)
    # Aggregating hundreds of people is CPU work: off the event loop.
    dims, stats = await asyncio.to_thread(_dgca_aggregates, q, sets, lang)
    title = tr.plain("report.dgca_title") + (f" · {institution}" if institution else "")
    frame = _frame(tr, spec, lang, title, len(sets), now)
    figure_args = ([d.title for d in dims], [d.mean for d in dims], [d.n for d in dims])
    caption_lines = [tr.t("report.dgca_caption", n=len(sets)) + scope]
    caption_lines += [
        tr.t(
            "report.dimension_line",
            dimension=d.title,
            mean=tr.number(d.mean) if d.mean is not None else tr.t("profile_chart.no_data"),
            n=d.n,
        )
        for d in dims
    ]
    events: list[Event] = [
        SendPhoto(
            render=partial(
                _dimension_png,
                frame,
                figure_args,
                tr.plain("report.axis_mean"),
                fmt,
                tr.plain("profile_chart.no_data"),
            ),
            caption="\n".join(caption_lines),
            separate_process=True,
        )
    ]
    na_label = q.scales["agreement"].not_applicable if "agreement" in q.scales else None
    # Statements are numbered across the whole questionnaire, as the seed reports number them.
    numbers = {id(s): n for n, s in enumerate(stats, start=1)}
    for section in q.sections:
        rows = [s for s in stats if s.section_id == section.id]
        if not rows:
            continue
        likert = [rc.LikertRow(s.text, s.counts, s.not_applicable, numbers[id(s)]) for s in rows]
        section_frame = _frame(tr, spec, lang, section.title.get(lang), len(sets), now)
        labels = rows[0].labels
        na_text = na_label.label.get(lang) if na_label else tr.plain("report.not_applicable")
        head = tr.t("report.section_caption", section=section.title.get(lang), n=len(sets))
        caption = _statements_caption(tr, head, rows, numbers, pct)
        events.append(
            SendPhoto(
                render=partial(_diverging_png, section_frame, likert, labels, na_text, pct),
                caption=caption,
                separate_process=True,
            )
        )
    best, worst = strongest_and_weakest(stats, minimum)
    summary = [tr.t("report.summary_title", n=len(sets)) + scope, "", tr.t("report.strongest")]
    summary += [
        tr.t(
            "report.summary_line",
            text=s.text,
            mean=tr.number(s.mean or 0),
            agree=pct(s.agree_share),
        )
        for s in best
    ]
    summary += ["", tr.t("report.weakest")]
    summary += [
        tr.t(
            "report.summary_line",
            text=s.text,
            mean=tr.number(s.mean or 0),
            agree=pct(s.agree_share),
        )
        for s in worst
    ]
    events.append(Send("\n".join(summary)))
    return events


def _open_answers(
    tr: Translator,
    q: Questionnaire,
    sets: list[AnswerSet],
    lang: str,
    ratings: list[SessionRating],
    spec: WorkshopFile,
) -> bytes:
    """Write the open answers and session comments as a plain UTF-8 text document."""
    lines = [tr.plain("report.open_title", title=spec.title.get(lang)), ""]
    for slot in q.slots():
        if slot.question.type is not QuestionType.TEXT:
            continue
        answers = [a for s in sets if isinstance(a := s.answers.get(slot.question.id), str) and a]
        lines.append(f"## {slot.question.text.get(lang)} ({len(answers)})")
        lines += [f"- {a}" for a in answers] or [tr.plain("report.none")]
        lines.append("")
    titles = {s.id: s.title.get(lang) for s in spec.agenda}
    comments = [r for r in ratings if r.comment]
    if comments:
        lines.append(f"## {tr.plain('report.session_comments')}")
        for rating in comments:
            lines.append(f"- [{titles.get(rating.session_id, rating.session_id)}] {rating.comment}")
    return ("\n".join(lines) + "\n").encode("utf-8")


def caption_for(
    tr: Translator, stat: StatementStat, top: tuple[str, int] | None, pct: Callable[[float], str]
) -> str:
    """Say the most given answer: "the majority" only above half, always with its base."""
    if top is None or not stat.answered:
        return tr.t("report.no_answers", question=stat.text)
    answer, count = top
    key = "report.majority" if 2 * count > stat.answered else "report.most_frequent"
    text = tr.t(
        key,
        answer=answer,
        question=stat.text,
        count=count,
        n=stat.answered,
        share=pct(count / stat.answered),
    )
    if stat.not_applicable:
        text += " " + tr.t("report.base_not_applicable", n=stat.not_applicable)
    return text


async def evaluation_report(
    svc: Services, workshop: Workshop, lang: str, event_id: str | None = None
) -> list[Event]:
    """Describe the evaluation report: a chart per question, open answers, session ratings.

    In a programme, the report of one event: its evaluation and its sessions.
    """
    tr, spec = svc.i18n(lang), workshop_file(workshop)
    event = spec.event(event_id)
    if event is not None:
        spec = spec.for_event(event)
    key = spec.evaluation_key()
    if spec.evaluation is None or key is None or (spec.events and event is None):
        return [Send(tr.t("report.evaluation_off"))]
    q = svc.content.questionnaires.get(spec.evaluation)
    if q is None:
        return [Send(tr.t("evaluation.not_open"))]
    sets = await _submitted(svc, workshop, key, None)
    minimum = spec.report_min_group
    events: list[Event] = []
    now = svc.clock.now()
    _, pct = _formatters(tr)
    if len(sets) < minimum:
        events.append(
            Send(tr.t("report.too_few", what=q.title.get(lang), n=len(sets), min=minimum))
        )
    else:
        for stat in await asyncio.to_thread(statement_stats, q, sets, lang):
            dist = rc.Distribution(stat.text, stat.labels, stat.counts)
            top = rc.majority(dist)
            frame = _frame(tr, spec, lang, q.title.get(lang), stat.answered, now)
            caption = caption_for(tr, stat, top, pct)
            question = q.question(stat.question_id)
            scale = q.scales.get(question.scale) if question.scale else None
            if scale is not None and scale.kind is ScaleKind.AGREEMENT:
                # Agreement statements read as diverging bars, as in the DGCA report.
                row = [rc.LikertRow(stat.text, stat.counts, stat.not_applicable)]
                na_text = tr.plain("report.not_applicable")
                render = partial(_diverging_png, frame, row, stat.labels, na_text, pct)
            else:
                render = partial(
                    _distribution_png, frame, dist, pct, tr.plain("report.answers_axis")
                )
            events.append(SendPhoto(render=render, caption=caption[:1024], separate_process=True))
    sessions = {s.id for s in spec.agenda}
    ratings = [r for r in await svc.store.session_ratings(workshop.id) if r.session_id in sessions]
    if len(sets) >= minimum or any(r.comment for r in ratings):
        # Below the smallest group, open answers are not shown: they could name their author.
        shown = sets if len(sets) >= minimum else []
        body = _open_answers(tr, q, shown, lang, ratings, spec)
        events.append(
            SendDocument(
                filename=f"{tr.plain('report.open_filename')}-{workshop.slug}"
                + (f"-{event.id}" if event is not None else "")
                + ".txt",
                build=lambda: body,
                caption=tr.t("report.open_caption"),
            )
        )
    if spec.agenda:
        lines = [tr.t("report.sessions_title")]
        for session in sorted(spec.agenda, key=lambda s: s.start):
            given = [r.rating for r in ratings if r.session_id == session.id]
            if len(given) >= minimum:
                lines.append(
                    tr.t(
                        "report.session_line",
                        title=session.title.get(lang),
                        mean=tr.number(fmean(given)),
                        n=len(given),
                    )
                )
            else:
                lines.append(
                    tr.t("report.session_few", title=session.title.get(lang), n=len(given))
                )
        events.append(Send("\n".join(lines)))
    return events


async def status_report(svc: Services, workshop: Workshop, lang: str) -> list[Event]:
    """Count who joined, finished the DGCA and the evaluation, in total and per institution."""
    tr, spec = svc.i18n(lang), workshop_file(workshop)
    recipients = await workshop_recipients(svc, workshop)
    lines = [
        tr.t("report.status_title", title=spec.title.get(lang)),
        tr.t(
            "report.status_line",
            name=tr.plain("report.total"),
            joined=len(recipients),
            dgca=sum(r.dgca_done for r in recipients),
            evaluation=_evaluated(spec, recipients),
            unreachable=sum(r.unreachable for r in recipients),
        ),
        "",
    ]
    if spec.is_hybrid():
        # Who comes in person and who online: the room and the stream are planned from it.
        modes = Counter(r.attendance for r in recipients)
        lines[-1:-1] = [
            tr.t(
                "report.attendance",
                in_person=modes["in_person"],
                online=modes["online"],
                unknown=modes[None],
            )
        ]
    institutions = sorted({r.institution or "—" for r in recipients})
    for name in institutions:
        group = [r for r in recipients if (r.institution or "—") == name]
        lines.append(
            tr.t(
                "report.status_line",
                name=name,
                joined=len(group),
                dgca=sum(r.dgca_done for r in group),
                evaluation=_evaluated(spec, group),
                unreachable=sum(r.unreachable for r in group),
            )
        )
    if spec.events:
        lines += ["", tr.t("report.status_events")]
        lines += await _event_lines(svc, workshop, spec, lang, recipients)
    return [Send("\n".join(lines)[:4000])]


def _evaluated(spec: WorkshopFile, group: list[Recipient]) -> int | str:
    # A programme's evaluations are its events': they are counted event by event.
    return "—" if spec.events else sum(r.evaluation_done for r in group)


async def _event_lines(
    svc: Services, workshop: Workshop, spec: WorkshopFile, lang: str, everyone: list[Recipient]
) -> list[str]:
    """Count, event by event, who is in it and who answered its evaluation."""
    tr = svc.i18n(lang)
    lines = []
    for event in spec.events:
        view = spec.for_event(event)
        group = await workshop_recipients(svc, workshop, view)
        lines.append(
            tr.t(
                "report.status_line",
                name=event.title.get(lang),
                joined=len(group),
                dgca=sum(r.dgca_done for r in group) if view.dgca is not None else "—",
                evaluation=sum(r.evaluation_done for r in group)
                if view.evaluation is not None
                else "—",
                unreachable=sum(r.unreachable for r in group),
            )
        )
    outside = {r.participant_id for r in everyone} - {
        p for p, events in (await svc.store.event_members(workshop.id)).items() if events
    }
    if outside:
        lines.append(tr.t("report.status_no_event", n=len(outside)))
    return lines


def menu(ctx: Ctx, workshop: Workshop) -> list[Event]:
    """Offer the reports and exports of a workshop (of the instruments it uses)."""
    wid, spec = workshop.id, workshop_file(workshop)
    instruments = []
    if spec.dgca is not None:
        instruments.append(Button(ctx.tr.t("button.report_dgca"), Report(wid, "dgca").pack()))
    if spec.evaluation is not None and not spec.events:
        instruments.append(Button(ctx.tr.t("button.report_eval"), Report(wid, "eval").pack()))
    # A programme's evaluations are its events': one report each.
    per_event: Keyboard = [
        [
            Button(
                ctx.tr.t("button.report_eval_event", title=_short(event.title.get(ctx.lang), 40)),
                Report(wid, "eval", index, short_hash(*(e.id for e in spec.events))).pack(),
            )
        ]
        for index, event in enumerate(spec.events)
        if spec.event_evaluation(event) is not None
    ]
    status = [Button(ctx.tr.t("button.report_status"), Report(wid, "status").pack())]
    if spec.dgca is not None:
        status.append(Button(ctx.tr.t("button.report_inst"), Report(wid, "inst").pack()))
    rows: Keyboard = [
        *([instruments] if instruments else []),
        *per_event,
        status,
        [
            Button(ctx.tr.t("button.export_xlsx"), Report(wid, "xlsx").pack()),
            Button(ctx.tr.t("button.export_csv"), Report(wid, "csv").pack()),
        ],
    ]
    title = workshop_file(workshop).title.get(ctx.lang)
    return [Send(ctx.tr.t("report.menu", title=title), rows)]


async def _institutions(svc: Services, workshop: Workshop) -> list[str]:
    dgca = workshop_file(workshop).dgca
    if dgca is None:
        return []
    sets = await svc.store.answer_sets(workshop.id, dgca)
    return sorted({s.institution for s in sets if s.institution and s.submitted_at})


async def on_callback(ctx: Ctx, cb: Report, message_id: int) -> list[Event]:
    """Build the report asked for, for an organizer of the workshop only."""
    workshop_id, kind = cb.workshop, cb.what
    if not await may(ctx.svc, ctx.actor.telegram_id, Action.REPORT, workshop_id):
        return [Notice(ctx.tr.t("notice.stale"))]
    workshop = await ctx.svc.store.workshop(workshop_id)
    if workshop is None:
        return [Notice(ctx.tr.t("notice.stale"))]
    if ctx.chat_id is not None and ctx.chat_id < 0 and workshop.organizer_chat_id != ctx.chat_id:
        # A report's button copied into a group not linked to its workshop: personal data
        # stays in private chats and the workshop's own group.
        return [Notice(ctx.tr.t("notice.stale"))]
    lang = ctx.svc.i18n.pick(workshop.language)
    notice = Notice(ctx.tr.t("report.preparing"))
    if kind == "dgca":
        return [notice, *await dgca_report(ctx.svc, workshop, lang)]
    if kind == "eval":
        events = workshop_file(workshop).events
        # The button names an event by its place in the file, checked against the list it
        # was made from: a re-import that reorders the events makes it stale, not another.
        if events and (
            cb.index is None
            or not 0 <= cb.index < len(events)
            or cb.digest != short_hash(*(e.id for e in events))
        ):
            return [Notice(ctx.tr.t("notice.stale"))]
        event_id = events[cb.index].id if events and cb.index is not None else None
        return [notice, *await evaluation_report(ctx.svc, workshop, lang, event_id)]
    if kind == "status":
        return [Notice(), *await status_report(ctx.svc, workshop, lang)]
    if kind in ("xlsx", "csv"):
        return [notice, *await export_events(ctx.svc, workshop, lang, kind)]
    names = await _institutions(ctx.svc, workshop)
    index = cb.index
    if index is None:
        digest = short_hash(*names)
        rows: Keyboard = [
            [Button(name[:60], Report(workshop.id, "inst", i, digest).pack())]
            for i, name in enumerate(names[:40])
        ]
        if not rows:
            return [Notice(), Send(ctx.tr.t("report.no_institutions"))]
        return [Notice(), Edit(message_id, ctx.tr.t("report.pick_institution"), rows)]
    if cb.digest != short_hash(*names) or not 0 <= index < len(names):
        return [Notice(ctx.tr.t("notice.stale"))]
    return [notice, *await dgca_report(ctx.svc, workshop, lang, names[index])]
