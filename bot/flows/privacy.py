"""The privacy notice, a copy of one's data, and forgetting it."""

from __future__ import annotations

import json
from typing import Any

from bot.content import WorkshopFile
from bot.flows.callbacks import Forget, MyData, ShowPrivacy
from bot.flows.common import Ctx, current_workshop, workshop_file
from bot.flows.events import Button, Edit, Event, Notice, Send, SendDocument
from bot.flows.questionnaire import option_label


async def privacy(ctx: Ctx) -> list[Event]:
    """Show what is kept, who sees it, for how long, and how to delete it."""
    current = await current_workshop(ctx)
    if current.workshop is not None:
        spec = workshop_file(current.workshop)
        organizer, months = spec.organizers(ctx.lang), spec.retention_months
    else:
        default = WorkshopFile.model_fields["retention_months"].default
        organizer, months = ctx.tr.t("privacy.any_organizer"), default
    return [
        Send(
            ctx.tr.t(
                "privacy.text",
                organizer=organizer,
                months=ctx.tr.plain("count.months", n=months),
            ),
            [
                [
                    Button(ctx.tr.t("button.mydata"), MyData().pack()),
                    Button(ctx.tr.t("button.forget"), Forget().pack()),
                ]
            ],
        )
    ]


def _label_answers(ctx: Ctx, data: dict[str, Any]) -> dict[str, Any]:
    """Add question texts and answer labels so the file reads without the content files."""
    for participation in data.get("participations", []):
        for response in participation.get("responses", []):
            q = ctx.svc.content.questionnaires.get(response.get("questionnaire", ""))
            if q is None:
                continue
            slots = {s.question.id: s for s in q.slots()}
            for answer in response.get("answers", []):
                slot = slots.get(answer["question"])
                if slot is None:
                    continue
                answer["question_text"] = slot.question.text.get(ctx.lang)
                answer["answer_label"] = option_label(ctx, q, slot, answer["answer"])
    return data


async def mydata(ctx: Ctx) -> list[Event]:
    """Send the person every record kept about them, as a JSON file."""
    data = await ctx.svc.store.export_user(ctx.actor.telegram_id)
    if data["user"] is None and not data["participations"] and data["pending_dialog"] is None:
        return [Send(ctx.tr.t("mydata.nothing"))]
    payload = _label_answers(ctx, data)
    payload["exported_at"] = ctx.now_iso()
    today = ctx.svc.clock.now().date().isoformat()
    return [
        SendDocument(
            filename=f"{ctx.tr.plain('mydata.filename')}-{today}.json",
            build=lambda: json.dumps(payload, ensure_ascii=False, indent=2).encode("utf-8"),
            caption=ctx.tr.t("mydata.caption"),
        )
    ]


def forget(ctx: Ctx) -> list[Event]:
    """Ask for confirmation before deleting the person's data."""
    return [
        Send(
            ctx.tr.t("forget.confirm"),
            [
                [
                    Button(ctx.tr.t("button.cancel"), Forget(confirm=False).pack()),
                    Button(ctx.tr.t("button.forget_confirm"), Forget(confirm=True).pack()),
                ]
            ],
        )
    ]


async def on_callback(ctx: Ctx, cb: ShowPrivacy | MyData | Forget, message_id: int) -> list[Event]:
    """Handle the privacy buttons."""
    if isinstance(cb, ShowPrivacy):
        return [Notice(), *await privacy(ctx)]
    if isinstance(cb, MyData):
        return [Notice(), *await mydata(ctx)]
    if cb.confirm is None:
        return [Notice(), *forget(ctx)]
    if not cb.confirm:
        return [Notice(), Edit(message_id, ctx.tr.t("forget.cancelled"))]
    cleared = await ctx.svc.store.forget_user(ctx.actor.telegram_id, ctx.svc.clock.now())
    return [Notice(), Edit(message_id, ctx.tr.t("forget.done", n=cleared))]
