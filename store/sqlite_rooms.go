package store

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// sqlRooms implements Rooms. Every read-modify-write runs in one transaction, which
// OpenSQLite's _txlock=immediate makes a write-locked one: concurrent writers queue on the
// busy timeout instead of interleaving. The single statements that decide races (the
// PutPrompt upsert, the version-guarded SetJob update) are atomic on their own too, so the
// same SQL is correct under PostgreSQL's READ COMMITTED.
//
// pg says the database is PostgreSQL (see sqlOutbox).
type sqlRooms struct {
	db querier
	pg bool
}

// querier is what *sql.DB and *sql.Tx have in common.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// inTx runs fn in a transaction and commits it when fn returns nil. When PostgreSQL refuses
// the transaction for a concurrent one (see Postgres), it runs fn again, up to maxTxAttempts
// times in all; fn must therefore do nothing outside the transaction that a second run would
// repeat wrongly. On a *sql.Tx (a store bound to one by Atomically) fn joins it: the
// outermost transaction commits, and retries, the whole.
func inTx(ctx context.Context, q querier, fn func(tx *sql.Tx) error) error {
	if tx, ok := q.(*sql.Tx); ok {
		return fn(tx)
	}
	db := q.(*sql.DB)
	for attempt := 1; ; attempt++ {
		err := inTxOnce(ctx, db, fn)
		if err == nil || !retryable(err) || attempt == maxTxAttempts {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(txPause(attempt)):
		}
	}
}

// atomically runs fn with Rooms and an Outbox bound to one transaction on q (see
// Rooms.Atomically).
func atomically(ctx context.Context, q querier, pg bool, fn func(Rooms, Outbox) error) error {
	return inTx(ctx, q, func(tx *sql.Tx) error {
		return fn(sqlRooms{db: tx, pg: pg}, sqlOutbox{db: tx, pg: pg})
	})
}

func (q sqlRooms) Atomically(ctx context.Context, fn func(Rooms, Outbox) error) error {
	return atomically(ctx, q.db, q.pg, fn)
}

func inTxOnce(ctx context.Context, db *sql.DB, fn func(tx *sql.Tx) error) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit()
}

// toMicrosPtr is toMicros for optional times.
func toMicrosPtr(t *time.Time) any {
	if t == nil {
		return nil
	}
	return toMicros(*t)
}

// fromMicrosPtr is the inverse of toMicrosPtr.
func fromMicrosPtr(v sql.NullInt64) *time.Time {
	if !v.Valid {
		return nil
	}
	t := fromMicros(v)
	return &t
}

func (q sqlRooms) CreateRoom(ctx context.Context, r *Room, creator Member) error {
	if err := prepareRoom(r, &creator); err != nil {
		return fmt.Errorf("store: create room: %w", err)
	}
	err := inTx(ctx, q.db, func(tx *sql.Tx) error {
		// ON CONFLICT DO NOTHING reports a taken id as zero rows in both dialects.
		res, err := tx.ExecContext(ctx, `INSERT INTO rooms (id, name, creator_id, creator_name, created_at, closed_at)
			VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
			r.ID, r.Name, r.CreatorID, r.CreatorName, toMicros(r.CreatedAt), toMicrosPtr(r.ClosedAt))
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return ErrConflict
		}
		if len(r.Images) > 0 {
			ins, err := tx.PrepareContext(ctx, `INSERT INTO room_images
				(room_id, file_id, name, directory, position, done_by, done_at) VALUES (?, ?, ?, ?, ?, ?, ?)`)
			if err != nil {
				return err
			}
			defer ins.Close()
			for _, im := range r.Images {
				if _, err := ins.ExecContext(ctx, r.ID, im.FileID, im.Name, im.Directory, im.Position,
					im.DoneBy, toMicrosPtr(im.DoneAt)); err != nil {
					return err
				}
			}
		}
		for i, l := range r.Labels {
			if _, err := tx.ExecContext(ctx, `INSERT INTO room_labels (room_id, position, name, color, hotkey)
				VALUES (?, ?, ?, ?, ?)`, r.ID, i, l.Name, l.Color, l.Key); err != nil {
				return err
			}
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO room_members (room_id, user_id, name, role, joined_at, removed_at)
			VALUES (?, ?, ?, ?, ?, NULL)`, r.ID, creator.UserID, creator.Name, creator.Role, toMicros(creator.JoinedAt))
		return err
	})
	if err != nil {
		return fmt.Errorf("store: create room: %w", err)
	}
	return nil
}

const roomColumns = `id, name, creator_id, creator_name, created_at, closed_at`

func scanRoom(row interface{ Scan(...any) error }) (Room, error) {
	var (
		r       Room
		created sql.NullInt64
		closed  sql.NullInt64
	)
	err := row.Scan(&r.ID, &r.Name, &r.CreatorID, &r.CreatorName, &created, &closed)
	r.CreatedAt, r.ClosedAt = fromMicros(created), fromMicrosPtr(closed)
	return r, err
}

// loadDetails fills in the room's images and labels. It needs no transaction: both are
// fixed at creation, and the done marks are read in one statement.
func loadDetails(ctx context.Context, q querier, r *Room) error {
	rows, err := q.QueryContext(ctx, `SELECT file_id, name, directory, position, done_by, done_at
		FROM room_images WHERE room_id = ? ORDER BY position`, r.ID)
	if err != nil {
		return err
	}
	defer rows.Close()
	r.Images = []RoomImage{}
	for rows.Next() {
		var (
			im     RoomImage
			doneAt sql.NullInt64
		)
		if err := rows.Scan(&im.FileID, &im.Name, &im.Directory, &im.Position, &im.DoneBy, &doneAt); err != nil {
			return err
		}
		im.DoneAt = fromMicrosPtr(doneAt)
		r.Images = append(r.Images, im)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	rows.Close()

	rows, err = q.QueryContext(ctx, `SELECT name, color, hotkey FROM room_labels WHERE room_id = ? ORDER BY position`, r.ID)
	if err != nil {
		return err
	}
	defer rows.Close()
	r.Labels = []Label{}
	for rows.Next() {
		var l Label
		if err := rows.Scan(&l.Name, &l.Color, &l.Key); err != nil {
			return err
		}
		r.Labels = append(r.Labels, l)
	}
	return rows.Err()
}

func (q sqlRooms) Room(ctx context.Context, id string) (*Room, error) {
	r, err := scanRoom(q.db.QueryRowContext(ctx, `SELECT `+roomColumns+` FROM rooms WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("store: get room: %w", ErrNotFound)
	}
	if err == nil {
		err = loadDetails(ctx, q.db, &r)
	}
	if err != nil {
		return nil, fmt.Errorf("store: get room: %w", err)
	}
	return &r, nil
}

func (q sqlRooms) RoomsOf(ctx context.Context, userID string) ([]Room, error) {
	rooms, err := q.roomsOf(ctx, userID)
	if err != nil {
		return nil, fmt.Errorf("store: rooms of user: %w", err)
	}
	return rooms, nil
}

func (q sqlRooms) roomsOf(ctx context.Context, userID string) ([]Room, error) {
	rows, err := q.db.QueryContext(ctx, `SELECT r.id, r.name, r.creator_id, r.creator_name, r.created_at, r.closed_at
		FROM rooms r JOIN room_members m ON m.room_id = r.id
		WHERE m.user_id = ? AND m.removed_at IS NULL
		ORDER BY r.created_at DESC, r.id`, userID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	rooms := []Room{}
	for rows.Next() {
		r, err := scanRoom(rows)
		if err != nil {
			return nil, err
		}
		rooms = append(rooms, r)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows.Close()
	// One query per room is fine: a user is in a handful of rooms, and the SQLite file is
	// local.
	for i := range rooms {
		if err := loadDetails(ctx, q.db, &rooms[i]); err != nil {
			return nil, err
		}
	}
	return rooms, nil
}

func (q sqlRooms) CloseRoom(ctx context.Context, id string, at time.Time) error {
	if at.IsZero() {
		return fmt.Errorf("store: close room: %w: no time", ErrInvalid)
	}
	// COALESCE keeps the first closing time, so closing twice is harmless.
	res, err := q.db.ExecContext(ctx, `UPDATE rooms SET closed_at = COALESCE(closed_at, ?) WHERE id = ?`, toMicros(at), id)
	return rowsChanged(res, err, "close room")
}

const memberColumns = `room_id, user_id, name, role, joined_at, removed_at`

func scanMember(row interface{ Scan(...any) error }) (Member, error) {
	var (
		m               Member
		joined, removed sql.NullInt64
	)
	err := row.Scan(&m.RoomID, &m.UserID, &m.Name, &m.Role, &joined, &removed)
	m.JoinedAt, m.RemovedAt = fromMicros(joined), fromMicrosPtr(removed)
	return m, err
}

func getMember(ctx context.Context, q querier, roomID, userID string) (*Member, error) {
	m, err := scanMember(q.QueryRowContext(ctx, `SELECT `+memberColumns+` FROM room_members
		WHERE room_id = ? AND user_id = ?`, roomID, userID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	return &m, nil
}

// roomClosed returns whether the room is closed; ErrNotFound if there is no such room.
func roomClosed(ctx context.Context, q querier, roomID string) (bool, error) {
	var closed sql.NullInt64
	err := q.QueryRowContext(ctx, `SELECT closed_at FROM rooms WHERE id = ?`, roomID).Scan(&closed)
	if errors.Is(err, sql.ErrNoRows) {
		return false, ErrNotFound
	}
	return closed.Valid, err
}

// imageOpen returns nil when the image is in the room and the room is open: the
// precondition of every write about an image or its objects.
func imageOpen(ctx context.Context, q querier, roomID string, fileID int64) error {
	var closed sql.NullInt64
	err := q.QueryRowContext(ctx, `SELECT r.closed_at FROM room_images i JOIN rooms r ON r.id = i.room_id
		WHERE i.room_id = ? AND i.file_id = ?`, roomID, fileID).Scan(&closed)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return ErrNotFound
	case err != nil:
		return err
	case closed.Valid:
		return ErrClosed
	}
	return nil
}

func (q sqlRooms) Join(ctx context.Context, roomID string, m Member) (*Member, error) {
	if m.UserID == "" || m.JoinedAt.IsZero() {
		return nil, fmt.Errorf("store: join room: %w: no user or time", ErrInvalid)
	}
	var joined *Member
	err := inTx(ctx, q.db, func(tx *sql.Tx) error {
		closed, err := roomClosed(ctx, tx, roomID)
		if err != nil {
			return err
		}
		old, err := getMember(ctx, tx, roomID, m.UserID)
		switch {
		case err == nil && !old.Active():
			return ErrForbidden
		case err == nil:
			joined = old
			return nil
		case !errors.Is(err, ErrNotFound):
			return err
		case closed:
			return ErrClosed
		}
		m.RoomID, m.Role, m.RemovedAt = roomID, RoleMember, nil
		// DO NOTHING: where transactions do not serialise (PostgreSQL), a concurrent first
		// join of the same user must not fail on the primary key.
		if _, err := tx.ExecContext(ctx, `INSERT INTO room_members (room_id, user_id, name, role, joined_at, removed_at)
			VALUES (?, ?, ?, ?, ?, NULL) ON CONFLICT (room_id, user_id) DO NOTHING`,
			m.RoomID, m.UserID, m.Name, m.Role, toMicros(m.JoinedAt)); err != nil {
			return err
		}
		joined, err = getMember(ctx, tx, roomID, m.UserID)
		if err == nil && !joined.Active() {
			return ErrForbidden
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("store: join room: %w", err)
	}
	return joined, nil
}

func (q sqlRooms) Member(ctx context.Context, roomID, userID string) (*Member, error) {
	m, err := getMember(ctx, q.db, roomID, userID)
	if err != nil {
		return nil, fmt.Errorf("store: get member: %w", err)
	}
	return m, nil
}

func (q sqlRooms) Members(ctx context.Context, roomID string) ([]Member, error) {
	rows, err := q.db.QueryContext(ctx, `SELECT `+memberColumns+` FROM room_members
		WHERE room_id = ? ORDER BY joined_at, user_id`, roomID)
	if err != nil {
		return nil, fmt.Errorf("store: list members: %w", err)
	}
	defer rows.Close()
	ms := []Member{}
	for rows.Next() {
		m, err := scanMember(rows)
		if err != nil {
			return nil, fmt.Errorf("store: list members: %w", err)
		}
		ms = append(ms, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list members: %w", err)
	}
	return ms, nil
}

func (q sqlRooms) RemoveMember(ctx context.Context, roomID, userID string, at time.Time) error {
	if at.IsZero() {
		return fmt.Errorf("store: remove member: %w: no time", ErrInvalid)
	}
	err := inTx(ctx, q.db, func(tx *sql.Tx) error {
		m, err := getMember(ctx, tx, roomID, userID)
		switch {
		case err != nil:
			return err
		case m.Role == RoleOwner:
			// The room would be left without anyone who can manage it.
			return ErrForbidden
		case !m.Active():
			return nil
		}
		_, err = tx.ExecContext(ctx, `UPDATE room_members SET removed_at = ? WHERE room_id = ? AND user_id = ?`,
			toMicros(at), roomID, userID)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: remove member: %w", err)
	}
	return nil
}

func (q sqlRooms) SetImageDone(ctx context.Context, roomID string, fileID int64, userID string, done bool, at time.Time) error {
	if done && (userID == "" || at.IsZero()) {
		return fmt.Errorf("store: set image done: %w: no user or time", ErrInvalid)
	}
	err := inTx(ctx, q.db, func(tx *sql.Tx) error {
		if err := imageOpen(ctx, tx, roomID, fileID); err != nil {
			return err
		}
		var err error
		if done {
			// Only an image that is not done yet takes the mark: the first finisher keeps it.
			_, err = tx.ExecContext(ctx, `UPDATE room_images SET done_by = ?, done_at = ?
				WHERE room_id = ? AND file_id = ? AND done_by = ''`, userID, toMicros(at), roomID, fileID)
		} else {
			_, err = tx.ExecContext(ctx, `UPDATE room_images SET done_by = '', done_at = NULL
				WHERE room_id = ? AND file_id = ?`, roomID, fileID)
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("store: set image done: %w", err)
	}
	return nil
}

var objectColumnNames = []string{"room_id", "file_id", "object_id", "author_id", "author_name", "session_id", "label", "prompt",
	"version", "job_id", "status", "error", "segments", "bounding_box", "accepted", "backend", "review", "reviewer_id", "reviewer_name",
	"reviewed_at", "created_at", "updated_at", "deleted_at"}

// objectColumns lists the columns scanObject reads, each prefixed with prefix ("o." in joins).
func objectColumns(prefix string) string {
	return prefix + strings.Join(objectColumnNames, ", "+prefix)
}

func scanObject(row interface{ Scan(...any) error }) (Object, error) {
	var (
		o                         Object
		prompt                    string
		segments, box             sql.NullString
		created, updated, deleted sql.NullInt64
		reviewed                  sql.NullInt64
	)
	err := row.Scan(&o.RoomID, &o.FileID, &o.ObjectID, &o.AuthorID, &o.AuthorName, &o.SessionID, &o.Label, &prompt,
		&o.Version, &o.JobID, &o.Status, &o.Error, &segments, &box, &o.Accepted, &o.Backend, &o.Review, &o.ReviewerID,
		&o.ReviewerName, &reviewed, &created, &updated, &deleted)
	o.ReviewedAt = fromMicrosPtr(reviewed)
	o.Prompt = json.RawMessage(prompt)
	if segments.Valid {
		o.Segments = json.RawMessage(segments.String)
	}
	if box.Valid {
		o.BoundingBox = json.RawMessage(box.String)
	}
	o.CreatedAt, o.UpdatedAt, o.DeletedAt = fromMicros(created), fromMicros(updated), fromMicrosPtr(deleted)
	return o, err
}

func getObject(ctx context.Context, q querier, key ObjectKey) (*Object, error) {
	o, err := scanObject(q.QueryRowContext(ctx, `SELECT `+objectColumns("")+` FROM room_objects
		WHERE room_id = ? AND file_id = ? AND object_id = ?`, key.RoomID, key.FileID, key.ObjectID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	return &o, nil
}

func queryObjects(ctx context.Context, q querier, query string, args ...any) ([]Object, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	objs := []Object{}
	for rows.Next() {
		o, err := scanObject(rows)
		if err != nil {
			return nil, err
		}
		objs = append(objs, o)
	}
	return objs, rows.Err()
}

func (q sqlRooms) PutPrompt(ctx context.Context, o *Object) (*Object, error) {
	if err := checkPrompt(o); err != nil {
		return nil, fmt.Errorf("store: put prompt: %w", err)
	}
	created := o.CreatedAt
	if created.IsZero() {
		created = o.UpdatedAt
	}
	var stored *Object
	err := inTx(ctx, q.db, func(tx *sql.Tx) error {
		if err := imageOpen(ctx, tx, o.RoomID, o.FileID); err != nil {
			return err
		}
		// One statement decides create / replace / stale, so that concurrent identical
		// prompts cannot both win, whatever the isolation level: the WHERE of DO UPDATE
		// makes a version that is not newer (or a deleted object) affect no row.
		res, err := tx.ExecContext(ctx, `INSERT INTO room_objects
			(room_id, file_id, object_id, author_id, author_name, session_id, label, prompt, version, backend, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (room_id, file_id, object_id) DO UPDATE SET
				author_id = excluded.author_id,
				author_name = excluded.author_name,
				session_id = excluded.session_id,
				label = CASE WHEN excluded.label = '' THEN room_objects.label ELSE excluded.label END,
				prompt = excluded.prompt,
				version = excluded.version,
				backend = excluded.backend,
				job_id = 0, status = '', error = '', segments = NULL, bounding_box = NULL,
				review = '', reviewer_id = '', reviewer_name = '', reviewed_at = NULL,
				updated_at = excluded.updated_at
			WHERE room_objects.version < excluded.version AND room_objects.deleted_at IS NULL`,
			o.RoomID, o.FileID, o.ObjectID, o.AuthorID, o.AuthorName, o.SessionID, o.Label, string(o.Prompt), o.Version,
			o.Backend, toMicros(created), toMicros(o.UpdatedAt))
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		if stored, err = getObject(ctx, tx, o.Key()); err != nil {
			return err
		}
		switch {
		case n > 0:
			return nil
		case stored.DeletedAt != nil && o.Version > stored.Version:
			stored = nil
			return ErrNotFound
		default:
			return ErrStale
		}
	})
	if err != nil {
		return stored, fmt.Errorf("store: put prompt: %w", err)
	}
	return stored, nil
}

func (q sqlRooms) SetJob(ctx context.Context, roomID string, fileID int64, objectID string, version int, jobID int64, backend string,
	status, errMsg string, segments, box json.RawMessage, at time.Time) error {
	if err := checkJob(status, segments, box); err != nil {
		return fmt.Errorf("store: set job: %w", err)
	}
	if at.IsZero() {
		return fmt.Errorf("store: set job: %w: no time", ErrInvalid)
	}
	err := inTx(ctx, q.db, func(tx *sql.Tx) error {
		if err := imageOpen(ctx, tx, roomID, fileID); err != nil {
			return err
		}
		// The version guard sits in the UPDATE itself, so a newer prompt committed
		// concurrently always wins over an older job's result.
		res, err := tx.ExecContext(ctx, `UPDATE room_objects
			SET job_id = ?, backend = CASE WHEN ? = '' THEN backend ELSE ? END,
				status = ?, error = ?, segments = ?, bounding_box = ?, updated_at = ?
			WHERE room_id = ? AND file_id = ? AND object_id = ? AND version = ? AND deleted_at IS NULL`,
			jobID, backend, backend, status, errMsg, nullJSON(segments), nullJSON(box), toMicros(at), roomID, fileID, objectID, version)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n > 0 {
			return err
		}
		stored, err := getObject(ctx, tx, ObjectKey{roomID, fileID, objectID})
		switch {
		case err != nil:
			return err
		case stored.DeletedAt != nil:
			return ErrNotFound
		default:
			return ErrStale
		}
	})
	if err != nil {
		return fmt.Errorf("store: set job: %w", err)
	}
	return nil
}

func (q sqlRooms) SetReview(ctx context.Context, key ObjectKey, version int, review, reviewerID, reviewerName string, at time.Time) (*Object, error) {
	switch {
	case review != "" && review != ReviewApproved && review != ReviewRejected:
		return nil, fmt.Errorf("store: set review: %w: unknown review %q", ErrInvalid, review)
	case at.IsZero():
		return nil, fmt.Errorf("store: set review: %w: no time", ErrInvalid)
	}
	var reviewedAt any
	if review != "" {
		reviewedAt = toMicros(at)
	} else {
		reviewerID, reviewerName = "", ""
	}
	var stored *Object
	err := inTx(ctx, q.db, func(tx *sql.Tx) error {
		if err := imageOpen(ctx, tx, key.RoomID, key.FileID); err != nil {
			return err
		}
		// The version guard is in the UPDATE, so a prompt committed concurrently wins.
		res, err := tx.ExecContext(ctx, `UPDATE room_objects SET review = ?, reviewer_id = ?, reviewer_name = ?,
			reviewed_at = ?, updated_at = ?
			WHERE room_id = ? AND file_id = ? AND object_id = ? AND version = ? AND deleted_at IS NULL`,
			review, reviewerID, reviewerName, reviewedAt, toMicros(at), key.RoomID, key.FileID, key.ObjectID, version)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		if stored, err = getObject(ctx, tx, key); err != nil {
			return err
		}
		switch {
		case n > 0:
			return nil
		case stored.DeletedAt != nil:
			stored = nil
			return ErrNotFound
		default:
			return ErrStale
		}
	})
	if err != nil {
		return stored, fmt.Errorf("store: set review: %w", err)
	}
	return stored, nil
}

func (q sqlRooms) SetRole(ctx context.Context, roomID, userID, role string) error {
	if role != RoleReviewer && role != RoleMember {
		return fmt.Errorf("store: set role: %w: role %q", ErrInvalid, role)
	}
	err := inTx(ctx, q.db, func(tx *sql.Tx) error {
		m, err := getMember(ctx, tx, roomID, userID)
		switch {
		case err != nil:
			return err
		case !m.Active():
			return ErrNotFound
		case m.Role == RoleOwner:
			return ErrForbidden
		}
		_, err = tx.ExecContext(ctx, `UPDATE room_members SET role = ? WHERE room_id = ? AND user_id = ?`, role, roomID, userID)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: set role: %w", err)
	}
	return nil
}

func (q sqlRooms) SetObjectMeta(ctx context.Context, key ObjectKey, label *string, accepted *bool, deleted bool, at time.Time) (*Object, error) {
	if at.IsZero() {
		return nil, fmt.Errorf("store: set object meta: %w: no time", ErrInvalid)
	}
	var stored *Object
	err := inTx(ctx, q.db, func(tx *sql.Tx) error {
		if err := imageOpen(ctx, tx, key.RoomID, key.FileID); err != nil {
			return err
		}
		var err error
		if stored, err = getObject(ctx, tx, key); err != nil {
			return err
		}
		switch {
		case stored.DeletedAt != nil && deleted:
			return nil // a retried delete
		case stored.DeletedAt != nil:
			return ErrNotFound
		case label == nil && accepted == nil && !deleted:
			return nil
		}
		// Only the fields asked for are written (NULL keeps a column), so two members
		// changing label and acceptance at once both land without a row lock.
		var labelArg, acceptedArg, deletedArg any
		if label != nil {
			labelArg = *label
		}
		if accepted != nil {
			acceptedArg = *accepted
		}
		if deleted {
			deletedArg = toMicros(at)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE room_objects SET label = COALESCE(?, label),
			accepted = COALESCE(?, accepted), deleted_at = COALESCE(deleted_at, ?), updated_at = ?
			WHERE room_id = ? AND file_id = ? AND object_id = ?`,
			labelArg, acceptedArg, deletedArg, toMicros(at), key.RoomID, key.FileID, key.ObjectID); err != nil {
			return err
		}
		// A decision was made on what the object was: a new label or acceptance undoes it.
		if label != nil && *label != stored.Label || accepted != nil && *accepted != stored.Accepted {
			if _, err := tx.ExecContext(ctx, `UPDATE room_objects SET review = '', reviewer_id = '', reviewer_name = '', reviewed_at = NULL
				WHERE room_id = ? AND file_id = ? AND object_id = ?`, key.RoomID, key.FileID, key.ObjectID); err != nil {
				return err
			}
		}
		// Read back rather than patch o, so the caller sees times at stored precision.
		stored, err = getObject(ctx, tx, key)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("store: set object meta: %w", err)
	}
	return stored, nil
}

func (q sqlRooms) Object(ctx context.Context, key ObjectKey) (*Object, error) {
	o, err := getObject(ctx, q.db, key)
	if err != nil {
		return nil, fmt.Errorf("store: get object: %w", err)
	}
	return o, nil
}

func (q sqlRooms) Objects(ctx context.Context, roomID string, fileID int64) ([]Object, error) {
	objs, err := queryObjects(ctx, q.db, `SELECT `+objectColumns("")+` FROM room_objects
		WHERE room_id = ? AND file_id = ? AND deleted_at IS NULL ORDER BY created_at, object_id`, roomID, fileID)
	if err != nil {
		return nil, fmt.Errorf("store: list objects: %w", err)
	}
	return objs, nil
}

func (q sqlRooms) RoomObjects(ctx context.Context, roomID string) ([]Object, error) {
	objs, err := queryObjects(ctx, q.db, `SELECT `+objectColumns("o.")+` FROM room_objects o
		JOIN room_images i ON i.room_id = o.room_id AND i.file_id = o.file_id
		WHERE o.room_id = ? AND o.deleted_at IS NULL ORDER BY i.position, o.created_at, o.object_id`, roomID)
	if err != nil {
		return nil, fmt.Errorf("store: list room objects: %w", err)
	}
	return objs, nil
}

func (q sqlRooms) RoomTally(ctx context.Context, roomID string) ([]ObjectTally, error) {
	rows, err := q.db.QueryContext(ctx, `SELECT o.file_id, o.label, o.author_id, o.accepted, o.review FROM room_objects o
		JOIN room_images i ON i.room_id = o.room_id AND i.file_id = o.file_id
		WHERE o.room_id = ? AND o.deleted_at IS NULL ORDER BY i.position, o.created_at, o.object_id`, roomID)
	if err != nil {
		return nil, fmt.Errorf("store: tally room objects: %w", err)
	}
	defer rows.Close()
	out := []ObjectTally{}
	for rows.Next() {
		var t ObjectTally
		if err := rows.Scan(&t.FileID, &t.Label, &t.AuthorID, &t.Accepted, &t.Review); err != nil {
			return nil, fmt.Errorf("store: tally room objects: %w", err)
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: tally room objects: %w", err)
	}
	return out, nil
}

func (q sqlRooms) LeaseJobs(ctx context.Context, owner string, until time.Time, keys []ObjectKey) error {
	if owner == "" {
		return fmt.Errorf("store: lease jobs: %w: no owner", ErrInvalid)
	}
	for _, k := range keys {
		if _, err := q.db.ExecContext(ctx, `UPDATE room_objects SET lease_owner = ?, lease_until = ?
			WHERE room_id = ? AND file_id = ? AND object_id = ? AND status IN ('', ?, ?) AND deleted_at IS NULL`,
			owner, toMicros(until), k.RoomID, k.FileID, k.ObjectID, StatusQueued, StatusRunning); err != nil {
			return fmt.Errorf("store: lease jobs: %w", err)
		}
	}
	return nil
}

func (q sqlRooms) ClaimJobs(ctx context.Context, owner string, now, until time.Time) ([]Object, error) {
	if owner == "" || !until.After(now) {
		return nil, fmt.Errorf("store: claim jobs: %w: owner %q, lease of %v", ErrInvalid, owner, until.Sub(now))
	}
	lock := ""
	if q.pg {
		lock = " FOR UPDATE OF o SKIP LOCKED"
	}
	// One statement (see sqlOutbox.Claim).
	objs, err := queryObjects(ctx, q.db, `UPDATE room_objects SET lease_owner = ?, lease_until = ?
		WHERE (room_id, file_id, object_id) IN (SELECT o.room_id, o.file_id, o.object_id FROM room_objects o
			JOIN rooms r ON r.id = o.room_id
			WHERE o.status IN ('', ?, ?) AND o.deleted_at IS NULL AND r.closed_at IS NULL
			AND (o.lease_until <= ? OR (o.lease_until IS NULL AND o.updated_at <= ?))
			ORDER BY o.updated_at, o.room_id, o.file_id, o.object_id LIMIT 100`+lock+`)
		RETURNING `+objectColumns(""),
		owner, toMicros(until), StatusQueued, StatusRunning, now.UnixMicro(), now.Add(-until.Sub(now)).UnixMicro())
	if err != nil {
		return nil, fmt.Errorf("store: claim jobs: %w", err)
	}
	slices.SortFunc(objs, func(a, b Object) int {
		return cmp.Or(a.UpdatedAt.Compare(b.UpdatedAt), cmp.Compare(a.RoomID, b.RoomID), cmp.Compare(a.FileID, b.FileID), cmp.Compare(a.ObjectID, b.ObjectID))
	})
	return objs, nil
}

func (q sqlRooms) PendingJobs(ctx context.Context) ([]Object, error) {
	// Closed rooms refuse SetJob, so following their jobs would be wasted work.
	objs, err := queryObjects(ctx, q.db, `SELECT `+objectColumns("o.")+` FROM room_objects o
		JOIN rooms r ON r.id = o.room_id
		WHERE o.status IN (?, ?) AND o.job_id <> 0 AND o.deleted_at IS NULL AND r.closed_at IS NULL
		ORDER BY o.updated_at, o.room_id, o.file_id, o.object_id`, StatusQueued, StatusRunning)
	if err != nil {
		return nil, fmt.Errorf("store: list pending jobs: %w", err)
	}
	return objs, nil
}
