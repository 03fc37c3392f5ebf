"""Association viewers: appointed by administrators and organizers through one-time links."""

from __future__ import annotations

import secrets

from bot.flows.access import Action, Role, associations_for, command_menu, has_any_role
from bot.flows.callbacks import ProgressView, ViewerInvite, ViewerPanel, ViewerRemove
from bot.flows.common import Ctx
from bot.flows.events import Button, Edit, Event, Keyboard, Notice, Send
from bot.flows.nav import VIEWER_PREFIX, start_link
from bot.i18n import Html
from storage import Association

INVITE_BYTES = 12


async def manageable(ctx: Ctx) -> list[Association]:
    """Return the associations whose viewers this person may appoint."""
    return await associations_for(ctx.svc, ctx.actor.telegram_id, Action.VIEWERS_MANAGE)


async def viewer_command(ctx: Ctx, args: str = "") -> list[Event]:
    """Offer the associations whose viewers the person manages (administrators, organizers)."""
    associations = await manageable(ctx)
    if not associations:
        if await has_any_role(ctx.svc, ctx.actor.telegram_id, Role.ORGANIZER, Role.ADMIN):
            return [Send(ctx.tr.t("viewer.no_association"))]
        return [Send(ctx.tr.t("viewer.only"))]
    if len(associations) == 1:
        return await _panel(ctx, associations[0], None)
    rows: Keyboard = [[Button(a.name[:60], ViewerPanel(a.id).pack())] for a in associations[:40]]
    return [Send(ctx.tr.t("viewer.pick"), rows)]


async def _panel(ctx: Ctx, association: Association, message_id: int | None) -> list[Event]:
    viewers = await ctx.svc.store.viewers_of(association.id)
    names = "\n".join(
        ctx.tr.t("viewer.line", name=v.name or str(v.telegram_id)) for v in viewers
    ) or ctx.tr.t("viewer.none")
    # The lines are HTML already (each name escaped once): not escaped again.
    text = ctx.tr.t("viewer.panel", name=association.name, viewers=Html(names))
    rows: Keyboard = [
        [Button(ctx.tr.plain("viewer.button_invite"), ViewerInvite(association.id).pack())]
    ]
    for viewer in viewers[:20]:
        label = ctx.tr.plain("viewer.button_remove", name=viewer.name or str(viewer.telegram_id))
        rows.append([Button(label[:60], ViewerRemove(association.id, viewer.telegram_id).pack())])
    if message_id is not None:
        return [Edit(message_id, text, rows)]
    return [Send(text, rows)]


VIEWER_TAPS = (ViewerPanel, ViewerInvite, ViewerRemove)


async def on_callback(
    ctx: Ctx, cb: ViewerPanel | ViewerInvite | ViewerRemove, message_id: int
) -> list[Event]:
    """Handle the viewer panel: show it, make an invitation link, remove a viewer."""
    allowed = {a.id: a for a in await manageable(ctx)}
    association = allowed.get(cb.association)
    if association is None:
        return [Notice(ctx.tr.t("viewer.only"), alert=True)]
    if isinstance(cb, ViewerPanel):
        return [Notice(), *await _panel(ctx, association, message_id)]
    if isinstance(cb, ViewerInvite):
        token = secrets.token_urlsafe(INVITE_BYTES)
        await ctx.svc.store.create_viewer_invite(
            token, association.id, ctx.actor.telegram_id, ctx.svc.clock.now()
        )
        link = start_link(ctx.svc.bot_username, VIEWER_PREFIX, token)
        return [Notice(), Send(ctx.tr.t("viewer.invite", name=association.name, link=link))]
    if not await ctx.svc.store.remove_viewer(association.id, cb.viewer):
        return [Notice(ctx.tr.t("notice.stale"))]
    return [Notice(ctx.tr.t("viewer.removed")), *await _panel(ctx, association, message_id)]


async def redeem(ctx: Ctx, token: str) -> list[Event]:
    """Make the person a viewer of an association through a one-time link."""
    status, association_id = await ctx.svc.store.use_viewer_invite(
        token, ctx.actor.telegram_id, ctx.actor.full_name[:64], ctx.svc.clock.now()
    )
    association = (
        await ctx.svc.store.association(association_id) if association_id is not None else None
    )
    if status == "unknown" or association is None:
        return [Send(ctx.tr.t("join.unknown_code"))]
    if status == "already":
        return [Send(ctx.tr.t("viewer.already", name=association.name))]
    if status == "used":
        return [Send(ctx.tr.t("viewer.invite_used"))]
    rows: Keyboard = [
        [
            Button(
                ctx.tr.plain("viewer.button_progress"),
                ProgressView("a", association.id).pack(),
            )
        ]
    ]
    return [
        Send(ctx.tr.t("viewer.welcome", name=association.name), rows),
        await command_menu(ctx.svc, ctx.actor.telegram_id, ctx.lang),
    ]
