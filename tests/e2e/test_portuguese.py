"""A participant in Portuguese, from the join link to the DGCA profile: Portuguese only."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from bot.apidouble import SimUser
from bot.content import load_content
from tests.e2e.harness import Harness
from tests.support import CONTENT_DIR, DATA, FakeClock

WORKSHOP_PT = DATA / "workshop_pt.yaml"
# Fragments this long of a Spanish or English text, absent from every Portuguese one, would
# be a text left untranslated on the way.
FRAGMENT = 12


@pytest.fixture
def clock() -> FakeClock:
    # The DGCA is open, a week before the workshop, in the morning in Brasília.
    return FakeClock(datetime(2025, 3, 10, 13, 0, tzinfo=UTC))


def _fragments(texts: list[str]) -> set[str]:
    found = set()
    for text in texts:
        plain = re.sub(r"<[^>]+>", "", text)
        for part in re.split(r"\{[a-z_]+\}|\n", plain):
            part = part.strip(" ·:.,;!?¿¡()«»“”\"'")
            if len(part) >= FRAGMENT:
                found.add(part)
    return found


def _catalog(lang: str) -> list[str]:
    path = CONTENT_DIR / "locales" / lang / "LC_MESSAGES" / "bot.po"
    with Path(path).open("rb") as handle:
        catalog = read_po(handle)
    out: list[str] = []
    for message in catalog:
        if not message.id:
            continue
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        out += [str(s) for s in strings if s]
    return out


def _questionnaire_texts(lang: str) -> list[str]:
    content = load_content(CONTENT_DIR)
    texts: list[str] = []
    for form in content.questionnaires.values():
        for slot in form.slots():
            texts.append(slot.question.text.get(lang))
            texts += [o.label.get(lang) for o in form.options_of(slot.question)]
        texts += [s.title.get(lang) for s in form.sections]
    return texts


def foreign_fragments() -> set[str]:
    """Return what Spanish or English texts say that no Portuguese text says."""
    portuguese = " ".join(_catalog("pt") + _questionnaire_texts("pt"))
    others = _fragments(
        _catalog("es") + _catalog("en") + _questionnaire_texts("es") + _questionnaire_texts("en")
    )
    return {f for f in others if f not in portuguese}


def shown(user: SimUser, since: int = 0) -> list[str]:
    """Return every text the person saw: messages, captions and button labels."""
    texts = []
    for message in user.messages[since:]:
        texts.append(message.text or message.caption or "")
        texts += [b.get("text", "") for row in message.buttons for b in row]
    return texts


async def test_a_participant_in_portuguese_sees_no_other_language(bot: Harness) -> None:
    workshop = await bot.import_workshop(WORKSHOP_PT)
    ana = bot.double.new_user(first_name="Ana", last_name="Souza", language_code="pt-BR")
    greeting = await bot.send(ana, f"/start {workshop.join_code}")
    welcome = greeting.text or ""
    # Portuguese only: no button to switch to another language.
    assert len(ana.buttons(greeting)) == 1
    await bot.tap(ana, ana.buttons(greeting)[0])
    await bot.tap(ana, ana.buttons()[-1])  # accept
    await bot.tap(ana, "Usar “Ana Souza”")
    await bot.tap(ana, "Prefeitura Municipal de Goiânia")
    await bot.send(ana, "Diretora de Tecnologia")
    await bot.tap(ana, "Brasil")
    done = ana.last
    participant = await bot.services.store.participant(workshop.id, ana.id)
    assert participant is not None and participant.profile_done
    await bot.tap(ana, ana.buttons(done)[0])  # the DGCA
    for _ in range(36):
        await bot.tap(ana, ana.buttons()[0])
    await bot.tap(ana, ana.buttons()[-1])  # send the answers
    await bot.tap(ana, ana.buttons()[-1])  # confirm
    result = ana.last
    assert result.photo is not None and result.caption
    response = await bot.services.store.find_response(participant.id, "dgca")
    assert response is not None and response.submitted

    foreign = foreign_fragments()
    assert len(foreign) > 300  # the check has teeth: most texts differ between languages
    seen = "\n".join(shown(ana))
    assert [f for f in foreign if f in seen] == []
    # And the other way round: the greeting, a statement and the result are Portuguese.
    assert "Boas-vindas" in welcome
    assert "DGCA" in (result.caption or "")


async def test_someone_known_in_spanish_goes_on_in_portuguese_here(bot: Harness) -> None:
    """A person who joined a Spanish workshop before is spoken to in this one's language."""
    from tests.e2e.harness import COCHABAMBA
    from tests.e2e.test_journey import join_es

    cochabamba = await bot.import_workshop(COCHABAMBA)
    workshop = await bot.import_workshop(WORKSHOP_PT)
    ana = bot.double.new_user(first_name="Ana", last_name="Souza", language_code="es")
    await join_es(bot, ana, cochabamba.join_code)
    before = len(ana.messages)
    greeting = await bot.send(ana, f"/start {workshop.join_code}")
    assert "Boas-vindas" in (greeting.text or "")
    await bot.tap(ana, ana.buttons(greeting)[0])
    await bot.tap(ana, ana.buttons()[-1])
    await bot.send(ana, "Ana Souza")  # typed, not tapped: a new update, read afresh
    await bot.tap(ana, "Prefeitura Municipal de Goiânia")
    foreign = foreign_fragments()
    seen = "\n".join(shown(ana, since=before))
    assert [f for f in foreign if f in seen] == []
    user = await bot.services.store.user(ana.id)
    assert user is not None and user.language == "pt"
