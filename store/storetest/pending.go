package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/lassoteam/lasso/store"
)

// runPending is the contract of the record of used sign-ins.
func runPending(t *testing.T, fresh func(t *testing.T) store.Store) {
	t.Run("PendingUsedOnce", func(t *testing.T) { testPendingUsedOnce(t, fresh(t)) })
	t.Run("PendingMarkUsedConcurrent", func(t *testing.T) { testPendingMarkUsedConcurrent(t, fresh(t)) })
	t.Run("PendingExpiry", func(t *testing.T) { testPendingExpiry(t, fresh(t)) })
	t.Run("PendingLimit", func(t *testing.T) { testPendingLimit(t, fresh(t)) })
}

// used asserts what Used says of each key.
func used(t *testing.T, pl store.PendingLogins, want map[string]bool) {
	t.Helper()
	for key, w := range want {
		got, err := pl.Used(context.Background(), key)
		if err != nil {
			t.Fatalf("Used(%s): %v", key, err)
		}
		if got != w {
			t.Errorf("Used(%s) = %v, want %v", key, got, w)
		}
	}
}

func testPendingUsedOnce(t *testing.T, st store.Store) {
	ctx := context.Background()
	pl := st.PendingLogins()
	used(t, pl, map[string]bool{"s1": false})
	if err := pl.MarkUsed(ctx, "s1", base.Add(10*time.Minute), base, 100); err != nil {
		t.Fatalf("MarkUsed: %v", err)
	}
	if err := pl.MarkUsed(ctx, "s1", base.Add(20*time.Minute), base, 100); !errors.Is(err, store.ErrConflict) {
		t.Errorf("second MarkUsed: %v, want ErrConflict (a sign-in is used once)", err)
	}
	if err := pl.MarkUsed(ctx, "s2", base.Add(10*time.Minute), base, 100); err != nil {
		t.Errorf("MarkUsed of another key: %v", err)
	}
	used(t, pl, map[string]bool{"s1": true, "s2": true, "s3": false})
}

func testPendingMarkUsedConcurrent(t *testing.T, st store.Store) {
	ctx := context.Background()
	const rounds, racers = 20, 4
	for r := range rounds {
		key := fmt.Sprintf("race-%d", r)
		var (
			wg             sync.WaitGroup
			mu             sync.Mutex
			wins, conflict int
			otherErrs      []error
			start          = make(chan struct{})
		)
		for range racers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				err := st.PendingLogins().MarkUsed(ctx, key, base.Add(10*time.Minute), base, 1000)
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					wins++
				case errors.Is(err, store.ErrConflict):
					conflict++
				default:
					otherErrs = append(otherErrs, err)
				}
			}()
		}
		close(start)
		wg.Wait()
		if wins != 1 || conflict != racers-1 || len(otherErrs) > 0 {
			t.Fatalf("round %d: %d winners, %d conflicts, errors %v; want exactly one winner", r, wins, conflict, otherErrs)
		}
	}
}

func testPendingExpiry(t *testing.T, st store.Store) {
	ctx := context.Background()
	pl := st.PendingLogins()
	now := base.Add(time.Hour)
	for key, exp := range map[string]time.Time{"old": now, "fresh": now.Add(time.Minute), "later": now.Add(2 * time.Minute)} {
		if err := pl.MarkUsed(ctx, key, exp, base, 100); err != nil {
			t.Fatalf("MarkUsed(%s): %v", key, err)
		}
	}
	// Used does not judge expiry: the caller does.
	used(t, pl, map[string]bool{"old": true})
	n, err := pl.DeleteExpired(ctx, now)
	if err != nil || n != 1 {
		t.Fatalf("DeleteExpired = %d, %v; want 1", n, err)
	}
	used(t, pl, map[string]bool{"old": false, "fresh": true, "later": true})
	// MarkUsed sweeps what has expired by its now.
	if err := pl.MarkUsed(ctx, "new", now.Add(time.Hour), now.Add(time.Minute), 100); err != nil {
		t.Fatalf("MarkUsed: %v", err)
	}
	used(t, pl, map[string]bool{"fresh": false, "later": true, "new": true})
	// Once a record is gone its key can be recorded again.
	if err := pl.MarkUsed(ctx, "old", now.Add(time.Hour), now.Add(time.Minute), 100); err != nil {
		t.Errorf("MarkUsed of a removed key: %v", err)
	}
}

// testPendingLimit: the record never holds more than limit keys; those that expire first go,
// but never the key just recorded.
func testPendingLimit(t *testing.T, st store.Store) {
	ctx := context.Background()
	pl := st.PendingLogins()
	const limit = 3
	for i := range 5 {
		if err := pl.MarkUsed(ctx, fmt.Sprintf("k%d", i), base.Add(time.Duration(10+i)*time.Minute), base, limit); err != nil {
			t.Fatalf("MarkUsed(k%d): %v", i, err)
		}
	}
	used(t, pl, map[string]bool{"k0": false, "k1": false, "k2": true, "k3": true, "k4": true})
	// A key that expires before all others is still kept when it is the one recorded.
	if err := pl.MarkUsed(ctx, "soon", base.Add(time.Minute), base, limit); err != nil {
		t.Fatalf("MarkUsed(soon): %v", err)
	}
	used(t, pl, map[string]bool{"soon": true, "k2": false, "k3": true, "k4": true})
	if err := pl.MarkUsed(ctx, "x", base.Add(time.Hour), base, 0); err == nil {
		t.Error("MarkUsed with limit 0 succeeded, want an error")
	}
	n, err := pl.DeleteExpired(ctx, base.Add(24*time.Hour))
	if err != nil || n != limit {
		t.Errorf("DeleteExpired of everything = %d, %v; want %d (the limit)", n, err, limit)
	}
}
