"""Where each kind of input goes: the single entry point handlers call."""

from __future__ import annotations

from bot.flows import (
    associations,
    broadcast,
    checkins,
    dgca,
    dialogs,
    evaluation,
    join,
    menu,
    nav,
    organizer,
    plans,
    profile,
)
from bot.flows import questionnaire as engine
from bot.flows.access import Role, has_any_role
from bot.flows.callbacks import OpenDgca, OpenEvaluation, OpenEventEvaluation
from bot.flows.common import Actor, Ctx, Media, current_workshop, make_ctx, workshop_file
from bot.flows.events import Event, Notice, Send
from bot.flows.organizer import MAX_FORM_BYTES, MAX_IMPORT_BYTES
from bot.services import Services

# The features that own waiting states register their handlers with `dialogs` when they are
# imported; naming them here makes sure they are, before the first message arrives.
WAITING_FEATURES = (broadcast, checkins, engine, evaluation, join, plans, profile)


async def start(svc: Services, actor: Actor, payload: str | None) -> list[Event]:
    """Handle /start: the menu, or the flow a deep link opens (a join code by default)."""
    kind, token = nav.parse_start(payload)
    if kind == "none":
        ctx = await make_ctx(svc, actor)
        current = await current_workshop(ctx)
        if current.choices:
            return await menu.menu(ctx)
        return [Send(ctx.tr.t("start.no_code"))]
    if kind == "team":
        return await plans.join_team(await make_ctx(svc, actor), token)
    if kind == "viewer":
        return await associations.redeem(await make_ctx(svc, actor), token)
    if kind == "organizer":
        return await organizer.redeem(await make_ctx(svc, actor), token)
    return await join.start(svc, actor, token)


async def open_callback(
    ctx: Ctx, cb: OpenDgca | OpenEvaluation | OpenEventEvaluation, message_id: int
) -> list[Event]:
    """Handle the buttons that open the DGCA or the evaluation."""
    if isinstance(cb, OpenEvaluation):
        return [Notice(), *await evaluation.open_evaluation(ctx, cb.workshop)]
    if isinstance(cb, OpenEventEvaluation):
        return [Notice(), *await evaluation.open_evaluation(ctx, cb.workshop, cb.event)]
    return [Notice(), *await dgca.open_dgca(ctx, cb.workshop)]


async def questionnaire_callback(ctx: Ctx, cb: engine.RunTap, message_id: int) -> list[Event]:
    """Handle the buttons of a questionnaire run, with the DGCA's or evaluation's ending."""
    run = await engine.load_run(ctx, cb.response)
    if run is None or not run.questionnaire.review:
        # A form without a review (the profile, a plan) ends through its own binding.
        return await engine.on_run_callback(ctx, cb, message_id, run, dgca.after_submit)
    spec = workshop_file(run.workshop)
    view = evaluation.evaluation_view(spec, run)
    if view is not None:
        if await evaluation.is_closed_for(ctx, view, run.workshop):
            return [Notice(ctx.tr.t("evaluation.closed"))]
        return await engine.on_run_callback(ctx, cb, message_id, run, evaluation.after_submit)
    if run.subject is None and run.questionnaire.id == spec.dgca:
        return await engine.on_run_callback(ctx, cb, message_id, run, dgca.after_submit)
    # A survey the workshop no longer uses (its file changed since the button was sent).
    return [Notice(ctx.tr.t("notice.stale"))]


async def unknown_command(svc: Services, actor: Actor) -> list[Event]:
    """Answer a command the bot does not know."""
    ctx = await make_ctx(svc, actor)
    return [Send(ctx.tr.t("fallback.unknown_command"))]


async def text(svc: Services, actor: Actor, body: str) -> list[Event]:
    """Handle typed text: the answer to what the bot waits for, or a hint."""
    ctx = await make_ctx(svc, actor)
    waiting = dialogs.decode(await svc.store.dialog(actor.telegram_id))
    if waiting is not None:
        events = await dialogs.on_text(ctx, waiting, body)
        if events is not None:
            return events
    return await _nudge(ctx)


async def _nudge(ctx: Ctx) -> list[Event]:
    """Point someone who typed out of turn back to where they are."""
    current = await current_workshop(ctx)
    if current.participant is not None and current.workshop is not None:
        if not current.participant.profile_done:
            # Also where a profile begun before 0.5 waits in a retired dialog state.
            return await profile.ask_next_profile_step(ctx, current.participant, current.workshop)
        spec = workshop_file(current.workshop)
        response = (
            await ctx.svc.store.find_response(current.participant.id, spec.dgca)
            if spec.dgca is not None
            else None
        )
        if response is not None and not response.submitted:
            return await engine.show_current(ctx, response.id, notice=ctx.tr.t("input.use_buttons"))
    return [Send(ctx.tr.t("fallback.text"))]


def import_limit(item: Media | None) -> int | None:
    """Return the size limit of a document the bot imports (None: not one it imports)."""
    if item is None or item.kind != "document":
        return None
    name = (item.file_name or "").lower()
    if name.endswith((".yaml", ".yml")):
        return MAX_IMPORT_BYTES
    if name.endswith(".xlsx"):
        return MAX_FORM_BYTES
    return None


def is_workshop_file(item: Media | None) -> bool:
    """Tell whether a document is a workshop file or an XLSForm worth downloading."""
    limit = import_limit(item)
    # Telegram may leave file_size out: such a file is fetched, and the download is capped.
    return item is not None and limit is not None and (item.file_size or 0) <= limit


def _oversize_workshop_file(item: Media | None) -> bool:
    limit = import_limit(item)
    return item is not None and limit is not None and (item.file_size or 0) > limit


async def wants_workshop_file(svc: Services, actor: Actor) -> bool:
    """Tell whether this person may import workshop files (so the host downloads them)."""
    # Whoever may create or update a workshop: administrators and organizers.
    return await has_any_role(svc, actor.telegram_id, Role.ADMIN, Role.ORGANIZER)


async def media(
    svc: Services, actor: Actor, item: Media | None = None, data: bytes | None = None
) -> list[Event]:
    """Answer media sent in a private chat: a broadcast, a workshop file, or a hint."""
    ctx = await make_ctx(svc, actor)
    waiting = dialogs.decode(await svc.store.dialog(actor.telegram_id))
    if waiting is not None and item is not None:
        events = await dialogs.on_media(ctx, waiting, item)
        if events is not None:
            return events
    if item is not None and data is not None and is_workshop_file(item):
        if (item.file_name or "").lower().endswith(".xlsx"):
            return await organizer.import_form(ctx, item.file_name or "form.xlsx", data)
        return await organizer.import_document(ctx, item.file_name or "workshop.yaml", data)
    if _oversize_workshop_file(item) and await wants_workshop_file(svc, actor):
        assert item is not None
        kib = (item.file_size or 0) // 1024
        form = (item.file_name or "").lower().endswith(".xlsx")
        return [
            Send(
                ctx.tr.t(
                    "organizer.form_too_big" if form else "organizer.file_too_big",
                    file=item.file_name or "",
                    size=ctx.tr.integer(kib),
                    max=ctx.tr.integer((import_limit(item) or MAX_IMPORT_BYTES) // 1024),
                )
            )
        ]
    if waiting is not None and waiting.expects_text:
        return [Send(ctx.tr.t("fallback.media_expected_text"))]
    return [Send(ctx.tr.t("fallback.media"))]


async def edited(svc: Services, actor: Actor) -> list[Event]:
    """Explain that edits to sent messages are not read."""
    ctx = await make_ctx(svc, actor)
    return [Send(ctx.tr.t("fallback.edited"))]


async def group(svc: Services, actor: Actor) -> list[Event]:
    """Answer a command sent in a group: the bot works in private chats."""
    ctx = await make_ctx(svc, actor)
    return [Send(ctx.tr.t("fallback.group", bot=svc.bot_username))]


async def error(svc: Services, actor: Actor | None) -> list[Event]:
    """Tell the person something went wrong, without losing anything."""
    if actor is None:
        return [Send(svc.i18n("es").t("error.generic"))]
    ctx = await make_ctx(svc, actor)
    return [Send(ctx.tr.t("error.generic"))]
