"""The DGCA self-assessment: /dgca and the questionnaire buttons."""

from __future__ import annotations

from typing import Any

from telegram.ext import Application

from bot.flows import dgca, router
from bot.flows.callbacks import OpenDgca, OpenEvaluation, OpenEventEvaluation
from bot.flows.common import Ctx
from bot.flows.events import Event
from bot.flows.questionnaire import RUN_TAPS
from bot.handlers.common import callback_handler, command_handler


async def _dgca(ctx: Ctx, args: str) -> list[Event]:
    return await dgca.open_dgca(ctx)


def register(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    """Add the DGCA handlers."""
    app.add_handler(command_handler("dgca", _dgca))
    app.add_handler(
        callback_handler(router.open_callback, (OpenDgca, OpenEvaluation, OpenEventEvaluation))
    )
    app.add_handler(callback_handler(router.questionnaire_callback, RUN_TAPS))
