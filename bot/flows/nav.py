"""Navigation between flows: deep links and the workshop picker that continues into a flow."""

from __future__ import annotations

from typing import Literal

from bot.flows.callbacks import PickWorkshop, Then
from bot.flows.common import Ctx, date_range, workshop_file
from bot.flows.events import Button, Event, Keyboard, Send
from storage import Participant, Workshop

# Deep-link prefixes of /start payloads; a payload without one is a workshop's join code.
ORGANIZER_PREFIX = "org-"
TEAM_PREFIX = "team-"
VIEWER_PREFIX = "view-"

LinkKind = Literal["none", "organizer", "team", "viewer", "join"]

_PREFIXES: tuple[tuple[str, LinkKind], ...] = (
    (TEAM_PREFIX, "team"),
    (VIEWER_PREFIX, "viewer"),
    (ORGANIZER_PREFIX, "organizer"),
)


def parse_start(payload: str | None) -> tuple[LinkKind, str]:
    """Split a /start payload into what the link opens and its token (or join code)."""
    code = (payload or "").strip()
    if not code:
        return "none", ""
    for prefix, kind in _PREFIXES:
        if code.startswith(prefix):
            return kind, code[len(prefix) :]
    return "join", code


def start_link(bot_username: str, prefix: str, token: str) -> str:
    """Return the t.me link whose /start payload is `prefix` + `token`."""
    return f"https://t.me/{bot_username}?start={prefix}{token}"


def pick_workshop(
    ctx: Ctx, choices: list[tuple[Participant, Workshop]], *, then: Then
) -> list[Event]:
    """Ask which workshop the person means; the menu then continues with `then`."""
    rows: Keyboard = []
    for _, workshop in choices:
        spec = workshop_file(workshop)
        label = f"{spec.title.get(ctx.lang)} · {date_range(ctx.tr, spec.start_date, spec.end_date)}"
        rows.append([Button(label[:64], PickWorkshop(workshop.id, then).pack())])
    return [Send(ctx.tr.t("menu.pick_workshop"), rows)]
