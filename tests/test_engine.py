"""The questionnaire engine, driven through its flow functions (no Telegram)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from bot.content import Content, load_questionnaire
from bot.flows import forms
from bot.flows import questionnaire as engine
from bot.flows.callbacks import parse
from bot.flows.common import Ctx
from bot.flows.events import Edit, Event, Notice, Send
from bot.flows.questionnaire import RUN_TAPS
from bot.services import Services
from storage import DialogState
from tests.support import DATA, ctx_for, joined_participant


@pytest.fixture
def alltypes(content: Content) -> Content:
    q = load_questionnaire(DATA / "all_types.yaml")
    return replace(content, questionnaires={**content.questionnaires, q.id: q})


@pytest.fixture
async def setup(svc: Services, alltypes: Content):
    svc.content = alltypes
    workshop, participant = await joined_participant(svc)
    submitted: list[int] = []

    async def after(ctx: Ctx, run: forms.Run) -> list[Event]:
        submitted.append(run.response.id)
        return [Send("after")]

    return svc, workshop, participant, alltypes.questionnaire("alltypes"), after, submitted


def last_send(events: list[Event]) -> Send | Edit:
    shown = [e for e in events if isinstance(e, (Send, Edit))]
    assert shown, events
    return shown[-1]


def button(event: Send | Edit, text: str) -> str:
    for row in event.buttons or []:
        for b in row:
            if b.text == text or b.text.endswith(" " + text):
                assert b.data is not None
                return b.data
    raise AssertionError(
        f"no button {text!r} in {[[b.text for b in r] for r in event.buttons or []]}"
    )


async def tap(ctx: Ctx, data: str, after, message_id: int = 100) -> list[Event]:
    cb = parse(data)
    assert isinstance(cb, RUN_TAPS)
    return await engine.on_callback(ctx, cb, message_id, after)


async def test_full_run_through_every_question_type(setup) -> None:
    svc, workshop, participant, q, after, submitted = setup
    ctx = ctx_for(svc, 7)
    events = await engine.open_questionnaire(ctx, participant, workshop, q, after)
    first = last_send(events)
    assert "<b>Principal · 1/5</b>" in first.text
    assert "Calidad &lt;general&gt; &amp; diseño" in first.text
    assert len(first.buttons or []) == 5  # one option per row, no Back on the first question

    events = await tap(ctx, button(first, "Bueno"), after)
    # One live message: the tapped message becomes the next question (2 Bot API calls).
    assert isinstance(events[0], Notice) and events[0].text is None
    assert len(events) == 2
    role = events[1]
    assert isinstance(role, Edit) and role.message_id == 100
    assert "2/5" in role.text and "▰▰" in role.text

    # A second tap on the first question's old button is refused, not recorded; the live
    # message is redrawn at the question the person is at (its last edit may have been
    # lost: a crash after the answer was stored, another instance handling the tap).
    response = await svc.store.find_response(participant.id, q.id)
    assert response is not None
    before = await svc.store.answers(response.id)
    stale = await tap(ctx, button(first, "Malo"), after)
    assert stale[0] == Notice(ctx.tr.t("notice.stale"))
    assert len(stale) == 2 and isinstance(stale[1], Edit) and stale[1].message_id == 100
    assert "2/5" in stale[1].text
    assert await svc.store.answers(response.id) == before

    events = await tap(ctx, button(role, "Autoridad"), after)
    text_q = last_send(events)
    assert "3/6" in text_q.text  # the conditional question is now shown
    dialog = await svc.store.dialog(7)
    assert dialog is not None and dialog.state is DialogState.QUESTION_TEXT

    waiting = engine.QuestionText(response_id=dialog.data["response_id"], question_id="why_auth")
    too_long = await engine.on_text(ctx, waiting, "x" * 21)
    assert too_long == [Send(ctx.tr.t("input.too_long", length=21, max=20))]
    events = await engine.on_text(ctx, waiting, "  Concejal  ")
    # The typed answer came below the live message: it keeps the answer, without buttons,
    # and the next question follows as a new message.
    retired, topics = events
    assert isinstance(retired, Edit) and retired.message_id == 100 and not retired.buttons
    assert "✅ <b>Concejal</b>" in retired.text and not retired.resend
    assert isinstance(topics, Send) and "4/6" in topics.text

    events = await tap(ctx, button(topics, "Datos"), after)
    topics = last_send(events)
    events = await tap(ctx, button(topics, "Servicios"), after)
    topics = last_send(events)
    refused = await tap(ctx, button(topics, "Ciberseguridad"), after)
    assert refused == [Notice(ctx.tr.t("notice.max_choices", max=2))]
    events = await tap(ctx, button(topics, ctx.tr.t("button.done")), after)
    nps = last_send(events)
    assert "5/6" in nps.text and len(nps.buttons or []) == 3  # 0–5, 6–10, navigation

    # Back shows the previous question with the saved choices marked.
    events = await tap(ctx, button(nps, ctx.tr.t("button.back")), after)
    back = last_send(events)
    assert isinstance(back, Edit)
    labels = [b.text for row in back.buttons or [] for b in row]
    assert "✅ Datos" in labels and "✅ Servicios" in labels
    events = await tap(ctx, button(back, ctx.tr.t("button.done")), after)
    nps = last_send(events)
    events = await tap(ctx, button(nps, "9"), after)
    comment = last_send(events)
    assert "6/6" in comment.text
    events = await tap(ctx, button(comment, ctx.tr.t("button.skip")), after)
    review = last_send(events)
    assert ctx.tr.t("review.ready") in review.text

    # Change an answer from the review: the conditional question disappears again.
    events = await tap(ctx, button(review, ctx.tr.t("button.change_answer")), after)
    picker = last_send(events)
    events = await tap(ctx, button(picker, "Principal"), after)
    listing = last_send(events)
    assert "→ <b>Concejal</b>" in listing.text
    events = await tap(ctx, button(listing, "2"), after)
    role_again = last_send(events)
    events = await tap(ctx, button(role_again, "Técnico"), after)
    review = last_send(events)
    assert ctx.tr.t("review.ready") in review.text

    events = await tap(ctx, button(review, ctx.tr.t("button.submit")), after)
    confirm = last_send(events)
    safe, go = (confirm.buttons or [[]])[0]
    assert safe.text == ctx.tr.t("button.keep_reviewing")  # the safe choice comes first
    assert go.data is not None
    events = await tap(ctx, go.data, after)
    assert submitted and isinstance(events[-1], Send) and events[-1].text == "after"
    answers = await svc.store.answers(submitted[0])
    assert answers == {
        "quality": "4",
        "role": "tech",
        "topics": ["a", "b"],
        "nps": "9",
        "comment": [],
    }
    again = await tap(ctx, go.data, after)
    assert again == [Notice(ctx.tr.t("notice.already_submitted"))]


async def test_resume_at_first_unanswered_and_forged_taps(setup) -> None:
    svc, workshop, participant, q, after, _ = setup
    ctx = ctx_for(svc, 7)
    first = last_send(await engine.open_questionnaire(ctx, participant, workshop, q, after))
    await tap(ctx, button(first, "Regular"), after)
    resumed = await engine.open_questionnaire(ctx, participant, workshop, q, after)
    # The questionnaire comes to the bottom: the message above loses its buttons.
    assert resumed[0] == Edit(100, ctx.tr.t("question.moved"), None, resend=False)
    assert isinstance(resumed[1], Send)
    assert ctx.tr.t("questionnaire.resume", answered=1, total=5) in resumed[1].text
    role = last_send(resumed)
    assert "2/5" in role.text

    intruder = ctx_for(svc, 8)
    forged = await tap(intruder, button(role, "Técnico"), after)
    assert forged == [Notice(intruder.tr.t("notice.stale"))]
    data = button(role, "Técnico")
    parts = data.split(":")
    parts[2] = "77"
    bumped = ":".join(parts)
    changed = await tap(ctx, bumped, after)
    assert changed[0] == Notice(ctx.tr.t("notice.changed"))
    assert "2/5" in last_send(changed).text
    bogus_option = data.rsplit(":", 1)[0] + ":zzz"
    assert await tap(ctx, bogus_option, after) == [Notice(ctx.tr.t("notice.stale"))]
    assert await svc.store.answers(int(data.split(":")[1])) == {"quality": "3"}


async def test_visible_slots_follow_answers(alltypes: Content) -> None:
    q = alltypes.questionnaire("alltypes")
    ids = lambda answers: [s.question.id for s in forms.visible_slots(q, answers)]  # noqa: E731
    assert "why_auth" not in ids({})
    assert "why_auth" in ids({"role": "auth"})
    assert forms.first_open(q, {"quality": "5"}).question.id == "role"  # type: ignore[union-attr]


async def test_reshowing_a_multi_choice_question_keeps_the_selection(setup) -> None:
    svc, workshop, participant, q, after, _ = setup
    ctx = ctx_for(svc, 7)
    first = last_send(await engine.open_questionnaire(ctx, participant, workshop, q, after))
    role = last_send(await tap(ctx, button(first, "Bueno"), after))
    topics = last_send(await tap(ctx, button(role, "Técnico"), after))
    topics = last_send(await tap(ctx, button(topics, "Datos"), after))
    rid = int(button(topics, "Datos").split(":")[1])
    again = last_send(await engine.show_current(ctx, rid))  # e.g. after typed text or /dgca
    labels = [b.text for row in again.buttons or [] for b in row]
    assert "✅ Datos" in labels
    events = await tap(ctx, button(again, ctx.tr.t("button.done")), after)
    assert "4/5" in last_send(events).text
    assert (await svc.store.answers(rid))["topics"] == ["a"]


async def test_one_live_message_whichever_copy_is_tapped(setup) -> None:
    svc, workshop, participant, q, after, _ = setup
    ctx = ctx_for(svc, 7)
    # Opened twice before any tap: two copies of the first question, both with buttons.
    first = last_send(await engine.open_questionnaire(ctx, participant, workshop, q, after))
    again = last_send(await engine.open_questionnaire(ctx, participant, workshop, q, after))
    events = await tap(ctx, button(again, "Bueno"), after, message_id=300)
    assert [type(e) for e in events] == [Notice, Edit]  # 300 becomes the live message
    role = events[1]
    assert isinstance(role, Edit) and role.message_id == 300
    # The older copy is on a past question now: refused, and the live message stays.
    stale = await tap(ctx, button(first, "Malo"), after, message_id=200)
    assert stale == [Notice(ctx.tr.t("notice.stale"))]
    response = await svc.store.find_response(participant.id, q.id)
    assert response is not None and response.live_message_id == 300
    # Tapping the current question in another copy moves the live message there and
    # retires the one before, so that only one message has buttons.
    events = await tap(ctx, button(role, "Autoridad"), after, message_id=400)
    assert events[0] == Edit(300, ctx.tr.t("question.moved"), None, resend=False)
    assert isinstance(events[-1], Edit) and events[-1].message_id == 400
    response = await svc.store.find_response(participant.id, q.id)
    assert response is not None and response.live_message_id == 400
