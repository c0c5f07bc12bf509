package jobs_test

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/lassoteam/lasso/cdf"
	"github.com/lassoteam/lasso/jobs"
)

// timedAPI is a job that completes d after its POST, with CDF's created and status times. It
// answers the GETs listed in throttle (0 = the first of the job) with 429, and records the
// GETs' times since the POST.
type timedAPI struct {
	clock    *fakeClock
	d        time.Duration
	throttle map[int]bool

	mu     sync.Mutex
	posted time.Duration
	gets   []time.Duration
}

func (a *timedAPI) Backend() (string, string) { return jobs.BackendCDF, "" }

func (a *timedAPI) StartSegment(context.Context, cdf.SegmentRequest) (*cdf.SegmentJob, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.posted = a.clock.elapsed()
	return &cdf.SegmentJob{JobID: 7, Status: cdf.JobQueued, CreatedTime: t0.Add(a.posted).UnixMilli()}, nil
}

func (a *timedAPI) SegmentJob(context.Context, int64) (*cdf.SegmentJob, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	el := a.clock.elapsed() - a.posted
	n := len(a.gets)
	a.gets = append(a.gets, el)
	if a.throttle[n] {
		return nil, &cdf.APIError{Status: 429, Message: "Too many requests"}
	}
	created := t0.Add(a.posted).UnixMilli()
	j := &cdf.SegmentJob{JobID: 7, Status: cdf.JobRunning, CreatedTime: created, StatusTime: created}
	if el >= a.d {
		j = completedJob(7)
		j.CreatedTime, j.StatusTime = created, t0.Add(a.posted+a.d).UnixMilli()
	}
	return j, nil
}

func (a *timedAPI) getTimes() []time.Duration {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]time.Duration(nil), a.gets...)
}

// followJob submits one job of duration d on an image of px pixels as object n and follows it
// to its end.
func followJob(t *testing.T, h *harness, n int, px int64, api *timedAPI) []time.Duration {
	t.Helper()
	tk := task(1)
	tk.ObjectID, tk.Pixels = "obj-"+strconv.Itoa(n), px
	mustSubmit(t, h.m, api, tk)
	settle(t, h.clock)
	return api.getTimes()
}

// seenLag is the time from the job's end to the first GET that saw it.
func seenLag(gets []time.Duration, d time.Duration) time.Duration {
	for _, g := range gets {
		if g >= d {
			return g - d
		}
	}
	return -1
}

func TestFollowingLearnsJobDurations(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(jobs.Options{})
		defer h.m.Close()
		const d = 300 * time.Millisecond
		// Nothing is known yet: the geometric schedule, 100, 250, 475 ms.
		first := followJob(t, h, 0, 1e6, &timedAPI{clock: h.clock, d: d})
		diffTimes(t, "first job's GET", []time.Duration{ms(100), ms(250), ms(475)}, first)
		for n := 1; n < 5; n++ {
			followJob(t, h, n, 1e6, &timedAPI{clock: h.clock, d: d})
		}
		last := followJob(t, h, 5, 1e6, &timedAPI{clock: h.clock, d: d})
		if lag := seenLag(last, d); lag < 0 || lag > 50*time.Millisecond || len(last) > 2 {
			t.Errorf("after five jobs of %v, a sixth was looked at %v (seen %v after its end); want at most 2 looks, seen within 50ms", d, last, lag)
		}
		if last[0] < 150*time.Millisecond {
			t.Errorf("the first look at a job known to take %v came at %v: a wasted GET", d, last[0])
		}
	})
}

func TestFollowingLearnsPerImageSize(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(jobs.Options{})
		defer h.m.Close()
		const small, large = 200 * time.Millisecond, 3 * time.Second
		n := 0
		for range 4 {
			followJob(t, h, n, 300_000, &timedAPI{clock: h.clock, d: small})
			followJob(t, h, n+1, 12_000_000, &timedAPI{clock: h.clock, d: large})
			n += 2
		}
		gs := followJob(t, h, n, 300_000, &timedAPI{clock: h.clock, d: small})
		gl := followJob(t, h, n+1, 12_000_000, &timedAPI{clock: h.clock, d: large})
		if gs[0] > small*3/2 || gs[0] < small/2 {
			t.Errorf("small image's job (%v) first looked at %v, want near its duration", small, gs[0])
		}
		if gl[0] < 2*time.Second {
			t.Errorf("12 MP image's job (%v) first looked at %v: the small images' durations leaked into its schedule", large, gl[0])
		}
		if lag := seenLag(gl, large); lag < 0 || lag > 150*time.Millisecond {
			t.Errorf("12 MP image's job seen %v after its end (looks %v)", lag, gl)
		}
	})
}

func TestLearntScheduleStillBacksOffOn429(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(jobs.Options{Jitter: func() float64 { return 0 }})
		defer h.m.Close()
		const d = 300 * time.Millisecond
		for n := range 4 {
			followJob(t, h, n, 1e6, &timedAPI{clock: h.clock, d: d})
		}
		gets := followJob(t, h, 4, 1e6, &timedAPI{clock: h.clock, d: d, throttle: map[int]bool{0: true}})
		if len(gets) != 2 {
			t.Fatalf("GETs at %v, want a throttled one and the one that sees the job done", gets)
		}
		// ThrottleMin (1 s), without jitter, after the throttled look.
		if gap := gets[1] - gets[0]; gap != time.Second {
			t.Errorf("the look after a 429 came %v later, want 1s", gap)
		}
	})
}

// TestSupersededJobHoldsTheTurn: a burst of refinements on one object while its job runs, with
// one job in flight per user. The running job is followed silently to its end before the next
// starts, the prompts in between never start a job, and the newest one starts as soon as the
// running job is seen done.
func TestSupersededJobHoldsTheTurn(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(jobs.Options{UserJobs: 1, FirstPoll: 50 * time.Millisecond, Backoff: 1})
		defer h.m.Close()
		first := &timedAPI{clock: h.clock, d: 500 * time.Millisecond}
		mustSubmit(t, h.m, first, task(1))
		var between []*fakeAPI
		for v := 2; v <= 4; v++ {
			runUntil(t, h.clock, time.Duration(v-1)*120*time.Millisecond)
			api := &fakeAPI{clock: h.clock, post: posts(ok(job(int64(v), cdf.JobQueued))), get: script(ok(completedJob(int64(v))))}
			between = append(between, api)
			mustSubmit(t, h.m, api, task(v))
		}
		runUntil(t, h.clock, 400*time.Millisecond)
		last := &timedAPI{clock: h.clock, d: 100 * time.Millisecond}
		mustSubmit(t, h.m, last, task(5))
		settle(t, h.clock)

		for i, api := range between[:] {
			if n := len(api.postTimes()); n != 0 {
				t.Errorf("prompt version %d, replaced while it waited, started %d jobs", i+2, n)
			}
		}
		seenDone := first.getTimes()
		if len(seenDone) == 0 || seenDone[len(seenDone)-1] < first.d {
			t.Fatalf("the superseded job was looked at %v, never after its end at %v", seenDone, first.d)
		}
		last.mu.Lock()
		posted := last.posted
		last.mu.Unlock()
		if want := first.d; posted < want || posted > want+60*time.Millisecond {
			t.Errorf("the newest prompt's job started at %v, want soon after the running job ended at %v", posted, want)
		}
		for _, e := range h.rec.all(t) {
			if e.Version != 1 && e.Version != 5 {
				t.Errorf("an event of version %d, which never started a job: %+v", e.Version, e)
			}
		}
		evs := h.rec.all(t)
		if n := len(evs); n == 0 || evs[n-1].Version != 5 || evs[n-1].Status != jobs.StatusDone {
			t.Errorf("last event %+v, want version 5 done", evs[len(evs)-1])
		}
	})
}
