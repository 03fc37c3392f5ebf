"""Translation catalogs: complete in every language, valid HTML, every used key present."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from bot.content import ContentError
from bot.i18n import I18n, check_catalogs, load_catalogs, placeholders
from tests.support import CONTENT_DIR

LOCALES = CONTENT_DIR / "locales"
ROOT = Path(__file__).resolve().parent.parent
ALLOWED_TAGS = {"b", "i", "u", "s", "a", "code", "pre", "blockquote"}


def test_every_language_has_every_key() -> None:
    catalogs = load_catalogs(LOCALES)
    assert set(catalogs) >= {"es", "en"}
    keys = {lang: catalog.keys() for lang, catalog in catalogs.items()}
    assert keys["es"] == keys["en"]
    check_catalogs(catalogs, LOCALES)


def test_a_missing_key_fails_and_names_the_file() -> None:
    catalogs = load_catalogs(LOCALES)
    del catalogs["en"].messages["help.text"]
    with pytest.raises(ContentError, match=r"en/LC_MESSAGES/bot.po.*help.text"):
        check_catalogs(catalogs, LOCALES)


def test_placeholders_must_match() -> None:
    catalogs = load_catalogs(LOCALES)
    catalogs["en"].messages["input.too_long"] = "Too long: {size}"
    with pytest.raises(ContentError, match="placeholders"):
        check_catalogs(catalogs, LOCALES)


def _used_keys() -> set[str]:
    pattern = re.compile(r"\.t\(\s*\"([a-z_]+\.[a-z_.]+)\"")
    keys: set[str] = set()
    for path in (ROOT / "bot").rglob("*.py"):
        keys |= set(pattern.findall(path.read_text(encoding="utf-8")))
    return keys


def test_every_key_used_in_code_exists() -> None:
    catalogs = load_catalogs(LOCALES)
    used = _used_keys()
    assert len(used) > 50
    missing = sorted(used - catalogs["es"].keys())
    assert not missing
    for name in ("start", "menu", "dgca", "language", "help", "privacy", "mydata", "forget"):
        assert f"command.{name}" in catalogs["es"].messages


class _TagChecker(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.stack: list[str] = []
        self.bad: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in ALLOWED_TAGS:
            self.bad.append(tag)
        self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack.pop() != tag:
            self.bad.append("/" + tag)


def test_catalog_html_is_what_telegram_accepts() -> None:
    for lang, catalog in load_catalogs(LOCALES).items():
        pairs = [(k, v) for k in sorted(catalog.keys()) for v in catalog.variants(k)]
        for key, value in pairs:
            filled = value.format_map({name: "x" for name in placeholders(value)})
            checker = _TagChecker()
            checker.feed(filled)
            assert not checker.bad and not checker.stack, (lang, key)
            assert not re.search(r"&(?![a-z]+;|#\d+;)", filled), (lang, key)


def test_translator_escapes_parameters_and_formats_numbers() -> None:
    i18n = I18n.load(LOCALES)
    es, en = i18n("es"), i18n("en")
    assert "&lt;b&gt;" in es.t("menu.workshop_chosen", title="<b>")
    assert es.number(3.456) == "3,5"
    assert en.number(3.456) == "3.5"
    assert i18n.pick("es-BO") == "es"
    assert i18n.pick(None, "fr", "en-US") == "en"
    assert i18n.pick("de") == "es"
    from datetime import date

    assert es.date(date(2023, 11, 28)) == "28 nov 2023"


def test_plural_texts_take_the_form_their_count_asks_for() -> None:
    i18n = I18n.load(LOCALES)
    es, en = i18n("es"), i18n("en")
    one = es.t("reminder.session", n=1)
    assert "1 minuto<" in one
    assert "15 minutos" in es.t("reminder.session", n=15)
    assert "Queda un día" in es.t("reminder.dgca_nudge", n=1, title="T", closes="x")
    assert "Quedan 3 días" in es.t("reminder.dgca_nudge", n=3, title="T", closes="x")
    assert "1 day left" in en.t("reminder.dgca_nudge", n=1, title="T", closes="x")
    assert "<b>1</b> persona " in es.t("broadcast.preview", n=1, audience="a")
    # Counts read as each language writes numbers.
    assert "<b>1.240</b> personas" in es.t("broadcast.preview", n=1240, audience="a")
    assert "<b>1,240</b> people" in en.t("broadcast.preview", n=1240, audience="a")
    assert es.plain("question.date_in", n=1, date="d") == "En 1 mes · d"
    assert en.plain("question.date_in", n=6, date="d") == "In 6 months · d"
    with pytest.raises(TypeError, match="n=<int>"):
        es.t("reminder.session", minutes=15)


def test_plural_forms_are_checked_per_language(tmp_path: Path) -> None:
    catalogs = load_catalogs(LOCALES)
    catalogs["en"].plurals["reminder.session"] = ("Starts in {n} minute",)
    catalogs["en"].messages["reminder.session"] = catalogs["en"].plurals.pop("reminder.session")[0]
    with pytest.raises(ContentError, match="plural here and not in 'es'"):
        check_catalogs(catalogs, LOCALES)
    bad = tmp_path / "es" / "LC_MESSAGES"
    bad.mkdir(parents=True)
    (bad / "bot.po").write_text(
        'msgid ""\nmsgstr ""\n"Plural-Forms: nplurals=2; plural=(n != 1);\\n"\n\n'
        'msgid "a.b"\nmsgid_plural "a.b"\nmsgstr[0] "{n} uno"\nmsgstr[1] ""\n',
        encoding="utf-8",
    )
    with pytest.raises(ContentError, match=r"line \d+, msgid 'a.b': empty plural form"):
        load_catalogs(tmp_path)


PLURAL_CALL = re.compile(r"\.(?:t|plain)\(\s*\"([a-z_]+\.[a-z_.]+)\"([^)]*)\)", re.S)


def test_code_passes_a_count_to_every_plural_text() -> None:
    plurals = load_catalogs(LOCALES)["es"].plurals
    assert len(plurals) >= 8
    for path in (ROOT / "bot").rglob("*.py"):
        for key, args in PLURAL_CALL.findall(path.read_text(encoding="utf-8")):
            if key in plurals:
                assert re.search(r"\bn=", args), (path.name, key)


def test_counted_nouns_are_written_with_plural_forms() -> None:
    # "{n} días" with n = 1 reads "1 días": a count before a noun needs plural forms.
    counted = re.compile(r"\{[a-z_]+\} (?:días|meses|minutos|personas|sesiones|planes|pasos)\b")
    for key, value in load_catalogs(LOCALES)["es"].messages.items():
        assert not counted.search(value), key


def test_a_translator_goes_to_the_worker_process_whole() -> None:
    # Workbooks and charts are built in a worker process, with the translator pickled.
    import pickle

    es = I18n.load(LOCALES)("es")
    copy = pickle.loads(pickle.dumps(es))
    assert copy.t("reminder.session", n=1) == es.t("reminder.session", n=1)
