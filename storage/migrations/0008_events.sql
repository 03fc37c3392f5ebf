-- Programmes: a workshop may hold several events (ids such as "tot_online", from its spec).

-- A participant's enrolment in one event of their workshop, so each event knows its people.
CREATE TABLE event_members (
    participant_id  INTEGER NOT NULL REFERENCES participants(id),
    event_id        TEXT NOT NULL,
    joined_at       TEXT NOT NULL,
    PRIMARY KEY (participant_id, event_id)
);

-- An event's own join link code, so that a link can enrol people in that event directly.
CREATE TABLE event_codes (
    join_code    TEXT PRIMARY KEY,
    workshop_id  INTEGER NOT NULL REFERENCES workshops(id),
    event_id     TEXT NOT NULL,
    UNIQUE (workshop_id, event_id)
);
