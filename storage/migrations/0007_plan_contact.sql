-- Contact consent, per plan member: with it, those who follow the plans up (organizers and
-- the association) see the member's name and can reach them on Telegram. NULL: not given.
-- The handle is the Telegram username the person had when consenting (they may have none).
ALTER TABLE plan_members ADD COLUMN contact_at TEXT;
ALTER TABLE plan_members ADD COLUMN contact_handle TEXT;
