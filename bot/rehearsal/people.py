"""The simulated participants: who they are, how they answer and what they will do.

Everything here is decided up front from the seed, one random generator per person and
question, so the same seed gives the same people and the same answers however the bot
interleaves their messages.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal

from bot.content import Question, Questionnaire, QuestionType, WorkshopFile

# A step's status as the update form codes it (content/questionnaires/plan_update.yaml).
StatusCode = Literal["ns", "ip", "dn", "bl", "dr"]

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
POSITIONS = {
    "es": (
        "Jefe de Sistemas",
        "Técnica en informática",
        "Director de Planificación",
        "Responsable de Gobierno Electrónico",
        "Asesora legal",
        "Secretario Municipal",
        "Concejala",
        "Técnico de Desarrollo Humano",
        "Responsable de Comunicación",
        "Jefa de Recursos Humanos",
    ),
    "en": (
        "Head of IT",
        "Planning Director",
        "Digital Government Officer",
        "Legal Adviser",
        "Municipal Secretary",
        "Council Member",
        "Communications Officer",
        "Human Resources Manager",
    ),
}
OTHER_INSTITUTIONS = {
    "es": (
        "Ministerio de Planificación del Desarrollo",
        "Agencia de Gobierno Electrónico (AGETIC)",
        "Gobernación de Cochabamba",
    ),
    "en": (
        "UNDP Country Office",
        "Ministry of Development Planning",
        "Office of the UN Resident Coordinator",
    ),
}
TYPED_INSTITUTIONS = (
    "Municipio de San Miguel",
    "Municipio de Santa Rosa",
    "Alcaldía de San José",
    "Municipio de La Esperanza",
    "Ministerio de Planificación",
    "Agencia de Gobierno Digital",
)
OTHER_COUNTRIES = {"es": ("Perú", "Ecuador", "Chile"), "en": ("Peru", "Ecuador", "Chile")}
USEFUL_ANSWERS = {
    "es": (
        "Los casos prácticos de otros municipios.",
        "La hoja de ruta que trabajamos en grupo.",
        "Conocer los resultados de la autoevaluación de nuestro municipio.",
        "El intercambio de experiencias con otros municipios.",
        "Las herramientas para planificar la transformación digital.",
        "La sesión sobre servicios inclusivos.",
        "Entender cómo se relaciona el gobierno digital con los ODS.",
    ),
    "en": (
        "The practical cases from other municipalities.",
        "The road map we drafted in our group.",
        "Seeing the self-assessment results of our own municipality.",
        "Exchanging experiences with colleagues from other cities.",
        "The tools for planning the digital transformation.",
        "Understanding how digital government relates to the SDGs.",
    ),
}
IMPROVE_ANSWERS = {
    "es": (
        "Más tiempo para el trabajo en grupos.",
        "Compartir las presentaciones antes del taller.",
        "Mejorar la conexión para quienes participamos en línea.",
        "Incluir ejemplos de municipios pequeños y rurales.",
        "Un seguimiento unos meses después del taller.",
    ),
    "en": (
        "More time for the group work.",
        "Share the slides before the workshop.",
        "A better connection for those of us online.",
        "Examples from small and rural municipalities.",
        "A follow-up session a few months later.",
    ),
}
SESSION_COMMENTS = {
    "es": (
        "Muy buena exposición.",
        "Faltó tiempo para preguntas.",
        "Muy útil para nuestro municipio.",
        "El audio en línea se cortaba a ratos.",
        "Me gustaría recibir la presentación.",
    ),
    "en": (
        "A very clear presentation.",
        "Not enough time for questions.",
        "Very useful for our municipality.",
        "The online audio dropped now and then.",
        "I would like to receive the slides.",
    ),
}

# Relative institution sizes, in the order of the workshop file: the host city and the
# association send many people, small municipalities a few.
INSTITUTION_WEIGHTS = (9, 22, 10, 8, 5, 3, 2, 12, 9, 8, 6, 6)
# Where each institution stands: added to every DGCA answer of its people.
INSTITUTION_OFFSETS = (0.35, 0.3, 0.0, -0.15, -0.3, -0.45, -0.5, 0.4, -0.1, 0.2, 0.05, -0.2)
# The usual picture in local government: political will and plans ahead of laws and skills.
DIMENSION_BASE = {
    "leadership": 3.8,
    "strategy": 3.5,
    "governance": 3.1,
    "technology": 2.9,
    "legal": 2.6,
    "workforce": 2.4,
}
NA_SHARE = {"legal": 0.11, "technology": 0.07}
DEFAULT_NA_SHARE = 0.04
# Check-ins months after the workshop: what people say of their plan's steps.
BLOCKED_NOTES = {
    "es": (
        "Falta presupuesto para el servidor",
        "Esperamos la firma del convenio con la gobernación",
        "La persona responsable dejó la alcaldía",
    ),
    "en": (
        "The budget for the server is missing",
        "Waiting for the agreement with the governorate to be signed",
        "The person in charge left the municipality",
    ),
}
PROGRESS_NOTES = {
    "es": (
        "Avanzamos con la unidad de sistemas",
        "Ya tenemos el borrador del formulario",
        "Capacitamos a la mitad del personal",
    ),
    "en": (
        "Moving ahead with the IT unit",
        "The draft of the form is ready",
        "Half of the staff has been trained",
    ),
}
DONE_NOTES = {
    "es": ("https://tramites.municipio.example/en-linea", "Aprobado por el concejo municipal"),
    "en": ("https://services.municipality.example/online", "Approved by the municipal council"),
}
DROPPED_NOTES = {
    "es": ("La nueva gestión cambió las prioridades",),
    "en": ("The new administration changed its priorities",),
}
# A step's next status given its last one, as weights: plans move, some get stuck.
STEP_MOVES: dict[str, dict[StatusCode, float]] = {
    "ns": {"ns": 0.25, "ip": 0.45, "dn": 0.1, "bl": 0.15, "dr": 0.05},
    "ip": {"ip": 0.35, "dn": 0.45, "bl": 0.15, "dr": 0.05},
    "bl": {"bl": 0.45, "ip": 0.35, "dr": 0.2},
}
NOTE_SHARE = {"bl": 1.0, "ip": 0.4, "dn": 0.35, "dr": 0.5, "ns": 0.0}
NOTES: dict[str, Mapping[str, Sequence[str]]] = {
    "bl": BLOCKED_NOTES,
    "ip": PROGRESS_NOTES,
    "dn": DONE_NOTES,
    "dr": DROPPED_NOTES,
}
SKIP_STEP_SHARE = 0.1


class CheckinRole(StrEnum):
    """How a plan's author answers one check-in."""

    SOON = "soon"  # the day it comes
    LATE = "late"  # after its reminder, a week later
    SILENT = "silent"  # not at all


ENGLISH_SHARE = 0.35
OTHER_INSTITUTION_SHARE = 0.08
TYPED_NAME_SHARE = 0.2
EVALUATION_SHARE = 0.8
IMPROVE_SHARE = 0.6


class DgcaPlan(StrEnum):
    """When, and whether, a person takes the self-assessment."""

    EARLY = "early"  # right after the invitation
    LATE = "late"  # after the first reminder
    RESUMED = "resumed"  # stops midway, finishes after a reminder
    DROPPED = "dropped"  # stops midway for good
    NEVER = "never"  # never starts


@dataclass
class Person:
    """One simulated participant and everything they will do."""

    index: int
    seed: str
    first_name: str
    last_name: str
    language: str
    institution: str
    listed_institution: int | None
    position: str
    typed_name: str | None
    typed_country: str | None
    dgca_plan: DgcaPlan
    stop_after: int
    evaluates: bool
    evaluates_late: bool
    rating_share: float
    comments: bool
    mood: float
    offset: float
    na_propensity: float
    telegram_id: int = 0
    commented: int = 0
    # The last status the person gave each step of their plan, by the step's id.
    steps: dict[int, StatusCode] = field(default_factory=dict)

    @property
    def full_name(self) -> str:
        """Return the name as the person's Telegram profile shows it."""
        return f"{self.first_name} {self.last_name}"

    @property
    def slug(self) -> str:
        """Return a file-name-safe label, like p07-ana-quispe."""
        return f"p{self.index + 1:02d}-{ascii_slug(self.full_name)}"

    def rng(self, *topic: object) -> random.Random:
        """Return a generator for one decision, independent of the order of events."""
        return random.Random(":".join([self.seed, *(str(t) for t in topic)]))

    def text(self, bank: Mapping[str, Sequence[str]], *topic: object) -> str:
        """Pick a sentence in the person's language from a bank."""
        return self.rng("text", *topic).choice(bank[self.language])

    def choose(
        self, questionnaire: Questionnaire, question: Question, *, assessment: bool
    ) -> str | list[str] | None:
        """Return the option code(s) to tap, the text to type, or None to skip.

        An assessment (the DGCA) follows the person's institution and the usual strengths
        of local government; anything else (the evaluation) leans positive.
        """
        rng = self.rng(questionnaire.id, question.id)
        if question.type is QuestionType.TEXT:
            if question.optional and rng.random() >= IMPROVE_SHARE:
                return None
            bank = (
                USEFUL_ANSWERS
                if "useful" in question.id or not question.optional
                else (IMPROVE_ANSWERS)
            )
            return rng.choice(bank[self.language])
        options = questionnaire.options_of(question)
        if question.type is QuestionType.MULTI:
            most = question.max_choices or len(options)
            k = max(question.min_choices, min(most, rng.choice((1, 1, 2))))
            return [o.code for o in rng.sample(options, k)]
        valued = {o.value: o.code for o in options if o.value is not None}
        if not valued:
            return rng.choice(options).code
        if question.scale is not None:
            na = questionnaire.scales[question.scale].not_applicable
            section = _section_of(questionnaire, question.id)
            share = NA_SHARE.get(section, DEFAULT_NA_SHARE) * self.na_propensity
            if na is not None and rng.random() < share:
                return na.code
        low, high = min(valued), max(valued)
        if assessment:
            section = _section_of(questionnaire, question.id)
            base = DIMENSION_BASE.get(section, (low + high) / 2)
            latent = base + self.offset + rng.gauss(0.0, 0.8)
        else:
            # Evaluations lean positive: most people liked the workshop, a few did not.
            latent = high - 0.45 + self.mood + rng.gauss(0.0, 0.55)
        value = min(valued, key=lambda v: abs(v - latent))
        return valued[value]

    def step_update(self, step_id: int, months: int) -> tuple[StatusCode | None, str | None]:
        """Return the status code to give a step at a check-in (None to skip it) and a note."""
        rng = self.rng("step", step_id, months)
        if rng.random() < SKIP_STEP_SHARE:
            return None, None
        moves = STEP_MOVES.get(self.steps.get(step_id, "ns"), STEP_MOVES["ns"])
        status = rng.choices(list(moves), weights=list(moves.values()))[0]
        return status, self.note(status, rng.random(), step_id, months)

    def note(self, status: str, draw: float, *topic: object) -> str | None:
        """Return the note for a status, or None when the person writes none."""
        if draw >= NOTE_SHARE.get(status, 0.0):
            return None
        return self.text(NOTES[status], status, *topic)


def checkin_roles(people: Sequence[Person], months: int, share: float) -> list[CheckinRole]:
    """Share out who answers a check-in the day it comes, after its reminder, or not at all.

    `share` of the people stay silent; a fifth answer after the reminder. With three or
    more people, each behaviour is shown at least once.
    """
    count = len(people)
    silent = _quota(count, share, 1 if count >= 2 else 0)
    late = _quota(count, 0.2, 1 if count >= 3 else 0)
    roles = [CheckinRole.SILENT] * silent + [CheckinRole.LATE] * late
    roles += [CheckinRole.SOON] * max(0, count - len(roles))
    roles = roles[:count]
    random.Random(":".join(["checkin", str(months), *(p.seed for p in people)])).shuffle(roles)
    return roles


def _section_of(questionnaire: Questionnaire, question_id: str) -> str:
    for slot in questionnaire.slots():
        if slot.question.id == question_id:
            return slot.section.id
    return ""


def ascii_slug(text: str, limit: int = 40) -> str:
    """Turn any text into lowercase ASCII words joined by dashes."""
    import unicodedata

    decomposed = unicodedata.normalize("NFKD", text.casefold())
    kept = (c for c in decomposed if not unicodedata.combining(c))
    plain = "".join(c if c.isascii() and c.isalnum() else " " for c in kept)
    return "-".join(plain.split())[:limit].strip("-") or "x"


def _quota(count: int, share: float, minimum: int = 0) -> int:
    return max(minimum, round(count * share)) if count else 0


def make_people(spec: WorkshopFile, count: int, seed: int) -> list[Person]:
    """Create `count` participants for a workshop: languages, institutions and plans."""
    rng = random.Random(f"people:{seed}")
    # Without a list in the workshop file, people type their institution's name.
    institutions = list(spec.institutions) or list(TYPED_INSTITUTIONS)
    english = min(count - 1, _quota(count, ENGLISH_SHARE, 1)) if count > 1 else 0
    languages = ["en"] * english + ["es"] * (count - english)
    rng.shuffle(languages)
    # Several institutions always take part; the rest follow uneven sizes.
    weights = [INSTITUTION_WEIGHTS[i % len(INSTITUTION_WEIGHTS)] for i in range(len(institutions))]
    firsts = rng.sample(range(len(institutions)), min(count, len(institutions), 4))
    chosen: list[int | None] = [*firsts]
    chosen += rng.choices(range(len(institutions)), weights=weights, k=count - len(chosen))
    others = _quota(count, OTHER_INSTITUTION_SHARE) if count >= 8 and spec.institutions else 0
    for i in rng.sample(range(len(firsts), count), min(others, count - len(firsts))):
        chosen[i] = None
    plans = _dgca_plans(count)
    rng.shuffle(plans)
    evaluating = _quota(count, EVALUATION_SHARE, min(count, 3))
    evaluates = [True] * evaluating + [False] * (count - evaluating)
    rng.shuffle(evaluates)
    # At least one person writes comments on sessions, so that the reports show some.
    commenter = rng.randrange(count)
    people = []
    for i in range(count):
        lang = languages[i]
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        index = chosen[i]
        institution = (
            institutions[index] if index is not None else rng.choice(OTHER_INSTITUTIONS[lang])
        )
        offset = INSTITUTION_OFFSETS[index % len(INSTITUTION_OFFSETS)] if index is not None else 0
        rating_share = rng.uniform(0.2, 0.85)
        typed_name = None
        if rng.random() < TYPED_NAME_SHARE:
            typed_name = f"{first} {last} {rng.choice(LAST_NAMES)}"
        typed_country = None
        if spec.country is None or (lang == "en" and rng.random() < 0.3):
            typed_country = rng.choice(OTHER_COUNTRIES[lang])
        plan = plans[i]
        people.append(
            Person(
                index=i,
                seed=f"{seed}:{i}",
                first_name=first,
                last_name=last,
                language=lang,
                institution=institution,
                listed_institution=index if spec.institutions else None,
                position=rng.choice(POSITIONS[lang]),
                typed_name=typed_name,
                typed_country=typed_country,
                dgca_plan=plan,
                stop_after=rng.randint(5, 28),
                evaluates=evaluates[i],
                evaluates_late=rng.random() < 0.25,
                # The one sure to comment rates most sessions, so that a comment comes.
                rating_share=max(rating_share, 0.7) if i == commenter else rating_share,
                comments=i == commenter or rng.random() < 0.25,
                mood=rng.gauss(0.0, 0.4),
                offset=offset + rng.gauss(0.0, 0.45),
                na_propensity=rng.choice((0.5, 1.0, 1.0, 1.0, 2.5)),
            )
        )
    return people


def _dgca_plans(count: int) -> list[DgcaPlan]:
    """Share out the DGCA behaviours; a small group still shows a partial answer."""
    never = _quota(count, 0.08)
    dropped = _quota(count, 0.12, 1 if count >= 4 else 0)
    resumed = _quota(count, 0.10, 1 if count >= 5 else 0)
    late = _quota(count, 0.15, 1 if count >= 6 else 0)
    early = max(0, count - never - dropped - resumed - late)
    return (
        [DgcaPlan.EARLY] * early
        + [DgcaPlan.LATE] * late
        + [DgcaPlan.RESUMED] * resumed
        + [DgcaPlan.DROPPED] * dropped
        + [DgcaPlan.NEVER] * never
    )[:count]
