"""Join links (/start), the greeting and the consent."""

from __future__ import annotations

from typing import Any

from telegram.ext import Application

from bot.flows import join, router
from bot.flows.callbacks import Consent, JoinContinue, JoinLanguage
from bot.flows.common import Ctx
from bot.flows.events import Event
from bot.handlers.common import callback_handler, command_handler


async def _start(ctx: Ctx, args: str) -> list[Event]:
    return await router.start(ctx.svc, ctx.actor, args)


def register(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    """Add the join handlers."""
    app.add_handler(command_handler("start", _start))
    app.add_handler(callback_handler(join.on_join_callback, (JoinLanguage, JoinContinue, Consent)))
