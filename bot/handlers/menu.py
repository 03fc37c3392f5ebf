"""The menu, help, language and workshop choice."""

from __future__ import annotations

from typing import Any

from telegram.ext import Application

from bot.flows import menu
from bot.flows.callbacks import OpenMenu, PickLanguage, PickWorkshop, ShowHelp
from bot.flows.common import Ctx
from bot.flows.events import Event, Notice
from bot.handlers.common import callback_handler, command_handler


async def _menu(ctx: Ctx, args: str) -> list[Event]:
    return await menu.menu(ctx)


async def _help(ctx: Ctx, args: str) -> list[Event]:
    return menu.help_text(ctx)


async def _language(ctx: Ctx, args: str) -> list[Event]:
    return menu.language_menu(ctx)


async def _open_menu(ctx: Ctx, cb: OpenMenu, message_id: int) -> list[Event]:
    return [Notice(), *await menu.menu(ctx)]


async def _show_help(ctx: Ctx, cb: ShowHelp, message_id: int) -> list[Event]:
    return [Notice(), *menu.help_text(ctx)]


def register(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    """Add the menu handlers."""
    app.add_handler(command_handler("menu", _menu))
    app.add_handler(command_handler("help", _help))
    app.add_handler(command_handler("language", _language))
    app.add_handler(callback_handler(_open_menu, (OpenMenu,)))
    app.add_handler(callback_handler(_show_help, (ShowHelp,)))
    app.add_handler(callback_handler(menu.on_language_callback, (PickLanguage,)))
    app.add_handler(callback_handler(menu.on_workshop_callback, (PickWorkshop,)))
