"""Webhook mode: the double posts updates to the real Application's webhook server."""

from __future__ import annotations

import json
import logging
import socket
from collections.abc import AsyncIterator

import httpx
import pytest

from bot.apidouble import BotApiDouble, SimUser
from bot.app import ALLOWED_UPDATES, BotApplication, build_application, webhook_options
from bot.content import Content
from bot.i18n import I18n
from bot.settings import Settings
from tests.e2e.harness import TOKEN, Harness, start_app, stop_app
from tests.e2e.test_journey import join_es
from tests.support import CONTENT_DIR, FakeClock

PUBLIC = "https://taller.example.org"
HOOK_PATH = "/telegram/updates"


def free_port() -> int:
    """Return a TCP port that is free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def webhook_settings(double: BotApiDouble, db_url: str, port: int) -> Settings:
    return Settings(
        telegram_bot_token=TOKEN,
        telegram_api_url=double.url,
        database_url=db_url,
        bot_admin_ids="999",
        content_dir=CONTENT_DIR,
        webhook_url=PUBLIC + HOOK_PATH,
        webhook_listen="127.0.0.1",
        port=port,
        _env_file=None,
    )


async def start_webhook_app(
    double: BotApiDouble, settings: Settings, content: Content, clock: FakeClock
) -> BotApplication:
    """Start the application as `python -m bot run --webhook` does, inside this loop."""
    app = build_application(settings, content, I18n.load(CONTENT_DIR / "locales"), clock=clock)
    await app.initialize()
    assert app.post_init is not None
    await app.post_init(app)
    assert app.job_queue is not None
    for job in app.job_queue.get_jobs_by_name("tick"):
        job.schedule_removal()
    assert app.updater is not None
    await app.updater.start_webhook(**webhook_options(settings))
    await app.start()
    double.route_webhook(PUBLIC, f"http://127.0.0.1:{settings.port}")
    return app


@pytest.fixture
def port() -> int:
    return free_port()


@pytest.fixture
async def hook(
    double: BotApiDouble,
    db_url: str,
    content: Content,
    clock: FakeClock,
    port: int,
    caplog: pytest.LogCaptureFixture,
) -> AsyncIterator[Harness]:
    caplog.set_level(logging.INFO)
    settings = webhook_settings(double, db_url, port)
    app = await start_webhook_app(double, settings, content, clock)
    harness = Harness(double, app, clock, db_url, content)
    try:
        yield harness
        await harness.settle()
    finally:
        await stop_app(harness.app)
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == []


def forged_update(user: SimUser, update_id: int, text: str) -> dict[str, object]:
    return {
        "update_id": update_id,
        "message": {
            "message_id": 9_999,
            "date": 1_700_000_000,
            "chat": user.chat_json(),
            "from": user.user_json(),
            "text": text,
            "entities": [{"type": "bot_command", "offset": 0, "length": len(text)}],
        },
    }


async def test_participant_served_by_webhook(hook: Harness, port: int) -> None:
    double = hook.double
    settings = webhook_settings(double, hook.database_url, port)
    assert double.webhook["url"] == PUBLIC + HOOK_PATH
    assert double.webhook["secret_token"] == settings.webhook_secret_token
    assert len(settings.webhook_secret_token) == 64
    assert double.requests_for("getUpdates") == []
    workshop = await hook.import_workshop()
    ana = double.new_user(first_name="Ana", last_name="Quispe", language_code="es")
    await join_es(hook, ana, workshop.join_code)
    await hook.tap(ana, "📝 Empezar la autoevaluación")
    assert "· 1/36" in (ana.last.text or "")
    assert double.webhook_deliveries and all(d.ok for d in double.webhook_deliveries)
    assert [d.update_id for d in double.webhook_deliveries] == sorted(
        {d.update_id for d in double.webhook_deliveries}
    )
    async with httpx.AsyncClient(base_url=f"{double.url}/bot{TOKEN}/") as http:
        info = (await http.post("getWebhookInfo")).json()["result"]
        assert info["url"] == PUBLIC + HOOK_PATH and info["pending_update_count"] == 0
        assert "last_error_message" not in info
        assert set(info["allowed_updates"]) == set(ALLOWED_UPDATES)
        # Telegram's rule, kept by the double: no polling while a webhook is set.
        assert (await http.post("getUpdates")).status_code == 409


@pytest.mark.parametrize(
    "headers",
    [
        {"Content-Type": "application/json"},
        {"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": "guess"},
        {"Content-Type": "text/plain"},
    ],
    ids=["no-secret", "wrong-secret", "not-json"],
)
async def test_posts_without_the_secret_are_refused(
    hook: Harness, port: int, headers: dict[str, str]
) -> None:
    double = hook.double
    # Known to Telegram (the double) without having written through it: the posts are forged.
    ana = double.new_user(first_name="Ana", language_code="es", started=True)
    url = f"http://127.0.0.1:{port}{HOOK_PATH}"
    before = hook.processor.completed
    async with httpx.AsyncClient() as client:
        reply = await client.post(
            url, content=json.dumps(forged_update(ana, 50_000, "/help")), headers=headers
        )
        assert reply.status_code == 403
        assert hook.processor.completed == before
        assert ana.messages == []
        # The same post with the right secret is processed: only the header made the difference.
        secret = webhook_settings(double, hook.database_url, port).webhook_secret_token
        good = {"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": secret}
        reply = await client.post(
            url, content=json.dumps(forged_update(ana, 50_001, "/help")), headers=good
        )
        assert reply.status_code == 200
    await hook.processor.wait_completed(before + 1)
    await double.wait_for(lambda: len(ana.messages) == 1)


async def test_double_with_a_wrong_secret_is_refused_and_retries(hook: Harness) -> None:
    double = hook.double
    ana = double.new_user(first_name="Ana", language_code="es")
    right = double.webhook["secret_token"]
    async with httpx.AsyncClient(base_url=f"{double.url}/bot{TOKEN}/") as http:
        data = {"url": PUBLIC + HOOK_PATH, "secret_token": "not-the-bots-secret"}
        assert (await http.post("setWebhook", data=data)).json()["ok"]
        before = hook.processor.completed
        await ana.send("/help")
        await double.wait_for(lambda: len(double.webhook_deliveries) >= 2)
        info = (await http.post("getWebhookInfo")).json()["result"]
        assert info["pending_update_count"] == 1
        assert info["last_error_message"] == "Wrong response from the webhook: 403 Forbidden"
        assert hook.processor.completed == before and ana.messages == []
        data = {"url": PUBLIC + HOOK_PATH, "secret_token": right}
        assert (await http.post("setWebhook", data=data)).json()["ok"]
        await hook.settle()
        assert len(ana.messages) == 1
        info = (await http.post("getWebhookInfo")).json()["result"]
        # As on Telegram, the most recent error stays on record after deliveries succeed.
        assert info["pending_update_count"] == 0 and info["last_error_message"]


async def test_updates_wait_while_the_bot_is_down_then_polling_takes_over(
    hook: Harness, port: int
) -> None:
    double = hook.double
    ana = double.new_user(first_name="Ana", language_code="es")
    await hook.send(ana, "/help")
    assert len(ana.messages) == 1
    await stop_app(hook.app)
    # PTB leaves the webhook set when it stops, as a restarting web process wants.
    assert double.webhook.get("url")
    await ana.send("/help")
    await double.wait_for(lambda: any(not d.ok for d in double.webhook_deliveries))
    assert double.webhook_deliveries[-1].error == "Connection refused"
    assert double.pending_updates == 1
    hook.baseline = double.updates_fetched
    assert hook.content is not None
    hook.app = await start_app(double, hook.database_url, hook.content, hook.clock)
    # Polling deletes the webhook first; the waiting update is fetched and answered once.
    await hook.settle()
    assert not double.webhook and double.requests_for("deleteWebhook")
    assert len(ana.messages) == 2


async def test_set_webhook_follows_telegrams_rules(double: BotApiDouble) -> None:
    async with httpx.AsyncClient(base_url=f"{double.url}/bot{TOKEN}/") as http:
        cases = {
            "http://taller.example.org/x": "An HTTPS URL must be provided for webhook",
            "https://taller.example.org:8080/x": (
                "Webhook can be set up only on ports 80, 88, 443 or 8443"
            ),
            "https://127.0.0.1/x": "IP address 127.0.0.1 is reserved",
            "https://10.1.2.3:8443/x": "IP address 10.1.2.3 is reserved",
        }
        for url, description in cases.items():
            reply = await http.post("setWebhook", data={"url": url})
            assert reply.status_code == 400
            assert reply.json()["description"] == f"Bad Request: bad webhook: {description}"
        bad_secret = {"url": PUBLIC, "secret_token": "has space"}
        assert (await http.post("setWebhook", data=bad_secret)).status_code == 400
        assert (await http.post("getWebhookInfo")).json()["result"]["url"] == ""
        # Without a route the double stays offline and reports what Telegram would.
        assert (await http.post("setWebhook", data={"url": PUBLIC + "/x"})).json()["ok"]
        await double.post_to_channel("hello")
        await double.wait_for(lambda: double.webhook_deliveries)
        info = (await http.post("getWebhookInfo")).json()["result"]
        assert info["last_error_message"] == "Failed to resolve host: Name or service not known"
        assert info["pending_update_count"] == 1
        assert (await http.post("deleteWebhook")).json()["ok"]
        updates = (await http.post("getUpdates")).json()["result"]
        assert [u["channel_post"]["text"] for u in updates] == ["hello"]
