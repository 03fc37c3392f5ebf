-- Action plans (road maps), their check-ins, and the associations that follow them up.
CREATE TABLE associations (
    id          INTEGER PRIMARY KEY,
    slug        TEXT NOT NULL UNIQUE,
    name        TEXT NOT NULL,
    created_at  TEXT NOT NULL
);
ALTER TABLE workshops ADD COLUMN association_id INTEGER REFERENCES associations(id);
-- When the retention job removed the personal data of the workshop's participants.
ALTER TABLE workshops ADD COLUMN purged_at TEXT;

CREATE TABLE association_viewers (
    association_id  INTEGER NOT NULL REFERENCES associations(id),
    telegram_id     INTEGER NOT NULL,
    added_by        INTEGER NOT NULL,
    added_at        TEXT NOT NULL,
    digest          INTEGER NOT NULL DEFAULT 1,
    name            TEXT,
    PRIMARY KEY (association_id, telegram_id)
);
CREATE INDEX viewers_by_user ON association_viewers(telegram_id);

CREATE TABLE viewer_invites (
    token           TEXT PRIMARY KEY,
    association_id  INTEGER NOT NULL REFERENCES associations(id),
    created_by      INTEGER NOT NULL,
    created_at      TEXT NOT NULL,
    used_by         INTEGER,
    used_at         TEXT
);

CREATE TABLE plans (
    id           INTEGER PRIMARY KEY,
    workshop_id  INTEGER NOT NULL REFERENCES workshops(id),
    owner_id     INTEGER NOT NULL REFERENCES participants(id),
    title        TEXT NOT NULL,
    objective    TEXT,
    sdgs         TEXT NOT NULL DEFAULT '',
    team_token   TEXT UNIQUE,
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL
);
CREATE INDEX plans_by_workshop ON plans(workshop_id);

CREATE TABLE plan_members (
    plan_id         INTEGER NOT NULL REFERENCES plans(id),
    participant_id  INTEGER NOT NULL REFERENCES participants(id),
    role            TEXT NOT NULL,
    added_at        TEXT NOT NULL,
    PRIMARY KEY (plan_id, participant_id)
);
CREATE INDEX members_by_participant ON plan_members(participant_id);

-- A removed step keeps its row (removed_at) so that its history stays readable.
CREATE TABLE plan_steps (
    id           INTEGER PRIMARY KEY,
    plan_id      INTEGER NOT NULL REFERENCES plans(id),
    position     INTEGER NOT NULL,
    action       TEXT NOT NULL,
    responsible  TEXT,
    resources    TEXT,
    indicator    TEXT,
    due_date     TEXT,
    success      TEXT,
    created_at   TEXT NOT NULL,
    removed_at   TEXT
);
CREATE INDEX steps_by_plan ON plan_steps(plan_id, position);

-- One row per plan and occasion ("m3", "due:<step>:<date>"): a check-in is asked once.
CREATE TABLE plan_checkins (
    id           INTEGER PRIMARY KEY,
    plan_id      INTEGER NOT NULL REFERENCES plans(id),
    occasion     TEXT NOT NULL,
    kind         TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    answered_at  TEXT,
    nudged_at    TEXT,
    UNIQUE (plan_id, occasion)
);
CREATE INDEX checkins_open ON plan_checkins(answered_at, nudged_at);

-- Updates are only ever added: the history of a step is the list of its updates.
CREATE TABLE step_updates (
    id          INTEGER PRIMARY KEY,
    step_id     INTEGER NOT NULL REFERENCES plan_steps(id),
    author_id   INTEGER NOT NULL REFERENCES participants(id),
    status      TEXT NOT NULL,
    note        TEXT,
    checkin_id  INTEGER REFERENCES plan_checkins(id),
    created_at  TEXT NOT NULL
);
CREATE INDEX updates_by_step ON step_updates(step_id, id);

CREATE TABLE update_evidence (
    id          INTEGER PRIMARY KEY,
    update_id   INTEGER NOT NULL REFERENCES step_updates(id),
    kind        TEXT NOT NULL,
    file_id     TEXT,
    url         TEXT,
    file_name   TEXT,
    file_size   INTEGER,
    created_at  TEXT NOT NULL
);
CREATE INDEX evidence_by_update ON update_evidence(update_id);

-- Each submitted response's score per dimension, kept so that the group's means are one
-- small query, not a read of every answer of the workshop at every submission.
CREATE TABLE dimension_scores (
    response_id  INTEGER NOT NULL REFERENCES responses(id),
    section_id   TEXT NOT NULL,
    score        REAL,
    PRIMARY KEY (response_id, section_id)
);

CREATE TABLE digests (
    association_id  INTEGER NOT NULL REFERENCES associations(id),
    telegram_id     INTEGER NOT NULL,
    period          TEXT NOT NULL,
    figures_json    TEXT NOT NULL,
    sent_at         TEXT NOT NULL,
    PRIMARY KEY (association_id, telegram_id, period)
);
