package hub

import (
	"testing"
	"time"
)

// TestIdleRoomsAreFreed checks that a room with no subscribers is dropped after IdleTTL of
// inactivity, that a room with a subscriber is kept, and that a freed room keeps its numbering.
func TestIdleRoomsAreFreed(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	h := New(Options{IdleTTL: time.Minute, Now: func() time.Time { return now }})
	for range 3 {
		if _, err := h.Publish("idle", "n", 1); err != nil {
			t.Fatal(err)
		}
	}
	busy := h.Subscribe("busy")
	now = now.Add(2 * time.Minute)
	h.Publish("other", "n", 1) // any activity gives the sweep a chance to run

	h.mu.Lock()
	_, idleKept := h.rooms["idle"]
	_, busyKept := h.rooms["busy"]
	h.mu.Unlock()
	if idleKept {
		t.Error("idle room was not freed")
	}
	if !busyKept {
		t.Error("room with a subscriber was freed")
	}

	if ms, ok := h.Since("idle", 3); !ok || len(ms) != 0 {
		t.Errorf("Since(idle, 3) after free = %v, %v; want none, true (client is up to date)", ms, ok)
	}
	if _, ok := h.Since("idle", 1); ok {
		t.Error("Since(idle, 1) after free is ok; the history is gone, want a snapshot")
	}
	m, err := h.Publish("idle", "n", 2)
	if err != nil {
		t.Fatal(err)
	}
	if m.Seq != 4 {
		t.Errorf("revived room continues at seq %d, want 4", m.Seq)
	}
	busy.Close()
}
