"""The simulated Telegram users, groups and channels and what they do."""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any

from .actors import SimChannel, SimGroup, SimUser
from .formatting import detect_entities
from .models import ChatMessage
from .state import ChatState, _IssuedCallback
from .store import StoreMixin
from .updates import UpdatesMixin


class UsersMixin(StoreMixin, UpdatesMixin):
    """Create simulated users and chats and turn what they do into updates."""

    def new_user(
        self,
        first_name: str = "Ana",
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = "es",
        *,
        user_id: int | None = None,
        is_premium: bool = False,
        started: bool = False,
    ) -> SimUser:
        """Create a user; its private chat id equals its user id.

        Like on Telegram the bot cannot write first: until the user sends something
        (or ``started=True``), sends to them fail with 403.
        """
        if user_id is None:
            while self._next_user_id in self._users:
                self._next_user_id += 1
            user_id = self._next_user_id
            self._next_user_id += 1
        if user_id in self._users or user_id in self._chats:
            raise ValueError(f"user id {user_id} already exists")
        user = SimUser(
            self,
            user_id,
            first_name,
            last_name=last_name,
            username=username,
            language_code=language_code,
            is_premium=is_premium,
        )
        user.started = started
        self._users[user_id] = user
        self._chats[user_id] = ChatState(id=user_id, type="private", user=user)
        return user

    def new_group(
        self,
        title: str = "Grupo",
        members: Iterable[SimUser] = (),
        *,
        username: str | None = None,
        chat_id: int | None = None,
    ) -> SimGroup:
        """Create a supergroup (negative id) the bot is a member of."""
        if chat_id is None:
            chat_id = -(1_001_000_000_000 + self._next_group_seq)
            self._next_group_seq += 1
        group = SimGroup(self, chat_id, title, username=username, members=list(members))
        self._chats[chat_id] = ChatState(
            id=chat_id, type="supergroup", title=title, username=username
        )
        return group

    def new_channel(
        self, title: str = "Canal", *, username: str | None = None, chat_id: int | None = None
    ) -> SimChannel:
        """Create a channel where the bot is an administrator."""
        if chat_id is None:
            chat_id = -(1_002_000_000_000 + self._next_group_seq)
            self._next_group_seq += 1
        channel = SimChannel(self, chat_id, title, username=username)
        self._chats[chat_id] = ChatState(id=chat_id, type="channel", title=title, username=username)
        return channel

    async def post_to_channel(self, text: str, channel: SimChannel | None = None) -> ChatMessage:
        """Publish a text post in a channel (a default one is created) as a channel_post."""
        if channel is None:
            if self._default_channel is None:
                self._default_channel = self.new_channel()
            channel = self._default_channel
        return await channel.post(text)

    def user(self, user_id: int) -> SimUser:
        """Return a user created with new_user."""
        return self._users[user_id]

    def user_message(
        self,
        user: SimUser,
        chat: ChatState,
        *,
        kind: str,
        content: dict[str, Any],
        reply_to: ChatMessage | None = None,
        **fields: Any,
    ) -> ChatMessage:
        """Store a message the user sent and enqueue its update (used by SimUser)."""
        if user.deactivated:
            raise AssertionError(f"{user.first_name}'s account is deactivated; it cannot send")
        if chat.type == "private":
            if user.blocked:
                # Telegram clients unblock the bot before they let the user write to it.
                user.unblock()
            user.started = True
        msg = self._add_message(
            chat,
            from_bot=False,
            sender=user,
            content=content,
            reply_to=reply_to,
            kind=kind,
            **fields,
        )
        if chat.reply_keyboard and chat.reply_keyboard.get("one_time_keyboard"):
            chat.reply_keyboard = None
        if not self._privacy_filtered(chat, msg):
            chat.delivered.add(msg.message_id)
            self._enqueue("message", copy.deepcopy(msg.raw))
        else:
            self._notify()
        return msg

    def user_edit(self, user: SimUser, chat: ChatState, msg: ChatMessage, text: str) -> None:
        """Edit a user's own text message and enqueue edited_message (used by SimUser)."""
        if msg.from_bot or msg.sender_id != user.id:
            raise AssertionError(f"message {msg.message_id} was not sent by {user.first_name}")
        if msg.kind != "text":
            raise AssertionError(f"message {msg.message_id} is not a text message")
        entities = detect_entities(text)
        msg.history.append(msg.text)
        msg.text, msg.html, msg.entities = text, text, entities
        msg.raw.pop("entities", None)
        msg.raw.update(self._text_content(text, entities))
        self._mark_edited(msg)
        if msg.message_id in chat.delivered:
            self._enqueue("edited_message", copy.deepcopy(msg.raw))
        else:
            self._notify()

    def channel_post(self, chat: ChatState, text: str) -> ChatMessage:
        """Store a channel post and enqueue channel_post (used by SimChannel)."""
        entities = detect_entities(text)
        msg = self._add_message(
            chat,
            from_bot=False,
            content=self._text_content(text, entities),
            kind="text",
            text=text,
            html=text,
            entities=entities,
        )
        self._enqueue("channel_post", copy.deepcopy(msg.raw))
        return msg

    def issue_callback(
        self, user: SimUser, chat: ChatState, msg: ChatMessage, data: str | None
    ) -> str:
        """Enqueue a callback_query for a tap on msg and return its id (used by SimUser)."""
        self._callback_seq += 1
        query_id = str(4_000_000_000_000_000_000 + self.bot_id * 1_000 + self._callback_seq)
        message: dict[str, Any]
        if msg.deleted:
            message = {"chat": chat.to_json(), "message_id": msg.message_id, "date": 0}
        else:
            message = copy.deepcopy(msg.raw)
        payload: dict[str, Any] = {
            "id": query_id,
            "from": user.user_json(),
            "message": message,
            "chat_instance": str(-(abs(chat.id) * 7919 + 1_234_567_891)),
        }
        if data is not None:
            payload["data"] = data
        self._callbacks[query_id] = _IssuedCallback(
            query_id, user.id, chat.id, msg.message_id, data
        )
        self._enqueue("callback_query", payload)
        return query_id

    def member_update(self, user: SimUser, old_status: str, new_status: str) -> None:
        """Enqueue my_chat_member for a block/unblock in a private chat (used by SimUser)."""
        chat = self._chats[user.id]

        def member(status: str) -> dict[str, Any]:
            """Build the bot's ChatMember object for a status."""
            out: dict[str, Any] = {"status": status, "user": self.bot_user_json()}
            if status == "kicked":
                out["until_date"] = 0
            return out

        self._enqueue(
            "my_chat_member",
            {
                "chat": chat.to_json(),
                "from": user.user_json(),
                "date": self._now(),
                "old_chat_member": member(old_status),
                "new_chat_member": member(new_status),
            },
        )

    def _privacy_filtered(self, chat: ChatState, msg: ChatMessage) -> bool:
        """Return True if privacy mode hides this group message from the bot."""
        if not self.privacy_mode or chat.type == "private":
            return False
        text = msg.text if msg.text is not None else (msg.caption or "")
        for entity in msg.entities:
            if entity["type"] == "bot_command" and entity["offset"] == 0:
                command = text[: entity["length"]]
                target = command.partition("@")[2]
                if not target or target.lower() == self.bot_username.lower():
                    return False
        reply = msg.raw.get("reply_to_message")
        return not (reply and reply.get("from", {}).get("id") == self.bot_id)
