"""What re-importing a workshop changes in its schedule, decided alike for every backend."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from storage.models import ScheduledItem, ScheduledRow, SyncResult


@dataclass(frozen=True)
class ScheduleDiff:
    """The rows to delete, the items to insert and the rows to rewrite (with their status)."""

    removed: list[ScheduledRow]
    added: list[ScheduledItem]
    changed: list[tuple[ScheduledRow, ScheduledItem, str]]

    def result(self) -> SyncResult:
        """Return the keys touched, as sync_schedule reports them."""
        return SyncResult(
            [item.key for item in self.added],
            [item.key for _, item, _ in self.changed],
            [row.key for row in self.removed],
        )


def diff_schedule(
    existing: Iterable[ScheduledRow], items: list[ScheduledItem], now: datetime
) -> ScheduleDiff:
    """Compare a workshop's stored schedule with the wanted one."""
    stored = {row.key: row for row in existing}
    wanted = {item.key: item for item in items}
    # Only what has not happened yet goes; a sent occasion stays on record.
    removed = [row for key, row in stored.items() if key not in wanted and row.status == "pending"]
    added: list[ScheduledItem] = []
    changed: list[tuple[ScheduledRow, ScheduledItem, str]] = []
    for key, item in wanted.items():
        old = stored.get(key)
        if old is None:
            added.append(item)
            continue
        same = (
            old.due_at == item.due_at
            and old.expires_at == item.expires_at
            and old.payload == item.payload
        )
        if same:
            continue
        # A moved occasion that has not happened yet is due again, even if the old
        # one was already sent; one in the past stays as it was.
        status = old.status
        if item.due_at > now and old.due_at != item.due_at and not _moved_out_of_night(old, item):
            status = "pending"
        changed.append((old, item, status))
    return ScheduleDiff(removed, added, changed)


def _moved_out_of_night(old: ScheduledRow, item: ScheduledItem) -> bool:
    """Tell whether the item is the old occasion, only moved out of the quiet hours."""
    night = item.payload.get("night")
    return isinstance(night, str) and datetime.fromisoformat(night) == old.due_at


def payload_json(item: ScheduledItem) -> str:
    """Return an item's payload as the JSON text the schedule keeps."""
    return json.dumps(item.payload, ensure_ascii=False, sort_keys=True)
