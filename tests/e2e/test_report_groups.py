"""Reports carry personal data: in a group, only where the group is the workshop's own."""

from __future__ import annotations

from bot.flows.callbacks import Report
from tests.e2e.harness import Harness


async def test_reports_only_in_the_group_linked_to_the_workshop(bot: Harness) -> None:
    workshop = await bot.import_workshop()
    org = bot.double.new_user(first_name="Olga", language_code="es")
    await bot.services.store.add_organizer(workshop.id, org.id, bot.clock.now())
    await bot.send(org, "/help")  # a private chat with the bot
    elsewhere = bot.double.new_group(title="Vecinos", members=[org])
    await org.send("/report", chat=elsewhere)
    await bot.settle()
    reply = elsewhere.messages[-1]
    assert "vinculado a su taller" in (reply.text or "") and not org.buttons(reply)
    # A report button copied from elsewhere gets nothing in that group either.
    await org.tap_data(Report(workshop.id, "status").pack(), chat=elsewhere, message=reply)
    await bot.settle()
    assert elsewhere.messages[-1] is reply
    assert list(bot.double.callback_answers.values())[-1].text == "Este botón ya no está activo."
    # Linked, the group gets the menu.
    team = bot.double.new_group(title="Equipo", members=[org])
    await bot.services.store.set_organizer_chat(workshop.id, team.id)
    await org.send("/report", chat=team)
    await bot.settle()
    assert "Informes" in (team.messages[-1].text or "")
