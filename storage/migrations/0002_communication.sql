-- Organizers, reminders, broadcasts and the outbox that delivers them.
ALTER TABLE workshops ADD COLUMN organizer_chat_id INTEGER;
ALTER TABLE participants ADD COLUMN reminders_muted INTEGER NOT NULL DEFAULT 0;
ALTER TABLE participants ADD COLUMN unreachable_at TEXT;
ALTER TABLE users ADD COLUMN timezone TEXT;

CREATE TABLE organizers (
    workshop_id  INTEGER NOT NULL REFERENCES workshops(id),
    telegram_id  INTEGER NOT NULL,
    added_at     TEXT NOT NULL,
    PRIMARY KEY (workshop_id, telegram_id)
);
CREATE INDEX organizers_by_user ON organizers(telegram_id);

CREATE TABLE organizer_invites (
    token        TEXT PRIMARY KEY,
    workshop_id  INTEGER NOT NULL REFERENCES workshops(id),
    created_by   INTEGER NOT NULL,
    created_at   TEXT NOT NULL,
    used_by      INTEGER,
    used_at      TEXT
);

-- Every automatic message a workshop will send, one row per occasion; survives restarts.
CREATE TABLE scheduled (
    id            INTEGER PRIMARY KEY,
    workshop_id   INTEGER NOT NULL REFERENCES workshops(id),
    key           TEXT NOT NULL,
    kind          TEXT NOT NULL,
    due_at        TEXT NOT NULL,
    expires_at    TEXT,
    payload_json  TEXT NOT NULL DEFAULT '{}',
    status        TEXT NOT NULL DEFAULT 'pending',
    done_at       TEXT,
    UNIQUE (workshop_id, key)
);
CREATE INDEX scheduled_due ON scheduled(status, due_at);

CREATE TABLE broadcasts (
    id                   INTEGER PRIMARY KEY,
    workshop_id          INTEGER NOT NULL REFERENCES workshops(id),
    created_by           INTEGER NOT NULL,
    audience             TEXT NOT NULL,
    audience_arg         TEXT,
    text                 TEXT,
    media_kind           TEXT,
    media_file_id        TEXT,
    status               TEXT NOT NULL,
    scheduled_at         TEXT,
    created_at           TEXT NOT NULL,
    started_at           TEXT,
    finished_at          TEXT,
    progress_chat_id     INTEGER,
    progress_message_id  INTEGER
);

-- One row per recipient of a message: what is sent is marked, so nothing goes twice.
CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY,
    source          TEXT NOT NULL,
    chat_id         INTEGER NOT NULL,
    participant_id  INTEGER,
    text            TEXT NOT NULL,
    buttons_json    TEXT,
    media_kind      TEXT,
    media_file_id   TEXT,
    status          TEXT NOT NULL DEFAULT 'pending',
    attempts        INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT,
    created_at      TEXT NOT NULL,
    sent_at         TEXT,
    UNIQUE (source, chat_id)
);
CREATE INDEX outbox_pending ON outbox(status, id);
