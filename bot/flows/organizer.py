"""Organizer tools: roles and invitations, join links with QR codes, imports, group links."""

from __future__ import annotations

import asyncio
import secrets
from datetime import datetime, timedelta
from functools import partial
from io import BytesIO
from pathlib import Path

from babel.lists import format_list

from bot.content import ContentError, WorkshopFile
from bot.flows import broadcast, evaluation, reports
from bot.flows.access import Action, command_menu, may, workshops_for
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
    OrgPanel,
    OrgRemove,
    OrgRevoke,
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
    SendDocument,
    SendPhoto,
    SetCommands,
)
from bot.flows.nav import ORGANIZER_PREFIX, start_link
from bot.flows.workshops import import_workshop, parse_workshop_text
from bot.i18n import Html
from storage import Workshop

INVITE_BYTES = 12
# An organizer invitation is a key to participants' data: it works for a week, once.
INVITE_VALID = timedelta(days=7)
MAX_IMPORT_BYTES = 256 * 1024
# An XLSForm workbook is zipped XML: a long Kobo form with its choices stays well under this.
MAX_FORM_BYTES = 1024 * 1024
MAX_ERRORS_SHOWN = 10
MAX_PICKED = 30
# What each organizer menu action needs (bot/flows/access.py decides who has it).
ACTION_OF: dict[OrgActionName, Action] = {
    "bc": Action.BROADCAST,
    "rp": Action.REPORT,
    "ev": Action.EVALUATION_OPEN,
    "iv": Action.JOIN_LINK,
}


def _refuse(ctx: Ctx) -> list[Event]:
    # The same answer whatever the workshop: nothing tells a stranger it exists.
    return [Send(ctx.tr.t("organizer.only"))]


def _workshop_label(ctx: Ctx, workshop: Workshop) -> str:
    spec = workshop_file(workshop)
    label = f"{spec.title.get(ctx.lang)} · {date_range(ctx.tr, spec.start_date, spec.end_date)}"
    return label[:64]


async def _pick_or_run(ctx: Ctx, action: OrgActionName) -> list[Event]:
    workshops = await workshops_for(ctx.svc, ctx.actor.telegram_id, ACTION_OF[action])
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
        [Button(_workshop_label(ctx, w), OrgAction(w.id, action).pack())]
        for w in workshops[:MAX_PICKED]
    ]
    return [Send(ctx.tr.t("organizer.pick_workshop"), rows)]


async def _run(ctx: Ctx, workshop: Workshop, action: OrgActionName) -> list[Event]:
    if action == "bc":
        return await broadcast.choose_audience(ctx, workshop)
    if action == "rp":
        return reports.menu(ctx, workshop)
    if action == "ev":
        return await evaluation.admin_menu(ctx, workshop)
    return await invite(ctx, workshop)


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


async def invite(ctx: Ctx, workshop: Workshop) -> list[Event]:
    """Describe the join link and a QR code image of it; in a programme, each event's too."""
    link = ctx.svc.join_link(workshop.join_code)
    spec = workshop_file(workshop)
    title = spec.title.get(ctx.lang)
    events: list[Event] = [
        Send(ctx.tr.t("organizer.invite", title=title, link=link)),
        _qr(ctx, title, link),
    ]
    if not spec.events:
        return events
    codes = await ctx.svc.store.event_codes(workshop.id)
    lines, posters = [], []
    for event in spec.events:
        if event.id not in codes:
            continue
        name, own = event.title.get(ctx.lang), ctx.svc.join_link(codes[event.id])
        lines.append(ctx.tr.t("organizer.invite_event_line", title=name, link=own))
        if not event.open:
            # Only its own link reaches it: it gets a poster of its own.
            posters.append(_qr(ctx, name, own))
    names = [e.title.get(ctx.lang) for e in spec.events if e.open]
    opened = format_list(names, locale=ctx.lang) if names else ctx.tr.t("organizer.invite_no_open")
    text = ctx.tr.t("organizer.invite_events", lines="\n".join(lines), open=opened)
    return [*events, Send(text), *posters]


def _qr(ctx: Ctx, title: str, link: str) -> SendPhoto:
    return SendPhoto(
        render=lambda: qr_png(link),
        caption=ctx.tr.t("organizer.invite_qr", title=title, link=link),
    )


async def on_workshop_callback(ctx: Ctx, cb: OrgAction, message_id: int) -> list[Event]:
    """Run an organizer action on the picked workshop, if the person organizes it."""
    workshop_id, action = cb.workshop, cb.action
    if not await may(ctx.svc, ctx.actor.telegram_id, ACTION_OF[action], workshop_id):
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
        if not await may(ctx.svc, ctx.actor.telegram_id, Action.BROADCAST, workshop_id):
            return [Notice(ctx.tr.t("notice.stale"))]
        workshop = await ctx.svc.store.workshop(workshop_id)
        if workshop is None:
            return [Notice(ctx.tr.t("notice.stale"))]
        return await broadcast.on_audience(ctx, workshop, cb, message_id)
    return await broadcast.on_callback(ctx, cb, message_id)


# Administrators list, invite and remove organizers.


async def organizers_command(ctx: Ctx, args: str) -> list[Event]:
    """Let an administrator pick a workshop whose organizers to manage."""
    workshops = await workshops_for(ctx.svc, ctx.actor.telegram_id, Action.ORGANIZERS_MANAGE)
    if not workshops:
        if await may(ctx.svc, ctx.actor.telegram_id, Action.WORKSHOP_CREATE):
            return [Send(ctx.tr.t("organizer.no_workshops"))]
        return _refuse(ctx)
    if len(workshops) == 1:
        return await _roster(ctx, workshops[0], None)
    rows: Keyboard = [
        [Button(_workshop_label(ctx, w), OrgPanel(w.id).pack())] for w in workshops[:MAX_PICKED]
    ]
    return [Send(ctx.tr.t("organizer.pick_for_roster"), rows)]


def _not_before(ctx: Ctx) -> datetime:
    return ctx.svc.clock.now() - INVITE_VALID


async def _roster(ctx: Ctx, workshop: Workshop, message_id: int | None) -> list[Event]:
    """Show a workshop's organizers and pending invitations, with their buttons."""
    store = ctx.svc.store
    organizers = await store.organizer_roster(workshop.id)
    pending = await store.pending_organizer_invites(workshop.id, _not_before(ctx))
    lines = "\n".join(
        ctx.tr.t(
            "organizer.roster_line",
            name=o.name or ctx.tr.plain("organizer.unnamed"),
            date=ctx.tr.date(o.added_at.date()),
        )
        for o in organizers
    ) or ctx.tr.t("organizer.roster_none")
    text = ctx.tr.t(
        "organizer.roster",
        title=workshop_file(workshop).title.get(ctx.lang),
        organizers=Html(lines),
        pending=len(pending),
    )
    rows: Keyboard = [
        [Button(ctx.tr.plain("organizer.button_invite"), OrgInvite(workshop.id).pack())]
    ]
    if pending:
        label = ctx.tr.plain("organizer.button_revoke", n=len(pending))
        rows.append([Button(label, OrgRevoke(workshop.id).pack())])
    for o in organizers[:20]:
        name = o.name or ctx.tr.plain("organizer.unnamed")
        label = ctx.tr.plain("organizer.button_remove", name=name)
        rows.append([Button(label[:60], OrgRemove(workshop.id, o.telegram_id).pack())])
    if message_id is not None:
        return [Edit(message_id, text, rows)]
    return [Send(text, rows)]


ROSTER_TAPS = (OrgPanel, OrgInvite, OrgRemove, OrgRevoke)


async def on_roster_callback(
    ctx: Ctx, cb: OrgPanel | OrgInvite | OrgRemove | OrgRevoke, message_id: int
) -> list[Event]:
    """Handle the organizers panel: show it, invite, cancel invitations, remove someone."""
    workshop = await ctx.svc.store.workshop(cb.workshop)
    if workshop is None or not await may(
        ctx.svc, ctx.actor.telegram_id, Action.ORGANIZERS_MANAGE, workshop.id
    ):
        return [Notice(ctx.tr.t("notice.stale"))]
    now = ctx.svc.clock.now()
    if isinstance(cb, OrgPanel):
        return [Notice(), *await _roster(ctx, workshop, message_id)]
    if isinstance(cb, OrgInvite):
        token = secrets.token_urlsafe(INVITE_BYTES)
        await ctx.svc.store.create_organizer_invite(token, workshop.id, ctx.actor.telegram_id, now)
        link = start_link(ctx.svc.bot_username, ORGANIZER_PREFIX, token)
        title = workshop_file(workshop).title.get(ctx.lang)
        until = ctx.tr.date((now + INVITE_VALID).astimezone(workshop_file(workshop).zone).date())
        return [
            Notice(),
            Send(ctx.tr.t("organizer.invite_link", title=title, link=link, until=until)),
            *await _roster(ctx, workshop, message_id),
        ]
    if isinstance(cb, OrgRevoke):
        revoked = await ctx.svc.store.revoke_organizer_invites(workshop.id, now)
        return [
            Notice(ctx.tr.plain("organizer.revoked", n=revoked)),
            *await _roster(ctx, workshop, message_id),
        ]
    if not await ctx.svc.store.remove_organizer(workshop.id, cb.organizer):
        return [Notice(ctx.tr.t("notice.stale"))]
    return [
        Notice(ctx.tr.plain("organizer.removed")),
        *await _roster(ctx, workshop, message_id),
    ]


async def redeem(ctx: Ctx, token: str) -> list[Event]:
    """Make the person an organizer through a one-time invitation link."""
    status, workshop_id = await ctx.svc.store.use_organizer_invite(
        token,
        ctx.actor.telegram_id,
        ctx.actor.full_name[:64] or None,
        ctx.svc.clock.now(),
        _not_before(ctx),
    )
    if status == "unknown" or workshop_id is None:
        return [Send(ctx.tr.t("join.unknown_code"))]
    workshop = await ctx.svc.store.workshop(workshop_id)
    assert workshop is not None
    title = workshop_file(workshop).title.get(ctx.lang)
    if status != "ok":
        if await ctx.svc.store.is_organizer(workshop_id, ctx.actor.telegram_id):
            return [Send(ctx.tr.t("organizer.already", title=title))]
        return [Send(ctx.tr.t(f"organizer.invite_{status}"))]
    return [
        Send(ctx.tr.t("organizer.welcome", title=title)),
        await command_menu(ctx.svc, ctx.actor.telegram_id, ctx.lang),
    ]


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


def _problem_lines(ctx: Ctx, problems: list[str]) -> str:
    shown = problems[:MAX_ERRORS_SHOWN]
    lines = "\n".join(f"• {p}" for p in shown)
    if len(problems) > len(shown):
        lines += "\n" + ctx.tr.plain("organizer.more_errors", n=len(problems) - len(shown))
    return lines


def _read_form(data: bytes, stem: str) -> tuple[str, str, int, int, list[str]] | list[str]:
    """Turn an XLSForm into the bot's questionnaire file, or list what stops it (on a thread)."""
    # pyxform is loaded by the first form sent, not when the bot starts.
    from bot.xlsform import XLSFormError, import_xlsform

    try:
        imported = import_xlsform(data, form_id=stem)
    except XLSFormError as exc:
        return [str(p) for p in exc.problems]
    form = imported.questionnaire
    questions = sum(1 for _ in form.slots())
    warnings = [str(w) for w in imported.warnings]
    return form.id, imported.yaml_text, questions, len(form.sections), warnings


async def import_form(ctx: Ctx, file_name: str, data: bytes) -> list[Event]:
    """Check an XLSForm sent as a document and send back the bot's questionnaire file."""
    stem = Path(file_name).stem.lower().replace(" ", "-") or "form"
    # Reading a workbook and checking it with pyxform is CPU work: off the event loop.
    result = await asyncio.to_thread(_read_form, data, stem)
    if isinstance(result, list):
        errors = _problem_lines(ctx, result)
        return [Send(ctx.tr.t("organizer.import_errors", file=file_name, errors=errors))]
    form_id, text, questions, sections, warnings = result
    caption = ctx.tr.t(
        "organizer.form_ok",
        file=file_name,
        id=form_id,
        questions=ctx.tr.plain("count.questions", n=questions),
        sections=ctx.tr.plain("count.sections", n=sections),
    )
    events: list[Event] = [
        SendDocument(
            filename=f"{form_id}.yaml", build=partial(str.encode, text, "utf-8"), caption=caption
        )
    ]
    if warnings:
        notes = _problem_lines(ctx, warnings)
        events.append(Send(ctx.tr.t("organizer.form_left_out", errors=notes)))
    return events


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
        errors = _problem_lines(ctx, list(exc.problems))
        return [Send(ctx.tr.t("organizer.import_errors", file=file_name, errors=errors))]
    store = ctx.svc.store
    me = ctx.actor.telegram_id
    existing = await store.workshop_by_slug(spec.id)
    if existing is None:
        allowed = await may(ctx.svc, me, Action.WORKSHOP_CREATE)
    else:
        allowed = await may(ctx.svc, me, Action.WORKSHOP_UPDATE, existing.id)
    if not allowed:
        return _refuse(ctx)
    # Creating is for administrators, who may also name any association.
    if (
        existing is not None
        and not await may(ctx.svc, me, Action.WORKSHOP_ASSOCIATION, existing.id)
        and not await _keeps_association(ctx, existing, spec)
    ):
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
                sessions=ctx.tr.plain("count.sessions", n=len(spec.agenda)),
                added=len(schedule.added),
                changed=len(schedule.changed),
                removed=len(schedule.removed),
                notified=result.notified,
            )
            + (
                "\n\n" + ctx.tr.t("organizer.imported_past", date=ctx.tr.date(spec.end_date))
                if result.all_past
                else ""
            )
        ),
        Rearm(),
        Deliver(),
        # Whoever imported a new workshop organizes it: show them the organizer commands.
        *([SetCommands(ctx.lang, organizer=True, admin=True)] if result.created else []),
    ]


async def link_group_command(ctx: Ctx, args: str) -> list[Event]:
    """In a group: offer the organizer's workshops to link this group to."""
    workshops = await workshops_for(ctx.svc, ctx.actor.telegram_id, Action.LINK_GROUP)
    if not workshops:
        return _refuse(ctx)
    rows: Keyboard = [
        [Button(_workshop_label(ctx, w), LinkGroup(w.id).pack())] for w in workshops[:MAX_PICKED]
    ]
    return [Send(ctx.tr.t("organizer.pick_group_workshop"), rows)]


async def on_link_callback(ctx: Ctx, cb: LinkGroup, message_id: int) -> list[Event]:
    """Link the group the button is in to the workshop, if the tapper organizes it."""
    workshop_id = cb.workshop
    if (
        ctx.chat_id is None
        or ctx.chat_id > 0
        or not await may(ctx.svc, ctx.actor.telegram_id, Action.LINK_GROUP, workshop_id)
    ):
        return [Notice(ctx.tr.t("notice.stale"))]
    workshop = await ctx.svc.store.workshop(workshop_id)
    assert workshop is not None
    await ctx.svc.store.set_organizer_chat(workshop_id, ctx.chat_id)
    title = workshop_file(workshop).title.get(ctx.lang)
    return [Notice(), Edit(message_id, ctx.tr.t("organizer.group_linked", title=title))]
