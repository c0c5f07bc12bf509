package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

type sqlPending struct{ db *sql.DB }

func (q sqlPending) Used(ctx context.Context, key string) (bool, error) {
	var one int
	err := q.db.QueryRowContext(ctx, `SELECT 1 FROM pending_logins_used WHERE key = ?`, key).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("store: used sign-in: %w", err)
	}
	return true, nil
}

func (q sqlPending) MarkUsed(ctx context.Context, key string, expiresAt, now time.Time, limit int) error {
	if limit < 1 {
		return fmt.Errorf("store: mark sign-in used: limit %d, want at least 1", limit)
	}
	// One IMMEDIATE transaction (see OpenSQLite; SERIALIZABLE on PostgreSQL): the insert decides between racing callers,
	// and the table never holds more than limit rows once it commits.
	err := inTx(ctx, q.db, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM pending_logins_used WHERE expires_at <= ?`, now.UnixMicro()); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO pending_logins_used (key, expires_at) VALUES (?, ?)
			ON CONFLICT (key) DO NOTHING`, key, expiresAt.UnixMicro())
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return ErrConflict
		}
		var count int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM pending_logins_used`).Scan(&count); err != nil {
			return err
		}
		if over := count - limit; over > 0 {
			if _, err := tx.ExecContext(ctx, `DELETE FROM pending_logins_used WHERE key IN (
				SELECT key FROM pending_logins_used WHERE key <> ? ORDER BY expires_at, key LIMIT ?)`, key, over); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: mark sign-in used: %w", err)
	}
	return nil
}

func (q sqlPending) DeleteExpired(ctx context.Context, now time.Time) (int64, error) {
	res, err := q.db.ExecContext(ctx, `DELETE FROM pending_logins_used WHERE expires_at <= ?`, now.UnixMicro())
	if err != nil {
		return 0, fmt.Errorf("store: delete expired sign-in records: %w", err)
	}
	return res.RowsAffected()
}
