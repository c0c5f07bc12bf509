package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"embed"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
)

//go:embed migrations/postgres/*.sql
var postgresMigrations embed.FS

// Postgres is the Store for several replicas: the same tables as SQLite in one PostgreSQL
// database, reached through pgx. The SQL of the sub-stores is the SQLite backend's, written
// in the dialect both share; this type only rewrites its "?" placeholders into PostgreSQL's
// $1, $2, … and runs every transaction SERIALIZABLE (retried on a serialization failure), so
// that read-modify-write transactions which SQLite serialises with BEGIN IMMEDIATE are just as
// safe between replicas.
type Postgres struct {
	db  *sql.DB
	cfg *pgx.ConnConfig
}

var _ Store = (*Postgres)(nil)

// postgresConns bounds one replica's connections: PostgreSQL's default allows 100 in all.
const postgresConns = 16

// migrationLock is the pg_advisory_lock key held while migrations run: two replicas starting
// at once apply them one after the other ("lasso" in ASCII).
const migrationLock = 0x6c6173736f

// OpenPostgres connects to the database at url (postgres://user:pass@host/db?…, or a
// key=value connection string) and brings its schema up to date under an advisory lock.
func OpenPostgres(ctx context.Context, url string) (*Postgres, error) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		// pgx's message can quote the URL, password and all; say only what is wrong.
		return nil, errors.New("store: open postgres: the database URL cannot be parsed (want postgres://user:password@host:5432/database)")
	}
	db := sql.OpenDB(qmarkConnector{stdlib.GetConnector(*cfg)})
	db.SetMaxOpenConns(postgresConns)
	db.SetMaxIdleConns(postgresConns)
	db.SetConnMaxIdleTime(5 * time.Minute)
	p := &Postgres{db: db, cfg: cfg}
	if err := p.migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return p, nil
}

// ConnConfig returns a copy of the connection settings, for a dedicated connection such as a
// LISTEN one.
func (p *Postgres) ConnConfig() *pgx.ConnConfig { return p.cfg.Copy() }

// Close closes the connections.
func (p *Postgres) Close() error { return p.db.Close() }

// Sessions returns the login-session store.
func (p *Postgres) Sessions() Sessions { return sqlSessions{p.db} }

// PendingLogins returns the record of used sign-ins.
func (p *Postgres) PendingLogins() PendingLogins { return sqlPending{p.db} }

// Rooms returns the room store.
func (p *Postgres) Rooms() Rooms { return sqlRooms{db: p.db, pg: true} }

// Outbox returns the outbox of annotation writes.
func (p *Postgres) Outbox() Outbox { return sqlOutbox{db: p.db, pg: true} }

// Presence returns the record of who is in the rooms, shared by the replicas.
func (p *Postgres) Presence() Presence { return sqlPresence{p.db} }

// Settings returns the deployment's settings.
func (p *Postgres) Settings() Settings { return sqlSettings{p.db} }

// Ping checks that the database answers a query.
func (p *Postgres) Ping(ctx context.Context) error { return ping(ctx, p.db) }

// OutboxBacklog returns the number of annotation writes still pending and when the oldest of
// them was accepted (the zero time when none is pending).
func (p *Postgres) OutboxBacklog(ctx context.Context) (int, time.Time, error) {
	return outboxBacklog(ctx, p.db)
}

// migrate applies the migrations the database has not seen, on one connection that holds the
// advisory lock meanwhile. Each migration runs in its own transaction with its
// schema_migrations row.
func (p *Postgres) migrate(ctx context.Context) error {
	ms, err := loadMigrations(postgresMigrations, "migrations/postgres")
	if err != nil {
		return fmt.Errorf("store: migrations: %w", err)
	}
	conn, err := p.db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("store: open postgres: %w", err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock(?)`, migrationLock); err != nil {
		return fmt.Errorf("store: migration lock: %w", err)
	}
	// Released explicitly: the connection goes back to the pool, where a session lock would
	// live on.
	defer conn.ExecContext(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock(?)`, migrationLock)
	if _, err := conn.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER PRIMARY KEY,
		name       TEXT    NOT NULL,
		applied_at BIGINT  NOT NULL
	)`); err != nil {
		return fmt.Errorf("store: create schema_migrations: %w", err)
	}
	for _, m := range ms {
		if err := applyOn(ctx, conn, m); err != nil {
			return fmt.Errorf("store: migration %04d_%s: %w", m.version, m.name, err)
		}
	}
	var newest sql.NullInt64
	if err := conn.QueryRowContext(ctx, `SELECT MAX(version) FROM schema_migrations`).Scan(&newest); err != nil {
		return fmt.Errorf("store: read schema version: %w", err)
	}
	if int(newest.Int64) > len(ms) {
		return fmt.Errorf("store: the database schema is at version %d, newer than this program knows (%d)", newest.Int64, len(ms))
	}
	return nil
}

func applyOn(ctx context.Context, conn *sql.Conn, m migration) error {
	tx, err := conn.BeginTx(ctx, nil)
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

// retryable reports whether err is PostgreSQL telling a transaction to run again: a
// serialization failure or a deadlock. SQLite never says so.
func retryable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "40001" || pe.Code == "40P01")
}

// maxTxAttempts bounds how often inTx runs a transaction that PostgreSQL keeps refusing.
const maxTxAttempts = 20

// txPause is how long inTx waits before attempt n (≥ 1) again: a random part of a doubling
// step, so that the transactions that collided do not collide again.
func txPause(n int) time.Duration {
	step := time.Millisecond << min(n, 7)
	return step/2 + rand.N(step)
}

// qmarkConnector wraps pgx's database/sql connector so that the shared SQL's "?"
// placeholders become $1, $2, … and a transaction begun without options is SERIALIZABLE.
type qmarkConnector struct{ driver.Connector }

func (c qmarkConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	return qmarkConn{conn.(*stdlib.Conn)}, nil
}

type qmarkConn struct{ *stdlib.Conn }

func (c qmarkConn) Prepare(query string) (driver.Stmt, error) { return c.Conn.Prepare(rebind(query)) }

func (c qmarkConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	return c.Conn.PrepareContext(ctx, rebind(query))
}

func (c qmarkConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	return c.Conn.ExecContext(ctx, rebind(query), args)
}

func (c qmarkConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	return c.Conn.QueryContext(ctx, rebind(query), args)
}

func (c qmarkConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	if opts.Isolation == driver.IsolationLevel(sql.LevelDefault) {
		opts.Isolation = driver.IsolationLevel(sql.LevelSerializable)
	}
	return c.Conn.BeginTx(ctx, opts)
}

// rebind numbers the "?" placeholders of query as $1, $2, …, leaving quoted strings,
// quoted identifiers and comments alone.
func rebind(query string) string {
	if !strings.Contains(query, "?") {
		return query
	}
	var b strings.Builder
	b.Grow(len(query) + 16)
	n := 0
	for i := 0; i < len(query); i++ {
		ch := query[i]
		switch {
		case ch == '\'' || ch == '"':
			end := strings.IndexByte(query[i+1:], ch)
			if end < 0 {
				b.WriteString(query[i:])
				return b.String()
			}
			b.WriteString(query[i : i+end+2])
			i += end + 1
		case ch == '-' && i+1 < len(query) && query[i+1] == '-':
			end := strings.IndexByte(query[i:], '\n')
			if end < 0 {
				b.WriteString(query[i:])
				return b.String()
			}
			b.WriteString(query[i : i+end+1])
			i += end
		case ch == '?':
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
		default:
			b.WriteByte(ch)
		}
	}
	return b.String()
}
