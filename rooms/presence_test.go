package rooms_test

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/lassoteam/lasso/hub"
	"github.com/lassoteam/lasso/rooms"
)

// clock is a settable time shared by the services of a test.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// replica is one of two services over e's store that share presence through it, as two
// replicas on one database do, each with its own hub.
type replica struct {
	*rooms.Service
	hub *hub.Hub
}

func (e *env) replicas(c *clock) (a, b replica) {
	e.t.Helper()
	var out [2]replica
	for i, name := range []string{"a", "b"} {
		h := hub.New(hub.Options{})
		e.t.Cleanup(h.Close)
		s := rooms.New(rooms.Config{Store: e.st.Rooms(), Publisher: h, Jobs: e.jobs, Presence: e.st.Presence(), Replica: name, Now: c.now})
		out[i] = replica{s, h}
	}
	return out[0], out[1]
}

// TestPresenceSharedBetweenReplicas: a member connected to one replica is in the other's
// snapshot, on their image; leaving one replica while connected to the other keeps them
// present; a replica that stops renewing loses its members after PresenceTTL.
func TestPresenceSharedBetweenReplicas(t *testing.T) {
	e := newEnv(t, 0)
	ctx := context.Background()
	r := e.room(ben)
	c := &clock{t: time.Now()}
	a, b := e.replicas(c)

	leaveA := a.Connect(r.ID, ana, &e.files[1])
	snap, err := b.State(ctx, r.ID, ben, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Presence) != 1 || snap.Presence[0].UserID != ana.ID || !snap.Presence[0].Present ||
		snap.Presence[0].FileID == nil || *snap.Presence[0].FileID != e.files[1] {
		t.Fatalf("B's snapshot presence = %+v, want Ana on image %d", snap.Presence, e.files[1])
	}
	for _, im := range snap.Images {
		if im.FileID == e.files[1] && (len(im.Present) != 1 || im.Present[0] != ana.ID) {
			t.Errorf("B's image %d lists present %v, want Ana", im.FileID, im.Present)
		}
	}

	// Ana also opens the grid on B, then closes her tab on A: she is still in the room.
	leaveB := b.Connect(r.ID, ana, nil)
	leaveA()
	snap, err = a.State(ctx, r.ID, ben, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Presence) != 1 || !snap.Presence[0].Present || snap.Presence[0].FileID != nil {
		t.Errorf("A's snapshot after Ana left A but not B = %+v, want Ana present on the grid", snap.Presence)
	}
	leaveB()
	if snap, _ = a.State(ctx, r.ID, ben, nil); len(snap.Presence) != 0 {
		t.Errorf("A's snapshot after Ana left both = %+v, want nobody", snap.Presence)
	}

	// Ben's replica dies (nothing renews his connection): he is gone once it expires.
	b.Connect(r.ID, ben, &e.files[2])
	c.add(rooms.PresenceTTL - time.Second)
	if snap, _ = a.State(ctx, r.ID, ana, nil); len(snap.Presence) != 1 {
		t.Errorf("before expiry A lists %+v, want Ben", snap.Presence)
	}
	c.add(2 * time.Second)
	if snap, _ = a.State(ctx, r.ID, ana, nil); len(snap.Presence) != 0 {
		t.Errorf("after expiry A lists %+v, want nobody", snap.Presence)
	}
}

// TestPresenceEventCountsEveryReplica: the member.presence event of a member who closes a
// connection on one replica says they are still present when another replica holds one.
func TestPresenceEventCountsEveryReplica(t *testing.T) {
	e := newEnv(t, 0)
	r := e.room(ben)
	a, b := e.replicas(&clock{t: time.Now()})
	leaveB := b.Connect(r.ID, ana, &e.files[0])
	defer leaveB()
	sub := a.hub.Subscribe(rooms.Key(r.ID))
	defer sub.Close()
	leaveA := a.Connect(r.ID, ana, &e.files[1])
	leaveA()
	var last rooms.Present
	for range 2 {
		select {
		case m := <-sub.C():
			if err := json.Unmarshal(m.Data, &last); err != nil {
				t.Fatal(err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("no presence event")
		}
	}
	if !last.Present || last.FileID == nil || *last.FileID != e.files[0] {
		t.Errorf("presence after leaving A = %+v, want present on image %d (through B)", last, e.files[0])
	}
}

// TestSoftLockAcrossReplicas: an object Ana prompts on one replica is locked for Ben on the
// other while she is on its image.
func TestSoftLockAcrossReplicas(t *testing.T) {
	e := newEnv(t, 0)
	ctx := context.Background()
	r := e.room(ben)
	a, b := e.replicas(&clock{t: time.Now()})
	leave := a.Connect(r.ID, ana, &e.files[0])
	if _, _, err := a.Prompt(ctx, e.api.Vision, r.ID, ana, prompt(e.files[0], "o1", 1)); err != nil {
		t.Fatal(err)
	}
	var locked *rooms.LockedError
	if _, _, err := b.Prompt(ctx, e.api.Vision, r.ID, ben, prompt(e.files[0], "o1", 2)); !errors.As(err, &locked) || locked.Holder != "Ana" {
		t.Fatalf("Ben on B prompting Ana's object: %v, want locked by Ana", err)
	}
	leave()
	if _, _, err := b.Prompt(ctx, e.api.Vision, r.ID, ben, prompt(e.files[0], "o1", 2)); err != nil {
		t.Fatalf("Ben on B after Ana left her image on A: %v", err)
	}
}

// TestNextAcrossReplicas: members asking two replicas at once for the next image each get
// another one, and an image one holds is not handed out by the other replica.
func TestNextAcrossReplicas(t *testing.T) {
	e := newEnv(t, 0)
	ctx := context.Background()
	r := e.room(ben, cy)
	a, b := e.replicas(&clock{t: time.Now()})
	for round := range 5 {
		got := map[int64]string{}
		var mu sync.Mutex
		var wg sync.WaitGroup
		for i, u := range []rooms.User{ana, ben, cy} {
			svc := a.Service
			if i%2 == 1 {
				svc = b.Service
			}
			wg.Go(func() {
				id, ok, err := svc.Next(ctx, r.ID, u, 0)
				if err != nil || !ok {
					t.Errorf("round %d, %s: next %v, %v", round, u.Name, ok, err)
					return
				}
				mu.Lock()
				defer mu.Unlock()
				if other, dup := got[id]; dup {
					t.Errorf("round %d: %s and %s both got image %d", round, other, u.Name, id)
				}
				got[id] = u.Name
			})
		}
		wg.Wait()
	}
}

// TestDeadReplicasMembersLeave: when a replica stops renewing (it died), the next renewal on
// another replica forgets its connections and tells the room that their members left; the
// renewing replica's own members stay.
func TestDeadReplicasMembersLeave(t *testing.T) {
	e := newEnv(t, 0)
	r := e.room(ben)
	c := &clock{t: time.Now()}
	a, b := e.replicas(c)
	defer a.Connect(r.ID, ana, &e.files[0])()
	b.Connect(r.ID, ben, &e.files[1]) // B dies with it open
	sub := a.hub.Subscribe(rooms.Key(r.ID))
	defer sub.Close()

	c.add(rooms.PresenceTTL / 3)
	if err := a.RenewPresence(context.Background()); err != nil {
		t.Fatal(err)
	}
	c.add(rooms.PresenceTTL)
	if err := a.RenewPresence(context.Background()); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-sub.C():
		var p rooms.Present
		if err := json.Unmarshal(m.Data, &p); err != nil {
			t.Fatal(err)
		}
		if m.Type != "member.presence" || p.UserID != ben.ID || p.Present {
			t.Errorf("after B's connections lapsed A published %s %+v, want Ben's leave", m.Type, p)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no presence event after B's connections lapsed")
	}
	snap, err := a.State(context.Background(), r.ID, ana, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Presence) != 1 || snap.Presence[0].UserID != ana.ID {
		t.Errorf("A's snapshot after B died = %+v, want Ana alone (renewed by A)", snap.Presence)
	}
}
