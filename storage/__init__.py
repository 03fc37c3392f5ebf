"""All SQL lives here, behind the Store interface."""

from storage.interface import StorageError, Store
from storage.models import (
    PLAN_FIELDS,
    STEP_FIELDS,
    AnswerSet,
    AnswerValue,
    Association,
    Broadcast,
    BroadcastStatus,
    Checkin,
    Dialog,
    DialogState,
    Evidence,
    OutboxRow,
    OutMessage,
    OverdueStep,
    Participant,
    Plan,
    PlanData,
    PlanMember,
    PlanRecord,
    PlanStep,
    Recipient,
    Response,
    RunState,
    ScheduledItem,
    ScheduledRow,
    SessionRating,
    StepStatus,
    StepUpdate,
    SyncResult,
    User,
    Viewer,
    Workshop,
)

__all__ = [
    "PLAN_FIELDS",
    "STEP_FIELDS",
    "AnswerSet",
    "AnswerValue",
    "Association",
    "Broadcast",
    "BroadcastStatus",
    "Checkin",
    "Dialog",
    "DialogState",
    "Evidence",
    "OutMessage",
    "OutboxRow",
    "OverdueStep",
    "Participant",
    "Plan",
    "PlanData",
    "PlanMember",
    "PlanRecord",
    "PlanStep",
    "Recipient",
    "Response",
    "RunState",
    "ScheduledItem",
    "ScheduledRow",
    "SessionRating",
    "StepStatus",
    "StepUpdate",
    "StorageError",
    "Store",
    "SyncResult",
    "User",
    "Viewer",
    "Workshop",
    "open_store",
]


async def open_store(database_url: str) -> Store:
    """Open the backend named by `database_url`, migrated and ready."""
    if database_url.startswith("sqlite:///"):
        from storage.sqlite import SqliteStore

        return await SqliteStore.open(database_url)
    raise StorageError(f"unsupported DATABASE_URL scheme: {database_url.split(':', 1)[0]}")
