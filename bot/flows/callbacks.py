"""Compact, versioned callback data that fits Telegram's 64 bytes."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

CODEC_VERSION = "1"
MAX_BYTES = 64
MAX_INT_DIGITS = 18
SEP = ":"


class Kind(StrEnum):
    """What a button does; two letters each to save bytes."""

    JOIN_LANGUAGE = "jl"
    JOIN_CONTINUE = "jg"
    CONSENT = "jc"
    PROFILE_NAME = "pn"
    INSTITUTION = "pi"
    INSTITUTION_PAGE = "pp"
    INSTITUTION_OTHER = "po"
    COUNTRY = "pc"
    COUNTRY_OTHER = "pk"
    ANSWER = "qa"
    TOGGLE = "qt"
    DONE = "qd"
    BACK = "qb"
    SKIP = "qs"
    REVIEW_EDIT = "re"
    REVIEW_SECTION = "rs"
    REVIEW_QUESTION = "rq"
    REVIEW_SHOW = "rv"
    SUBMIT = "su"
    SUBMIT_CONFIRM = "sc"
    OPEN_DGCA = "od"
    MENU = "mn"
    LANGUAGE = "lg"
    WORKSHOP = "ws"
    FORGET = "fg"
    PRIVACY = "pv"
    HELP = "hp"
    MYDATA = "md"
    AGENDA = "ag"
    TIMEZONE = "tz"
    REMINDERS = "rm"
    ORG_WORKSHOP = "ow"
    ORG_INVITE = "oi"
    AUDIENCE = "ba"
    AUDIENCE_INSTITUTION = "bi"
    BROADCAST_SEND = "bs"
    BROADCAST_SCHEDULE = "bt"
    BROADCAST_CANCEL = "bc"
    BROADCAST_STOP = "bx"
    LINK_GROUP = "lk"
    OPEN_EVALUATION = "oe"
    EVALUATION_ADMIN = "ea"
    RATE_SESSION = "sf"
    COMMENT_SESSION = "sk"
    REPORT = "rp"
    EXPORT = "ex"
    PLAN = "pl"
    UPDATE = "pu"
    PROGRESS = "pg"
    EVIDENCE = "pe"
    VIEWER = "vw"


@dataclass(frozen=True)
class Callback:
    """A decoded button press."""

    kind: Kind
    fields: tuple[str, ...]

    def int_field(self, index: int) -> int | None:
        """Return field `index` as an int, or None when absent or malformed."""
        if index >= len(self.fields):
            return None
        text = self.fields[index]
        # Forged data may carry any digits; ids are never longer than SQLite's 64-bit range.
        if not text.isascii() or not text.isdigit() or len(text) > MAX_INT_DIGITS:
            return None
        return int(text)

    def str_field(self, index: int) -> str | None:
        """Return field `index`, or None when absent."""
        return self.fields[index] if index < len(self.fields) else None


def pack(kind: Kind, *fields: object) -> str:
    """Encode a button press; raise ValueError if it would not fit Telegram."""
    parts = [str(f) for f in fields]
    if any(SEP in p for p in parts):
        raise ValueError(f"callback field contains {SEP!r}: {parts}")
    data = SEP.join([CODEC_VERSION + kind.value, *parts])
    if len(data.encode()) > MAX_BYTES:
        raise ValueError(f"callback data over {MAX_BYTES} bytes: {data!r}")
    return data


def unpack(data: str | None) -> Callback | None:
    """Decode button data; None for anything this release did not produce."""
    if not data or len(data.encode()) > MAX_BYTES:
        return None
    head, *fields = data.split(SEP)
    if len(head) != 3 or head[0] != CODEC_VERSION:
        return None
    try:
        kind = Kind(head[1:])
    except ValueError:
        return None
    return Callback(kind, tuple(fields))
