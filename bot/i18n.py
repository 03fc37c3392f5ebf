"""Translation catalogs (gettext .po, read with Babel) and locale-aware formatting."""

from __future__ import annotations

import gettext
import html
import string
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cache
from pathlib import Path
from typing import Any

from babel.dates import format_date, format_datetime
from babel.messages.pofile import read_po
from babel.numbers import format_decimal

from bot.content import ContentError

DOMAIN = "bot"
FALLBACK = "es"
# The parameter whose value picks a plural form: `tr.t("reminder.session", n=15)`.
COUNT = "n"


class Html(str):
    """A string that is already safe HTML and must not be escaped again."""

    __slots__ = ()


def placeholders(template: str) -> set[str]:
    """Return the names of the {placeholders} in a catalog string."""
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


@dataclass(frozen=True)
class Catalog:
    """One language's texts: plain ones, ones with plural forms, and its plural rule."""

    messages: dict[str, str]
    plurals: dict[str, tuple[str, ...]] = field(default_factory=dict)
    forms: int = 2
    rule: str = "(n != 1)"

    def keys(self) -> set[str]:
        """Return every key, plain or plural."""
        return set(self.messages) | set(self.plurals)

    def variants(self, key: str) -> tuple[str, ...]:
        """Return every form a key can take (one for a plain text)."""
        return self.plurals[key] if key in self.plurals else (self.messages[key],)


def load_catalogs(locales_dir: Path) -> dict[str, Catalog]:
    """Read every `<lang>/LC_MESSAGES/bot.po` under `locales_dir`."""
    catalogs: dict[str, Catalog] = {}
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
        plurals: dict[str, tuple[str, ...]] = {}
        for message in catalog:
            where = f"line {message.lineno}" if message.lineno else "a message"
            if isinstance(message.id, tuple | list):
                key = str(message.id[0])
                forms = message.string
                if not isinstance(forms, tuple | list) or len(forms) != catalog.num_plurals:
                    raise ContentError(
                        po,
                        [f"{where}, msgid {key!r}: needs {catalog.num_plurals} plural forms"],
                    )
                if not all(isinstance(f, str) and f for f in forms):
                    raise ContentError(po, [f"{where}, msgid {key!r}: empty plural form"])
                plurals[key] = tuple(str(f) for f in forms)
                continue
            if not message.id or not isinstance(message.id, str):
                continue
            value = message.string
            if not isinstance(value, str) or not value:
                raise ContentError(po, [f"{where}, msgid {message.id!r}: empty translation"])
            messages[message.id] = value
        catalogs[lang] = Catalog(messages, plurals, catalog.num_plurals, catalog.plural_expr)
    if FALLBACK not in catalogs:
        raise ContentError(locales_dir, [f"no catalog for {FALLBACK!r}"])
    return catalogs


def check_catalogs(catalogs: dict[str, Catalog], locales_dir: Path) -> None:
    """Fail unless every language has every key, plural where Spanish is, same placeholders."""
    keys = set().union(*(c.keys() for c in catalogs.values()))
    reference = catalogs[FALLBACK]
    for lang, catalog in catalogs.items():
        path = locales_dir / lang / "LC_MESSAGES" / f"{DOMAIN}.po"
        missing = sorted(keys - catalog.keys())
        if missing:
            raise ContentError(path, [f"msgid {k!r}: missing" for k in missing[:10]])
        for key in sorted(catalog.keys()):
            if (key in catalog.plurals) != (key in reference.plurals):
                raise ContentError(
                    path, [f"msgid {key!r}: plural here and not in {FALLBACK!r}, or the reverse"]
                )
            expected = set().union(*(placeholders(v) for v in reference.variants(key)))
            if key in catalog.plurals and COUNT not in expected:
                raise ContentError(path, [f"msgid {key!r}: a plural text needs {{{COUNT}}}"])
            # A singular form may say "one" in words and leave {n} out, as gettext allows.
            found = [placeholders(v) for v in catalog.variants(key)]
            if set().union(*found) != expected or any(f - expected for f in found):
                raise ContentError(
                    path,
                    [f"msgid {key!r}: placeholders differ from the {FALLBACK!r} catalog"],
                )


@cache
def plural_rule(rule: str) -> Callable[[int], int]:
    """Compile a catalog's Plural-Forms rule: a count to the index of its form."""
    # Kept out of the Translator, which goes to the worker process: compiled rules don't pickle.
    return gettext.c2py(rule)


@dataclass(frozen=True)
class Translator:
    """Texts and formats for one language."""

    lang: str
    catalog: Catalog

    def _template(self, key: str, params: dict[str, Any]) -> str:
        forms = self.catalog.plurals.get(key)
        if forms is None:
            return self.catalog.messages[key]
        count = params.get(COUNT)
        if not isinstance(count, int) or isinstance(count, bool):
            raise TypeError(f"{key!r} has plural forms: pass its count as {COUNT}=<int>")
        # The count reads as the language writes numbers: 1.240 personas, 1,240 people.
        params[COUNT] = self.integer(count)
        return forms[plural_rule(self.catalog.rule)(abs(count))]

    def t(self, key: str, /, **params: Any) -> str:
        """Return the text for `key`, with params HTML-escaped unless marked Html.

        A text with plural forms takes the form its count `n` (an int) asks for.
        """
        template = self._template(key, params)
        if not params:
            return template
        safe = {
            k: v if isinstance(v, Html) else html.escape(str(v), quote=False)
            for k, v in params.items()
        }
        return template.format_map(safe)

    def plain(self, key: str, /, **params: Any) -> str:
        """Return the text for `key` with params as they are, for buttons, charts and files."""
        template = self._template(key, params)
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

    def __init__(self, catalogs: dict[str, Catalog]) -> None:
        self._translators = {lang: Translator(lang, cat) for lang, cat in catalogs.items()}

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
