-- Several replicas share the rooms: the replica that follows an object's job holds a lease on
-- it (Rooms.LeaseJobs) until lease_until (Unix microseconds); when that replica dies, another
-- claims the job once the lease has run out (Rooms.ClaimJobs) and follows it to the end.
ALTER TABLE room_objects ADD COLUMN lease_owner TEXT NOT NULL DEFAULT '';
ALTER TABLE room_objects ADD COLUMN lease_until BIGINT;
