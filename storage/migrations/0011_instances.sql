-- Several bot instances on one database (webhook mode on PostgreSQL; the tables exist on
-- every backend so that one contract covers both).
-- A running instance says it is alive until `alive_until`, renewing it every few seconds;
-- what a dead instance held (a lease, claimed updates or messages) is taken over after it.
CREATE TABLE instances (
    name            TEXT PRIMARY KEY,
    started_at      TEXT NOT NULL,
    alive_until     TEXT NOT NULL
);
-- A duty only one instance carries out at a time (sending, the schedule): its holder.
CREATE TABLE leases (
    name            TEXT PRIMARY KEY,
    holder          TEXT NOT NULL,
    taken_at        TEXT NOT NULL
);
-- Updates received by webhook, kept until handled: any instance handles each person's
-- oldest one, so a person's updates are handled in order wherever they arrived, and an
-- update whose instance died is handled by another.
CREATE TABLE inbox (
    update_id       INTEGER PRIMARY KEY,
    person          INTEGER NOT NULL,
    body            TEXT NOT NULL,
    received_at     TEXT NOT NULL,
    claimant      TEXT
);
CREATE INDEX inbox_person ON inbox(person, update_id);
-- The instance sending a queued message: no other one sends it while it is alive.
ALTER TABLE outbox ADD COLUMN claimant TEXT;
