-- Several replicas share one outbox: a replica claims the due writes it is about to make
-- (Outbox.Claim) by holding a lease on them until lease_until (Unix microseconds); a replica
-- that dies stops renewing, and once the lease has run out another one claims the write.
ALTER TABLE writes ADD COLUMN lease_owner TEXT NOT NULL DEFAULT '';
ALTER TABLE writes ADD COLUMN lease_until BIGINT;
