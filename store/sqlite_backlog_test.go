package store_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/lassoteam/lasso/store/storetest"
)

// TestSQLiteOutboxBacklog: OutboxBacklog counts the pending writes and gives the oldest one's
// acceptance time; a settled write leaves the backlog; Ping answers on an open database and
// fails on a closed one.
func TestSQLiteOutboxBacklog(t *testing.T) {
	ctx := context.Background()
	s := openSQLite(t, filepath.Join(t.TempDir(), "lasso.db"))
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	if n, oldest, err := s.OutboxBacklog(ctx); err != nil || n != 0 || !oldest.IsZero() {
		t.Fatalf("empty outbox: %d, %v, %v", n, oldest, err)
	}
	r := storetest.NewRoom("backlog")
	if err := s.Rooms().CreateRoom(ctx, r, storetest.Owner()); err != nil {
		t.Fatal(err)
	}
	var first time.Time
	for v := 1; v <= 3; v++ {
		w := storetest.NewWrite(r.ID, storetest.File1, "o", v)
		w.CreatedAt = time.Date(2026, 5, 6, 7, 8, v, 0, time.UTC)
		got, err := s.Outbox().Enqueue(ctx, w)
		if err != nil {
			t.Fatal(err)
		}
		if v == 1 {
			first = w.CreatedAt
			if err := s.Outbox().Done(ctx, got.ID, []int64{1}, w.CreatedAt); err != nil {
				t.Fatal(err)
			}
		}
	}
	n, oldest, err := s.OutboxBacklog(ctx)
	if want := first.Add(time.Second); err != nil || n != 2 || !oldest.Equal(want) {
		t.Errorf("backlog: %d pending, oldest %v, err %v; want 2 pending, oldest %v", n, oldest, err, want)
	}
	s.Close()
	if err := s.Ping(ctx); err == nil {
		t.Error("Ping on a closed database: no error")
	}
}
