"""Erasure: what /forget and the retention purge remove, in SQL every backend runs."""

from __future__ import annotations

import re
from datetime import datetime
from functools import lru_cache
from typing import Any

from storage.portable import Db, Dialect

# `{ids}` stands for a subquery listing the participations being erased (each dialect has
# its own, taking them all as one parameter) and `:name` for a parameter. In this order: a
# plan's owner is decided before its texts go. A participation's choice answers, dimension
# scores, institution, country and plan statuses stay, so that aggregates do not change.
ANONYMIZE_SQL: tuple[str, ...] = (
    # A consent to be contacted ends with the person, whoever keeps the plan.
    "UPDATE plan_members SET contact_at = NULL, contact_handle = NULL"
    " WHERE participant_id IN ({ids})",
    "DELETE FROM update_evidence WHERE update_id IN"
    " (SELECT id FROM step_updates WHERE author_id IN ({ids}))",
    "UPDATE step_updates SET note = NULL WHERE author_id IN ({ids})",
    # Responsibles name people, and a team link is the person's to share: both go from every
    # plan the person owned, whoever it passes to.
    "UPDATE plan_steps SET responsible = NULL"
    " WHERE plan_id IN (SELECT id FROM plans WHERE owner_id IN ({ids}))",
    "UPDATE plans SET team_token = NULL WHERE owner_id IN ({ids})",
    # A plan with a co-owner still here is the team's: it passes, texts and all, to the
    # earliest co-owner, who becomes its owner as create_plan records one (owner_id and an
    # 'owner' membership); the former owner's membership goes with the other ones.
    "UPDATE plans SET owner_id = COALESCE((SELECT m.participant_id FROM plan_members m"
    " JOIN participants p ON p.id = m.participant_id WHERE m.plan_id = plans.id"
    " AND m.role = 'coowner' AND p.forgotten_at IS NULL AND m.participant_id NOT IN ({ids})"
    " ORDER BY m.added_at, m.participant_id LIMIT 1), owner_id) WHERE owner_id IN ({ids})",
    "UPDATE plan_members SET role = 'owner' WHERE role = 'coowner' AND plan_id IN"
    " (SELECT plan_id FROM plan_members WHERE role = 'owner' AND participant_id IN ({ids}))"
    " AND participant_id = (SELECT owner_id FROM plans WHERE plans.id = plan_members.plan_id)",
    "DELETE FROM plan_members WHERE participant_id IN ({ids})"
    " AND participant_id <> (SELECT owner_id FROM plans WHERE plans.id = plan_members.plan_id)",
    # A plan left with nobody loses what was typed in it; its steps keep their places, due
    # dates and statuses, so the institution's progress still counts them. Title and
    # action cannot be NULL: '' is an erased text.
    "UPDATE plans SET title = '', objective = NULL WHERE owner_id IN ({ids})",
    "UPDATE plan_steps SET action = '', responsible = NULL, resources = NULL,"
    " indicator = NULL, success = NULL"
    " WHERE plan_id IN (SELECT id FROM plans WHERE owner_id IN ({ids}))",
    "DELETE FROM answers WHERE is_text AND response_id IN"
    " (SELECT id FROM responses WHERE participant_id IN ({ids}))",
    "UPDATE session_feedback SET comment = NULL WHERE participant_id IN ({ids})",
    # Sent rows too: a row keeps its recipient's Telegram id and what was said to them.
    "DELETE FROM outbox WHERE participant_id IN ({ids})",
    "UPDATE participants SET telegram_id = NULL, name = NULL, position = NULL,"
    " forgotten_at = :now WHERE id IN ({ids})",
)

# What /forget erases beyond the participations, by Telegram id (`:tid`). Roles end; where
# a row must stay (an invitation stays used, a broadcast stays the workshop's), the person
# in it becomes 0, which no Telegram account has.
FORGET_SQL: tuple[str, ...] = (
    "DELETE FROM outbox WHERE chat_id = :tid",
    "DELETE FROM organizers WHERE telegram_id = :tid",
    "DELETE FROM association_viewers WHERE telegram_id = :tid",
    "DELETE FROM digests WHERE telegram_id = :tid",
    "UPDATE association_viewers SET added_by = 0 WHERE added_by = :tid",
    # used_at stays: the invitation must not become usable again.
    "UPDATE organizer_invites SET used_by = 0 WHERE used_by = :tid",
    "UPDATE organizer_invites SET created_by = 0 WHERE created_by = :tid",
    "UPDATE viewer_invites SET used_by = 0 WHERE used_by = :tid",
    "UPDATE viewer_invites SET created_by = 0 WHERE created_by = :tid",
    "UPDATE broadcasts SET created_by = 0 WHERE created_by = :tid",
    "UPDATE broadcasts SET progress_chat_id = NULL, progress_message_id = NULL"
    " WHERE progress_chat_id = :tid",
    # A private chat linked as the organizers' group is the person's chat.
    "UPDATE workshops SET organizer_chat_id = NULL WHERE organizer_chat_id = :tid",
    "DELETE FROM dialogs WHERE telegram_id = :tid",
    "DELETE FROM users WHERE telegram_id = :tid",
    # Updates received and not handled yet (several instances): their names and texts.
    "DELETE FROM inbox WHERE person = :tid",
)


_NAME = re.compile(r"(?<![:\w]):([a-z_]\w*)")


def positional(sql: str) -> tuple[str, tuple[str, ...]]:
    """Write `:name` parameters as `?`; return the statement and the names in order."""
    # Not after a colon or a word character: a `::type` cast is no parameter.
    return _NAME.sub("?", sql), tuple(_NAME.findall(sql))


@lru_cache(maxsize=4)
def _anonymize_sql(id_list: str) -> tuple[tuple[str, tuple[str, ...]], ...]:
    ids = id_list.replace("?", ":ids")
    return tuple(positional(sql.format(ids=ids)) for sql in ANONYMIZE_SQL)


_FORGET = tuple(positional(sql) for sql in FORGET_SQL)


async def anonymize(db: Db, dialect: Dialect, ids: list[int], now: datetime) -> None:
    """Strip what identifies these participants, keeping what aggregates count."""
    if not ids:
        return
    values: dict[str, Any] = {"ids": dialect.id_values(ids), "now": now}
    for sql, names in _anonymize_sql(dialect.id_list):
        await db.execute(sql, *(values[name] for name in names))


async def forget(db: Db, dialect: Dialect, telegram_id: int, now: datetime) -> int:
    """Erase a person's participations and what else names them; return how many."""
    rows = await db.fetch("SELECT id FROM participants WHERE telegram_id = ?", telegram_id)
    ids = [int(r["id"]) for r in rows]
    await anonymize(db, dialect, ids, now)
    for sql, names in _FORGET:
        await db.execute(sql, *(telegram_id for _ in names))
    return len(ids)
