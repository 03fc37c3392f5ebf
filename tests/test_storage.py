"""Contract tests every Store backend must pass."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import asyncpg
import pytest

from storage import (
    BroadcastStatus,
    DialogState,
    OutMessage,
    ScheduledItem,
    StorageError,
    Store,
    open_store,
)
from storage.migrate import migrations
from storage.postgres import PostgresStore
from storage.sqlite import SqliteStore

NOW = datetime(2023, 11, 20, 12, 0, tzinfo=UTC)


@pytest.fixture
def store(any_store: Store) -> Store:
    """Run every test here that asks for `store` on each backend."""
    return any_store


async def execute_raw(store: Store, sql: str) -> None:
    """Run SQL past the interface, as an older release or someone at a console would."""
    assert isinstance(store, SqliteStore | PostgresStore)
    async with store._tx() as db:
        await db.execute(sql)


async def _workshop(store: Store, slug: str = "w1", code: str = "CODE1234567890abcd"):
    workshop, created = await store.upsert_workshop(
        slug=slug,
        language="es",
        timezone="America/La_Paz",
        start_date=date(2023, 11, 28),
        end_date=date(2023, 11, 29),
        spec={"id": slug},
        join_code=code,
        now=NOW,
    )
    return workshop, created


async def test_migrations_are_numbered_and_recorded(store: Store) -> None:
    assert [n for n, _, _ in migrations()] == list(range(1, len(migrations()) + 1))
    assert isinstance(store, SqliteStore | PostgresStore)
    folder = "migrations" if isinstance(store, SqliteStore) else "migrations_pg"
    assert await store.schema_version() == len(migrations(folder))


async def test_reopening_applies_no_migration_twice(db_url: str) -> None:
    first = await open_store(db_url)
    await _workshop(first)
    await first.close()
    second = await open_store(db_url)
    assert (await second.workshop_by_slug("w1")) is not None
    await second.close()


async def test_upsert_workshop_keeps_identity(store: Store) -> None:
    w1, created = await _workshop(store)
    assert created
    w2, created_again = await _workshop(store)
    assert not created_again
    assert w2.id == w1.id
    assert (await store.workshop_by_code("CODE1234567890abcd")) == w2
    assert await store.workshop_by_code("nope") is None


async def test_join_is_idempotent(store: Store) -> None:
    workshop, _ = await _workshop(store)
    p1, new1 = await store.join(workshop_id=workshop.id, telegram_id=7, language="es", now=NOW)
    p2, new2 = await store.join(workshop_id=workshop.id, telegram_id=7, language="en", now=NOW)
    assert new1 and not new2
    assert p1.id == p2.id
    user = await store.user(7)
    assert user is not None
    assert user.language == "es"  # joining again does not override a chosen language
    assert user.active_workshop_id == workshop.id


async def test_one_person_in_two_workshops(store: Store) -> None:
    w1, _ = await _workshop(store, "w1", "CODE1234567890aaaa")
    w2, _ = await _workshop(store, "w2", "CODE1234567890bbbb")
    await store.join(workshop_id=w1.id, telegram_id=7, language="es", now=NOW)
    await store.join(workshop_id=w2.id, telegram_id=7, language="es", now=NOW)
    parts = await store.participations(7)
    assert {w.slug for _, w in parts} == {"w1", "w2"}


async def test_profile_fields_and_unknown_field(store: Store) -> None:
    workshop, _ = await _workshop(store)
    p, _ = await store.join(workshop_id=workshop.id, telegram_id=7, language="es", now=NOW)
    await store.update_profile(p.id, field="institution", value="GAM de Sacaba")
    await store.mark_profile_done(p.id)
    again = await store.participant_by_id(p.id)
    assert again is not None and again.institution == "GAM de Sacaba" and again.profile_done
    with pytest.raises(ValueError):
        await store.update_profile(p.id, field="telegram_id", value="1")


async def test_dialog_roundtrip_and_unknown_state(store: Store) -> None:
    await store.set_dialog(7, DialogState.PROFILE_NAME, {"participant_id": 3}, NOW)
    dialog = await store.dialog(7)
    assert dialog is not None and dialog.state is DialogState.PROFILE_NAME
    assert dialog.data == {"participant_id": 3}
    await store.clear_dialog(7)
    assert await store.dialog(7) is None
    # A state written by another release is ignored rather than crashing.
    await execute_raw(
        store,
        "INSERT INTO dialogs (telegram_id, state, data_json, updated_at)"
        " VALUES (8, 'x', '{}', CURRENT_TIMESTAMP)",
    )
    assert await store.dialog(8) is None


async def test_answers_upsert_and_submit_once(store: Store) -> None:
    workshop, _ = await _workshop(store)
    p, _ = await store.join(workshop_id=workshop.id, telegram_id=7, language="es", now=NOW)
    r = await store.start_response(
        participant_id=p.id, questionnaire_id="dgca", version=1, first_question="a", now=NOW
    )
    again = await store.start_response(
        participant_id=p.id, questionnaire_id="dgca", version=1, first_question="a", now=NOW
    )
    assert again.id == r.id
    await store.record_answer(r.id, "a", "5", next_question="b", reviewing=False, now=NOW)
    await store.record_answer(r.id, "a", "4", next_question="b", reviewing=False, now=NOW)
    await store.record_answer(r.id, "b", ["x", "y"], next_question=None, reviewing=True, now=NOW)
    assert await store.answers(r.id) == {"a": "4", "b": ["x", "y"]}
    current = await store.response(r.id)
    assert current is not None and current.current_question is None and current.reviewing
    await store.record_answer(r.id, "b", None, next_question="b", reviewing=True, now=NOW)
    assert await store.answers(r.id) == {"a": "4"}
    assert await store.submit_response(r.id, NOW)
    assert not await store.submit_response(r.id, NOW)
    done = await store.response(r.id)
    assert done is not None and done.submitted


async def test_forget_keeps_choice_answers_anonymous(store: Store) -> None:
    workshop, _ = await _workshop(store)
    p, _ = await store.join(workshop_id=workshop.id, telegram_id=7, language="es", now=NOW)
    await store.update_profile(p.id, field="name", value="Ana Quispe")
    r = await store.start_response(
        participant_id=p.id, questionnaire_id="q", version=1, first_question="a", now=NOW
    )
    await store.record_answer(r.id, "a", "5", next_question="t", reviewing=False, now=NOW)
    await store.record_answer(
        r.id, "t", "my own words", next_question=None, reviewing=True, is_text=True, now=NOW
    )
    exported = await store.export_user(7)
    assert exported["participations"][0]["name"] == "Ana Quispe"
    assert await store.forget_user(7, NOW) == 1
    assert await store.user(7) is None
    assert await store.participations(7) == []
    anon = await store.participant_by_id(p.id)
    assert anon is not None and anon.name is None and anon.telegram_id is None
    assert await store.answers(r.id) == {"a": "5"}
    empty = await store.export_user(7)
    assert empty["participations"] == [] and empty["user"] is None


async def test_concurrent_units_of_work_do_not_interleave(store: Store) -> None:
    workshop, _ = await _workshop(store)
    p, _ = await store.join(workshop_id=workshop.id, telegram_id=7, language="es", now=NOW)
    r = await store.start_response(
        participant_id=p.id, questionnaire_id="q", version=1, first_question="q0", now=NOW
    )
    await asyncio.gather(
        *(
            store.record_answer(
                r.id, f"q{i}", str(i % 5), next_question=None, reviewing=False, now=NOW
            )
            for i in range(200)
        )
    )
    answers = await store.answers(r.id)
    assert len(answers) == 200


async def test_failed_unit_of_work_is_rolled_back(store: Store) -> None:
    assert isinstance(store, SqliteStore | PostgresStore)
    with pytest.raises(RuntimeError):
        async with store._tx() as db:
            await db.execute(
                "INSERT INTO users (telegram_id, created_at, updated_at)"
                " VALUES (1, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
            )
            raise RuntimeError("boom")
    assert await store.user(1) is None


async def test_run_state_reads_a_response_with_its_context(store: Store) -> None:
    workshop, _ = await _workshop(store)
    p, _ = await store.join(workshop_id=workshop.id, telegram_id=7, language="es", now=NOW)
    r = await store.start_response(
        participant_id=p.id, questionnaire_id="q", version=2, first_question="a", now=NOW
    )
    await store.record_answer(r.id, "a", "5", next_question="b", reviewing=False, now=NOW)
    await store.set_dialog(7, DialogState.QUESTION_MULTI, {"selected": ["x"]}, NOW)
    state = await store.run_state(r.id, 7)
    assert state is not None
    assert (state.response.id, state.response.version, state.response.current_question) == (
        r.id,
        2,
        "b",
    )
    assert state.participant.id == p.id and state.workshop.id == workshop.id
    assert state.answers == {"a": "5"}
    assert state.dialog is not None and state.dialog.data == {"selected": ["x"]}
    # Another person's dialog is never read with the response.
    other = await store.run_state(r.id, 8)
    assert other is not None and other.dialog is None
    assert await store.run_state(r.id + 100, 7) is None


async def test_a_draft_response_is_rekeyed_or_discarded(store: Store) -> None:
    workshop, _ = await _workshop(store)
    p, _ = await store.join(workshop_id=workshop.id, telegram_id=7, language="es", now=NOW)
    draft = await store.start_response(
        participant_id=p.id, questionnaire_id="plan@new", version=1, first_question="t", now=NOW
    )
    await store.record_answer(draft.id, "t", "Título", next_question=None, reviewing=False, now=NOW)
    await store.rekey_response(draft.id, "plan@12")
    assert await store.find_response(p.id, "plan@new") is None
    moved = await store.find_response(p.id, "plan@12")
    assert moved is not None and moved.id == draft.id
    assert await store.answers(draft.id) == {"t": "Título"}
    # A new draft of the same form starts afresh, then is thrown away with its answers.
    again = await store.start_response(
        participant_id=p.id, questionnaire_id="plan@new", version=1, first_question="t", now=NOW
    )
    assert again.id != draft.id
    await store.record_answer(again.id, "t", "Otro", next_question=None, reviewing=False, now=NOW)
    await store.discard_response(again.id)
    assert await store.find_response(p.id, "plan@new") is None
    assert await store.answers(again.id) == {}
    # A submitted response is never discarded.
    assert await store.submit_response(draft.id, NOW)
    await store.discard_response(draft.id)
    assert await store.find_response(p.id, "plan@12") is not None


async def test_one_trip_unit_rolls_back_as_a_whole(sqlite_store: Store) -> None:
    store = sqlite_store
    assert isinstance(store, SqliteStore)

    def work(db: sqlite3.Connection) -> None:
        db.execute("INSERT INTO users (telegram_id, created_at, updated_at) VALUES (1, '', '')")
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        await store._unit(work)
    assert await store.user(1) is None
    # The connection is usable afterwards, with no transaction left open.
    await store.set_dialog(1, DialogState.PROFILE_NAME, {}, NOW)
    assert await store.dialog(1) is not None


async def test_one_trip_unit_waits_out_a_lock(
    sqlite_store: Store, db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    store = sqlite_store
    assert isinstance(store, SqliteStore)
    other = sqlite3.connect(db_url.removeprefix("sqlite:///"), isolation_level=None)
    other.execute("PRAGMA busy_timeout = 0")
    other.execute("BEGIN IMMEDIATE")
    store_busy = store._conn.execute("PRAGMA busy_timeout = 50")
    await store_busy

    async def release_later() -> None:
        await asyncio.sleep(0.3)
        other.execute("COMMIT")

    releasing = asyncio.create_task(release_later())
    await store.set_dialog(5, DialogState.PROFILE_NAME, {"n": 1}, NOW)
    await releasing
    other.close()
    dialog = await store.dialog(5)
    assert dialog is not None and dialog.data == {"n": 1}
    assert "database busy, retrying" in caplog.text


async def test_unwritable_database_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(StorageError, match="not writable"):
        await open_store(f"sqlite:///{blocker}/sub/bot.sqlite3")
    with pytest.raises(StorageError, match="unsupported"):
        await open_store("mysql://x")


async def test_group_dimension_means_count_submitted_responses_only(store: Store) -> None:
    workshop, _ = await _workshop(store)
    responses = []
    for telegram_id in (1, 2, 3):
        person, _ = await store.join(
            workshop_id=workshop.id, telegram_id=telegram_id, language="es", now=NOW
        )
        response = await store.start_response(
            participant_id=person.id,
            questionnaire_id="dgca",
            version=1,
            first_question="q1",
            now=NOW,
        )
        responses.append(response.id)
    await store.submit_response(responses[0], NOW)
    await store.submit_response(responses[1], NOW)
    assert await store.unscored_responses(workshop.id, "dgca") == responses[:2]
    await store.save_dimension_scores(responses[0], {"a": 4.0, "b": None})
    await store.save_dimension_scores(responses[1], {"a": 2.0, "b": 3.0})
    await store.save_dimension_scores(responses[2], {"a": 1.0, "b": 1.0})  # not submitted
    assert await store.unscored_responses(workshop.id, "dgca") == []
    people, means = await store.group_dimension_means(workshop.id, "dgca")
    assert people == 2
    assert means == {"a": (3.0, 2), "b": (3.0, 1)}


# The rest of the interface, method by method, on every backend.

HOUR = timedelta(hours=1)


async def _person(store: Store, workshop_id: int, telegram_id: int):
    person, _ = await store.join(
        workshop_id=workshop_id, telegram_id=telegram_id, language="es", now=NOW
    )
    return person


async def _later_workshop(store: Store):
    """Return a second workshop, in May 2024, after the one `_workshop` makes."""
    workshop, _ = await store.upsert_workshop(
        slug="new",
        language="en",
        timezone="UTC",
        start_date=date(2024, 5, 1),
        end_date=date(2024, 5, 2),
        spec={"id": "new", "nested": {"list": [1, 2]}},
        join_code="CODE1234567890bbbb",
        now=NOW,
    )
    return workshop


async def test_workshop_lookups_and_organizers(store: Store) -> None:
    old, _ = await _workshop(store, "old", "CODE1234567890aaaa")
    new = await _later_workshop(store)
    assert await store.workshop(new.id) == new and new.spec["nested"] == {"list": [1, 2]}
    assert await store.workshop_by_slug("old") == old
    assert await store.workshop(new.id + 100) is None and await store.workshop_by_slug("x") is None
    assert [w.slug for w in await store.all_workshops()] == ["new", "old"]
    await store.add_organizer(old.id, 50, NOW)
    await store.add_organizer(old.id, 50, NOW + HOUR)
    await store.add_organizer(old.id, 51, NOW + HOUR)
    await store.add_organizer(new.id, 50, NOW)
    assert await store.organizers_of(old.id) == [50, 51]
    assert await store.is_organizer(old.id, 51) and not await store.is_organizer(new.id, 51)
    assert [w.slug for w in await store.organizer_workshops(50)] == ["new", "old"]
    await store.set_organizer_chat(old.id, -100123456789012)
    await store.set_evaluation_opened(old.id, NOW)
    again = await store.workshop(old.id)
    assert again is not None and again.organizer_chat_id == -100123456789012
    assert again.evaluation_opened_at == NOW
    await store.set_organizer_chat(old.id, None)
    unlinked = await store.workshop(old.id)
    assert unlinked is not None and unlinked.organizer_chat_id is None


async def test_organizer_invite_is_used_once(any_store: Store) -> None:
    store = any_store
    workshop, _ = await _workshop(store)
    await store.create_organizer_invite("tok", workshop.id, 1, NOW)
    assert await store.pending_organizer_invites(workshop.id, NOW) == [NOW]
    assert await store.use_organizer_invite("tok", 60, "Olga", NOW, NOW) == ("ok", workshop.id)
    assert await store.use_organizer_invite("tok", 61, "Eve", NOW, NOW) == ("used", workshop.id)
    assert await store.use_organizer_invite("nope", 61, None, NOW, NOW) == ("unknown", None)
    assert await store.organizers_of(workshop.id) == [60]
    assert [(o.telegram_id, o.name) for o in await store.organizer_roster(workshop.id)] == [
        (60, "Olga")
    ]
    assert await store.pending_organizer_invites(workshop.id, NOW) == []


async def test_organizer_invites_expire_and_can_be_revoked(any_store: Store) -> None:
    store = any_store
    workshop, _ = await _workshop(store)
    later = NOW + timedelta(days=8)
    await store.create_organizer_invite("old", workshop.id, 1, NOW)
    await store.create_organizer_invite("new", workshop.id, 1, later)
    await store.create_organizer_invite("kept", workshop.id, 1, later)
    week_before = later - timedelta(days=7)
    # Only invitations created within the validity window count as pending.
    assert await store.pending_organizer_invites(workshop.id, week_before) == [later, later]
    assert await store.use_organizer_invite("old", 60, None, later, week_before) == (
        "expired",
        workshop.id,
    )
    assert await store.revoke_organizer_invites(workshop.id, later) == 3
    assert await store.use_organizer_invite("new", 61, None, later, week_before) == (
        "revoked",
        workshop.id,
    )
    assert await store.pending_organizer_invites(workshop.id, week_before) == []
    assert await store.organizers_of(workshop.id) == []
    # Revoking again finds nothing; a used invitation is never revoked.
    assert await store.revoke_organizer_invites(workshop.id, later) == 0


async def test_removing_an_organizer(any_store: Store) -> None:
    store = any_store
    workshop, _ = await _workshop(store)
    await store.add_organizer(workshop.id, 60, NOW, "Olga")
    await store.add_organizer(workshop.id, 61, NOW + timedelta(seconds=1))
    assert [o.telegram_id for o in await store.organizer_roster(workshop.id)] == [60, 61]
    assert await store.remove_organizer(workshop.id, 60)
    assert not await store.remove_organizer(workshop.id, 60)
    assert not await store.is_organizer(workshop.id, 60)
    assert [(o.telegram_id, o.name) for o in await store.organizer_roster(workshop.id)] == [
        (61, None)
    ]


async def test_event_codes_are_replaced_and_lead_to_their_event(any_store: Store) -> None:
    store = any_store
    w1, _ = await _workshop(store, "w1", "CODE1234567890aaaa")
    w2, _ = await _workshop(store, "w2", "CODE1234567890bbbb")
    await store.set_event_codes(w1.id, {"tot_online": "EV-ONLINE", "tot_presencial": "EV-PRES"})
    await store.set_event_codes(w2.id, {"tot_online": "EV-W2"})
    assert await store.event_codes(w1.id) == {
        "tot_online": "EV-ONLINE",
        "tot_presencial": "EV-PRES",
    }
    assert await store.workshop_by_event_code("EV-PRES") == (w1, "tot_presencial")

    # A second set replaces the workshop's codes, and only that workshop's.
    await store.set_event_codes(w1.id, {"tot_online": "EV-ONLINE-2", "sdg_day": "EV-SDG"})
    assert await store.event_codes(w1.id) == {"tot_online": "EV-ONLINE-2", "sdg_day": "EV-SDG"}
    assert await store.workshop_by_event_code("EV-ONLINE-2") == (w1, "tot_online")
    assert await store.workshop_by_event_code("EV-SDG") == (w1, "sdg_day")
    assert await store.workshop_by_event_code("EV-ONLINE") is None
    assert await store.workshop_by_event_code("EV-PRES") is None
    assert await store.event_codes(w2.id) == {"tot_online": "EV-W2"}
    assert await store.workshop_by_event_code("EV-W2") == (w2, "tot_online")

    # Unknown codes, and a workshop's own join code, lead to no event.
    assert await store.workshop_by_event_code("nope") is None
    assert await store.workshop_by_event_code(w1.join_code) is None
    assert await store.event_codes(999) == {}

    # A code another workshop holds is refused, and the replacement is undone as a whole.
    with pytest.raises((sqlite3.IntegrityError, asyncpg.UniqueViolationError)):
        await store.set_event_codes(w1.id, {"tot_online": "EV-NEW", "sdg_day": "EV-W2"})
    assert await store.event_codes(w1.id) == {"tot_online": "EV-ONLINE-2", "sdg_day": "EV-SDG"}

    await store.set_event_codes(w1.id, {})
    assert await store.event_codes(w1.id) == {}
    assert await store.workshop_by_event_code("EV-SDG") is None


async def test_event_members_enrol_once_per_event_within_their_workshop(
    any_store: Store,
) -> None:
    store = any_store
    w1, _ = await _workshop(store, "w1", "CODE1234567890aaaa")
    w2, _ = await _workshop(store, "w2", "CODE1234567890bbbb")
    ana, _ = await store.join(workshop_id=w1.id, telegram_id=7, language="es", now=NOW)
    luis, _ = await store.join(workshop_id=w1.id, telegram_id=8, language="es", now=NOW)
    await store.join(workshop_id=w1.id, telegram_id=9, language="es", now=NOW)
    elsewhere, _ = await store.join(workshop_id=w2.id, telegram_id=7, language="es", now=NOW)
    later = NOW + timedelta(days=1)

    added = await store.add_event_members(ana.id, ["tot_online", "sdg_day"], NOW)
    assert added == ["tot_online", "sdg_day"]
    # Only what is new comes back, in the order asked, each event once.
    again = ["sdg_day", "tot_presencial", "tot_online", "tot_presencial", "a_event"]
    assert await store.add_event_members(ana.id, again, later) == ["tot_presencial", "a_event"]
    assert await store.add_event_members(ana.id, ["tot_online"], later) == []
    assert await store.add_event_members(ana.id, [], later) == []
    assert await store.add_event_members(luis.id, ["tot_online"], NOW) == ["tot_online"]
    assert await store.add_event_members(elsewhere.id, ["tot_online"], NOW) == ["tot_online"]

    # Per workshop: the other workshop's participant is not in it, nor anyone in no event.
    expected = {
        ana.id: frozenset({"tot_online", "sdg_day", "tot_presencial", "a_event"}),
        luis.id: frozenset({"tot_online"}),
    }
    assert await store.event_members(w1.id) == expected
    assert await store.event_members(w2.id) == {elsewhere.id: frozenset({"tot_online"})}
    assert await store.event_members(999) == {}
    # One person's, without reading the whole workshop's.
    assert await store.events_of(ana.id) == expected[ana.id]
    assert await store.events_of(elsewhere.id) == frozenset({"tot_online"})
    assert await store.events_of(999) == frozenset()

    # Enrolling again keeps the first enrolment's time; the person's export lists them.
    exported = await store.export_user(7)
    mine = {p["workshop"]: p["events"] for p in exported["participations"]}
    assert mine["w1"] == [
        {"event": "a_event", "joined_at": later.isoformat()},
        {"event": "sdg_day", "joined_at": NOW.isoformat()},
        {"event": "tot_online", "joined_at": NOW.isoformat()},
        {"event": "tot_presencial", "joined_at": later.isoformat()},
    ]
    assert mine["w2"] == [{"event": "tot_online", "joined_at": NOW.isoformat()}]

    # A forgotten participant stays enrolled: the rows hold nothing about the person.
    assert await store.forget_user(8, NOW) == 1
    assert await store.event_members(w1.id) == expected


async def test_user_preferences_create_the_user(store: Store) -> None:
    workshop, _ = await _workshop(store)
    await store.set_user_language(9, "en", NOW)
    await store.set_user_timezone(9, "Europe/Madrid", NOW)
    await store.set_active_workshop(9, workshop.id, NOW)
    await store.set_user_language(9, "es", NOW)
    user = await store.user(9)
    assert user is not None
    assert (user.language, user.timezone, user.active_workshop_id) == (
        "es",
        "Europe/Madrid",
        workshop.id,
    )
    # Telegram ids go past 32 bits.
    await store.set_user_language(7_000_000_001, "en", NOW)
    big = await store.user(7_000_000_001)
    assert big is not None and big.language == "en"


async def test_recipients_show_progress_mute_and_reachability(store: Store) -> None:
    workshop, _ = await _workshop(store)
    ana = await _person(store, workshop.id, 1)
    luis = await _person(store, workshop.id, 2)
    gone = await _person(store, workshop.id, 3)
    assert await store.participant(workshop.id, 1) == ana
    assert await store.participant(workshop.id, 99) is None
    await store.update_profile(ana.id, field="institution", value="Sacaba")
    dgca = await store.start_response(
        participant_id=ana.id, questionnaire_id="dgca", version=1, first_question="a", now=NOW
    )
    await store.submit_response(dgca.id, NOW)
    await store.start_response(
        participant_id=luis.id, questionnaire_id="eval", version=1, first_question="a", now=NOW
    )
    await store.set_reminders_muted(luis.id, True)
    await store.set_unreachable(2, NOW)
    await store.forget_user(3, NOW)
    found = {r.participant_id: r for r in await store.recipients(workshop.id, "dgca", "eval")}
    assert set(found) == {ana.id, luis.id} and gone.id not in found
    assert found[ana.id].dgca_done and not found[ana.id].evaluation_done
    assert found[ana.id].institution == "Sacaba" and found[ana.id].language == "es"
    assert found[luis.id].muted and found[luis.id].unreachable
    assert not found[luis.id].evaluation_done
    await store.set_unreachable(2, None)
    await store.set_reminders_muted(luis.id, False)
    luis_now = await store.participant_by_id(luis.id)
    assert luis_now is not None and not luis_now.unreachable and not luis_now.reminders_muted


async def test_find_move_reopen_and_answer_sets(store: Store) -> None:
    workshop, _ = await _workshop(store)
    ana = await _person(store, workshop.id, 1)
    luis = await _person(store, workshop.id, 2)
    await store.update_profile(luis.id, field="institution", value="Vinto")
    assert await store.find_response(ana.id, "dgca") is None
    r = await store.start_response(
        participant_id=ana.id, questionnaire_id="dgca", version=1, first_question="a", now=NOW
    )
    assert await store.find_response(ana.id, "dgca") == r
    await store.move_to(r.id, "c", reviewing=True, now=NOW)
    await store.reopen_response(r.id, 2, NOW)
    moved = await store.response(r.id)
    assert moved is not None and (moved.current_question, moved.reviewing, moved.version) == (
        "c",
        True,
        2,
    )
    await store.record_answer(r.id, "a", "5", next_question="b", reviewing=False, now=NOW)
    await store.record_answer(r.id, "b", ["x"], next_question=None, reviewing=True, now=NOW + HOUR)
    await store.submit_response(r.id, NOW + HOUR)
    await store.reopen_response(r.id, 3, NOW)  # submitted: stays on its version
    done = await store.response(r.id)
    assert done is not None and done.version == 2 and done.submitted_at == NOW + HOUR
    await store.start_response(
        participant_id=luis.id, questionnaire_id="dgca", version=1, first_question="a", now=NOW
    )
    sets = {s.participant_id: s for s in await store.answer_sets(workshop.id, "dgca")}
    assert sets[ana.id].answers == {"a": "5", "b": ["x"]}
    assert sets[ana.id].answered_at == {"a": NOW, "b": NOW + HOUR}
    assert sets[ana.id].submitted_at == NOW + HOUR
    assert sets[luis.id].answers == {} and sets[luis.id].institution == "Vinto"
    assert sets[luis.id].submitted_at is None
    assert await store.answer_sets(workshop.id, "eval") == []


async def test_session_ratings_change_and_take_a_comment(store: Store) -> None:
    workshop, _ = await _workshop(store)
    ana = await _person(store, workshop.id, 1)
    luis = await _person(store, workshop.id, 2)
    assert not await store.comment_session(ana.id, "s1", "no rating yet")
    await store.rate_session(ana.id, workshop.id, "s2", 3, NOW)
    await store.rate_session(ana.id, workshop.id, "s1", 2, NOW)
    await store.rate_session(ana.id, workshop.id, "s1", 5, NOW)
    await store.rate_session(luis.id, workshop.id, "s1", 4, NOW)
    assert await store.comment_session(ana.id, "s1", "muy útil")
    ratings = await store.session_ratings(workshop.id)
    assert [(r.participant_id, r.session_id, r.rating, r.comment) for r in ratings] == [
        (ana.id, "s1", 5, "muy útil"),
        (luis.id, "s1", 4, None),
        (ana.id, "s2", 3, None),
    ]
    # One person's, without reading the whole workshop's.
    assert await store.ratings_of(ana.id) == {"s1": 5, "s2": 3}
    assert await store.ratings_of(luis.id) == {"s1": 4}
    assert await store.ratings_of(999) == {}


def _item(key: str, due: datetime, payload: dict | None = None) -> ScheduledItem:
    return ScheduledItem(key, "reminder", due, due + HOUR, payload or {"k": key})


async def test_schedule_sync_touches_only_what_changed(store: Store) -> None:
    workshop, _ = await _workshop(store)
    first = await store.sync_schedule(
        workshop.id, [_item("b", NOW + 2 * HOUR), _item("a", NOW + HOUR), _item("c", NOW)], NOW
    )
    assert sorted(first.added) == ["a", "b", "c"] and not first.changed and not first.removed
    assert [s.key for s in await store.pending_schedule()] == ["c", "a", "b"]
    c = next(s for s in await store.schedule_of(workshop.id) if s.key == "c")
    assert c.payload == {"k": "c"} and c.expires_at == NOW + HOUR
    message = OutMessage(chat_id=1, text="recordatorio", participant_id=None)
    assert await store.complete_scheduled(c.id, "done", [message], NOW)
    assert not await store.complete_scheduled(c.id, "done", [message], NOW)
    assert [s.key for s in await store.pending_schedule()] == ["a", "b"]
    second = await store.sync_schedule(
        workshop.id,
        [_item("a", NOW + HOUR), _item("b", NOW + 3 * HOUR), _item("c", NOW + 5 * HOUR)],
        NOW,
    )
    assert (second.added, sorted(second.changed), second.removed) == ([], ["b", "c"], [])
    # The sent occasion moved to the future is due again, and its new reminder is queued anew.
    moved = next(s for s in await store.schedule_of(workshop.id) if s.key == "c")
    assert moved.status == "pending" and moved.due_at == NOW + 5 * HOUR
    assert await store.complete_scheduled(moved.id, "done", [message], NOW + 5 * HOUR)
    assert len(await store.pending_outbox(10)) == 2
    third = await store.sync_schedule(workshop.id, [_item("c", NOW + 5 * HOUR)], NOW)
    assert sorted(third.removed) == ["a", "b"]
    assert [s.key for s in await store.schedule_of(workshop.id)] == ["c"]
    assert await store.pending_schedule() == []


async def test_occasions_closed_together_queue_one_message_or_nothing(store: Store) -> None:
    workshop, _ = await _workshop(store)
    await store.sync_schedule(workshop.id, [_item("a", NOW), _item("b", NOW), _item("c", NOW)], NOW)
    rows = {s.key: s for s in await store.schedule_of(workshop.id)}
    merged = [OutMessage(chat_id=1, text="a y b"), OutMessage(chat_id=2, text="b")]
    closes = [(rows["a"].id, "done"), (rows["b"].id, "skipped")]
    assert await store.complete_scheduled_together(closes, merged, NOW)
    assert [(p.message.chat_id, p.message.text) for p in await store.pending_outbox(10)] == [
        (1, "a y b"),
        (2, "b"),
    ]
    statuses = {s.key: s.status for s in await store.schedule_of(workshop.id)}
    assert statuses == {"a": "done", "b": "skipped", "c": "pending"}
    # One of them closed already (another instance took it): nothing changes, nothing is sent.
    again = [(rows["c"].id, "done"), (rows["a"].id, "done")]
    assert not await store.complete_scheduled_together(again, merged, NOW)
    assert [s.key for s in await store.pending_schedule()] == ["c"]
    assert len(await store.pending_outbox(10)) == 2
    assert not await store.complete_scheduled_together([], merged, NOW)


async def test_outbox_sends_each_chat_once_per_source(store: Store) -> None:
    buttons = [[{"text": "Sí", "callback_data": "y"}]]
    messages = [
        OutMessage(chat_id=1, text="uno", participant_id=None, buttons=buttons),
        OutMessage(chat_id=2, text="dos", media_kind="photo", media_file_id="F"),
        OutMessage(chat_id=1, text="otra vez"),
        OutMessage(chat_id=-1001234567890, text="grupo"),
    ]
    assert await store.enqueue("src", messages, NOW) == 3
    assert await store.enqueue("src", messages[:1], NOW) == 0
    assert await store.enqueue("other", messages[:1], NOW) == 1
    pending = await store.pending_outbox(10)
    assert [(p.source, p.message.chat_id) for p in pending] == [
        ("src", 1),
        ("src", 2),
        ("src", -1001234567890),
        ("other", 1),
    ]
    assert pending[0].message.buttons == buttons and pending[0].message.text == "uno"
    assert pending[1].message.media_file_id == "F" and pending[1].attempts == 0
    assert [p.id for p in await store.pending_outbox(2, after_id=pending[0].id)] == [
        pending[1].id,
        pending[2].id,
    ]
    assert await store.retry_outbox(pending[0].id, "timeout") == 1
    assert await store.retry_outbox(pending[0].id, "timeout") == 2
    assert await store.retry_outbox(pending[0].id + 1000, "gone") == 0
    await store.finish_outbox(pending[0].id, "sent", NOW)
    await store.finish_outbox(pending[0].id, "failed", NOW, "too late")  # already finished
    await store.finish_outbox(pending[1].id, "unreachable", NOW, "blocked")
    assert await store.outbox_counts("src") == {"sent": 1, "unreachable": 1, "pending": 1}
    assert await store.cancel_outbox("src") == 1
    assert await store.cancel_outbox("src") == 0
    assert await store.outbox_counts("src") == {"sent": 1, "unreachable": 1, "cancelled": 1}
    assert [p.source for p in await store.pending_outbox(10)] == ["other"]


async def test_broadcast_lifecycle(store: Store) -> None:
    workshop, _ = await _workshop(store)
    b = await store.create_broadcast(workshop.id, 50, "all", NOW)
    draft = await store.broadcast(b)
    assert draft is not None and draft.status is BroadcastStatus.DRAFT and draft.text is None
    await store.update_broadcast(
        b,
        text="Hola",
        audience="institution",
        audience_arg="Sacaba",
        status=BroadcastStatus.SCHEDULED,
        scheduled_at=NOW + HOUR,
        progress_chat_id=50,
        progress_message_id=7,
    )
    with pytest.raises(ValueError):
        await store.update_broadcast(b, workshop_id=1)
    scheduled = await store.broadcast(b)
    assert scheduled is not None
    assert (scheduled.text, scheduled.audience, scheduled.audience_arg) == (
        "Hola",
        "institution",
        "Sacaba",
    )
    assert scheduled.scheduled_at == NOW + HOUR and scheduled.progress_message_id == 7
    other = await store.create_broadcast(workshop.id, 50, "all", NOW)
    assert [x.id for x in await store.broadcasts_with_status(BroadcastStatus.SCHEDULED)] == [b]
    both = await store.broadcasts_with_status(BroadcastStatus.SCHEDULED, BroadcastStatus.DRAFT)
    assert [x.id for x in both] == [b, other]
    messages = [OutMessage(chat_id=1, text="Hola"), OutMessage(chat_id=2, text="Hola")]
    assert await store.start_broadcast(b, messages, NOW)
    assert not await store.start_broadcast(b, messages, NOW)
    sending = await store.broadcast(b)
    assert sending is not None and sending.status is BroadcastStatus.SENDING
    assert await store.outbox_counts(f"bc:{b}") == {"pending": 2}
    assert await store.broadcast(other + 100) is None


async def test_associations_viewers_and_invites(store: Store) -> None:
    w1, _ = await _workshop(store, "w1", "CODE1234567890aaaa")
    w2, _ = await _workshop(store, "w2", "CODE1234567890bbbb")
    fam = await store.upsert_association("fam", "FAM Bolivia", NOW)
    assert await store.upsert_association("fam", "FAM de Bolivia", NOW) == fam
    amb = await store.upsert_association("amb", "AMB", NOW)
    assert [a.name for a in await store.all_associations()] == ["AMB", "FAM de Bolivia"]
    found = await store.association(fam)
    assert found is not None and (found.slug, found.name) == ("fam", "FAM de Bolivia")
    assert await store.association(fam + amb + 100) is None
    await store.set_workshop_association(w1.id, fam)
    await store.set_workshop_association(w2.id, fam)
    await store.set_workshop_association(w2.id, None)
    assert [w.slug for w in await store.association_workshops(fam)] == ["w1"]
    linked = await store.workshop(w1.id)
    assert linked is not None and linked.association_id == fam
    assert await store.add_viewer(fam, 70, 1, NOW)
    assert not await store.add_viewer(fam, 70, 1, NOW)
    assert await store.add_viewer(amb, 70, 1, NOW)
    assert [a.slug for a in await store.viewer_associations(70)] == ["amb", "fam"]
    assert await store.set_digest(fam, 70, False)
    assert not await store.set_digest(fam, 71, False)
    assert [(v.telegram_id, v.digest) for v in await store.viewers_of(fam)] == [(70, False)]
    assert await store.remove_viewer(amb, 70)
    assert not await store.remove_viewer(amb, 70)
    await store.create_viewer_invite("vt", fam, 1, NOW)
    assert await store.use_viewer_invite("vt", 71, "Rosa", NOW) == ("ok", fam)
    assert await store.use_viewer_invite("vt", 71, "Rosa", NOW) == ("already", fam)
    assert await store.use_viewer_invite("vt", 72, "Otro", NOW) == ("used", fam)
    assert await store.use_viewer_invite("nope", 72, "Otro", NOW) == ("unknown", None)
    viewers = {v.telegram_id: v for v in await store.viewers_of(fam)}
    assert viewers[71].name == "Rosa" and viewers[71].digest


async def test_digest_is_recorded_once_per_period(store: Store) -> None:
    fam = await store.upsert_association("fam", "FAM", NOW)
    await store.add_viewer(fam, 70, 1, NOW)
    assert await store.last_digest(fam, 70) is None
    message = OutMessage(chat_id=70, text="Resumen")
    assert await store.record_digest(fam, 70, "2024-01", {"plans": 3}, message, NOW)
    assert not await store.record_digest(fam, 70, "2024-01", {"plans": 4}, message, NOW)
    later = NOW + timedelta(days=31)
    assert await store.record_digest(fam, 70, "2024-02", {"plans": 5, "x": [1]}, message, later)
    assert await store.last_digest(fam, 70) == ("2024-02", {"plans": 5, "x": [1]}, later)
    assert await store.outbox_counts(f"dg:{fam}:2024-01") == {"pending": 1}


async def test_purge_clears_people_past_retention_only(store: Store) -> None:
    old, _ = await _workshop(store, "old", "CODE1234567890aaaa")
    new = await _later_workshop(store)
    only_old = await _person(store, old.id, 1)
    await store.update_profile(only_old.id, field="name", value="Ana")
    await _person(store, old.id, 2)
    await _person(store, new.id, 2)
    await store.add_organizer(new.id, 3, NOW)
    await _person(store, old.id, 3)
    assert [w.slug for w in await store.workshops_to_purge(date(2024, 1, 1))] == ["old"]
    assert await store.purge_workshop(old.id, NOW) == 3
    assert await store.purge_workshop(old.id, NOW) == 0
    assert await store.workshops_to_purge(date(2025, 1, 1)) == [new]
    anon = await store.participant_by_id(only_old.id)
    assert anon is not None and anon.name is None and anon.telegram_id is None
    # Preferences stay for whoever still has a participation or a role.
    assert await store.user(1) is None
    assert await store.user(2) is not None and await store.user(3) is not None


async def test_a_new_database_file_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "new.sqlite3"
    store = await open_store(f"sqlite:///{path}")
    try:
        await store.set_user_language(1, "es", datetime(2024, 1, 1, tzinfo=UTC))
    finally:
        await store.close()
    modes = {p.name: p.stat().st_mode & 0o777 for p in tmp_path.iterdir()}  # noqa: ASYNC240
    assert modes["new.sqlite3"] == 0o600
    assert all(mode & 0o077 == 0 for mode in modes.values()), modes


async def test_a_used_invitation_stays_used_after_forget(any_store: Store) -> None:
    store = any_store
    workshop, _ = await _workshop(store)
    association = await store.upsert_association("amb", "AMB", NOW)
    await store.create_organizer_invite("org-tok", workshop.id, 1, NOW)
    await store.create_viewer_invite("view-tok", association, 1, NOW)
    assert (await store.use_organizer_invite("org-tok", 60, "Ana", NOW, NOW))[0] == "ok"
    assert (await store.use_viewer_invite("view-tok", 60, "Ana", NOW))[0] == "ok"
    await store.forget_user(60, NOW)
    # Forgetting who used a link does not make it usable again by whoever holds it.
    assert (await store.use_organizer_invite("org-tok", 61, "Eve", NOW, NOW))[0] == "used"
    assert (await store.use_viewer_invite("view-tok", 61, "Eve", NOW))[0] == "used"
    assert await store.viewer_associations(61) == []


async def test_a_removed_viewer_reusing_the_link_is_told_it_is_used(any_store: Store) -> None:
    store = any_store
    association = await store.upsert_association("amb", "AMB", NOW)
    await store.create_viewer_invite("view-tok", association, 1, NOW)
    assert (await store.use_viewer_invite("view-tok", 70, "Vera", NOW))[0] == "ok"
    assert (await store.use_viewer_invite("view-tok", 70, "Vera", NOW))[0] == "already"
    assert await store.remove_viewer(association, 70)
    assert (await store.use_viewer_invite("view-tok", 70, "Vera", NOW))[0] == "used"
    assert await store.viewer_associations(70) == []


async def test_forgotten_words_leave_the_file_and_its_log(tmp_path: Path) -> None:
    path = tmp_path / "bot.sqlite3"
    store = await open_store(f"sqlite:///{path}")
    try:
        workshop, _ = await _workshop(store)
        participant, _ = await store.join(
            workshop_id=workshop.id, telegram_id=77, language="es", now=NOW
        )
        await store.update_profile(participant.id, field="name", value="Zyxwqvutsr Secreta")
        assert await store.forget_user(77, NOW) == 1
        files = [p for p in tmp_path.iterdir() if p.name.startswith("bot.sqlite3")]  # noqa: ASYNC240
        kept = b"".join(p.read_bytes() for p in files)
    finally:
        await store.close()
    assert b"Zyxwqvutsr" not in kept


async def test_a_message_held_for_the_morning_is_pending_only_from_then(any_store: Store) -> None:
    # 08:00 in Tokyo, written with its own offset: 23:00 UTC the day before.
    morning = datetime(2023, 11, 21, 8, 0, tzinfo=ZoneInfo("Asia/Tokyo"))
    await any_store.enqueue(
        "held",
        [OutMessage(1, "now"), OutMessage(2, "in the morning", not_before=morning)],
        NOW,
    )
    before = datetime(2023, 11, 20, 22, 59, tzinfo=UTC)
    assert [r.message.text for r in await any_store.pending_outbox(10, now=before)] == ["now"]
    due = [r.message for r in await any_store.pending_outbox(10, now=morning)]
    assert [m.text for m in due] == ["now", "in the morning"]
    assert due[1].not_before == morning
    # Without a time, everything queued: what the privacy tools and the tests look at.
    assert len(await any_store.pending_outbox(10)) == 2
    # What waits for a later time, counted as the broadcast's progress says it.
    assert await any_store.outbox_waiting("held", before) == 1
    assert await any_store.outbox_waiting("held", morning) == 0
    assert await any_store.outbox_waiting("other", before) == 0
    held = next(r for r in await any_store.pending_outbox(10) if r.message.chat_id == 2)
    await any_store.finish_outbox(held.id, "cancelled", NOW)
    assert await any_store.outbox_waiting("held", before) == 0


async def test_recipients_and_plan_members_carry_the_time_zone_they_chose(store: Store) -> None:
    workshop, _ = await _workshop(store)
    ana, _ = await store.join(workshop_id=workshop.id, telegram_id=1, language="es", now=NOW)
    await store.join(workshop_id=workshop.id, telegram_id=2, language="es", now=NOW)
    await store.set_user_timezone(1, "Europe/Madrid", NOW)
    zones = {r.telegram_id: r.timezone for r in await store.recipients(workshop.id, "d", "e")}
    assert zones == {1: "Europe/Madrid", 2: None}
    plan_id = await store.create_plan(workshop.id, ana.id, "Plan", NOW)
    plan = await store.plan(plan_id)
    assert plan is not None and [m.timezone for m in plan.members] == ["Europe/Madrid"]
    data = await store.plan_data([workshop.id])
    assert [m.timezone for m in data.members[plan_id]] == ["Europe/Madrid"]


# Several instances on one database


async def test_a_lease_has_one_live_holder_and_moves_when_it_dies(any_store: Store) -> None:
    soon = NOW + timedelta(seconds=10)
    await any_store.heartbeat("a", NOW, soon)
    await any_store.heartbeat("b", NOW, soon)
    assert await any_store.acquire_lease("delivery", "a", NOW)
    # Held by a live instance: refused to the other, kept by the holder.
    assert not await any_store.acquire_lease("delivery", "b", NOW)
    assert await any_store.acquire_lease("delivery", "a", NOW + timedelta(seconds=5))
    assert await any_store.lease_holder("delivery") == "a"
    # "a" stops renewing: once its time is up, "b" takes the lease, and "a" cannot keep it.
    later = soon + timedelta(seconds=1)
    await any_store.heartbeat("b", later, later + timedelta(seconds=10))
    assert await any_store.acquire_lease("delivery", "b", later)
    assert not await any_store.acquire_lease("delivery", "a", later)
    # A stopping instance gives its leases back at once; another's release changes nothing.
    await any_store.release_lease("delivery", "a")
    assert await any_store.lease_holder("delivery") == "b"
    await any_store.leave("b")
    assert await any_store.lease_holder("delivery") is None
    await any_store.heartbeat("a", later, later + timedelta(seconds=10))
    assert await any_store.acquire_lease("delivery", "a", later)


async def test_the_inbox_hands_out_each_persons_updates_one_at_a_time_in_order(
    any_store: Store,
) -> None:
    soon = NOW + timedelta(seconds=10)
    await any_store.heartbeat("a", NOW, soon)
    await any_store.heartbeat("b", NOW, soon)
    for update_id, person in [(1, 100), (2, 200), (3, 100), (4, 300), (5, 100)]:
        assert await any_store.inbox_put(update_id, person, f'{{"update_id": {update_id}}}', NOW)
    # Telegram sent update 3 again (its answer was lost): kept once.
    assert not await any_store.inbox_put(3, 100, '{"update_id": 3}', NOW)
    assert await any_store.inbox_size() == 5
    first = await any_store.inbox_claim("a", NOW, 2)
    assert [(r.update_id, r.person) for r in first] == [(1, 100), (2, 200)]
    # Person 100's next update waits until update 1 is done, whoever asks.
    assert [r.update_id for r in await any_store.inbox_claim("b", NOW, 10)] == [4]
    assert await any_store.inbox_claim("b", NOW, 10) == []
    await any_store.inbox_done(1)
    claimed = await any_store.inbox_claim("b", NOW, 10)
    assert [r.update_id for r in claimed] == [3]
    assert claimed[0].body.replace(" ", "") == '{"update_id":3}'
    await any_store.inbox_done(3)
    assert [r.update_id for r in await any_store.inbox_claim("a", NOW, 10)] == [5]
    assert await any_store.inbox_size() == 3


async def test_updates_held_by_a_dead_or_stopped_instance_are_taken_over(any_store: Store) -> None:
    await any_store.heartbeat("a", NOW, NOW + timedelta(seconds=10))
    await any_store.heartbeat("b", NOW, NOW + timedelta(seconds=30))
    for update_id in (1, 2):
        await any_store.inbox_put(update_id, update_id * 100, "{}", NOW)
    assert len(await any_store.inbox_claim("a", NOW, 10)) == 2
    assert await any_store.inbox_claim("b", NOW + timedelta(seconds=9), 10) == []
    # "a" died (no heartbeat for 10 s): "b" handles what it held, in order.
    late = NOW + timedelta(seconds=11)
    assert [r.update_id for r in await any_store.inbox_claim("b", late, 10)] == [1, 2]
    # An instance that stops frees what it claimed at once.
    await any_store.inbox_put(3, 300, "{}", late)
    assert [r.update_id for r in await any_store.inbox_claim("b", late, 10)] == [3]
    await any_store.leave("b")
    await any_store.heartbeat("c", late, late + timedelta(seconds=10))
    assert [r.update_id for r in await any_store.inbox_claim("c", late, 10)] == [1, 2, 3]


async def test_a_queued_message_is_claimed_by_one_live_instance(any_store: Store) -> None:
    await any_store.heartbeat("a", NOW, NOW + timedelta(seconds=10))
    await any_store.heartbeat("b", NOW, NOW + timedelta(seconds=30))
    morning = NOW + timedelta(hours=8)
    await any_store.enqueue(
        "bc:1",
        [OutMessage(1, "one"), OutMessage(2, "two"), OutMessage(3, "later", not_before=morning)],
        NOW,
    )
    mine = await any_store.claim_outbox("a", 10, NOW)
    assert [r.message.text for r in mine] == ["one", "two"]
    # Claimed again by their holder (it still has them), not by another live instance.
    assert [r.id for r in await any_store.claim_outbox("a", 10, NOW)] == [r.id for r in mine]
    assert await any_store.claim_outbox("b", 10, NOW) == []
    await any_store.finish_outbox(mine[0].id, "sent", NOW)
    # "a" died with "two" in flight: "b" takes it over once "a" is past its time.
    taken = await any_store.claim_outbox("b", 10, NOW + timedelta(seconds=11))
    assert [r.message.text for r in taken] == ["two"]
    assert [r.message.text for r in await any_store.claim_outbox("b", 10, morning)] == [
        "two",
        "later",
    ]


async def test_a_flood_from_one_person_is_cut_at_the_inbox(any_store: Store) -> None:
    for update_id in range(1, 4):
        assert await any_store.inbox_put(update_id, 100, "{}", NOW, waiting_limit=3)
    # A fourth message while three wait is refused; a tap (no limit) and others still come in.
    assert not await any_store.inbox_put(4, 100, "{}", NOW, waiting_limit=3)
    assert await any_store.inbox_put(5, 100, "{}", NOW)
    assert await any_store.inbox_put(6, 200, "{}", NOW, waiting_limit=3)
    assert await any_store.inbox_size() == 5


async def test_a_sender_that_stops_frees_its_messages_and_forget_empties_the_inbox(
    any_store: Store,
) -> None:
    await any_store.heartbeat("a", NOW, NOW + timedelta(seconds=10))
    await any_store.heartbeat("b", NOW, NOW + timedelta(seconds=10))
    await any_store.enqueue("bc:2", [OutMessage(1, "uno"), OutMessage(2, "dos")], NOW)
    assert len(await any_store.claim_outbox("a", 10, NOW)) == 2
    assert await any_store.claim_outbox("b", 10, NOW) == []
    await any_store.release_outbox("a")
    assert [r.message.text for r in await any_store.claim_outbox("b", 10, NOW)] == ["uno", "dos"]
    # Updates received from someone who then asks to be forgotten go with the rest.
    await any_store.inbox_put(1, 555, '{"message": {"text": "mi nombre"}}', NOW)
    await any_store.inbox_put(2, 556, "{}", NOW)
    await any_store.forget_user(555, NOW)
    assert [r.person for r in await any_store.inbox_claim("b", NOW, 10)] == [556]
