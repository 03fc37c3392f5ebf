"""Bot API methods that send messages: text, photos, documents, copies and forwards."""

from __future__ import annotations

import copy
import re
from typing import Any

from aiohttp import web

from .checks import TEXT_LIMIT, ChecksMixin
from .media import StoredFile, guess_mime, image_size
from .models import ApiError, ChatMessage
from .spec import UploadedFile
from .store import StoreMixin

CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)
_CONTENT_KEYS = (
    "text",
    "entities",
    "link_preview_options",
    "photo",
    "document",
    "sticker",
    "voice",
    "location",
    "contact",
    "caption",
    "caption_entities",
)


class SendingMixin(StoreMixin, ChecksMixin):
    """Answer sendMessage, sendPhoto, sendDocument, sendChatAction, copy and forward."""

    async def _send_message(self, params: dict[str, Any], request: web.Request) -> Any:
        chat = self._writable_chat(params["chat_id"])
        raw_text = params["text"]
        text, entities = self._format(
            raw_text,
            params.get("parse_mode"),
            params.get("entities"),
            limit=TEXT_LIMIT,
            too_long="message is too long",
            empty="message text is empty",
        )
        markup = self._check_markup(params.get("reply_markup"))
        reply_to = self._reply_target(chat, params)
        msg = self._add_message(
            chat,
            from_bot=True,
            content=self._text_content(text, entities),
            reply_to=reply_to,
            markup=markup,
            extra=self._send_extra(params),
            kind="text",
            text=text,
            html=raw_text,
            entities=entities,
            parse_mode=params.get("parse_mode"),
        )
        return copy.deepcopy(msg.raw)

    async def _send_photo(self, params: dict[str, Any], request: web.Request) -> Any:
        chat = self._writable_chat(params["chat_id"])
        known = self._input_file(params, "photo", "photo")
        if known is None:
            upload: UploadedFile = params["photo"]
            dims = image_size(upload.data)
            if dims is None or dims[0] <= 0 or dims[1] <= 0:
                raise ApiError(400, "Bad Request: IMAGE_PROCESS_FAILED")
            sizes = self.files.add_photo(upload.data, dims[0], dims[1])
        else:
            sizes = [self.files.by_id[fid] for fid in known.group or [known.file_id]]
        caption, entities = self._caption(params)
        markup = self._check_markup(params.get("reply_markup"))
        reply_to = self._reply_target(chat, params)
        content = {
            "photo": [s.photo_size() for s in sizes],
            **self._caption_content(caption, entities),
        }
        msg = self._add_message(
            chat,
            from_bot=True,
            content=content,
            reply_to=reply_to,
            markup=markup,
            extra=self._send_extra(params),
            kind="photo",
            caption=caption,
            caption_html=params.get("caption"),
            entities=entities,
            parse_mode=params.get("parse_mode"),
            photo=sizes[-1].data,
        )
        return copy.deepcopy(msg.raw)

    async def _send_document(self, params: dict[str, Any], request: web.Request) -> Any:
        chat = self._writable_chat(params["chat_id"])
        stored = self._input_file(params, "document", "document")
        if stored is None:
            upload: UploadedFile = params["document"]
            stored = self.files.add(
                "document",
                upload.data,
                filename=upload.filename,
                mime_type=guess_mime(upload.filename, upload.content_type),
            )
        caption, entities = self._caption(params)
        markup = self._check_markup(params.get("reply_markup"))
        reply_to = self._reply_target(chat, params)
        content = {"document": stored.document(), **self._caption_content(caption, entities)}
        msg = self._add_message(
            chat,
            from_bot=True,
            content=content,
            reply_to=reply_to,
            markup=markup,
            extra=self._send_extra(params),
            kind="document",
            caption=caption,
            caption_html=params.get("caption"),
            entities=entities,
            parse_mode=params.get("parse_mode"),
            document=(stored.filename or "document", stored.data),
        )
        return copy.deepcopy(msg.raw)

    async def _send_chat_action(self, params: dict[str, Any], request: web.Request) -> Any:
        self._writable_chat(params["chat_id"])
        if params["action"] not in CHAT_ACTIONS:
            raise ApiError(400, "Bad Request: wrong parameter action in request")
        return True

    async def _copy_message(self, params: dict[str, Any], request: web.Request) -> Any:
        source = self._source_message(params, "copy")
        chat = self._writable_chat(params["chat_id"])
        content = {k: v for k, v in source.raw.items() if k in _CONTENT_KEYS}
        fields = self._clone_fields(source)
        if "caption" in params and source.kind != "text":
            caption, entities = self._caption(params)
            for key in ("caption", "caption_entities"):
                content.pop(key, None)
            content.update(self._caption_content(caption, entities))
            fields.update(caption=caption, caption_html=params.get("caption"), entities=entities)
        markup = self._check_markup(params.get("reply_markup"))
        reply_to = self._reply_target(chat, params)
        msg = self._add_message(
            chat,
            from_bot=True,
            content=content,
            reply_to=reply_to,
            markup=markup,
            extra=self._send_extra(params),
            **fields,
        )
        return {"message_id": msg.message_id}

    async def _forward_message(self, params: dict[str, Any], request: web.Request) -> Any:
        source = self._source_message(params, "forward")
        chat = self._writable_chat(params["chat_id"])
        content = {k: v for k, v in source.raw.items() if k in _CONTENT_KEYS}
        origin: dict[str, Any]
        if "sender_chat" in source.raw:
            origin = {
                "type": "channel",
                "date": source.date,
                "chat": source.raw["sender_chat"],
                "message_id": source.message_id,
            }
        else:
            origin = {"type": "user", "date": source.date, "sender_user": source.raw["from"]}
        msg = self._add_message(
            chat,
            from_bot=True,
            content=content,
            extra={"forward_origin": origin, **self._send_extra(params)},
            **self._clone_fields(source),
        )
        return copy.deepcopy(msg.raw)

    def _send_extra(self, params: dict[str, Any]) -> dict[str, Any]:
        extra: dict[str, Any] = {}
        if params.get("protect_content"):
            extra["has_protected_content"] = True
        if params.get("show_caption_above_media"):
            extra["show_caption_above_media"] = True
        if params.get("has_spoiler"):
            extra["has_media_spoiler"] = True
        return extra

    def _input_file(self, params: dict[str, Any], name: str, kind: str) -> StoredFile | None:
        """Return a known file for a file_id string, or None for an upload."""
        value = params[name]
        if isinstance(value, UploadedFile):
            return None
        if not isinstance(value, str) or not value:
            raise ApiError(400, "Bad Request: wrong file identifier/HTTP URL specified")
        if re.match(r"^https?://", value, re.IGNORECASE):
            raise ApiError(
                400,
                "Bad Request: failed to get HTTP URL content",
                violation=f"{name}: sending by URL is not supported by the test double ({value})",
            )
        stored = self.files.by_id.get(value)
        if stored is None:
            raise ApiError(400, "Bad Request: wrong file identifier/HTTP URL specified")
        if stored.kind != kind:
            raise ApiError(400, "Bad Request: type of file mismatch")
        return stored

    def _source_message(self, params: dict[str, Any], verb: str) -> ChatMessage:
        source_chat = self._known_chat(params["from_chat_id"], param="from_chat_id")
        msg = source_chat.messages.get(params["message_id"])
        if msg is None or msg.deleted:
            raise ApiError(400, f"Bad Request: message to {verb} not found")
        return msg

    def _clone_fields(self, source: ChatMessage) -> dict[str, Any]:
        return {
            "kind": source.kind,
            "text": source.text,
            "html": source.html,
            "caption": source.caption,
            "caption_html": source.caption_html,
            "entities": copy.deepcopy(source.entities),
            "parse_mode": source.parse_mode,
            "photo": source.photo,
            "document": source.document,
        }
