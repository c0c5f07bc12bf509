package store

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// TestSQLitePoolIsBounded: however many requests query at once, at most maxConns connections
// (open files) exist; they queue for one instead.
func TestSQLitePoolIsBounded(t *testing.T) {
	s, err := OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "lasso.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := s.db.Stats().MaxOpenConnections; got != maxConns {
		t.Fatalf("MaxOpenConnections = %d, want %d", got, maxConns)
	}
	var peak atomic.Int64
	stop := make(chan struct{})
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		for {
			if n := int64(s.db.Stats().OpenConnections); n > peak.Load() {
				peak.Store(n)
			}
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Microsecond):
			}
		}
	}()
	var wg sync.WaitGroup
	errs := make(chan error, 200)
	for range 200 {
		wg.Go(func() {
			// A query that takes a moment, so that many are in flight together.
			var n int
			errs <- s.db.QueryRowContext(context.Background(),
				`WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 5000) SELECT COUNT(*) FROM c`).Scan(&n)
		})
	}
	wg.Wait()
	close(stop)
	<-watched
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if p := peak.Load(); p > maxConns || p < 2 {
		t.Errorf("peak open connections %d, want 2..%d", p, maxConns)
	}
}

// TestSQLiteConcurrentWritersWithBoundedPool: many writers at once through the bounded pool
// all succeed: they wait for a connection, then for the write lock (busy_timeout), and none
// fails with "database is locked".
func TestSQLiteConcurrentWritersWithBoundedPool(t *testing.T) {
	ctx := context.Background()
	s, err := OpenSQLite(ctx, filepath.Join(t.TempDir(), "lasso.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	now := time.Now().UTC()
	var wg sync.WaitGroup
	errs := make(chan error, 64*10)
	for w := range 64 {
		wg.Go(func() {
			for i := range 10 {
				id := fmt.Sprintf("s-%d-%d", w, i)
				err := s.Sessions().Create(ctx, &Session{ID: id, Subject: "u", Name: "U", Mode: ModeLocal,
					CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(time.Hour)})
				if err == nil {
					err = s.Sessions().Touch(ctx, id, now.Add(time.Minute), now.Add(2*time.Hour))
				}
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("a concurrent writer failed: %v", err)
		}
	}
	var n int
	if err := s.db.QueryRow(`SELECT COUNT(*) FROM sessions`).Scan(&n); err != nil || n != 640 {
		t.Errorf("%d sessions, %v; want 640", n, err)
	}
}

// TestSQLiteFileModes: the database file and its -wal and -shm files are the owner's alone
// (0600) even under a umask that would leave them open to everyone, and a file an earlier
// version made 0644 is tightened when opened.
func TestSQLiteFileModes(t *testing.T) {
	old := syscall.Umask(0) // the worst case: nothing masked
	defer syscall.Umask(old)
	dir := t.TempDir()
	path := filepath.Join(dir, "lasso.db")
	s, err := OpenSQLite(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	check := func(when string) {
		t.Helper()
		for _, name := range []string{path, path + "-wal", path + "-shm"} {
			st, err := os.Stat(name)
			if err != nil {
				t.Errorf("%s: %v", when, err)
				continue
			}
			if mode := st.Mode().Perm(); mode != 0o600 {
				t.Errorf("%s: %s has mode %v, want -rw-------", when, filepath.Base(name), mode)
			}
		}
	}
	check("new file")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	s, err = OpenSQLite(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	check("reopened 0644 file")
}
