package hub_test

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/lassoteam/lasso/hub"
)

// memLog is a Log shared by several hubs in one test, standing in for the database: Append
// tells every hub, from a goroutine of its own, as a LISTEN connection would.
type memLog struct {
	mu     sync.Mutex
	events map[string][]hub.Message
	hubs   []*hub.Hub
	wg     sync.WaitGroup
}

func newMemLog() *memLog { return &memLog{events: map[string][]hub.Message{}} }

func (l *memLog) Append(_ context.Context, room, typ string, data json.RawMessage) (uint64, error) {
	l.mu.Lock()
	seq := uint64(len(l.events[room]) + 1)
	l.events[room] = append(l.events[room], hub.Message{Type: typ, Room: room, Seq: seq, Data: data})
	hubs := append([]*hub.Hub(nil), l.hubs...)
	l.mu.Unlock()
	for _, h := range hubs {
		l.wg.Go(func() { h.Notify(room, seq) })
	}
	return seq, nil
}

func (l *memLog) Since(_ context.Context, room string, seq uint64, limit int) ([]hub.Message, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	all := l.events[room]
	if seq >= uint64(len(all)) {
		return nil, nil
	}
	out := all[seq:]
	if len(out) > limit {
		out = out[:limit]
	}
	return append([]hub.Message(nil), out...), nil
}

func (l *memLog) Last(_ context.Context, room string) (uint64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return uint64(len(l.events[room])), nil
}

func (l *memLog) replica() *hub.Hub {
	h := hub.New(hub.Options{Log: l, Buffer: 1024})
	l.mu.Lock()
	l.hubs = append(l.hubs, h)
	l.mu.Unlock()
	return h
}

// collect reads n messages from sub and checks they are the room's events from first on, in
// order, each once.
func collect(t *testing.T, who string, sub *hub.Subscription, first uint64, n int) []hub.Message {
	t.Helper()
	var got []hub.Message
	timeout := time.After(10 * time.Second)
	for len(got) < n {
		select {
		case m, ok := <-sub.C():
			if !ok {
				t.Fatalf("%s: subscription ended after %d messages: %v", who, len(got), sub.Err())
			}
			if want := first + uint64(len(got)); m.Seq != want {
				t.Fatalf("%s: message %d has seq %d, want %d", who, len(got), m.Seq, want)
			}
			got = append(got, m)
		case <-timeout:
			t.Fatalf("%s: %d of %d messages after 10 s", who, len(got), n)
		}
	}
	select {
	case m := <-sub.C():
		t.Fatalf("%s: an extra message %+v", who, m)
	case <-time.After(50 * time.Millisecond):
	}
	return got
}

// TestLogAcrossReplicas: two hubs on one log, publishing at once, give each of their
// subscribers every event of the room in one order, once, whichever hub it was published on.
func TestLogAcrossReplicas(t *testing.T) {
	log := newMemLog()
	a, b := log.replica(), log.replica()
	subA := a.Subscribe("room:r")
	subB := b.Subscribe("room:r")
	var wg sync.WaitGroup
	for i, h := range []*hub.Hub{a, b} {
		wg.Go(func() {
			for j := range 100 {
				if _, err := h.Publish("room:r", "object.updated", map[string]any{"replica": i, "n": j}); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	gotA := collect(t, "subscriber on A", subA, 1, 200)
	gotB := collect(t, "subscriber on B", subB, 1, 200)
	for i := range gotA {
		if string(gotA[i].Data) != string(gotB[i].Data) {
			t.Fatalf("event %d: A saw %s, B saw %s", i+1, gotA[i].Data, gotB[i].Data)
		}
	}
	log.wg.Wait()
}

// TestLogResumeOnAnotherReplica: a client that saw events on A and reconnects to B gets what
// it missed from the log, then the live events, with neither a gap nor a repeat.
func TestLogResumeOnAnotherReplica(t *testing.T) {
	log := newMemLog()
	a, b := log.replica(), log.replica()
	subA := a.Subscribe("room:r")
	for i := range 10 {
		a.Publish("room:r", "e", i)
	}
	seen := collect(t, "on A", subA, 1, 10)
	subA.Close()
	for i := 10; i < 15; i++ {
		a.Publish("room:r", "e", i)
	}
	sub, missed, ok := b.Resume("room:r", seen[len(seen)-1].Seq, hub.SubscribeOptions{User: "u"})
	if !ok {
		t.Fatal("Resume on B: not ok; want the missed events from the log")
	}
	if len(missed) != 5 || missed[0].Seq != 11 || missed[4].Seq != 15 {
		t.Fatalf("missed = %v; want seq 11..15", seqs(missed))
	}
	for i := 15; i < 20; i++ {
		a.Publish("room:r", "e", i)
	}
	collect(t, "on B after resuming", sub, 16, 5)
	if got := b.LastSeq("room:r"); got != 20 {
		t.Errorf("LastSeq on B = %d, want 20", got)
	}
	// From the future, or from before what the log holds: a snapshot is needed.
	if _, _, ok := b.Resume("room:r", 99, hub.SubscribeOptions{}); ok {
		t.Error("Resume from seq 99 of a room at 20: ok, want a snapshot")
	}
	log.wg.Wait()
}

// TestKickReachesEveryReplica: a member removed on one replica loses their subscriptions on
// every replica, and the others' streams stay gapless (the kick is an event like any other).
func TestKickReachesEveryReplica(t *testing.T) {
	l := newMemLog()
	a, b := l.replica(), l.replica()
	defer a.Close()
	defer b.Close()
	anaOnB := b.SubscribeWith("room:1", hub.SubscribeOptions{User: "ana"})
	anaOnA := a.SubscribeWith("room:1", hub.SubscribeOptions{User: "ana"})
	benOnB := b.SubscribeWith("room:1", hub.SubscribeOptions{User: "ben"})

	if err := a.Kick("room:1", "ana"); err != nil {
		t.Fatal(err)
	}
	for who, s := range map[string]*hub.Subscription{"ana on A": anaOnA, "ana on B": anaOnB} {
		select {
		case <-s.Done():
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: still subscribed after the kick", who)
		}
		if !errors.Is(s.Err(), hub.ErrRemoved) {
			t.Errorf("%s: Err = %v, want ErrRemoved", who, s.Err())
		}
	}
	if _, err := a.Publish("room:1", "x", 1); err != nil {
		t.Fatal(err)
	}
	got := collect(t, "ben on B", benOnB, 1, 2)
	if got[0].Type != hub.KickType || got[1].Type != "x" {
		t.Errorf("ben got %s, %s; want %s, x", got[0].Type, got[1].Type, hub.KickType)
	}
	if benOnB.Err() != nil {
		t.Errorf("ben's subscription ended: %v", benOnB.Err())
	}
	l.wg.Wait()
}
