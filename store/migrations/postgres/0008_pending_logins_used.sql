-- Sign-ins in flight no longer get a row: auth seals their state, nonce, PKCE verifier and
-- return-to path into a short-lived cookie of the browser that started them, so a flood of
-- /auth/login writes nothing. What the server keeps is which sign-ins have been used (key: a
-- digest of the state), each until it would have expired, so that a finished callback cannot
-- be replayed; auth caps the number of rows.
DROP TABLE IF EXISTS pending_logins;

CREATE TABLE pending_logins_used (
    key        TEXT   PRIMARY KEY,
    expires_at BIGINT NOT NULL
);

CREATE INDEX pending_logins_used_expires_at ON pending_logins_used (expires_at, key);
