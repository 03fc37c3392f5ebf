-- The evaluation opened by hand, and participants' ratings of each agenda session.
ALTER TABLE workshops ADD COLUMN evaluation_opened_at TEXT;

CREATE TABLE session_feedback (
    participant_id  INTEGER NOT NULL REFERENCES participants(id),
    workshop_id     INTEGER NOT NULL REFERENCES workshops(id),
    session_id      TEXT NOT NULL,
    rating          INTEGER NOT NULL,
    comment         TEXT,
    rated_at        TEXT NOT NULL,
    PRIMARY KEY (participant_id, session_id)
);
CREATE INDEX session_feedback_by_workshop ON session_feedback(workshop_id, session_id);
