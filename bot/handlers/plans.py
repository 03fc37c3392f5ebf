"""Action plans and their updates: /plan and the plan buttons."""

from __future__ import annotations

from typing import Any

from telegram.ext import Application

from bot.flows import checkins, plans
from bot.handlers.common import callback_handler, command_handler


def register(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    """Add the action-plan handlers."""
    app.add_handler(command_handler("plan", plans.plan_command))
    app.add_handler(callback_handler(plans.on_callback, plans.PLAN_TAPS))
    app.add_handler(callback_handler(checkins.on_callback, checkins.UPDATE_TAPS))
