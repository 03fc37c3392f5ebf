-- Workshops, people, their participation and questionnaire answers.
CREATE TABLE workshops (
    id           INTEGER PRIMARY KEY,
    slug         TEXT NOT NULL UNIQUE,
    join_code    TEXT NOT NULL UNIQUE,
    language     TEXT NOT NULL,
    timezone     TEXT NOT NULL,
    start_date   TEXT NOT NULL,
    end_date     TEXT NOT NULL,
    spec_json    TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL
);

CREATE TABLE users (
    telegram_id         INTEGER PRIMARY KEY,
    language            TEXT,
    active_workshop_id  INTEGER REFERENCES workshops(id) ON DELETE SET NULL,
    created_at          TEXT NOT NULL,
    updated_at          TEXT NOT NULL
);

-- A person in one workshop. telegram_id is NULL once the person asked to be forgotten:
-- their choice answers stay, anonymous, so that aggregates do not change.
CREATE TABLE participants (
    id            INTEGER PRIMARY KEY,
    workshop_id   INTEGER NOT NULL REFERENCES workshops(id),
    telegram_id   INTEGER,
    name          TEXT,
    institution   TEXT,
    position      TEXT,
    country       TEXT,
    consent_at    TEXT NOT NULL,
    profile_done  INTEGER NOT NULL DEFAULT 0,
    joined_at     TEXT NOT NULL,
    forgotten_at  TEXT,
    UNIQUE (workshop_id, telegram_id)
);
CREATE INDEX participants_by_user ON participants(telegram_id);

-- What a person is in the middle of (waiting for typed text, a pending join): survives restarts.
CREATE TABLE dialogs (
    telegram_id  INTEGER PRIMARY KEY,
    state        TEXT NOT NULL,
    data_json    TEXT NOT NULL,
    updated_at   TEXT NOT NULL
);

CREATE TABLE responses (
    id                 INTEGER PRIMARY KEY,
    participant_id     INTEGER NOT NULL REFERENCES participants(id),
    questionnaire_id   TEXT NOT NULL,
    version            INTEGER NOT NULL,
    current_question   TEXT,
    reviewing          INTEGER NOT NULL DEFAULT 0,
    started_at         TEXT NOT NULL,
    updated_at         TEXT NOT NULL,
    submitted_at       TEXT,
    UNIQUE (participant_id, questionnaire_id)
);

CREATE TABLE answers (
    response_id   INTEGER NOT NULL REFERENCES responses(id) ON DELETE CASCADE,
    question_id   TEXT NOT NULL,
    value_json    TEXT NOT NULL,
    is_text       INTEGER NOT NULL DEFAULT 0,
    answered_at   TEXT NOT NULL,
    PRIMARY KEY (response_id, question_id)
);
