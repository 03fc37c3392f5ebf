"""Join links (/start) and the profile questions."""

from __future__ import annotations

from typing import Any

from telegram.ext import Application

from bot.flows import join, profile, router
from bot.flows.callbacks import Callback, Kind
from bot.flows.common import Ctx
from bot.flows.events import Event
from bot.handlers.common import callback_handler, command_handler

JOIN_KINDS = (Kind.JOIN_LANGUAGE, Kind.JOIN_CONTINUE, Kind.CONSENT)
PROFILE_KINDS = (
    Kind.PROFILE_NAME,
    Kind.INSTITUTION,
    Kind.INSTITUTION_PAGE,
    Kind.INSTITUTION_OTHER,
    Kind.COUNTRY,
    Kind.COUNTRY_OTHER,
)


async def _start(ctx: Ctx, args: str) -> list[Event]:
    return await router.start(ctx.svc, ctx.actor, args)


async def _on_tap(ctx: Ctx, cb: Callback, message_id: int) -> list[Event]:
    if cb.kind in JOIN_KINDS:
        return await join.on_join_callback(ctx, cb, message_id)
    return await profile.on_profile_callback(ctx, cb, message_id)


def register(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    """Add the join handlers."""
    app.add_handler(command_handler("start", _start))
    app.add_handler(callback_handler(_on_tap, (*JOIN_KINDS, *PROFILE_KINDS)))
