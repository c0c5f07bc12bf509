-- Login sessions and in-flight sign-ins.
-- Times are Unix microseconds (UTC) so that the same values fit PostgreSQL's timestamptz precision.
-- PostgreSQL's text of store/migrations/sqlite/0001: BYTEA for SQLite's BLOB.

CREATE TABLE sessions (
    id           TEXT    PRIMARY KEY,
    subject      TEXT    NOT NULL,
    name         TEXT    NOT NULL,
    email        TEXT    NOT NULL,
    mode         TEXT    NOT NULL,
    tokens       BYTEA,
    token_expiry BIGINT,
    capabilities TEXT,
    created_at   BIGINT  NOT NULL,
    last_seen_at BIGINT  NOT NULL,
    expires_at   BIGINT  NOT NULL
);

CREATE INDEX sessions_expires_at ON sessions (expires_at);
CREATE INDEX sessions_subject ON sessions (subject);

CREATE TABLE pending_logins (
    state      TEXT   PRIMARY KEY,
    nonce      TEXT   NOT NULL,
    verifier   TEXT   NOT NULL,
    return_to  TEXT   NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);

CREATE INDEX pending_logins_expires_at ON pending_logins (expires_at);
