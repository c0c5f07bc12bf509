package store

import (
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"modernc.org/sqlite" // registers the pure-Go "sqlite" driver; no cgo
	sqlite3 "modernc.org/sqlite/lib"
)

//go:embed migrations/sqlite/*.sql
var sqliteMigrations embed.FS

// SQLite is the embedded Store: one database file in the data folder, opened through the
// pure-Go driver modernc.org/sqlite.
type SQLite struct {
	db *sql.DB
}

var _ Store = (*SQLite)(nil)

// maxConns bounds the connections (each an open file, plus the WAL's) to the database: SQLite
// runs one writer at a time anyway, and WAL readers need no more than a handful, so a burst of
// requests queues for a connection instead of opening a file each.
const maxConns = 8

// fileMode is the mode of the database file and its -wal and -shm companions: they hold login
// sessions (tokens sealed, but still) and everything users made, for the server's user alone.
const fileMode = 0o600

// OpenSQLite opens (creating if needed) the database file at path and brings its schema up to
// date. The file is put in WAL mode so readers do not block the writer; a busy timeout makes
// concurrent writers wait instead of failing; foreign keys are enforced (rooms own their images,
// labels, members and objects). At most maxConns connections are open at once. The file and
// its -wal and -shm files are readable by their owner only (mode 0600), whatever the umask.
func OpenSQLite(ctx context.Context, path string) (*SQLite, error) {
	if path == "" || strings.ContainsAny(path, "?#") {
		// The driver reads everything after '?' as connection parameters.
		return nil, fmt.Errorf("store: open sqlite: unusable file name %q", path)
	}
	// Created here, before SQLite sees it, so it never exists with the umask's mode; SQLite
	// gives the -wal and -shm files it creates the main file's mode.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, fileMode)
	if err != nil {
		return nil, fmt.Errorf("store: open sqlite: %w", err)
	}
	f.Close()
	dsn := path + "?" + strings.Join([]string{
		"_pragma=busy_timeout(10000)",
		"_pragma=journal_mode(WAL)",
		"_pragma=foreign_keys(1)",
		// NORMAL is durable in WAL mode except across a power loss, where the last
		// transactions may roll back; sessions can be signed into again.
		"_pragma=synchronous(NORMAL)",
		// BEGIN IMMEDIATE takes the write lock up front, so two writers never deadlock
		// upgrading read locks (which the busy timeout cannot resolve).
		"_txlock=immediate",
	}, "&")
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("store: open sqlite: %w", err)
	}
	db.SetMaxOpenConns(maxConns)
	db.SetMaxIdleConns(maxConns) // kept open: reopening means reading the schema again
	s := &SQLite{db: db}
	if err := s.migrateRetrying(ctx); err != nil {
		db.Close()
		return nil, err
	}
	// A file of an earlier version, or -wal and -shm files made before the main file was
	// tightened, get the mode too.
	for _, name := range []string{path, path + "-wal", path + "-shm"} {
		if err := os.Chmod(name, fileMode); err != nil && !errors.Is(err, fs.ErrNotExist) {
			db.Close()
			return nil, fmt.Errorf("store: open sqlite: %w", err)
		}
	}
	return s, nil
}

// Close closes the database.
func (s *SQLite) Close() error { return s.db.Close() }

// Sessions returns the login-session store.
func (s *SQLite) Sessions() Sessions { return sqlSessions{s.db} }

// PendingLogins returns the record of used sign-ins (sqlite_pending.go).
func (s *SQLite) PendingLogins() PendingLogins { return sqlPending{s.db} }

// Rooms returns the room store.
func (s *SQLite) Rooms() Rooms { return sqlRooms{db: s.db} }

// Outbox returns the outbox of annotation writes.
func (s *SQLite) Outbox() Outbox { return sqlOutbox{db: s.db} }

// Presence returns the record of who is in the rooms.
func (s *SQLite) Presence() Presence { return sqlPresence{s.db} }

// Settings returns the deployment's settings.
func (s *SQLite) Settings() Settings { return sqlSettings{s.db} }

// migration is one numbered schema change.
type migration struct {
	version int
	name    string
	sql     string
}

// loadMigrations reads the embedded NNNN_name.sql files in version order.
func loadMigrations(fsys fs.FS, dir string) ([]migration, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, err
	}
	var ms []migration
	for _, e := range entries {
		num, name, ok := strings.Cut(strings.TrimSuffix(e.Name(), ".sql"), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("migration %s: name must be NNNN_name.sql", e.Name())
		}
		b, err := fs.ReadFile(fsys, path.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: v, name: name, sql: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	for i, m := range ms {
		if m.version != i+1 {
			return nil, fmt.Errorf("migration %04d_%s: versions must be 1, 2, 3, … without gaps", m.version, m.name)
		}
	}
	return ms, nil
}

// migrate applies the migrations the file has not seen yet, each in its own transaction
// together with its schema_migrations row, so a crash leaves the schema at a known version.
// Because transactions begin IMMEDIATE, two processes starting at once apply each migration
// once.
// openBusyWait bounds how long OpenSQLite retries while another opener holds the file.
const openBusyWait = 10 * time.Second

// migrateRetrying runs migrate again while SQLite answers SQLITE_BUSY. Two openers of a new
// file race to put it in WAL mode, and that switch (run as each connection opens) fails at
// once instead of waiting out the busy timeout. Each migration checks its version inside
// its own transaction, so running them again never applies one twice.
func (s *SQLite) migrateRetrying(ctx context.Context) error {
	deadline := time.Now().Add(openBusyWait)
	pause := 5 * time.Millisecond
	for {
		err := s.migrate(ctx)
		var se *sqlite.Error
		if err == nil || !errors.As(err, &se) || se.Code()&0xff != sqlite3.SQLITE_BUSY || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(pause):
		}
		pause = min(2*pause, 200*time.Millisecond)
	}
}

func (s *SQLite) migrate(ctx context.Context) error {
	ms, err := loadMigrations(sqliteMigrations, "migrations/sqlite")
	if err != nil {
		return fmt.Errorf("store: migrations: %w", err)
	}
	if _, err := s.db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER PRIMARY KEY,
		name       TEXT    NOT NULL,
		applied_at BIGINT  NOT NULL
	)`); err != nil {
		return fmt.Errorf("store: create schema_migrations: %w", err)
	}
	for _, m := range ms {
		if err := s.apply(ctx, m); err != nil {
			return fmt.Errorf("store: migration %04d_%s: %w", m.version, m.name, err)
		}
	}
	var newest sql.NullInt64
	if err := s.db.QueryRowContext(ctx, `SELECT MAX(version) FROM schema_migrations`).Scan(&newest); err != nil {
		return fmt.Errorf("store: read schema version: %w", err)
	}
	if int(newest.Int64) > len(ms) {
		// A newer Lasso has written this file; running old code against it could corrupt it.
		return fmt.Errorf("store: the database schema is at version %d, newer than this program knows (%d)", newest.Int64, len(ms))
	}
	return nil
}

func (s *SQLite) apply(ctx context.Context, m migration) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations WHERE version = ?`, m.version).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return nil
	}
	if _, err := tx.ExecContext(ctx, m.sql); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
		m.version, m.name, toMicros(time.Now())); err != nil {
		return err
	}
	return tx.Commit()
}

// toMicros turns t into Unix microseconds; the zero time becomes NULL.
func toMicros(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMicro()
}

// fromMicros is the inverse of toMicros.
func fromMicros(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return time.UnixMicro(v.Int64).UTC()
}

// rowsChanged turns "no row matched" into ErrNotFound.
func rowsChanged(res sql.Result, err error, what string) error {
	if err != nil {
		return fmt.Errorf("store: %s: %w", what, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("store: %s: %w", what, err)
	}
	if n == 0 {
		return fmt.Errorf("store: %s: %w", what, ErrNotFound)
	}
	return nil
}

type sqlSessions struct{ db *sql.DB }

func (q sqlSessions) Create(ctx context.Context, s *Session) error {
	// ON CONFLICT DO NOTHING reports a taken id as zero rows, the same way in PostgreSQL,
	// instead of a driver-specific constraint error.
	res, err := q.db.ExecContext(ctx, `INSERT INTO sessions
		(id, subject, name, email, mode, tokens, token_expiry, capabilities, created_at, last_seen_at, expires_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO NOTHING`,
		s.ID, s.Subject, s.Name, s.Email, s.Mode, s.Tokens, toMicros(s.TokenExpiry), nullJSON(s.Capabilities),
		toMicros(s.CreatedAt), toMicros(s.LastSeenAt), toMicros(s.ExpiresAt))
	if err != nil {
		return fmt.Errorf("store: create session: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("store: create session: %w", err)
	} else if n == 0 {
		return fmt.Errorf("store: create session: %w", ErrConflict)
	}
	return nil
}

func (q sqlSessions) Get(ctx context.Context, id string) (*Session, error) {
	var (
		s                                       Session
		tokenExpiry, created, lastSeen, expires sql.NullInt64
		caps                                    sql.NullString
	)
	err := q.db.QueryRowContext(ctx, `SELECT id, subject, name, email, mode, tokens, token_expiry, capabilities,
		created_at, last_seen_at, expires_at FROM sessions WHERE id = ?`, id).
		Scan(&s.ID, &s.Subject, &s.Name, &s.Email, &s.Mode, &s.Tokens, &tokenExpiry, &caps, &created, &lastSeen, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("store: get session: %w", ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("store: get session: %w", err)
	}
	s.TokenExpiry = fromMicros(tokenExpiry)
	s.CreatedAt = fromMicros(created)
	s.LastSeenAt = fromMicros(lastSeen)
	s.ExpiresAt = fromMicros(expires)
	if caps.Valid {
		s.Capabilities = json.RawMessage(caps.String)
	}
	return &s, nil
}

func (q sqlSessions) UpdateTokens(ctx context.Context, id string, tokens []byte, expiry time.Time) error {
	res, err := q.db.ExecContext(ctx, `UPDATE sessions SET tokens = ?, token_expiry = ?, refresh_owner = '', refresh_until = NULL
		WHERE id = ?`, tokens, toMicros(expiry), id)
	return rowsChanged(res, err, "update session tokens")
}

func (q sqlSessions) LeaseRefresh(ctx context.Context, id, owner string, now, until time.Time) (bool, error) {
	if owner == "" || !until.After(now) {
		return false, fmt.Errorf("store: lease refresh: %w: owner %q, lease of %v", ErrInvalid, owner, until.Sub(now))
	}
	// One guarded statement decides between racing replicas in both dialects.
	res, err := q.db.ExecContext(ctx, `UPDATE sessions SET refresh_owner = ?, refresh_until = ?
		WHERE id = ? AND (refresh_until IS NULL OR refresh_until <= ? OR refresh_owner = ?)`,
		owner, toMicros(until), id, now.UnixMicro(), owner)
	if err != nil {
		return false, fmt.Errorf("store: lease refresh: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return false, fmt.Errorf("store: lease refresh: %w", err)
	} else if n > 0 {
		return true, nil
	}
	if _, err := q.Get(ctx, id); err != nil {
		return false, err
	}
	return false, nil
}

func (q sqlSessions) Touch(ctx context.Context, id string, lastSeen, expiresAt time.Time) error {
	res, err := q.db.ExecContext(ctx, `UPDATE sessions SET last_seen_at = ?, expires_at = ? WHERE id = ?`,
		toMicros(lastSeen), toMicros(expiresAt), id)
	return rowsChanged(res, err, "touch session")
}

func (q sqlSessions) SetCapabilities(ctx context.Context, id string, capabilities json.RawMessage) error {
	res, err := q.db.ExecContext(ctx, `UPDATE sessions SET capabilities = ? WHERE id = ?`, nullJSON(capabilities), id)
	return rowsChanged(res, err, "set session capabilities")
}

func (q sqlSessions) Delete(ctx context.Context, id string) error {
	if _, err := q.db.ExecContext(ctx, `DELETE FROM sessions WHERE id = ?`, id); err != nil {
		return fmt.Errorf("store: delete session: %w", err)
	}
	return nil
}

func (q sqlSessions) DeleteExpired(ctx context.Context, now time.Time) (int64, error) {
	res, err := q.db.ExecContext(ctx, `DELETE FROM sessions WHERE expires_at <= ?`, now.UnixMicro())
	if err != nil {
		return 0, fmt.Errorf("store: delete expired sessions: %w", err)
	}
	return res.RowsAffected()
}

func nullJSON(b json.RawMessage) any {
	if b == nil {
		return nil
	}
	return string(b)
}

// Ping checks that the database answers a query.
func (s *SQLite) Ping(ctx context.Context) error { return ping(ctx, s.db) }

// OutboxBacklog returns the number of annotation writes still pending in the outbox and when
// the oldest of them was accepted (the zero time when none is pending).
func (s *SQLite) OutboxBacklog(ctx context.Context) (pending int, oldest time.Time, err error) {
	return outboxBacklog(ctx, s.db)
}

func ping(ctx context.Context, db *sql.DB) error {
	if err := db.PingContext(ctx); err != nil {
		return fmt.Errorf("store: ping: %w", err)
	}
	var one int
	if err := db.QueryRowContext(ctx, `SELECT 1`).Scan(&one); err != nil {
		return fmt.Errorf("store: ping: %w", err)
	}
	return nil
}

func outboxBacklog(ctx context.Context, db *sql.DB) (pending int, oldest time.Time, err error) {
	var first sql.NullInt64
	err = db.QueryRowContext(ctx, `SELECT COUNT(*), MIN(created_at) FROM writes WHERE state = ?`, WritePending).Scan(&pending, &first)
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("store: outbox backlog: %w", err)
	}
	if first.Valid {
		oldest = time.UnixMicro(first.Int64)
	}
	return pending, oldest, nil
}
