"""Simulated Telegram users, groups and channels that drive a bot through the double."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .formatting import detect_entities
from .media import guess_mime, image_size, sample_ogg, sample_png, sample_webp
from .models import ChatMessage

if TYPE_CHECKING:
    from .state import ChatState
    from .users import UsersMixin


class SimUser:
    """Play one Telegram user talking to the bot (private chat id == user id)."""

    def __init__(
        self,
        double: UsersMixin,
        user_id: int,
        first_name: str,
        *,
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = None,
        is_premium: bool = False,
    ) -> None:
        self.double = double
        self.id = user_id
        self.first_name = first_name
        self.last_name = last_name
        self.username = username
        self.language_code = language_code
        self.is_premium = is_premium
        self.started = False
        self.blocked = False
        self.deactivated = False

    def __repr__(self) -> str:
        return f"SimUser({self.id}, {self.first_name!r})"

    @property
    def chat_id(self) -> int:
        """Return the id of the private chat with the bot."""
        return self.id

    def user_json(self) -> dict[str, Any]:
        """Return this user as a Bot API User object."""
        out: dict[str, Any] = {"id": self.id, "is_bot": False, "first_name": self.first_name}
        if self.last_name:
            out["last_name"] = self.last_name
        if self.username:
            out["username"] = self.username
        if self.language_code:
            out["language_code"] = self.language_code
        if self.is_premium:
            out["is_premium"] = True
        return out

    def chat_json(self) -> dict[str, Any]:
        """Return the private chat with this user as a Bot API Chat object."""
        out: dict[str, Any] = {"id": self.id, "type": "private", "first_name": self.first_name}
        if self.last_name:
            out["last_name"] = self.last_name
        if self.username:
            out["username"] = self.username
        return out

    # ----------------------------------------------------------------- reading the chat

    @property
    def messages(self) -> list[ChatMessage]:
        """Return the bot's messages in the private chat, in order, edits applied."""
        return self.double.chat_messages(self.id)

    @property
    def all_messages(self) -> list[ChatMessage]:
        """Return every message of the private chat (user's and bot's)."""
        return self.double.chat_messages(self.id, from_bot=None)

    @property
    def last(self) -> ChatMessage:
        """Return the bot's last message in the private chat."""
        return _last(self.messages, f"{self.first_name}'s private chat")

    @property
    def keyboard(self) -> list[list[str]]:
        """Return the reply keyboard the bot currently shows in the private chat."""
        markup = self.double.chat_state(self.id).reply_keyboard
        if not markup:
            return []
        return [
            [b if isinstance(b, str) else str(b.get("text", "")) for b in row]
            for row in markup.get("keyboard", [])
        ]

    def buttons(self, msg: ChatMessage | None = None, *, chat: Any = None) -> list[str]:
        """Return the inline button texts of msg (default: latest bot message with a keyboard)."""
        if msg is None:
            msg = _latest_with_keyboard(self.double, _chat_id(self, chat))
        return msg.button_texts if msg is not None else []

    # ----------------------------------------------------------------- sending

    def _chat(self, chat: Any) -> ChatState:
        return self.double.chat_state(_chat_id(self, chat))

    def _reply(self, chat: ChatState, reply_to: ChatMessage | int | None) -> ChatMessage | None:
        if reply_to is None:
            return None
        message_id = reply_to.message_id if isinstance(reply_to, ChatMessage) else reply_to
        return chat.messages[message_id]

    async def send(
        self, text: str, *, chat: Any = None, reply_to: ChatMessage | int | None = None
    ) -> ChatMessage:
        """Send a text message; commands get bot_command entities like real clients."""
        state = self._chat(chat)
        entities = detect_entities(text)
        content: dict[str, Any] = {"text": text}
        if entities:
            content["entities"] = entities
        return self.double.user_message(
            self,
            state,
            kind="text",
            content=content,
            reply_to=self._reply(state, reply_to),
            text=text,
            html=text,
            entities=entities,
        )

    async def send_photo(
        self,
        data: bytes | None = None,
        *,
        caption: str | None = None,
        chat: Any = None,
        reply_to: ChatMessage | int | None = None,
    ) -> ChatMessage:
        """Send a photo (a generated PNG by default)."""
        data = data if data is not None else sample_png()
        width, height = image_size(data) or (640, 480)
        sizes = self.double.files.add_photo(data, width, height)
        content: dict[str, Any] = {"photo": [s.photo_size() for s in sizes]}
        entities = _caption_into(content, caption)
        state = self._chat(chat)
        return self.double.user_message(
            self,
            state,
            kind="photo",
            content=content,
            reply_to=self._reply(state, reply_to),
            caption=caption,
            caption_html=caption,
            entities=entities,
            photo=data,
        )

    async def send_document(
        self,
        name: str = "documento.pdf",
        data: bytes = b"%PDF-1.4\n%test\n",
        *,
        mime_type: str | None = None,
        caption: str | None = None,
        chat: Any = None,
    ) -> ChatMessage:
        """Send a file as a document."""
        stored = self.double.files.add(
            "document", data, filename=name, mime_type=guess_mime(name, mime_type)
        )
        content: dict[str, Any] = {"document": stored.document()}
        entities = _caption_into(content, caption)
        return self.double.user_message(
            self,
            self._chat(chat),
            kind="document",
            content=content,
            caption=caption,
            caption_html=caption,
            entities=entities,
            document=(name, data),
        )

    async def send_sticker(self, emoji: str = "👍", *, chat: Any = None) -> ChatMessage:
        """Send a regular static sticker."""
        data = sample_webp()
        stored = self.double.files.add(
            "sticker", data, mime_type="image/webp", width=512, height=512
        )
        sticker = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "type": "regular",
            "width": 512,
            "height": 512,
            "is_animated": False,
            "is_video": False,
            "emoji": emoji,
            "set_name": "TallerTestStickers",
            "file_size": len(data),
        }
        return self.double.user_message(
            self, self._chat(chat), kind="sticker", content={"sticker": sticker}
        )

    async def send_voice(
        self, data: bytes | None = None, *, duration: int = 2, chat: Any = None
    ) -> ChatMessage:
        """Send a voice note."""
        data = data if data is not None else sample_ogg(duration)
        stored = self.double.files.add("voice", data, mime_type="audio/ogg", duration=duration)
        voice = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "duration": duration,
            "mime_type": "audio/ogg",
            "file_size": len(data),
        }
        return self.double.user_message(
            self, self._chat(chat), kind="voice", content={"voice": voice}
        )

    async def send_location(
        self, latitude: float = -12.046374, longitude: float = -77.042793, *, chat: Any = None
    ) -> ChatMessage:
        """Send a location (Lima by default)."""
        location = {"latitude": float(latitude), "longitude": float(longitude)}
        return self.double.user_message(
            self, self._chat(chat), kind="location", content={"location": location}
        )

    async def send_contact(
        self,
        phone_number: str = "+51987654321",
        *,
        first_name: str | None = None,
        last_name: str | None = None,
        own: bool = True,
        chat: Any = None,
    ) -> ChatMessage:
        """Send a contact; own=True shares the user's own card (with user_id)."""
        contact: dict[str, Any] = {
            "phone_number": phone_number,
            "first_name": first_name or self.first_name,
        }
        last = last_name if last_name is not None else (self.last_name if own else None)
        if last:
            contact["last_name"] = last
        if own:
            contact["user_id"] = self.id
        return self.double.user_message(
            self, self._chat(chat), kind="contact", content={"contact": contact}
        )

    async def edit(self, message: ChatMessage | int, text: str, *, chat: Any = None) -> ChatMessage:
        """Edit one of this user's own text messages (produces edited_message)."""
        state = self._chat(chat)
        message_id = message.message_id if isinstance(message, ChatMessage) else message
        msg = state.messages.get(message_id)
        if msg is None:
            raise AssertionError(f"no message {message_id} in chat {state.id}")
        self.double.user_edit(self, state, msg, text)
        return msg

    async def tap(
        self, text: str, *, message: ChatMessage | int | None = None, chat: Any = None
    ) -> str:
        """Press the inline button labelled text; return the callback query id.

        The button is looked up in `message` or else in the latest bot message of
        the chat that has an inline keyboard; an exact label wins over a substring.
        """
        chat_id = _chat_id(self, chat)
        state = self.double.chat_state(chat_id)
        if message is None:
            msg = _latest_with_keyboard(self.double, chat_id)
            if msg is None:
                raise AssertionError(
                    f"{self.first_name}: no bot message with an inline keyboard in chat {chat_id}"
                )
        else:
            msg = state.messages[
                message.message_id if isinstance(message, ChatMessage) else message
            ]
        buttons = [b for row in msg.buttons for b in row]
        chosen = next((b for b in buttons if b.get("text") == text), None)
        if chosen is None:
            chosen = next((b for b in buttons if text in str(b.get("text", ""))), None)
        if chosen is None:
            raise AssertionError(
                f"{self.first_name}: no button {text!r} in message {msg.message_id}; "
                f"available: {[b.get('text') for b in buttons]}"
            )
        if "callback_data" not in chosen:
            kind = next((k for k in chosen if k != "text"), "none")
            raise AssertionError(
                f"{self.first_name}: button {chosen.get('text')!r} is a {kind} button, "
                "it sends no callback query"
            )
        return self.double.issue_callback(self, state, msg, str(chosen["callback_data"]))

    async def tap_data(
        self,
        data: str,
        *,
        message_id: int | None = None,
        message: ChatMessage | None = None,
        chat: Any = None,
    ) -> str:
        """Send a callback query with arbitrary data on a bot message (default: the last one)."""
        chat_id = _chat_id(self, chat)
        state = self.double.chat_state(chat_id)
        if message is not None:
            message_id = message.message_id
        if message_id is None:
            msg = _last(self.double.chat_messages(chat_id), f"chat {chat_id}")
        else:
            found = state.messages.get(message_id)
            if found is None or not found.from_bot:
                raise AssertionError(f"no bot message {message_id} in chat {chat_id}")
            msg = found
        return self.double.issue_callback(self, state, msg, data)

    # ----------------------------------------------------------------- account state

    def block(self) -> None:
        """Block the bot: sends to this user fail with 403 (emits my_chat_member)."""
        if not self.blocked:
            self.blocked = True
            if self.started:
                self.double.member_update(self, "member", "kicked")

    def unblock(self) -> None:
        """Unblock the bot (emits my_chat_member)."""
        if self.blocked:
            self.blocked = False
            if self.started:
                self.double.member_update(self, "kicked", "member")

    def deactivate(self) -> None:
        """Delete the account: sends to this user fail with 403 "user is deactivated"."""
        self.deactivated = True


class SimGroup:
    """Play a supergroup the bot is a member of."""

    def __init__(
        self,
        double: UsersMixin,
        chat_id: int,
        title: str,
        *,
        username: str | None = None,
        members: list[SimUser] | None = None,
    ) -> None:
        self.double = double
        self.id = chat_id
        self.title = title
        self.username = username
        self.members = list(members or [])

    def __repr__(self) -> str:
        return f"SimGroup({self.id}, {self.title!r})"

    @property
    def messages(self) -> list[ChatMessage]:
        """Return the bot's messages in the group, in order."""
        return self.double.chat_messages(self.id)

    @property
    def all_messages(self) -> list[ChatMessage]:
        """Return every stored message of the group."""
        return self.double.chat_messages(self.id, from_bot=None)

    @property
    def last(self) -> ChatMessage:
        """Return the bot's last message in the group."""
        return _last(self.messages, f"group {self.title!r}")

    def buttons(self, msg: ChatMessage | None = None) -> list[str]:
        """Return inline button texts of msg (default: latest bot message with a keyboard)."""
        if msg is None:
            msg = _latest_with_keyboard(self.double, self.id)
        return msg.button_texts if msg is not None else []

    def add_member(self, user: SimUser) -> None:
        """Add a user to the member list."""
        if user not in self.members:
            self.members.append(user)


class SimChannel:
    """Play a channel where the bot is an administrator."""

    def __init__(
        self, double: UsersMixin, chat_id: int, title: str, *, username: str | None = None
    ) -> None:
        self.double = double
        self.id = chat_id
        self.title = title
        self.username = username

    def __repr__(self) -> str:
        return f"SimChannel({self.id}, {self.title!r})"

    @property
    def messages(self) -> list[ChatMessage]:
        """Return the bot's posts in the channel."""
        return self.double.chat_messages(self.id)

    async def post(self, text: str) -> ChatMessage:
        """Publish a text post (the bot receives a channel_post update)."""
        return self.double.channel_post(self.double.chat_state(self.id), text)


def _chat_id(user: SimUser, chat: Any) -> int:
    if chat is None:
        return user.id
    if isinstance(chat, int):
        return chat
    if isinstance(chat, SimUser | SimGroup | SimChannel):
        return chat.id
    raise TypeError(f"not a chat: {chat!r}")


def _last(messages: list[ChatMessage], where: str) -> ChatMessage:
    live = [m for m in messages if not m.deleted]
    if not live:
        raise AssertionError(f"the bot has sent no message in {where}")
    return live[-1]


def _latest_with_keyboard(double: UsersMixin, chat_id: int) -> ChatMessage | None:
    for msg in reversed(double.chat_messages(chat_id)):
        if not msg.deleted and msg.buttons:
            return msg
    return None


def _caption_into(content: dict[str, Any], caption: str | None) -> list[dict[str, Any]]:
    if not caption:
        return []
    content["caption"] = caption
    entities = detect_entities(caption)
    if entities:
        content["caption_entities"] = entities
    return entities
