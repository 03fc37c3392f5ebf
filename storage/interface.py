"""The storage interface flows depend on; backends implement it."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Protocol

from storage.models import (
    AnswerValue,
    Dialog,
    DialogState,
    Participant,
    Response,
    User,
    Workshop,
)


class StorageError(Exception):
    """Storage could not be opened or used."""


class Store(Protocol):
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
