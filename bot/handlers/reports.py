"""Evaluation, session ratings, reports and exports."""

from __future__ import annotations

from typing import Any

from telegram.ext import Application

from bot.flows import evaluation, organizer, reports
from bot.flows.callbacks import CommentSession, EvaluationAdmin, RateSession, Report
from bot.flows.common import Ctx
from bot.flows.events import Event
from bot.handlers.common import callback_handler, command_handler


async def _evaluation(ctx: Ctx, args: str) -> list[Event]:
    return await evaluation.open_evaluation(ctx)


def register(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    """Add the evaluation and report handlers."""
    app.add_handler(command_handler("evaluation", _evaluation))
    app.add_handler(command_handler("openeval", organizer.evaluation_admin_command))
    app.add_handler(command_handler("report", organizer.report_command))
    app.add_handler(command_handler("report", organizer.report_command, groups=True))
    app.add_handler(callback_handler(evaluation.on_admin_callback, (EvaluationAdmin,)))
    app.add_handler(callback_handler(evaluation.on_rating_callback, (RateSession, CommentSession)))
    app.add_handler(callback_handler(reports.on_callback, (Report,)))
