"""Contract tests every Store backend must pass."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from storage import DialogState, StorageError, Store, open_store
from storage.sqlite import SqliteStore, migrations

NOW = datetime(2023, 11, 20, 12, 0, tzinfo=UTC)


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
    assert isinstance(store, SqliteStore)
    assert await store.schema_version() == len(migrations())


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


async def test_dialog_roundtrip_and_unknown_state(store: Store, db_url: str) -> None:
    await store.set_dialog(7, DialogState.PROFILE_NAME, {"participant_id": 3}, NOW)
    dialog = await store.dialog(7)
    assert dialog is not None and dialog.state is DialogState.PROFILE_NAME
    assert dialog.data == {"participant_id": 3}
    await store.clear_dialog(7)
    assert await store.dialog(7) is None
    # A state written by another release is ignored rather than crashing.
    raw = sqlite3.connect(db_url.removeprefix("sqlite:///"))
    raw.execute(
        "INSERT INTO dialogs (telegram_id, state, data_json, updated_at) VALUES (8, 'x', '{}', '')"
    )
    raw.commit()
    raw.close()
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
    assert isinstance(store, SqliteStore)
    with pytest.raises(RuntimeError):
        async with store._tx() as db:
            await db.execute(
                "INSERT INTO users (telegram_id, created_at, updated_at) VALUES (1, '', '')"
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


async def test_one_trip_unit_rolls_back_as_a_whole(store: Store) -> None:
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
    store: Store, db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
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
        await open_store("postgres://x")


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
