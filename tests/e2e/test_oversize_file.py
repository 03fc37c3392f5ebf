"""A workshop file over the size limit gets its size and the limit, not a generic answer."""

from __future__ import annotations

from tests.e2e.harness import Harness

ADMIN = 999  # BOT_ADMIN_IDS in tests.e2e.harness.settings_for


async def test_an_oversize_workshop_file_is_refused_with_its_size(bot: Harness) -> None:
    await bot.import_workshop()
    admin = bot.double.new_user(first_name="Admin", language_code="es", user_id=ADMIN)
    await admin.send_document("taller.yaml", b"id: x\n" + b"#" * (300 * 1024))
    await bot.settle()
    reply = admin.last.text or ""
    assert "taller.yaml" in reply and "256 KB" in reply and "No se importó nada" in reply
    # Someone who may not import files gets the general answer, which says nothing of it.
    ana = bot.double.new_user(first_name="Ana", language_code="es")
    await ana.send_document("taller.yaml", b"id: x\n" + b"#" * (300 * 1024))
    await bot.settle()
    assert "256" not in (ana.last.text or "")
