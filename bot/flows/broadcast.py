"""Organizer broadcasts: audience, message, preview, send now or later, progress."""

from __future__ import annotations

import html
import re
from datetime import datetime, timedelta
from typing import ClassVar

from bot.content import WorkshopFile
from bot.flows import dialogs
from bot.flows.access import Action, may
from bot.flows.callbacks import (
    Audience,
    AudienceInstitution,
    AudienceName,
    BroadcastCancel,
    BroadcastSchedule,
    BroadcastSend,
    BroadcastStop,
)
from bot.flows.common import Ctx, Media, short_hash, workshop_file, workshop_recipients
from bot.flows.dialogs import Waiting
from bot.flows.events import Button, Deliver, Edit, Event, Keyboard, Notice, Rearm, Send, SendMedia
from bot.services import Services
from storage import Broadcast, BroadcastStatus, DialogState, OutMessage, Recipient, Workshop


class BroadcastMessage(Waiting):
    """A draft broadcast waits for its text, photo or document."""

    state: ClassVar[DialogState] = DialogState.BROADCAST_MESSAGE
    expects_text: ClassVar[bool] = False
    broadcast_id: int


class BroadcastWhen(Waiting):
    """A previewed broadcast waits for the date and time to send it."""

    state: ClassVar[DialogState] = DialogState.BROADCAST_SCHEDULE
    expects_text: ClassVar[bool] = False
    broadcast_id: int


TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024
AUDIENCES: tuple[AudienceName, ...] = ("all", "nodgca", "noeval", "inst")
WHEN = re.compile(r"^\s*(\d{1,2})/(\d{1,2})/(\d{4})\s+(\d{1,2})[:.h](\d{2})\s*$")


def telegram_length(text: str) -> int:
    """Count characters the way Telegram does (UTF-16 code units)."""
    return len(text.encode("utf-16-le")) // 2


def select(audience: str, arg: str | None, recipients: list[Recipient]) -> list[Recipient]:
    """Pick a broadcast's recipients; muted reminders do not stop broadcasts."""
    reachable = [r for r in recipients if not r.unreachable]
    if audience == "nodgca":
        return [r for r in reachable if not r.dgca_done]
    if audience == "noeval":
        return [r for r in reachable if not r.evaluation_done]
    if audience == "inst":
        return [r for r in reachable if r.institution == arg]
    return reachable


def _institutions(recipients: list[Recipient]) -> list[str]:
    return sorted({r.institution for r in recipients if r.institution})


def _audience_label(ctx: Ctx, audience: str, arg: str | None) -> str:
    if audience == "inst" and arg:
        return ctx.tr.t("broadcast.audience_inst_named", institution=arg)
    return ctx.tr.t(f"broadcast.audience_{audience}")


def _offered(spec: WorkshopFile) -> list[AudienceName]:
    """Return the audiences a workshop has: no "DGCA not done" where it has no DGCA."""
    # A programme's evaluations are its events': "not evaluated" would mean none of them.
    off = {"nodgca": spec.dgca is None, "noeval": spec.evaluation is None or bool(spec.events)}
    return [a for a in AUDIENCES[:-1] if not off.get(a, False)]


async def audience_pool(svc: Services, workshop: Workshop, audience: str) -> list[Recipient]:
    """Return whom an audience is chosen from: in a programme, DGCA takers for "nodgca"."""
    return await workshop_recipients(svc, workshop, dgca=audience == "nodgca")


async def choose_audience(ctx: Ctx, workshop: Workshop) -> list[Event]:
    """Ask whom the broadcast is for, with how many people each choice reaches."""
    recipients = await workshop_recipients(ctx.svc, workshop)
    spec = workshop_file(workshop)
    rows: Keyboard = []
    for audience in _offered(spec):
        pool = await audience_pool(ctx.svc, workshop, audience) if audience == "nodgca" else None
        n = len(select(audience, None, recipients if pool is None else pool))
        label = ctx.tr.plain(
            "broadcast.audience_button", label=ctx.tr.plain(f"broadcast.audience_{audience}"), n=n
        )
        rows.append([Button(label, Audience(workshop.id, audience).pack())])
    if _institutions(recipients):
        rows.append(
            [Button(ctx.tr.t("broadcast.audience_inst"), Audience(workshop.id, "inst").pack())]
        )
    title = workshop_file(workshop).title.get(ctx.lang)
    return [Send(ctx.tr.t("broadcast.pick_audience", title=title), rows)]


def _institution_menu(ctx: Ctx, workshop: Workshop, recipients: list[Recipient]) -> Keyboard:
    names = _institutions(recipients)
    digest = short_hash(*names)
    return [
        [
            Button(
                f"{name} ({len(select('inst', name, recipients))})"[:64],
                AudienceInstitution(workshop.id, index, digest).pack(),
            )
        ]
        for index, name in enumerate(names)
    ]


async def on_audience(
    ctx: Ctx, workshop: Workshop, cb: Audience | AudienceInstitution, message_id: int
) -> list[Event]:
    """Start a draft for the chosen audience and ask for the message."""
    chosen = cb.audience if isinstance(cb, Audience) else "inst"
    recipients = await audience_pool(ctx.svc, workshop, chosen)
    audience: AudienceName
    if isinstance(cb, Audience):
        audience = cb.audience
        if audience != "inst" and audience not in _offered(workshop_file(workshop)):
            return [Notice(ctx.tr.t("notice.stale"))]
        if audience == "inst":
            return [
                Notice(),
                Edit(
                    message_id,
                    ctx.tr.t("broadcast.pick_institution"),
                    _institution_menu(ctx, workshop, recipients),
                ),
            ]
        arg = None
    else:
        names = _institutions(recipients)
        if cb.digest != short_hash(*names) or not 0 <= cb.index < len(names):
            return [Notice(ctx.tr.t("notice.stale"))]
        audience, arg = "inst", names[cb.index]
    svc, now = ctx.svc, ctx.svc.clock.now()
    broadcast_id = await svc.store.create_broadcast(
        workshop.id, ctx.actor.telegram_id, audience, now
    )
    if arg is not None:
        await svc.store.update_broadcast(broadcast_id, audience_arg=arg)
    await dialogs.wait_for(ctx, BroadcastMessage(broadcast_id=broadcast_id))
    label = _audience_label(ctx, audience, arg)
    n = len(select(audience, arg, recipients))
    return [
        Notice(),
        Edit(message_id, ctx.tr.t("broadcast.audience_chosen", audience=label, n=n)),
        Send(
            ctx.tr.t(
                "broadcast.ask_message",
                text_limit=ctx.tr.integer(TEXT_LIMIT),
                caption_limit=ctx.tr.integer(CAPTION_LIMIT),
            ),
            [[Button(ctx.tr.t("button.cancel"), BroadcastCancel(broadcast_id).pack())]],
        ),
    ]


async def _own_broadcast(ctx: Ctx, broadcast_id: int | None) -> Broadcast | None:
    """Return a broadcast only to an organizer of its workshop."""
    if broadcast_id is None:
        return None
    broadcast = await ctx.svc.store.broadcast(broadcast_id)
    if broadcast is None:
        return None
    if not await may(ctx.svc, ctx.actor.telegram_id, Action.BROADCAST, broadcast.workshop_id):
        return None
    return broadcast


async def on_message(
    ctx: Ctx, broadcast_id: int | None, text: str | None, media: Media | None
) -> list[Event]:
    """Take the organizer's message, check its length, and show a preview."""
    broadcast = await _own_broadcast(ctx, broadcast_id)
    if broadcast is None or broadcast.status is not BroadcastStatus.DRAFT:
        await ctx.svc.store.clear_dialog(ctx.actor.telegram_id)
        return [Send(ctx.tr.t("fallback.nothing_pending"))]
    if media is not None and media.kind not in ("photo", "document"):
        return [Send(ctx.tr.t("broadcast.media_kind"))]
    body = (media.caption if media else text) or ""
    limit = CAPTION_LIMIT if media else TEXT_LIMIT
    length = telegram_length(body)
    if length > limit:
        key = "broadcast.caption_too_long" if media else "broadcast.text_too_long"
        return [Send(ctx.tr.t(key, length=ctx.tr.integer(length), max=ctx.tr.integer(limit)))]
    if not body.strip() and media is None:
        return [Send(ctx.tr.t("input.too_short", min=1))]
    await ctx.svc.store.update_broadcast(
        broadcast.id,
        text=body,
        media_kind=media.kind if media else None,
        media_file_id=media.file_id if media else None,
    )
    await ctx.svc.store.clear_dialog(ctx.actor.telegram_id)
    updated = await ctx.svc.store.broadcast(broadcast.id)
    assert updated is not None
    return await preview(ctx, updated)


async def preview(ctx: Ctx, broadcast: Broadcast) -> list[Event]:
    """Show the message exactly as recipients will get it, the count, and the choices."""
    workshop = await ctx.svc.store.workshop(broadcast.workshop_id)
    assert workshop is not None
    pool = await audience_pool(ctx.svc, workshop, broadcast.audience)
    recipients = select(broadcast.audience, broadcast.audience_arg, pool)
    body = html.escape(broadcast.text or "", quote=False)
    shown: Event = (
        SendMedia(broadcast.media_kind, broadcast.media_file_id, body)
        if broadcast.media_kind and broadcast.media_file_id
        else Send(body)
    )
    summary = ctx.tr.t(
        "broadcast.preview",
        n=len(recipients),
        audience=_audience_label(ctx, broadcast.audience, broadcast.audience_arg),
    )
    # Said before "send now", so that the organizer may schedule it instead.
    spec, now = workshop_file(workshop), ctx.svc.clock.now()
    asleep = sum(spec.night_end(now, r.timezone) is not None for r in recipients)
    if asleep:
        summary += "\n" + ctx.tr.t("broadcast.preview_night", n=asleep)
    return [
        Send(ctx.tr.t("broadcast.preview_title")),
        shown,
        Send(
            summary,
            [
                [Button(ctx.tr.t("button.cancel"), BroadcastCancel(broadcast.id).pack())],
                [
                    Button(ctx.tr.t("button.schedule"), BroadcastSchedule(broadcast.id).pack()),
                    Button(ctx.tr.t("button.send_now"), BroadcastSend(broadcast.id).pack()),
                ],
            ],
        ),
    ]


async def launch(svc: Services, broadcast_id: int) -> int:
    """Queue a broadcast for every recipient and mark it sending; return the count."""
    broadcast = await svc.store.broadcast(broadcast_id)
    if broadcast is None:
        return 0
    workshop = await svc.store.workshop(broadcast.workshop_id)
    if workshop is None:
        return 0
    pool = await audience_pool(svc, workshop, broadcast.audience)
    recipients = select(broadcast.audience, broadcast.audience_arg, pool)
    body = html.escape(broadcast.text or "", quote=False)
    spec, now = workshop_file(workshop), svc.clock.now()
    messages = [
        OutMessage(
            chat_id=r.telegram_id,
            text=body,
            participant_id=r.participant_id,
            media_kind=broadcast.media_kind,
            media_file_id=broadcast.media_file_id,
            # Sent now, read in the morning: nobody's phone rings at night where they are.
            not_before=spec.night_end(now, r.timezone),
        )
        for r in recipients
    ]
    started = await svc.store.start_broadcast(broadcast_id, messages, now)
    return len(messages) if started else 0


async def on_callback(
    ctx: Ctx,
    cb: BroadcastSend | BroadcastSchedule | BroadcastCancel | BroadcastStop,
    message_id: int,
) -> list[Event]:
    """Handle send, schedule, cancel and stop buttons of a broadcast."""
    broadcast = await _own_broadcast(ctx, cb.broadcast)
    if broadcast is None:
        return [Notice(ctx.tr.t("notice.stale"))]
    store, now = ctx.svc.store, ctx.svc.clock.now()
    if isinstance(cb, BroadcastCancel):
        if broadcast.status not in (BroadcastStatus.DRAFT, BroadcastStatus.SCHEDULED):
            return [Notice(ctx.tr.t("notice.stale"))]
        await store.update_broadcast(broadcast.id, status=BroadcastStatus.CANCELLED)
        waiting = dialogs.decode(await store.dialog(ctx.actor.telegram_id))
        if isinstance(waiting, BroadcastMessage | BroadcastWhen) and (
            waiting.broadcast_id == broadcast.id
        ):
            await store.clear_dialog(ctx.actor.telegram_id)
        return [Notice(), Edit(message_id, ctx.tr.t("broadcast.cancelled")), Rearm()]
    if isinstance(cb, BroadcastStop):
        if broadcast.status is not BroadcastStatus.SENDING:
            return [Notice(ctx.tr.t("notice.stale"))]
        withdrawn = await store.cancel_outbox(f"bc:{broadcast.id}")
        await store.update_broadcast(
            broadcast.id, status=BroadcastStatus.CANCELLED, finished_at=now
        )
        counts = await store.outbox_counts(f"bc:{broadcast.id}")
        text, _ = await progress(ctx.svc, broadcast, counts, True)
        return [Notice(ctx.tr.t("broadcast.stopped", n=withdrawn)), Edit(message_id, text)]
    if broadcast.status is not BroadcastStatus.DRAFT or broadcast.text is None:
        return [Notice(ctx.tr.t("notice.stale"))]
    if isinstance(cb, BroadcastSchedule):
        await dialogs.wait_for(ctx, BroadcastWhen(broadcast_id=broadcast.id))
        workshop = await store.workshop(broadcast.workshop_id)
        assert workshop is not None
        spec = workshop_file(workshop)
        example = _example(spec, now)
        return [
            Notice(),
            Edit(message_id, ctx.tr.t("broadcast.ask_when", zone=spec.timezone, example=example)),
        ]
    # BroadcastSend
    await store.update_broadcast(
        broadcast.id, progress_chat_id=ctx.actor.telegram_id, progress_message_id=message_id
    )
    total = await launch(ctx.svc, broadcast.id)
    if total == 0:
        # Nobody to send to: the report is this message, and the broadcast is over.
        await store.update_broadcast(broadcast.id, status=BroadcastStatus.DONE, finished_at=now)
    fresh = await store.broadcast(broadcast.id)
    assert fresh is not None
    text, buttons = await progress(ctx.svc, fresh, {"pending": total}, total == 0)
    return [Notice(), Edit(message_id, text, buttons), Deliver()]


async def on_schedule_text(ctx: Ctx, broadcast_id: int | None, text: str) -> list[Event]:
    """Read the date and time a broadcast should go out."""
    broadcast = await _own_broadcast(ctx, broadcast_id)
    if broadcast is None or broadcast.status is not BroadcastStatus.DRAFT:
        await ctx.svc.store.clear_dialog(ctx.actor.telegram_id)
        return [Send(ctx.tr.t("fallback.nothing_pending"))]
    workshop = await ctx.svc.store.workshop(broadcast.workshop_id)
    assert workshop is not None
    spec = workshop_file(workshop)
    now = ctx.svc.clock.now()
    example = _example(spec, now)
    match = WHEN.match(text)
    when: datetime | None = None
    if match:
        day, month, year, hour, minute = (int(g) for g in match.groups())
        try:
            when = datetime(year, month, day, hour, minute, tzinfo=spec.zone)
        except ValueError:
            when = None
    if when is None:
        return [Send(ctx.tr.t("broadcast.bad_when", example=example))]
    if when <= now:
        return [Send(ctx.tr.t("broadcast.past_when", example=example))]
    if spec.is_quiet(when):
        quiet = spec.quiet_hours
        return [
            Send(
                ctx.tr.t(
                    "broadcast.night_when",
                    start=f"{quiet.start:%H:%M}",
                    end=f"{quiet.end:%H:%M}",
                    example=example,
                )
            )
        ]
    await ctx.svc.store.update_broadcast(
        broadcast.id,
        status=BroadcastStatus.SCHEDULED,
        scheduled_at=when,
        progress_chat_id=ctx.actor.telegram_id,
    )
    await ctx.svc.store.clear_dialog(ctx.actor.telegram_id)
    return [
        Send(
            ctx.tr.t("broadcast.scheduled", when=ctx.tr.datetime(when), zone=spec.timezone),
            [[Button(ctx.tr.t("button.cancel"), BroadcastCancel(broadcast.id).pack())]],
        ),
        Rearm(),
    ]


async def progress(
    svc: Services, broadcast: Broadcast, counts: dict[str, int], final: bool
) -> tuple[str, Keyboard | None]:
    """Describe where a broadcast stands, in its organizer's language."""
    user = await svc.store.user(broadcast.created_by)
    workshop = await svc.store.workshop(broadcast.workshop_id)
    lang = svc.i18n.pick(user.language if user else None, workshop.language if workshop else None)
    tr = svc.i18n(lang)
    total = sum(counts.values())
    sent = counts.get("sent", 0)
    if final:
        text = tr.t(
            "broadcast.report",
            sent=tr.integer(sent),
            unreachable=tr.integer(counts.get("unreachable", 0)),
            failed=tr.integer(counts.get("failed", 0)),
            cancelled=tr.integer(counts.get("cancelled", 0)),
        )
        return text, None
    text = tr.t("broadcast.progress", sent=tr.integer(sent), total=tr.integer(total))
    waiting = await svc.store.outbox_waiting(f"bc:{broadcast.id}", svc.clock.now())
    if waiting:
        text += "\n" + tr.t("broadcast.progress_waiting", n=waiting)
    return text, [[Button(tr.t("button.stop_broadcast"), BroadcastStop(broadcast.id).pack())]]


async def finished_bar(svc: Services, broadcast: Broadcast, counts: dict[str, int]) -> str:
    """Write what the progress message says once a broadcast is over, without a Stop button."""
    user = await svc.store.user(broadcast.created_by)
    workshop = await svc.store.workshop(broadcast.workshop_id)
    lang = svc.i18n.pick(user.language if user else None, workshop.language if workshop else None)
    tr = svc.i18n(lang)
    sent, total = counts.get("sent", 0), sum(counts.values())
    return tr.t("broadcast.progress_done", sent=tr.integer(sent), total=tr.integer(total))


async def night_for_organizer(svc: Services, broadcast: Broadcast) -> bool:
    """Tell whether it is night now for the organizer who follows a broadcast's progress."""
    workshop = await svc.store.workshop(broadcast.workshop_id)
    if workshop is None or broadcast.progress_chat_id is None:
        return False
    user = await svc.store.user(broadcast.progress_chat_id)
    own = user.timezone if user else None
    return workshop_file(workshop).night_end(svc.clock.now(), own) is not None


async def resume_interrupted(svc: Services) -> list[int]:
    """Return the broadcasts a restart interrupted; their outbox rows carry on by themselves."""
    return [b.id for b in await svc.store.broadcasts_with_status(BroadcastStatus.SENDING)]


async def _on_message_text(ctx: Ctx, waiting: BroadcastMessage, text: str) -> list[Event]:
    return await on_message(ctx, waiting.broadcast_id, text, None)


async def _on_message_media(ctx: Ctx, waiting: BroadcastMessage, item: Media) -> list[Event]:
    return await on_message(ctx, waiting.broadcast_id, None, item)


async def _on_when_text(ctx: Ctx, waiting: BroadcastWhen, text: str) -> list[Event]:
    return await on_schedule_text(ctx, waiting.broadcast_id, text)


dialogs.handles(BroadcastMessage, _on_message_text, _on_message_media)
dialogs.handles(BroadcastWhen, _on_when_text)


async def waits_for_morning(svc: Services, broadcast: Broadcast, now: datetime) -> bool:
    """Tell whether a scheduled broadcast that fell due must wait: it is night at the workshop."""
    workshop = await svc.store.workshop(broadcast.workshop_id)
    return workshop is not None and workshop_file(workshop).is_quiet(now)


def _example(spec: WorkshopFile, now: datetime) -> str:
    """Return a valid sending time to show as an example: an hour from now, by day."""
    return spec.daytime(now + timedelta(hours=1)).astimezone(spec.zone).strftime("%d/%m/%Y %H:%M")
