package storetest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/lassoteam/lasso/store"
)

func runPresence(t *testing.T, fresh func(t *testing.T) store.Store) {
	t.Run("PresenceConns", func(t *testing.T) { testPresenceConns(t, fresh(t).Presence()) })
	t.Run("PresenceReservations", func(t *testing.T) { testPresenceReservations(t, fresh(t).Presence()) })
	t.Run("PresenceReservationRace", func(t *testing.T) { testPresenceReservationRace(t, fresh(t).Presence()) })
	t.Run("PresenceLocks", func(t *testing.T) { testPresenceLocks(t, fresh(t).Presence()) })
}

// testPresenceConns: connections are listed per room until they close or expire; a renewal
// keeps them, and expired ones are forgotten.
func testPresenceConns(t *testing.T, p store.Presence) {
	ctx := context.Background()
	file := int64(7)
	open := func(c store.Conn) {
		t.Helper()
		if err := p.OpenConn(ctx, c); err != nil {
			t.Fatalf("OpenConn %s: %v", c.ID, err)
		}
	}
	open(store.Conn{ID: "a/1", RoomID: "r1", UserID: "ana", UserName: "Ana", FileID: &file, OpenedAt: base, ExpiresAt: base.Add(time.Minute)})
	open(store.Conn{ID: "b/1", RoomID: "r1", UserID: "ben", UserName: "Ben", OpenedAt: base.Add(time.Second), ExpiresAt: base.Add(10 * time.Second)})
	open(store.Conn{ID: "b/2", RoomID: "r2", UserID: "ana", UserName: "Ana", OpenedAt: base, ExpiresAt: base.Add(time.Minute)})
	if err := p.OpenConn(ctx, store.Conn{RoomID: "r1", UserID: "x"}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("OpenConn without an id: %v, want ErrInvalid", err)
	}

	got, err := p.Conns(ctx, "r1", base)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].ID != "a/1" || got[1].ID != "b/1" {
		t.Fatalf("Conns(r1) = %+v, want a/1 then b/1", got)
	}
	if got[0].UserID != "ana" || got[0].UserName != "Ana" || got[0].FileID == nil || *got[0].FileID != file || !got[0].OpenedAt.Equal(us(base)) {
		t.Errorf("a/1 = %+v", got[0])
	}
	if got[1].FileID != nil {
		t.Errorf("b/1 is on the grid, got file %d", *got[1].FileID)
	}

	// Ben's connection lapses unless renewed; Ana's is renewed past its first expiry.
	if gone, err := p.RenewConns(ctx, []string{"a/1", "gone"}, base.Add(5*time.Second), base.Add(2*time.Minute)); err != nil || len(gone) != 0 {
		t.Fatalf("RenewConns before any expiry: %+v, %v; want nothing forgotten", gone, err)
	}
	gone, err := p.RenewConns(ctx, []string{"a/1"}, base.Add(30*time.Second), base.Add(2*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if len(gone) != 1 || gone[0].ID != "b/1" || gone[0].RoomID != "r1" || gone[0].UserID != "ben" {
		t.Errorf("RenewConns after Ben's lapsed forgot %+v, want b/1 (Ben in r1)", gone)
	}
	if gone, _ := p.RenewConns(ctx, nil, base.Add(31*time.Second), base.Add(2*time.Minute)); len(gone) != 0 {
		t.Errorf("a second RenewConns forgot %+v again", gone)
	}
	got, err = p.Conns(ctx, "r1", base.Add(90*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].ID != "a/1" {
		t.Errorf("Conns(r1) after Ben's lapsed and Ana's renewed = %+v, want a/1 alone", got)
	}

	// Reopening an id moves it (the member went to another image).
	open(store.Conn{ID: "a/1", RoomID: "r1", UserID: "ana", UserName: "Ana", OpenedAt: base, ExpiresAt: base.Add(2 * time.Minute)})
	if err := p.CloseConn(ctx, "b/2"); err != nil {
		t.Fatal(err)
	}
	if err := p.CloseConn(ctx, "never"); err != nil {
		t.Errorf("CloseConn of an unknown id: %v", err)
	}
	if got, _ := p.Conns(ctx, "r1", base); len(got) != 1 || got[0].FileID != nil {
		t.Errorf("Conns(r1) after Ana went to the grid = %+v", got)
	}
	if got, _ := p.Conns(ctx, "r2", base); len(got) != 0 {
		t.Errorf("Conns(r2) after close = %+v, want none", got)
	}
}

// testPresenceReservations: an image is one member's until it expires; a member holds one.
func testPresenceReservations(t *testing.T, p store.Presence) {
	ctx := context.Background()
	until := base.Add(time.Minute)
	reserve := func(file int64, user string, now time.Time) bool {
		t.Helper()
		ok, err := p.Reserve(ctx, "r1", file, user, now, until)
		if err != nil {
			t.Fatalf("Reserve(%d, %s): %v", file, user, err)
		}
		return ok
	}
	if !reserve(1, "ana", base) {
		t.Fatal("Ana did not get the free image 1")
	}
	if reserve(1, "ben", base.Add(time.Second)) {
		t.Error("Ben got image 1, which Ana holds")
	}
	if !reserve(1, "ana", base.Add(time.Second)) {
		t.Error("Ana could not take her own image again")
	}
	if !reserve(2, "ben", base) {
		t.Error("Ben did not get the free image 2")
	}
	// Ana's next image releases her first.
	if !reserve(3, "ana", base.Add(2*time.Second)) {
		t.Error("Ana did not get the free image 3")
	}
	got, err := p.Reserved(ctx, "r1", base.Add(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[3] != "ana" || got[2] != "ben" {
		t.Errorf("Reserved = %v, want 2: ben, 3: ana", got)
	}
	if !reserve(1, "cy", base.Add(3*time.Second)) {
		t.Error("Cy did not get image 1, which Ana let go")
	}
	// Once it expires, Ben's image is anyone's.
	if ok, err := p.Reserve(ctx, "r1", 2, "cy", until, until.Add(time.Minute)); err != nil || !ok {
		t.Errorf("Cy's reservation of image 2 once Ben's expired: %v, %v; want it", ok, err)
	}
	if got, _ := p.Reserved(ctx, "r1", until); len(got) != 1 || got[2] != "cy" {
		t.Errorf("Reserved after expiry = %v, want 2: cy alone", got)
	}
	if got, _ := p.Reserved(ctx, "r2", base); len(got) != 0 {
		t.Errorf("Reserved(r2) = %v, want none", got)
	}
}

// testPresenceReservationRace: of members asking for one image at once, one gets it.
func testPresenceReservationRace(t *testing.T, p store.Presence) {
	ctx := context.Background()
	const n = 8
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		won  []string
		errs []error
	)
	for i := range n {
		user := string(rune('a' + i))
		wg.Go(func() {
			ok, err := p.Reserve(ctx, "r1", 5, user, base, base.Add(time.Minute))
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
			}
			if ok {
				won = append(won, user)
			}
		})
	}
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("Reserve: %v", errs)
	}
	if len(won) != 1 {
		t.Errorf("%d members got image 5 (%v), want 1", len(won), won)
	}
}

// testPresenceLocks: the last prompter replaces the one before.
func testPresenceLocks(t *testing.T, p store.Presence) {
	ctx := context.Background()
	key := store.ObjectKey{RoomID: "r1", FileID: 1, ObjectID: "o1"}
	if _, err := p.Lock(ctx, key); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Lock of an object nobody prompted: %v, want ErrNotFound", err)
	}
	if err := p.SetLock(ctx, key, "ana", "Ana", base); err != nil {
		t.Fatal(err)
	}
	if err := p.SetLock(ctx, key, "ben", "Ben", base.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	l, err := p.Lock(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	if l.UserID != "ben" || l.UserName != "Ben" || !l.At.Equal(us(base.Add(time.Second))) {
		t.Errorf("Lock = %+v, want Ben's at %v", l, base.Add(time.Second))
	}
	if _, err := p.Lock(ctx, store.ObjectKey{RoomID: "r1", FileID: 1, ObjectID: "o2"}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Lock of another object: %v, want ErrNotFound", err)
	}
}
