"""`python -m bot db copy`: a deployment moved SQLite → PostgreSQL → SQLite reads back the same."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.content import Content, load_workshop_file
from bot.flows.workshops import import_workshop
from storage import BroadcastStatus, DialogState, OutMessage, StorageError, Store, open_store
from storage.copy import copy_database
from tests.e2e.harness import COCHABAMBA
from tests.support import FakeClock, make_services

ANA, LUIS, ROSA, GONE = 101, 102, 103, 104
ORGANIZER, VIEWER = 900, 800
PEOPLE = (ANA, LUIS, ROSA, GONE, ORGANIZER, VIEWER)
# The last moment anything in the source happened; far enough to ask "what is due".
LATER = datetime(2025, 1, 1, tzinfo=UTC)


def in_schema(url: str, schema: str) -> str:
    """Return the test server's URL with `schema` first on the search path."""
    separator = "&" if "?" in url else "?"
    # asyncpg hands query parameters it does not know to the server as settings.
    return f"{url}{separator}search_path={schema}"


@pytest.fixture
async def pg_url(pg_schema: tuple[str, str]) -> AsyncIterator[str]:
    url, schema = pg_schema
    yield in_schema(url, schema)


async def build_source(url: str, content: Content) -> None:
    """Fill a database the way a workshop does, through the Store only."""
    store = await open_store(url)
    try:
        await _fill(store, content)
    finally:
        await store.close()


async def _fill(store: Store, content: Content) -> None:
    clock = FakeClock()
    svc = make_services(store, content, clock)
    spec = load_workshop_file(COCHABAMBA)
    workshop = (await import_workshop(svc, spec, str(COCHABAMBA), clock.now())).workshop
    assert workshop.association_id is not None
    now = clock.now
    people = {}
    for tid, name in [(ANA, "Ana Quispe"), (LUIS, "Luis Mamani"), (ROSA, "Rosa"), (GONE, "X")]:
        participant, _ = await store.join(
            workshop_id=workshop.id, telegram_id=tid, language="es", now=now()
        )
        await store.update_profile(participant.id, field="name", value=name)
        await store.update_profile(participant.id, field="institution", value="GAM de Sacaba")
        await store.mark_profile_done(participant.id)
        people[tid] = participant
        clock.advance(minutes=3)
    await store.set_user_timezone(ANA, "America/La_Paz", now())
    # A programme: two events with their own join codes; GONE's enrolment outlives /forget.
    await store.set_event_codes(
        workshop.id, {"tot_online": "event-code-online", "tot_presencial": "event-code-pres"}
    )
    await store.add_event_members(people[ANA].id, ["tot_online", "tot_presencial"], now())
    await store.add_event_members(people[LUIS].id, ["tot_online"], now())
    await store.add_event_members(people[GONE].id, ["tot_presencial"], now())
    await store.set_dialog(ROSA, DialogState.JOIN_CONSENT, {"workshop_id": workshop.id}, now())
    await store.set_reminders_muted(people[ROSA].id, True)
    await store.set_unreachable(ROSA, now())

    # The DGCA: Luis submitted it, Ana is halfway, with a live message.
    dgca = content.questionnaires["dgca"]
    questions = [slot.question.id for slot in dgca.slots()]
    for tid, count in [(LUIS, len(questions)), (ANA, len(questions) // 2)]:
        response = await store.start_response(
            participant_id=people[tid].id,
            questionnaire_id="dgca",
            version=dgca.version,
            first_question=questions[0],
            now=now(),
        )
        for i, question in enumerate(questions[:count]):
            following = questions[i + 1] if i + 1 < len(questions) else None
            clock.advance(seconds=7)
            await store.record_answer(
                response.id,
                question,
                str(1 + i % 5),
                next_question=following,
                reviewing=following is None,
                now=now(),
            )
        if count == len(questions):
            assert await store.submit_response(response.id, now())
            # Binary fractions: means come out the same whatever order a backend sums in.
            await store.save_dimension_scores(
                response.id, {s.id: 0.5 + 0.25 * n for n, s in enumerate(dgca.sections)}
            )
        else:
            await store.set_live_message(response.id, 4242)
    await store.rate_session(people[ANA].id, workshop.id, "sdgs", 5, now())
    assert await store.comment_session(people[ANA].id, "sdgs", "muy útil")

    # Roles: an organizer with a name, an invitation, the organizers' group; a viewer.
    await store.add_organizer(workshop.id, ORGANIZER, now(), name="Olga")
    await store.create_organizer_invite("org-invite-1", workshop.id, ORGANIZER, now())
    await store.set_organizer_chat(workshop.id, -1001234567890)
    await store.add_viewer(workshop.association_id, VIEWER, ORGANIZER, now())
    await store.create_viewer_invite("viewer-invite-1", workshop.association_id, VIEWER, now())
    digest = OutMessage(chat_id=VIEWER, text="Resumen de noviembre")
    assert await store.record_digest(
        workshop.association_id, VIEWER, "2023-11", {"plans": 1, "late": [1]}, digest, now()
    )

    # A plan with steps, a co-owner, updates with a note and evidence, and a check-in.
    plan_id = await store.create_plan(workshop.id, people[ANA].id, "Ventanilla única", now())
    await store.set_plan_field(plan_id, "objective", "Trámites en línea", now())
    await store.set_plan_field(plan_id, "sdgs", "9,16", now())
    first = await store.add_step(plan_id, "Diagnóstico de trámites", now())
    second = await store.add_step(plan_id, "Piloto en dos distritos", now())
    dropped = await store.add_step(plan_id, "Paso descartado", now())
    await store.set_step_field(first, "due_date", "2024-01-31", now())
    await store.set_step_field(second, "responsible", "Luis", now())
    await store.set_step_field(second, "due_date", "2024-03-15", now())
    assert await store.remove_step(dropped, now())
    await store.set_team_token(plan_id, "team-token-1")
    assert await store.add_member(plan_id, people[LUIS].id, now())
    clock.advance(days=30)
    asked = OutMessage(chat_id=ANA, text="¿Cómo va el plan?", participant_id=people[ANA].id)
    [checkin] = await store.open_checkins([(plan_id, "m1", "scheduled")], [asked], "ci:m1", now())
    update = await store.record_update(first, people[ANA].id, "done", checkin.id, now())
    assert await store.add_update_note(update, "Terminado en diciembre", 500)
    await store.add_evidence(
        update,
        "link",
        file_id=None,
        url="https://example.org/informe.pdf",
        file_name=None,
        file_size=None,
        now=now(),
    )
    await store.record_update(second, people[LUIS].id, "blocked", None, now())

    # What waits to go out: reminders of the schedule, one done; a broadcast; the outbox.
    pending = await store.pending_schedule()
    assert len(pending) > 3
    sent = OutMessage(chat_id=ANA, text="Mañana empieza el taller", participant_id=people[ANA].id)
    assert await store.complete_scheduled(pending[0].id, "done", [sent], now())
    broadcast = await store.create_broadcast(workshop.id, ORGANIZER, "all", now())
    await store.update_broadcast(
        broadcast,
        text="Hola a todos",
        status=BroadcastStatus.SCHEDULED,
        scheduled_at=now() + timedelta(hours=2),
    )
    buttons = [[{"text": "Sí", "callback_data": "y"}]]
    await store.enqueue(
        "manual:1",
        [OutMessage(chat_id=LUIS, text="¿Vienes?", buttons=buttons), OutMessage(ANA, "Hola")],
        now(),
    )
    assert await store.forget_user(GONE, now()) == 1

    # A stopped webhook deployment: an instance's last heartbeat, its lease, an update it had
    # received and not handled yet, and a message it had claimed.
    await store.heartbeat("web-1", now(), now() + timedelta(seconds=10))
    assert await store.acquire_lease("delivery", "web-1", now())
    body = '{"update_id": 77, "message": {"text": "hola"}}'
    assert await store.inbox_put(77, ANA, body, now())
    assert await store.inbox_claim("web-1", now(), 10)
    assert await store.claim_outbox("web-1", 1, now())


async def picture(url: str) -> dict[str, Any]:
    """Read back, through the Store, what a moved deployment must keep."""
    store = await open_store(url)
    try:
        return await _read(store)
    finally:
        await store.close()


async def _read(store: Store) -> dict[str, Any]:
    [workshop] = await store.all_workshops()
    assert workshop.association_id is not None
    plans = await store.plans_in(workshop.id)
    steps = [s for p in plans for s in p.steps]
    found: dict[str, Any] = {
        "workshop": workshop,
        "join link": await store.workshop_by_code(workshop.join_code),
        "event codes": await store.event_codes(workshop.id),
        "event link": await store.workshop_by_event_code("event-code-pres"),
        "event members": await store.event_members(workshop.id),
        "plans": plans,
        "team link": await store.plan_by_team_token("team-token-1"),
        "histories": [await store.step_history(s.id) for s in steps],
        "plan data": await store.plan_data([workshop.id]),
        "schedule": await store.schedule_of(workshop.id),
        "pending reminders": await store.pending_schedule(),
        "outbox": await store.pending_outbox(1000),
        "broadcasts": await store.broadcasts_with_status(*BroadcastStatus),
        "organizers": await store.organizer_roster(workshop.id),
        "invites": await store.pending_organizer_invites(
            workshop.id, datetime(2000, 1, 1, tzinfo=UTC)
        ),
        "viewers": await store.viewers_of(workshop.association_id),
        "digest": await store.last_digest(workshop.association_id, VIEWER),
        "ratings": await store.session_ratings(workshop.id),
        "recipients": await store.recipients(workshop.id, "dgca", "evaluation"),
        "dgca answers": await store.answer_sets(workshop.id, "dgca"),
        "dgca means": await store.group_dimension_means(workshop.id, "dgca"),
        "checkins to nudge": await store.checkins_to_nudge(LATER),
        "overdue": await store.overdue_steps(date(2024, 12, 31)),
        "delivery lease": await store.lease_holder("delivery"),
        "unhandled updates": [
            (r.update_id, r.person, json.loads(r.body))
            for r in await store.inbox_claim("reader", LATER, 100)
        ],
    }
    for tid in PEOPLE:
        found[f"user {tid}"] = await store.user(tid)
        found[f"dialog {tid}"] = await store.dialog(tid)
        found[f"plans of {tid}"] = await store.plans_of(tid)
        participations = await store.participations(tid)
        found[f"participations {tid}"] = participations
        for participant, _ in participations:
            response = await store.find_response(participant.id, "dgca")
            found[f"dgca of {tid}"] = response
            if response is not None:
                found[f"answers of {tid}"] = await store.answers(response.id)
                found[f"run state of {tid}"] = await store.run_state(response.id, tid)
    return found


async def writes_after_the_copy(url: str) -> None:
    """Check that the bot adds rows to every numbered table of the copy without collisions."""
    store = await open_store(url)
    try:
        [workshop] = await store.all_workshops()
        now = LATER
        before = await store.participations(ANA)
        again, new = await store.join(
            workshop_id=workshop.id, telegram_id=ANA, language="es", now=now
        )
        assert not new and again.id == before[0][0].id
        newcomer, new = await store.join(
            workshop_id=workshop.id, telegram_id=555, language="es", now=now
        )
        assert new and newcomer.id > max(p.id for p, _ in before)
        # Enrolments came over with their keys: a repeat adds nothing, a new one is added.
        assert await store.add_event_members(again.id, ["tot_online", "sdg_day"], now) == [
            "sdg_day"
        ]
        [plan] = await store.plans_of(ANA)
        plan_id = await store.create_plan(workshop.id, newcomer.id, "Otro plan", now)
        assert plan_id > plan.id
        step = await store.add_step(plan_id, "Primer paso", now)
        assert step > max(s.id for s in plan.steps)
        update = await store.record_update(step, newcomer.id, "in_progress", None, now)
        await store.add_evidence(
            update,
            "link",
            file_id=None,
            url="https://x.org",
            file_name=None,
            file_size=None,
            now=now,
        )
        await store.open_checkins([(plan_id, "m1", "scheduled")], [], "ci:new", now)
        assert await store.enqueue("after-copy", [OutMessage(chat_id=555, text="Hola")], now) == 1
        broadcast = await store.create_broadcast(workshop.id, ORGANIZER, "all", now)
        assert broadcast > 1
        response = await store.start_response(
            participant_id=newcomer.id,
            questionnaire_id="dgca",
            version=1,
            first_question="q",
            now=now,
        )
        assert response.id > 2
        assert await store.upsert_association("otra", "Otra asociación", now) > 1
    finally:
        await store.close()


async def test_sqlite_to_postgres_and_back_reads_the_same(
    tmp_path: Path, pg_url: str, content: Content
) -> None:
    source = f"sqlite:///{tmp_path / 'source.sqlite3'}"
    back = f"sqlite:///{tmp_path / 'back' / 'bot.sqlite3'}"
    await build_source(source, content)
    expected = await picture(source)
    assert len(expected["pending reminders"]) > 3 and expected["outbox"]
    assert expected["plans"][0].steps and expected["dgca answers"]
    assert expected["event link"] == (expected["workshop"], "tot_presencial")
    assert sorted(map(len, expected["event members"].values())) == [1, 1, 2]

    seen: list[tuple[str, int]] = []
    started = time.monotonic()
    there = await copy_database(source, pg_url, progress=lambda t, n: seen.append((t, n)))
    assert time.monotonic() - started < 30
    assert list(there.counts) == seen
    tables = dict(there.counts)
    # Parents before children: the order comes from the foreign keys.
    order = [t for t, _ in there.counts]
    assert order.index("workshops") < order.index("participants") < order.index("answers")
    assert order.index("plans") < order.index("plan_steps") < order.index("step_updates")
    assert tables["workshops"] == 1 and tables["participants"] == 4
    assert tables["answers"] > 50 and tables["scheduled"] == len(expected["schedule"])
    assert "schema_migrations" not in tables
    assert tables["event_codes"] == 2 and tables["event_members"] == 4
    assert order.index("participants") < order.index("event_members")
    assert order.index("workshops") < order.index("event_codes")
    empty = [t for t, n in there.counts if not n]
    assert not empty, f"build_source writes no row in {empty}: the copy of them goes untested"
    assert await picture(pg_url) == expected

    home = await copy_database(pg_url, back)
    assert home.counts == there.counts
    # Shown with -s: what this data set measures on this machine.
    print(
        f"\ndb copy of {there.total} rows in {len(there.counts)} tables:"
        f" SQLite → PostgreSQL {there.seconds:.2f} s, PostgreSQL → SQLite {home.seconds:.2f} s;"
        f" {', '.join(f'{t} {n}' for t, n in there.counts if n)}"
    )
    assert await picture(back) == expected

    # Identity sequences were moved past the copied ids: the bot writes new rows.
    await writes_after_the_copy(pg_url)
    await writes_after_the_copy(back)


async def test_a_target_with_rows_is_refused_untouched(
    tmp_path: Path, pg_url: str, content: Content
) -> None:
    source = f"sqlite:///{tmp_path / 'source.sqlite3'}"
    await build_source(source, content)
    store = await open_store(pg_url)
    try:
        await store.upsert_association("fam", "FAM", LATER)
    finally:
        await store.close()
    with pytest.raises(StorageError, match="not empty: table associations has 1 row "):
        await copy_database(source, pg_url)

    occupied = tmp_path / "occupied.sqlite3"
    await build_source(f"sqlite:///{occupied}", content)
    before = occupied.read_bytes()
    with pytest.raises(StorageError, match="not empty: table "):
        await copy_database(source, str(occupied))
    assert occupied.read_bytes() == before
    with pytest.raises(StorageError, match="same database"):
        await copy_database(source, source)
    with pytest.raises(StorageError, match="does not exist"):
        await copy_database(str(tmp_path / "nothing.sqlite3"), str(tmp_path / "x.sqlite3"))
    assert not (tmp_path / "nothing.sqlite3").exists()


def _raw(path: Path, sql: str) -> None:
    """Change a source file behind the Store's back, as another release or a hand edit would."""
    conn = sqlite3.connect(path)
    try:
        conn.execute(sql)
        conn.commit()
    finally:
        conn.close()


async def _is_empty(url: str) -> bool:
    store = await open_store(url)
    try:
        return not await store.all_workshops() and not await store.all_associations()
    finally:
        await store.close()


async def test_a_schema_mismatch_is_refused_by_name(
    tmp_path: Path, pg_url: str, content: Content
) -> None:
    path = tmp_path / "source.sqlite3"
    await build_source(f"sqlite:///{path}", content)
    # A column one backend's migrations add and the other's do not.
    _raw(path, "ALTER TABLE plans ADD COLUMN colour TEXT")
    with pytest.raises(StorageError, match=r"column plans\.colour only in the source"):
        await copy_database(str(path), pg_url)
    assert await _is_empty(pg_url)

    _raw(
        path,
        "DELETE FROM schema_migrations"
        " WHERE version = (SELECT MAX(version) FROM schema_migrations)",
    )
    with pytest.raises(StorageError, match="start this release of the bot on it once"):
        await copy_database(str(path), str(tmp_path / "copy.sqlite3"))


async def test_a_failure_half_way_leaves_the_target_empty(
    tmp_path: Path, pg_url: str, content: Content
) -> None:
    path = tmp_path / "source.sqlite3"
    await build_source(f"sqlite:///{path}", content)
    # Steps come after workshops, people and plans: those rows were written, then rolled back.
    _raw(path, "UPDATE plan_steps SET due_date = 'pronto' WHERE due_date IS NOT NULL")
    with pytest.raises(StorageError, match=r"plan_steps\.due_date value 'pronto'.*no rows"):
        await copy_database(str(path), pg_url)
    assert await _is_empty(pg_url)
    copied = await copy_database(str(path), str(tmp_path / "copy.sqlite3"))
    assert dict(copied.counts)["plan_steps"] == 3
