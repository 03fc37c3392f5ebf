"""The storage interface flows depend on; backends implement it."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Protocol

from storage.models import (
    AnswerSet,
    AnswerValue,
    Broadcast,
    BroadcastStatus,
    Dialog,
    DialogState,
    OutboxRow,
    OutMessage,
    Participant,
    Recipient,
    Response,
    ScheduledItem,
    ScheduledRow,
    SessionRating,
    SyncResult,
    User,
    Workshop,
)


class StorageError(Exception):
    """Storage could not be opened or used."""


class CommunicationStore(Protocol):
    """Organizers, schedules, broadcasts and the outbox. Each method is one transaction."""

    async def all_workshops(self) -> list[Workshop]:
        """Return every workshop, newest first."""
        ...

    async def add_organizer(self, workshop_id: int, telegram_id: int, now: datetime) -> None:
        """Make someone an organizer of a workshop (once)."""
        ...

    async def is_organizer(self, workshop_id: int, telegram_id: int) -> bool:
        """Tell whether someone organizes a workshop."""
        ...

    async def organizers_of(self, workshop_id: int) -> list[int]:
        """Return the Telegram ids of a workshop's organizers."""
        ...

    async def organizer_workshops(self, telegram_id: int) -> list[Workshop]:
        """Return the workshops someone organizes, newest first."""
        ...

    async def create_organizer_invite(
        self, token: str, workshop_id: int, created_by: int, now: datetime
    ) -> None:
        """Store a one-time organizer invitation."""
        ...

    async def use_organizer_invite(
        self, token: str, telegram_id: int, now: datetime
    ) -> tuple[str, int | None]:
        """Redeem an invitation: ('ok' | 'used' | 'unknown', workshop id)."""
        ...

    async def set_organizer_chat(self, workshop_id: int, chat_id: int | None) -> None:
        """Link (or unlink, with None) the organizers' group of a workshop."""
        ...

    async def set_reminders_muted(self, participant_id: int, muted: bool) -> None:
        """Mute or restore automatic reminders for a participant."""
        ...

    async def set_unreachable(self, telegram_id: int, now: datetime | None) -> None:
        """Mark a person unreachable (blocked the bot), or reachable again with None."""
        ...

    async def recipients(
        self, workshop_id: int, dgca_id: str, evaluation_id: str
    ) -> list[Recipient]:
        """Return every participant of a workshop with their progress."""
        ...

    async def set_evaluation_opened(self, workshop_id: int, when: datetime) -> None:
        """Record that an organizer opened the evaluation by hand."""
        ...

    async def answer_sets(self, workshop_id: int, questionnaire_id: str) -> list[AnswerSet]:
        """Return every participant's answers to a questionnaire of a workshop."""
        ...

    async def rate_session(
        self, participant_id: int, workshop_id: int, session_id: str, rating: int, now: datetime
    ) -> None:
        """Store (or change) a participant's rating of a session."""
        ...

    async def comment_session(self, participant_id: int, session_id: str, comment: str) -> bool:
        """Add a comment to a rating already given; False if there is no rating."""
        ...

    async def session_ratings(self, workshop_id: int) -> list[SessionRating]:
        """Return every session rating of a workshop."""
        ...

    async def sync_schedule(
        self, workshop_id: int, items: list[ScheduledItem], now: datetime
    ) -> SyncResult:
        """Make a workshop's schedule match `items`, touching only what changed."""
        ...

    async def pending_schedule(self) -> list[ScheduledRow]:
        """Return every pending automatic message, soonest first."""
        ...

    async def schedule_of(self, workshop_id: int) -> list[ScheduledRow]:
        """Return a workshop's schedule, soonest first."""
        ...

    async def complete_scheduled(
        self, scheduled_id: int, status: str, messages: list[OutMessage], now: datetime
    ) -> bool:
        """Queue an occasion's messages and close it, atomically; False if already closed."""
        ...

    async def enqueue(self, source: str, messages: list[OutMessage], now: datetime) -> int:
        """Queue messages under a source; a chat gets at most one per source."""
        ...

    async def pending_outbox(self, limit: int, after_id: int = 0) -> list[OutboxRow]:
        """Return queued messages in order, from after `after_id`."""
        ...

    async def finish_outbox(
        self, outbox_id: int, status: str, now: datetime, error: str | None = None
    ) -> None:
        """Record how a queued message ended: sent, unreachable, failed or cancelled."""
        ...

    async def retry_outbox(self, outbox_id: int, error: str) -> int:
        """Count a failed attempt, leaving the message queued; return the attempts so far."""
        ...

    async def outbox_counts(self, source: str) -> dict[str, int]:
        """Return how many messages of a source are in each state."""
        ...

    async def cancel_outbox(self, source: str) -> int:
        """Withdraw the messages of a source not sent yet; return how many."""
        ...

    async def create_broadcast(
        self, workshop_id: int, created_by: int, audience: str, now: datetime
    ) -> int:
        """Start a draft broadcast; return its id."""
        ...

    async def update_broadcast(self, broadcast_id: int, **fields: Any) -> None:
        """Change some fields of a broadcast."""
        ...

    async def start_broadcast(
        self, broadcast_id: int, messages: list[OutMessage], now: datetime
    ) -> bool:
        """Queue a broadcast for its recipients and mark it sending, atomically."""
        ...

    async def broadcast(self, broadcast_id: int) -> Broadcast | None:
        """Return a broadcast by id."""
        ...

    async def broadcasts_with_status(self, *statuses: BroadcastStatus) -> list[Broadcast]:
        """Return broadcasts in any of the given states, oldest first."""
        ...


class Store(CommunicationStore, Protocol):
    """Everything the bot keeps. Each method is one transaction."""

    async def close(self) -> None:
        """Close the connection."""

    # Workshops
    async def upsert_workshop(
        self,
        *,
        slug: str,
        language: str,
        timezone: str,
        start_date: date,
        end_date: date,
        spec: dict[str, Any],
        join_code: str,
        now: datetime,
    ) -> tuple[Workshop, bool]:
        """Create or update a workshop by slug; return it and whether it is new."""
        ...

    async def workshop(self, workshop_id: int) -> Workshop | None:
        """Return a workshop by id."""
        ...

    async def workshop_by_code(self, join_code: str) -> Workshop | None:
        """Return the workshop with this join code."""
        ...

    async def workshop_by_slug(self, slug: str) -> Workshop | None:
        """Return the workshop with this slug."""
        ...

    # Users and dialogs
    async def user(self, telegram_id: int) -> User | None:
        """Return a user's preferences."""
        ...

    async def set_user_language(self, telegram_id: int, language: str, now: datetime) -> None:
        """Store a user's language, creating the user if needed."""
        ...

    async def set_user_timezone(self, telegram_id: int, timezone: str, now: datetime) -> None:
        """Store the time zone a person reads times in."""
        ...

    async def set_active_workshop(self, telegram_id: int, workshop_id: int, now: datetime) -> None:
        """Remember which workshop a user's conversation is about."""
        ...

    async def dialog(self, telegram_id: int) -> Dialog | None:
        """Return what the bot waits for from this user."""
        ...

    async def set_dialog(
        self, telegram_id: int, state: DialogState, data: dict[str, Any], now: datetime
    ) -> None:
        """Store what the bot waits for from this user."""
        ...

    async def clear_dialog(self, telegram_id: int) -> None:
        """Forget the pending dialog of this user."""
        ...

    # Participants
    async def join(
        self, *, workshop_id: int, telegram_id: int, language: str, now: datetime
    ) -> tuple[Participant, bool]:
        """Add a consenting person to a workshop once; return the participant and if new."""
        ...

    async def participant(self, workshop_id: int, telegram_id: int) -> Participant | None:
        """Return a person's participation in a workshop."""
        ...

    async def participant_by_id(self, participant_id: int) -> Participant | None:
        """Return a participant by id."""
        ...

    async def participations(self, telegram_id: int) -> list[tuple[Participant, Workshop]]:
        """Return every workshop a person joined, newest first."""
        ...

    async def update_profile(self, participant_id: int, *, field: str, value: str) -> None:
        """Set one profile field (name, institution, position, country)."""
        ...

    async def mark_profile_done(self, participant_id: int) -> None:
        """Record that a participant gave every detail organizers need."""
        ...

    # Questionnaires
    async def start_response(
        self,
        *,
        participant_id: int,
        questionnaire_id: str,
        version: int,
        first_question: str,
        now: datetime,
    ) -> Response:
        """Return the participant's response to a questionnaire, creating it once."""
        ...

    async def response(self, response_id: int) -> Response | None:
        """Return a response by id."""
        ...

    async def find_response(self, participant_id: int, questionnaire_id: str) -> Response | None:
        """Return a participant's response to a questionnaire, if started."""
        ...

    async def answers(self, response_id: int) -> dict[str, AnswerValue]:
        """Return the answers of a response by question id."""
        ...

    async def record_answer(
        self,
        response_id: int,
        question_id: str,
        value: AnswerValue | None,
        *,
        next_question: str | None,
        reviewing: bool,
        is_text: bool = False,
        now: datetime,
    ) -> None:
        """Store (or clear, with None) one answer and move to the next question atomically."""
        ...

    async def move_to(
        self, response_id: int, question_id: str | None, *, reviewing: bool, now: datetime
    ) -> None:
        """Point a response at a question (or at its review, with None)."""
        ...

    async def submit_response(self, response_id: int, now: datetime) -> bool:
        """Mark a response submitted; return False if it already was."""
        ...

    async def reopen_response(self, response_id: int, version: int, now: datetime) -> None:
        """Move an unsubmitted response to another questionnaire version."""
        ...

    # Privacy
    async def export_user(self, telegram_id: int) -> dict[str, Any]:
        """Return every record kept about a person, as plain data."""
        ...

    async def forget_user(self, telegram_id: int, now: datetime) -> int:
        """Remove what identifies a person; return how many participations were cleared."""
        ...
