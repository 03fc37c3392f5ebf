-- Several bot instances on one database (webhook mode).
-- A running instance says it is alive until `alive_until`, renewing it every few seconds;
-- what a dead instance held (a lease, claimed updates or messages) is taken over after it.
CREATE TABLE instances (
    name            TEXT PRIMARY KEY,
    started_at      TIMESTAMPTZ NOT NULL,
    alive_until     TIMESTAMPTZ NOT NULL
);
-- A duty only one instance carries out at a time (sending, the schedule): its holder.
CREATE TABLE leases (
    name            TEXT PRIMARY KEY,
    holder          TEXT NOT NULL,
    taken_at        TIMESTAMPTZ NOT NULL
);
-- Updates received by webhook, kept until handled: any instance handles each person's
-- oldest one, so a person's updates are handled in order wherever they arrived, and an
-- update whose instance died is handled by another.
CREATE TABLE inbox (
    update_id       BIGINT PRIMARY KEY,
    person          BIGINT NOT NULL,
    body            JSONB NOT NULL,
    received_at     TIMESTAMPTZ NOT NULL,
    claimant      TEXT
);
CREATE INDEX inbox_person ON inbox(person, update_id);
-- The instance sending a queued message: no other one sends it while it is alive.
ALTER TABLE outbox ADD COLUMN claimant TEXT;
