package store_test

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/lassoteam/lasso/internal/pgtest"
	"github.com/lassoteam/lasso/store"
	"github.com/lassoteam/lasso/store/storetest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func openPostgres(t *testing.T, url string) *store.Postgres {
	t.Helper()
	s, err := store.OpenPostgres(context.Background(), url)
	if err != nil {
		t.Fatalf("OpenPostgres: %v", err)
	}
	return s
}

// TestPostgresContract runs the same contract suite as SQLite against a real PostgreSQL, one
// fresh database per subtest.
func TestPostgresContract(t *testing.T) {
	c := pgtest.Shared(t)
	storetest.Run(t, func(t *testing.T) store.Store {
		return openPostgres(t, c.NewDatabase(t))
	})
}

// TestMigrationListsMatch: the two dialects have one schema history, the same versions
// under the same names.
func TestMigrationListsMatch(t *testing.T) {
	names := func(dialect string) []string {
		files, err := filepath.Glob(filepath.Join("migrations", dialect, "*.sql"))
		if err != nil || len(files) == 0 {
			t.Fatalf("no %s migrations: %v", dialect, err)
		}
		var out []string
		for _, f := range files {
			out = append(out, filepath.Base(f))
		}
		return out
	}
	lite, pg := names("sqlite"), names("postgres")
	if !slices.Equal(lite, pg) {
		t.Errorf("migrations differ:\n sqlite:   %v\n postgres: %v", lite, pg)
	}
}

// TestPostgresConcurrentOpen starts several replicas' openers on a new database at once:
// the advisory lock lets each migration be applied exactly once, and all of them succeed.
func TestPostgresConcurrentOpen(t *testing.T) {
	url := pgtest.Shared(t).NewDatabase(t)
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := store.OpenPostgres(context.Background(), url)
			if err != nil {
				errs <- err
				return
			}
			errs <- s.Close()
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("OpenPostgres: %v", err)
		}
	}
	if n := countRows(t, url, `SELECT COUNT(*) FROM schema_migrations`); n != migrationCount(t) {
		t.Errorf("schema_migrations has %d rows, want %d", n, migrationCount(t))
	}
	// Opening again applies nothing and the lock is free (no replica left holding it).
	openPostgres(t, url).Close()
	if n := countRows(t, url, `SELECT COUNT(*) FROM pg_locks WHERE locktype = 'advisory'`); n != 0 {
		t.Errorf("%d advisory locks held after the openers closed", n)
	}
}

// TestPostgresNewerSchema refuses a database written by a newer program.
func TestPostgresNewerSchema(t *testing.T) {
	url := pgtest.Shared(t).NewDatabase(t)
	openPostgres(t, url).Close()
	countRows(t, url, `WITH x AS (INSERT INTO schema_migrations (version, name, applied_at) VALUES (99, 'future', 0) RETURNING 1) SELECT COUNT(*) FROM x`)
	_, err := store.OpenPostgres(context.Background(), url)
	if err == nil || !strings.Contains(err.Error(), "newer") {
		t.Fatalf("OpenPostgres on a newer schema: %v, want a 'newer' error", err)
	}
}

// TestPostgresReopen: data survives closing and reopening, as it must when a replica restarts.
func TestPostgresReopen(t *testing.T) {
	ctx := context.Background()
	url := pgtest.Shared(t).NewDatabase(t)
	s := openPostgres(t, url)
	r := storetest.NewRoom("keep")
	if err := s.Rooms().CreateRoom(ctx, r, storetest.Owner()); err != nil {
		t.Fatal(err)
	}
	w, err := s.Outbox().Enqueue(ctx, storetest.NewWrite(r.ID, storetest.File1, "o", 1))
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = openPostgres(t, url)
	defer s.Close()
	again, err := s.Outbox().Enqueue(ctx, storetest.NewWrite(r.ID, storetest.File1, "o", 1))
	if err != nil || again.ID != w.ID {
		t.Errorf("Enqueue after reopening = %+v, %v; want write %d", again, err, w.ID)
	}
	pending, oldest, err := s.OutboxBacklog(ctx)
	if err != nil || pending != 1 || oldest.IsZero() {
		t.Errorf("OutboxBacklog = %d, %v, %v; want 1 pending", pending, oldest, err)
	}
	if err := s.Ping(ctx); err != nil {
		t.Errorf("Ping: %v", err)
	}
}

// TestPostgresBadURL: an unusable URL is refused with a message that does not repeat it (it
// may hold a password).
func TestPostgresBadURL(t *testing.T) {
	_, err := store.OpenPostgres(context.Background(), "postgres://u:SECRET@host:notaport/db")
	if err == nil || strings.Contains(err.Error(), "SECRET") || !strings.Contains(err.Error(), "postgres://") {
		t.Errorf("OpenPostgres(bad URL) = %v; want a hint without the password", err)
	}
}

func countRows(t *testing.T, url, query string) int {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, query).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
