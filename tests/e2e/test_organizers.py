"""Administrators manage organizing teams: list, invite (links that expire), cancel, remove."""

from __future__ import annotations

from bot.apidouble import SimUser
from bot.flows.callbacks import OrgAction, OrgRemove
from tests.e2e.harness import Harness

ADMIN_ID = 999  # BOT_ADMIN_IDS in tests.e2e.harness.settings_for
REFUSAL = "Este comando es para el equipo organizador"
STALE = "Este botón ya no está activo."


def _token(user: SimUser) -> str:
    link = next(w for w in (user.last.text or "").split() if "start=org-" in w)
    return link.split("start=", 1)[1]


async def _invite(bot: Harness, admin: SimUser) -> str:
    await bot.send(admin, "/organizers")
    await bot.tap(admin, "➕ Nueva invitación")
    return _token(admin)


async def test_the_roster_lists_invites_and_removes_organizers(bot: Harness) -> None:
    workshop = await bot.import_workshop()
    admin = bot.double.new_user(first_name="Admin", language_code="es", user_id=ADMIN_ID)
    panel = await bot.send(admin, "/organizers")
    assert "Nadie todavía" in (panel.text or "")
    assert "Invitaciones pendientes: 0" in (panel.text or "")
    await bot.tap(admin, "➕ Nueva invitación", panel)
    assert "hasta el" in (admin.last.text or "")
    token = _token(admin)
    shown = bot.double.chat_messages(admin.id)
    assert any("Invitaciones pendientes: 1" in (m.text or "") for m in shown)

    carla = bot.double.new_user(first_name="Carla", last_name="Mamani", language_code="es")
    welcome = await bot.send(carla, f"/start {token}")
    assert "equipo organizador" in (welcome.text or "")
    await bot.send(carla, "/report")  # a message with Carla's workshop button
    report_button = carla.last

    roster = await bot.send(admin, "/organizers")
    assert "Carla Mamani" in (roster.text or "")
    assert "Quitar a Carla Mamani" in admin.buttons()
    await bot.tap(admin, "Quitar a Carla Mamani", roster)
    assert "Nadie todavía" in (bot.double.message(admin.id, roster.message_id).text or "")
    assert not await bot.services.store.is_organizer(workshop.id, carla.id)

    # Removed, Carla's commands refuse and her old buttons are stale.
    refused = await bot.send(carla, "/broadcast")
    assert REFUSAL in (refused.text or "")
    query = await carla.tap_data(OrgAction(workshop.id, "rp").pack(), message=report_button)
    await bot.settle()
    assert bot.double.callback_answers[query].text == STALE
    # Her used link stays used; a new invitation brings her back.
    again = await bot.send(carla, f"/start {token}")
    assert "ya fue usada" in (again.text or "")
    token = await _invite(bot, admin)
    await bot.send(carla, f"/start {token}")
    assert await bot.services.store.is_organizer(workshop.id, carla.id)


async def test_an_invitation_expires_after_a_week(bot: Harness) -> None:
    workshop = await bot.import_workshop()
    admin = bot.double.new_user(first_name="Admin", language_code="es", user_id=ADMIN_ID)
    token = await _invite(bot, admin)
    bot.clock.advance(days=7, seconds=1)
    dan = bot.double.new_user(first_name="Dan", language_code="es")
    expired = await bot.send(dan, f"/start {token}")
    assert "venció" in (expired.text or "")
    assert not await bot.services.store.is_organizer(workshop.id, dan.id)
    panel = await bot.send(admin, "/organizers")
    assert "Invitaciones pendientes: 0" in (panel.text or "")


async def test_cancelled_invitations_cannot_be_used(bot: Harness) -> None:
    workshop = await bot.import_workshop()
    admin = bot.double.new_user(first_name="Admin", language_code="es", user_id=ADMIN_ID)
    first = await _invite(bot, admin)
    second = await _invite(bot, admin)
    panel = next(m for m in reversed(admin.messages) if "Equipo organizador" in (m.text or ""))
    await bot.tap(admin, "✖️ Anular invitaciones pendientes (2)", panel)
    assert "Invitaciones pendientes: 0" in (
        bot.double.message(admin.id, panel.message_id).text or ""
    )
    for token in (first, second):
        eve = bot.double.new_user(first_name="Eve", language_code="es")
        cancelled = await bot.send(eve, f"/start {token}")
        assert "fue anulada" in (cancelled.text or "")
        assert not await bot.services.store.is_organizer(workshop.id, eve.id)


async def test_an_organizer_cannot_manage_the_team_even_with_forged_buttons(
    bot: Harness,
) -> None:
    workshop = await bot.import_workshop()
    olga = bot.double.new_user(first_name="Olga", language_code="es")
    await bot.services.store.add_organizer(workshop.id, olga.id, bot.clock.now(), "Olga")
    rita = bot.double.new_user(first_name="Rita", language_code="es")
    await bot.services.store.add_organizer(workshop.id, rita.id, bot.clock.now(), "Rita")
    refused = await bot.send(olga, "/organizers")
    assert REFUSAL in (refused.text or "")
    # Olga copies the button an administrator would see, to remove her colleague.
    query = await olga.tap_data(OrgRemove(workshop.id, rita.id).pack(), message=refused)
    await bot.settle()
    assert bot.double.callback_answers[query].text == STALE
    assert await bot.services.store.is_organizer(workshop.id, rita.id)
