-- Several replicas share the login sessions: the one that refreshes a session's tokens holds
-- a short lease on it (Sessions.LeaseRefresh), so that a refresh token is used once even
-- where the identity provider rotates it; the others wait for the new tokens.
ALTER TABLE sessions ADD COLUMN refresh_owner TEXT NOT NULL DEFAULT '';
ALTER TABLE sessions ADD COLUMN refresh_until BIGINT;
