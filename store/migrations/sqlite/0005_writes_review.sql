-- Issue 6: the outbox carries every kind of annotation write, not only creates, and also the
-- writes of images opened outside a room; objects keep their review and where they were
-- segmented; members can be reviewers.
--
-- room_writes becomes writes: op says what the write does ("create" the object version's
-- annotations, "review" them: set their status, "delete" them), seq tells apart repeated ops
-- of one version (a second review), room_id is '' for an image opened outside a room (so the
-- foreign key to room_images goes), and user_id is who asked, to tell them how it went.
CREATE TABLE writes (
    id             INTEGER PRIMARY KEY,
    room_id        TEXT    NOT NULL,
    file_id        BIGINT  NOT NULL,
    object_id      TEXT    NOT NULL,
    version        INTEGER NOT NULL,
    op             TEXT    NOT NULL,
    seq            INTEGER NOT NULL,
    user_id        TEXT    NOT NULL,
    session_id     TEXT    NOT NULL,
    payload        TEXT    NOT NULL,
    state          TEXT    NOT NULL,
    attempts       INTEGER NOT NULL DEFAULT 0,
    ambiguous      BOOLEAN NOT NULL DEFAULT FALSE,
    next_at        BIGINT  NOT NULL,
    last_error     TEXT    NOT NULL DEFAULT '',
    annotation_ids TEXT,
    created_at     BIGINT  NOT NULL,
    updated_at     BIGINT  NOT NULL
);

INSERT INTO writes (id, room_id, file_id, object_id, version, op, seq, user_id, session_id, payload, state,
                    attempts, ambiguous, next_at, last_error, annotation_ids, created_at, updated_at)
SELECT id, room_id, file_id, object_id, version, 'create', 0, '', session_id, payload, state,
       attempts, ambiguous, next_at, last_error, annotation_ids, created_at, updated_at
FROM room_writes;

DROP TABLE room_writes;

-- Enqueue's idempotency: one write per op and sequence of an object version.
CREATE UNIQUE INDEX writes_key ON writes (room_id, file_id, object_id, version, op, seq);
-- Due: the few pending rows whose time has come among many done ones.
CREATE INDEX writes_due ON writes (state, next_at);

-- An object's review applies to its current prompt version; a newer prompt clears it.
ALTER TABLE room_objects ADD COLUMN review TEXT NOT NULL DEFAULT '';
ALTER TABLE room_objects ADD COLUMN reviewer_id TEXT NOT NULL DEFAULT '';
ALTER TABLE room_objects ADD COLUMN reviewer_name TEXT NOT NULL DEFAULT '';
ALTER TABLE room_objects ADD COLUMN reviewed_at BIGINT;
-- Which segmentation backend answered the prompt (provenance).
ALTER TABLE room_objects ADD COLUMN backend TEXT NOT NULL DEFAULT '';
