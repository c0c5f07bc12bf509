package hub_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/lassoteam/lasso/hub"
)

// TestStats: Stats counts rooms, live subscribers, messages delivered and subscribers dropped
// for being slow; a subscription that ends leaves the count.
func TestStats(t *testing.T) {
	h := hub.New(hub.Options{Buffer: 1})
	fast := h.Subscribe("room:a")
	slow := h.Subscribe("room:a")
	other := h.Subscribe("room:b")
	if got, want := h.Stats(), (hub.Stats{Rooms: 2, Subscribers: 3}); got != want {
		t.Errorf("after subscribing: %+v, want %+v", got, want)
	}
	if _, err := h.Publish("room:a", "x", 1); err != nil {
		t.Fatal(err)
	}
	<-fast.C() // fast keeps up; slow does not read
	if _, err := h.Publish("room:a", "x", 2); err != nil {
		t.Fatal(err)
	}
	// First message: 2 delivered. Second: fast gets it, slow's buffer is full and it is dropped.
	want := hub.Stats{Rooms: 2, Subscribers: 2, Delivered: 3, DroppedSlow: 1}
	if diff := cmp.Diff(want, h.Stats()); diff != "" {
		t.Errorf("after publishing (-want +got):\n%s", diff)
	}
	if slow.Err() != hub.ErrSlow {
		t.Errorf("slow subscriber: %v, want ErrSlow", slow.Err())
	}
	other.Close()
	other.Close() // twice counts once
	fast.Close()
	if got := h.Stats().Subscribers; got != 0 {
		t.Errorf("after closing every subscription: %d subscribers", got)
	}
}
