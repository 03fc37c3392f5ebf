"""Bot API methods about the bot itself: getMe, commands, menu button, texts, chats and files."""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from .models import ApiError
from .state import Handler
from .store import StoreMixin

MAX_DOWNLOAD = 20 * 1024 * 1024
_COMMAND_RE = re.compile(r"^[a-z0-9_]{1,32}$")
_LANG_RE = re.compile(r"^[a-z]{2,3}$")


class SettingsMixin(StoreMixin):
    """Answer getMe, command and menu button methods, getChat, bot texts and getFile."""

    def commands(
        self,
        language_code: str | None = None,
        scope: str = "default",
        *,
        chat_id: int | None = None,
        user_id: int | None = None,
    ) -> list[dict[str, str]]:
        """Return the commands set for exactly this scope type/chat/user and language."""
        key = (scope, chat_id, user_id, language_code or "")
        return [dict(c) for c in self._commands.get(key, [])]

    def menu_button(self, chat_id: int | None = None) -> dict[str, Any]:
        """Return the menu button set for a chat (or the default one)."""
        chat = self._chats.get(chat_id) if chat_id is not None else None
        if chat is not None and chat.menu_button is not None:
            return dict(chat.menu_button)
        return dict(self._default_menu_button or {"type": "default"})

    async def _true(self, params: dict[str, Any], request: web.Request) -> Any:
        return True

    async def _get_me(self, params: dict[str, Any], request: web.Request) -> Any:
        return {
            **self.bot_user_json(),
            "can_join_groups": True,
            "can_read_all_group_messages": not self.privacy_mode,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    async def _get_chat(self, params: dict[str, Any], request: web.Request) -> Any:
        chat = self._known_chat(params["chat_id"])
        info = chat.to_json()
        info.update(
            accent_color_id=chat.id % 7,
            max_reaction_count=11,
            accepted_gift_types={
                "unlimited_gifts": True,
                "limited_gifts": True,
                "unique_gifts": True,
                "premium_subscription": True,
                "gifts_from_channels": True,
            },
        )
        return info

    async def _get_file(self, params: dict[str, Any], request: web.Request) -> Any:
        stored = self.files.by_id.get(params["file_id"])
        if stored is None:
            raise ApiError(400, "Bad Request: invalid file_id")
        if len(stored.data) > MAX_DOWNLOAD:
            raise ApiError(400, "Bad Request: file is too big")
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": len(stored.data),
            "file_path": self.files.path_for(stored),
        }

    def _scope_key(self, params: dict[str, Any]) -> tuple[str, int | None, int | None, str]:
        scope = params.get("scope") or {"type": "default"}
        kind = scope.get("type")
        if kind not in (
            "default",
            "all_private_chats",
            "all_group_chats",
            "all_chat_administrators",
            "chat",
            "chat_administrators",
            "chat_member",
        ):
            raise ApiError(400, "Bad Request: wrong scope type specified")
        chat_id: int | None = None
        user_id: int | None = None
        if kind in ("chat", "chat_administrators", "chat_member"):
            chat_id = self._known_chat(scope.get("chat_id")).id
        if kind == "chat_member":
            user_id = scope.get("user_id")
            if not isinstance(user_id, int):
                raise ApiError(400, "Bad Request: user not found")
        language = params.get("language_code") or ""
        if language and not _LANG_RE.match(language):
            raise ApiError(400, "Bad Request: invalid language code specified")
        return str(kind), chat_id, user_id, language

    async def _set_my_commands(self, params: dict[str, Any], request: web.Request) -> Any:
        commands = params["commands"]
        if len(commands) > 100:
            raise ApiError(400, "Bad Request: too many commands specified")
        clean: list[dict[str, str]] = []
        for item in commands:
            if not isinstance(item, dict):
                raise ApiError(400, "Bad Request: can't parse BotCommand JSON object")
            command = item.get("command")
            description = item.get("description")
            if not isinstance(command, str) or not _COMMAND_RE.match(command):
                raise ApiError(400, "Bad Request: BOT_COMMAND_INVALID")
            if not isinstance(description, str) or not 1 <= len(description.strip()) <= 256:
                raise ApiError(400, "Bad Request: BOT_COMMAND_DESCRIPTION_INVALID")
            clean.append({"command": command, "description": description})
        key = self._scope_key(params)
        if clean:
            self._commands[key] = clean
        else:
            self._commands.pop(key, None)
        return True

    async def _get_my_commands(self, params: dict[str, Any], request: web.Request) -> Any:
        return [dict(c) for c in self._commands.get(self._scope_key(params), [])]

    async def _delete_my_commands(self, params: dict[str, Any], request: web.Request) -> Any:
        self._commands.pop(self._scope_key(params), None)
        return True

    async def _set_chat_menu_button(self, params: dict[str, Any], request: web.Request) -> Any:
        button = params.get("menu_button") or {"type": "default"}
        if button.get("type") not in ("commands", "web_app", "default"):
            raise ApiError(400, "Bad Request: unsupported menu button type")
        if "chat_id" in params:
            chat = self._known_chat(params["chat_id"])
            if chat.type != "private":
                raise ApiError(400, "Bad Request: menu button can be set only in private chats")
            chat.menu_button = dict(button)
        else:
            self._default_menu_button = dict(button)
        return True

    async def _get_chat_menu_button(self, params: dict[str, Any], request: web.Request) -> Any:
        if "chat_id" in params:
            self._known_chat(params["chat_id"])
        return self.menu_button(params.get("chat_id"))

    def _set_bot_text(self, what: str) -> Handler:
        async def handler(params: dict[str, Any], request: web.Request) -> Any:
            """Store the text for a language ("" for all)."""
            value = params.get(what, "")
            language = params.get("language_code") or ""
            if value:
                self._bot_texts[(what, language)] = value
            else:
                self._bot_texts.pop((what, language), None)
            return True

        return handler

    def _get_bot_text(self, what: str) -> Handler:
        async def handler(params: dict[str, Any], request: web.Request) -> Any:
            """Return the text for a language, falling back to the default one."""
            language = params.get("language_code") or ""
            value = self._bot_texts.get((what, language), self._bot_texts.get((what, ""), ""))
            if what == "name" and not value:
                value = self.bot_first_name
            return {what: value}

        return handler
