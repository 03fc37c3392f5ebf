-- Organizers get a name (shown to administrators in /organizers) and invitations can be
-- cancelled; they expire a fixed time after created_at (checked by the code, not stored).
ALTER TABLE organizers ADD COLUMN name TEXT;
ALTER TABLE organizer_invites ADD COLUMN revoked_at TEXT;
