"""The agenda: /agenda, /next, /reminders and the time zone buttons."""

from __future__ import annotations

from typing import Any

from telegram.ext import Application

from bot.flows import agenda
from bot.flows.callbacks import PickTimezone, SetAttendance, SetReminders
from bot.flows.common import Ctx
from bot.flows.events import Event
from bot.handlers.common import callback_handler, command_handler


async def _agenda(ctx: Ctx, args: str) -> list[Event]:
    return await agenda.agenda(ctx)


async def _next(ctx: Ctx, args: str) -> list[Event]:
    return await agenda.next_session(ctx)


def register(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    """Add the agenda handlers."""
    app.add_handler(command_handler("agenda", _agenda))
    app.add_handler(command_handler("next", _next))
    app.add_handler(command_handler("reminders", agenda.reminders_switch))
    app.add_handler(callback_handler(agenda.on_timezone_callback, (PickTimezone,)))
    app.add_handler(callback_handler(agenda.on_reminders_callback, (SetReminders,)))
    app.add_handler(callback_handler(agenda.on_attendance_callback, (SetAttendance,)))
