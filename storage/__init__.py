"""All SQL lives here, behind the Store interface."""

from storage.interface import StorageError, Store
from storage.models import (
    PLAN_FIELDS,
    STEP_FIELDS,
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
    "Attendance",
    "Broadcast",
    "BroadcastStatus",
    "Checkin",
    "Dialog",
    "DialogState",
    "Evidence",
    "InboxRow",
    "InviteStatus",
    "Organizer",
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
    "is_postgres_url",
    "open_store",
]


# PostgreSQL connections per bot process; see DATABASE_POOL_SIZE in bot/settings.py.
DEFAULT_POOL_SIZE = 10
POSTGRES_SCHEMES = ("postgresql://", "postgres://")


def is_postgres_url(database_url: str) -> bool:
    """Tell whether a DATABASE_URL names a PostgreSQL server."""
    return database_url.startswith(POSTGRES_SCHEMES)


async def open_store(database_url: str, *, pool_size: int = DEFAULT_POOL_SIZE) -> Store:
    """Open the backend named by `database_url`, migrated and ready."""
    if database_url.startswith("sqlite:///"):
        from storage.sqlite import SqliteStore

        return await SqliteStore.open(database_url)
    if is_postgres_url(database_url):
        # Imported here: a SQLite deployment never loads the PostgreSQL driver.
        from storage.postgres import PostgresStore

        return await PostgresStore.open(database_url, pool_size=pool_size)
    raise StorageError(f"unsupported DATABASE_URL scheme: {database_url.split(':', 1)[0]}")
