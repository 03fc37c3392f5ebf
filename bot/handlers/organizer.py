"""Organizer and administrator tools: broadcasts, invitations, group links."""

from __future__ import annotations

from typing import Any

from telegram.ext import Application

from bot.flows import organizer
from bot.flows.callbacks import Kind
from bot.handlers.common import callback_handler, command_handler

BROADCAST_KINDS = (
    Kind.AUDIENCE,
    Kind.AUDIENCE_INSTITUTION,
    Kind.BROADCAST_SEND,
    Kind.BROADCAST_SCHEDULE,
    Kind.BROADCAST_CANCEL,
    Kind.BROADCAST_STOP,
)


def register(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    """Add the organizer handlers."""
    app.add_handler(command_handler("broadcast", organizer.broadcast_command))
    app.add_handler(command_handler("invite", organizer.invite_command))
    app.add_handler(command_handler("organizer", organizer.organizer_command))
    app.add_handler(command_handler("linkgroup", organizer.link_group_command, groups=True))
    app.add_handler(callback_handler(organizer.on_workshop_callback, (Kind.ORG_WORKSHOP,)))
    app.add_handler(callback_handler(organizer.on_invite_callback, (Kind.ORG_INVITE,)))
    app.add_handler(callback_handler(organizer.on_broadcast_callback, BROADCAST_KINDS))
    app.add_handler(callback_handler(organizer.on_link_callback, (Kind.LINK_GROUP,)))
