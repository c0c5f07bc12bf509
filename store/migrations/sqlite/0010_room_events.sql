-- The rooms' event log, through which replicas on one database carry each other's live
-- events (PostgreSQL: NOTIFY says an event exists, its payload only the room and sequence
-- number; each replica reads the event here). room_event_seqs holds each room's last
-- sequence number; room_events the recent events, pruned to the last thousand or so per room.
-- A single server on SQLite keeps its events in process and leaves both tables empty.
CREATE TABLE room_event_seqs (
    room TEXT   PRIMARY KEY,
    seq  BIGINT NOT NULL
);

CREATE TABLE room_events (
    room       TEXT   NOT NULL,
    seq        BIGINT NOT NULL,
    type       TEXT   NOT NULL,
    data       TEXT   NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (room, seq)
);
