"""Translation catalogs (gettext .po, read with Babel) and locale-aware formatting."""

from __future__ import annotations

import html
import string
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from babel.dates import format_date, format_datetime
from babel.messages.pofile import read_po
from babel.numbers import format_decimal

from bot.content import ContentError

DOMAIN = "bot"
FALLBACK = "es"


class Html(str):
    """A string that is already safe HTML and must not be escaped again."""

    __slots__ = ()


def placeholders(template: str) -> set[str]:
    """Return the names of the {placeholders} in a catalog string."""
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def load_catalogs(locales_dir: Path) -> dict[str, dict[str, str]]:
    """Read every `<lang>/LC_MESSAGES/bot.po` under `locales_dir`."""
    catalogs: dict[str, dict[str, str]] = {}
    if not locales_dir.is_dir():
        raise ContentError(locales_dir, ["folder not found"])
    for po in sorted(locales_dir.glob(f"*/LC_MESSAGES/{DOMAIN}.po")):
        lang = po.parent.parent.name
        try:
            with po.open("rb") as fh:
                catalog = read_po(fh, locale=lang)
        except Exception as exc:  # Babel raises several kinds on a broken file
            raise ContentError(po, [f"cannot read catalog: {exc}"]) from exc
        messages: dict[str, str] = {}
        for message in catalog:
            if not message.id or not isinstance(message.id, str):
                continue
            value = message.string
            if not isinstance(value, str) or not value:
                raise ContentError(po, [f"msgid {message.id!r}: empty translation"])
            messages[message.id] = value
        catalogs[lang] = messages
    if FALLBACK not in catalogs:
        raise ContentError(locales_dir, [f"no catalog for {FALLBACK!r}"])
    return catalogs


def check_catalogs(catalogs: dict[str, dict[str, str]], locales_dir: Path) -> None:
    """Fail unless every language has every key with the same placeholders."""
    keys = set().union(*(c.keys() for c in catalogs.values()))
    for lang, messages in catalogs.items():
        path = locales_dir / lang / "LC_MESSAGES" / f"{DOMAIN}.po"
        missing = sorted(keys - messages.keys())
        if missing:
            raise ContentError(path, [f"msgid {k!r}: missing" for k in missing[:10]])
        reference = catalogs[FALLBACK]
        for key, value in messages.items():
            if placeholders(value) != placeholders(reference[key]):
                raise ContentError(
                    path,
                    [f"msgid {key!r}: placeholders differ from the {FALLBACK!r} catalog"],
                )


@dataclass(frozen=True)
class Translator:
    """Texts and formats for one language."""

    lang: str
    messages: dict[str, str]

    def t(self, key: str, /, **params: Any) -> str:
        """Return the text for `key`, with params HTML-escaped unless marked Html."""
        template = self.messages[key]
        if not params:
            return template
        safe = {
            k: v if isinstance(v, Html) else html.escape(str(v), quote=False)
            for k, v in params.items()
        }
        return template.format_map(safe)

    def plain(self, key: str, /, **params: Any) -> str:
        """Return the text for `key` with params as they are, for buttons, charts and files."""
        template = self.messages[key]
        return template.format_map(params) if params else template

    def number(self, value: float, digits: int = 1) -> str:
        """Format a number with the language's decimal mark."""
        pattern = "0." + "0" * digits if digits else "0"
        return format_decimal(value, format=pattern, locale=self.lang)

    def integer(self, value: int) -> str:
        """Format a count with the language's thousands separator: 1.240 or 1,240."""
        return format_decimal(value, format="#,##0", locale=self.lang)

    def date(self, value: date) -> str:
        """Format a date the short way people write it, for example 28 nov 2023."""
        return format_date(value, format="d MMM y", locale=self.lang).replace(".", "")

    def datetime(self, value: datetime) -> str:
        """Format a date and time, for example 28 nov 2023, 10:30."""
        return format_datetime(value, format="d MMM y, HH:mm", locale=self.lang).replace(".", "")


class I18n:
    """All catalogs, loaded and checked once."""

    def __init__(self, catalogs: dict[str, dict[str, str]]) -> None:
        self._translators = {lang: Translator(lang, msgs) for lang, msgs in catalogs.items()}

    @classmethod
    def load(cls, locales_dir: Path) -> I18n:
        """Load and check the catalogs under `locales_dir`."""
        catalogs = load_catalogs(locales_dir)
        check_catalogs(catalogs, locales_dir)
        i18n = cls(catalogs)
        for lang in i18n.languages:
            # Babel reads a locale's data on first use, 60 ms or more: at startup, not in the
            # middle of someone's report on the event loop.
            tr = i18n(lang)
            tr.date(date(2000, 1, 1))
            tr.datetime(datetime(2000, 1, 1))
            tr.number(1.5)
        return i18n

    @property
    def languages(self) -> tuple[str, ...]:
        """Return the supported language codes, Spanish first."""
        return tuple(sorted(self._translators, key=lambda code: (code != FALLBACK, code)))

    def pick(self, *candidates: str | None) -> str:
        """Return the first supported language among candidates (like 'es-BO')."""
        for candidate in candidates:
            if not candidate:
                continue
            base = candidate.lower().replace("_", "-").split("-", 1)[0]
            if base in self._translators:
                return base
        return FALLBACK

    def __call__(self, lang: str) -> Translator:
        """Return the translator for `lang`, falling back to Spanish."""
        return self._translators.get(lang) or self._translators[FALLBACK]
