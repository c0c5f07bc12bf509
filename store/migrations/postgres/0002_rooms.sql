-- Rooms: team annotation sessions, their images, labels, members and objects (issue 5).
-- Times are Unix microseconds (UTC), NULL for "not yet". JSON is kept as TEXT, opaque to SQL.
-- Nothing here is SQLite-only: this is the same text as store/migrations/sqlite/0002.

CREATE TABLE rooms (
    id           TEXT   PRIMARY KEY,
    name         TEXT   NOT NULL,
    creator_id   TEXT   NOT NULL,
    creator_name TEXT   NOT NULL,
    created_at   BIGINT NOT NULL,
    closed_at    BIGINT
);

-- The images are fixed at creation; only the done marks change.
CREATE TABLE room_images (
    room_id   TEXT    NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    file_id   BIGINT  NOT NULL,
    name      TEXT    NOT NULL,
    directory TEXT    NOT NULL,
    position  INTEGER NOT NULL,
    done_by   TEXT    NOT NULL DEFAULT '',
    done_at   BIGINT,
    PRIMARY KEY (room_id, file_id),
    UNIQUE (room_id, position)
);

CREATE TABLE room_labels (
    room_id  TEXT    NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    name     TEXT    NOT NULL,
    color    TEXT    NOT NULL,
    hotkey   INTEGER NOT NULL, -- Label.Key; "key" is a keyword in both dialects
    PRIMARY KEY (room_id, position),
    UNIQUE (room_id, hotkey),
    UNIQUE (room_id, name)
);

-- A removed member keeps the row (removed_at set) so that the share link cannot readmit them.
CREATE TABLE room_members (
    room_id    TEXT   NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    user_id    TEXT   NOT NULL,
    name       TEXT   NOT NULL,
    role       TEXT   NOT NULL,
    joined_at  BIGINT NOT NULL,
    removed_at BIGINT,
    PRIMARY KEY (room_id, user_id)
);

-- RoomsOf: the rooms of one user.
CREATE INDEX room_members_user_id ON room_members (user_id);

-- The primary key serves Objects (room, file) and RoomObjects (room). Objects can only be on
-- the room's own images.
CREATE TABLE room_objects (
    room_id      TEXT    NOT NULL,
    file_id      BIGINT  NOT NULL,
    object_id    TEXT    NOT NULL,
    author_id    TEXT    NOT NULL,
    author_name  TEXT    NOT NULL,
    label        TEXT    NOT NULL,
    prompt       TEXT    NOT NULL,
    version      INTEGER NOT NULL,
    job_id       BIGINT  NOT NULL DEFAULT 0,
    status       TEXT    NOT NULL DEFAULT '',
    error        TEXT    NOT NULL DEFAULT '',
    segments     TEXT,
    bounding_box TEXT,
    accepted     BOOLEAN NOT NULL DEFAULT FALSE,
    created_at   BIGINT  NOT NULL,
    updated_at   BIGINT  NOT NULL,
    deleted_at   BIGINT,
    PRIMARY KEY (room_id, file_id, object_id),
    FOREIGN KEY (room_id, file_id) REFERENCES room_images (room_id, file_id) ON DELETE CASCADE
);

-- PendingJobs after a restart: the few queued or running objects among many done ones.
CREATE INDEX room_objects_status ON room_objects (status);
