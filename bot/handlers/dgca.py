"""The DGCA self-assessment: /dgca and the questionnaire buttons."""

from __future__ import annotations

from typing import Any

from telegram.ext import Application

from bot.flows import dgca, router
from bot.flows.callbacks import Kind
from bot.flows.common import Ctx
from bot.flows.events import Event
from bot.handlers.common import callback_handler, command_handler

QUESTIONNAIRE_KINDS = (
    Kind.ANSWER,
    Kind.TOGGLE,
    Kind.DONE,
    Kind.BACK,
    Kind.SKIP,
    Kind.REVIEW_EDIT,
    Kind.REVIEW_SECTION,
    Kind.REVIEW_QUESTION,
    Kind.REVIEW_SHOW,
    Kind.SUBMIT,
    Kind.SUBMIT_CONFIRM,
    Kind.OPEN_DGCA,
    Kind.OPEN_EVALUATION,
)


async def _dgca(ctx: Ctx, args: str) -> list[Event]:
    return await dgca.open_dgca(ctx)


def register(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    """Add the DGCA handlers."""
    app.add_handler(command_handler("dgca", _dgca))
    app.add_handler(callback_handler(router.questionnaire_callback, QUESTIONNAIRE_KINDS))
