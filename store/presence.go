package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Conn is one open connection of a member to a room, on any replica.
type Conn struct {
	// ID names the connection uniquely across replicas (e.g. the replica's id and a counter).
	ID       string
	RoomID   string
	UserID   string
	UserName string
	// FileID is the image the connection shows, nil for the room's grid.
	FileID *int64
	// OpenedAt orders a member's connections: the newest one's image is where the member is.
	OpenedAt time.Time
	// ExpiresAt is when the connection counts as gone unless renewed (its replica died).
	ExpiresAt time.Time
}

// SoftLock says who prompted an object last, and when.
type SoftLock struct {
	UserID, UserName string
	At               time.Time
}

// Presence is what several replicas share about who is in a room: the open connections, the
// "next image" reservations and the soft locks. Both backends implement it on their tables.
type Presence interface {
	// OpenConn records c, or replaces the record of c.ID. ErrInvalid without an ID, room or
	// user.
	OpenConn(ctx context.Context, c Conn) error
	// CloseConn forgets the connection; an unknown one is not an error.
	CloseConn(ctx context.Context, connID string) error
	// RenewConns moves the expiry of the given connections to until (unknown ones are
	// skipped), forgets every connection of any room that expired by now, and returns those
	// it forgot (of concurrent callers, each forgotten connection is returned to one), so
	// that their rooms can be told.
	RenewConns(ctx context.Context, connIDs []string, now, until time.Time) ([]Conn, error)
	// Conns returns the room's connections not expired at now, oldest first.
	Conns(ctx context.Context, roomID string, now time.Time) ([]Conn, error)

	// Reserve hands the image to userID until until, when nobody else holds it at now (no
	// reservation, or one that expired, or userID's own), and then releases userID's other
	// reservations in the room: a member holds one at a time. It reports whether userID got
	// it; of concurrent callers for one image, one does.
	Reserve(ctx context.Context, roomID string, fileID int64, userID string, now, until time.Time) (bool, error)
	// Reserved returns the images of the room reserved at now, and for whom.
	Reserved(ctx context.Context, roomID string, now time.Time) (map[int64]string, error)

	// SetLock records userID as the object's last prompter at at.
	SetLock(ctx context.Context, key ObjectKey, userID, userName string, at time.Time) error
	// Lock returns the object's last prompter; ErrNotFound if nobody prompted it.
	Lock(ctx context.Context, key ObjectKey) (*SoftLock, error)
}

// sqlPresence implements Presence in the SQL both backends share.
type sqlPresence struct{ db *sql.DB }

func (q sqlPresence) OpenConn(ctx context.Context, c Conn) error {
	if c.ID == "" || c.RoomID == "" || c.UserID == "" {
		return fmt.Errorf("store: open conn: %w: id, room and user are needed", ErrInvalid)
	}
	var file any
	if c.FileID != nil {
		file = *c.FileID
	}
	if _, err := q.db.ExecContext(ctx, `INSERT INTO room_conns (conn_id, room_id, user_id, user_name, file_id, opened_at, expires_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (conn_id) DO UPDATE SET room_id = excluded.room_id, user_id = excluded.user_id,
			user_name = excluded.user_name, file_id = excluded.file_id, opened_at = excluded.opened_at, expires_at = excluded.expires_at`,
		c.ID, c.RoomID, c.UserID, c.UserName, file, c.OpenedAt.UnixMicro(), c.ExpiresAt.UnixMicro()); err != nil {
		return fmt.Errorf("store: open conn: %w", err)
	}
	return nil
}

func (q sqlPresence) CloseConn(ctx context.Context, connID string) error {
	if _, err := q.db.ExecContext(ctx, `DELETE FROM room_conns WHERE conn_id = ?`, connID); err != nil {
		return fmt.Errorf("store: close conn: %w", err)
	}
	return nil
}

func (q sqlPresence) RenewConns(ctx context.Context, connIDs []string, now, until time.Time) ([]Conn, error) {
	for _, id := range connIDs {
		if _, err := q.db.ExecContext(ctx, `UPDATE room_conns SET expires_at = ? WHERE conn_id = ?`, until.UnixMicro(), id); err != nil {
			return nil, fmt.Errorf("store: renew conns: %w", err)
		}
	}
	gone, err := queryConns(ctx, q.db, `DELETE FROM room_conns WHERE expires_at <= ? RETURNING `+connColumns, now.UnixMicro())
	if err != nil {
		return nil, fmt.Errorf("store: forget expired conns: %w", err)
	}
	return gone, nil
}

const connColumns = `conn_id, room_id, user_id, user_name, file_id, opened_at, expires_at`

func queryConns(ctx context.Context, db *sql.DB, query string, args ...any) ([]Conn, error) {
	rows, err := db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Conn
	for rows.Next() {
		var (
			c               Conn
			file            sql.NullInt64
			opened, expires int64
		)
		if err := rows.Scan(&c.ID, &c.RoomID, &c.UserID, &c.UserName, &file, &opened, &expires); err != nil {
			return nil, err
		}
		if file.Valid {
			c.FileID = &file.Int64
		}
		c.OpenedAt, c.ExpiresAt = time.UnixMicro(opened).UTC(), time.UnixMicro(expires).UTC()
		out = append(out, c)
	}
	return out, rows.Err()
}

func (q sqlPresence) Conns(ctx context.Context, roomID string, now time.Time) ([]Conn, error) {
	out, err := queryConns(ctx, q.db, `SELECT `+connColumns+`
		FROM room_conns WHERE room_id = ? AND expires_at > ? ORDER BY opened_at, conn_id`, roomID, now.UnixMicro())
	if err != nil {
		return nil, fmt.Errorf("store: list conns: %w", err)
	}
	return out, nil
}

func (q sqlPresence) Reserve(ctx context.Context, roomID string, fileID int64, userID string, now, until time.Time) (bool, error) {
	got := false
	err := inTx(ctx, q.db, func(tx *sql.Tx) error {
		// One statement decides: the insert, or the update of a free row, or nothing.
		res, err := tx.ExecContext(ctx, `INSERT INTO room_reservations (room_id, file_id, user_id, until) VALUES (?, ?, ?, ?)
			ON CONFLICT (room_id, file_id) DO UPDATE SET user_id = excluded.user_id, until = excluded.until
			WHERE room_reservations.user_id = excluded.user_id OR room_reservations.until <= ?`,
			roomID, fileID, userID, until.UnixMicro(), now.UnixMicro())
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		if got = n == 1; !got {
			return nil
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM room_reservations WHERE room_id = ? AND (user_id = ? AND file_id <> ? OR until <= ?)`,
			roomID, userID, fileID, now.UnixMicro())
		return err
	})
	if err != nil {
		return false, fmt.Errorf("store: reserve image: %w", err)
	}
	return got, nil
}

func (q sqlPresence) Reserved(ctx context.Context, roomID string, now time.Time) (map[int64]string, error) {
	rows, err := q.db.QueryContext(ctx, `SELECT file_id, user_id FROM room_reservations WHERE room_id = ? AND until > ?`, roomID, now.UnixMicro())
	if err != nil {
		return nil, fmt.Errorf("store: list reservations: %w", err)
	}
	defer rows.Close()
	out := map[int64]string{}
	for rows.Next() {
		var (
			file int64
			user string
		)
		if err := rows.Scan(&file, &user); err != nil {
			return nil, fmt.Errorf("store: list reservations: %w", err)
		}
		out[file] = user
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list reservations: %w", err)
	}
	return out, nil
}

func (q sqlPresence) SetLock(ctx context.Context, key ObjectKey, userID, userName string, at time.Time) error {
	if _, err := q.db.ExecContext(ctx, `INSERT INTO room_locks (room_id, file_id, object_id, user_id, user_name, at) VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (room_id, file_id, object_id) DO UPDATE SET user_id = excluded.user_id, user_name = excluded.user_name, at = excluded.at`,
		key.RoomID, key.FileID, key.ObjectID, userID, userName, at.UnixMicro()); err != nil {
		return fmt.Errorf("store: set soft lock: %w", err)
	}
	return nil
}

func (q sqlPresence) Lock(ctx context.Context, key ObjectKey) (*SoftLock, error) {
	var (
		l  SoftLock
		at int64
	)
	err := q.db.QueryRowContext(ctx, `SELECT user_id, user_name, at FROM room_locks WHERE room_id = ? AND file_id = ? AND object_id = ?`,
		key.RoomID, key.FileID, key.ObjectID).Scan(&l.UserID, &l.UserName, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("store: soft lock: %w", ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("store: soft lock: %w", err)
	}
	l.At = time.UnixMicro(at).UTC()
	return &l, nil
}
