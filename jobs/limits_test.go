package jobs_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/lassoteam/lasso/cdf"
	"github.com/lassoteam/lasso/jobs"
)

// crowded is the documented message of a waiting prompt pushed out by newer ones.
const crowded = "Too many prompts at once; the newest ones are kept"

// engine is a segment backend all users share, like a CDF project's vision quota or Lasso's
// engine: it runs one job at a time, first come first served, each for d. Jobs run to the end
// once started, whether or not anyone still follows them.
type engine struct {
	clock *fakeClock
	d     time.Duration

	mu   sync.Mutex
	jobs []engineJob // job id i+1
}

type engineJob struct {
	user               string
	posted, begin, end time.Duration
}

// api is user's client of the engine.
func (e *engine) api(user string) engineAPI { return engineAPI{e, user} }

type engineAPI struct {
	e    *engine
	user string
}

func (a engineAPI) StartSegment(context.Context, cdf.SegmentRequest) (*cdf.SegmentJob, error) {
	e := a.e
	e.mu.Lock()
	defer e.mu.Unlock()
	now := e.clock.elapsed()
	begin := now
	if n := len(e.jobs); n > 0 {
		begin = max(begin, e.jobs[n-1].end)
	}
	e.jobs = append(e.jobs, engineJob{user: a.user, posted: now, begin: begin, end: begin + e.d})
	return job(int64(len(e.jobs)), cdf.JobQueued), nil
}

func (a engineAPI) SegmentJob(_ context.Context, id int64) (*cdf.SegmentJob, error) {
	e := a.e
	e.mu.Lock()
	defer e.mu.Unlock()
	if id < 1 || int(id) > len(e.jobs) || e.jobs[id-1].user != a.user {
		return nil, &cdf.APIError{Status: 400, Message: fmt.Sprintf("job %d is not %s's", id, a.user)}
	}
	j, now := e.jobs[id-1], e.clock.elapsed()
	switch {
	case now >= j.end:
		return completedJob(id), nil
	case now >= j.begin:
		return job(id, cdf.JobRunning), nil
	}
	return job(id, cdf.JobQueued), nil
}

// started returns the jobs user started, in order.
func (e *engine) started(user string) []engineJob {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []engineJob
	for _, j := range e.jobs {
		if j.user == user {
			out = append(out, j)
		}
	}
	return out
}

// lastByObject is the last event published for each object.
func lastByObject(events []jobs.Event) map[string]jobs.Event {
	out := make(map[string]jobs.Event)
	for _, e := range events {
		out[e.ObjectID] = e
	}
	return out
}

// TestFloodDoesNotDelayOthers is the flood: ana sends 30 prompts a second for 100
// objects while bob sends one. bob's job starts the moment he submits it and finishes in about
// the time the shared engine needs for ana's few jobs in flight; only ana's newest prompts run,
// and those pushed out end as failed with a message that says why.
func TestFloodDoesNotDelayOthers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(jobs.Options{}) // the defaults: 4 in flight, 8 waiting, 10/s burst 20
		defer h.m.Close()
		e := &engine{clock: h.clock, d: 200 * time.Millisecond}

		anaTask := func(i int) jobs.Task {
			tk := task(1)
			tk.ObjectID, tk.UserID = fmt.Sprint("a-", i), "id-ana"
			return tk
		}
		var bobAt time.Duration
		for i := range 100 {
			at := time.Duration(i) * time.Second / 30
			advanceTo(t, h.clock, at)
			mustSubmit(t, h.m, e.api("ana"), anaTask(i))
			if i == 50 {
				bobAt = at
				bob := task(1)
				bob.Room, bob.User, bob.UserID = "img-7", "bob", "id-bob"
				mustSubmit(t, h.m, e.api("bob"), bob)
			}
		}
		settle(t, h.clock)

		// bob's job went to the engine at once and was done after at most ana's four in
		// flight and his own: 5 × 200 ms, and the poll that sees it.
		if b := e.started("bob"); len(b) != 1 || b[0].posted != bobAt {
			t.Fatalf("bob's jobs %+v, want one posted at %v", b, bobAt)
		}
		var bobDone *jobs.Event
		for _, ev := range h.rec.all(t) {
			if ev.User == "bob" && ev.Status == jobs.StatusDone {
				bobDone = &ev
			}
		}
		if bobDone == nil {
			t.Fatal("bob's job never finished")
		}
		if bobDone.ElapsedMS > 1500 {
			t.Errorf("bob's prompt took %d ms behind ana's flood, want at most 1500", bobDone.ElapsedMS)
		}

		// ana never had more than four jobs in the engine.
		started := e.started("ana")
		for i, j := range started {
			inFlight := 1
			for _, k := range started[:i] {
				if k.end > j.posted {
					inFlight++
				}
			}
			if inFlight > 4 {
				t.Errorf("ana's job %d started at %v with %d of her jobs in the engine, want at most 4", i+1, j.posted, inFlight)
				break
			}
		}

		// Every prompt of ana's ended: done, or pushed out with the message; her newest eight
		// (waiting when the flood stopped) all ran.
		last := lastByObject(h.rec.all(t))
		var doneN, crowdedN int
		for i := range 100 {
			ev, ok := last[fmt.Sprint("a-", i)]
			switch {
			case !ok:
				t.Errorf("a-%d: no event", i)
			case ev.Status == jobs.StatusDone:
				doneN++
			case ev.Status == jobs.StatusFailed && ev.Error == crowded && ev.Retryable && ev.JobID == 0:
				crowdedN++
				if i >= 92 {
					t.Errorf("a-%d, one of the newest eight, was pushed out", i)
				}
			default:
				t.Errorf("a-%d ended with %+v", i, ev)
			}
		}
		if doneN != len(started) || doneN+crowdedN != 100 || crowdedN == 0 {
			t.Errorf("ana: %d done, %d pushed out, %d jobs started; want every prompt accounted for and some pushed out", doneN, crowdedN, len(started))
		}
	})
}

// lasting is a client whose one job runs for d after its POST.
func lasting(c *fakeClock, id int64, d time.Duration) *fakeAPI {
	a := &fakeAPI{clock: c, post: posts(ok(job(id, cdf.JobQueued)))}
	a.get = func(_ int, id int64, elapsed time.Duration) reply { // called with a.mu held
		if elapsed-a.posts[0].At >= d {
			return ok(completedJob(id))
		}
		return ok(job(id, cdf.JobRunning))
	}
	return a
}

// TestUserQueue: beyond UserJobs a user's prompts wait; the newest waiting one starts first
// when a job ends; beyond UserQueue the oldest waiting one fails at once with the message; a
// newer prompt for a waiting object replaces it in the queue without a word and without
// taking a place.
func TestUserQueue(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(jobs.Options{UserJobs: 2, UserQueue: 3})
		defer h.m.Close()
		apis := map[string]*fakeAPI{}
		submit := func(object string, version int) {
			t.Helper()
			tk := task(version)
			tk.ObjectID = object
			key := fmt.Sprint(object, " v", version)
			apis[key] = lasting(h.clock, int64(len(apis)+1), time.Second)
			mustSubmit(t, h.m, apis[key], tk)
		}
		for _, o := range []string{"p0", "p1", "p2", "p3", "p4", "x"} {
			submit(o, 1)
		}
		submit("x", 2)
		synctest.Wait()
		// p2 was the oldest of four waiting when x v1 came.
		diffEvents(t, []jobs.Event{
			func() jobs.Event {
				e := failed(ev(1, 0, jobs.StatusFailed, 0), crowded, true)
				e.ObjectID = "p2"
				return e
			}(),
		}, failedEvents(h.rec.all(t)))
		settle(t, h.clock)

		// A job of 1 s is seen done at 1318.75 ms: then x v2 and p4 start, then p3.
		for key, want := range map[string][]time.Duration{
			"p0 v1": {0}, "p1 v1": {0}, "p2 v1": {}, "p3 v1": {ms(2637.5)}, "p4 v1": {ms(1318.75)},
			"x v1": {}, "x v2": {ms(1318.75)},
		} {
			diffTimes(t, key+" POST", want, apis[key].postTimes())
		}
		last := lastByObject(h.rec.all(t))
		for _, o := range []string{"p0", "p1", "p3", "p4", "x"} {
			if last[o].Status != jobs.StatusDone {
				t.Errorf("%s ended %s, want done", o, last[o].Status)
			}
		}
		for _, e := range h.rec.all(t) {
			if e.ObjectID == "x" && e.Version == 1 {
				t.Errorf("superseded waiting prompt published %+v", e)
			}
		}
	})
}

func failedEvents(events []jobs.Event) []jobs.Event {
	var out []jobs.Event
	for _, e := range events {
		if e.Status == jobs.StatusFailed {
			out = append(out, e)
		}
	}
	return out
}

// TestUserRateLimit: a user starts at most UserBurst jobs at once and UserRate a second after
// that, also when their jobs end at once; another user is not held back by it.
func TestUserRateLimit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(jobs.Options{UserJobs: 100, UserQueue: 100})
		defer h.m.Close()
		ana := &fakeAPI{clock: h.clock, post: func(n int) reply { return ok(completedJob(int64(n + 1))) }}
		for i := range 30 {
			tk := task(1)
			tk.ObjectID = fmt.Sprint("obj-", i)
			mustSubmit(t, h.m, ana, tk)
		}
		bob := &fakeAPI{clock: h.clock, post: posts(ok(completedJob(99)))}
		tk := task(1)
		tk.User = "bob"
		tk.Room = "img-7"
		mustSubmit(t, h.m, bob, tk)
		settle(t, h.clock)

		want := make([]time.Duration, 20, 30) // a burst of 20 at once, then one every 100 ms
		for i := range 10 {
			want = append(want, time.Duration(i+1)*100*time.Millisecond)
		}
		diffTimes(t, "ana's POST", want, ana.postTimes())
		diffTimes(t, "bob's POST", []time.Duration{0}, bob.postTimes())
	})
}

// TestLimitsAreByUserID: the limits count by Task.UserID, not by the display name, which two
// people may share and one person may change.
func TestLimitsAreByUserID(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(jobs.Options{UserJobs: 1})
		defer h.m.Close()
		submit := func(object, name, id string) *fakeAPI {
			tk := task(1)
			tk.ObjectID, tk.User, tk.UserID = object, name, id
			a := lasting(h.clock, 1, time.Second)
			mustSubmit(t, h.m, a, tk)
			return a
		}
		first := submit("o1", "Ana", "u1")
		namesake := submit("o2", "Ana", "u2")
		renamed := submit("o3", "Ana B.", "u1")
		settle(t, h.clock)
		diffTimes(t, "u1's first POST", []time.Duration{0}, first.postTimes())
		diffTimes(t, "u2's POST", []time.Duration{0}, namesake.postTimes())
		diffTimes(t, "u1's second POST", []time.Duration{ms(1318.75)}, renamed.postTimes())
	})
}

// TestWaitingPromptTimesOut: the deadline counts from Submit, also for a prompt that waited
// for its turn all along.
func TestWaitingPromptTimesOut(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(jobs.Options{UserJobs: 1, Deadline: 5 * time.Second})
		defer h.m.Close()
		hog := &fakeAPI{clock: h.clock, post: posts(ok(job(1, cdf.JobQueued))), hangGets: true}
		tk := task(1)
		tk.ObjectID = "hog"
		mustSubmit(t, h.m, hog, tk)
		waiting := &fakeAPI{clock: h.clock, post: posts(ok(job(2, cdf.JobQueued)))}
		mustSubmit(t, h.m, waiting, task(1))
		settle(t, h.clock)

		if n := len(waiting.postTimes()); n != 0 {
			t.Errorf("the waiting prompt started %d jobs", n)
		}
		want := failed(ev(1, 0, jobs.StatusFailed, 5000), "timed out after 5s", true)
		if got := lastByObject(h.rec.all(t))["obj-1"]; got.Status != want.Status || got.Error != want.Error || got.ElapsedMS != want.ElapsedMS {
			t.Errorf("waiting prompt ended with %+v, want %+v", got, want)
		}
	})
}
