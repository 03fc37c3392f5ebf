"""Association dashboards: /progress, evidence downloads and /viewer."""

from __future__ import annotations

from typing import Any

from telegram.ext import Application

from bot.flows import associations, progress
from bot.flows.callbacks import Evidence
from bot.handlers.common import callback_handler, command_handler


def register(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    """Add the dashboard and viewer handlers."""
    app.add_handler(command_handler("progress", progress.progress_command))
    app.add_handler(command_handler("viewer", associations.viewer_command))
    app.add_handler(callback_handler(progress.on_callback, progress.PROGRESS_TAPS))
    app.add_handler(callback_handler(progress.on_evidence, (Evidence,)))
    app.add_handler(callback_handler(associations.on_callback, associations.VIEWER_TAPS))
