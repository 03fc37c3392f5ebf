"""The typed CallbackContext that gives handlers their services."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from telegram.ext import Application, CallbackContext, ExtBot

from bot.services import Services

if TYPE_CHECKING:
    from bot.delivery import Delivery
    from bot.instances import Coordinator, Inbox


class BotData:
    """Application-wide state: the services, set once the application starts."""

    def __init__(self) -> None:
        self.services: Services | None = None
        self.delivery: Delivery | None = None
        # Only when instances share the database (bot/instances.py).
        self.inbox: Inbox | None = None
        self.coordinator: Coordinator | None = None


class BotContext(CallbackContext[ExtBot[None], dict[Any, Any], dict[Any, Any], BotData]):
    """CallbackContext with typed access to the services."""

    def __init__(
        self,
        application: Application[Any, Any, Any, Any, Any, Any],
        chat_id: int | None = None,
        user_id: int | None = None,
    ) -> None:
        super().__init__(application=application, chat_id=chat_id, user_id=user_id)

    @property
    def services(self) -> Services:
        """Return the services; they exist from post_init on."""
        services = self.bot_data.services
        if services is None:
            raise RuntimeError("services used before the application was initialised")
        return services
