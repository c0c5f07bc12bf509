package store_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestSQLiteMigrationDropsPendingLogins: a file from before sign-ins moved into cookies, with
// its pending_logins rows, loses that table and gains the bounded record of used sign-ins.
func TestSQLiteMigrationDropsPendingLogins(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "lasso.db")
	db := rawDB(t, mustCreate(t, path))
	if _, err := db.Exec(`CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob(filepath.Join("migrations", "sqlite", "*.sql"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		num, name, _ := strings.Cut(strings.TrimSuffix(filepath.Base(f), ".sql"), "_")
		v, _ := strconv.Atoi(num)
		if v >= 8 {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(string(b)); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if _, err := db.Exec(`INSERT INTO schema_migrations VALUES (?, ?, ?)`, v, name, time.Now().UnixMicro()); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.Exec(`INSERT INTO pending_logins VALUES ('st', 'n', 'v', '/', 1, 2)`); err != nil {
		t.Fatal(err)
	}
	db.Close()

	s := openSQLite(t, path)
	defer s.Close()
	db = rawDB(t, path)
	for table, want := range map[string]int{"pending_logins": 0, "pending_logins_used": 1} {
		var n int
		if err := db.QueryRow(`SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?`, table).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != want {
			t.Errorf("table %s: %d, want %d", table, n, want)
		}
	}
	if used, err := s.PendingLogins().Used(ctx, "st"); err != nil || used {
		t.Errorf("Used(st) after the migration = %v, %v; want false", used, err)
	}
}

// mustCreate creates an empty file at path and returns path.
func mustCreate(t *testing.T, path string) string {
	t.Helper()
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
