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
    organizer_chat_id: int | None = None
    evaluation_opened_at: datetime | None = None


@dataclass(frozen=True)
class User:
    """A Telegram user's preferences, independent of any workshop."""

    telegram_id: int
    language: str | None
    active_workshop_id: int | None
    timezone: str | None = None


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
    reminders_muted: bool = False
    unreachable: bool = False


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
    BROADCAST_MESSAGE = "broadcast_message"
    BROADCAST_SCHEDULE = "broadcast_schedule"
    FEEDBACK_COMMENT = "feedback_comment"


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


@dataclass(frozen=True)
class AnswerSet:
    """One participant's answers to one questionnaire, for reports and exports."""

    participant_id: int
    institution: str | None
    submitted_at: datetime | None
    answers: dict[str, AnswerValue]
    answered_at: dict[str, datetime]


@dataclass(frozen=True)
class SessionRating:
    """A participant's rating (1-5) of one agenda session, with an optional comment."""

    participant_id: int
    session_id: str
    rating: int
    comment: str | None


@dataclass(frozen=True)
class Recipient:
    """A participant as an audience member: how to reach them and where they stand."""

    participant_id: int
    telegram_id: int
    language: str | None
    institution: str | None
    muted: bool
    unreachable: bool
    dgca_done: bool
    evaluation_done: bool


@dataclass(frozen=True)
class ScheduledItem:
    """An automatic message a workshop should send: what, when, and until when it helps."""

    key: str
    kind: str
    due_at: datetime
    expires_at: datetime | None
    payload: dict[str, Any]


@dataclass(frozen=True)
class ScheduledRow:
    """A stored automatic message with its state."""

    id: int
    workshop_id: int
    key: str
    kind: str
    due_at: datetime
    expires_at: datetime | None
    payload: dict[str, Any]
    status: str


@dataclass(frozen=True)
class SyncResult:
    """What re-importing a workshop changed in its schedule."""

    added: list[str]
    changed: list[str]
    removed: list[str]


@dataclass(frozen=True)
class OutMessage:
    """A message to one chat, waiting in the outbox."""

    chat_id: int
    text: str
    participant_id: int | None = None
    buttons: list[list[dict[str, str]]] | None = None
    media_kind: str | None = None
    media_file_id: str | None = None


@dataclass(frozen=True)
class OutboxRow:
    """A stored outbox message with its delivery state."""

    id: int
    source: str
    message: OutMessage
    status: str
    attempts: int


class BroadcastStatus(StrEnum):
    """Where a broadcast is in its life."""

    DRAFT = "draft"
    SCHEDULED = "scheduled"
    SENDING = "sending"
    DONE = "done"
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class Broadcast:
    """An organizer's message to an audience of a workshop."""

    id: int
    workshop_id: int
    created_by: int
    audience: str
    audience_arg: str | None
    text: str | None
    media_kind: str | None
    media_file_id: str | None
    status: BroadcastStatus
    scheduled_at: datetime | None
    progress_chat_id: int | None
    progress_message_id: int | None
