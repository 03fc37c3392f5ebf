"""The agenda for participants: /agenda, /next, time zones and muting reminders."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from babel.dates import format_date

from bot.content import AgendaSession, WorkshopFile
from bot.flows.callbacks import PickTimezone, SetAttendance, SetReminders
from bot.flows.common import Ctx, current_workshop, member_file, workshop_file
from bot.flows.events import Button, Edit, Event, Keyboard, Notice, Send
from bot.flows.nav import pick_workshop
from bot.flows.schedule import session_times
from bot.i18n import Html, Translator

# Zones offered to online participants; the workshop's own zone is always offered first.
ZONES = (
    "America/Mexico_City",
    "America/Guatemala",
    "America/Bogota",
    "America/Guayaquil",
    "America/Lima",
    "America/La_Paz",
    "America/Santo_Domingo",
    "America/Santiago",
    "America/Argentina/Buenos_Aires",
    "America/Sao_Paulo",
    "America/New_York",
    "Europe/Madrid",
)
DAYS_SHOWN = 3


def _hhmm(value: datetime) -> str:
    return value.strftime("%H:%M")


def when_text(tr: Translator, session: AgendaSession, start: datetime, end: datetime) -> str:
    """Return a session's time: "09:00–10:30", "11:55" with no end, or "to be confirmed"."""
    if session.time_tbc:
        return tr.plain("agenda.time_tbc")
    if session.end is None:
        return _hhmm(start)
    return f"{_hhmm(start)}–{_hhmm(end)}"


def zone_label(zone: str) -> str:
    """Return a short, readable name for a time zone (its city)."""
    return zone.rsplit("/", 1)[-1].replace("_", " ")


def session_lines(
    tr: Translator,
    spec: WorkshopFile,
    session: AgendaSession,
    own_zone: str | None,
    lang: str,
    *,
    place: bool = True,
    link: bool = True,
) -> str:
    """Describe one session: times (also in the reader's zone), title, speakers, place, link."""
    start, end = session_times(spec, session)
    when = when_text(tr, session, start, end)
    line = tr.t("agenda.session_line", when=when, title=session.title.get(lang))
    if own_zone and own_zone != spec.timezone and not session.time_tbc:
        zone = ZoneInfo(own_zone)
        own = _hhmm(start.astimezone(zone))
        if session.end is not None:
            own += f"–{_hhmm(end.astimezone(zone))}"
        line += "\n" + tr.t("agenda.own_time", when=own, zone=zone_label(own_zone))
    if session.speakers:
        line += "\n" + tr.t("agenda.speakers", speakers=", ".join(session.speakers))
    where = session.place.get(lang) if session.place else None
    if place and where:
        line += "\n" + tr.t("agenda.place", place=where)
    url = spec.link_of(session)
    if link and url:
        line += "\n" + tr.t("agenda.link", link=str(url))
    return line


def day_title(lang: str, day: date) -> str:
    """Return a day heading such as 'martes 28 nov'."""
    return format_date(day, format="EEEE d MMM", locale=lang).replace(".", "")


def agenda_text(
    tr: Translator,
    spec: WorkshopFile,
    lang: str,
    own_zone: str | None,
    days: list[date],
) -> str:
    """Render the sessions of the given days, grouped by day."""
    blocks = [tr.t("agenda.title", title=spec.title.get(lang), zone=zone_label(spec.timezone))]
    for day in days:
        sessions = sorted((s for s in spec.agenda if s.start.date() == day), key=lambda s: s.start)
        if not sessions:
            continue
        lines = [tr.t("agenda.day", day=day_title(lang, day))]
        lines += [session_lines(tr, spec, s, own_zone, lang) for s in sessions]
        blocks.append("\n\n".join(lines))
    return "\n\n".join(blocks)


async def _context(ctx: Ctx) -> tuple[WorkshopFile, str | None] | list[Event]:
    current = await current_workshop(ctx)
    if current.ambiguous:
        return pick_workshop(ctx, current.choices, then="ag")
    if current.workshop is None:
        return [Send(ctx.tr.t("menu.no_workshop"))]
    user = await ctx.svc.store.user(ctx.actor.telegram_id)
    zone = user.timezone if user else None
    if current.participant is not None:
        # In a programme, the sessions of the person's own events.
        return await member_file(ctx.svc, current.workshop, current.participant.id), zone
    return workshop_file(current.workshop), zone


def _zone_button(ctx: Ctx) -> list[Button]:
    return [Button(ctx.tr.t("button.timezone"), PickTimezone().pack())]


async def agenda(ctx: Ctx) -> list[Event]:
    """Show the sessions of today and the next days, in the workshop's local time."""
    found = await _context(ctx)
    if isinstance(found, list):
        return found
    spec, own_zone = found
    if not spec.agenda:
        return [Send(ctx.tr.t("agenda.empty"))]
    today = ctx.svc.clock.now().astimezone(spec.zone).date()
    upcoming = sorted({s.start.date() for s in spec.agenda if s.start.date() >= today})
    if not upcoming:
        return [Send(ctx.tr.t("agenda.over"), [_zone_button(ctx)])]
    text = agenda_text(ctx.tr, spec, ctx.lang, own_zone, upcoming[:DAYS_SHOWN])
    return [Send(text, [_zone_button(ctx)])]


async def next_session(ctx: Ctx) -> list[Event]:
    """Show the next session (or the one under way), with its place or link."""
    found = await _context(ctx)
    if isinstance(found, list):
        return found
    spec, own_zone = found
    now = ctx.svc.clock.now()
    timed = [s for s in spec.agenda if not s.time_tbc]
    coming = [s for s in timed if session_times(spec, s)[1] > now]
    if not coming:
        return [Send(ctx.tr.t("agenda.no_next"))]
    session = min(coming, key=lambda s: s.start)
    start, _ = session_times(spec, session)
    key = "agenda.now" if start <= now else "agenda.next"
    day = day_title(ctx.lang, start.date())
    head = ctx.tr.t(key, day=day)
    return [Send(head + "\n" + session_lines(ctx.tr, spec, session, own_zone, ctx.lang))]


def zone_menu(ctx: Ctx, workshop_zone: str | None) -> list[Event]:
    """Offer time zones to read the agenda in."""
    zones = list(dict.fromkeys([*([workshop_zone] if workshop_zone else []), *ZONES]))
    rows: Keyboard = []
    for i in range(0, len(zones), 2):
        rows.append(
            [
                Button(zone_label(z), PickTimezone(index).pack())
                for index, z in enumerate(zones[i : i + 2], start=i)
            ]
        )
    return [Send(ctx.tr.t("agenda.pick_zone"), rows)]


async def on_timezone_callback(ctx: Ctx, cb: PickTimezone, message_id: int) -> list[Event]:
    """Show the zone menu, or store the picked zone."""
    current = await current_workshop(ctx)
    workshop_zone = current.workshop.timezone if current.workshop else None
    index = cb.index
    if index is None:
        return [Notice(), *zone_menu(ctx, workshop_zone)]
    zones = list(dict.fromkeys([*([workshop_zone] if workshop_zone else []), *ZONES]))
    if not 0 <= index < len(zones):
        return [Notice(ctx.tr.t("notice.stale"))]
    zone = zones[index]
    await ctx.svc.store.set_user_timezone(ctx.actor.telegram_id, zone, ctx.svc.clock.now())
    return [
        Notice(),
        Edit(message_id, ctx.tr.t("agenda.zone_set", zone=zone_label(zone))),
        *await agenda(ctx),
    ]


def attendance_buttons(
    ctx: Ctx, workshop_id: int, chosen: str | None = None, *, settings: bool = False
) -> Keyboard:
    """Return the in-person / online buttons, the chosen one ticked."""
    return [
        [
            Button(
                ("✓ " if chosen == mode else "") + ctx.tr.t(f"button.attend_{mode}"),
                SetAttendance(workshop_id, mode, settings).pack(),
            )
            for mode in ("in_person", "online")
        ]
    ]


def attendance_question(ctx: Ctx, workshop_id: int) -> Send:
    """Ask how the person will attend the hybrid sessions."""
    return Send(ctx.tr.t("attendance.ask"), attendance_buttons(ctx, workshop_id))


async def on_attendance_callback(ctx: Ctx, cb: SetAttendance, message_id: int) -> list[Event]:
    """Record how the person attends; the reminders carry the place or the link accordingly."""
    participant = await ctx.svc.store.participant(cb.workshop, ctx.actor.telegram_id)
    if participant is None:
        return [Notice(), Send(ctx.tr.t("dgca.not_joined"))]
    await ctx.svc.store.set_attendance(participant.id, cb.mode)
    if cb.settings:
        # The settings stay on screen, the new choice ticked.
        drawn = await reminders_switch(ctx, "")
        if len(drawn) == 1 and isinstance(drawn[0], Send):
            return [Notice(), Edit(message_id, drawn[0].text, drawn[0].buttons)]
    return [Notice(), Edit(message_id, ctx.tr.t(f"attendance.set_{cb.mode}"))]


async def reminders_switch(ctx: Ctx, args: str) -> list[Event]:
    """Mute (/reminders off) or restore (/reminders on) automatic reminders."""
    current = await current_workshop(ctx)
    if current.participant is None:
        if current.ambiguous:
            return pick_workshop(ctx, current.choices, then="mn")
        return [Send(ctx.tr.t("menu.no_workshop"))]
    word = args.strip().lower()
    if word in ("off", "no", "apagar", "desactivar"):
        muted = True
    elif word in ("on", "si", "sí", "encender", "activar"):
        muted = False
    else:
        participant, workshop = current.participant, current.workshop
        assert workshop is not None
        state = "reminders.state_off" if participant.reminders_muted else "reminders.state_on"
        text = ctx.tr.t(state) + "\n" + ctx.tr.t("reminders.usage")
        rows: Keyboard = [
            [
                Button(ctx.tr.t("button.reminders_on"), SetReminders(on=True).pack()),
                Button(ctx.tr.t("button.reminders_off"), SetReminders(on=False).pack()),
            ]
        ]
        if (await member_file(ctx.svc, workshop, participant.id)).is_hybrid():
            # How they attend decides what the reminders carry: the place or the link.
            mode = participant.attendance or "unknown"
            text += "\n\n" + ctx.tr.t(f"attendance.state_{mode}")
            rows += attendance_buttons(ctx, workshop.id, participant.attendance, settings=True)
        return [Send(text, rows)]
    await ctx.svc.store.set_reminders_muted(current.participant.id, muted)
    return [Send(ctx.tr.t("reminders.muted" if muted else "reminders.restored"))]


async def on_reminders_callback(ctx: Ctx, cb: SetReminders, message_id: int) -> list[Event]:
    """Handle the on/off buttons of /reminders."""
    events = await reminders_switch(ctx, "on" if cb.on else "off")
    text = events[0].text if isinstance(events[0], Send) else ""
    return [Notice(), Edit(message_id, text)]


def session_change_text(
    tr: Translator, spec: WorkshopFile, lang: str, before: AgendaSession, after: AgendaSession
) -> str:
    """Tell participants that a session moved (or changed place)."""
    old_start, old_end = session_times(spec, before)
    new_start, new_end = session_times(spec, after)
    return (
        tr.t(
            "agenda.changed",
            title=after.title.get(lang),
            day=day_title(lang, new_start.date()),
            when=when_text(tr, after, new_start, new_end),
            before=Html(
                tr.t(
                    "agenda.before",
                    day=day_title(lang, old_start.date()),
                    when=when_text(tr, before, old_start, old_end),
                )
            ),
        )
        + "\n"
        + session_lines(tr, spec, after, None, lang)
    )
