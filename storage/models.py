"""Plain records that storage hands to flows: no SQL, no Telegram."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Any, Literal

AnswerValue = str | list[str]


# How a participant attends the sessions of a hybrid workshop.
Attendance = Literal["in_person", "online"]


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
    association_id: int | None = None


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
    # How they attend a hybrid workshop: "in_person", "online", or None (not said).
    attendance: str | None = None


class DialogState(StrEnum):
    """What the bot is waiting for from a person, kept across restarts."""

    JOIN_GREETING = "join_greeting"
    JOIN_CONSENT = "join_consent"
    # Profile questions before 0.5 (they now run as a questionnaire): kept so that rows
    # stored by an older release still read; no flow waits in them any more.
    PROFILE_NAME = "profile_name"
    PROFILE_INSTITUTION = "profile_institution"
    PROFILE_INSTITUTION_TEXT = "profile_institution_text"
    PROFILE_POSITION = "profile_position"
    PROFILE_COUNTRY = "profile_country"
    PROFILE_COUNTRY_TEXT = "profile_country_text"
    QUESTION_TEXT = "question_text"
    QUESTION_MULTI = "question_multi"
    QUESTION_EVIDENCE = "question_evidence"
    BROADCAST_MESSAGE = "broadcast_message"
    BROADCAST_SCHEDULE = "broadcast_schedule"
    FEEDBACK_COMMENT = "feedback_comment"
    # The plan wizard's fields and an update's evidence before 0.8 (they now run on the
    # form engine).
    PLAN_FIELD = "plan_field"
    STEP_FIELD = "step_field"
    UPDATE_EXTRA = "update_extra"


# States no flow waits in any more (see above).
RETIRED_DIALOG_STATES = frozenset(
    {
        DialogState.PROFILE_NAME,
        DialogState.PROFILE_INSTITUTION,
        DialogState.PROFILE_INSTITUTION_TEXT,
        DialogState.PROFILE_POSITION,
        DialogState.PROFILE_COUNTRY,
        DialogState.PROFILE_COUNTRY_TEXT,
        DialogState.PLAN_FIELD,
        DialogState.STEP_FIELD,
        DialogState.UPDATE_EXTRA,
    }
)


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
    # The message the person answers in, once they tapped in it (None: not known or retired).
    live_message_id: int | None = None

    @property
    def submitted(self) -> bool:
        """Tell whether the response was submitted."""
        return self.submitted_at is not None


@dataclass(frozen=True)
class RunState:
    """What answering a question needs, read together: the response and its context."""

    response: Response
    participant: Participant
    workshop: Workshop
    answers: dict[str, AnswerValue]
    dialog: Dialog | None


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
    attendance: str | None = None
    # The time zone the person chose to read times in (/agenda); None: the workshop's.
    timezone: str | None = None


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
    # Not to be sent before this (the recipient's morning); None: as soon as possible.
    not_before: datetime | None = None


@dataclass(frozen=True)
class InboxRow:
    """An update received by webhook and not yet handled, as Telegram sent it (JSON)."""

    update_id: int
    person: int
    body: str


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


class StepStatus(StrEnum):
    """Where a step of an action plan stands, as its latest update says."""

    NOT_STARTED = "not_started"
    IN_PROGRESS = "in_progress"
    DONE = "done"
    BLOCKED = "blocked"
    DROPPED = "dropped"

    @property
    def closed(self) -> bool:
        """Tell whether the step needs no more follow-up."""
        return self in (StepStatus.DONE, StepStatus.DROPPED)


PLAN_FIELDS = ("title", "objective", "sdgs")
STEP_FIELDS = ("action", "responsible", "resources", "indicator", "due_date", "success")


@dataclass(frozen=True)
class Association:
    """A national association, federation or institute that follows plans up."""

    id: int
    slug: str
    name: str


# What redeeming a one-time invitation link found.
InviteStatus = Literal["ok", "used", "unknown", "expired", "revoked"]


@dataclass(frozen=True)
class Organizer:
    """A person who organizes a workshop."""

    workshop_id: int
    telegram_id: int
    added_at: datetime
    name: str | None = None


@dataclass(frozen=True)
class Viewer:
    """A person who follows an association's plans."""

    association_id: int
    telegram_id: int
    digest: bool
    name: str | None = None


@dataclass(frozen=True, slots=True)
class PlanStep:
    """One step of a plan, with the status of its latest update."""

    id: int
    plan_id: int
    position: int
    action: str
    responsible: str | None
    resources: str | None
    indicator: str | None
    due_date: date | None
    success: str | None
    status: StepStatus
    updated_at: datetime | None
    removed: bool = False


@dataclass(frozen=True, slots=True)
class PlanMember:
    """A participant who owns or co-owns a plan."""

    participant_id: int
    telegram_id: int | None
    name: str | None
    role: str
    language: str | None
    unreachable: bool
    # With the member's consent: name and Telegram contact shown to those following up.
    contact: bool = False
    handle: str | None = None
    # The time zone the person chose to read times in (/agenda); None: the workshop's.
    timezone: str | None = None


@dataclass(frozen=True)
class Plan:
    """An action plan with its live steps (in order) and members."""

    id: int
    workshop_id: int
    owner_id: int
    title: str
    objective: str | None
    sdgs: tuple[int, ...]
    team_token: str | None
    created_at: datetime
    updated_at: datetime
    steps: tuple[PlanStep, ...]
    members: tuple[PlanMember, ...]

    def member(self, telegram_id: int) -> PlanMember | None:
        """Return the member with this Telegram id, if any."""
        return next((m for m in self.members if m.telegram_id == telegram_id), None)

    @property
    def open_steps(self) -> list[PlanStep]:
        """Return the steps still to follow up, in order."""
        return [s for s in self.steps if not s.status.closed]


@dataclass(frozen=True, slots=True)
class StepUpdate:
    """One progress update of a step; never changed once the author moved on."""

    id: int
    step_id: int
    author_id: int
    status: StepStatus
    note: str | None
    checkin_id: int | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Evidence:
    """A photo, document or link attached to an update."""

    id: int
    update_id: int
    kind: str
    file_id: str | None
    url: str | None
    file_name: str | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Checkin:
    """A request to update a plan, sent on an occasion."""

    id: int
    plan_id: int
    occasion: str
    kind: str
    created_at: datetime
    answered_at: datetime | None
    nudged_at: datetime | None


@dataclass(frozen=True, slots=True)
class PlanRecord:
    """A plan as reports see it: where it comes from and its owner's institution."""

    id: int
    workshop_id: int
    title: str
    institution: str | None
    sdgs: tuple[int, ...]
    created_at: datetime


@dataclass(frozen=True)
class PlanData:
    """Everything about the plans of some workshops, for dashboards and exports."""

    plans: list[PlanRecord]
    steps: list[PlanStep]
    updates: list[StepUpdate]
    evidence: list[Evidence]
    checkins: list[Checkin]
    members: dict[int, list[PlanMember]]
    authors: dict[int, str | None]


@dataclass(frozen=True)
class OverdueStep:
    """An open step whose date has passed, with where it belongs."""

    step_id: int
    plan_id: int
    workshop_id: int
    due_date: date
