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
    keys = {lang: set(msgs) for lang, msgs in catalogs.items()}
    assert keys["es"] == keys["en"]
    check_catalogs(catalogs, LOCALES)


def test_a_missing_key_fails_and_names_the_file() -> None:
    catalogs = load_catalogs(LOCALES)
    del catalogs["en"]["help.text"]
    with pytest.raises(ContentError, match=r"en/LC_MESSAGES/bot.po.*help.text"):
        check_catalogs(catalogs, LOCALES)


def test_placeholders_must_match() -> None:
    catalogs = load_catalogs(LOCALES)
    catalogs["en"]["input.too_long"] = "Too long: {size}"
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
    missing = sorted(used - set(catalogs["es"]))
    assert not missing
    for name in ("start", "menu", "dgca", "language", "help", "privacy", "mydata", "forget"):
        assert f"command.{name}" in catalogs["es"]


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
    for lang, messages in load_catalogs(LOCALES).items():
        for key, value in messages.items():
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
