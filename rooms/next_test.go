package rooms_test

import (
	"context"
	"testing"
)

// TestNextKeepsOneReservationPerMember: pressing "next" again and again (or holding D) walks
// through the room; it does not reserve every untouched image, so the next member still gets
// one, and never the one the first member holds now.
func TestNextKeepsOneReservationPerMember(t *testing.T) {
	e := newEnv(t, 0)
	ctx := context.Background()
	r := e.room(ben, cy)

	var current int64
	seen := map[int64]bool{}
	for range 2 * len(e.files) {
		id, ok, err := e.svc.Next(ctx, r.ID, ana, current)
		if err != nil || !ok {
			t.Fatalf("Ana's next after %d: %d, %v, %v", current, id, ok, err)
		}
		if id == current {
			t.Fatalf("next handed Ana the image she is on (%d)", id)
		}
		seen[id] = true
		current = id
	}
	if len(seen) != len(e.files) {
		t.Errorf("Ana walked through %d of %d images, want all", len(seen), len(e.files))
	}

	// Ana holds one image now (current); the other three are free for Ben and Cy.
	got := map[int64]string{current: "Ana"}
	for _, u := range []struct {
		name string
		next func() (int64, bool, error)
	}{
		{"Ben", func() (int64, bool, error) { return e.svc.Next(ctx, r.ID, ben, 0) }},
		{"Cy", func() (int64, bool, error) { return e.svc.Next(ctx, r.ID, cy, 0) }},
	} {
		id, ok, err := u.next()
		if err != nil || !ok {
			t.Fatalf("%s's next after Ana's %d presses: %v, %v, want an image", u.name, 2*len(e.files), ok, err)
		}
		if other, dup := got[id]; dup {
			t.Errorf("%s got image %d, which %s holds", u.name, id, other)
		}
		got[id] = u.name
	}

	// Ben's second press releases his first image: Cy's next can have it, but not Ana's or
	// Ben's new one.
	benFirst := current
	for id, who := range got {
		if who == "Ben" {
			benFirst = id
		}
	}
	benNow, ok, err := e.svc.Next(ctx, r.ID, ben, benFirst)
	if err != nil || !ok {
		t.Fatalf("Ben's second next: %v, %v", ok, err)
	}
	if got[benNow] == "Ana" || got[benNow] == "Cy" {
		t.Errorf("Ben's second next gave him %s's image %d", got[benNow], benNow)
	}
	for range len(e.files) {
		id, ok, err := e.svc.Next(ctx, r.ID, cy, 0)
		if err != nil {
			t.Fatal(err)
		}
		if ok && (id == current || id == benNow) {
			t.Errorf("Cy got image %d, reserved for another member", id)
		}
	}
}
