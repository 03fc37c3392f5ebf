"""The viewer panel shows names as typed, escaped once (no "&lt;" on the phone)."""

from __future__ import annotations

from tests.e2e.harness import Harness

ADMIN = 999  # BOT_ADMIN_IDS in tests.e2e.harness.settings_for


async def test_viewer_names_and_the_empty_panel_are_escaped_once(bot: Harness) -> None:
    workshop = await bot.import_workshop()
    assert workshop.association_id is not None
    admin = bot.double.new_user(first_name="Admin", language_code="es", user_id=ADMIN)
    empty = await bot.send(admin, "/viewer")
    assert "&lt;" not in (empty.text or "") and "<i>" not in (empty.text or "")
    store, now = bot.services.store, bot.clock.now()
    await store.create_viewer_invite("tok-viewer-panel-1", workshop.association_id, ADMIN, now)
    status, _ = await store.use_viewer_invite("tok-viewer-panel-1", 4242, "<b>Vi</b> &", now)
    assert status == "ok"
    panel = await bot.send(admin, "/viewer")
    assert "<b>Vi</b> &" in (panel.text or "")
    assert "&amp;" not in (panel.text or "") and "&lt;" not in (panel.text or "")
