-- A message not to be sent before this time: an automatic one that would reach its
-- recipient at night in their own time zone waits for their morning. NULL: send now.
ALTER TABLE outbox ADD COLUMN not_before TIMESTAMPTZ;
