"""The services every flow works with, built once at startup."""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.clock import Clock
from bot.content import Content
from bot.i18n import I18n
from storage import Store


@dataclass
class Services:
    """Storage, content, texts and time, handed to flows."""

    store: Store
    content: Content
    i18n: I18n
    clock: Clock
    admin_ids: frozenset[int] = field(default_factory=frozenset)
    bot_username: str = ""

    def join_link(self, join_code: str) -> str:
        """Return the deep link that joins a workshop."""
        return f"https://t.me/{self.bot_username}?start={join_code}"
