"""Bot API methods that change sent messages and answer callback queries."""

from __future__ import annotations

import copy
from typing import Any

from aiohttp import web

from .checks import TEXT_LIMIT, ChecksMixin
from .models import ApiError, CallbackAnswer, ChatMessage
from .state import ChatState
from .store import StoreMixin

CALLBACK_TEXT_LIMIT = 200
_QUERY_INVALID = "Bad Request: query is too old and response timeout expired or query ID is invalid"
_NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup "
    "are exactly the same as a current content and reply markup of the message"
)


class EditingMixin(StoreMixin, ChecksMixin):
    """Answer edit*, deleteMessage and answerCallbackQuery."""

    def unanswered_callbacks(self) -> list[str]:
        """Return ids of callback queries the bot has not answered yet."""
        return [q.query_id for q in self._callbacks.values() if not q.answered]

    async def _edit_message_text(self, params: dict[str, Any], request: web.Request) -> Any:
        _, msg = self._edit_target(params, "editMessageText")
        if msg.kind != "text":
            raise ApiError(400, "Bad Request: there is no text in the message to edit")
        if "text" not in params:
            raise ApiError(
                400,
                "Bad Request: message text is empty",
                violation="editMessageText: no text given",
            )
        text, entities = self._format(
            params["text"],
            params.get("parse_mode"),
            params.get("entities"),
            limit=TEXT_LIMIT,
            too_long="MESSAGE_TOO_LONG",
            empty="message text is empty",
        )
        markup = self._check_markup(params.get("reply_markup"), inline_only=True)
        if text == msg.text and entities == msg.entities and markup == self._inline_of(msg):
            raise ApiError(400, _NOT_MODIFIED)
        msg.history.append(msg.text)
        msg.text, msg.html, msg.entities = text, params["text"], entities
        msg.parse_mode = params.get("parse_mode")
        msg.raw.pop("entities", None)
        msg.raw.update(self._text_content(text, entities))
        self._apply_markup(msg, markup)
        self._mark_edited(msg)
        return copy.deepcopy(msg.raw)

    async def _edit_message_caption(self, params: dict[str, Any], request: web.Request) -> Any:
        _, msg = self._edit_target(params, "editMessageCaption")
        if msg.kind == "text":
            raise ApiError(400, "Bad Request: there is no caption in the message to edit")
        caption, entities = self._caption(params)
        markup = self._check_markup(params.get("reply_markup"), inline_only=True)
        if (
            caption == msg.caption
            and entities == (msg.entities if msg.caption else [])
            and markup == self._inline_of(msg)
        ):
            raise ApiError(400, _NOT_MODIFIED)
        msg.history.append(msg.caption)
        msg.caption, msg.caption_html, msg.entities = caption, params.get("caption"), entities
        msg.parse_mode = params.get("parse_mode")
        for key in ("caption", "caption_entities"):
            msg.raw.pop(key, None)
        msg.raw.update(self._caption_content(caption, entities))
        self._apply_markup(msg, markup)
        self._mark_edited(msg)
        return copy.deepcopy(msg.raw)

    async def _edit_message_reply_markup(self, params: dict[str, Any], request: web.Request) -> Any:
        _, msg = self._edit_target(params, "editMessageReplyMarkup")
        markup = self._check_markup(params.get("reply_markup"), inline_only=True)
        if markup == self._inline_of(msg):
            raise ApiError(400, _NOT_MODIFIED)
        self._apply_markup(msg, markup)
        self._mark_edited(msg)
        return copy.deepcopy(msg.raw)

    async def _delete_message(self, params: dict[str, Any], request: web.Request) -> Any:
        chat = self._known_chat(params["chat_id"])
        msg = chat.messages.get(params["message_id"])
        if msg is None or msg.deleted:
            raise ApiError(400, "Bad Request: message to delete not found")
        if chat.type != "private" and not msg.from_bot:
            raise ApiError(400, "Bad Request: message can't be deleted")
        msg.deleted = True
        return True

    async def _answer_callback_query(self, params: dict[str, Any], request: web.Request) -> Any:
        query_id = params["callback_query_id"]
        issued = self._callbacks.get(query_id)
        if issued is None:
            raise ApiError(
                400,
                _QUERY_INVALID,
                violation=f"answerCallbackQuery: unknown callback_query_id {query_id!r}",
            )
        if issued.answered:
            raise ApiError(
                400,
                _QUERY_INVALID,
                violation=f"answerCallbackQuery: callback query {query_id!r} answered twice",
            )
        text = params.get("text")
        if text is not None and len(text) > CALLBACK_TEXT_LIMIT:
            raise ApiError(400, "Bad Request: MESSAGE_TOO_LONG")
        issued.answered = True
        self.callback_answers[query_id] = CallbackAnswer(
            text=text,
            show_alert=bool(params.get("show_alert", False)),
            url=params.get("url"),
            cache_time=params.get("cache_time"),
        )
        return True

    def _edit_target(self, params: dict[str, Any], method: str) -> tuple[ChatState, ChatMessage]:
        if "inline_message_id" in params:
            raise ApiError(
                400,
                "Bad Request: inline messages are not supported by the test double",
                violation=f"{method}: inline_message_id is not supported by the test double",
            )
        if "chat_id" not in params:
            raise ApiError(400, "Bad Request: chat_id is empty")
        if "message_id" not in params:
            raise ApiError(400, "Bad Request: message identifier is not specified")
        chat = self._writable_chat(params["chat_id"])
        msg = chat.messages.get(params["message_id"])
        if msg is None or msg.deleted:
            raise ApiError(400, "Bad Request: message to edit not found")
        if not msg.from_bot:
            raise ApiError(400, "Bad Request: message can't be edited")
        return chat, msg

    @staticmethod
    def _inline_of(msg: ChatMessage) -> dict[str, Any] | None:
        markup = msg.reply_markup
        return markup if markup is not None and "inline_keyboard" in markup else None

    def _apply_markup(self, msg: ChatMessage, markup: dict[str, Any] | None) -> None:
        if markup is None and self._inline_of(msg) is None:
            return
        msg.reply_markup = copy.deepcopy(markup)
        if markup is None:
            msg.raw.pop("reply_markup", None)
        else:
            msg.raw["reply_markup"] = copy.deepcopy(markup)
