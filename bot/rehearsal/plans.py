"""Rehearsal phases after the workshop: action plans, a check-in, and the dashboards."""

from __future__ import annotations

from datetime import timedelta

from bot.flows.callbacks import (
    PlanAddStep,
    PlanNew,
    PlanOpen,
    PlanSdg,
    PlanSdgDone,
    PlanSkip,
    ProgressExport,
    ProgressView,
    StepDate,
    UpdateNext,
    UpdateStart,
    UpdateStatus,
    UpdateStop,
    ViewerInvite,
)
from bot.rehearsal.world import Chat, Player, RehearsalError, World, field_is

PLAN_SHARE = 0.6
UPDATE_SHARE = 0.7
TYPING = timedelta(seconds=40)
TITLES = {
    "es": [
        "Trámites municipales en línea",
        "Ventanilla única digital",
        "Datos abiertos del presupuesto municipal",
        "Catastro digital",
    ],
    "en": [
        "Online municipal services",
        "Digital one-stop shop",
        "Open data on the municipal budget",
        "Digital land registry",
    ],
}
OBJECTIVES = {
    "es": ["Que la ciudadanía haga sus trámites sin filas", "Decisiones con datos abiertos"],
    "en": ["Citizens complete procedures without queues", "Decisions based on open data"],
}
ACTIONS = {
    "es": [
        "Diagnóstico de los trámites más usados",
        "Capacitar al personal de ventanilla",
        "Publicar el formulario en línea",
        "Convenio con la agencia nacional de gobierno digital",
    ],
    "en": [
        "Review the most used procedures",
        "Train front-desk staff",
        "Publish the online form",
        "Agreement with the national digital government agency",
    ],
}
RESPONSIBLE = {"es": ["Unidad de sistemas", "Secretaría general"], "en": ["IT unit", "Secretariat"]}
NOTES = {
    "es": ["Avanzamos con el equipo de sistemas", "Falta presupuesto para el servidor"],
    "en": ["Progress with the IT team", "Budget for the server is missing"],
}
SDG_CHOICES = (8, 9, 11, 16, 17)


async def _write_plan(player: Player) -> None:
    """Write a plan from the invitation (or /plan): title, objective, SDGs and steps."""
    person = player.person
    assert person is not None
    lang, rng = person.language, person.rng("plan")
    if player.find(PlanNew) is None:
        await player.say("/plan")
    await player.tap(PlanNew)
    await player.say(rng.choice(TITLES[lang]))
    if rng.random() < 0.7:
        await player.say(rng.choice(OBJECTIVES[lang]))
    else:
        await player.tap(PlanSkip)
    for number in sorted(rng.sample(SDG_CHOICES, rng.randint(1, 3))):
        await player.tap(PlanSdg, field_is("number", number))
    await player.tap(PlanSdgDone)
    for index, action in enumerate(rng.sample(ACTIONS[lang], rng.randint(1, 3))):
        if index:
            await player.tap(PlanAddStep)
        await player.say(action)
        await player.say(rng.choice(RESPONSIBLE[lang]))
        await player.tap(PlanSkip)
        await player.tap(PlanSkip)
        await player.tap(StepDate, field_is("months", rng.choice((1, 3, 6))))
        await player.tap(PlanSkip)
    await player.tap(PlanOpen)


async def plans(world: World) -> None:
    """Have most participants write an action plan in chat after the workshop."""
    writers = [
        p
        for p in world.players
        if p.joined and p.person is not None and p.person.rng("writes").random() < PLAN_SHARE
    ]
    await world.pass_time(timedelta(hours=1))
    await world.crowd(writers, _write_plan, step=TYPING, label="wrote a plan")


async def _update(player: Player) -> None:
    """Answer a check-in: a status for each open step, sometimes a note."""
    person = player.person
    assert person is not None
    rng = person.rng("checkin")
    await player.tap(UpdateStart)
    for _ in range(6):
        found = player.find(UpdateStatus, message=player.last)
        if found is None:
            return
        status = rng.choice(("ip", "ip", "dn", "ns", "bl"))
        await player.tap(UpdateStatus, field_is("status", status), message=player.last)
        if rng.random() < 0.4:
            await player.say(rng.choice(NOTES[person.language]))
        # Only the bot's newest message counts: older ones still show earlier steps' buttons.
        last = player.last
        if player.find(UpdateNext, message=last) is None:
            await player.tap(UpdateStop, message=last)
            return
        await player.tap(UpdateNext, message=last)
    raise RehearsalError(f"{player.name}: stuck in a check-in" + player.context())


async def checkin(world: World) -> None:
    """Move a month past the last day, when plans are asked for an update; most answer."""
    assert world.workshop_id is not None
    rows = await world.store.schedule_of(world.workshop_id)
    due = min((r.due_at for r in rows if r.key == "checkin:m1"), default=None)
    if due is None:
        return
    await world.advance_to(due + timedelta(minutes=30))
    asked = [
        p
        for p in world.players
        if p.find(UpdateStart) is not None
        and p.person is not None
        and p.person.rng("updates").random() < UPDATE_SHARE
    ]
    await world.crowd(asked, _update, step=TYPING, label="answered the check-in")


async def progress(world: World) -> None:
    """Appoint a viewer of the association who opens /progress; have the organizer export."""
    admin, organizer = world.admin, world.organizer
    assert admin is not None and organizer is not None
    user = world.double.new_user("Valeria", "Paz", language_code="es")
    world.chats[user.id] = Chat(
        "viewer", "Valeria Paz — association viewer", ["Follows the association's plans."]
    )
    viewer = Player(world, user, "viewer")
    await world.pass_time(timedelta(hours=2))
    await admin.say("/viewer")
    await admin.tap(ViewerInvite)
    link = next(
        (t.split("start=", 1)[1].split()[0] for t in reversed(admin.texts()) if "start=view-" in t),
        None,
    )
    if link is None:
        raise RehearsalError("no viewer link" + admin.context())
    await viewer.say(f"/start {link}")
    await viewer.tap(ProgressView)
    await viewer.tap(ProgressExport)
    await organizer.say("/progress")
    await organizer.tap(ProgressExport)
    await world.flush()
