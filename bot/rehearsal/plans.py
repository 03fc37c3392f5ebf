"""Rehearsal phase after the workshop: participants write their action plans in chat."""

from __future__ import annotations

from datetime import timedelta

from bot.flows.callbacks import (
    Answer,
    AnswerDate,
    Done,
    PlanAddStep,
    PlanNew,
    PlanOpen,
    Skip,
    Toggle,
)
from bot.rehearsal.world import Player, World, field_is

PLAN_SHARE = 0.6
# Writers who let those following the plans up see their name and contact.
CONTACT_SHARE = 0.7
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
        await player.tap(Skip)
    for number in sorted(rng.sample(SDG_CHOICES, rng.randint(1, 3))):
        await player.tap(Toggle, field_is("option", str(number)))
    await player.tap(Done)
    # A draw of its own, so that the plans written stay as they were before the question.
    agrees = person.rng("contact").random() < CONTACT_SHARE
    await player.tap(Answer, field_is("option", "yes" if agrees else "no"))
    for index, action in enumerate(rng.sample(ACTIONS[lang], rng.randint(1, 3))):
        if index:
            await player.tap(PlanAddStep)
        await player.say(action)
        await player.say(rng.choice(RESPONSIBLE[lang]))
        await player.tap(Skip)
        await player.tap(Skip)
        await player.tap(AnswerDate, field_is("months", rng.choice((1, 3, 6))))
        await player.tap(Skip)
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
