package hub_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/lassoteam/lasso/hub"
)

// drain reads exactly n messages that are already buffered on sub.
func drain(t *testing.T, sub *hub.Subscription, n int) []hub.Message {
	t.Helper()
	out := make([]hub.Message, 0, n)
	for range n {
		select {
		case m, ok := <-sub.C():
			if !ok {
				t.Fatalf("channel closed after %d of %d messages (err %v)", len(out), n, sub.Err())
			}
			out = append(out, m)
		default:
			t.Fatalf("only %d of %d messages buffered", len(out), n)
		}
	}
	return out
}

func seqs(ms []hub.Message) []uint64 {
	out := make([]uint64, len(ms))
	for i, m := range ms {
		out[i] = m.Seq
	}
	return out
}

func mustPublish(t *testing.T, h *hub.Hub, room, typ string, data any) hub.Message {
	t.Helper()
	m, err := h.Publish(room, typ, data)
	if err != nil {
		t.Fatalf("Publish(%q, %q): %v", room, typ, err)
	}
	return m
}

func TestMessageWireFormat(t *testing.T) {
	h := hub.New(hub.Options{})
	m := mustPublish(t, h, "img-1", "job.status", map[string]any{"status": "queued"})
	got, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"type":"job.status","room":"img-1","seq":1,"data":{"status":"queued"}}`
	if string(got) != want {
		t.Errorf("wire form\n got %s\nwant %s", got, want)
	}
}

func TestFanOutInOrderToEverySubscriber(t *testing.T) {
	h := hub.New(hub.Options{})
	a, b := h.Subscribe("r"), h.Subscribe("r")
	var want []hub.Message
	for i := range 10 {
		want = append(want, mustPublish(t, h, "r", "n", i))
	}
	for name, sub := range map[string]*hub.Subscription{"a": a, "b": b} {
		if diff := cmp.Diff(want, drain(t, sub, 10)); diff != "" {
			t.Errorf("subscriber %s (-want +got):\n%s", name, diff)
		}
	}
	if diff := cmp.Diff([]uint64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, seqs(want)); diff != "" {
		t.Errorf("sequence numbers (-want +got):\n%s", diff)
	}
}

func TestRoomsAreIsolated(t *testing.T) {
	h := hub.New(hub.Options{})
	x, y := h.Subscribe("x"), h.Subscribe("y")
	mustPublish(t, h, "x", "n", 1)
	mustPublish(t, h, "x", "n", 2)
	my := mustPublish(t, h, "y", "n", 3)
	if my.Seq != 1 {
		t.Errorf("first message of room y has seq %d, want 1: sequences are per room", my.Seq)
	}
	if got := seqs(drain(t, x, 2)); !cmp.Equal(got, []uint64{1, 2}) {
		t.Errorf("room x got seqs %v", got)
	}
	if got := drain(t, y, 1); got[0].Room != "y" || string(got[0].Data) != "3" {
		t.Errorf("room y got %+v", got)
	}
	select {
	case m := <-y.C():
		t.Errorf("room y received a message of room %q", m.Room)
	default:
	}
}

func TestSlowSubscriberIsDroppedOthersGetEverything(t *testing.T) {
	h := hub.New(hub.Options{Buffer: 4})
	slow := h.Subscribe("r")
	fast := h.Subscribe("r")
	var got []hub.Message
	for i := range 20 {
		mustPublish(t, h, "r", "n", i)
		got = append(got, drain(t, fast, 1)...) // fast keeps up
	}
	if want := 20; len(got) != want {
		t.Fatalf("fast subscriber got %d messages, want %d", len(got), want)
	}
	select {
	case <-slow.Done():
	default:
		t.Fatal("slow subscriber not dropped")
	}
	if !errors.Is(slow.Err(), hub.ErrSlow) {
		t.Errorf("slow.Err() = %v, want ErrSlow", slow.Err())
	}
	// What was buffered before the drop is still readable, then the channel is closed.
	var n int
	for range slow.C() {
		n++
	}
	if n != 4 {
		t.Errorf("slow subscriber could read %d buffered messages, want 4", n)
	}
	if fast.Err() != nil {
		t.Errorf("fast.Err() = %v, want nil", fast.Err())
	}
}

func TestSinceReplaysMissedMessages(t *testing.T) {
	h := hub.New(hub.Options{History: 5})
	if ms, ok := h.Since("r", 0); !ok || len(ms) != 0 {
		t.Errorf("Since on an empty room = %v, %v; want none, true", ms, ok)
	}
	for i := range 8 {
		mustPublish(t, h, "r", "n", i)
	}
	tests := []struct {
		seq    uint64
		want   []uint64
		wantOK bool
	}{
		{seq: 8, want: []uint64{}, wantOK: true},
		{seq: 6, want: []uint64{7, 8}, wantOK: true},
		{seq: 3, want: []uint64{4, 5, 6, 7, 8}, wantOK: true}, // exactly the history
		{seq: 2, wantOK: false},                               // seq 3 has been overwritten
		{seq: 0, wantOK: false},
		{seq: 9, wantOK: false}, // from the future: not this room's numbering
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.seq), func(t *testing.T) {
			ms, ok := h.Since("r", tt.seq)
			if ok != tt.wantOK {
				t.Fatalf("ok = %v, want %v", ok, tt.wantOK)
			}
			if ok && !cmp.Equal(seqs(ms), tt.want) {
				t.Errorf("seqs = %v, want %v", seqs(ms), tt.want)
			}
		})
	}
	if got := h.LastSeq("r"); got != 8 {
		t.Errorf("LastSeq = %d, want 8", got)
	}
}

func TestResumeHasNoGapAndNoDuplicate(t *testing.T) {
	h := hub.New(hub.Options{})
	for i := range 5 {
		mustPublish(t, h, "r", "n", i)
	}
	sub, missed, ok := h.Resume("r", 2, hub.SubscribeOptions{User: "ana"})
	if !ok {
		t.Fatal("Resume not ok")
	}
	mustPublish(t, h, "r", "n", 5)
	all := append(missed, drain(t, sub, 1)...)
	if got, want := seqs(all), []uint64{3, 4, 5, 6}; !cmp.Equal(got, want) {
		t.Errorf("replay then live = %v, want %v", got, want)
	}
	if sub.User() != "ana" || sub.Room() != "r" {
		t.Errorf("User, Room = %q, %q", sub.User(), sub.Room())
	}

	if _, _, ok := h.Resume("r", 100, hub.SubscribeOptions{}); ok {
		t.Error("Resume from a seq the room never issued is ok; want a snapshot")
	}
}

// TestResumeIsAtomicUnderConcurrentPublish checks that replay plus live messages are exactly
// the room's sequence, however publishes interleave with the subscription.
func TestResumeIsAtomicUnderConcurrentPublish(t *testing.T) {
	const total = 2000
	h := hub.New(hub.Options{History: total, Buffer: total})
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := range total {
			mustPublish(t, h, "r", "n", i)
		}
	})
	sub, missed, ok := h.Resume("r", 0, hub.SubscribeOptions{})
	wg.Wait()
	if !ok {
		t.Fatal("Resume not ok")
	}
	live := drain(t, sub, total-len(missed))
	got := seqs(append(missed, live...))
	for i, s := range got {
		if s != uint64(i+1) {
			t.Fatalf("message %d has seq %d (replayed %d): gap or duplicate", i, s, len(missed))
		}
	}
}

func TestCloseEndsSubscriptions(t *testing.T) {
	h := hub.New(hub.Options{})
	a, b := h.Subscribe("r"), h.Subscribe("r")
	a.Close()
	a.Close() // idempotent
	if !errors.Is(a.Err(), hub.ErrUnsubscribed) {
		t.Errorf("a.Err() = %v, want ErrUnsubscribed", a.Err())
	}
	mustPublish(t, h, "r", "n", 1) // must not panic on a's closed channel
	h.Close()
	<-b.Done()
	if !errors.Is(b.Err(), hub.ErrClosed) {
		t.Errorf("b.Err() = %v, want ErrClosed", b.Err())
	}
	if _, err := h.Publish("r", "n", 2); !errors.Is(err, hub.ErrClosed) {
		t.Errorf("Publish after Close: %v, want ErrClosed", err)
	}
	c := h.Subscribe("r")
	if _, open := <-c.C(); open || !errors.Is(c.Err(), hub.ErrClosed) {
		t.Errorf("Subscribe after Close: open=%v err=%v", open, c.Err())
	}
	b.Close() // after the hub ended it: no panic
}

func TestPublishUnmarshallable(t *testing.T) {
	h := hub.New(hub.Options{})
	if _, err := h.Publish("r", "n", make(chan int)); err == nil {
		t.Error("Publish(chan) succeeded")
	}
	if got := h.LastSeq("r"); got != 0 {
		t.Errorf("a failed publish used seq: LastSeq = %d", got)
	}
}

// TestConcurrentPublishSubscribe is for -race: many publishers and subscribers on a few rooms,
// subscribers joining and leaving. Each subscriber must see strictly increasing sequence numbers.
func TestConcurrentPublishSubscribe(t *testing.T) {
	h := hub.New(hub.Options{Buffer: 8, History: 16})
	rooms := []string{"a", "b", "c"}
	var pubs, subs sync.WaitGroup
	for p := range 6 {
		pubs.Go(func() {
			for i := range 300 {
				if _, err := h.Publish(rooms[(p+i)%len(rooms)], "n", i); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	for s := range 12 {
		subs.Go(func() {
			for range 20 {
				room := rooms[s%len(rooms)]
				sub, _, _ := h.Resume(room, h.LastSeq(room), hub.SubscribeOptions{User: fmt.Sprint(s)})
				var last uint64
				for i := 0; i < 10; i++ {
					m, ok := <-sub.C()
					if !ok {
						break // dropped as slow, or publishers are done
					}
					if m.Room != room || m.Seq <= last {
						t.Errorf("room %s: got room %s seq %d after %d", room, m.Room, m.Seq, last)
					}
					last = m.Seq
				}
				h.Since(room, last)
				sub.Close()
			}
		})
	}
	pubs.Wait()
	h.Close() // ends the subscribers still waiting for messages that will not come
	subs.Wait()
}

func TestKickEndsOnlyThatUsersSubscriptions(t *testing.T) {
	h := hub.New(hub.Options{})
	defer h.Close()
	ana := h.SubscribeWith("room:1", hub.SubscribeOptions{User: "ana"})
	ana2 := h.SubscribeWith("room:1", hub.SubscribeOptions{User: "ana"})
	ben := h.SubscribeWith("room:1", hub.SubscribeOptions{User: "ben"})
	elsewhere := h.SubscribeWith("room:2", hub.SubscribeOptions{User: "ana"})

	h.Kick("room:1", "ana")
	for _, s := range []*hub.Subscription{ana, ana2} {
		select {
		case <-s.Done():
		case <-time.After(time.Second):
			t.Fatal("a kicked subscription is still live")
		}
		if !errors.Is(s.Err(), hub.ErrRemoved) {
			t.Errorf("Err = %v, want ErrRemoved", s.Err())
		}
	}
	if ben.Err() != nil || elsewhere.Err() != nil {
		t.Errorf("other subscriptions ended: %v, %v", ben.Err(), elsewhere.Err())
	}
	if _, err := h.Publish("room:1", "x", 1); err != nil {
		t.Fatal(err)
	}
	if m := <-ben.C(); m.Type != "x" {
		t.Errorf("ben got %+v", m)
	}
	h.Kick("nowhere", "ana") // an unknown room is not an error
}

// TestSeqBaseSeparatesRuns: with the clock as base, a client that resumes with a number from
// a previous run is sent to a fresh snapshot, never handed this run's messages as if missed.
func TestSeqBaseSeparatesRuns(t *testing.T) {
	before := hub.New(hub.Options{SeqBase: 1000})
	var last uint64
	for range 3 {
		m, err := before.Publish("r", "x", 1)
		if err != nil {
			t.Fatal(err)
		}
		last = m.Seq
	}
	before.Close()
	if last != 1003 {
		t.Fatalf("last seq %d, want 1003", last)
	}
	after := hub.New(hub.Options{SeqBase: 5000}) // restarted later
	defer after.Close()
	for range 3 {
		if _, err := after.Publish("r", "x", 2); err != nil {
			t.Fatal(err)
		}
	}
	if _, ok := after.Since("r", last); ok {
		t.Error("a number from the previous run was resumed instead of asking for a snapshot")
	}
}
