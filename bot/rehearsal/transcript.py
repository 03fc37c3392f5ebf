"""What was said in each chat, in order, on the simulated clock, and the files the bot sent.

The double reports every Bot API call it answered successfully; the simulated people
report what they typed and tapped. Both land in one list in the order they happened, so
a chat's transcript reads as the person saw it: messages, the buttons under them, the
button tapped, the message edited in place.
"""

from __future__ import annotations

import collections
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import ClientSession, web

from bot.apidouble import BotApiDouble
from bot.clock import SimulatedClock
from bot.rehearsal.people import ascii_slug

SEND_METHODS = ("sendMessage", "sendPhoto", "sendDocument", "copyMessage", "forwardMessage")
EDIT_METHODS = ("editMessageText", "editMessageCaption", "editMessageReplyMarkup")
PNG_MAGIC = b"\x89PNG"


@dataclass
class FileRef:
    """A photo or document the bot sent, and where the rehearsal wrote it."""

    file_id: str
    chat_id: int
    kind: str
    name: str
    path: Path | None = None
    size: int = 0


@dataclass
class Entry:
    """One thing that happened in a chat."""

    seq: int
    chat_id: int
    at: datetime
    by_bot: bool
    action: str
    message_id: int | None = None
    text: str = ""
    buttons: list[list[str]] = field(default_factory=list)
    file: FileRef | None = None
    who: str = ""


class Recorder:
    """Collect what the bot and the simulated people did, chat by chat.

    With `stable`, a tapped button's pop-up is written right after the tap. The bot
    answers the tap beside its reply, so which of the two Telegram gets first is a race;
    by default the transcript shows the order they came in.
    """

    def __init__(self, clock: SimulatedClock, *, stable: bool = False) -> None:
        self.clock = clock
        self.stable = stable
        self.entries: list[Entry] = []
        self.files: list[FileRef] = []
        self.sent = 0
        self.edited = 0
        # Every Bot API call that concerned a chat (a tap's answer counts for the tapper's
        # chat), and the messages sent to it: what answering one question costs.
        self.calls_by_chat: collections.Counter[int] = collections.Counter()
        self.sends_by_chat: collections.Counter[int] = collections.Counter()
        self._seq = itertools.count()
        self._taps: dict[str, Entry] = {}

    def _add(self, chat_id: int, by_bot: bool, action: str, **fields: Any) -> Entry:
        entry = Entry(next(self._seq), chat_id, self.clock.now(), by_bot, action, **fields)
        self.entries.append(entry)
        return entry

    # ------------------------------------------------------------------ the people

    def said(self, chat_id: int, text: str, who: str) -> None:
        """Note a message a person typed."""
        self._add(chat_id, False, "say", text=text, who=who)

    def uploaded(self, chat_id: int, name: str, who: str) -> None:
        """Note a file a person sent."""
        self._add(chat_id, False, "upload", text=name, who=who)

    def tapped(
        self,
        chat_id: int,
        message_id: int,
        label: str,
        shown: list[list[str]],
        query_id: str,
        who: str,
    ) -> None:
        """Note a button a person tapped, with the keyboard they saw."""
        self._taps[query_id] = self._add(
            chat_id, False, "tap", message_id=message_id, text=label, buttons=shown, who=who
        )

    # ------------------------------------------------------------------ the bot

    def bot_call(
        self, method: str, params: dict[str, Any], result: Any, chat: int | None = None
    ) -> None:
        """Note one Bot API call the double answered successfully (about `chat`, if any)."""
        if chat is not None:
            self.calls_by_chat[chat] += 1
        if method in SEND_METHODS:
            self.sent += 1
            if chat is not None:
                self.sends_by_chat[chat] += 1
            if isinstance(result, dict) and "chat" in result:
                self._bot_message(result, "send")
            else:
                chat_id = params.get("chat_id")
                if isinstance(chat_id, int):
                    self._add(chat_id, True, "send", text=f"({method})")
        elif method in EDIT_METHODS:
            self.edited += 1
            if isinstance(result, dict) and "chat" in result:
                self._bot_message(result, "edit")
        elif method == "deleteMessage":
            chat_id, message_id = params.get("chat_id"), params.get("message_id")
            if isinstance(chat_id, int):
                self._add(chat_id, True, "delete", message_id=message_id)
        elif method == "answerCallbackQuery":
            text = params.get("text")
            tap = self._taps.get(str(params.get("callback_query_id")))
            if text and tap is not None:
                self._add(tap.chat_id, True, "toast", text=str(text))
                if self.stable:
                    self._move_after(tap)

    def _move_after(self, tap: Entry) -> None:
        """Move the newest entry to just after `tap` (few entries come between them)."""
        entry = self.entries.pop()
        for index in range(len(self.entries) - 1, -1, -1):
            if self.entries[index] is tap:
                self.entries.insert(index + 1, entry)
                return
        self.entries.append(entry)

    def _bot_message(self, message: dict[str, Any], action: str) -> None:
        chat_id = int(message["chat"]["id"])
        text = str(message.get("text") or message.get("caption") or "")
        markup = message.get("reply_markup") or {}
        buttons = [[_button_label(b) for b in row] for row in markup.get("inline_keyboard", [])]
        file = None
        if action == "send":
            file = self._file_of(chat_id, message)
        self._add(
            chat_id,
            True,
            action,
            message_id=message.get("message_id"),
            text=text,
            buttons=buttons,
            file=file,
        )

    def _file_of(self, chat_id: int, message: dict[str, Any]) -> FileRef | None:
        photo = message.get("photo")
        if isinstance(photo, list) and photo:
            caption = str(message.get("caption") or "")
            name = ascii_slug(caption.split("\n", 1)[0], 50) if caption else "photo"
            ref = FileRef(str(photo[-1]["file_id"]), chat_id, "photo", name)
        elif isinstance(message.get("document"), dict):
            document = message["document"]
            ref = FileRef(
                str(document["file_id"]), chat_id, "document", document.get("file_name") or "file"
            )
        else:
            return None
        self.files.append(ref)
        return ref

    def chats(self) -> set[int]:
        """Return the chats anything happened in."""
        return {e.chat_id for e in self.entries}

    def of_chat(self, chat_id: int) -> list[Entry]:
        """Return a chat's entries in the order they happened."""
        return [e for e in self.entries if e.chat_id == chat_id]


def _button_label(button: dict[str, Any]) -> str:
    label = str(button.get("text", ""))
    return f"{label} ↗" if button.get("url") else label


class RecordingDouble(BotApiDouble):
    """The Bot API double, also telling a recorder about every call it answered."""

    def __init__(self, recorder: Recorder, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.recorder = recorder

    async def _call(self, method: str, params: dict[str, Any], request: web.Request) -> Any:
        result = await super()._call(method, params, request)
        self.recorder.bot_call(method, params, result, self._chat_of(method, params))
        return result

    def _chat_of(self, method: str, params: dict[str, Any]) -> int | None:
        """Return the chat a call concerns; a tap's answer names only the tap."""
        if method == "answerCallbackQuery":
            issued = self._callbacks.get(str(params.get("callback_query_id")))
            return issued.chat_id if issued is not None else None
        chat = params.get("chat_id")
        if isinstance(chat, int):
            return chat
        if isinstance(chat, str) and chat.lstrip("-").isdigit():
            return int(chat)
        return None


async def download_files(
    double: BotApiDouble, files: list[FileRef], folder_of: Callable[[int], Path]
) -> int:
    """Fetch every file the bot sent, as a Telegram client would, and return the bytes written.

    Each file is asked for with getFile and downloaded from the file URL, into the folder
    of its chat, numbered in the order the bot sent them.
    """
    written = 0
    numbers: dict[int, itertools.count[int]] = {}
    async with ClientSession() as http:
        for ref in files:
            url = f"{double.url}/bot{double.token}/getFile"
            async with http.get(url, params={"file_id": ref.file_id}) as reply:
                body = await reply.json()
            if not body.get("ok"):
                raise RuntimeError(f"getFile failed for a file the bot sent: {body}")
            path = body["result"]["file_path"]
            async with http.get(f"{double.url}/file/bot{double.token}/{path}") as reply:
                reply.raise_for_status()
                data = await reply.read()
            number = next(numbers.setdefault(ref.chat_id, itertools.count(1)))
            name = ref.name
            if ref.kind == "photo":
                name += ".png" if data.startswith(PNG_MAGIC) else ".jpg"
            folder = folder_of(ref.chat_id)
            folder.mkdir(parents=True, exist_ok=True)
            ref.path = folder / f"{number:02d}-{name}"
            ref.path.write_bytes(data)
            ref.size = len(data)
            written += len(data)
    return written


# ---------------------------------------------------------------------- Markdown


def _escape(text: str) -> str:
    """Keep Markdown from reading the bot's text as markup."""
    for char in ("\\", "`", "*", "<", "[", "]"):
        text = text.replace(char, "\\" + char)
    return text


def _quote(text: str) -> list[str]:
    return [f"> {_escape(line)}" if line.strip() else ">" for line in text.split("\n")]


def _keyboard(rows: list[list[str]]) -> list[str]:
    return ["> " + " ".join(f"`[{label}]`" for label in row) for row in rows if row]


def render_chat(
    heading: str,
    about: list[str],
    entries: list[Entry],
    zone: ZoneInfo,
    link: Callable[[FileRef], str],
) -> str:
    """Write one chat as Markdown: a line per event, the bot's messages quoted."""
    lines = [f"# {heading}", "", *about, ""]
    if entries:
        lines += [f"Times are on the simulated clock, in {zone.key}.", ""]
    day = None
    for e in entries:
        local = e.at.astimezone(zone)
        if local.date() != day:
            day = local.date()
            lines += [f"## {local:%A} {local.day} {local:%B %Y}", ""]
        when = f"**{local:%H:%M}**"
        ref = f"#{e.message_id}" if e.message_id is not None else ""
        if not e.by_bot:
            name = e.who or "someone"
            if e.action == "say":
                lines.append(f"{when} 👤 **{name}:** {_escape(e.text)}")
            elif e.action == "upload":
                lines.append(f"{when} 👤 **{name}** sends the file `{e.text}`")
            else:
                lines.append(f"{when} 👤 **{name}** taps `[{e.text}]` on {ref}")
            lines.append("")
            continue
        if e.action == "toast":
            lines += [f"{when} 🤖 pop-up: *{_escape(e.text)}*", ""]
            continue
        if e.action == "delete":
            lines += [f"{when} 🤖 deletes {ref}", ""]
            continue
        verb = "edits" if e.action == "edit" else "sends"
        what = ""
        if e.file is not None:
            what = " a picture" if e.file.kind == "photo" else f" the file `{e.file.name}`"
        lines.append(f"{when} 🤖 {verb}{what} {ref}".rstrip() + ":")
        if e.file is not None and e.file.path is not None:
            target = link(e.file)
            shown = (
                f"![{e.file.path.name}]({target})"
                if e.file.kind == "photo"
                else (f"[{e.file.path.name}]({target})")
            )
            lines += ["", shown]
        if e.text:
            lines += ["", *_quote(e.text)]
        if e.buttons:
            lines += [">", *_keyboard(e.buttons)] if e.text else ["", *_keyboard(e.buttons)]
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"
