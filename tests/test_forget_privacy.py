"""/forget leaves nothing that links back to the person: every cell of every table is read.

One person holds every role at once (participant of two workshops, plan owner alone and
with a team, co-owner, organizer, viewer, inviter, broadcaster), with words nobody else
uses. After /forget, no cell of any table the schema has, whatever its column, may hold
their Telegram id or one of those words; what others wrote and what aggregates count stays.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from storage import DialogState, OutMessage, ScheduledItem, StepStatus, Store, open_store
from storage.postgres import PostgresStore
from storage.sqlite import SqliteStore

NOW = datetime(2024, 3, 15, 14, 0, tzinfo=UTC)
LATER = NOW + timedelta(minutes=5)
ADMIN = 424_242
# Above 2**32, as Telegram ids now are; its digits appear nowhere else.
T = 5_550_123_987
OSCAR, XIMENA, VERA = 610_001, 610_002, 610_003

# Everything the person typed or is called, each string also found in no other data.
NAME = "Zenobia Quispe-Forget"
WORDS = {
    "name": NAME,
    "position": "Jefa Zenobiana de Sistemas",
    "typed answer": "Zenobia escribe: la ventanilla única de Quillacollo",
    "comment": "Comentario zenobiano sobre la sesión",
    "plan title": "Plan zenobiano de firma digital",
    "plan objective": "Objetivo zenobiano: trámites en línea",
    "step action": "Acción zenobiana: digitalizar expedientes",
    "step resources": "Recursos zenobianos",
    "step indicator": "Indicador zenobiano",
    "step success": "Éxito zenobiano",
    "responsible": f"{NAME} y Oscar",
    "step note": "Nota zenobiana del avance",
    "note on a team plan": "Nota zenobiana en el plan de Oscar",
    "evidence url": "https://example.org/zenobia-evidencia",
    "evidence file": "zenobia-informe.pdf",
    "evidence file id": "ZENOBIA-FILE-ID",
    "viewer name": "Zenobia (observadora)",
    "organizer name": "Zenobia Q. (organizadora)",
    "message to her": "Hola Zenobia, le recordamos su plan",
    "contact handle": "zenobia_quispe_tg",
}
# Choice answers, institution and country stay: aggregates count them.
HER_INSTITUTION = "Alcaldía de Sacaba"
# The plan she owns with a team: the team's once she goes, so these stay.
TEAM = {
    "title": "Plan del equipo de catastro",
    "objective": "Catastro en línea",
    "action": "Publicar el catastro",
}
OSCAR_PLAN = {
    "title": "Plan de Oscar",
    "objective": "Ventanilla de Oscar",
    "action": "Paso de Oscar",
}


@dataclass(frozen=True)
class Hit:
    """A cell that still holds the person."""

    table: str
    column: str
    value: str


@dataclass(frozen=True)
class Walk:
    """Every table and column the schema has, with the cells that hold the person."""

    tables: int
    columns: int
    cells: int
    hits: list[Hit]


async def read_everything(store: Store) -> dict[str, tuple[list[str], list[tuple[Any, ...]]]]:
    """Read every row of every table the database's schema lists, with its columns."""
    out: dict[str, tuple[list[str], list[tuple[Any, ...]]]] = {}
    if isinstance(store, SqliteStore):
        async with store._read() as db:
            names = await db.execute_fetchall(
                "SELECT name FROM sqlite_master WHERE type = 'table'"
                " AND name NOT LIKE 'sqlite_%' ORDER BY name"
            )
            for (table,) in names:
                info = await db.execute_fetchall("SELECT name FROM pragma_table_info(?)", (table,))
                columns = [c[0] for c in info]
                rows = await db.execute_fetchall(f'SELECT * FROM "{table}"')
                out[table] = (columns, [tuple(r) for r in rows])
        return out
    assert isinstance(store, PostgresStore)
    async with store._snapshot() as db:
        found = await db.fetch(
            "SELECT c.table_name, c.column_name FROM information_schema.columns c"
            " JOIN information_schema.tables t ON t.table_schema = c.table_schema"
            " AND t.table_name = c.table_name"
            " WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE'"
            " ORDER BY c.table_name, c.ordinal_position"
        )
        columns_of: dict[str, list[str]] = {}
        for r in found:
            columns_of.setdefault(r["table_name"], []).append(r["column_name"])
        for table, columns in columns_of.items():
            listed = ", ".join(f'"{c}"' for c in columns)
            records = await db.fetch(f'SELECT {listed} FROM "{table}"')
            out[table] = (columns, [tuple(r.values()) for r in records])
    return out


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


ID_IN_TEXT = re.compile(rf"(?<!\d){T}(?!\d)")


def holds_person(value: Any) -> bool:
    """Tell whether a cell holds the person: their id (as a number or in text) or their words."""
    if value is None or isinstance(value, bool | float):
        return False
    if isinstance(value, int):
        return value == T
    text = _text(value)
    folded = text.casefold()
    return bool(ID_IN_TEXT.search(text)) or any(w.casefold() in folded for w in WORDS.values())


async def walk(store: Store) -> Walk:
    """Look at every cell of every table for the person."""
    everything = await read_everything(store)
    hits = []
    cells = 0
    for table, (columns, rows) in everything.items():
        for row in rows:
            for column, value in zip(columns, row, strict=True):
                cells += 1
                if holds_person(value):
                    hits.append(Hit(table, column, _text(value)[:80]))
    return Walk(len(everything), sum(len(c) for c, _ in everything.values()), cells, hits)


async def _workshop(store: Store, slug: str, code: str) -> int:
    workshop, _ = await store.upsert_workshop(
        slug=slug,
        language="es",
        timezone="America/La_Paz",
        start_date=date(2024, 3, 1),
        end_date=date(2024, 3, 2),
        spec={"id": slug},
        join_code=code,
        now=NOW,
    )
    return workshop.id


async def _participant(
    store: Store, workshop_id: int, telegram_id: int, name: str, institution: str
) -> int:
    p, _ = await store.join(
        workshop_id=workshop_id, telegram_id=telegram_id, language="es", now=NOW
    )
    for field, value in (("name", name), ("institution", institution), ("country", "BO")):
        await store.update_profile(p.id, field=field, value=value)
    await store.mark_profile_done(p.id)
    return p.id


async def _dgca(store: Store, participant_id: int, choice: str, typed: str | None) -> int:
    r = await store.start_response(
        participant_id=participant_id,
        questionnaire_id="dgca",
        version=1,
        first_question="q1",
        now=NOW,
    )
    await store.record_answer(r.id, "q1", choice, next_question="q2", reviewing=False, now=NOW)
    await store.record_answer(r.id, "q2", ["a", "c"], next_question="q3", reviewing=False, now=NOW)
    if typed is not None:
        await store.record_answer(
            r.id, "q3", typed, next_question=None, reviewing=True, is_text=True, now=NOW
        )
    await store.submit_response(r.id, NOW)
    await store.save_dimension_scores(r.id, {"d1": float(choice), "d2": None})
    return r.id


@dataclass(frozen=True)
class World:
    """The ids the checks need."""

    w1: int
    w2: int
    association: int
    her: list[int]
    oscar: int
    ximena: int
    solo_plan: int
    solo_steps: list[int]
    team_plan: int
    oscar_plan: int
    broadcast: int


async def build(store: Store) -> World:
    """Make the person hold every role at once, among others who keep theirs."""
    w1 = await _workshop(store, "w1", "CODE1234567890aaaa")
    w2 = await _workshop(store, "w2", "CODE1234567890bbbb")
    association = await store.upsert_association("amb", "Asociación de municipios", NOW)
    await store.set_workshop_association(w1, association)

    her1 = await _participant(store, w1, T, NAME, HER_INSTITUTION)
    her2 = await _participant(store, w2, T, NAME, HER_INSTITUTION)
    for p in (her1, her2):
        await store.update_profile(p, field="position", value=WORDS["position"])
    oscar = await _participant(store, w1, OSCAR, "Oscar Mamani", "Alcaldía de Vinto")
    ximena = await _participant(store, w1, XIMENA, "Ximena Rojas", "Alcaldía de Tiquipaya")
    await store.set_user_language(T, "es", NOW)
    await store.set_user_timezone(T, "America/La_Paz", NOW)
    await store.set_active_workshop(T, w1, NOW)

    r1 = await _dgca(store, her1, "4", WORDS["typed answer"])
    await _dgca(store, her2, "2", WORDS["typed answer"])
    await _dgca(store, oscar, "3", "Oscar escribe lo suyo")
    await store.set_dialog(
        T, DialogState.QUESTION_TEXT, {"response_id": r1, "question_id": "q3"}, NOW
    )
    await store.rate_session(her1, w1, "s1", 5, NOW)
    await store.comment_session(her1, "s1", WORDS["comment"])
    await store.rate_session(oscar, w1, "s1", 3, NOW)

    # A plan of her own, with every field typed, an update, a note and evidence.
    solo = await store.create_plan(w1, her1, WORDS["plan title"], NOW)
    await store.set_plan_field(solo, "objective", WORDS["plan objective"], NOW)
    await store.set_plan_field(solo, "sdgs", "9,16", NOW)
    await store.set_team_token(solo, "team-token-solo")
    assert await store.set_contact(solo, her1, WORDS["contact handle"], NOW)
    steps = [await store.add_step(solo, WORDS["step action"], NOW) for _ in range(2)]
    for field, key in (
        ("resources", "step resources"),
        ("indicator", "step indicator"),
        ("success", "step success"),
        ("responsible", "responsible"),
    ):
        await store.set_step_field(steps[0], field, WORDS[key], NOW)
    await store.set_step_field(steps[0], "due_date", "2024-02-01", NOW)
    update = await store.record_update(steps[0], her1, StepStatus.IN_PROGRESS.value, None, NOW)
    assert await store.add_update_note(update, WORDS["step note"], 500)
    await store.add_evidence(
        update,
        "document",
        file_id=WORDS["evidence file id"],
        url=None,
        file_name=WORDS["evidence file"],
        file_size=1234,
        now=NOW,
    )
    await store.add_evidence(
        update,
        "link",
        file_id=None,
        url=WORDS["evidence url"],
        file_name=None,
        file_size=None,
        now=NOW,
    )
    await store.open_checkins(
        [(solo, "m3", "scheduled")],
        [OutMessage(T, f"{WORDS['message to her']}: {WORDS['plan title']}", her1)],
        f"ci:{w1}:m3",
        NOW,
    )

    # A plan she owns with Oscar (the earliest co-owner) and Ximena.
    team = await store.create_plan(w1, her1, TEAM["title"], NOW)
    await store.set_plan_field(team, "objective", TEAM["objective"], NOW)
    team_step = await store.add_step(team, TEAM["action"], NOW)
    await store.set_step_field(team_step, "responsible", WORDS["responsible"], NOW)
    await store.set_team_token(team, "team-token-team")
    assert await store.add_member(team, oscar, NOW)
    assert await store.add_member(team, ximena, LATER)
    await store.record_update(team_step, oscar, StepStatus.DONE.value, None, NOW)

    # Oscar's plan, which she co-owns and updates.
    theirs = await store.create_plan(w1, oscar, OSCAR_PLAN["title"], NOW)
    await store.set_plan_field(theirs, "objective", OSCAR_PLAN["objective"], NOW)
    oscar_step = await store.add_step(theirs, OSCAR_PLAN["action"], NOW)
    assert await store.add_member(theirs, her1, NOW)
    assert await store.set_contact(theirs, her1, WORDS["contact handle"], NOW)
    her_update = await store.record_update(oscar_step, her1, "blocked", None, NOW)
    assert await store.add_update_note(her_update, WORDS["note on a team plan"], 500)
    oscar_update = await store.record_update(oscar_step, oscar, "in_progress", None, LATER)
    assert await store.add_update_note(oscar_update, "Oscar sigue", 500)

    # Organizer through an invitation; she invites Ximena in turn.
    await store.create_organizer_invite("org-for-her", w1, ADMIN, NOW)
    assert (await store.use_organizer_invite("org-for-her", T, WORDS["organizer name"], NOW, NOW))[
        0
    ] == "ok"
    await store.create_organizer_invite("org-by-her", w1, T, NOW)
    assert (await store.use_organizer_invite("org-by-her", XIMENA, "Ximena", NOW, NOW))[0] == "ok"
    await store.set_organizer_chat(w1, T)
    broadcast = await store.create_broadcast(w1, T, "all", NOW)
    await store.update_broadcast(
        broadcast, text="Mañana empezamos a las 9", progress_chat_id=T, progress_message_id=77
    )
    assert await store.start_broadcast(
        broadcast,
        [OutMessage(OSCAR, "Mañana empezamos a las 9", oscar), OutMessage(T, "Mañana", her1)],
        NOW,
    )

    # Viewer through an invitation; she adds Oscar and invites Vera.
    await store.create_viewer_invite("view-for-her", association, ADMIN, NOW)
    assert (await store.use_viewer_invite("view-for-her", T, WORDS["viewer name"], NOW))[0] == "ok"
    assert await store.add_viewer(association, OSCAR, T, NOW)
    await store.create_viewer_invite("view-by-her", association, T, NOW)
    assert (await store.use_viewer_invite("view-by-her", VERA, "Vera", NOW))[0] == "ok"
    await store.record_digest(
        association, T, "2024-03", {"plans": 3}, OutMessage(T, "Resumen de marzo"), NOW
    )

    # Messages to her: one sent, one waiting, one not tied to a participation (the digest).
    await store.enqueue("rem:1", [OutMessage(T, WORDS["message to her"], her1)], NOW)
    await store.enqueue("rem:2", [OutMessage(T, WORDS["message to her"], her2)], NOW)
    for row in await store.pending_outbox(100):
        if row.source in ("rem:1", f"bc:{broadcast}"):
            await store.finish_outbox(row.id, "sent", NOW)
    await store.sync_schedule(
        w1, [ScheduledItem("dgca_open", "dgca_open", LATER, None, {"days": 1})], NOW
    )
    return World(
        w1, w2, association, [her1, her2], oscar, ximena, solo, steps, team, theirs, broadcast
    )


async def _aggregates(store: Store, world: World) -> dict[str, Any]:
    """Return what reports count, without what /forget may erase (typed text)."""
    sets = await store.answer_sets(world.w1, "dgca")
    data = await store.plan_data([world.w1])
    return {
        "answers": sorted(
            (
                s.participant_id,
                s.institution,
                s.submitted_at,
                repr({q: v for q, v in s.answers.items() if q != "q3"}),
            )
            for s in sets
        ),
        "means": await store.group_dimension_means(world.w1, "dgca"),
        "ratings": sorted(
            (r.participant_id, r.rating) for r in await store.session_ratings(world.w1)
        ),
        # Not the plans' institutions: a plan passed on counts for its new owner's.
        "plans": sorted((p.id, p.sdgs) for p in data.plans),
        "steps": sorted(
            (s.id, s.plan_id, s.position, s.status, s.due_date, s.removed) for s in data.steps
        ),
        "updates": sorted((u.id, u.step_id, u.author_id, u.status) for u in data.updates),
        "checkins": sorted((c.plan_id, c.occasion) for c in data.checkins),
    }


async def test_forget_leaves_no_cell_that_links_back(any_store: Store) -> None:
    store = any_store
    world = await build(store)
    before = await walk(store)
    # The walk can fail: before /forget it finds the person all over the schema.
    found = {h.table for h in before.hits}
    assert found >= {
        "participants",
        "users",
        "dialogs",
        "answers",
        "session_feedback",
        "plans",
        "plan_steps",
        "step_updates",
        "update_evidence",
        "organizers",
        "organizer_invites",
        "viewer_invites",
        "association_viewers",
        "digests",
        "outbox",
        "broadcasts",
        "workshops",
    }, found
    kept_before = await _aggregates(store, world)

    assert await store.forget_user(T, NOW) == 2

    after = await walk(store)
    assert after.hits == []
    assert (after.tables, after.columns) == (before.tables, before.columns)
    assert await _aggregates(store, world) == kept_before


async def test_forget_keeps_what_is_others_and_what_counts(any_store: Store) -> None:
    store = any_store
    world = await build(store)
    await store.forget_user(T, NOW)

    # Others keep their names and plans.
    oscar = await store.participant_by_id(world.oscar)
    assert oscar is not None and oscar.name == "Oscar Mamani" and oscar.telegram_id == OSCAR
    theirs = await store.plan(world.oscar_plan)
    assert theirs is not None
    assert (theirs.title, theirs.objective) == (OSCAR_PLAN["title"], OSCAR_PLAN["objective"])
    assert [s.action for s in theirs.steps] == [OSCAR_PLAN["action"]]
    assert [(m.participant_id, m.role) for m in theirs.members] == [(world.oscar, "owner")]
    history = await store.step_history(theirs.steps[0].id)
    assert [(u.status, u.note) for u in history] == [
        (StepStatus.BLOCKED, None),
        (StepStatus.IN_PROGRESS, "Oscar sigue"),
    ]

    # Her team's plan is Oscar's now (the earliest co-owner), with its texts.
    team = await store.plan(world.team_plan)
    assert team is not None and team.owner_id == world.oscar
    assert [(m.participant_id, m.role) for m in team.members] == [
        (world.oscar, "owner"),
        (world.ximena, "coowner"),
    ]
    assert (team.title, team.objective) == (TEAM["title"], TEAM["objective"])
    assert [(s.action, s.responsible, s.status) for s in team.steps] == [
        (TEAM["action"], None, StepStatus.DONE)
    ]
    assert team.team_token is None
    assert [p.id for p in await store.plans_of(OSCAR)] == [world.team_plan, world.oscar_plan]

    # Her participations stay, anonymous, with what aggregates count.
    for participant_id in world.her:
        anon = await store.participant_by_id(participant_id)
        assert anon is not None
        assert (anon.telegram_id, anon.name, anon.position) == (None, None, None)
        assert (anon.institution, anon.country) == (HER_INSTITUTION, "BO")

    # Her own plan: what was typed is gone, the steps and their statuses count on.
    solo = await store.plan(world.solo_plan)
    assert solo is not None and solo.owner_id == world.her[0]
    assert [s.id for s in solo.steps] == world.solo_steps
    assert (solo.title, solo.objective, solo.sdgs, solo.team_token) == ("", None, (9, 16), None)
    assert [(s.action, s.responsible, s.resources, s.indicator, s.success) for s in solo.steps] == [
        ("", None, None, None, None)
    ] * 2
    assert [(s.status, s.due_date) for s in solo.steps] == [
        (StepStatus.IN_PROGRESS, date(2024, 2, 1)),
        (StepStatus.NOT_STARTED, None),
    ]
    assert [m.telegram_id for m in solo.members] == [None]

    # Her roles are over; what she created or used stays, without her.
    assert not await store.is_organizer(world.w1, T)
    assert await store.organizers_of(world.w1) == [XIMENA]
    assert await store.viewer_associations(T) == []
    assert sorted(v.telegram_id for v in await store.viewers_of(world.association)) == [
        OSCAR,
        VERA,
    ]
    for token in ("org-for-her", "org-by-her"):
        assert (await store.use_organizer_invite(token, 610_009, None, NOW, NOW))[0] == "used"
    for token in ("view-for-her", "view-by-her"):
        assert (await store.use_viewer_invite(token, 610_009, "Otra", NOW))[0] == "used"
        assert (await store.use_viewer_invite(token, T, "Otra vez", NOW))[0] == "used"
    broadcast = await store.broadcast(world.broadcast)
    assert broadcast is not None and broadcast.created_by == 0
    assert broadcast.progress_chat_id is None and broadcast.progress_message_id is None
    assert await store.outbox_counts(f"bc:{world.broadcast}") == {"sent": 1}
    workshop = await store.workshop(world.w1)
    assert workshop is not None and workshop.organizer_chat_id is None
    assert [r.message.chat_id for r in await store.pending_outbox(100)] == []
    assert await store.user(T) is None and await store.dialog(T) is None
    assert await store.last_digest(world.association, T) is None
    export = await store.export_user(T)
    assert export["participations"] == [] and export["association_viewer"] == []

    # She can come back as someone new.
    again, created = await store.join(workshop_id=world.w1, telegram_id=T, language="es", now=NOW)
    assert created and again.id not in world.her and again.name is None
    assert [p.id for p, _ in await store.participations(T)] == [again.id]
    assert await store.plans_of(T) == []


async def test_forget_leaves_no_word_in_the_sqlite_file(tmp_path: Path) -> None:
    path = tmp_path / "bot.sqlite3"
    store = await open_store(f"sqlite:///{path}")
    try:
        await build(store)
        await store.forget_user(T, NOW)
        kept = b"".join(
            p.read_bytes()
            for p in tmp_path.iterdir()  # noqa: ASYNC240
            if p.name.startswith("bot.sqlite3")
        )
    finally:
        await store.close()
    left = [w for w in WORDS.values() if w.encode() in kept]
    assert left == []


async def test_purge_erases_plans_left_with_nobody(any_store: Store) -> None:
    store = any_store
    world = await build(store)
    assert await store.purge_workshop(world.w1, NOW) == 3
    data = await store.plan_data([world.w1])
    # Everyone in the workshop is gone: no plan has a co-owner left to take it over.
    assert {p.title for p in data.plans} == {""}
    assert {s.action for s in data.steps} == {""}
    assert [s.status for s in data.steps] == [
        StepStatus.IN_PROGRESS,
        StepStatus.NOT_STARTED,
        StepStatus.DONE,
        StepStatus.IN_PROGRESS,
    ]
    # Only what the workshop's participants were sent goes: not her other workshop's, nor
    # her digest as a viewer.
    assert sorted(r.source for r in await store.pending_outbox(100)) == [
        f"dg:{world.association}:2024-03",
        "rem:2",
    ]
    assert await store.outbox_counts(f"bc:{world.broadcast}") == {}
