package store_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lassoteam/lasso/store"
	"github.com/lassoteam/lasso/store/storetest"
)

func openSQLite(t *testing.T, path string) *store.SQLite {
	t.Helper()
	s, err := store.OpenSQLite(context.Background(), path)
	if err != nil {
		t.Fatalf("OpenSQLite: %v", err)
	}
	return s
}

func TestSQLiteContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		return openSQLite(t, filepath.Join(t.TempDir(), "lasso.db"))
	})
}

// TestSQLiteReopen checks that data survives closing and reopening the file, and that
// reopening does not apply migrations twice.
func TestSQLiteReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "lasso.db")
	s := openSQLite(t, path)
	if err := s.Sessions().Create(ctx, storetest.NewSession("keep")); err != nil {
		t.Fatal(err)
	}
	if err := s.PendingLogins().MarkUsed(ctx, "st", time.Now().Add(time.Minute), time.Now(), 10); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = openSQLite(t, path)
	defer s.Close()
	got, err := s.Sessions().Get(ctx, "keep")
	if err != nil {
		t.Fatalf("Get after reopening: %v", err)
	}
	if got.Name != "Ada Lovelace" || string(got.Tokens) != "\x00\x01\x02\xffx" {
		t.Errorf("session after reopening = %+v", got)
	}
	if used, err := s.PendingLogins().Used(ctx, "st"); err != nil || !used {
		t.Errorf("Used after reopening = %v, %v; want true", used, err)
	}

	db := rawDB(t, path)
	var n int
	if err := db.QueryRow(`SELECT COUNT(*) FROM schema_migrations`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if want := migrationCount(t); n != want {
		t.Errorf("schema_migrations has %d rows, want %d", n, want)
	}
	var mode string
	if err := db.QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil {
		t.Fatal(err)
	}
	if mode != "wal" {
		t.Errorf("journal_mode = %q, want wal", mode)
	}
}

// TestSQLiteReopenRooms checks that a room, its members, its objects with their job state
// and its done marks survive a restart: the server resumes from the file alone.
func TestSQLiteReopenRooms(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "lasso.db")
	s := openSQLite(t, path)
	r := storetest.NewRoom("keep")
	if err := s.Rooms().CreateRoom(ctx, r, storetest.Owner()); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)
	if _, err := s.Rooms().Join(ctx, r.ID, store.Member{UserID: "u-ben", Name: "Ben", JoinedAt: now}); err != nil {
		t.Fatal(err)
	}
	p := storetest.NewPrompt(r.ID, storetest.File2, "o", 2)
	if _, err := s.Rooms().PutPrompt(ctx, p); err != nil {
		t.Fatal(err)
	}
	if err := s.Rooms().SetJob(ctx, r.ID, storetest.File2, "o", 2, 77, "", store.StatusRunning, "", nil, nil, now); err != nil {
		t.Fatal(err)
	}
	if err := s.Rooms().SetImageDone(ctx, r.ID, storetest.File1, "u-ben", true, now); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = openSQLite(t, path)
	defer s.Close()
	got, err := s.Rooms().Room(ctx, r.ID)
	if err != nil {
		t.Fatalf("Room after reopening: %v", err)
	}
	if got.Name != r.Name || len(got.Images) != 3 || len(got.Labels) != 2 || got.Images[0].DoneBy != "u-ben" {
		t.Errorf("room after reopening = %+v", got)
	}
	if m, err := s.Rooms().Member(ctx, r.ID, "u-ben"); err != nil || !m.Active() || !m.JoinedAt.Equal(now) {
		t.Errorf("member after reopening = %+v, %v", m, err)
	}
	pending, err := s.Rooms().PendingJobs(ctx)
	if err != nil || len(pending) != 1 {
		t.Fatalf("PendingJobs after reopening = %+v, %v; want the running job", pending, err)
	}
	if o := pending[0]; o.ObjectID != "o" || o.Version != 2 || o.JobID != 77 || o.Status != store.StatusRunning ||
		o.SessionID != "sess-ana" || string(o.Prompt) != string(p.Prompt) {
		t.Errorf("pending object after reopening = %+v", o)
	}
	if _, err := s.Rooms().PutPrompt(ctx, storetest.NewPrompt(r.ID, storetest.File2, "o", 2)); !errors.Is(err, store.ErrStale) {
		t.Errorf("replayed prompt after reopening: %v, want ErrStale", err)
	}
}

// TestSQLiteReopenOutbox checks that the outbox survives a restart: pending writes are due
// again with their attempts and ambiguity, settled ones keep their outcome, and enqueueing
// a write again still finds the old row.
func TestSQLiteReopenOutbox(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "lasso.db")
	s := openSQLite(t, path)
	r := storetest.NewRoom("keep")
	if err := s.Rooms().CreateRoom(ctx, r, storetest.Owner()); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)
	pending, err := s.Outbox().Enqueue(ctx, storetest.NewWrite(r.ID, storetest.File1, "o", 1))
	if err != nil {
		t.Fatal(err)
	}
	done, err := s.Outbox().Enqueue(ctx, storetest.NewWrite(r.ID, storetest.File1, "o", 2))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Outbox().Retry(ctx, pending.ID, now, "timeout", true, now); err != nil {
		t.Fatal(err)
	}
	if err := s.Outbox().Done(ctx, done.ID, []int64{5, 6}, now); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = openSQLite(t, path)
	defer s.Close()
	due, err := s.Outbox().Due(ctx, now, 10)
	if err != nil || len(due) != 1 {
		t.Fatalf("Due after reopening = %+v, %v; want the pending write", due, err)
	}
	if w := due[0]; w.ID != pending.ID || w.Attempts != 1 || !w.Ambiguous || w.LastError != "timeout" ||
		w.SessionID != "sess-ana" || string(w.Payload) != string(pending.Payload) || !w.NextAt.Equal(now) {
		t.Errorf("pending write after reopening = %+v", w)
	}
	ws, err := s.Outbox().ForObject(ctx, r.ID, storetest.File1, "o")
	if err != nil || len(ws) != 2 || ws[0].ID != done.ID || ws[0].State != store.WriteDone ||
		fmt.Sprint(ws[0].AnnotationIDs) != "[5 6]" {
		t.Errorf("ForObject after reopening = %+v, %v", ws, err)
	}
	again, err := s.Outbox().Enqueue(ctx, storetest.NewWrite(r.ID, storetest.File1, "o", 1))
	if err != nil || again.ID != pending.ID || again.Attempts != 1 {
		t.Errorf("Enqueue again after reopening = %+v, %v; want the existing row", again, err)
	}
}

// TestSQLiteConcurrentOpen starts several openers on a new file at once, as two processes
// sharing a data folder might: each migration must be applied exactly once.
func TestSQLiteConcurrentOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lasso.db")
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := store.OpenSQLite(context.Background(), path)
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
			t.Errorf("OpenSQLite: %v", err)
		}
	}
	var n int
	if err := rawDB(t, path).QueryRow(`SELECT COUNT(*) FROM schema_migrations`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if want := migrationCount(t); n != want {
		t.Errorf("schema_migrations has %d rows, want %d", n, want)
	}
}

// TestSQLiteNewerSchema refuses a file written by a newer program instead of running old
// code against a schema it does not know.
func TestSQLiteNewerSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lasso.db")
	openSQLite(t, path).Close()
	if _, err := rawDB(t, path).Exec(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (99, 'future', 0)`); err != nil {
		t.Fatal(err)
	}
	_, err := store.OpenSQLite(context.Background(), path)
	if err == nil || !strings.Contains(err.Error(), "newer") {
		t.Fatalf("OpenSQLite on a newer schema: %v, want a 'newer' error", err)
	}
}

func TestSQLiteBadPath(t *testing.T) {
	for _, p := range []string{"", "a?b.db", filepath.Join(t.TempDir(), "missing-dir", "x", "lasso.db")} {
		if s, err := store.OpenSQLite(context.Background(), p); err == nil {
			s.Close()
			t.Errorf("OpenSQLite(%q) succeeded", p)
		}
	}
}

// TestRedaction: a stray %v or slog attribute must not print a session id or token blob.
func TestRedaction(t *testing.T) {
	s := storetest.NewSession("SECRET-ID")
	s.Subject = "user-1"
	s.Tokens = []byte("SECRET-BLOB")
	var buf strings.Builder
	log := slog.New(slog.NewTextHandler(&buf, nil))
	log.Info("x", "session", s)
	for _, out := range []string{fmt.Sprintf("%v %+v %#v %s", s, s, s, s), buf.String()} {
		if strings.Contains(out, "SECRET") {
			t.Errorf("output leaks a secret: %s", out)
		}
	}
}

// migrationCount is the number of migration files, i.e. the schema version a fresh file
// reaches.
func migrationCount(t *testing.T) int {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("migrations", "sqlite", "*.sql"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no migrations found: %v", err)
	}
	return len(files)
}

func rawDB(t *testing.T, path string) *sql.DB {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}
