-- How a participant attends a hybrid workshop's sessions: 'in_person' or 'online' (NULL: not
-- said), so that a reminder carries only the place or only the meeting link they need.
ALTER TABLE participants ADD COLUMN attendance TEXT
    CHECK (attendance IS NULL OR attendance IN ('in_person', 'online'));
