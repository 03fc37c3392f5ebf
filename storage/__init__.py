"""All SQL lives here, behind the Store interface."""

from storage.interface import StorageError, Store
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

__all__ = [
    "AnswerSet",
    "AnswerValue",
    "Broadcast",
    "BroadcastStatus",
    "Dialog",
    "DialogState",
    "OutMessage",
    "OutboxRow",
    "Participant",
    "Recipient",
    "Response",
    "ScheduledItem",
    "ScheduledRow",
    "SessionRating",
    "StorageError",
    "Store",
    "SyncResult",
    "User",
    "Workshop",
    "open_store",
]


async def open_store(database_url: str) -> Store:
    """Open the backend named by `database_url`, migrated and ready."""
    if database_url.startswith("sqlite:///"):
        from storage.sqlite import SqliteStore

        return await SqliteStore.open(database_url)
    raise StorageError(f"unsupported DATABASE_URL scheme: {database_url.split(':', 1)[0]}")
