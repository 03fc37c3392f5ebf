"""Dates as people type them, in Spanish, English and Portuguese (30/06/2025, 30 de junio…)."""

from __future__ import annotations

import re
from datetime import date

DATE_FORMS = (
    re.compile(r"(?P<d>\d{1,2})[/.\-](?P<m>\d{1,2})[/.\-](?P<y>\d{4}|\d{2})"),
    re.compile(r"(?P<y>\d{4})-(?P<m>\d{1,2})-(?P<d>\d{1,2})"),
)
MONTHS = {
    "ene": 1, "enero": 1, "jan": 1, "january": 1,
    "feb": 2, "febrero": 2, "february": 2,
    "mar": 3, "marzo": 3, "march": 3,
    "abr": 4, "abril": 4, "apr": 4, "april": 4,
    "may": 5, "mayo": 5,
    "jun": 6, "junio": 6, "june": 6,
    "jul": 7, "julio": 7, "july": 7,
    "ago": 8, "agosto": 8, "aug": 8, "august": 8,
    "sep": 9, "sept": 9, "septiembre": 9, "setiembre": 9, "september": 9,
    "oct": 10, "octubre": 10, "october": 10,
    "nov": 11, "noviembre": 11, "november": 11,
    "dic": 12, "diciembre": 12, "dec": 12, "december": 12,
    # Portuguese: fev, abr, mai, ago, set, out, dez and the months' names.
    "janeiro": 1, "fev": 2, "fevereiro": 2, "março": 3, "marco": 3, "mai": 5, "maio": 5,
    "junho": 6, "julho": 7, "set": 9, "setembro": 9, "out": 10, "outubro": 10,
    "novembro": 11, "dez": 12, "dezembro": 12,
}  # fmt: skip
WORDY_DATE = re.compile(
    r"(?:(?P<d1>\d{1,2})\s+(?:de\s+)?(?P<m1>[a-zñç]+)\.?|(?P<m2>[a-zñç]+)\.?\s+(?P<d2>\d{1,2}),?)"
    r"\s+(?:de\s+|del\s+)?(?P<y>\d{4})"
)


def parse_date(text: str) -> date | None:
    """Read a date typed as dd/mm/aaaa, aaaa-mm-dd, "30 de junio de 2025" or "June 30, 2025"."""
    value = " ".join(text.lower().split())
    for form in DATE_FORMS:
        match = form.fullmatch(value)
        if match:
            year = int(match["y"])
            year = year + 2000 if year < 100 else year
            try:
                return date(year, int(match["m"]), int(match["d"]))
            except ValueError:
                return None
    match = WORDY_DATE.fullmatch(value)
    if match:
        month = MONTHS.get(match["m1"] or match["m2"] or "")
        day = int(match["d1"] or match["d2"] or 0)
        if month is None:
            return None
        try:
            return date(int(match["y"]), month, day)
        except ValueError:
            return None
    return None
