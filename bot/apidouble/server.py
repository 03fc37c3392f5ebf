"""An HTTP server that plays the Telegram Bot API for tests and offline rehearsals.

The double is assembled from one mixin per part: transport (HTTP, validation,
dispatch, faults), updates and webhooks, the chat and message store, the Bot API
method groups (sending, editing, bot settings) and the simulated users.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from .editing import EditingMixin
from .models import Request
from .sending import SendingMixin
from .settings import SettingsMixin
from .state import ChatState, Delay, Handler, Injection, WebhookDelivery, _IssuedCallback
from .transport import TransportMixin
from .users import UsersMixin
from .webhooks import WebhookMixin

__all__ = [
    "BotApiDouble",
    "ChatState",
    "Delay",
    "Injection",
    "WebhookDelivery",
    "_IssuedCallback",
]


class BotApiDouble(
    TransportMixin, WebhookMixin, SendingMixin, EditingMixin, SettingsMixin, UsersMixin
):
    """Serve the Bot API methods a python-telegram-bot bot uses, with real Telegram semantics."""

    def _method_table(self) -> dict[str, Handler]:
        return {
            "getMe": self._get_me,
            "logOut": self._true,
            "close": self._true,
            "getUpdates": self._get_updates,
            "setWebhook": self._set_webhook,
            "deleteWebhook": self._delete_webhook,
            "getWebhookInfo": self._get_webhook_info,
            "sendMessage": self._send_message,
            "sendPhoto": self._send_photo,
            "sendDocument": self._send_document,
            "sendChatAction": self._send_chat_action,
            "copyMessage": self._copy_message,
            "forwardMessage": self._forward_message,
            "editMessageText": self._edit_message_text,
            "editMessageCaption": self._edit_message_caption,
            "editMessageReplyMarkup": self._edit_message_reply_markup,
            "deleteMessage": self._delete_message,
            "answerCallbackQuery": self._answer_callback_query,
            "getFile": self._get_file,
            "setMyCommands": self._set_my_commands,
            "getMyCommands": self._get_my_commands,
            "deleteMyCommands": self._delete_my_commands,
            "setChatMenuButton": self._set_chat_menu_button,
            "getChatMenuButton": self._get_chat_menu_button,
            "getChat": self._get_chat,
            "setMyName": self._set_bot_text("name"),
            "getMyName": self._get_bot_text("name"),
            "setMyDescription": self._set_bot_text("description"),
            "getMyDescription": self._get_bot_text("description"),
            "setMyShortDescription": self._set_bot_text("short_description"),
            "getMyShortDescription": self._get_bot_text("short_description"),
        }

    def requests_for(self, method: str) -> list[Request]:
        """Return the received requests of one method (case-insensitive)."""
        wanted = method.lower()
        return [r for r in self.requests if r.method.lower() == wanted]

    # The timeout parameter is the agreed test-facing API, hence the ASYNC109 waivers.
    async def wait_for(
        self,
        condition: Callable[[], object],
        timeout: float = 5.0,  # noqa: ASYNC109
        *,
        message: str | None = None,
        poll_interval: float | None = None,
    ) -> None:
        """Wait until condition() is truthy, re-checking after every request and update.

        poll_interval adds periodic re-checks for conditions on state the double
        does not see (a database, for instance).
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not condition():
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise AssertionError(self._timeout_report(message or "condition", timeout))
            if poll_interval is not None:
                remaining = min(remaining, poll_interval)
            event = self._changed
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), remaining)

    async def wait_until_fetched(self, timeout: float = 5.0) -> None:  # noqa: ASYNC109
        """Wait until getUpdates has returned every enqueued update to the bot."""
        await self.wait_for(
            lambda: self.unfetched_updates == 0,
            timeout,
            message=f"bot to fetch {self.unfetched_updates} pending update(s)",
        )

    def _timeout_report(self, what: str, timeout: float) -> str:
        lines = [f"timed out after {timeout}s waiting for {what}"]
        lines.append(f"updates enqueued={self.updates_enqueued} unfetched={self.unfetched_updates}")
        if self.webhook.get("url"):
            lines.append(f"webhook {self.webhook['url']}, last error: {self._webhook_error}")
        recent = self.requests[-10:]
        lines.append(f"last {len(recent)} of {len(self.requests)} request(s):")
        lines.extend("  " + r.short() for r in recent)
        if self.violations:
            lines.append("violations: " + "; ".join(self.violations[-5:]))
        return "\n".join(lines)
