"""Organizer tools: roles and invitations, join links with QR codes, imports, group links."""

from __future__ import annotations

import secrets
from io import BytesIO

from bot.content import ContentError, WorkshopFile
from bot.flows import broadcast, evaluation, reports
from bot.flows.callbacks import (
    Audience,
    AudienceInstitution,
    BroadcastCancel,
    BroadcastSchedule,
    BroadcastSend,
    BroadcastStop,
    LinkGroup,
    OrgAction,
    OrgActionName,
    OrgInvite,
)
from bot.flows.common import Ctx, date_range, workshop_file
from bot.flows.events import (
    Button,
    Deliver,
    Edit,
    Event,
    Keyboard,
    Notice,
    Rearm,
    Send,
    SendPhoto,
    SetCommands,
)
from bot.flows.nav import ORGANIZER_PREFIX, start_link
from bot.flows.workshops import import_workshop, parse_workshop_text
from storage import Workshop

INVITE_BYTES = 12
MAX_IMPORT_BYTES = 256 * 1024
MAX_ERRORS_SHOWN = 10


def is_admin(ctx: Ctx) -> bool:
    """Tell whether the person is one of BOT_ADMIN_IDS."""
    return ctx.actor.telegram_id in ctx.svc.admin_ids


def _refuse(ctx: Ctx) -> list[Event]:
    # The same answer whatever the workshop: nothing tells a stranger it exists.
    return [Send(ctx.tr.t("organizer.only"))]


def _workshop_label(ctx: Ctx, workshop: Workshop) -> str:
    spec = workshop_file(workshop)
    label = f"{spec.title.get(ctx.lang)} · {date_range(ctx.tr, spec.start_date, spec.end_date)}"
    return label[:64]


async def _my_workshops(ctx: Ctx) -> list[Workshop]:
    return await ctx.svc.store.organizer_workshops(ctx.actor.telegram_id)


async def _pick_or_run(ctx: Ctx, action: OrgActionName) -> list[Event]:
    workshops = await _my_workshops(ctx)
    if not workshops:
        return _refuse(ctx)
    if ctx.chat_id is not None and ctx.chat_id < 0:
        # Reports carry personal data: in a group, only for the workshops linked to it.
        workshops = [w for w in workshops if w.organizer_chat_id == ctx.chat_id]
        if not workshops:
            return [Send(ctx.tr.t("organizer.group_not_linked"))]
    if len(workshops) == 1:
        return await _run(ctx, workshops[0], action)
    rows: Keyboard = [
        [Button(_workshop_label(ctx, w), OrgAction(w.id, action).pack())] for w in workshops
    ]
    return [Send(ctx.tr.t("organizer.pick_workshop"), rows)]


async def _run(ctx: Ctx, workshop: Workshop, action: OrgActionName) -> list[Event]:
    if action == "bc":
        return await broadcast.choose_audience(ctx, workshop)
    if action == "rp":
        return reports.menu(ctx, workshop)
    if action == "ev":
        return await evaluation.admin_menu(ctx, workshop)
    return invite(ctx, workshop)


async def broadcast_command(ctx: Ctx, args: str) -> list[Event]:
    """Start composing a broadcast (organizers only)."""
    return await _pick_or_run(ctx, "bc")


async def report_command(ctx: Ctx, args: str) -> list[Event]:
    """Offer reports and exports (organizers only; also in the linked group)."""
    return await _pick_or_run(ctx, "rp")


async def evaluation_admin_command(ctx: Ctx, args: str) -> list[Event]:
    """Show the evaluation's state and let an organizer open it now."""
    return await _pick_or_run(ctx, "ev")


async def invite_command(ctx: Ctx, args: str) -> list[Event]:
    """Send the join link and its QR code (organizers only)."""
    return await _pick_or_run(ctx, "iv")


def qr_png(data: str) -> bytes:
    """Draw a QR code big enough for a slide or a printed poster."""
    import qrcode
    from qrcode.image.pil import PilImage

    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, box_size=16, border=4)
    code.add_data(data)
    code.make(fit=True)
    image = code.make_image(image_factory=PilImage, fill_color="black", back_color="white")
    buffer = BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def invite(ctx: Ctx, workshop: Workshop) -> list[Event]:
    """Describe the join link and a QR code image of it."""
    link = ctx.svc.join_link(workshop.join_code)
    title = workshop_file(workshop).title.get(ctx.lang)
    return [
        Send(ctx.tr.t("organizer.invite", title=title, link=link)),
        SendPhoto(
            render=lambda: qr_png(link),
            caption=ctx.tr.t("organizer.invite_qr", title=title, link=link),
        ),
    ]


async def on_workshop_callback(ctx: Ctx, cb: OrgAction, message_id: int) -> list[Event]:
    """Run an organizer action on the picked workshop, if the person organizes it."""
    workshop_id, action = cb.workshop, cb.action
    if not await ctx.svc.store.is_organizer(workshop_id, ctx.actor.telegram_id):
        return [Notice(ctx.tr.t("notice.stale"))]
    workshop = await ctx.svc.store.workshop(workshop_id)
    if workshop is None:
        return [Notice(ctx.tr.t("notice.stale"))]
    return [
        Notice(),
        Edit(
            message_id,
            ctx.tr.t("menu.workshop_chosen", title=workshop_file(workshop).title.get(ctx.lang)),
        ),
        *await _run(ctx, workshop, action),
    ]


BROADCAST_TAPS = (
    Audience,
    AudienceInstitution,
    BroadcastSend,
    BroadcastSchedule,
    BroadcastCancel,
    BroadcastStop,
)


async def on_broadcast_callback(
    ctx: Ctx,
    cb: Audience
    | AudienceInstitution
    | BroadcastSend
    | BroadcastSchedule
    | BroadcastCancel
    | BroadcastStop,
    message_id: int,
) -> list[Event]:
    """Handle audience picks (checking the organizer) and the broadcast's buttons."""
    if isinstance(cb, Audience | AudienceInstitution):
        workshop_id = cb.workshop
        if not await ctx.svc.store.is_organizer(workshop_id, ctx.actor.telegram_id):
            return [Notice(ctx.tr.t("notice.stale"))]
        workshop = await ctx.svc.store.workshop(workshop_id)
        if workshop is None:
            return [Notice(ctx.tr.t("notice.stale"))]
        return await broadcast.on_audience(ctx, workshop, cb, message_id)
    return await broadcast.on_callback(ctx, cb, message_id)


# Administrators appoint organizers with one-time links.


async def organizer_command(ctx: Ctx, args: str) -> list[Event]:
    """Let an administrator pick a workshop to invite an organizer to."""
    if not is_admin(ctx):
        return _refuse(ctx)
    workshops = await ctx.svc.store.all_workshops()
    if not workshops:
        return [Send(ctx.tr.t("organizer.no_workshops"))]
    rows: Keyboard = [
        [Button(_workshop_label(ctx, w), OrgInvite(w.id).pack())] for w in workshops[:30]
    ]
    return [Send(ctx.tr.t("organizer.pick_for_invite"), rows)]


async def on_invite_callback(ctx: Ctx, cb: OrgInvite, message_id: int) -> list[Event]:
    """Create a one-time organizer invitation for the picked workshop."""
    workshop = await ctx.svc.store.workshop(cb.workshop)
    if not is_admin(ctx) or workshop is None:
        return [Notice(ctx.tr.t("notice.stale"))]
    token = secrets.token_urlsafe(INVITE_BYTES)
    await ctx.svc.store.create_organizer_invite(
        token, workshop.id, ctx.actor.telegram_id, ctx.svc.clock.now()
    )
    link = start_link(ctx.svc.bot_username, ORGANIZER_PREFIX, token)
    title = workshop_file(workshop).title.get(ctx.lang)
    return [Notice(), Edit(message_id, ctx.tr.t("organizer.invite_link", title=title, link=link))]


async def redeem(ctx: Ctx, token: str) -> list[Event]:
    """Make the person an organizer through a one-time invitation link."""
    status, workshop_id = await ctx.svc.store.use_organizer_invite(
        token, ctx.actor.telegram_id, ctx.svc.clock.now()
    )
    if status == "unknown" or workshop_id is None:
        return [Send(ctx.tr.t("join.unknown_code"))]
    workshop = await ctx.svc.store.workshop(workshop_id)
    assert workshop is not None
    title = workshop_file(workshop).title.get(ctx.lang)
    if status == "used":
        if await ctx.svc.store.is_organizer(workshop_id, ctx.actor.telegram_id):
            return [Send(ctx.tr.t("organizer.already", title=title))]
        return [Send(ctx.tr.t("organizer.invite_used"))]
    return [Send(ctx.tr.t("organizer.welcome", title=title)), SetCommands(ctx.lang, organizer=True)]


# Workshop files sent to the bot.


async def _keeps_association(ctx: Ctx, existing: Workshop | None, spec: WorkshopFile) -> bool:
    """Tell whether a file leaves the workshop's association as it is (same id, same name)."""
    current = (
        await ctx.svc.store.association(existing.association_id)
        if existing is not None and existing.association_id is not None
        else None
    )
    if spec.association is None or current is None:
        return spec.association is None and current is None
    return (spec.association.id, spec.association.name) == (current.slug, current.name)


async def import_document(ctx: Ctx, file_name: str, data: bytes) -> list[Event]:
    """Import a workshop file sent as a document; errors come back with line and field."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return [
            Send(
                ctx.tr.t(
                    "organizer.import_errors", file=file_name, errors=ctx.tr.t("organizer.not_utf8")
                )
            )
        ]
    try:
        spec = parse_workshop_text(text, file_name)
    except ContentError as exc:
        shown = exc.problems[:MAX_ERRORS_SHOWN]
        errors = "\n".join(f"• {p}" for p in shown)
        if len(exc.problems) > len(shown):
            errors += "\n" + ctx.tr.plain("organizer.more_errors", n=len(exc.problems) - len(shown))
        return [Send(ctx.tr.t("organizer.import_errors", file=file_name, errors=errors))]
    store = ctx.svc.store
    existing = await store.workshop_by_slug(spec.id)
    allowed = is_admin(ctx) or (
        existing is not None and await store.is_organizer(existing.id, ctx.actor.telegram_id)
    )
    if not allowed:
        return _refuse(ctx)
    if not is_admin(ctx) and not await _keeps_association(ctx, existing, spec):
        # Naming an association gives its viewers' panel and its plans: only an
        # administrator attaches a workshop to one, creates one or renames one.
        return [Send(ctx.tr.t("organizer.association_admin_only", file=file_name))]
    now = ctx.svc.clock.now()
    try:
        result = await import_workshop(ctx.svc, spec, file_name, now)
    except ContentError as exc:
        errors = "\n".join(f"• {p}" for p in exc.problems[:MAX_ERRORS_SHOWN])
        return [Send(ctx.tr.t("organizer.import_errors", file=file_name, errors=errors))]
    if result.created:
        await store.add_organizer(result.workshop.id, ctx.actor.telegram_id, now)
    schedule = result.schedule
    key = "organizer.imported_new" if result.created else "organizer.imported"
    return [
        Send(
            ctx.tr.t(
                key,
                title=spec.title.get(ctx.lang),
                sessions=len(spec.agenda),
                added=len(schedule.added),
                changed=len(schedule.changed),
                removed=len(schedule.removed),
                notified=result.notified,
            )
        ),
        Rearm(),
        Deliver(),
        # Whoever imported a new workshop organizes it: show them the organizer commands.
        *([SetCommands(ctx.lang, organizer=True)] if result.created else []),
    ]


async def link_group_command(ctx: Ctx, args: str) -> list[Event]:
    """In a group: offer the organizer's workshops to link this group to."""
    workshops = await _my_workshops(ctx)
    if not workshops:
        return _refuse(ctx)
    rows: Keyboard = [[Button(_workshop_label(ctx, w), LinkGroup(w.id).pack())] for w in workshops]
    return [Send(ctx.tr.t("organizer.pick_group_workshop"), rows)]


async def on_link_callback(ctx: Ctx, cb: LinkGroup, message_id: int) -> list[Event]:
    """Link the group the button is in to the workshop, if the tapper organizes it."""
    workshop_id = cb.workshop
    if (
        ctx.chat_id is None
        or ctx.chat_id > 0
        or not await ctx.svc.store.is_organizer(workshop_id, ctx.actor.telegram_id)
    ):
        return [Notice(ctx.tr.t("notice.stale"))]
    workshop = await ctx.svc.store.workshop(workshop_id)
    assert workshop is not None
    await ctx.svc.store.set_organizer_chat(workshop_id, ctx.chat_id)
    title = workshop_file(workshop).title.get(ctx.lang)
    return [Notice(), Edit(message_id, ctx.tr.t("organizer.group_linked", title=title))]
