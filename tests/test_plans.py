"""Plans without Telegram: storage contract, aggregates against hand counts, dates, limits."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from bot.flows import checkins, dialogs, forms
from bot.flows import questionnaire as engine
from bot.flows.callbacks import parse
from bot.flows.common import Actor, Ctx, Media
from bot.flows.dates import parse_date
from bot.flows.events import Event, Send
from bot.flows.questionnaire import RUN_TAPS
from bot.flows.schedule import add_months
from bot.plan_stats import compute
from bot.services import Services
from storage import OutMessage, ScheduledItem, StepStatus, Store

NOW = datetime(2024, 3, 15, 14, 0, tzinfo=UTC)


@pytest.fixture
def store(any_store: Store) -> Store:
    """Run the store contract (and the flows over it) on each backend."""
    return any_store


async def _setup(store: Store) -> tuple[int, int, int]:
    workshop, _ = await store.upsert_workshop(
        slug="w1",
        language="es",
        timezone="America/La_Paz",
        start_date=date(2023, 11, 28),
        end_date=date(2023, 11, 29),
        spec={"id": "w1"},
        join_code="CODE1234567890abcd",
        now=NOW,
    )
    ana, _ = await store.join(workshop_id=workshop.id, telegram_id=1, language="es", now=NOW)
    luis, _ = await store.join(workshop_id=workshop.id, telegram_id=2, language="es", now=NOW)
    await store.update_profile(ana.id, field="institution", value="Sacaba")
    await store.update_profile(luis.id, field="institution", value="Vinto")
    return workshop.id, ana.id, luis.id


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("30/06/2025", date(2025, 6, 30)),
        ("3/7/25", date(2025, 7, 3)),
        ("2025-06-30", date(2025, 6, 30)),
        ("30.06.2025", date(2025, 6, 30)),
        ("30 de junio de 2025", date(2025, 6, 30)),
        ("30 jun 2025", date(2025, 6, 30)),
        ("June 30, 2025", date(2025, 6, 30)),
        ("5 de março de 2026", date(2026, 3, 5)),
        ("1 set 2025", date(2025, 9, 1)),
        ("31/02/2025", None),
        ("mañana", None),
        ("30 de juño de 2025", None),
        ("", None),
    ],
)
def test_dates_people_type(typed: str, expected: date | None) -> None:
    assert parse_date(typed) == expected


def test_months_after_keep_the_day_or_the_month_end() -> None:
    assert add_months(date(2023, 11, 29), 1) == date(2023, 12, 29)
    assert add_months(date(2023, 11, 29), 3) == date(2024, 2, 29)
    assert add_months(date(2023, 11, 30), 3) == date(2024, 2, 29)
    assert add_months(date(2023, 8, 31), 6) == date(2024, 2, 29)
    assert add_months(date(2023, 12, 15), 1) == date(2024, 1, 15)


async def test_plan_store_contract(store: Store) -> None:
    workshop_id, ana, luis = await _setup(store)
    plan_id = await store.create_plan(workshop_id, ana, "Licencias en línea", NOW)
    s1 = await store.add_step(plan_id, "Digitalizar", NOW)
    s2 = await store.add_step(plan_id, "Capacitar", NOW)
    s3 = await store.add_step(plan_id, "Difundir", NOW)
    await store.set_step_field(s1, "due_date", "2024-01-31", NOW)
    await store.set_plan_field(plan_id, "sdgs", "11,16", NOW)
    assert await store.move_step(s3, -1)
    assert not await store.move_step(s1, -1)
    plan = await store.plan(plan_id)
    assert plan is not None
    assert [s.action for s in plan.steps] == ["Digitalizar", "Difundir", "Capacitar"]
    assert plan.sdgs == (11, 16) and plan.steps[0].due_date == date(2024, 1, 31)
    assert await store.remove_step(s2, NOW)
    assert not await store.remove_step(s2, NOW)
    plan = await store.plan(plan_id)
    assert plan is not None and [s.id for s in plan.steps] == [s1, s3]
    # Teams: the owner stays, a co-owner joins once.
    assert await store.add_member(plan_id, luis, NOW)
    assert not await store.add_member(plan_id, luis, NOW)
    assert not await store.remove_member(plan_id, ana)
    assert [p.id for p in await store.plans_of(2)] == [plan_id]
    # Contact consent is each member's own; withdrawing it forgets the handle too.
    assert await store.set_contact(plan_id, luis, "luism", NOW)
    assert not await store.set_contact(plan_id, luis + ana + 99, "x", NOW)
    plan = await store.plan(plan_id)
    assert plan is not None
    people = {m.participant_id: (m.contact, m.handle) for m in plan.members}
    assert people == {ana: (False, None), luis: (True, "luism")}
    data = await store.plan_data([workshop_id])
    assert {m.participant_id: m.contact for m in data.members[plan_id]} == {ana: False, luis: True}
    assert await store.set_contact(plan_id, luis, "luism", None)
    plan = await store.plan(plan_id)
    assert plan is not None and all((m.contact, m.handle) == (False, None) for m in plan.members)
    # Updates are added, never replaced; the latest decides the status.
    first = await store.record_update(s1, luis, "in_progress", None, NOW)
    await store.record_update(s1, ana, "done", None, NOW + timedelta(days=1))
    history = await store.step_history(s1)
    assert [u.status for u in history] == [StepStatus.IN_PROGRESS, StepStatus.DONE]
    assert await store.add_update_note(first, "a" * 10, 15)
    assert not await store.add_update_note(first, "b" * 10, 15)
    assert (await store.step_update(first)).note == "a" * 10  # type: ignore[union-attr]
    step = await store.step(s1)
    assert step is not None and step.status is StepStatus.DONE


async def test_checkins_are_asked_once_and_answered_by_any_member(store: Store) -> None:
    workshop_id, ana, luis = await _setup(store)
    plan_id = await store.create_plan(workshop_id, ana, "Plan", NOW)
    step = await store.add_step(plan_id, "Paso", NOW)
    message = OutMessage(chat_id=1, text="¿Cómo va?")
    opened = await store.open_checkins([(plan_id, "m1", "scheduled")], [message], "ci:m1", NOW)
    assert len(opened) == 1
    again = await store.open_checkins([(plan_id, "m1", "scheduled")], [message], "ci:m1", NOW)
    assert again == []
    assert len(await store.pending_outbox(10)) == 1
    assert [c.id for c in await store.checkins_to_nudge(NOW)] == [opened[0].id]
    await store.record_update(step, luis, "blocked", None, NOW + timedelta(hours=1))
    assert await store.checkins_to_nudge(NOW + timedelta(days=30)) == []
    history = await store.step_history(step)
    assert history[0].checkin_id == opened[0].id


async def test_overdue_steps_are_found_once_per_date(store: Store) -> None:
    workshop_id, ana, _ = await _setup(store)
    plan_id = await store.create_plan(workshop_id, ana, "Plan", NOW)
    late = await store.add_step(plan_id, "Tarde", NOW)
    done = await store.add_step(plan_id, "Hecho", NOW)
    await store.add_step(plan_id, "Sin fecha", NOW)
    for step in (late, done):
        await store.set_step_field(step, "due_date", "2024-03-01", NOW)
    await store.record_update(done, ana, "done", None, NOW)
    found = await store.overdue_steps(date(2024, 3, 2))
    assert [o.step_id for o in found] == [late]
    await store.open_checkins([(plan_id, f"due:{late}:2024-03-01", "overdue")], [], "od", NOW)
    assert await store.overdue_steps(date(2024, 3, 2)) == []
    # A new date that passes asks again.
    await store.set_step_field(late, "due_date", "2024-03-10", NOW)
    assert [o.step_id for o in await store.overdue_steps(date(2024, 3, 11))] == [late]


async def test_figures_match_hand_counts(store: Store) -> None:
    workshop_id, ana, luis = await _setup(store)
    day = timedelta(days=1)
    p1 = await store.create_plan(workshop_id, ana, "A", NOW - 100 * day)
    p2 = await store.create_plan(workshop_id, luis, "B", NOW - 90 * day)
    await store.set_plan_field(p1, "sdgs", "11,16", NOW)
    await store.set_plan_field(p2, "sdgs", "11", NOW)
    a1 = await store.add_step(p1, "a1", NOW)
    a2 = await store.add_step(p1, "a2", NOW)
    a3 = await store.add_step(p1, "a3", NOW)
    b1 = await store.add_step(p2, "b1", NOW)
    b2 = await store.add_step(p2, "b2", NOW)
    await store.set_step_field(a2, "due_date", "2024-03-01", NOW)  # late: 14 days
    await store.set_step_field(b2, "due_date", "2024-03-10", NOW)  # late: 5 days
    await store.set_step_field(a3, "due_date", "2024-03-01", NOW)  # done, so not late
    await store.remove_step(b1, NOW)
    await store.record_update(a1, ana, "done", None, datetime(2024, 1, 10, tzinfo=UTC))
    await store.record_update(a3, ana, "in_progress", None, datetime(2024, 1, 20, tzinfo=UTC))
    await store.record_update(a3, ana, "done", None, datetime(2024, 2, 5, tzinfo=UTC))
    await store.record_update(a3, ana, "done", None, datetime(2024, 3, 1, tzinfo=UTC))
    await store.record_update(b2, luis, "blocked", None, datetime(2024, 2, 1, tzinfo=UTC))
    await store.open_checkins([(p1, "m1", "scheduled"), (p2, "m1", "scheduled")], [], "s", NOW)
    await store.record_update(a2, ana, "in_progress", None, NOW + timedelta(minutes=1))
    await store.set_unreachable(2, NOW)
    data = await store.plan_data([workshop_id])
    figures = compute(data, {workshop_id: date(2024, 3, 15)}, NOW)
    assert figures.plans == 2 and figures.steps == 4
    assert figures.by_status == {
        StepStatus.NOT_STARTED: 0,
        StepStatus.IN_PROGRESS: 1,
        StepStatus.DONE: 2,
        StepStatus.BLOCKED: 1,
        StepStatus.DROPPED: 0,
    }
    assert figures.by_institution["Sacaba"][StepStatus.DONE] == 2
    assert figures.by_institution["Vinto"][StepStatus.BLOCKED] == 1
    assert [(o.step.action, o.days_late) for o in figures.overdue] == [("a2", 14), ("b2", 5)]
    assert (figures.checkins_sent, figures.checkins_answered) == (2, 1)
    assert figures.response_rate == 0.5
    assert (figures.members, figures.unreachable) == (2, 1)
    assert figures.sdgs == [(11, 2), (16, 1)]
    # The last update of B (1 Feb) is older than A's (today).
    assert [s.plan.title for s in figures.stalest] == ["B", "A"]
    months = dict(figures.done_by_month)
    # a1 done in January, a3 first done in February (its second "done" does not count).
    assert (months["2024-01"], months["2024-02"], months["2024-03"]) == (1, 1, 0)
    assert next(iter(months)) == "2023-12"
    assert figures.updates == 6


async def _never_submitted(ctx: Ctx, run: forms.Run) -> list[Event]:
    raise AssertionError("an update is never submitted")


async def test_evidence_over_the_download_limit_is_refused(svc: Services) -> None:
    store = svc.store
    workshop_id, ana, _ = await _setup(store)
    plan_id = await store.create_plan(workshop_id, ana, "Plan", NOW)
    await store.add_step(plan_id, "Paso", NOW)
    ctx = Ctx(svc, Actor(1, "Ana"), "es")
    plan = await store.plan(plan_id)
    assert plan is not None
    shown = [e for e in await checkins.start_update(ctx, plan) if isinstance(e, Send)]
    done = next(b.data for row in shown[-1].buttons or [] for b in row if "Hecho" in b.text)
    tap = parse(done or "")
    assert isinstance(tap, RUN_TAPS)
    await engine.on_callback(ctx, tap, 100, _never_submitted)
    waiting = dialogs.decode(await store.dialog(1))
    assert isinstance(waiting, engine.QuestionEvidence)
    big = Media("document", "FILE", None, "informe.pdf", engine.MAX_EVIDENCE_BYTES + 1)
    events = await dialogs.on_media(ctx, waiting, big)
    assert events is not None and "máximo es 20 MB" in str(getattr(events[0], "text", ""))
    voice = Media("voice", "VOICE", None, None, 1000)
    events = await dialogs.on_media(ctx, waiting, voice)
    assert events is not None
    assert "fotos, documentos o enlaces" in str(getattr(events[0], "text", ""))
    data_all = await store.plan_data([workshop_id])
    assert data_all.evidence == []
    assert [u.status for u in await store.step_history(plan.steps[0].id)] == [StepStatus.DONE]


async def test_forget_keeps_progress_but_not_what_identifies(store: Store) -> None:
    workshop_id, ana, luis = await _setup(store)
    plan_id = await store.create_plan(workshop_id, ana, "Plan", NOW)
    step = await store.add_step(plan_id, "Paso", NOW)
    await store.set_step_field(step, "responsible", "Ana Quispe y Luis Mamani", NOW)
    await store.add_member(plan_id, luis, NOW)
    await store.set_contact(plan_id, ana, "anaq", NOW)
    await store.set_contact(plan_id, luis, "luism", NOW)
    update = await store.record_update(step, ana, "done", None, NOW)
    await store.add_update_note(update, "Lo hizo Ana", 500)
    await store.add_evidence(
        update, "photo", file_id="F", url=None, file_name=None, file_size=10, now=NOW
    )
    mine = await store.export_user(1)
    assert mine["participations"][0]["action_plans"][0]["title"] == "Plan"
    assert mine["participations"][0]["plan_updates"][0]["note"] == "Lo hizo Ana"
    assert mine["participations"][0]["action_plans"][0]["contact_handle"] == "anaq"
    assert mine["participations"][0]["action_plans"][0]["contact_consent_at"] is not None
    await store.forget_user(1, NOW)
    # The co-owner still here takes the plan over, with its texts; Ana's traces go.
    data = await store.plan_data([workshop_id])
    assert data.plans[0].title == "Plan" and data.steps[0].action == "Paso"
    assert data.plans[0].institution == "Vinto"
    taken = await store.plan(plan_id)
    assert taken is not None and taken.owner_id == luis
    assert [(m.participant_id, m.role) for m in taken.members] == [(luis, "owner")]
    assert (taken.members[0].contact, taken.members[0].handle) == (True, "luism")
    assert data.steps[0].responsible is None
    assert data.updates[0].note is None and data.evidence == []
    assert [p.id for p in await store.plans_of(2)] == [plan_id]
    await store.forget_user(2, NOW)
    # Nobody is left: what was typed goes, the step and its status still count.
    data = await store.plan_data([workshop_id])
    assert [s.status for s in data.steps] == [StepStatus.DONE]
    assert data.plans[0].title == "" and data.steps[0].action == ""
    assert data.plans[0].institution == "Vinto"
    assert [m.role for m in data.members[plan_id]] == ["owner"]
    assert data.members[plan_id][0].telegram_id is None
    # The consent ends with the person: no handle is left to lead back to them.
    assert (data.members[plan_id][0].contact, data.members[plan_id][0].handle) == (False, None)
    assert await store.plans_of(1) == [] and await store.plans_of(2) == []


async def test_retention_purges_only_workshops_past_their_period(svc: Services) -> None:
    from bot.flows.retention import retention_tick

    store = svc.store
    spec = {
        "id": "w1",
        "language": "es",
        "title": {"es": "T", "en": "T"},
        "organizer": {"es": "O", "en": "O"},
        "timezone": "America/La_Paz",
        "start_date": "2023-11-28",
        "end_date": "2023-11-29",
        "retention_months": 12,
    }
    workshop, _ = await store.upsert_workshop(
        slug="w1",
        language="es",
        timezone="America/La_Paz",
        start_date=date(2023, 11, 28),
        end_date=date(2023, 11, 29),
        spec=spec,
        join_code="CODE1234567890abcd",
        now=NOW,
    )
    ana, _ = await store.join(workshop_id=workshop.id, telegram_id=1, language="es", now=NOW)
    await store.update_profile(ana.id, field="name", value="Ana Quispe")
    await store.update_profile(ana.id, field="institution", value="Sacaba")
    plan_id = await store.create_plan(workshop.id, ana.id, "Plan", NOW)
    step = await store.add_step(plan_id, "Paso", NOW)
    update = await store.record_update(step, ana.id, "done", None, NOW)
    await store.add_update_note(update, "nota de Ana", 500)
    # Off by default.
    assert await retention_tick(svc, datetime(2025, 1, 1, tzinfo=UTC)) == 0
    svc.retention = True
    # Twelve months after 29 Nov 2023 is 29 Nov 2024: kept through that day in La Paz.
    assert await retention_tick(svc, datetime(2024, 11, 30, 3, 0, tzinfo=UTC)) == 0
    assert await retention_tick(svc, datetime(2024, 11, 30, 12, 0, tzinfo=UTC)) == 1
    assert await retention_tick(svc, datetime(2024, 12, 30, 12, 0, tzinfo=UTC)) == 0
    left = await store.participant_by_id(ana.id)
    assert left is not None and left.name is None and left.telegram_id is None
    assert left.institution == "Sacaba"
    data = await store.plan_data([workshop.id])
    assert [s.status for s in data.steps] == [StepStatus.DONE]
    assert data.updates[0].note is None
    assert await store.user(1) is None


async def test_team_tokens_evidence_and_nudges(store: Store) -> None:
    workshop_id, ana, luis = await _setup(store)
    first = await store.create_plan(workshop_id, ana, "Uno", NOW)
    second = await store.create_plan(workshop_id, luis, "Dos", NOW)
    assert [p.id for p in await store.plans_in(workshop_id)] == [first, second]
    assert await store.plans_in(workshop_id + 100) == []
    await store.set_team_token(first, "team-1")
    await store.set_team_token(first, "team-2")
    assert await store.plan_by_team_token("team-1") is None
    found = await store.plan_by_team_token("team-2")
    assert found is not None and found.id == first and found.team_token == "team-2"
    step = await store.add_step(first, "Paso", NOW)
    update = await store.record_update(step, ana, "in_progress", None, NOW)
    evidence = await store.add_evidence(
        update,
        "document",
        file_id="DOC",
        url=None,
        file_name="informe.pdf",
        file_size=3_000_000_000,
        now=NOW,
    )
    item = await store.evidence_item(evidence)
    assert item is not None
    assert (item[0].file_id, item[0].file_name, item[0].update_id, item[1]) == (
        "DOC",
        "informe.pdf",
        update,
        workshop_id,
    )
    assert await store.evidence_item(evidence + 100) is None
    # A check-in opened by its scheduled occasion closes that occasion once.
    [occasion] = (
        await store.sync_schedule(
            workshop_id,
            [ScheduledItem("checkin:m1", "checkin", NOW, None, {})],
            NOW,
        )
    ).added
    [row] = await store.pending_schedule()
    message = OutMessage(chat_id=2, text="¿Cómo va?")
    opened = await store.open_checkins(
        [(second, "m1", "scheduled")], [message], "ci", NOW, scheduled_id=row.id
    )
    assert [c.plan_id for c in opened] == [second] and occasion == "checkin:m1"
    assert await store.open_checkins([(first, "m1", "scheduled")], [], "ci", NOW, row.id) == []
    assert await store.pending_schedule() == []
    checkin = await store.checkin(opened[0].id)
    assert checkin is not None and (checkin.occasion, checkin.answered_at) == ("m1", None)
    assert await store.checkin(opened[0].id + 100) is None
    nudge = [OutMessage(chat_id=2, text="¿Y?")]
    later = NOW + timedelta(days=7)
    assert await store.nudge_checkin(opened[0].id, nudge, later)
    assert not await store.nudge_checkin(opened[0].id, nudge, later)
    nudged = await store.checkin(opened[0].id)
    assert nudged is not None and nudged.nudged_at == later
    assert await store.checkins_to_nudge(later) == []
    assert await store.outbox_counts(f"cn:{opened[0].id}") == {"pending": 1}


async def test_a_late_first_answer_does_not_count_earlier_check_ins_as_answered(
    store: Store,
) -> None:
    workshop_id, ana, _ = await _setup(store)
    plan_id = await store.create_plan(workshop_id, ana, "Plan", NOW)
    step = await store.add_step(plan_id, "Paso", NOW)
    day = timedelta(days=1)
    await store.open_checkins([(plan_id, "m1", "scheduled")], [], "ci:m1", NOW)
    await store.open_checkins([(plan_id, "m3", "scheduled")], [], "ci:m3", NOW + 60 * day)
    # The first answer comes after the second request: it answers both in the store...
    await store.record_update(step, ana, "in_progress", None, NOW + 70 * day)
    data = await store.plan_data([workshop_id])
    assert all(c.answered_at is not None for c in data.checkins)
    # ...but only the second was answered in time.
    figures = compute(data, {workshop_id: date(2024, 6, 1)}, NOW + 70 * day)
    assert (figures.checkins_sent, figures.checkins_answered) == (2, 1)


async def test_times_compare_as_instants_whatever_their_offset(store: Store) -> None:
    # A check-in asked at 12:00 UTC is asked by 08:00 in La Paz (UTC-4), not after it.
    workshop_id, ana, _ = await _setup(store)
    plan_id = await store.create_plan(workshop_id, ana, "Plan", NOW)
    await store.open_checkins([(plan_id, "m1", "scheduled")], [], "ci:m1", NOW)
    la_paz = timezone(timedelta(hours=-4))
    assert len(await store.checkins_to_nudge(NOW.astimezone(la_paz))) == 1
    assert await store.checkins_to_nudge((NOW - timedelta(seconds=1)).astimezone(la_paz)) == []
    # Asked at 14:00 in Madrid (UTC+2), later than 12:00 UTC by the text, equal in time.
    madrid = timezone(timedelta(hours=2))
    other = await store.create_plan(workshop_id, ana, "Otro", NOW)
    await store.open_checkins([(other, "m2", "scheduled")], [], "ci:m2", NOW.astimezone(madrid))
    assert len(await store.checkins_to_nudge(NOW)) == 2
