-- The login session whose token started an object's job, so that a restarted server can
-- follow the job (PendingJobs) with the rights of the user who prompted.
ALTER TABLE room_objects ADD COLUMN session_id TEXT NOT NULL DEFAULT '';
