"""The form engine on a form bound to a record: drafts, dates, one answer asked again."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import pytest

from bot.content import Content, load_questionnaire
from bot.flows import forms
from bot.flows import questionnaire as engine
from bot.flows.callbacks import AnswerDate, EditCancel, Skip, parse
from bot.flows.common import Ctx
from bot.flows.events import Edit, Event, Notice, Send
from bot.flows.questionnaire import RUN_TAPS, QuestionText
from bot.services import Services
from storage import AnswerValue
from tests.support import DATA, ctx_for, joined_participant
from tests.test_engine import button, last_send


@dataclass
class Records:
    """An in-memory record table standing in for a plan's, with what the hooks saw."""

    rows: dict[int, dict[str, AnswerValue]] = field(default_factory=dict)
    edited: list[bool] = field(default_factory=list)
    ended: int = 0
    refuse: bool = False


@pytest.fixture
def records(monkeypatch: pytest.MonkeyPatch) -> Records:
    table = Records()

    def record_id(run: forms.Run) -> int | None:
        return int(run.subject) if run.subject and run.subject.isdigit() else None

    async def sink(ctx: Ctx, run: forms.Run, qid: str, value: AnswerValue) -> None:
        rid = record_id(run)
        if rid is None:
            rid = len(table.rows) + 1
            table.rows[rid] = {}
            await engine.rekey(ctx, run, str(rid))
        table.rows[rid][qid] = value

    async def source(ctx: Ctx, run: forms.Run) -> dict[str, AnswerValue | None]:
        rid = record_id(run)
        return dict(table.rows.get(rid, {})) if rid is not None else {}

    async def ending(ctx: Ctx, run: forms.Run) -> list[Event]:
        table.ended += 1
        return [Send("ended")]

    async def edited(ctx: Ctx, run: forms.Run, changed: bool) -> list[Event]:
        table.edited.append(changed)
        return [Send("menu")]

    async def guard(ctx: Ctx, run: forms.Run) -> str | None:
        return "plan.not_member" if table.refuse else None

    async def variables(ctx: Ctx, run: forms.Run) -> dict[str, str]:
        return {"number": run.subject or "?", "who": "<Ana>"}

    binding = forms.Binding(
        record=True,
        sink=sink,
        ending=ending,
        source=source,
        edited=edited,
        guard=guard,
        variables=variables,
    )
    monkeypatch.setitem(forms._BINDINGS, "boundtest", binding)
    return table


@pytest.fixture
async def setup(svc: Services, content: Content, records: Records):
    form = load_questionnaire(DATA / "bound_form.yaml")
    svc.content = replace(content, questionnaires={**content.questionnaires, form.id: form})
    workshop, participant = await joined_participant(svc)
    return svc, workshop, participant, form


async def never(ctx: Ctx, run: forms.Run) -> list[Event]:
    raise AssertionError("a record's form is never submitted")


async def tap(ctx: Ctx, data: str, message_id: int = 100) -> list[Event]:
    cb = parse(data)
    assert isinstance(cb, RUN_TAPS)
    return await engine.on_callback(ctx, cb, message_id, never)


async def text(ctx: Ctx, body: str) -> list[Event]:
    waiting = engine.dialogs.as_(await ctx.svc.store.dialog(7), QuestionText)
    assert waiting is not None
    return await engine.on_text(ctx, waiting, body)


def test_keys_and_placeholders() -> None:
    assert forms.instance_key("plan_step", "4.new") == "plan_step@4.new"
    assert forms.split_key("plan_step@4.12") == ("plan_step", "4.12")
    assert forms.split_key("dgca") == ("dgca", None)
    assert forms.fill("Paso {step} de {total}", {"step": "2"}) == "Paso 2 de {total}"
    assert forms.fill("sin llaves", {"step": "2"}) == "sin llaves"


async def test_a_draft_becomes_its_record_and_ends_open(setup, records: Records) -> None:
    svc, workshop, participant, form = setup
    ctx = ctx_for(svc, 7)
    events = await engine.open_questionnaire(ctx, participant, workshop, form, never, subject="new")
    first = last_send(events)
    # The owner's values fill the heading and the question, escaped; unknown ones stay.
    assert "<b>Registro new</b> (1 de 3)" in first.text
    assert "¿Nombre de &lt;Ana&gt;? Deje {intacto} esto." in first.text
    events = await text(ctx, "Primera")
    assert records.rows == {1: {"name": "Primera"}}
    response = await svc.store.find_response(participant.id, "boundtest@1")
    assert response is not None and not response.submitted
    shown = last_send(events)
    assert "<b>Registro 1</b> (2 de 3)" in shown.text
    # Two to a row, no empty box; none ticked is an answer (min_choices: 0).
    assert [b.text for b in (shown.buttons or [])[0]] == ["A", "B"]
    events = await tap(ctx, button(shown, "Listo ›"))
    assert records.rows[1]["tags"] == []
    ask = last_send(events)
    assert [b.text for b in (ask.buttons or [])[0]] == [
        "En 2 meses · 20 ene 2024",
        "En 4 meses · 20 mar 2024",
    ]
    assert "Por ejemplo: 20/05/2024" in ask.text
    assert "No entendí" in last_send(await text(ctx, "pronto")).text
    assert "ya pasó" in last_send(await text(ctx, "19/11/2023")).text
    forged = AnswerDate(response.id, form.version, "due", 3).pack()
    assert [e for e in await tap(ctx, forged) if isinstance(e, Notice)]
    events = await tap(ctx, button(ask, "En 4 meses · 20 mar 2024"))
    assert records.rows[1]["due"] == "2024-03-20" and records.ended == 1
    assert "✅ <b>20 mar 2024</b>" in next(e for e in events if isinstance(e, Edit)).text
    # Opened again: nothing left to ask, the ending again, still not submitted.
    await engine.open_questionnaire(ctx, participant, workshop, form, never, subject="1")
    response = await svc.store.find_response(participant.id, "boundtest@1")
    assert response is not None and not response.submitted and records.ended == 2


async def test_one_answer_asked_again_then_changed_or_left(setup, records: Records) -> None:
    svc, _, participant, form = setup
    ctx = ctx_for(svc, 7)
    # A record written elsewhere (by a teammate, or an older release): the source tells.
    records.rows[1] = {"name": "Vieja", "tags": ["a"], "due": "2024-01-10"}
    events = await engine.edit_answer(ctx, participant, form, "1", "name")
    ask = last_send(events)
    assert "<b>Registro 1</b>\n\n" in ask.text and "(1 de 3)" not in ask.text
    assert "Vieja" in ask.text
    labels = [b.text for row in ask.buttons or [] for b in row]
    assert labels == ["Cancelar"]
    events = await text(ctx, "Nueva")
    assert records.rows[1]["name"] == "Nueva" and records.edited == [True]
    assert [e.text for e in events if isinstance(e, Send)] == ["menu"]
    # The next text is no answer: nothing waits any more.
    assert await svc.store.dialog(7) is None
    # Asked again, left as it was.
    ask = last_send(await engine.edit_answer(ctx, participant, form, "1", "due"))
    events = await tap(ctx, button(ask, "Cancelar"))
    assert "Sin cambios." in next(e for e in events if isinstance(e, Edit)).text
    assert records.edited == [True, False] and records.rows[1]["due"] == "2024-01-10"
    assert await svc.store.dialog(7) is None
    # A skip is not a way out of a change; a cancel outside a change is stale.
    ask = last_send(await engine.edit_answer(ctx, participant, form, "1", "tags"))
    response = await svc.store.find_response(participant.id, "boundtest@1")
    assert response is not None
    stale = await tap(ctx, Skip(response.id, form.version, "tags").pack())
    assert stale == [Notice(ctx.tr.t("notice.stale"))]
    await tap(ctx, button(ask, "Listo ›"))
    stray = await tap(ctx, EditCancel(response.id, form.version, "tags").pack())
    assert stray == [Notice(ctx.tr.t("notice.stale"))]
    assert records.edited == [True, False, False]


async def test_an_answer_asked_again_shows_what_the_record_holds_now(setup, records) -> None:
    svc, workshop, participant, form = setup
    ctx = ctx_for(svc, 7)
    await engine.open_questionnaire(ctx, participant, workshop, form, never, subject="new")
    await text(ctx, "Primera")
    shown = last_send(await engine.show_current(ctx, 1))
    await tap(ctx, button(shown, "A"))
    await tap(ctx, button(shown, "Listo ›"))
    # A teammate clears the tags; the record says so, the stored answer still says "A".
    records.rows[1]["tags"] = []
    ask = last_send(await engine.edit_answer(ctx, participant, form, "1", "tags"))
    assert not any(b.text.startswith("✅") for row in ask.buttons or [] for b in row)
    await tap(ctx, button(ask, "Listo ›"))
    assert records.rows[1]["tags"] == []


async def test_the_guard_refuses_taps_and_text_and_changes_nothing(setup, records) -> None:
    svc, _, participant, form = setup
    ctx = ctx_for(svc, 7)
    records.rows[1] = {"name": "Suya", "tags": [], "due": "2024-01-10"}
    ask = last_send(await engine.edit_answer(ctx, participant, form, "1", "name"))
    records.refuse = True
    events = await text(ctx, "Ajena")
    assert [e.text for e in events if isinstance(e, Send)] == [ctx.tr.t("plan.not_member")]
    events = await tap(ctx, button(ask, "Cancelar"))
    assert events == [Notice(ctx.tr.t("plan.not_member"), alert=True)]
    assert records.rows[1]["name"] == "Suya" and records.edited == []
