"""Organizers: roles, invitations, join links, imports in chat, group links, broadcasts."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from bot.apidouble import SimUser
from bot.flows.callbacks import Audience, LinkGroup, OrgAction, OrgInvite
from storage import BroadcastStatus
from tests.e2e.harness import COCHABAMBA, Harness
from tests.e2e.test_journey import join_es
from tests.e2e.test_reminders import la_paz

REFUSAL = "Este comando es para el equipo organizador"


async def setup(bot: Harness) -> tuple[SimUser, list[SimUser], int]:
    workshop = await bot.import_workshop()
    org = bot.double.new_user(first_name="Olga", last_name="Rojas", language_code="es")
    await bot.services.store.add_organizer(workshop.id, org.id, bot.clock.now())
    people = []
    for name in ("Ana", "Bob", "Cris"):
        user = bot.double.new_user(first_name=name, last_name="Quispe", language_code="es")
        await join_es(bot, user, workshop.join_code)
        people.append(user)
    return org, people, workshop.id


async def report_and_bar(bot: Harness, org: SimUser, timeout: float) -> None:
    """Wait for a broadcast's final report and its progress message's last edit (two calls)."""
    await bot.double.wait_for(
        lambda: (
            "Difusión terminada" in (org.last.text or "")
            and any("Envío terminado" in (m.text or "") for m in org.messages)
        ),
        timeout=timeout,
    )


async def test_organizer_commands_refuse_everyone_else(bot: Harness, tmp_path) -> None:
    _, (ana, *_), workshop_id = await setup(bot)
    for command in ("/broadcast", "/invite", "/organizer"):
        reply = await bot.send(ana, command)
        assert REFUSAL in (reply.text or "")
    # An organizer of another workshop cannot act on this one, even with forged buttons.
    other_file = tmp_path / "other.yaml"
    other_file.write_text(
        COCHABAMBA.read_text("utf-8").replace("id: cochabamba-2023", "id: otro-2023"), "utf-8"
    )
    other = await bot.import_workshop(other_file)
    rival = bot.double.new_user(first_name="Rita", language_code="es")
    await bot.services.store.add_organizer(other.id, rival.id, bot.clock.now())
    await bot.send(rival, "/invite")  # gives Rita her own workshop's link, a message to tap on
    for data in (
        OrgAction(workshop_id, "bc").pack(),
        Audience(workshop_id, "all").pack(),
        OrgInvite(workshop_id).pack(),
        LinkGroup(workshop_id).pack(),
    ):
        await rival.tap_data(data, message=rival.last)
    await bot.settle()
    answers = list(bot.double.callback_answers.values())[-4:]
    assert all(a.text == "Este botón ya no está activo." for a in answers)
    assert await bot.services.store.broadcasts_with_status(BroadcastStatus.DRAFT) == []


async def test_administrator_invites_an_organizer_once(bot: Harness) -> None:
    await bot.import_workshop()
    admin = bot.double.new_user(first_name="Admin", language_code="es", user_id=999)
    await bot.send(admin, "/organizer")
    await bot.tap(admin, "➕ Nueva invitación")
    link = next(w for w in (admin.last.text or "").split() if "start=org-" in w)
    token = link.split("start=", 1)[1]
    carla = bot.double.new_user(first_name="Carla", language_code="es")
    welcome = await bot.send(carla, f"/start {token}")
    assert "equipo organizador" in (welcome.text or "")
    scoped = bot.double.commands(scope="chat", chat_id=carla.id)
    assert "broadcast" in [c["command"] for c in scoped]
    again = await bot.send(carla, f"/start {token}")
    assert "Ya forma parte" in (again.text or "")
    dan = bot.double.new_user(first_name="Dan", language_code="es")
    used = await bot.send(dan, f"/start {token}")
    assert "ya fue usada" in (used.text or "")
    assert not await bot.services.store.organizer_workshops(dan.id)
    unknown = await bot.send(dan, "/start org-nonexistenttoken123")
    assert "No encuentro" in (unknown.text or "")


async def test_invite_sends_link_and_qr_code(bot: Harness) -> None:
    org, _, _ = await setup(bot)
    await bot.send(org, "/invite")
    text, photo = org.messages[-2], org.messages[-1]
    workshop = await bot.services.store.workshop_by_slug("cochabamba-2023")
    assert workshop is not None
    link = f"https://t.me/taller_test_bot?start={workshop.join_code}"
    assert link in (text.text or "")
    assert photo.photo is not None and photo.photo[:4] == b"\x89PNG"
    assert link in (photo.caption or "")


async def test_broadcast_to_everyone_with_one_blocked(bot: Harness) -> None:
    org, (ana, bob, cris), _ = await setup(bot)
    bob.block()
    await bot.send(org, "/broadcast")
    assert "Todo el taller (3)" in org.buttons()
    await bot.tap(org, "Todo el taller (3)")
    reply = await bot.send(org, "x" * 4097)
    assert "4.097 caracteres" in (reply.text or "") and "4.096" in (reply.text or "")
    await bot.send(org, "Mañana empezamos a las 8:30 <en punto> & con café ☕")
    preview = org.messages[-2]
    assert preview.text == "Mañana empezamos a las 8:30 <en punto> & con café ☕"
    assert "Se enviará a 3 personas" in (org.last.text or "")
    assert org.buttons() == ["Cancelar", "🕒 Programar", "📤 Enviar ahora"]
    await bot.tap(org, "📤 Enviar ahora")
    await bot.flush()
    await report_and_bar(bot, org, timeout=5)
    report = next(m.text or "" for m in org.messages if "Difusión terminada" in (m.text or ""))
    assert "Entregados: 2" in report and "Inalcanzables (bloquearon el bot): 1" in report
    # The progress message ends on the final count, without its Stop button.
    bar = next(m for m in org.messages if "Envío terminado" in (m.text or ""))
    assert "2 de 3 entregados" in (bar.text or "") and not org.buttons(bar)
    for user in (ana, cris):
        copies = [m for m in user.messages if "8:30 <en punto>" in (m.text or "")]
        assert len(copies) == 1
    workshop = await bot.services.store.workshop_by_slug("cochabamba-2023")
    assert workshop is not None
    participant = await bot.services.store.participant(workshop.id, bob.id)
    assert participant is not None and participant.unreachable


async def test_broadcast_waits_out_flood_control(bot: Harness) -> None:
    org, people, _ = await setup(bot)
    await bot.send(org, "/broadcast")
    await bot.tap(org, "Todo el taller (3)")
    await bot.send(org, "Aviso importante")
    bot.double.inject("sendMessage", status=429, retry_after=1)
    await bot.tap(org, "📤 Enviar ahora")
    await bot.flush()
    await bot.double.wait_for(lambda: "Difusión terminada" in (org.last.text or ""), timeout=5)
    assert "Entregados: 3" in (org.last.text or "")
    for user in people:
        assert sum("Aviso importante" in (m.text or "") for m in user.messages) == 1
    assert bot.delivery.sender.stats.rate_limited == 1


async def test_broadcast_photo_to_one_institution_and_scheduled(bot: Harness) -> None:
    org, (ana, bob, cris), workshop_id = await setup(bot)
    store = bot.services.store
    participant = await store.participant(workshop_id, cris.id)
    assert participant is not None
    await store.update_profile(
        participant.id, field="institution", value="Gobierno Autónomo Municipal de Tarija"
    )
    await bot.send(org, "/broadcast")
    await bot.tap(org, "Una institución…")
    await bot.tap(org, "Gobierno Autónomo Municipal de Tarija (1)")
    await org.send_photo(caption="Foto de grupo")
    await bot.settle()
    assert "Se enviará a 1 persona (" in (org.last.text or "")
    await bot.tap(org, "🕒 Programar")
    reply = await bot.send(org, "mañana")
    assert "dd/mm/aaaa" in (reply.text or "")
    reply = await bot.send(org, "01/01/2020 10:00")
    assert "ya pasó" in (reply.text or "")
    await bot.send(org, "28/11/2023 10:00")
    assert "Programado para el 28 nov 2023, 10:00" in (org.last.text or "")
    assert not any(m.photo for m in cris.messages)
    from datetime import UTC, datetime

    await bot.at(datetime(2023, 11, 28, 14, 0, tzinfo=UTC))  # 10:00 in La Paz
    await bot.double.wait_for(lambda: any(m.photo for m in cris.messages), timeout=5)
    assert [m.caption for m in cris.messages if m.photo] == ["Foto de grupo"]
    assert not any(m.photo for m in ana.messages + bob.messages)


async def test_a_scheduled_broadcast_keeps_one_progress_message(bot: Harness) -> None:
    from bot.delivery import Limits

    org, people, _ = await setup(bot)
    await bot.send(org, "/broadcast")
    await bot.tap(org, "Todo el taller (3)")
    await bot.send(org, "Recordatorio programado")
    await bot.tap(org, "🕒 Programar")
    await bot.send(org, "28/11/2023 10:00")
    # 2.5 s apart, more than the progress's 2 s throttle: it changes at each copy.
    bot.delivery.sender.limiter.limits = Limits(per_second=0.4)
    await bot.at(la_paz(28, 10))
    await bot.flush()
    await report_and_bar(bot, org, timeout=15)
    posted = [
        r
        for r in bot.double.requests_for("sendMessage")
        if r.params.get("chat_id") == org.id and "Enviando" in str(r.params.get("text"))
    ]
    # One progress message, edited as it goes, then closed on the final count.
    assert len(posted) == 1
    bar = next(m for m in org.messages if "Envío terminado" in (m.text or ""))
    assert "3 de 3 entregados" in (bar.text or "")
    for user in people:
        assert sum("Recordatorio programado" in (m.text or "") for m in user.messages) == 1


async def test_a_broadcast_to_nobody_reports_once(bot: Harness) -> None:
    workshop = await bot.import_workshop()
    org = bot.double.new_user(first_name="Olga", last_name="Rojas", language_code="es")
    await bot.services.store.add_organizer(workshop.id, org.id, bot.clock.now())
    await bot.send(org, "/broadcast")
    await bot.tap(org, "Todo el taller (0)")
    await bot.send(org, "¿Hay alguien?")
    await bot.tap(org, "📤 Enviar ahora")
    assert "Difusión terminada" in (org.last.text or "")
    # Later checks find nothing left to report.
    await bot.at(bot.clock.now() + timedelta(minutes=5))
    await bot.flush()
    assert sum("Difusión terminada" in (m.text or "") for m in org.messages) == 1
    assert await bot.services.store.broadcasts_with_status(BroadcastStatus.SENDING) == []


async def test_cancel_a_draft(bot: Harness) -> None:
    org, (ana, *_), _ = await setup(bot)
    await bot.send(org, "/broadcast")
    await bot.tap(org, "Todo el taller (3)")
    await bot.send(org, "Borrador")
    await bot.tap(org, "Cancelar")
    assert "no se envió nada" in (org.last.text or "")
    await bot.flush()
    assert not any("Borrador" in (m.text or "") for m in ana.messages)


async def test_workshop_file_sent_in_chat(bot: Harness) -> None:
    org, (ana, *_), workshop_id = await setup(bot)
    good = COCHABAMBA.read_text("utf-8")
    bad = good.replace("end: 2023-11-28T10:30", "end: 2023-11-28T08:00").replace(
        "America/La_Paz", "America/Atlantis"
    )
    await org.send_document("taller.yaml", bad.encode("utf-8"))
    await bot.settle()
    errors = org.last.text or ""
    assert "no se importó nada" in errors and "line 13, timezone: unknown time zone" in errors
    # A time the clocks skip (Chile, 3 September 2023, from 00:00 to 01:00) gets its line too.
    skipped = good.replace("America/La_Paz", "America/Santiago").replace(
        "opens: 2023-11-20T09:00", "opens: 2023-09-03T00:30"
    )
    await org.send_document("taller.yaml", skipped.encode("utf-8"))
    await bot.settle()
    errors = org.last.text or ""
    assert "no se importó nada" in errors
    assert (
        "line 42, dgca_window.opens: 00:30 on 2023-09-03 does not exist in America/Santiago:"
        " clocks jump from 00:00 to 01:00; choose another time"
    ) in errors
    await org.send_document(
        "taller.yaml", bad.replace("America/Atlantis", "America/La_Paz").encode("utf-8")
    )
    await bot.settle()
    errors = org.last.text or ""
    assert "agenda[1].end: the session ends before it starts" in errors
    assert "line " in errors
    moved = good.replace(
        "start: 2023-11-29T09:00\n    end: 2023-11-29T10:30",
        "start: 2023-11-29T09:30\n    end: 2023-11-29T10:40",
    )
    await org.send_document("taller.yaml", moved.encode("utf-8"))
    await bot.settle()
    assert "actualizado" in (org.last.text or "")
    await bot.flush()
    assert any("Cambio en la agenda" in (m.text or "") for m in ana.messages)
    workshop = await bot.services.store.workshop(workshop_id)
    assert workshop is not None and workshop.spec["agenda"][5]["start"] == "2023-11-29T09:30:00"
    # A participant sending a workshop file gets the usual hint; nothing is revealed.
    await ana.send_document("taller.yaml", good.encode("utf-8"))
    await bot.settle()
    assert "Solo puedo leer texto" in (ana.last.text or "")


async def test_link_the_organizers_group(bot: Harness) -> None:
    org, (ana, *_), workshop_id = await setup(bot)
    group = bot.double.new_group(title="Equipo AMB", members=[org, ana])
    await ana.send("/linkgroup", chat=group)
    await bot.settle()
    assert REFUSAL in (group.last.text or "")
    await org.send("/linkgroup", chat=group)
    await bot.settle()
    await ana.tap("Innovación y gobierno digital", chat=group)
    await bot.settle()
    workshop = await bot.services.store.workshop(workshop_id)
    assert workshop is not None and workshop.organizer_chat_id is None
    await org.tap("Innovación y gobierno digital", chat=group)
    await bot.settle()
    assert "Este grupo recibirá" in (group.last.text or "")
    workshop = await bot.services.store.workshop(workshop_id)
    assert workshop is not None and workshop.organizer_chat_id == group.id


@pytest.mark.parametrize("command", ["/broadcast", "/invite"])
async def test_organizer_of_two_workshops_picks_one(bot: Harness, tmp_path, command) -> None:
    org, _, _ = await setup(bot)
    second = tmp_path / "second.yaml"
    second.write_text(
        COCHABAMBA.read_text("utf-8").replace("id: cochabamba-2023", "id: segundo-2023"), "utf-8"
    )
    other = await bot.import_workshop(second)
    await bot.services.store.add_organizer(other.id, org.id, bot.clock.now())
    reply = await bot.send(org, command)
    assert "¿Para qué taller?" in (reply.text or "") and len(org.buttons()) == 2


async def test_a_running_broadcast_can_be_stopped(bot: Harness) -> None:
    from bot.delivery import Limits

    org, people, _ = await setup(bot)
    bot.delivery.sender.limiter.limits = Limits(per_second=0.5)
    await bot.send(org, "/broadcast")
    await bot.tap(org, "Todo el taller (3)")
    await bot.send(org, "Mensaje largo de enviar")
    await bot.tap(org, "📤 Enviar ahora")
    assert "Enviando" in (org.last.text or "")

    def delivered() -> int:
        return sum(any("largo de enviar" in (m.text or "") for m in p.messages) for p in people)

    await bot.double.wait_for(lambda: delivered() >= 1, timeout=5)
    await bot.tap(org, "⏹ Detener")
    await bot.flush()
    await bot.double.wait_for(lambda: "Difusión terminada" in (org.last.text or ""), timeout=5)
    assert delivered() < 3
    assert "No enviados (detenida): " in (org.last.text or "")


async def test_network_errors_are_retried(bot: Harness) -> None:
    org, people, _ = await setup(bot)
    bot.delivery.sender.backoff_seconds = 0.01
    await bot.send(org, "/broadcast")
    await bot.tap(org, "Todo el taller (3)")
    await bot.send(org, "Tras un corte")
    bot.double.inject("sendMessage", status=502, times=2)
    await bot.tap(org, "📤 Enviar ahora")
    await bot.flush()
    await bot.double.wait_for(lambda: "Difusión terminada" in (org.last.text or ""), timeout=5)
    assert "Entregados: 3" in (org.last.text or "")
    assert bot.delivery.sender.stats.network_retries == 2
    for user in people:
        assert sum("Tras un corte" in (m.text or "") for m in user.messages) == 1


async def test_an_administrator_creates_a_workshop_in_chat(bot: Harness) -> None:
    admin = bot.double.new_user(first_name="Admin", language_code="es", user_id=999)
    await admin.send_document("nuevo.yaml", COCHABAMBA.read_bytes())
    await bot.settle()
    assert "creado" in (admin.last.text or "")
    workshop = await bot.services.store.workshop_by_slug("cochabamba-2023")
    assert workshop is not None
    assert await bot.services.store.is_organizer(workshop.id, admin.id)
    scoped = bot.double.commands(scope="chat", chat_id=admin.id)
    assert "report" in [c["command"] for c in scoped]


async def test_the_final_report_survives_flood_control(bot: Harness) -> None:
    org, _, _ = await setup(bot)
    await bot.send(org, "/broadcast")
    await bot.tap(org, "Todo el taller (3)")
    await bot.send(org, "Último aviso")
    bot.double.inject("sendMessage", status=429, retry_after=1, chat_id=org.id)
    await bot.tap(org, "📤 Enviar ahora")
    await bot.flush()
    await bot.double.wait_for(lambda: "Difusión terminada" in (org.last.text or ""), timeout=5)
    assert "Entregados: 3" in (org.last.text or "")


async def test_a_broadcast_is_done_once_its_organizer_has_the_report(bot: Harness) -> None:
    org, _, _ = await setup(bot)
    await bot.send(org, "/broadcast")
    await bot.tap(org, "Todo el taller (3)")
    await bot.send(org, "Aviso")
    await bot.tap(org, "📤 Enviar ahora")
    (broadcast,) = await bot.services.store.broadcasts_with_status(BroadcastStatus.SENDING)
    # Telegram is slow with the organizer's report; the copies go out at full speed.
    bot.double.delay("sendMessage", 1.0, chat_id=org.id)
    bot.delivery.sender.wake()

    async def status() -> BroadcastStatus | None:
        current = await bot.services.store.broadcast(broadcast.id)
        return current.status if current is not None else None

    for _ in range(1000):
        if await status() is BroadcastStatus.DONE:
            break
        await asyncio.sleep(0.01)
    assert await status() is BroadcastStatus.DONE
    assert "Difusión terminada" in (org.last.text or "")
