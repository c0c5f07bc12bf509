package store

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"
)

// sqlOutbox implements Outbox. State only ever moves from pending to done or failed, so
// the guarded single-statement updates of Done, Retry and Fail decide races on their own.
//
// pg says the database is PostgreSQL, for the one statement the dialects write differently.
type sqlOutbox struct {
	db querier
	pg bool
}

func (q sqlOutbox) Atomically(ctx context.Context, fn func(Rooms, Outbox) error) error {
	return atomically(ctx, q.db, q.pg, fn)
}

const writeColumns = `id, room_id, file_id, object_id, version, op, seq, user_id, session_id, payload, state, attempts, ambiguous,
	next_at, last_error, annotation_ids, created_at, updated_at, provenance`

func scanWrite(row interface{ Scan(...any) error }) (Write, error) {
	var (
		w                      Write
		payload                string
		ids, provenance        sql.NullString
		next, created, updated sql.NullInt64
	)
	err := row.Scan(&w.ID, &w.RoomID, &w.FileID, &w.ObjectID, &w.Version, &w.Op, &w.Seq, &w.UserID, &w.SessionID, &payload, &w.State,
		&w.Attempts, &w.Ambiguous, &next, &w.LastError, &ids, &created, &updated, &provenance)
	if err != nil {
		return w, err
	}
	w.Payload = json.RawMessage(payload)
	if provenance.Valid {
		w.Provenance = json.RawMessage(provenance.String)
	}
	if ids.Valid {
		if err := json.Unmarshal([]byte(ids.String), &w.AnnotationIDs); err != nil {
			return w, fmt.Errorf("write %d: annotation ids: %w", w.ID, err)
		}
	}
	w.NextAt, w.CreatedAt, w.UpdatedAt = fromMicros(next), fromMicros(created), fromMicros(updated)
	return w, nil
}

func queryWrites(ctx context.Context, q querier, query string, args ...any) ([]Write, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	ws := []Write{}
	for rows.Next() {
		w, err := scanWrite(rows)
		if err != nil {
			return nil, err
		}
		ws = append(ws, w)
	}
	return ws, rows.Err()
}

func (q sqlOutbox) Enqueue(ctx context.Context, w *Write) (*Write, error) {
	if err := checkWrite(w); err != nil {
		return nil, fmt.Errorf("store: enqueue write: %w", err)
	}
	next := w.NextAt
	if next.IsZero() {
		next = w.CreatedAt
	}
	var stored Write
	err := inTx(ctx, q.db, func(tx *sql.Tx) error {
		if w.RoomID != "" {
			var one int
			err := tx.QueryRowContext(ctx, `SELECT 1 FROM room_images WHERE room_id = ? AND file_id = ?`,
				w.RoomID, w.FileID).Scan(&one)
			if errors.Is(err, sql.ErrNoRows) {
				return ErrNotFound
			}
			if err != nil {
				return err
			}
		}
		// DO NOTHING on the unique key, then read back: the first enqueue wins in both
		// dialects, and every caller gets the same row.
		if _, err := tx.ExecContext(ctx, `INSERT INTO writes
			(room_id, file_id, object_id, version, op, seq, user_id, session_id, payload, state, attempts, ambiguous,
			 next_at, last_error, annotation_ids, created_at, updated_at, provenance)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, FALSE, ?, '', NULL, ?, ?, ?)
			ON CONFLICT (room_id, file_id, object_id, version, op, seq) DO NOTHING`,
			w.RoomID, w.FileID, w.ObjectID, w.Version, w.Op, w.Seq, w.UserID, w.SessionID, string(w.Payload), WritePending,
			toMicros(next), toMicros(w.CreatedAt), toMicros(w.CreatedAt), nullJSON(w.Provenance)); err != nil {
			return err
		}
		var err error
		stored, err = scanWrite(tx.QueryRowContext(ctx, `SELECT `+writeColumns+` FROM writes
			WHERE room_id = ? AND file_id = ? AND object_id = ? AND version = ? AND op = ? AND seq = ?`,
			w.RoomID, w.FileID, w.ObjectID, w.Version, w.Op, w.Seq))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("store: enqueue write: %w", err)
	}
	return &stored, nil
}

func (q sqlOutbox) Due(ctx context.Context, now time.Time, limit int) ([]Write, error) {
	if limit < 1 {
		return nil, fmt.Errorf("store: due writes: %w: limit %d, want ≥ 1", ErrInvalid, limit)
	}
	ws, err := queryWrites(ctx, q.db, `SELECT `+writeColumns+` FROM writes
		WHERE state = ? AND next_at <= ? ORDER BY created_at, id LIMIT ?`, WritePending, now.UnixMicro(), limit)
	if err != nil {
		return nil, fmt.Errorf("store: due writes: %w", err)
	}
	return ws, nil
}

func (q sqlOutbox) Claim(ctx context.Context, owner string, now, until time.Time, limit int) ([]Write, error) {
	switch {
	case limit < 1:
		return nil, fmt.Errorf("store: claim writes: %w: limit %d, want ≥ 1", ErrInvalid, limit)
	case owner == "":
		return nil, fmt.Errorf("store: claim writes: %w: no owner", ErrInvalid)
	case !until.After(now):
		return nil, fmt.Errorf("store: claim writes: %w: the lease ends before it starts", ErrInvalid)
	}
	// One statement, so that it needs no transaction: on PostgreSQL the rows another claimer
	// has locked are skipped, not waited for (and it runs READ COMMITTED, outside inTx's
	// SERIALIZABLE); SQLite runs one writer at a time and has no FOR UPDATE.
	lock := ""
	if q.pg {
		lock = " FOR UPDATE SKIP LOCKED"
	}
	ws, err := queryWrites(ctx, q.db, `UPDATE writes SET lease_owner = ?, lease_until = ?
		WHERE id IN (SELECT id FROM writes
			WHERE state = ? AND next_at <= ? AND (lease_until IS NULL OR lease_until <= ? OR lease_owner = ?)
			ORDER BY created_at, id LIMIT ?`+lock+`)
		RETURNING `+writeColumns,
		owner, toMicros(until), WritePending, now.UnixMicro(), now.UnixMicro(), owner, limit)
	if err != nil {
		return nil, fmt.Errorf("store: claim writes: %w", err)
	}
	// RETURNING promises no order.
	slices.SortFunc(ws, func(a, b Write) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
	return ws, nil
}

// settle runs an UPDATE guarded by "state = pending" on write id and tells a missing write
// (ErrNotFound) from one that is no longer pending (ErrStale).
func (q sqlOutbox) settle(ctx context.Context, what string, id int64, at time.Time, set string, args ...any) error {
	return q.change(ctx, what, id, at, WritePending, set, args...)
}

// change runs an UPDATE of write id guarded by "state = from" and tells a missing write
// (ErrNotFound) from one in another state (ErrStale).
func (q sqlOutbox) change(ctx context.Context, what string, id int64, at time.Time, from, set string, args ...any) error {
	if at.IsZero() {
		return fmt.Errorf("store: %s: %w: no time", what, ErrInvalid)
	}
	args = append(args, toMicros(at), id, from)
	res, err := q.db.ExecContext(ctx, `UPDATE writes SET `+set+`, updated_at = ? WHERE id = ? AND state = ?`, args...)
	if err != nil {
		return fmt.Errorf("store: %s: %w", what, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("store: %s: %w", what, err)
	} else if n > 0 {
		return nil
	}
	// Nothing changed. Only a person's Requeue takes a row back to pending, so this read is
	// at worst as old as the request.
	var state string
	err = q.db.QueryRowContext(ctx, `SELECT state FROM writes WHERE id = ?`, id).Scan(&state)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("store: %s: %w", what, ErrNotFound)
	case err != nil:
		return fmt.Errorf("store: %s: %w", what, err)
	}
	return fmt.Errorf("store: %s: write %d is %s: %w", what, id, state, ErrStale)
}

func (q sqlOutbox) Done(ctx context.Context, id int64, annotationIDs []int64, at time.Time) error {
	if annotationIDs == nil {
		annotationIDs = []int64{}
	}
	ids, err := json.Marshal(annotationIDs)
	if err != nil {
		return fmt.Errorf("store: write done: %w", err)
	}
	return q.settle(ctx, "write done", id, at, `state = ?, annotation_ids = ?, ambiguous = FALSE`, WriteDone, string(ids))
}

func (q sqlOutbox) Attempting(ctx context.Context, id int64, at time.Time) error {
	return q.settle(ctx, "attempting write", id, at, `ambiguous = TRUE`)
}

func (q sqlOutbox) Retry(ctx context.Context, id int64, nextAt time.Time, errMsg string, ambiguous bool, at time.Time) error {
	if nextAt.IsZero() {
		return fmt.Errorf("store: retry write: %w: no next time", ErrInvalid)
	}
	return q.settle(ctx, "retry write", id, at, `attempts = attempts + 1, next_at = ?, last_error = ?, ambiguous = ?`,
		toMicros(nextAt), errMsg, ambiguous)
}

func (q sqlOutbox) Fail(ctx context.Context, id int64, errMsg string, at time.Time) error {
	return q.settle(ctx, "fail write", id, at, `state = ?, last_error = ?`, WriteFailed, errMsg)
}

func (q sqlOutbox) Requeue(ctx context.Context, id int64, at time.Time) error {
	return q.change(ctx, "requeue write", id, at, WriteFailed, `state = ?, next_at = ?`, WritePending, toMicros(at))
}

func (q sqlOutbox) ForImage(ctx context.Context, roomID string, fileID int64) ([]Write, error) {
	ws, err := queryWrites(ctx, q.db, `SELECT `+writeColumns+` FROM writes
		WHERE room_id = ? AND file_id = ? ORDER BY created_at DESC, id DESC`, roomID, fileID)
	if err != nil {
		return nil, fmt.Errorf("store: writes of image: %w", err)
	}
	return ws, nil
}

func (q sqlOutbox) ForObject(ctx context.Context, roomID string, fileID int64, objectID string) ([]Write, error) {
	ws, err := queryWrites(ctx, q.db, `SELECT `+writeColumns+` FROM writes
		WHERE room_id = ? AND file_id = ? AND object_id = ? ORDER BY created_at DESC, id DESC`, roomID, fileID, objectID)
	if err != nil {
		return nil, fmt.Errorf("store: writes of object: %w", err)
	}
	return ws, nil
}
