-- What several replicas must agree on about who is in a room (Rooms.OpenConn and the rest):
-- room_conns holds every open room connection, on any replica, until its heartbeat lapses
-- (expires_at, Unix microseconds); room_reservations the images "next image" handed out, one
-- per member, until they expire; room_locks the last prompter of each object (its soft lock).
CREATE TABLE room_conns (
    conn_id    TEXT   PRIMARY KEY,
    room_id    TEXT   NOT NULL,
    user_id    TEXT   NOT NULL,
    user_name  TEXT   NOT NULL,
    file_id    BIGINT,
    opened_at  BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX room_conns_room ON room_conns (room_id, expires_at);

CREATE TABLE room_reservations (
    room_id TEXT   NOT NULL,
    file_id BIGINT NOT NULL,
    user_id TEXT   NOT NULL,
    until   BIGINT NOT NULL,
    PRIMARY KEY (room_id, file_id)
);

CREATE TABLE room_locks (
    room_id   TEXT   NOT NULL,
    file_id   BIGINT NOT NULL,
    object_id TEXT   NOT NULL,
    user_id   TEXT   NOT NULL,
    user_name TEXT   NOT NULL,
    at        BIGINT NOT NULL,
    PRIMARY KEY (room_id, file_id, object_id)
);
