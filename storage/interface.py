"""The storage interface flows depend on; backends implement it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any, Protocol

from storage.models import (
    AnswerSet,
    AnswerValue,
    Association,
    Attendance,
    Broadcast,
    BroadcastStatus,
    Checkin,
    Dialog,
    DialogState,
    Evidence,
    InboxRow,
    InviteStatus,
    Organizer,
    OutboxRow,
    OutMessage,
    OverdueStep,
    Participant,
    Plan,
    PlanData,
    PlanStep,
    Recipient,
    Response,
    RunState,
    ScheduledItem,
    ScheduledRow,
    SessionRating,
    StepUpdate,
    SyncResult,
    User,
    Viewer,
    Workshop,
)


class StorageError(Exception):
    """Storage could not be opened or used."""


class CommunicationStore(Protocol):
    """Organizers, schedules, broadcasts and the outbox. Each method is one transaction."""

    async def all_workshops(self) -> list[Workshop]:
        """Return every workshop, newest first."""
        ...

    async def add_organizer(
        self, workshop_id: int, telegram_id: int, now: datetime, name: str | None = None
    ) -> None:
        """Make someone an organizer of a workshop (once)."""
        ...

    async def organizer_roster(self, workshop_id: int) -> list[Organizer]:
        """Return a workshop's organizers, first appointed first."""
        ...

    async def remove_organizer(self, workshop_id: int, telegram_id: int) -> bool:
        """Remove an organizer from a workshop; tell whether they were one."""
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
        self, token: str, telegram_id: int, name: str | None, now: datetime, not_before: datetime
    ) -> tuple[InviteStatus, int | None]:
        """Redeem an invitation created at or after `not_before`, with its workshop id."""
        ...

    async def pending_organizer_invites(
        self, workshop_id: int, not_before: datetime
    ) -> list[datetime]:
        """Return when each usable invitation of a workshop was created, oldest first."""
        ...

    async def revoke_organizer_invites(self, workshop_id: int, now: datetime) -> int:
        """Cancel a workshop's unused invitations; return how many."""
        ...

    async def set_live_message(self, response_id: int, message_id: int | None) -> None:
        """Remember (or forget, with None) the message a questionnaire is answered in."""
        ...

    async def set_organizer_chat(self, workshop_id: int, chat_id: int | None) -> None:
        """Link (or unlink, with None) the organizers' group of a workshop."""
        ...

    async def set_reminders_muted(self, participant_id: int, muted: bool) -> None:
        """Mute or restore automatic reminders for a participant."""
        ...

    async def set_attendance(self, participant_id: int, attendance: Attendance | None) -> None:
        """Record how a participant attends a hybrid workshop ('in_person' or 'online')."""
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

    async def ratings_of(self, participant_id: int) -> dict[str, int]:
        """Return one participant's ratings, by session id."""
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

    async def complete_scheduled_together(
        self, closes: list[tuple[int, str]], messages: list[OutMessage], now: datetime
    ) -> bool:
        """Close several occasions (id, status) and queue their merged messages, atomically.

        False, with nothing changed, if any of them was closed already.
        """
        ...

    async def enqueue(self, source: str, messages: list[OutMessage], now: datetime) -> int:
        """Queue messages under a source; a chat gets at most one per source."""
        ...

    async def pending_outbox(
        self, limit: int, after_id: int = 0, now: datetime | None = None
    ) -> list[OutboxRow]:
        """Return queued messages in order, from after `after_id`; given `now`, those due."""
        ...

    async def finish_outbox(
        self, outbox_id: int, status: str, now: datetime, error: str | None = None
    ) -> None:
        """Record how a queued message ended: sent, unreachable, failed or cancelled."""
        ...

    async def outbox_queued(self, outbox_id: int) -> bool:
        """Tell whether a queued message is still there (a /forget deletes it)."""
        ...

    async def retry_outbox(self, outbox_id: int, error: str) -> int:
        """Count a failed attempt, leaving the message queued; return the attempts (0: gone)."""
        ...

    async def outbox_counts(self, source: str) -> dict[str, int]:
        """Return how many messages of a source are in each state."""
        ...

    async def outbox_waiting(self, source: str, now: datetime) -> int:
        """Return how many messages of a source wait for a later time (the person's morning)."""
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


class PlanStore(Protocol):
    """Action plans, check-ins, associations and viewers. Each method is one transaction."""

    async def upsert_association(self, slug: str, name: str, now: datetime) -> int:
        """Create an association by slug (or rename it); return its id."""
        ...

    async def set_workshop_association(self, workshop_id: int, association_id: int | None) -> None:
        """Say which association a workshop belongs to (None: none)."""
        ...

    async def association(self, association_id: int) -> Association | None:
        """Return an association by id."""
        ...

    async def all_associations(self) -> list[Association]:
        """Return every association, by name."""
        ...

    async def association_workshops(self, association_id: int) -> list[Workshop]:
        """Return the workshops of an association, newest first."""
        ...

    async def add_viewer(
        self, association_id: int, telegram_id: int, added_by: int, now: datetime
    ) -> bool:
        """Make someone a viewer of an association; False if they already were."""
        ...

    async def remove_viewer(self, association_id: int, telegram_id: int) -> bool:
        """Withdraw a viewer; False if they were not one."""
        ...

    async def viewers_of(self, association_id: int) -> list[Viewer]:
        """Return the viewers of an association."""
        ...

    async def viewer_associations(self, telegram_id: int) -> list[Association]:
        """Return the associations someone views, by name."""
        ...

    async def set_digest(self, association_id: int, telegram_id: int, enabled: bool) -> bool:
        """Turn a viewer's monthly digest on or off; False if they are not a viewer."""
        ...

    async def create_viewer_invite(
        self, token: str, association_id: int, created_by: int, now: datetime
    ) -> None:
        """Store a one-time viewer invitation."""
        ...

    async def use_viewer_invite(
        self, token: str, telegram_id: int, name: str, now: datetime
    ) -> tuple[str, int | None]:
        """Redeem a viewer invitation: ('ok' | 'already' | 'used' | 'unknown', association)."""
        ...

    async def create_plan(self, workshop_id: int, owner_id: int, title: str, now: datetime) -> int:
        """Start a plan owned by a participant; return its id."""
        ...

    async def plan(self, plan_id: int) -> Plan | None:
        """Return a plan with its live steps and members."""
        ...

    async def plans_of(self, telegram_id: int) -> list[Plan]:
        """Return the plans someone owns or co-owns, oldest first."""
        ...

    async def plans_in(self, workshop_id: int) -> list[Plan]:
        """Return every plan of a workshop, oldest first."""
        ...

    async def set_plan_field(
        self, plan_id: int, field: str, value: str | None, now: datetime
    ) -> None:
        """Change the title, objective or SDGs ("8,11") of a plan."""
        ...

    async def add_step(self, plan_id: int, action: str, now: datetime) -> int:
        """Add a step at the end of a plan; return its id."""
        ...

    async def step(self, step_id: int) -> PlanStep | None:
        """Return a step (removed or not) with its current status."""
        ...

    async def set_step_field(
        self, step_id: int, field: str, value: str | None, now: datetime
    ) -> None:
        """Change one field of a step (due_date as ISO text)."""
        ...

    async def remove_step(self, step_id: int, now: datetime) -> bool:
        """Take a step out of its plan, keeping its history; False if already out."""
        ...

    async def move_step(self, step_id: int, offset: int) -> bool:
        """Swap a step with its neighbour above (-1) or below (+1); False at an end."""
        ...

    async def set_team_token(self, plan_id: int, token: str) -> None:
        """Give a plan a (new) team invitation token."""
        ...

    async def plan_by_team_token(self, token: str) -> Plan | None:
        """Return the plan a team invitation leads to."""
        ...

    async def add_member(self, plan_id: int, participant_id: int, now: datetime) -> bool:
        """Make a participant a co-owner of a plan; False if already a member."""
        ...

    async def remove_member(self, plan_id: int, participant_id: int) -> bool:
        """Take a co-owner out of a plan (never the owner); False if not one."""
        ...

    async def set_contact(
        self, plan_id: int, participant_id: int, handle: str | None, now: datetime | None
    ) -> bool:
        """Record a member's contact consent (`now`), or withdraw it (None); False if no member."""
        ...

    async def record_update(
        self,
        step_id: int,
        author_id: int,
        status: str,
        checkin_id: int | None,
        now: datetime,
    ) -> int:
        """Add an update to a step and count its plan's open check-ins answered."""
        ...

    async def step_update(self, update_id: int) -> StepUpdate | None:
        """Return an update by id."""
        ...

    async def step_history(self, step_id: int) -> list[StepUpdate]:
        """Return every update of a step, oldest first."""
        ...

    async def add_update_note(self, update_id: int, note: str, limit: int) -> bool:
        """Add text to the note of an update being written; False past `limit` characters."""
        ...

    async def add_evidence(
        self,
        update_id: int,
        kind: str,
        *,
        file_id: str | None,
        url: str | None,
        file_name: str | None,
        file_size: int | None,
        now: datetime,
    ) -> int:
        """Attach a photo, document or link to an update; return its id."""
        ...

    async def evidence_item(self, evidence_id: int) -> tuple[Evidence, int] | None:
        """Return a piece of evidence and the workshop its plan belongs to."""
        ...

    async def open_checkins(
        self,
        occasions: list[tuple[int, str, str]],
        messages: list[OutMessage],
        source: str,
        now: datetime,
        scheduled_id: int | None = None,
    ) -> list[Checkin]:
        """Record check-ins (plan, occasion, kind) and queue their messages, atomically."""
        ...

    async def checkins_to_nudge(self, before: datetime) -> list[Checkin]:
        """Return unanswered, un-nudged check-ins asked before `before`."""
        ...

    async def nudge_checkin(
        self, checkin_id: int, messages: list[OutMessage], now: datetime
    ) -> bool:
        """Mark a check-in nudged and queue the nudge, atomically; False if not due."""
        ...

    async def checkin(self, checkin_id: int) -> Checkin | None:
        """Return a check-in by id."""
        ...

    async def overdue_steps(self, before: date) -> list[OverdueStep]:
        """Return live open steps dated before `before` whose lateness was not asked about."""
        ...

    async def plan_data(self, workshop_ids: list[int]) -> PlanData:
        """Return everything about the plans of some workshops, in one read."""
        ...

    async def last_digest(
        self, association_id: int, telegram_id: int
    ) -> tuple[str, dict[str, Any], datetime] | None:
        """Return the period, figures and time of the viewer's latest digest."""
        ...

    async def record_digest(
        self,
        association_id: int,
        telegram_id: int,
        period: str,
        figures: dict[str, Any],
        message: OutMessage,
        now: datetime,
    ) -> bool:
        """Queue a viewer's digest for a period once, with its figures; False if sent."""
        ...


class CoordinationStore(Protocol):
    """What several instances on one database agree through. Each method is one transaction.

    An instance is alive until the `alive_until` of its last heartbeat. A lease, a claimed
    update or a claimed message held by an instance that is not alive is free to take.
    """

    async def heartbeat(self, instance: str, now: datetime, alive_until: datetime) -> None:
        """Record that `instance` runs and is alive until `alive_until`."""
        ...

    async def leave(self, instance: str) -> None:
        """Forget a stopping instance: free its leases and whatever it claimed."""
        ...

    async def acquire_lease(self, name: str, instance: str, now: datetime) -> bool:
        """Take (or keep) the lease `name` unless a live other instance holds it."""
        ...

    async def release_outbox(self, instance: str) -> None:
        """Free the queued messages `instance` claimed and did not send (it stops sending)."""
        ...

    async def release_lease(self, name: str, instance: str) -> None:
        """Give the lease `name` back if `instance` holds it."""
        ...

    async def lease_holder(self, name: str) -> str | None:
        """Return which instance holds the lease `name`, alive or not."""
        ...

    async def inbox_put(
        self,
        update_id: int,
        person: int,
        body: str,
        now: datetime,
        waiting_limit: int | None = None,
    ) -> bool:
        """Keep a received update until it is handled; False if already there or over the limit.

        With `waiting_limit`, an update is refused when that many of the person's wait already.
        """
        ...

    async def inbox_claim(self, instance: str, now: datetime, limit: int) -> list[InboxRow]:
        """Claim, oldest first, the oldest update of each person that no live instance holds."""
        ...

    async def inbox_done(self, update_id: int) -> None:
        """Drop a handled update."""
        ...

    async def inbox_size(self) -> int:
        """Return how many received updates are not handled yet."""
        ...

    async def claim_outbox(self, instance: str, limit: int, now: datetime) -> list[OutboxRow]:
        """Claim queued messages due by `now`, in order, unless a live other instance has them."""
        ...


class Store(PlanStore, CommunicationStore, CoordinationStore, Protocol):
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

    # Programmes
    async def set_event_codes(self, workshop_id: int, codes: Mapping[str, str]) -> None:
        """Replace a workshop's event join codes (event id to code)."""
        ...

    async def event_codes(self, workshop_id: int) -> dict[str, str]:
        """Return a workshop's event join codes by event id."""
        ...

    async def workshop_by_event_code(self, join_code: str) -> tuple[Workshop, str] | None:
        """Return the workshop and event id an event join code leads to."""
        ...

    async def add_event_members(
        self, participant_id: int, event_ids: Sequence[str], now: datetime
    ) -> list[str]:
        """Enrol a participant in events once each; return the new ones, in the given order."""
        ...

    async def event_members(self, workshop_id: int) -> dict[int, frozenset[str]]:
        """Return the events each participant of a workshop is enrolled in (forgotten too)."""
        ...

    async def events_of(self, participant_id: int) -> frozenset[str]:
        """Return the events one participant is enrolled in."""
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

    async def run_state(self, response_id: int, telegram_id: int) -> RunState | None:
        """Return a response with its participant, workshop, answers and the person's dialog."""
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

    async def rekey_response(self, response_id: int, questionnaire_id: str) -> None:
        """Give a draft's response the key of the record its first answer created."""
        ...

    async def discard_response(self, response_id: int) -> None:
        """Delete an unsubmitted response and its answers (a draft left as it was)."""
        ...

    async def save_dimension_scores(
        self, response_id: int, scores: dict[str, float | None]
    ) -> None:
        """Keep a submitted response's score per dimension (replacing earlier ones)."""
        ...

    async def unscored_responses(self, workshop_id: int, questionnaire_id: str) -> list[int]:
        """Return submitted responses of a workshop with no dimension scores kept yet."""
        ...

    async def group_dimension_means(
        self, workshop_id: int, questionnaire_id: str
    ) -> tuple[int, dict[str, tuple[float | None, int]]]:
        """Return how many submitted, and each dimension's mean score with its count."""
        ...

    # Privacy
    async def export_user(self, telegram_id: int) -> dict[str, Any]:
        """Return every record kept about a person, as plain data."""
        ...

    async def forget_user(self, telegram_id: int, now: datetime) -> int:
        """Remove what identifies a person; return how many participations were cleared."""
        ...

    async def workshops_to_purge(self, before: date) -> list[Workshop]:
        """Return workshops not purged yet whose last day is before `before`."""
        ...

    async def purge_workshop(self, workshop_id: int, now: datetime) -> int:
        """Remove what identifies every participant of a workshop; return how many."""
        ...
