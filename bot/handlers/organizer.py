"""Organizer and administrator tools: broadcasts, invitations, group links."""

from __future__ import annotations

from typing import Any

from telegram.ext import Application

from bot.flows import organizer
from bot.flows.callbacks import LinkGroup, OrgAction
from bot.handlers.common import callback_handler, command_handler


def register(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    """Add the organizer handlers."""
    app.add_handler(command_handler("broadcast", organizer.broadcast_command))
    app.add_handler(command_handler("invite", organizer.invite_command))
    # "/organizer" was the command's name before 0.6; links and habits keep working.
    app.add_handler(command_handler(("organizers", "organizer"), organizer.organizers_command))
    app.add_handler(command_handler("linkgroup", organizer.link_group_command, groups=True))
    app.add_handler(callback_handler(organizer.on_workshop_callback, (OrgAction,)))
    app.add_handler(callback_handler(organizer.on_roster_callback, organizer.ROSTER_TAPS))
    app.add_handler(callback_handler(organizer.on_broadcast_callback, organizer.BROADCAST_TAPS))
    app.add_handler(callback_handler(organizer.on_link_callback, (LinkGroup,)))
