"""An XLSForm sent to the bot comes back as the bot's questionnaire file, or with its problems."""

from __future__ import annotations

import yaml

from bot.content import Questionnaire, parse_model
from tests.e2e.harness import Harness
from tests.e2e.test_journey import join_es
from tests.test_xlsform import SURVEY_HEADER, q, seed_evaluation, workbook

ADMIN = 999  # BOT_ADMIN_IDS in tests.e2e.harness.settings_for


async def test_an_xlsform_comes_back_as_a_questionnaire_file(bot: Harness) -> None:
    await bot.import_workshop()
    admin = bot.double.new_user(first_name="Admin", language_code="es", user_id=ADMIN)
    await admin.send_document("Evaluación taller.xlsx", seed_evaluation())
    await bot.settle()
    sent = next(m for m in reversed(admin.messages) if m.document)
    assert sent.document is not None
    name, data = sent.document
    assert name.endswith(".yaml")
    assert "es un XLSForm que el bot puede usar" in (sent.caption or "")
    assert "preguntas en" in (sent.caption or "")
    # The file is one the bot's content check accepts as a questionnaire.
    form = parse_model(Questionnaire, yaml.safe_load(data.decode("utf-8")), name)
    assert form.sections
    # What was left out (Kobo's automatic rows, say) is said once, after the file.
    if admin.last is not sent:
        assert "Se dejó fuera" in (admin.last.text or "")


async def test_what_the_bot_cannot_run_is_named_by_sheet_row_and_column(bot: Harness) -> None:
    await bot.import_workshop()
    admin = bot.double.new_user(first_name="Admin", language_code="es", user_id=ADMIN)
    header = [*SURVEY_HEADER, "calculation"]
    survey = [q("text", "a", "A", "A"), [*q("calculate", "total", None, None), "1 + 1"]]
    await admin.send_document("calculo.xlsx", workbook(survey, survey_header=header))
    await bot.settle()
    reply = admin.last.text or ""
    assert "calculo.xlsx" in reply and "no se importó nada" in reply
    assert "survey sheet, row 3, column 'type'" in reply
    assert admin.last.document is None
    # A broken workbook gets a sentence, not silence.
    await admin.send_document("roto.xlsx", b"PK\x03\x04 not really a zip")
    await bot.settle()
    assert "roto.xlsx" in (admin.last.text or "")


async def test_participants_do_not_get_forms_read(bot: Harness) -> None:
    workshop = await bot.import_workshop()
    ana = bot.double.new_user(first_name="Ana", last_name="Quispe", language_code="es")
    await join_es(bot, ana, workshop.join_code)
    await ana.send_document("form.xlsx", seed_evaluation())
    await bot.settle()
    assert ana.last.document is None
    assert "XLSForm" not in (ana.last.text or "")


async def test_an_oversize_form_is_refused_with_its_size(bot: Harness) -> None:
    await bot.import_workshop()
    admin = bot.double.new_user(first_name="Admin", language_code="es", user_id=ADMIN)
    await admin.send_document("enorme.xlsx", b"PK" + b"\0" * (1100 * 1024))
    await bot.settle()
    reply = admin.last.text or ""
    assert "enorme.xlsx" in reply and "1.024 KB" in reply and "No se importó nada" in reply
    assert admin.last.document is None
