"""Plain records that storage hands to flows: no SQL, no Telegram."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Any

AnswerValue = str | list[str]


@dataclass(frozen=True)
class Workshop:
    """A workshop as stored: identity plus the validated workshop file as JSON."""

    id: int
    slug: str
    join_code: str
    language: str
    timezone: str
    start_date: date
    end_date: date
    spec: dict[str, Any]


@dataclass(frozen=True)
class User:
    """A Telegram user's preferences, independent of any workshop."""

    telegram_id: int
    language: str | None
    active_workshop_id: int | None


@dataclass(frozen=True)
class Participant:
    """A person in one workshop."""

    id: int
    workshop_id: int
    telegram_id: int | None
    name: str | None
    institution: str | None
    position: str | None
    country: str | None
    consent_at: datetime
    profile_done: bool
    joined_at: datetime


class DialogState(StrEnum):
    """What the bot is waiting for from a person, kept across restarts."""

    JOIN_GREETING = "join_greeting"
    JOIN_CONSENT = "join_consent"
    PROFILE_NAME = "profile_name"
    PROFILE_INSTITUTION = "profile_institution"
    PROFILE_INSTITUTION_TEXT = "profile_institution_text"
    PROFILE_POSITION = "profile_position"
    PROFILE_COUNTRY = "profile_country"
    PROFILE_COUNTRY_TEXT = "profile_country_text"
    QUESTION_TEXT = "question_text"
    QUESTION_MULTI = "question_multi"


@dataclass(frozen=True)
class Dialog:
    """The pending dialog of a person: a state and its data."""

    telegram_id: int
    state: DialogState
    data: dict[str, Any]


@dataclass(frozen=True)
class Response:
    """One participant's run through one questionnaire."""

    id: int
    participant_id: int
    questionnaire_id: str
    version: int
    current_question: str | None
    reviewing: bool
    started_at: datetime
    submitted_at: datetime | None

    @property
    def submitted(self) -> bool:
        """Tell whether the response was submitted."""
        return self.submitted_at is not None
