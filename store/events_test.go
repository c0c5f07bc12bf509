package store_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/lassoteam/lasso/internal/pgtest"
)

// TestPostgresEvents: two replicas append to one room's log at once; a listener hears every
// event once, in sequence order, and reads each from the log; Since and Last agree.
func TestPostgresEvents(t *testing.T) {
	ctx := context.Background()
	url := pgtest.Shared(t).NewDatabase(t)
	a, b := openPostgres(t, url), openPostgres(t, url)
	defer a.Close()
	defer b.Close()

	lctx, stop := context.WithCancel(ctx)
	defer stop()
	connected := make(chan struct{}, 4)
	var (
		mu    sync.Mutex
		heard []uint64
	)
	go a.Listen(lctx, func() { connected <- struct{}{} }, func(room string, seq uint64) {
		if room != "room:r" {
			t.Errorf("notified of room %q", room)
		}
		mu.Lock()
		heard = append(heard, seq)
		mu.Unlock()
	})
	select {
	case <-connected:
	case <-time.After(10 * time.Second):
		t.Fatal("Listen did not connect")
	}
	var wg sync.WaitGroup
	for i, st := range []interface {
		AppendEvent(context.Context, string, string, json.RawMessage) (uint64, error)
	}{a, b} {
		wg.Go(func() {
			for j := range 60 {
				if _, err := st.AppendEvent(ctx, "room:r", "e", json.RawMessage(fmt.Sprintf(`{"r":%d,"n":%d}`, i, j))); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		n := len(heard)
		mu.Unlock()
		if n >= 120 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	mu.Lock()
	for i, seq := range heard {
		if seq != uint64(i+1) {
			t.Fatalf("notification %d is of seq %d; want %d (in order, once): %v", i, seq, i+1, heard)
		}
	}
	if len(heard) != 120 {
		t.Errorf("heard %d notifications, want 120", len(heard))
	}
	mu.Unlock()
	if last, err := b.LastEvent(ctx, "room:r"); err != nil || last != 120 {
		t.Errorf("LastEvent = %d, %v; want 120", last, err)
	}
	evs, err := b.EventsSince(ctx, "room:r", 100, 10)
	if err != nil || len(evs) != 10 || evs[0].Seq != 101 || evs[9].Seq != 110 || evs[0].Type != "e" || !json.Valid(evs[0].Data) {
		t.Errorf("EventsSince(100, 10) = %+v, %v; want 101..110", evs, err)
	}
	if last, err := b.LastEvent(ctx, "room:none"); err != nil || last != 0 {
		t.Errorf("LastEvent of a room without events = %d, %v", last, err)
	}
}
