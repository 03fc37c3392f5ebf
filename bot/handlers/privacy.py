"""Privacy: the notice, /mydata and /forget."""

from __future__ import annotations

from typing import Any

from telegram.ext import Application

from bot.flows import privacy
from bot.flows.callbacks import Forget, MyData, ShowPrivacy
from bot.flows.common import Ctx
from bot.flows.events import Event
from bot.handlers.common import callback_handler, command_handler


async def _privacy(ctx: Ctx, args: str) -> list[Event]:
    return await privacy.privacy(ctx)


async def _mydata(ctx: Ctx, args: str) -> list[Event]:
    return await privacy.mydata(ctx)


async def _forget(ctx: Ctx, args: str) -> list[Event]:
    return privacy.forget(ctx)


def register(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    """Add the privacy handlers."""
    app.add_handler(command_handler("privacy", _privacy))
    app.add_handler(command_handler("mydata", _mydata))
    app.add_handler(command_handler("forget", _forget))
    app.add_handler(callback_handler(privacy.on_callback, (ShowPrivacy, MyData, Forget)))
