"""The double's chats and the messages stored in them."""

from __future__ import annotations

import copy
from typing import Any

from .actors import SimUser
from .models import ApiError, ChatMessage
from .state import ChatState, DoubleState


class StoreMixin(DoubleState):
    """Look chats up and store messages the way Telegram shows them."""

    def chat_state(self, chat_id: int) -> ChatState:
        """Return the internal state of a chat (used by the actors)."""
        return self._chats[chat_id]

    def chat_messages(self, chat_id: int, *, from_bot: bool | None = True) -> list[ChatMessage]:
        """Return the messages of a chat in order (default: only the bot's)."""
        chat = self._chats.get(chat_id)
        if chat is None:
            return []
        return [m for m in chat.messages.values() if from_bot is None or m.from_bot == from_bot]

    def message(self, chat_id: int, message_id: int) -> ChatMessage:
        """Return one stored message of a chat."""
        return self._chats[chat_id].messages[message_id]

    def _chat_or_none(self, chat_id: Any) -> ChatState | None:
        if isinstance(chat_id, int):
            return self._chats.get(chat_id)
        if isinstance(chat_id, str) and chat_id.startswith("@"):
            wanted = chat_id[1:].lower()
            for chat in self._chats.values():
                # Only public groups and channels are reachable by @username.
                if chat.type != "private" and (chat.username or "").lower() == wanted:
                    return chat
        return None

    def _known_chat(self, chat_id: Any, *, param: str = "chat_id") -> ChatState:
        if chat_id is None or chat_id == "":
            raise ApiError(400, f"Bad Request: {param} is empty")
        chat = self._chat_or_none(chat_id)
        if chat is None:
            raise ApiError(400, "Bad Request: chat not found")
        return chat

    def _writable_chat(self, chat_id: Any) -> ChatState:
        """Resolve a chat the bot writes to, with Telegram's 403 cases."""
        chat = self._known_chat(chat_id)
        user = chat.user
        if user is not None:
            if user.deactivated:
                raise ApiError(403, "Forbidden: user is deactivated")
            if user.blocked:
                raise ApiError(403, "Forbidden: bot was blocked by the user")
            if not user.started:
                raise ApiError(403, "Forbidden: bot can't initiate conversation with a user")
        elif not chat.bot_is_member:
            kind = "channel" if chat.type == "channel" else chat.type
            raise ApiError(403, f"Forbidden: bot is not a member of the {kind} chat")
        return chat

    def _reply_target(self, chat: ChatState, params: dict[str, Any]) -> ChatMessage | None:
        reply = params.get("reply_parameters")
        if not isinstance(reply, dict) or "message_id" not in reply:
            return None
        target_chat = chat
        if reply.get("chat_id") not in (None, chat.id):
            target_chat = self._known_chat(reply["chat_id"])
        msg = target_chat.messages.get(reply["message_id"])
        if msg is None or msg.deleted:
            if reply.get("allow_sending_without_reply"):
                return None
            raise ApiError(400, "Bad Request: message to be replied not found")
        return msg

    def _add_message(
        self,
        chat: ChatState,
        *,
        from_bot: bool,
        sender: SimUser | None = None,
        content: dict[str, Any],
        reply_to: ChatMessage | None = None,
        markup: dict[str, Any] | None = None,
        extra: dict[str, Any] | None = None,
        **fields: Any,
    ) -> ChatMessage:
        """Store a new message in a chat and build its Bot API Message object."""
        message_id = chat.next_message_id
        chat.next_message_id += 1
        raw: dict[str, Any] = {"message_id": message_id}
        if chat.type == "channel":
            raw["sender_chat"] = chat.to_json()
        elif from_bot:
            raw["from"] = self.bot_user_json()
        elif sender is not None:
            raw["from"] = sender.user_json()
        raw["date"] = self._now()
        raw["chat"] = chat.to_json()
        if reply_to is not None:
            quoted = {k: v for k, v in reply_to.raw.items() if k != "reply_to_message"}
            raw["reply_to_message"] = copy.deepcopy(quoted)
        raw.update(copy.deepcopy(content))
        if extra:
            raw.update(extra)
        if markup is not None and "inline_keyboard" in markup:
            raw["reply_markup"] = copy.deepcopy(markup)
        msg = ChatMessage(
            message_id=message_id,
            chat_id=chat.id,
            from_bot=from_bot,
            reply_markup=copy.deepcopy(markup),
            date=raw["date"],
            sender_id=self.bot_id if from_bot else (sender.id if sender else None),
            raw=raw,
            **fields,
        )
        chat.messages[message_id] = msg
        if from_bot and markup is not None:
            if "keyboard" in markup:
                chat.reply_keyboard = copy.deepcopy(markup)
            elif markup.get("remove_keyboard"):
                chat.reply_keyboard = None
        return msg

    def _text_content(self, text: str, entities: list[dict[str, Any]]) -> dict[str, Any]:
        content: dict[str, Any] = {"text": text}
        if entities:
            content["entities"] = entities
        return content

    def _caption_content(
        self, caption: str | None, entities: list[dict[str, Any]]
    ) -> dict[str, Any]:
        if not caption:
            return {}
        content: dict[str, Any] = {"caption": caption}
        if entities:
            content["caption_entities"] = entities
        return content

    def _mark_edited(self, msg: ChatMessage) -> None:
        msg.edit_count += 1
        msg.edit_date = self._now()
        msg.raw["edit_date"] = msg.edit_date
