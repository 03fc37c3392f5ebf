-- The one message in which a questionnaire is answered (edited in place from statement to
-- statement), so that a resume can retire it and bring the questionnaire to the bottom.
ALTER TABLE responses ADD COLUMN live_message_id BIGINT;
