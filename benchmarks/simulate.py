"""Simulated workshop data for benchmarks and sample charts: plausible answers, Store only.

`simulate_workshop` imports `content/workshops/cochabamba-2023.yaml` and fills it with
participants who joined, gave their profile, submitted the DGCA, mostly submitted the
evaluation, and rated sessions. Every write goes through the `Store` interface (no SQL), so
the data looks exactly like what the bot itself stores. The same seed gives the same data.

The answers follow a simple latent model, so that charts have a realistic shape:

* DGCA: a base per dimension (leadership and strategy higher, legal and workforce lower),
  plus an offset per institution, per person and per statement, plus noise, rounded onto
  the five-point scale; "don't know" is more frequent on legal and technology statements.
* Evaluation: a per-person mood on top of a positive base per question, so that "Muy bueno",
  "Muy probable" and "Muchísimo" come out as the majority answers; short Spanish open answers
  are drawn from a small list.
* Session ratings: 1–5, mostly 4–5, a per-session tendency, and a few comments.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

import content as content_pkg
from bot.content import Questionnaire, QuestionType, Window, WorkshopFile, load_workshop_file
from bot.flows.workshops import import_workshop
from bot.services import Services
from storage import Store, Workshop

WORKSHOP_FILE = content_pkg.DEFAULT_DIR / "workshops" / "cochabamba-2023.yaml"
# Fixed so that two runs store the same workshop (the join code is random otherwise).
JOIN_CODE = "SIMULATED-cochabamba-2023-join"
FIRST_TELEGRAM_ID = 7_000_000_000
ORGANIZER_ID = 6_999_999_999
EVALUATION_SHARE = 0.85
RATING_SHARE = 0.55
COMMENT_SHARE = 0.04
IMPROVE_SHARE = 0.6

# Relative institution sizes, in the order of the workshop file: the host city and the
# association send many people, small municipalities a few.
INSTITUTION_WEIGHTS = (9, 22, 10, 8, 5, 3, 2, 12, 9, 8, 6, 6)
# Where each institution stands, added to every DGCA answer of its people.
INSTITUTION_OFFSETS = (0.35, 0.3, 0.0, -0.15, -0.3, -0.45, -0.5, 0.4, -0.1, 0.2, 0.05, -0.2)
# The DGCA's dimensions on the 1–5 scale, before offsets: the usual picture in local
# government is political will and plans ahead of laws, systems and skills.
DIMENSION_BASE = {
    "leadership": 3.8,
    "strategy": 3.5,
    "governance": 3.1,
    "technology": 2.9,
    "legal": 2.6,
    "workforce": 2.4,
}
DEFAULT_BASE = 3.0
NA_SHARE = {"legal": 0.11, "technology": 0.07}
DEFAULT_NA_SHARE = 0.04
# Evaluation questions: the base of the latent answer on each scale's values.
EVALUATION_BASE = {
    "q_facilitation": 4.7,
    "q_panelists": 4.45,
    "q_design": 4.75,
    "q_use": 3.75,
    "q_recommend": 4.75,
    "q_priorities": 4.3,
    "q_understanding": 4.7,
    "q_gap": 4.5,
    "q_mindset": 4.6,
    "q_expectations": 4.65,
}
SESSION_BASE = {
    "welcome": 4.0,
    "sdgs": 4.3,
    "innovation": 4.5,
    "dgca_results": 4.4,
    "services": 4.3,
    "mindsets": 4.2,
    "roadmaps": 4.55,
    "plans": 4.1,
    "closing": 4.0,
}

FIRST_NAMES = (
    "Ana", "Carlos", "María", "Juan", "Lucía", "Jorge", "Rosa", "Luis", "Carmen", "Diego",
    "Elena", "Marco", "Silvia", "Pedro", "Verónica", "Álvaro", "Gabriela", "Fernando",
    "Patricia", "Ramiro", "Daniela", "Óscar", "Claudia", "Wilma", "Edwin", "Ximena",
)  # fmt: skip
LAST_NAMES = (
    "Quispe", "Mamani", "Choque", "Flores", "Rojas", "Vargas", "Gutiérrez", "Fernández",
    "Condori", "Torrez", "Mendoza", "Rodríguez", "Guzmán", "Arce", "Salazar", "Villca",
    "Limachi", "Herrera", "Zurita", "Paz",
)  # fmt: skip
POSITIONS = (
    "Jefe de Sistemas",
    "Técnico en informática",
    "Director de Planificación",
    "Responsable de Gobierno Electrónico",
    "Asesor legal",
    "Secretario Municipal",
    "Concejal",
    "Técnico de Desarrollo Humano",
    "Responsable de Comunicación",
    "Jefa de Recursos Humanos",
)
USEFUL_ANSWERS = (
    "Los casos prácticos de otros municipios.",
    "La hoja de ruta que trabajamos en grupo.",
    "Conocer los resultados de la autoevaluación DGCA de nuestro municipio.",
    "El intercambio de experiencias con otros municipios.",
    "Las herramientas para planificar la transformación digital.",
    "La sesión sobre servicios inclusivos.",
    "Entender cómo se relaciona el gobierno digital con los ODS.",
    "Los ejemplos de interoperabilidad y datos abiertos.",
    "La metodología para el cambio de mentalidad.",
    "Todo, muy útil para nuestro trabajo.",
)
IMPROVE_ANSWERS = (
    "Más tiempo para el trabajo en grupos.",
    "Compartir las presentaciones antes del taller.",
    "Mejorar la conexión para quienes participamos en línea.",
    "Incluir ejemplos de municipios pequeños y rurales.",
    "Que el taller dure un día más.",
    "Más pausas entre las sesiones.",
    "Un seguimiento unos meses después del taller.",
    "Materiales impresos para llevar a la institución.",
)
SESSION_COMMENTS = (
    "Muy buena exposición.",
    "Faltó tiempo para preguntas.",
    "Muy útil para nuestro municipio.",
    "El audio en línea se cortaba a ratos.",
    "Excelente dinámica de grupo.",
    "Me gustaría recibir la presentación.",
)


@dataclass(frozen=True)
class _Person:
    index: int
    telegram_id: int
    name: str
    institution_index: int
    position: str


def _clip_round(value: float, low: int, high: int) -> int:
    return max(low, min(high, round(value)))


def _people(rng: random.Random, spec: WorkshopFile, count: int) -> list[_Person]:
    institutions = spec.institutions or ["Municipio"]
    weights = [INSTITUTION_WEIGHTS[i % len(INSTITUTION_WEIGHTS)] for i in range(len(institutions))]
    # Every institution gets at least one person when there are enough people; the
    # rest follow the uneven weights.
    order = list(range(len(institutions)))[: min(count, len(institutions))]
    order += rng.choices(range(len(institutions)), weights=weights, k=count - len(order))
    rng.shuffle(order)
    out = []
    for i, inst in enumerate(order):
        name = f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)} {rng.choice(LAST_NAMES)}"
        out.append(_Person(i, FIRST_TELEGRAM_ID + i, name, inst, rng.choice(POSITIONS)))
    return out


def _dgca_answers(
    rng: random.Random,
    q: Questionnaire,
    institution_offset: float,
    statement_offsets: dict[str, float],
) -> list[tuple[str, str]]:
    person = rng.gauss(0.0, 0.45)
    na_propensity = rng.choice((0.5, 1.0, 1.0, 1.0, 2.5))
    out = []
    for slot in q.slots():
        question, section = slot.question, slot.section.id
        if question.type is not QuestionType.LIKERT or question.scale is None:
            continue
        scale = q.scales[question.scale]
        codes = {o.value: o.code for o in scale.options if o.value is not None}
        na = scale.not_applicable
        if na is not None and rng.random() < NA_SHARE.get(section, DEFAULT_NA_SHARE) * (
            na_propensity
        ):
            out.append((question.id, na.code))
            continue
        base = DIMENSION_BASE.get(section, DEFAULT_BASE)
        latent = (
            base
            + institution_offset
            + person
            + statement_offsets.get(question.id, 0.0)
            + rng.gauss(0.0, 0.8)
        )
        value = _clip_round(latent, int(min(codes)), int(max(codes)))
        out.append((question.id, codes[value]))
    return out


def _evaluation_answers(rng: random.Random, q: Questionnaire) -> list[tuple[str, str | list[str]]]:
    mood = rng.gauss(0.0, 0.4)
    out: list[tuple[str, str | list[str]]] = []
    for slot in q.slots():
        question = slot.question
        if question.type is QuestionType.TEXT:
            if question.id == "open_useful" or not question.optional:
                out.append((question.id, rng.choice(USEFUL_ANSWERS)))
            elif rng.random() < IMPROVE_SHARE:
                out.append((question.id, rng.choice(IMPROVE_ANSWERS)))
            else:
                out.append((question.id, []))  # a skipped optional question
            continue
        options = q.options_of(question)
        codes = {o.value: o.code for o in options if o.value is not None}
        if not codes:
            out.append((question.id, rng.choice(options).code))
            continue
        high = int(max(codes))
        base = EVALUATION_BASE.get(question.id, high - 0.6)
        value = _clip_round(base + mood + rng.gauss(0.0, 0.55), int(min(codes)), high)
        out.append((question.id, codes[value]))
    return out


async def _answer_all(
    store: Store,
    participant_id: int,
    q: Questionnaire,
    answers: Sequence[tuple[str, str | list[str]]],
    started: datetime,
    step: timedelta,
) -> datetime:
    first = next(q.slots()).question.id
    response = await store.start_response(
        participant_id=participant_id,
        questionnaire_id=q.id,
        version=q.version,
        first_question=first,
        now=started,
    )
    text_ids = {s.question.id for s in q.slots() if s.question.type is QuestionType.TEXT}
    when = started
    for i, (qid, value) in enumerate(answers):
        when += step
        nxt = answers[i + 1][0] if i + 1 < len(answers) else None
        await store.record_answer(
            response.id,
            qid,
            value,
            next_question=nxt,
            reviewing=nxt is None,
            is_text=qid in text_ids and value != [],
            now=when,
        )
    when += step
    await store.submit_response(response.id, when)
    return when


async def simulate_workshop(svc: Services, *, participants: int, seed: int = 7) -> Workshop:
    """Import the Cochabamba workshop and fill it with `participants` simulated people.

    Every person joins, gives a full profile and submits the DGCA; about 85 % also submit the
    evaluation, and people rate about half the sessions. Deterministic for a given seed;
    writes only through `svc.store`.
    """
    rng = random.Random(seed)
    store = svc.store
    spec = load_workshop_file(WORKSHOP_FILE).model_copy(update={"join_code": JOIN_CODE})
    now = svc.clock.now()
    # Without windows in the file, the DGCA runs the week before and the evaluation opens
    # on the afternoon of the last day.
    dgca_window = spec.dgca_window or Window(
        opens=datetime.combine(spec.start_date - timedelta(days=8), time(9, 0)),
        closes=datetime.combine(spec.start_date - timedelta(days=1), time(23, 0)),
    )
    eval_opens_local = (
        spec.evaluation_window.opens
        if spec.evaluation_window
        else datetime.combine(spec.end_date, time(15, 0))
    )
    dgca_opens = spec.local(dgca_window.opens).astimezone(UTC)
    dgca_closes = spec.local(dgca_window.closes).astimezone(UTC)
    eval_opens = spec.local(eval_opens_local).astimezone(UTC)
    joined_at = min(dgca_opens - timedelta(days=3), now)
    result = await import_workshop(svc, spec, str(WORKSHOP_FILE), joined_at)
    workshop = result.workshop
    await store.add_organizer(workshop.id, ORGANIZER_ID, joined_at)

    assert spec.dgca is not None and spec.evaluation is not None, "the benchmark needs both"
    dgca = svc.content.questionnaire(spec.dgca)
    evaluation = svc.content.questionnaires.get(spec.evaluation)
    statement_offsets = {slot.question.id: rng.uniform(-0.35, 0.35) for slot in dgca.slots()}
    institutions = spec.institutions or ["Municipio"]
    country = spec.country.get(spec.language) if spec.country else ""
    people = _people(rng, spec, participants)
    # The DGCA is taken any time in its window; the evaluation in the hours after it opens;
    # both are kept before the clock's now so that nothing is dated in the future.
    dgca_span = max((min(dgca_closes, now) - dgca_opens).total_seconds() - 3600, 60.0)
    eval_span = max(min(3 * 3600.0, (now - eval_opens).total_seconds() - 600), 0.0)

    for person in people:
        participant, _ = await store.join(
            workshop_id=workshop.id,
            telegram_id=person.telegram_id,
            language=spec.language,
            now=joined_at,
        )
        pid = participant.id
        await store.update_profile(pid, field="name", value=person.name)
        institution = institutions[person.institution_index]
        await store.update_profile(pid, field="institution", value=institution)
        await store.update_profile(pid, field="position", value=person.position)
        if country:
            await store.update_profile(pid, field="country", value=country)
        await store.mark_profile_done(pid)

        offset = INSTITUTION_OFFSETS[person.institution_index % len(INSTITUTION_OFFSETS)]
        answers = _dgca_answers(rng, dgca, offset, statement_offsets)
        started = dgca_opens + timedelta(seconds=rng.uniform(0.0, dgca_span))
        await _answer_all(store, pid, dgca, answers, started, timedelta(seconds=12))

        if evaluation is not None and eval_span > 0 and rng.random() < EVALUATION_SHARE:
            started = eval_opens + timedelta(seconds=rng.uniform(0.0, eval_span))
            eval_answers = _evaluation_answers(rng, evaluation)
            await _answer_all(store, pid, evaluation, eval_answers, started, timedelta(seconds=9))

        for session in spec.agenda:
            if rng.random() >= RATING_SHARE:
                continue
            base = SESSION_BASE.get(session.id, 4.2)
            rating = _clip_round(base + rng.gauss(0.0, 0.8), 1, 5)
            rated_at = min(spec.local(session.until).astimezone(UTC), now)
            await store.rate_session(pid, workshop.id, session.id, rating, rated_at)
            if rng.random() < COMMENT_SHARE:
                await store.comment_session(pid, session.id, rng.choice(SESSION_COMMENTS))
    return workshop
