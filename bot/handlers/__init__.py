"""Telegram in and out: each module registers one feature's handlers."""

from __future__ import annotations

from typing import Any

from telegram.ext import Application

from bot.handlers import (
    agenda,
    dgca,
    fallback,
    join,
    menu,
    organizer,
    plans,
    privacy,
    progress,
    reports,
)


def register(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    """Add every feature's handlers, the catch-alls last."""
    for feature in (join, dgca, agenda, organizer, reports, plans, progress, menu, privacy):
        feature.register(app)
    for feature in (fallback,):
        feature.register(app)
