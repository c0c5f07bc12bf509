package jobs_test

import (
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/lassoteam/lasso/cdf"
	"github.com/lassoteam/lasso/hub"
	"github.com/lassoteam/lasso/jobs"
)

// stuckPublisher is a recorder whose Publish hangs for one object's events until released,
// like a store write that does not come back.
type stuckPublisher struct {
	recorder
	object  string
	entered chan struct{}
	release chan struct{}
	once    sync.Once
}

func (p *stuckPublisher) Publish(room, typ string, data any) (hub.Message, error) {
	if e, ok := data.(jobs.Event); ok && e.ObjectID == p.object {
		select {
		case p.entered <- struct{}{}:
		default:
		}
		<-p.release
	}
	return p.recorder.Publish(room, typ, data)
}

func (p *stuckPublisher) unstick() { p.once.Do(func() { close(p.release) }) }

// within fails the test if f has not returned after a generous real time: what it checks is
// that f does not wait for a Publisher that never returns, not how fast it is.
func within(t *testing.T, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); f() }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s waited for the stuck Publish", what)
	}
}

// eventually waits, in real time, until cond holds.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after 10 s", what)
		}
	}
}

func (r *recorder) count(object string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, p := range r.events {
		if p.Event.ObjectID == object {
			n++
		}
	}
	return n
}

// TestStuckPublisherStallsNothingElse: while the Publisher hangs on one object's event,
// Submit, Snapshot and the events of every other object go on, and so does a newer prompt for
// the stuck object; once it is released, the stuck object's events reach the Publisher in
// order, and of the superseded job only the event that was already in the Publisher's hands.
// (Not in a synctest bubble: before the fix the stall was a mutex, which a bubble cannot tell
// from work.)
func TestStuckPublisherStallsNothingElse(t *testing.T) {
	c := newFakeClock()
	pub := &stuckPublisher{object: "obj-1", entered: make(chan struct{}, 1), release: make(chan struct{})}
	m := jobs.New(pub, jobs.Options{Clock: c, Jitter: func() float64 { return 0.5 }})
	defer m.Close()
	defer pub.unstick()

	v1 := &fakeAPI{clock: c, post: posts(ok(job(1, cdf.JobQueued))), get: script(ok(job(1, cdf.JobRunning)))}
	mustSubmit(t, m, v1, task(1))
	select {
	case <-pub.entered: // v1's queued event is stuck in Publish
	case <-time.After(10 * time.Second):
		t.Fatal("the first event never reached the Publisher")
	}
	submit := func(what string, api jobs.SegmentAPI, tk jobs.Task) {
		t.Helper()
		var err error
		within(t, what, func() { err = m.Submit(api, tk) })
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	within(t, "Snapshot of the stuck object's room", func() { m.Snapshot("img-42") })
	other := task(1)
	other.ObjectID = "obj-2"
	otherRoom := task(1)
	otherRoom.Room, otherRoom.ObjectID = "img-43", "obj-3"
	for _, tk := range []jobs.Task{other, otherRoom} {
		api := &fakeAPI{clock: c, post: posts(ok(completedJob(3)))}
		submit("Submit of another object", api, tk)
		eventually(t, tk.ObjectID+"'s event", func() bool { return pub.count(tk.ObjectID) == 1 })
	}

	// v1 goes on polling: its running event waits behind the stuck one, until v2 replaces it.
	eventually(t, "v1's poll timer", func() bool { return c.pending() == 2 }) // and its deadline's
	c.fireNext()
	eventually(t, "v1's first poll", func() bool { return len(v1.getTimes()) == 1 })
	v2 := &fakeAPI{clock: c, post: posts(ok(job(2, cdf.JobQueued))), get: script(ok(job(2, cdf.JobRunning)))}
	submit("Submit of a newer prompt for the stuck object", v2, task(2))
	if n := pub.count("obj-1"); n != 0 {
		t.Fatalf("%d events of the stuck object were published while it was stuck", n)
	}

	pub.unstick()
	eventually(t, "v2's event", func() bool { return pub.count("obj-1") == 2 })
	m.Close() // waits for every hand-off, so that a wrong late event would be in by now
	var got []jobs.Event
	for _, e := range pub.all(t) {
		if e.ObjectID == "obj-1" {
			got = append(got, e)
		}
	}
	diffEvents(t, []jobs.Event{ev(1, 1, jobs.StatusQueued, 0), ev(2, 2, jobs.StatusQueued, 0)}, got)
}

// TestCloseHandsOverWhatWasPublished: Close publishes nothing new, but an event published
// before it (here one waiting behind a slow Publish) still reaches the Publisher before Close
// returns, as when publishing was synchronous: a room's store must not miss that a job was
// started, or it is not resumed after the restart.
func TestCloseHandsOverWhatWasPublished(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newFakeClock()
		pub := &stuckPublisher{object: "obj-1", entered: make(chan struct{}, 1), release: make(chan struct{})}
		m := jobs.New(pub, jobs.Options{Clock: c})
		api := &fakeAPI{clock: c, post: posts(ok(job(1, cdf.JobQueued))), get: script(ok(job(1, cdf.JobRunning)))}
		mustSubmit(t, m, api, task(1))
		synctest.Wait() // queued is inside Publish
		c.fireNext()    // the first poll: running waits behind it
		synctest.Wait()

		closed := make(chan struct{})
		go func() { defer close(closed); m.Close() }()
		synctest.Wait()
		pub.unstick()
		<-closed
		diffEvents(t, []jobs.Event{ev(1, 1, jobs.StatusQueued, 0), ev(1, 1, jobs.StatusRunning, 100)}, pub.all(t))
	})
}
