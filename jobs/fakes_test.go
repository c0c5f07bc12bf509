package jobs_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/lassoteam/lasso/cdf"
	"github.com/lassoteam/lasso/hub"
	"github.com/lassoteam/lasso/jobs"
)

// t0 is when every fake clock starts; test times are given as offsets from it.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// fakeClock is a jobs.Clock whose time moves only when the test says so.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers map[*fakeTimer]struct{}
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: t0, timers: make(map[*fakeTimer]struct{})}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// elapsed is the fake time since t0.
func (c *fakeClock) elapsed() time.Duration { return c.Now().Sub(t0) }

func (c *fakeClock) NewTimer(d time.Duration) jobs.Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{c: c, at: c.now.Add(d), ch: make(chan time.Time, 1)}
	c.timers[t] = struct{}{}
	return t
}

// fireNext moves the time to the earliest pending timer and fires every timer due then. It
// reports false when no timer is pending.
func (c *fakeClock) fireNext() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	var next time.Time
	for t := range c.timers {
		if next.IsZero() || t.at.Before(next) {
			next = t.at
		}
	}
	if next.IsZero() {
		return false
	}
	if next.After(c.now) {
		c.now = next
	}
	for t := range c.timers {
		if !t.at.After(c.now) {
			delete(c.timers, t)
			t.ch <- c.now
		}
	}
	return true
}

type fakeTimer struct {
	c  *fakeClock
	at time.Time
	ch chan time.Time
}

func (t *fakeTimer) C() <-chan time.Time { return t.ch }

func (t *fakeTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	_, pending := t.c.timers[t]
	delete(t.c.timers, t)
	return pending
}

// settle lets the bubble's goroutines run until they all wait, then moves the fake clock to the
// next timer, again and again, until no timer is pending: every follow has then ended or waits
// for something other than time (a gate in a fake API).
func settle(t *testing.T, c *fakeClock) {
	t.Helper()
	for range 10_000 {
		synctest.Wait()
		if !c.fireNext() {
			return
		}
	}
	t.Fatal("follows did not settle after 10000 timers")
}

// runUntil is settle, but stops before the first timer due after d (since t0), so that
// deadlines far ahead do not fire while a test holds a fake API's answer back.
func runUntil(t *testing.T, c *fakeClock, d time.Duration) {
	t.Helper()
	for range 10_000 {
		synctest.Wait()
		if !c.nextDueBy(t0.Add(d)) || !c.fireNext() {
			return
		}
	}
	t.Fatal("follows did not settle after 10000 timers")
}

// advanceTo is runUntil, then moves the clock on to d (since t0) even when no timer is due
// then: for spans nothing in the Manager waits out with a timer, such as how long it keeps the
// state of an ended job.
func advanceTo(t *testing.T, c *fakeClock, d time.Duration) {
	t.Helper()
	runUntil(t, c, d)
	c.mu.Lock()
	if at := t0.Add(d); at.After(c.now) {
		c.now = at
	}
	c.mu.Unlock()
	synctest.Wait()
}

// pending is the number of timers not yet fired or stopped.
func (c *fakeClock) pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.timers)
}

// nextDueBy reports whether a timer is pending at or before at.
func (c *fakeClock) nextDueBy(at time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for t := range c.timers {
		if !t.at.After(at) {
			return true
		}
	}
	return false
}

// recorder is a jobs.Publisher that keeps what it was given.
type recorder struct {
	mu     sync.Mutex
	events []published
}

type published struct {
	Room, Type string
	Event      jobs.Event
}

func (r *recorder) Publish(room, typ string, data any) (hub.Message, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, published{room, typ, data.(jobs.Event)})
	return hub.Message{Type: typ, Room: room, Seq: uint64(len(r.events))}, nil
}

// all returns the events published so far (checking they were all job.status).
func (r *recorder) all(t *testing.T) []jobs.Event {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]jobs.Event, len(r.events))
	for i, p := range r.events {
		if p.Type != jobs.EventType {
			t.Errorf("event %d has type %q, want %q", i, p.Type, jobs.EventType)
		}
		out[i] = p.Event
	}
	return out
}

// reply is one scripted answer of the fake API.
type reply struct {
	job *cdf.SegmentJob
	err error
}

// call is one request the fake API received, at a fake time.
type call struct {
	At    time.Duration
	JobID int64 // 0 for a POST
}

// fakeAPI is a scripted jobs.SegmentAPI: it answers the n-th POST with post(n) and the n-th
// GET with get(n, elapsed), and records every call. It is one user's client: jobs it did not
// start are an error.
type fakeAPI struct {
	clock *fakeClock
	post  func(n int) reply
	get   func(n int, jobID int64, elapsed time.Duration) reply

	// postGate and getGate, when set, hold an answer until closed, ignoring ctx: the answer of
	// a request that was already on its way when the follow was cancelled.
	postGate, getGate chan struct{}
	// hangGets makes every GET wait until its context is cancelled, like a CDF that does not
	// answer.
	hangGets bool

	mu     sync.Mutex
	posts  []call
	gets   []call
	jobIDs map[int64]bool
}

func (a *fakeAPI) StartSegment(ctx context.Context, req cdf.SegmentRequest) (*cdf.SegmentJob, error) {
	a.mu.Lock()
	n := len(a.posts)
	a.posts = append(a.posts, call{At: a.clock.elapsed()})
	r := a.post(n)
	if r.job != nil {
		if a.jobIDs == nil {
			a.jobIDs = make(map[int64]bool)
		}
		a.jobIDs[r.job.JobID] = true
	}
	a.mu.Unlock()
	if a.postGate != nil {
		<-a.postGate
	}
	return r.job, r.err
}

func (a *fakeAPI) SegmentJob(ctx context.Context, jobID int64) (*cdf.SegmentJob, error) {
	a.mu.Lock()
	n := len(a.gets)
	a.gets = append(a.gets, call{At: a.clock.elapsed(), JobID: jobID})
	if !a.jobIDs[jobID] {
		a.mu.Unlock()
		return nil, &cdf.APIError{Status: 400, Message: fmt.Sprintf("job %d is not this user's", jobID)}
	}
	var r reply
	if a.get != nil {
		r = a.get(n, jobID, a.clock.elapsed())
	}
	a.mu.Unlock()
	if a.getGate != nil {
		<-a.getGate
	}
	if a.hangGets {
		<-ctx.Done()
		return nil, fmt.Errorf("get segment job: %w", ctx.Err())
	}
	return r.job, r.err
}

func (a *fakeAPI) getTimes() []time.Duration {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]time.Duration, len(a.gets))
	for i, c := range a.gets {
		out[i] = c.At
	}
	return out
}

func (a *fakeAPI) postTimes() []time.Duration {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]time.Duration, len(a.posts))
	for i, c := range a.posts {
		out[i] = c.At
	}
	return out
}

// job builds a SegmentJob answer.
func job(id int64, status cdf.JobStatus) *cdf.SegmentJob {
	return &cdf.SegmentJob{JobID: id, Status: status}
}

func ok(j *cdf.SegmentJob) reply { return reply{job: j} }

func fail(status int, msg string) reply {
	return reply{err: &cdf.APIError{Status: status, Message: msg, Op: "segment"}}
}

// ms is a shorthand for fractional milliseconds.
func ms(x float64) time.Duration { return time.Duration(x * float64(time.Millisecond)) }
