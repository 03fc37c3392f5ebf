"""Tests of the Bot API test double (bot/apidouble) itself."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dtm
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import telegram
from telegram import (
    BotCommand,
    BotCommandScopeChat,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    ReplyKeyboardMarkup,
    Update,
)
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from bot.apidouble import BotApiDouble, RateLimits, load_spec, parse_html, parse_markdown_v2
from bot.apidouble.formatting import EntityParseError
from bot.apidouble.make_spec import build_spec
from bot.apidouble.media import sample_png

TOKEN = "123456:TEST-TOKEN"
SHARED_SPEC = Path("/work/shared/telegram-bot-api/api.min.json")
PKG = Path(__file__).resolve().parents[1] / "bot" / "apidouble"


@pytest.fixture
async def double() -> AsyncIterator[BotApiDouble]:
    async with BotApiDouble(token=TOKEN) as d:
        yield d
        assert d.violations == []


@pytest.fixture
async def bot(double: BotApiDouble) -> AsyncIterator[telegram.Bot]:
    b = telegram.Bot(TOKEN, base_url=f"{double.url}/bot", base_file_url=f"{double.url}/file/bot")
    async with b:
        yield b


@pytest.fixture
async def http(double: BotApiDouble) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=f"{double.url}/bot{TOKEN}/") as client:
        yield client


# PTB 22.2+ warns (even inside RetryAfter.__init__) that retry_after will become a timedelta.
ptb_retry_after_warning = pytest.mark.filterwarnings(
    "ignore:Deprecated since version v22.2:telegram.warnings.PTBDeprecationWarning"
)


def retry_seconds(exc: RetryAfter) -> float:
    value = exc.retry_after
    return value.total_seconds() if isinstance(value, dtm.timedelta) else float(value)


def take_violations(double: BotApiDouble) -> list[str]:
    out = list(double.violations)
    double.violations.clear()
    return out


# --------------------------------------------------------------------------- spec file


def test_packaged_spec_and_licence() -> None:
    raw = json.loads((PKG / "botapi_spec.json").read_text(encoding="utf-8"))
    assert raw["version"] == "Bot API 10.1"
    send = raw["methods"]["sendMessage"]
    assert send["chat_id"] == {"required": True, "types": ["Integer", "String"]}
    assert send["text"]["required"] is True
    assert raw["types"]["User"]["is_bot"]["required"] is True
    licence = (PKG / "LICENSE-spec").read_text(encoding="utf-8")
    assert "MIT License" in licence and "derived from" in licence


@pytest.mark.skipif(not SHARED_SPEC.exists(), reason="shared api.min.json not available")
def test_packaged_spec_is_up_to_date() -> None:
    built = build_spec(json.loads(SHARED_SPEC.read_text(encoding="utf-8")))
    packaged = json.loads((PKG / "botapi_spec.json").read_text(encoding="utf-8"))
    assert built == packaged


def test_spec_checker_finds_missing_and_unknown_fields() -> None:
    spec = load_spec()
    assert spec.check_object({"id": 1, "is_bot": False, "first_name": "A"}, "User") == []
    problems = spec.check_object({"id": 1, "first_name": "A", "nick": "x"}, "User")
    assert any("is_bot" in p for p in problems)
    assert any("nick" in p for p in problems)
    banned = {"status": "kicked", "user": {"id": 1, "is_bot": True, "first_name": "B"}}
    assert spec.check_object(banned, "ChatMember")  # until_date is required for kicked
    assert spec.check_object({**banned, "until_date": 0}, "ChatMember") == []


# --------------------------------------------------------------------------- formatting


def test_html_parsing_matches_telegram() -> None:
    text, entities = parse_html(
        '<b>Hola</b> &lt;3 &#x1F600; <a href="https://x.org">aquí</a>'
        '<pre><code class="language-py">x = 1</code></pre>'
        '<blockquote expandable>cita</blockquote><span class="tg-spoiler">s</span>'
    )
    assert text == "Hola <3 😀 aquíx = 1citas"
    kinds = [(e["type"], e["offset"], e["length"]) for e in entities]
    assert ("bold", 0, 4) in kinds
    assert ("text_link", 11, 4) in kinds  # the emoji counts 2 UTF-16 units
    assert ("pre", 15, 5) in kinds and entities[2]["language"] == "py"
    assert ("expandable_blockquote", 20, 4) in kinds
    assert ("spoiler", 24, 1) in kinds


@pytest.mark.parametrize(
    ("html", "error"),
    [
        ("Hola <foo>x</foo>", 'Unsupported start tag "foo" at byte offset 5'),
        ("<b>abierto", 'Can\'t find end tag corresponding to start tag "b"'),
        ("x</b>", "Unexpected end tag at byte offset 1"),
        ("<b><i>x</b></i>", 'Unmatched end tag at byte offset 7, expected "</i>", found "</b>"'),
        ("1 < 2", 'Unsupported start tag "" at byte offset 2'),
        ("ñ <br>", 'Unsupported start tag "br" at byte offset 3'),
        ("<span>x</span>", 'Tag "span" must have class "tg-spoiler"'),
        ("AT&T", 'Character "&" at byte offset 2'),
        ("a > b", 'Character ">" at byte offset 2'),
    ],
)
def test_html_errors(html: str, error: str) -> None:
    with pytest.raises(EntityParseError) as info:
        parse_html(html)
    assert error in str(info.value)


def test_markdown_v2() -> None:
    text, entities = parse_markdown_v2("*negrita* _cursiva_ [enlace](https://a\\.b) fin\\.")
    assert text == "negrita cursiva enlace fin."
    assert [e["type"] for e in entities] == ["bold", "italic", "text_link"]
    with pytest.raises(EntityParseError, match=r"(?i)Character '\.' is reserved"):
        parse_markdown_v2("Hola.")
    with pytest.raises(
        EntityParseError, match=r"(?i)Can't find end of Bold entity at byte offset 0"
    ):
        parse_markdown_v2("*abierto")


# --------------------------------------------------------------------------- protocol


async def test_get_me_and_auth(double: BotApiDouble, bot: telegram.Bot) -> None:
    me = await bot.get_me()
    assert me.id == 123456 and me.is_bot and me.username == "taller_test_bot"
    assert me.first_name == "Taller" and me.can_join_groups is True
    assert me.can_read_all_group_messages is False and me.supports_inline_queries is False
    async with httpx.AsyncClient(base_url=double.url) as client:
        wrong = await client.post("/bot999:OTHER/getMe")
        assert wrong.status_code == 401
        assert wrong.json() == {"ok": False, "error_code": 401, "description": "Unauthorized"}
        lower = await client.get(f"/bot{TOKEN}/getme")
        assert lower.json()["result"]["id"] == 123456
        missing = await client.post(f"/bot{TOKEN}/sendMessages")
        assert missing.status_code == 404
        assert missing.json() == {"ok": False, "error_code": 404, "description": "Not Found"}
    assert take_violations(double) == ["unknown method 'sendMessages' (HTTP 404)"]


async def test_request_encodings(double: BotApiDouble, http: httpx.AsyncClient) -> None:
    ana = double.new_user("Ana", started=True)
    form = await http.post(
        "sendMessage",
        data={
            "chat_id": str(ana.id),
            "text": "form",
            "disable_notification": "True",
            "reply_markup": json.dumps(
                {"inline_keyboard": [[{"text": "A", "callback_data": "a"}]]}
            ),
        },
    )
    assert form.json()["ok"] is True
    as_json = await http.post("sendMessage", json={"chat_id": ana.id, "text": "json"})
    assert as_json.json()["result"]["text"] == "json"
    query = await http.get("sendMessage", params={"chat_id": ana.id, "text": "query"})
    assert query.json()["result"]["text"] == "query"
    multipart = await http.post(
        "sendPhoto",
        data={"chat_id": str(ana.id), "caption": "foto"},
        files={"photo": ("p.png", sample_png(), "image/png")},
    )
    assert multipart.json()["result"]["caption"] == "foto"
    assert [m.text or m.caption for m in ana.messages] == ["form", "json", "query", "foto"]
    sent = double.requests_for("sendMessage")[0].params
    assert sent["chat_id"] == ana.id and sent["disable_notification"] is True
    assert sent["reply_markup"]["inline_keyboard"][0][0]["text"] == "A"


async def test_unknown_and_missing_parameters(
    double: BotApiDouble, http: httpx.AsyncClient
) -> None:
    ana = double.new_user("Ana", started=True)
    ok = await http.post("sendMessage", data={"chat_id": ana.id, "text": "x", "colour": "red"})
    assert ok.json()["ok"] is True
    assert take_violations(double) == [
        "sendMessage: unknown parameter 'colour' (Telegram ignores it)"
    ]
    no_chat = await http.post("sendMessage", data={"text": "x"})
    assert no_chat.status_code == 400
    assert no_chat.json()["description"] == "Bad Request: chat_id is empty"
    no_text = await http.post("sendMessage", data={"chat_id": ana.id})
    assert no_text.json()["description"] == "Bad Request: message text is empty"
    bad_int = await http.post("deleteMessage", data={"chat_id": ana.id, "message_id": "uno"})
    assert bad_int.status_code == 400
    bad_json = await http.post(
        "sendMessage", data={"chat_id": ana.id, "text": "x", "reply_markup": "{nope"}
    )
    assert bad_json.status_code == 400
    violations = take_violations(double)
    assert len(violations) == 4
    assert "missing required parameter 'chat_id'" in violations[0]
    assert "malformed value" in violations[2] and "malformed value" in violations[3]
    unsupported = await http.post(
        "sendPoll",
        data={"chat_id": ana.id, "question": "q", "options": '[{"text":"a"},{"text":"b"}]'},
    )
    assert unsupported.json()["description"] == (
        "Bad Request: method not supported by the test double"
    )
    assert take_violations(double) == ["sendPoll: not implemented by the test double"]


async def test_long_polling_offsets_and_limits(
    double: BotApiDouble, http: httpx.AsyncClient
) -> None:
    ana = double.new_user("Ana", last_name="Quispe", language_code="es")
    poll = asyncio.create_task(http.post("getUpdates", data={"timeout": "30"}, timeout=40))
    await double.wait_for(lambda: len(double.requests) == 1)
    await ana.send("/start abc123")
    first = (await asyncio.wait_for(poll, 5)).json()["result"]
    assert len(first) == 1
    message = first[0]["message"]
    assert message["text"] == "/start abc123"
    assert message["entities"] == [{"type": "bot_command", "offset": 0, "length": 6}]
    assert message["from"]["language_code"] == "es" and message["chat"]["type"] == "private"
    update_id = first[0]["update_id"]
    # Unconfirmed updates are returned again.
    again = (await http.post("getUpdates")).json()["result"]
    assert [u["update_id"] for u in again] == [update_id]
    for text in ("a", "b", "c"):
        await ana.send(text)
    limited = (await http.post("getUpdates", data={"offset": update_id + 1, "limit": 2})).json()
    assert [u["message"]["text"] for u in limited["result"]] == ["a", "b"]
    assert [u["update_id"] for u in limited["result"]] == [update_id + 1, update_id + 2]
    last_only = (await http.post("getUpdates", data={"offset": -1})).json()["result"]
    assert [u["message"]["text"] for u in last_only] == ["c"]
    assert double.pending_updates == 1
    await double.wait_until_fetched(timeout=1)
    empty = (await http.post("getUpdates", data={"offset": last_only[0]["update_id"] + 1})).json()
    assert empty["result"] == [] and double.pending_updates == 0


async def test_allowed_updates_are_remembered(
    double: BotApiDouble, http: httpx.AsyncClient
) -> None:
    ana = double.new_user("Ana")
    await http.post("getUpdates", data={"allowed_updates": json.dumps(["callback_query"])})
    await ana.send("ignored")  # created while messages are not wanted: never queued
    assert double.updates_enqueued == 0
    await http.post("getUpdates")  # no allowed_updates: keeps the previous setting
    await ana.send("still ignored")
    assert double.updates_enqueued == 0
    await http.post("getUpdates", data={"allowed_updates": "[]"})
    await ana.send("wanted")
    result = (await http.post("getUpdates")).json()["result"]
    assert [u["message"]["text"] for u in result] == ["wanted"]


async def test_get_updates_conflicts(double: BotApiDouble, http: httpx.AsyncClient) -> None:
    async with httpx.AsyncClient(base_url=f"{double.url}/bot{TOKEN}/") as other:
        older = asyncio.create_task(http.post("getUpdates", data={"timeout": 30}, timeout=40))
        await double.wait_for(lambda: len(double.requests) == 1)
        newer = asyncio.create_task(other.post("getUpdates", data={"timeout": 30}, timeout=40))
        old_reply = await asyncio.wait_for(older, 5)
        assert old_reply.status_code == 409
        assert old_reply.json()["description"] == (
            "Conflict: terminated by other getUpdates request; make sure that only one bot "
            "instance is running"
        )
        await double.post_to_channel("wake up")
        assert (await asyncio.wait_for(newer, 5)).json()["result"][0]["channel_post"]
    assert take_violations(double) == [
        "getUpdates: two concurrent getUpdates requests (409 Conflict)"
    ]
    assert (
        await http.post(
            "setWebhook", data={"url": "https://example.org/hook", "secret_token": "s3cr3t"}
        )
    ).json()["ok"]
    info = (await http.post("getWebhookInfo")).json()["result"]
    assert info["url"] == "https://example.org/hook" and double.webhook["secret_token"] == "s3cr3t"
    blocked = await http.post("getUpdates")
    assert blocked.status_code == 409
    assert blocked.json()["description"] == (
        "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to "
        "delete the webhook first"
    )
    assert (await http.post("deleteWebhook", data={"drop_pending_updates": "true"})).json()["ok"]
    assert (await http.post("getUpdates")).json()["result"] == []


# --------------------------------------------------------------------------- sending


async def test_send_message_and_html_validation(double: BotApiDouble, bot: telegram.Bot) -> None:
    ana = double.new_user("Ana", started=True)
    msg = await bot.send_message(ana.id, "<b>Hola</b> &amp; bienvenida\n", parse_mode="HTML")
    assert msg.text == "Hola & bienvenida" and msg.entities[0].type == "bold"
    stored = ana.last
    assert stored.text == "Hola & bienvenida" and stored.html == "<b>Hola</b> &amp; bienvenida\n"
    with pytest.raises(BadRequest, match=r'(?i)unsupported start tag "foo" at byte offset 5'):
        await bot.send_message(ana.id, "Hola <foo>", parse_mode="HTML")
    with pytest.raises(BadRequest, match=r"(?i)Can't find end tag corresponding to start tag"):
        await bot.send_message(ana.id, "<b>Hola", parse_mode="HTML")
    with pytest.raises(BadRequest, match=r"(?i)Character '!' is reserved"):
        await bot.send_message(ana.id, "Hola!", parse_mode="MarkdownV2")
    with pytest.raises(BadRequest, match=r"(?i)Message text is empty"):
        await bot.send_message(ana.id, "<b> </b>", parse_mode="HTML")
    with pytest.raises(BadRequest, match=r"(?i)Chat not found"):
        await bot.send_message(42, "hola")
    assert len(ana.messages) == 1


async def test_text_length_limits(double: BotApiDouble, bot: telegram.Bot) -> None:
    ana = double.new_user("Ana", started=True)
    await bot.send_message(ana.id, "x" * 4096)
    with pytest.raises(BadRequest, match=r"(?i)Message is too long"):
        await bot.send_message(ana.id, "x" * 4097)
    # Length is counted after entity parsing: tags do not count.
    await bot.send_message(ana.id, "<b>" + "y" * 4096 + "</b>", parse_mode="HTML")
    with pytest.raises(BadRequest, match=r"(?i)Message is too long"):
        await bot.send_message(ana.id, "<b>" + "y" * 4097 + "</b>", parse_mode="HTML")
    with pytest.raises(BadRequest, match=r"(?i)Message caption is too long"):
        await bot.send_photo(ana.id, sample_png(), caption="c" * 1025)
    assert len(ana.messages) == 2


async def test_inline_keyboard_validation(double: BotApiDouble, bot: telegram.Bot) -> None:
    ana = double.new_user("Ana", started=True)
    ok = InlineKeyboardMarkup([[InlineKeyboardButton("ñ" * 10, callback_data="ñ" * 32)]])
    await bot.send_message(ana.id, "64 bytes ok", reply_markup=ok)
    too_long = InlineKeyboardMarkup([[InlineKeyboardButton("x", callback_data="ñ" * 33)]])
    with pytest.raises(BadRequest, match=r"(?i)Button_data_invalid|BUTTON_DATA_INVALID"):
        await bot.send_message(ana.id, "66 bytes", reply_markup=too_long)
    bad_url = InlineKeyboardMarkup([[InlineKeyboardButton("web", url="ftp://x")]])
    with pytest.raises(BadRequest, match=r"(?i)is invalid"):
        await bot.send_message(ana.id, "url", reply_markup=bad_url)
    reply_kb = ReplyKeyboardMarkup([["Sí", "No"]], one_time_keyboard=True)
    await bot.send_message(ana.id, "¿Seguro?", reply_markup=reply_kb)
    assert ana.keyboard == [["Sí", "No"]]
    await ana.send("Sí")
    assert ana.keyboard == []
    assert len(ana.messages) == 2


async def test_edits(double: BotApiDouble, bot: telegram.Bot) -> None:
    ana = double.new_user("Ana", started=True)
    kb = InlineKeyboardMarkup([[InlineKeyboardButton("Acepto", callback_data="yes")]])
    sent = await bot.send_message(ana.id, "<b>Hola</b>", parse_mode="HTML", reply_markup=kb)
    with pytest.raises(BadRequest, match=r"(?i)Message is not modified"):
        await bot.edit_message_text(
            "*Hola*", ana.id, sent.message_id, parse_mode="MarkdownV2", reply_markup=kb
        )
    with pytest.raises(BadRequest, match=r"(?i)Message is not modified"):
        await bot.edit_message_reply_markup(ana.id, sent.message_id, reply_markup=kb)
    with pytest.raises(BadRequest, match=r"(?i)Message to edit not found"):
        await bot.edit_message_text("x", ana.id, 999)
    edited = await bot.edit_message_text("<b>Hola</b>", ana.id, sent.message_id, parse_mode="HTML")
    assert isinstance(edited, Message)
    assert edited.edit_date is not None and edited.reply_markup is None  # keyboard removed
    assert ana.last.edit_count == 1 and ana.last.buttons == []
    user_msg = await ana.send("mío")
    with pytest.raises(BadRequest, match=r"(?i)Message can't be edited"):
        await bot.edit_message_text("x", ana.id, user_msg.message_id)
    photo = await bot.send_photo(ana.id, sample_png(), caption="antes")
    with pytest.raises(BadRequest, match=r"(?i)There is no text in the message to edit"):
        await bot.edit_message_text("x", ana.id, photo.message_id)
    recaptioned = await bot.edit_message_caption(ana.id, photo.message_id, caption="después")
    assert isinstance(recaptioned, Message)
    assert recaptioned.caption == "después" and ana.last.caption == "después"
    assert await bot.delete_message(ana.id, sent.message_id) is True
    with pytest.raises(BadRequest, match=r"(?i)Message to delete not found"):
        await bot.delete_message(ana.id, sent.message_id)
    assert ana.messages[0].deleted is True


async def test_callback_queries(double: BotApiDouble, bot: telegram.Bot) -> None:
    ana = double.new_user("Ana", started=True)
    kb = InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton("Acepto ✅", callback_data="yes"),
                InlineKeyboardButton("Web", url="https://example.org"),
            ]
        ]
    )
    await bot.send_message(ana.id, "¿Aceptas?", reply_markup=kb)
    assert ana.buttons() == ["Acepto ✅", "Web"]
    with pytest.raises(AssertionError, match=r"(?i)available: \['Acepto ✅', 'Web'\]"):
        await ana.tap("Rechazo")
    qid = await ana.tap("Acepto")
    updates = await bot.get_updates()
    query = updates[-1].callback_query
    assert query is not None and query.id == qid and query.data == "yes"
    assert isinstance(query.message, Message) and query.message.text == "¿Aceptas?"
    assert double.unanswered_callbacks() == [qid]
    assert await bot.answer_callback_query(qid, text="¡Gracias!") is True
    assert double.callback_answers[qid].text == "¡Gracias!"
    assert double.unanswered_callbacks() == []
    with pytest.raises(BadRequest, match=r"(?i)Query is too old"):
        await bot.answer_callback_query(qid)
    assert take_violations(double) == [
        f"answerCallbackQuery: callback query {qid!r} answered twice"
    ]
    forged = await ana.tap_data("forged:data", message_id=ana.last.message_id)
    with pytest.raises(BadRequest, match=r"(?i)Message_too_long|MESSAGE_TOO_LONG"):
        await bot.answer_callback_query(forged, text="x" * 201)
    await bot.answer_callback_query(forged, text="ok", show_alert=True)
    assert double.callback_answers[forged].show_alert is True


async def test_photos_documents_and_downloads(double: BotApiDouble, bot: telegram.Bot) -> None:
    ana = double.new_user("Ana", started=True)
    png = sample_png(1000, 500)
    msg = await bot.send_photo(ana.id, png, caption="<i>gráfico</i>", parse_mode="HTML")
    sizes = [(p.width, p.height) for p in msg.photo]
    assert sizes == [(90, 45), (320, 160), (800, 400), (1000, 500)]
    assert ana.last.photo == png and ana.last.caption == "gráfico"
    again = await bot.send_photo(ana.id, msg.photo[-1].file_id)
    assert again.photo[-1].file_id == msg.photo[-1].file_id
    tg_file = await bot.get_file(msg.photo[-1].file_id)
    assert bytes(await tg_file.download_as_bytearray()) == png
    doc = await bot.send_document(ana.id, b"col1,col2\n1,2\n", filename="reporte.csv")
    assert doc.document is not None and doc.document.file_name == "reporte.csv"
    assert ana.last.document == ("reporte.csv", b"col1,col2\n1,2\n")
    with pytest.raises(BadRequest, match=r"(?i)Type of file mismatch"):
        await bot.send_photo(ana.id, doc.document.file_id)
    with pytest.raises(BadRequest, match=r"(?i)Wrong file identifier/http url specified"):
        await bot.send_document(ana.id, "AAAA-unknown")
    with pytest.raises(BadRequest, match=r"(?i)Image_process_failed|IMAGE_PROCESS_FAILED"):
        await bot.send_photo(ana.id, b"not an image")
    # Files users send can be downloaded by the bot too.
    sent = await ana.send_document("notas.txt", b"hola")
    user_doc = await bot.get_file(sent.raw["document"]["file_id"])
    assert bytes(await user_doc.download_as_bytearray()) == b"hola"


async def test_commands_per_language_and_scope(double: BotApiDouble, bot: telegram.Bot) -> None:
    ana = double.new_user("Ana", started=True)
    await bot.set_my_commands(
        [BotCommand("start", "Empezar"), BotCommand("ayuda", "Ayuda")], language_code="es"
    )
    await bot.set_my_commands([BotCommand("start", "Start")])
    await bot.set_my_commands([BotCommand("admin", "Admin")], scope=BotCommandScopeChat(ana.id))
    assert [c["command"] for c in double.commands("es")] == ["start", "ayuda"]
    assert double.commands() == [{"command": "start", "description": "Start"}]
    assert double.commands(scope="chat", chat_id=ana.id)[0]["command"] == "admin"
    fetched = await bot.get_my_commands(language_code="es")
    assert [c.description for c in fetched] == ["Empezar", "Ayuda"]
    with pytest.raises(BadRequest, match=r"(?i)Bot_command_invalid|BOT_COMMAND_INVALID"):
        await bot.set_my_commands([BotCommand("Start-Now", "x")])
    with pytest.raises(BadRequest, match=r"(?i)DESCRIPTION_INVALID|description_invalid"):
        await bot.set_my_commands([BotCommand("ok", "d" * 257)])
    assert await bot.delete_my_commands(language_code="es") is True
    assert double.commands("es") == []


async def test_menu_button_and_get_chat(double: BotApiDouble, bot: telegram.Bot) -> None:
    ana = double.new_user("Ana", username="anaq", started=True)
    await bot.set_chat_menu_button(ana.id, telegram.MenuButtonCommands())
    assert (await bot.get_chat_menu_button(ana.id)).type == "commands"
    chat = await bot.get_chat(ana.id)
    assert chat.username == "anaq" and chat.type == "private"


# --------------------------------------------------------------------------- failures & limits


@ptb_retry_after_warning
async def test_injected_failures(double: BotApiDouble, bot: telegram.Bot) -> None:
    ana = double.new_user("Ana", started=True)
    double.inject("sendMessage", status=429, retry_after=7)
    with pytest.raises(RetryAfter) as info:
        await bot.send_message(ana.id, "hola")
    assert retry_seconds(info.value) == 7
    assert double.stats.rate_limited == 1
    double.inject("sendmessage", status=403, chat_id=ana.id, times=2)
    for _ in range(2):
        with pytest.raises(Forbidden, match=r"(?i)Bot was blocked by the user"):
            await bot.send_message(ana.id, "hola")
    double.inject("sendMessage", status=400, description="Bad Request: chat not found")
    with pytest.raises(BadRequest, match=r"(?i)Chat not found"):
        await bot.send_message(ana.id, "hola")
    double.inject("sendMessage", status=502)
    with pytest.raises(NetworkError, match=r"(?i)Bad Gateway"):
        await bot.send_message(ana.id, "hola")
    await bot.send_message(ana.id, "por fin")
    assert [m.text for m in ana.messages] == ["por fin"]
    assert double.stats.sends_accepted == 1


async def test_blocked_deactivated_and_unstarted_users(
    double: BotApiDouble, bot: telegram.Bot
) -> None:
    ana = double.new_user("Ana")
    with pytest.raises(Forbidden, match=r"(?i)Bot can't initiate conversation with a user"):
        await bot.send_message(ana.id, "hola")
    await ana.send("/start")
    await bot.send_message(ana.id, "hola")
    ana.block()
    with pytest.raises(Forbidden, match=r"(?i)Bot was blocked by the user"):
        await bot.send_message(ana.id, "otra vez")
    with pytest.raises(Forbidden, match=r"(?i)Bot was blocked by the user"):
        await bot.send_chat_action(ana.id, "typing")
    ana.unblock()
    await bot.send_message(ana.id, "de vuelta")
    ana.deactivate()
    with pytest.raises(Forbidden, match=r"(?i)User is deactivated"):
        await bot.send_message(ana.id, "¿hola?")
    kinds = [next(k for k in u.to_dict() if k != "update_id") for u in await bot.get_updates()]
    assert kinds == ["message", "my_chat_member", "my_chat_member"]


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@ptb_retry_after_warning
async def test_rate_limits_with_fake_clock() -> None:
    clock = FakeClock()
    limits = RateLimits(global_per_second=3, per_chat_per_second=1, per_group_per_minute=2)
    async with BotApiDouble(token=TOKEN, limits=limits, clock=clock) as double:
        users = [double.new_user(f"U{i}", started=True) for i in range(4)]
        group = double.new_group("Organizadores", members=users[:1])
        async with telegram.Bot(TOKEN, base_url=f"{double.url}/bot") as bot:
            await bot.send_message(users[0].id, "1")
            with pytest.raises(RetryAfter) as per_chat:
                await bot.send_message(users[0].id, "2")
            assert retry_seconds(per_chat.value) == 1
            await bot.send_message(users[1].id, "1")
            await bot.send_message(users[2].id, "1")
            with pytest.raises(RetryAfter):  # 3 sends in this second: global limit
                await bot.send_message(users[3].id, "1")
            clock.now += 1.0
            await bot.send_message(users[3].id, "1")
            await bot.send_message(group.id, "g1")
            clock.now += 1.0
            await bot.send_message(group.id, "g2")
            clock.now += 1.0
            with pytest.raises(RetryAfter) as per_group:
                await bot.send_message(group.id, "g3")
            assert retry_seconds(per_group.value) == 58
            clock.now += 58
            await bot.send_message(group.id, "g3")
        assert double.stats.sends_accepted == 7 and double.stats.rate_limited == 3
        assert double.stats.accepted_times[0] == 1000.0
        assert double.stats.throughput() == pytest.approx(6 / 61)
        assert double.violations == []


# --------------------------------------------------------------------------- users, groups, PTB app


async def test_user_updates_have_required_fields(
    double: BotApiDouble, http: httpx.AsyncClient
) -> None:
    spec = load_spec()
    ana = double.new_user("Ana", last_name="Quispe", username="anaq", language_code="es")
    first = await ana.send("/start@taller_test_bot hola https://example.org #taller")
    assert [e["type"] for e in first.entities] == ["bot_command", "url", "hashtag"]
    assert first.entities[0] == {"type": "bot_command", "offset": 0, "length": 22}
    await ana.send_photo(caption="mira")
    await ana.send_sticker()
    await ana.send_document("a.pdf", b"%PDF")
    await ana.send_voice()
    await ana.send_location()
    await ana.send_contact()
    await ana.edit(first, "editado")
    group = double.new_group("Organizadores", members=[ana])
    await ana.send("charla sin comando", chat=group)  # privacy mode: not delivered
    await ana.send("/report", chat=group)
    await double.post_to_channel("anuncio")
    kb = json.dumps({"inline_keyboard": [[{"text": "A", "callback_data": "a"}]]})
    await http.post("sendMessage", data={"chat_id": ana.id, "text": "elige", "reply_markup": kb})
    await ana.tap("A")
    ana.block()
    updates = (await http.post("getUpdates")).json()["result"]
    kinds = [next(k for k in u if k != "update_id") for u in updates]
    assert kinds == ["message"] * 7 + [
        "edited_message",
        "message",
        "channel_post",
        "callback_query",
        "my_chat_member",
    ]
    for update in updates:
        assert spec.check_object(update, "Update") == []
    assert updates[1]["message"]["photo"][-1]["width"] == 64
    assert updates[8]["message"]["chat"]["type"] == "supergroup"
    assert updates[8]["message"]["chat"]["id"] < 0
    assert updates[10]["callback_query"]["message"]["reply_markup"]["inline_keyboard"]
    photo_id = updates[1]["message"]["photo"][-1]["file_id"]
    got = (await http.post("getFile", data={"file_id": photo_id})).json()["result"]
    assert spec.check_object(got, "File") == []
    assert [m.text for m in group.all_messages] == ["charla sin comando", "/report"]
    # Writing to the bot again unblocks it, as Telegram clients do.
    await ana.send("/start")
    assert not ana.blocked
    assert double.updates_enqueued == len(updates) + 2


async def test_dropped_long_poll_is_not_a_conflict(
    double: BotApiDouble, http: httpx.AsyncClient
) -> None:
    poll = asyncio.create_task(http.post("getUpdates", data={"timeout": 30}, timeout=40))
    await double.wait_for(lambda: len(double.requests) == 1)
    poll.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await poll
    reply = await http.post("getUpdates")
    assert reply.json() == {"ok": True, "result": []}


async def test_bot_results_have_required_fields(
    double: BotApiDouble, http: httpx.AsyncClient
) -> None:
    spec = load_spec()
    ana = double.new_user("Ana", started=True)
    kb = json.dumps({"inline_keyboard": [[{"text": "A", "callback_data": "a"}]]})
    calls: list[tuple[str, dict[str, Any], Any, str]] = [
        ("getMe", {}, None, "User"),
        ("sendMessage", {"chat_id": ana.id, "text": "hola", "reply_markup": kb}, None, "Message"),
        ("sendPhoto", {"chat_id": ana.id}, {"photo": ("a.png", sample_png())}, "Message"),
        ("sendDocument", {"chat_id": ana.id}, {"document": ("a.txt", b"x")}, "Message"),
        ("getWebhookInfo", {}, None, "WebhookInfo"),
        ("getChat", {"chat_id": ana.id}, None, "ChatFullInfo"),
        ("getChatMenuButton", {}, None, "MenuButton"),
        (
            "copyMessage",
            {"chat_id": ana.id, "from_chat_id": ana.id, "message_id": 1},
            None,
            "MessageId",
        ),
        (
            "forwardMessage",
            {"chat_id": ana.id, "from_chat_id": ana.id, "message_id": 1},
            None,
            "Message",
        ),
    ]
    for method, data, files, type_name in calls:
        reply = (await http.post(method, data=data, files=files)).json()
        assert reply["ok"], (method, reply)
        assert spec.check_object(reply["result"], type_name) == [], method
    edited = (
        await http.post(
            "editMessageText", data={"chat_id": ana.id, "message_id": 1, "text": "nuevo"}
        )
    ).json()
    assert spec.check_object(edited["result"], "Message") == []
    assert "edit_date" in edited["result"]


async def test_wait_for_reports_recent_requests(
    double: BotApiDouble, http: httpx.AsyncClient
) -> None:
    await http.post("getMe")
    with pytest.raises(AssertionError, match=r"(?i)getMe\(\{\}\) -> 200"):
        await double.wait_for(lambda: False, timeout=0.05, message="never")


async def test_real_ptb_application_round_trip(double: BotApiDouble) -> None:
    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None
        args = " ".join(context.args or [])
        keyboard = InlineKeyboardMarkup(
            [
                [
                    InlineKeyboardButton("Acepto", callback_data="accept"),
                    InlineKeyboardButton("No", callback_data="reject"),
                ]
            ]
        )
        await update.effective_message.reply_html(f"<b>Hola</b> {args}", reply_markup=keyboard)

    async def on_tap(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        assert query is not None
        await query.answer("Listo")
        await query.edit_message_text(f"Elegiste {query.data}")

    async def on_photo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None
        photo = await update.effective_message.photo[-1].get_file()
        data = await photo.download_as_bytearray()
        await update.effective_message.reply_text(f"{len(data)} bytes")

    app: Application[Any, Any, Any, Any, Any, Any] = (
        ApplicationBuilder()
        .token(TOKEN)
        .base_url(f"{double.url}/bot")
        .base_file_url(f"{double.url}/file/bot")
        .build()
    )
    app.add_handler(CommandHandler("start", start))
    app.add_handler(CallbackQueryHandler(on_tap))
    app.add_handler(MessageHandler(filters.PHOTO, on_photo))
    ana = double.new_user("Ana", last_name="Quispe")
    async with app:
        assert app.updater is not None
        await app.updater.start_polling(timeout=10)
        await app.start()
        await ana.send("/start abc123")
        await double.wait_for(lambda: len(ana.messages) >= 1)
        assert ana.last.text == "Hola abc123" and ana.buttons() == ["Acepto", "No"]
        qid = await ana.tap("Acepto")
        await double.wait_for(lambda: ana.last.edit_count == 1)
        assert ana.last.text == "Elegiste accept" and ana.last.buttons == []
        assert double.callback_answers[qid].text == "Listo"
        png = sample_png(10, 10)
        await ana.send_photo(png)
        await double.wait_for(lambda: len(ana.messages) == 2)
        assert ana.last.text == f"{len(png)} bytes"
        await double.wait_until_fetched()
        await app.updater.stop()
        await app.stop()
    assert double.unanswered_callbacks() == []
