"""Database rows to models, shared by every backend.

SQLite hands back ISO text for times and JSON text for JSON columns; PostgreSQL hands back
datetime and date objects (and JSON as text, since asyncpg decodes no JSON by default). The
converters below accept both, so each mapping is written once.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import date, datetime
from typing import Any, Protocol

from storage.models import (
    AnswerSet,
    Association,
    Broadcast,
    BroadcastStatus,
    Checkin,
    Dialog,
    DialogState,
    Evidence,
    InviteStatus,
    Organizer,
    OutboxRow,
    OutMessage,
    Participant,
    Plan,
    PlanData,
    PlanMember,
    PlanRecord,
    PlanStep,
    Recipient,
    Response,
    ScheduledRow,
    StepStatus,
    StepUpdate,
    User,
    Viewer,
    Workshop,
)


class Row(Protocol):
    """A row of either backend: sqlite3.Row, asyncpg.Record or a plain dict."""

    def __getitem__(self, key: str, /) -> Any: ...
    def keys(self) -> Iterable[str]: ...


PROFILE_FIELDS = frozenset({"name", "institution", "position", "country"})
USER_FIELDS = frozenset({"language", "timezone", "active_workshop_id"})
BROADCAST_FIELDS = frozenset(
    {
        "audience",
        "audience_arg",
        "text",
        "media_kind",
        "media_file_id",
        "status",
        "scheduled_at",
        "started_at",
        "finished_at",
        "progress_chat_id",
        "progress_message_id",
    }
)

# The latest update of each step decides its status; ids grow with time, so max(id) is it.
LATEST_UPDATE = (
    "SELECT u.step_id, u.status, u.created_at FROM step_updates u"
    " JOIN (SELECT step_id, MAX(id) AS id FROM step_updates GROUP BY step_id) m ON m.id = u.id"
)
STEP_SELECT = (
    "SELECT s.*, l.status AS status, l.created_at AS updated_at FROM plan_steps s"  # noqa: S608
    f" LEFT JOIN ({LATEST_UPDATE}) l ON l.step_id = s.id"
)
MEMBER_SELECT = (
    "SELECT m.plan_id, m.participant_id, m.role, m.contact_at, m.contact_handle, p.telegram_id,"
    " p.name, p.unreachable_at, u.language, u.timezone FROM plan_members m"
    " JOIN participants p ON p.id = m.participant_id"
    " LEFT JOIN users u ON u.telegram_id = p.telegram_id"
)


def opt_dt(value: str | datetime | None) -> datetime | None:
    """Return a stored time as a datetime (None stays None)."""
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(value)


def req_dt(value: str | datetime) -> datetime:
    """Return a stored time that is never missing as a datetime."""
    found = opt_dt(value)
    assert found is not None
    return found


def opt_date(value: str | date | None) -> date | None:
    """Return a stored day as a date (None or empty stays None)."""
    if not value:
        return None
    if isinstance(value, date):
        return value
    return date.fromisoformat(value)


def from_json(value: str | Any) -> Any:
    """Decode a JSON column."""
    return json.loads(value) if isinstance(value, str | bytes) else value


def sdgs(text: str) -> tuple[int, ...]:
    """Return the SDG numbers kept as "8,11"."""
    return tuple(int(p) for p in text.split(",") if p)


def workshop(row: Row) -> Workshop:
    """Map a workshops row."""
    start = opt_date(row["start_date"])
    end = opt_date(row["end_date"])
    assert start is not None and end is not None
    return Workshop(
        organizer_chat_id=row["organizer_chat_id"],
        evaluation_opened_at=opt_dt(row["evaluation_opened_at"]),
        association_id=row["association_id"],
        id=row["id"],
        slug=row["slug"],
        join_code=row["join_code"],
        language=row["language"],
        timezone=row["timezone"],
        start_date=start,
        end_date=end,
        spec=from_json(row["spec_json"]),
    )


def user(row: Row) -> User:
    """Map a users row."""
    return User(
        telegram_id=row["telegram_id"],
        language=row["language"],
        active_workshop_id=row["active_workshop_id"],
        timezone=row["timezone"],
    )


def participant(row: Row) -> Participant:
    """Map a participants row."""
    return Participant(
        id=row["id"],
        workshop_id=row["workshop_id"],
        telegram_id=row["telegram_id"],
        name=row["name"],
        institution=row["institution"],
        position=row["position"],
        country=row["country"],
        consent_at=req_dt(row["consent_at"]),
        profile_done=bool(row["profile_done"]),
        joined_at=req_dt(row["joined_at"]),
        reminders_muted=bool(row["reminders_muted"]),
        unreachable=row["unreachable_at"] is not None,
        attendance=row["attendance"],
    )


def dialog(telegram_id: int, row: Row) -> Dialog | None:
    """Map a dialogs row; None for a state this release does not know."""
    try:
        state = DialogState(row["state"])
    except ValueError:
        # A state from a newer or older release: treat as no pending dialog.
        return None
    return Dialog(telegram_id=telegram_id, state=state, data=from_json(row["data_json"]))


def response(row: Row) -> Response:
    """Map a responses row."""
    return Response(
        id=row["id"],
        participant_id=row["participant_id"],
        questionnaire_id=row["questionnaire_id"],
        version=row["version"],
        current_question=row["current_question"],
        reviewing=bool(row["reviewing"]),
        started_at=req_dt(row["started_at"]),
        submitted_at=opt_dt(row["submitted_at"]),
        live_message_id=row["live_message_id"],
    )


def scheduled(row: Row) -> ScheduledRow:
    """Map a scheduled row."""
    return ScheduledRow(
        id=row["id"],
        workshop_id=row["workshop_id"],
        key=row["key"],
        kind=row["kind"],
        due_at=req_dt(row["due_at"]),
        expires_at=opt_dt(row["expires_at"]),
        payload=from_json(row["payload_json"]),
        status=row["status"],
    )


def outbox(row: Row) -> OutboxRow:
    """Map an outbox row."""
    return OutboxRow(
        id=row["id"],
        source=row["source"],
        message=OutMessage(
            chat_id=row["chat_id"],
            text=row["text"],
            participant_id=row["participant_id"],
            buttons=from_json(row["buttons_json"]) if row["buttons_json"] else None,
            media_kind=row["media_kind"],
            media_file_id=row["media_file_id"],
            not_before=opt_dt(row["not_before"]),
        ),
        status=row["status"],
        attempts=row["attempts"],
    )


def broadcast(row: Row) -> Broadcast:
    """Map a broadcasts row."""
    return Broadcast(
        id=row["id"],
        workshop_id=row["workshop_id"],
        created_by=row["created_by"],
        audience=row["audience"],
        audience_arg=row["audience_arg"],
        text=row["text"],
        media_kind=row["media_kind"],
        media_file_id=row["media_file_id"],
        status=BroadcastStatus(row["status"]),
        scheduled_at=opt_dt(row["scheduled_at"]),
        progress_chat_id=row["progress_chat_id"],
        progress_message_id=row["progress_message_id"],
    )


def recipient(row: Row) -> Recipient:
    """Map a row of the recipients query."""
    return Recipient(
        participant_id=row["id"],
        telegram_id=row["telegram_id"],
        language=row["language"],
        institution=row["institution"],
        muted=bool(row["reminders_muted"]),
        unreachable=row["unreachable_at"] is not None,
        dgca_done=bool(row["dgca_done"]),
        evaluation_done=bool(row["eval_done"]),
        attendance=row["attendance"],
        timezone=row["timezone"],
    )


def outbox_buttons(message: OutMessage) -> str | None:
    """Return a message's buttons as the JSON text the outbox keeps."""
    return json.dumps(message.buttons, ensure_ascii=False) if message.buttons else None


def group_answer_rows(rows: Iterable[Row]) -> list[AnswerSet]:
    """Group answer rows into one AnswerSet per participant."""
    grouped: dict[int, AnswerSet] = {}
    for row in rows:
        found = grouped.get(row["participant_id"])
        if found is None:
            found = grouped[row["participant_id"]] = AnswerSet(
                participant_id=row["participant_id"],
                institution=row["institution"],
                submitted_at=opt_dt(row["submitted_at"]),
                answers={},
                answered_at={},
            )
        if row["question_id"] is not None:
            found.answers[row["question_id"]] = from_json(row["value_json"])
            answered = opt_dt(row["answered_at"])
            if answered is not None:
                found.answered_at[row["question_id"]] = answered
    return list(grouped.values())


def step(row: Row) -> PlanStep:
    """Map a row of STEP_SELECT."""
    return PlanStep(
        id=row["id"],
        plan_id=row["plan_id"],
        position=row["position"],
        action=row["action"],
        responsible=row["responsible"],
        resources=row["resources"],
        indicator=row["indicator"],
        due_date=opt_date(row["due_date"]),
        success=row["success"],
        status=StepStatus(row["status"] or StepStatus.NOT_STARTED),
        updated_at=opt_dt(row["updated_at"]),
        removed=row["removed_at"] is not None,
    )


def member(row: Row) -> PlanMember:
    """Map a row of MEMBER_SELECT."""
    return PlanMember(
        participant_id=row["participant_id"],
        telegram_id=row["telegram_id"],
        name=row["name"],
        role=row["role"],
        language=row["language"],
        unreachable=row["unreachable_at"] is not None,
        contact=row["contact_at"] is not None,
        handle=row["contact_handle"],
        timezone=row["timezone"],
    )


def update(row: Row) -> StepUpdate:
    """Map a step_updates row."""
    return StepUpdate(
        id=row["id"],
        step_id=row["step_id"],
        author_id=row["author_id"],
        status=StepStatus(row["status"]),
        note=row["note"],
        checkin_id=row["checkin_id"],
        created_at=req_dt(row["created_at"]),
    )


def evidence(row: Row) -> Evidence:
    """Map an update_evidence row."""
    return Evidence(
        id=row["id"],
        update_id=row["update_id"],
        kind=row["kind"],
        file_id=row["file_id"],
        url=row["url"],
        file_name=row["file_name"],
        created_at=req_dt(row["created_at"]),
    )


def checkin(row: Row) -> Checkin:
    """Map a plan_checkins row."""
    return Checkin(
        id=row["id"],
        plan_id=row["plan_id"],
        occasion=row["occasion"],
        kind=row["kind"],
        created_at=req_dt(row["created_at"]),
        answered_at=opt_dt(row["answered_at"]),
        nudged_at=opt_dt(row["nudged_at"]),
    )


def association(row: Row) -> Association:
    """Map an associations row."""
    return Association(row["id"], row["slug"], row["name"])


def invite_status(
    created_at: datetime, used_at: object, revoked_at: object, not_before: datetime
) -> InviteStatus:
    """Say whether an invitation can still be redeemed, and if not why."""
    # used_at, not used_by: /forget erases who used it, and it stays used.
    if used_at is not None:
        return "used"
    if revoked_at is not None:
        return "revoked"
    return "expired" if created_at < not_before else "ok"


def organizer(row: Row) -> Organizer:
    """Map an organizers row."""
    return Organizer(row["workshop_id"], row["telegram_id"], req_dt(row["added_at"]), row["name"])


def viewer(row: Row) -> Viewer:
    """Map an association_viewers row."""
    return Viewer(row["association_id"], row["telegram_id"], bool(row["digest"]), row["name"])


def plans(
    plan_rows: Iterable[Row], step_rows: Iterable[Row], member_rows: Iterable[Row]
) -> list[Plan]:
    """Assemble plans from their rows, live steps (in order) and members (in order)."""
    plan_rows = list(plan_rows)
    steps: dict[int, list[PlanStep]] = {r["id"]: [] for r in plan_rows}
    for r in step_rows:
        steps[r["plan_id"]].append(step(r))
    members: dict[int, list[PlanMember]] = {r["id"]: [] for r in plan_rows}
    for r in member_rows:
        members[r["plan_id"]].append(member(r))
    return [
        Plan(
            id=r["id"],
            workshop_id=r["workshop_id"],
            owner_id=r["owner_id"],
            title=r["title"],
            objective=r["objective"],
            sdgs=sdgs(r["sdgs"]),
            team_token=r["team_token"],
            created_at=req_dt(r["created_at"]),
            updated_at=req_dt(r["updated_at"]),
            steps=tuple(steps[r["id"]]),
            members=tuple(members[r["id"]]),
        )
        for r in plan_rows
    ]


def plan_record(row: Row) -> PlanRecord:
    """Map a plans row joined with its owner's institution."""
    return PlanRecord(
        id=row["id"],
        workshop_id=row["workshop_id"],
        title=row["title"],
        institution=row["institution"],
        sdgs=sdgs(row["sdgs"]),
        created_at=req_dt(row["created_at"]),
    )


def member_of_plan(row: Row) -> tuple[int, PlanMember]:
    """Map a row of MEMBER_SELECT to its plan and member."""
    return row["plan_id"], member(row)


def author(row: Row) -> tuple[int, str | None]:
    """Map an (id, name) row of an update's author."""
    return row["id"], row["name"]


def assemble_plan_data(
    plans: list[PlanRecord],
    steps: list[PlanStep],
    updates: list[StepUpdate],
    evidence: list[Evidence],
    checkins: list[Checkin],
    members: Iterable[tuple[int, PlanMember]],
    authors: Iterable[tuple[int, str | None]],
) -> PlanData:
    """Put together the plan data of some workshops, read model by model."""
    by_plan: dict[int, list[PlanMember]] = {}
    for plan_id, one in members:
        by_plan.setdefault(plan_id, []).append(one)
    return PlanData(
        plans=plans,
        steps=steps,
        updates=updates,
        evidence=evidence,
        checkins=checkins,
        members=by_plan,
        authors=dict(authors),
    )
