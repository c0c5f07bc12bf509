package jobs_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/lassoteam/lasso/cdf"
	"github.com/lassoteam/lasso/jobs"
)

// harness is a Manager with a fake clock and a recording publisher. Jitter is fixed at 0.5 so
// that waits after a 429 are exact: base + base/4.
type harness struct {
	clock *fakeClock
	rec   *recorder
	m     *jobs.Manager
}

func newHarness(opts jobs.Options) *harness {
	h := &harness{clock: newFakeClock(), rec: &recorder{}}
	opts.Clock = h.clock
	if opts.Jitter == nil {
		opts.Jitter = func() float64 { return 0.5 }
	}
	h.m = jobs.New(h.rec, opts)
	return h
}

// task is the prompt most tests submit.
func task(version int) jobs.Task {
	return jobs.Task{
		Room:     "img-42",
		ObjectID: "obj-1",
		Version:  version,
		User:     "ana",
		FileID:   42,
		Request: cdf.SegmentRequest{
			Items:  []cdf.FileReference{{FileID: 42}},
			Points: []cdf.SegmentPoint{{X: 0.5, Y: 0.5, Label: 1}},
		},
	}
}

// ev builds the expected event of task(version) for a job.
func ev(version int, jobID int64, status jobs.Status, elapsedMS int64) jobs.Event {
	return jobs.Event{ObjectID: "obj-1", Version: version, JobID: jobID, User: "ana", FileID: 42, Status: status, ElapsedMS: elapsedMS}
}

func failed(e jobs.Event, msg string, retryable bool) jobs.Event {
	e.Error, e.Retryable = msg, retryable
	return e
}

func square(x0, y0, x1, y1 float64) cdf.Polygon {
	return cdf.Polygon{Vertices: []cdf.Vertex{{X: x0, Y: y0}, {X: x1, Y: y0}, {X: x1, Y: y1}, {X: x0, Y: y1}}}
}

// completedJob has two segments, the better one second and made of two parts.
func completedJob(id int64) *cdf.SegmentJob {
	j := job(id, cdf.JobCompleted)
	j.Items = []cdf.SegmentItem{{FileID: 42, Segments: []cdf.Segment{
		{Score: 0.61, Polygons: []cdf.Polygon{square(0.1, 0.1, 0.9, 0.9)}},
		{Score: 0.93, Polygons: []cdf.Polygon{square(0.2, 0.3, 0.4, 0.5), square(0.5, 0.25, 0.6, 0.45)}},
	}}}
	return j
}

func done(e jobs.Event) jobs.Event {
	e.Segments = []cdf.Segment{
		{Score: 0.93, Polygons: []cdf.Polygon{square(0.2, 0.3, 0.4, 0.5), square(0.5, 0.25, 0.6, 0.45)}},
		{Score: 0.61, Polygons: []cdf.Polygon{square(0.1, 0.1, 0.9, 0.9)}},
	}
	e.BoundingBox = &cdf.BoundingBox{XMin: 0.2, YMin: 0.25, XMax: 0.6, YMax: 0.5}
	return e
}

// script answers GETs from a list, repeating the last answer.
func script(rs ...reply) func(int, int64, time.Duration) reply {
	return func(n int, _ int64, _ time.Duration) reply { return rs[min(n, len(rs)-1)] }
}

func posts(rs ...reply) func(int) reply {
	return func(n int) reply { return rs[min(n, len(rs)-1)] }
}

func mustSubmit(t *testing.T, m *jobs.Manager, api jobs.SegmentAPI, tk jobs.Task) {
	t.Helper()
	if err := m.Submit(api, tk); err != nil {
		t.Fatalf("Submit(version %d): %v", tk.Version, err)
	}
}

func diffEvents(t *testing.T, want, got []jobs.Event) {
	t.Helper()
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("published events (-want +got):\n%s", diff)
	}
}

func diffTimes(t *testing.T, what string, want, got []time.Duration) {
	t.Helper()
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("%s times (-want +got):\n%s", what, diff)
	}
}

func TestCompletedJob(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(jobs.Options{})
		defer h.m.Close()
		api := &fakeAPI{clock: h.clock,
			post: posts(ok(job(7, cdf.JobQueued))),
			get:  script(ok(job(7, cdf.JobRunning)), ok(job(7, cdf.JobRunning)), ok(completedJob(7))),
		}
		mustSubmit(t, h.m, api, task(1))
		settle(t, h.clock)

		diffEvents(t, []jobs.Event{
			ev(1, 7, jobs.StatusQueued, 0),
			ev(1, 7, jobs.StatusRunning, 100),
			// the second "running" answer (at 250 ms) is not news and is not published
			done(ev(1, 7, jobs.StatusDone, 475)),
		}, h.rec.all(t))
		diffTimes(t, "GET", []time.Duration{ms(100), ms(250), ms(475)}, api.getTimes())
	})
}

func TestFailedJob(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(jobs.Options{})
		defer h.m.Close()
		bad := job(8, cdf.JobFailed)
		msg := "Image could not be decoded"
		bad.ErrorMessage = &msg
		api := &fakeAPI{clock: h.clock,
			post: posts(ok(job(8, cdf.JobQueued))),
			get:  script(ok(job(8, cdf.JobRunning)), ok(bad)),
		}
		mustSubmit(t, h.m, api, task(1))
		settle(t, h.clock)

		diffEvents(t, []jobs.Event{
			ev(1, 8, jobs.StatusQueued, 0),
			ev(1, 8, jobs.StatusRunning, 100),
			failed(ev(1, 8, jobs.StatusFailed, 250), "CDF could not segment the image: Image could not be decoded", true),
		}, h.rec.all(t))
	})
}

func TestFailedJobReasonFromFailedItems(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(jobs.Options{})
		defer h.m.Close()
		bad := job(8, cdf.JobFailed)
		bad.FailedItems = []cdf.FailedBatch{{ErrorMessage: "File is not an image"}}
		api := &fakeAPI{clock: h.clock, post: posts(ok(bad))}
		mustSubmit(t, h.m, api, task(1))
		settle(t, h.clock)

		diffEvents(t, []jobs.Event{
			failed(ev(1, 8, jobs.StatusFailed, 0), "CDF could not segment the image: File is not an image", true),
		}, h.rec.all(t))
		if n := len(api.getTimes()); n != 0 {
			t.Errorf("%d GETs after a terminal POST answer, want 0", n)
		}
	})
}

func TestStartRejected(t *testing.T) {
	tests := []struct {
		name      string
		reply     reply
		wantError string
		retryable bool
	}{
		{"400", fail(400, "Invalid point label 2"), "CDF refused the request: Invalid point label 2", false},
		{"403 without message", fail(403, ""), "CDF refused the request: 403 Forbidden", false},
		{"500", fail(500, "Internal error"), "CDF could not start the job: Internal error", true},
		{"transport", reply{err: errors.New("dial tcp: connection refused")}, "could not reach CDF to start the job: dial tcp: connection refused", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				h := newHarness(jobs.Options{})
				defer h.m.Close()
				api := &fakeAPI{clock: h.clock, post: posts(tt.reply)}
				mustSubmit(t, h.m, api, task(1))
				settle(t, h.clock)

				diffEvents(t, []jobs.Event{
					failed(ev(1, 0, jobs.StatusFailed, 0), tt.wantError, tt.retryable),
				}, h.rec.all(t))
				// A POST that failed other than by 429 is not repeated: it could start a second job.
				diffTimes(t, "POST", []time.Duration{0}, api.postTimes())
			})
		})
	}
}

func TestStartThrottledIsRetried(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(jobs.Options{})
		defer h.m.Close()
		api := &fakeAPI{clock: h.clock,
			post: posts(fail(429, "Too many requests"), ok(job(9, cdf.JobQueued))),
			get:  script(ok(completedJob(9))),
		}
		mustSubmit(t, h.m, api, task(1))
		settle(t, h.clock)

		// 429: base max(2·100 ms, 1 s) = 1 s, plus jitter 0.5 · 1 s / 2 → retried at 1250 ms.
		diffTimes(t, "POST", []time.Duration{0, ms(1250)}, api.postTimes())
		diffTimes(t, "GET", []time.Duration{ms(1350)}, api.getTimes())
		diffEvents(t, []jobs.Event{
			ev(1, 9, jobs.StatusQueued, 1250),
			done(ev(1, 9, jobs.StatusDone, 1350)),
		}, h.rec.all(t))
	})
}

func TestThrottledPoll(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(jobs.Options{})
		defer h.m.Close()
		api := &fakeAPI{clock: h.clock,
			post: posts(ok(job(10, cdf.JobQueued))),
			get:  script(fail(429, "Too many requests"), ok(job(10, cdf.JobRunning)), ok(completedJob(10))),
		}
		mustSubmit(t, h.m, api, task(1))
		settle(t, h.clock)

		// 100 ms: 429 → wait 1 s + 0.25 s jitter; then the interval grows from 1 s: 1.5 s.
		diffTimes(t, "GET", []time.Duration{ms(100), ms(1350), ms(2850)}, api.getTimes())
		diffEvents(t, []jobs.Event{
			ev(1, 10, jobs.StatusQueued, 0),
			ev(1, 10, jobs.StatusRunning, 1350),
			done(ev(1, 10, jobs.StatusDone, 2850)),
		}, h.rec.all(t))
	})
}

func TestThrottleHonoursRetryAfter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(jobs.Options{})
		defer h.m.Close()
		api := &fakeAPI{clock: h.clock,
			post: posts(ok(job(10, cdf.JobQueued))),
			get: script(reply{err: &cdf.APIError{Status: 429, RetryAfter: 5 * time.Second}},
				ok(completedJob(10))),
		}
		mustSubmit(t, h.m, api, task(1))
		settle(t, h.clock)
		diffTimes(t, "GET", []time.Duration{ms(100), ms(5100)}, api.getTimes())
	})
}

func TestTransientPollErrorsAreRetried(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(jobs.Options{})
		defer h.m.Close()
		api := &fakeAPI{clock: h.clock,
			post: posts(ok(job(11, cdf.JobQueued))),
			get: script(
				fail(503, "Service unavailable"),
				reply{err: errors.New("read: connection reset by peer")},
				ok(job(11, cdf.JobRunning)),
				ok(completedJob(11)),
			),
		}
		mustSubmit(t, h.m, api, task(1))
		settle(t, h.clock)

		// Failed looks keep the schedule: 100, 250, 475, 812.5 ms.
		diffTimes(t, "GET", []time.Duration{ms(100), ms(250), ms(475), ms(812.5)}, api.getTimes())
		diffEvents(t, []jobs.Event{
			ev(1, 11, jobs.StatusQueued, 0),
			ev(1, 11, jobs.StatusRunning, 475),
			done(ev(1, 11, jobs.StatusDone, 812)),
		}, h.rec.all(t))
	})
}

func TestPollRejected(t *testing.T) {
	tests := []struct {
		name      string
		reply     reply
		wantError string
		retryable bool
	}{
		{"404", fail(404, "Job not found"), "CDF could not report on the job: Job not found", true},
		{"401", fail(401, "Token expired"), "CDF refused the request: Token expired", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				h := newHarness(jobs.Options{})
				defer h.m.Close()
				api := &fakeAPI{clock: h.clock, post: posts(ok(job(12, cdf.JobQueued))), get: script(tt.reply)}
				mustSubmit(t, h.m, api, task(1))
				settle(t, h.clock)
				diffEvents(t, []jobs.Event{
					ev(1, 12, jobs.StatusQueued, 0),
					failed(ev(1, 12, jobs.StatusFailed, 100), tt.wantError, tt.retryable),
				}, h.rec.all(t))
			})
		})
	}
}

// pollTimesUntil lists the times of the GETs the schedule makes before d has passed.
func pollTimesUntil(o jobs.Options, d time.Duration) []time.Duration {
	var out []time.Duration
	var at time.Duration
	for n := 0; ; n++ {
		at += o.PollDelay(n)
		if at >= d {
			return out
		}
		out = append(out, at)
	}
}

func TestTimedOut(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(jobs.Options{})
		defer h.m.Close()
		api := &fakeAPI{clock: h.clock,
			post: posts(ok(job(13, cdf.JobQueued))),
			get:  script(ok(job(13, cdf.JobRunning))),
		}
		mustSubmit(t, h.m, api, task(1))
		settle(t, h.clock)

		diffEvents(t, []jobs.Event{
			ev(1, 13, jobs.StatusQueued, 0),
			ev(1, 13, jobs.StatusRunning, 100),
			failed(ev(1, 13, jobs.StatusFailed, 60_000), "timed out after 60s", true),
		}, h.rec.all(t))
		// Eight growing looks up to 4925.78125 ms, then one every 2 s up to 58925.78125 ms.
		got := api.getTimes()
		diffTimes(t, "GET", pollTimesUntil(jobs.Options{}, time.Minute), got)
		if len(got) != 35 {
			t.Errorf("%d GETs in 60 s, want 35", len(got))
		}
	})
}

func TestTimedOutWhileCDFDoesNotAnswer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(jobs.Options{Deadline: 10 * time.Second})
		defer h.m.Close()
		api := &fakeAPI{clock: h.clock, post: posts(ok(job(14, cdf.JobQueued))), hangGets: true}
		mustSubmit(t, h.m, api, task(1))
		settle(t, h.clock)

		diffEvents(t, []jobs.Event{
			ev(1, 14, jobs.StatusQueued, 0),
			failed(ev(1, 14, jobs.StatusFailed, 10_000), "timed out after 10s", true),
		}, h.rec.all(t))
	})
}

func TestTimedOutWhileThrottled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(jobs.Options{Deadline: 5 * time.Second})
		defer h.m.Close()
		api := &fakeAPI{clock: h.clock, post: posts(fail(429, "Too many requests"))}
		mustSubmit(t, h.m, api, task(1))
		settle(t, h.clock)

		diffEvents(t, []jobs.Event{
			failed(ev(1, 0, jobs.StatusFailed, 5000), "timed out after 5s (CDF was throttling requests)", true),
		}, h.rec.all(t))
		// 1.25 s, then 2 s + 0.5 s jitter, then 4 s + 1 s: the third wait runs past the deadline.
		diffTimes(t, "POST", []time.Duration{0, ms(1250), ms(3750)}, api.postTimes())
	})
}

func TestNothingFound(t *testing.T) {
	for name, items := range map[string][]cdf.SegmentItem{
		"no items":    nil,
		"no segments": {{FileID: 42}},
		"no polygons": {{FileID: 42, Segments: []cdf.Segment{{Score: 0.2}, {Score: 0.1, Polygons: []cdf.Polygon{{}}}}}},
	} {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				h := newHarness(jobs.Options{})
				defer h.m.Close()
				j := job(15, cdf.JobCompleted)
				j.Items = items
				api := &fakeAPI{clock: h.clock, post: posts(ok(job(15, cdf.JobQueued))), get: script(ok(j))}
				mustSubmit(t, h.m, api, task(1))
				settle(t, h.clock)

				want := ev(1, 15, jobs.StatusDone, 100)
				want.Segments = []cdf.Segment{}
				diffEvents(t, []jobs.Event{ev(1, 15, jobs.StatusQueued, 0), want}, h.rec.all(t))
				b, err := json.Marshal(h.rec.all(t)[1])
				if err != nil {
					t.Fatal(err)
				}
				var wire map[string]any
				json.Unmarshal(b, &wire)
				if s, ok := wire["segments"].([]any); !ok || len(s) != 0 {
					t.Errorf(`done event has "segments": %v, want []`, wire["segments"])
				}
				if _, ok := wire["boundingBox"]; ok {
					t.Errorf("done event with nothing found has a boundingBox")
				}
			})
		})
	}
}

// TestPollsForTwoSecondJob states the number of GETs a job that completes 2 s after it was
// started costs with the default schedule: looks at 100, 250, 475, 812.5, 1318.75 and
// 2078.125 ms, so 6, the last one seeing the result 78 ms after it appeared.
func TestPollsForTwoSecondJob(t *testing.T) {
	// The pure schedule: the first look at or after 2 s is the 6th.
	if got := len(pollTimesUntil(jobs.Options{}, 2*time.Second)) + 1; got != 6 {
		t.Errorf("schedule needs %d GETs for a 2 s job, want 6", got)
	}

	// And the Manager does what the schedule says.
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(jobs.Options{})
		defer h.m.Close()
		api := &fakeAPI{clock: h.clock,
			post: posts(ok(job(16, cdf.JobQueued))),
			get: func(_ int, id int64, elapsed time.Duration) reply {
				if elapsed >= 2*time.Second {
					return ok(completedJob(id))
				}
				return ok(job(id, cdf.JobRunning))
			},
		}
		mustSubmit(t, h.m, api, task(1))
		settle(t, h.clock)

		diffTimes(t, "GET", []time.Duration{ms(100), ms(250), ms(475), ms(812.5), ms(1318.75), ms(2078.125)}, api.getTimes())
		diffEvents(t, []jobs.Event{
			ev(1, 16, jobs.StatusQueued, 0),
			ev(1, 16, jobs.StatusRunning, 100),
			done(ev(1, 16, jobs.StatusDone, 2078)),
		}, h.rec.all(t))
	})
}

func TestPollDelay(t *testing.T) {
	tests := []struct {
		opts jobs.Options
		n    int
		want time.Duration
	}{
		{jobs.Options{}, 0, ms(100)},
		{jobs.Options{}, 1, ms(150)},
		{jobs.Options{}, 2, ms(225)},
		{jobs.Options{}, 3, ms(337.5)},
		{jobs.Options{}, 4, ms(506.25)},
		{jobs.Options{}, 5, ms(759.375)},
		{jobs.Options{}, 6, ms(1139.0625)},
		{jobs.Options{}, 7, ms(1708.59375)},
		{jobs.Options{}, 8, 2 * time.Second},
		{jobs.Options{}, 1000, 2 * time.Second},
		{jobs.Options{FirstPoll: time.Second, Backoff: 2, MaxInterval: 5 * time.Second}, 2, 4 * time.Second},
		{jobs.Options{FirstPoll: time.Second, Backoff: 2, MaxInterval: 5 * time.Second}, 3, 5 * time.Second},
		{jobs.Options{FirstPoll: 300 * time.Millisecond, Backoff: 1}, 50, 300 * time.Millisecond},
	}
	for _, tt := range tests {
		if got := tt.opts.PollDelay(tt.n); got != tt.want {
			t.Errorf("%+v.PollDelay(%d) = %v, want %v", tt.opts, tt.n, got, tt.want)
		}
	}
}

// TestSupersededDuringPoll is the race of a poll whose answer (Completed) arrives after a newer
// prompt was submitted: the old result must never be published. It also checks that each job
// is polled only with the client of the user who started it.
func TestSupersededDuringPoll(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(jobs.Options{})
		defer h.m.Close()
		gate := make(chan struct{})
		ana := &fakeAPI{clock: h.clock,
			post:    posts(ok(job(20, cdf.JobQueued))),
			get:     script(ok(completedJob(20))),
			getGate: gate,
		}
		mustSubmit(t, h.m, ana, task(1))
		runUntil(t, h.clock, 100*time.Millisecond) // v1 is queued; its first poll is on its way back with a result

		bob := &fakeAPI{clock: h.clock,
			post: posts(ok(job(21, cdf.JobQueued))),
			get:  script(ok(job(21, cdf.JobRunning)), ok(completedJob(21))),
		}
		v2 := task(2)
		v2.User = "bob"
		mustSubmit(t, h.m, bob, v2)
		runUntil(t, h.clock, time.Second)

		close(gate) // the old poll now returns Completed
		settle(t, h.clock)

		bobEv := func(e jobs.Event) jobs.Event { e.User = "bob"; return e }
		diffEvents(t, []jobs.Event{
			ev(1, 20, jobs.StatusQueued, 0),
			bobEv(ev(2, 21, jobs.StatusQueued, 0)),
			bobEv(ev(2, 21, jobs.StatusRunning, 100)),
			bobEv(done(ev(2, 21, jobs.StatusDone, 250))),
		}, h.rec.all(t))

		for name, api := range map[string]*fakeAPI{"ana": ana, "bob": bob} {
			want := map[string]int64{"ana": 20, "bob": 21}[name]
			for _, c := range api.gets {
				if c.JobID != want {
					t.Errorf("%s's client polled job %d", name, c.JobID)
				}
			}
		}
		if n := len(ana.gets); n != 1 {
			t.Errorf("superseded job polled %d times, want 1 (the one in flight)", n)
		}
	})
}

// TestSupersededDuringStart: the old POST answers after the newer prompt was submitted; nothing
// of the old job is published, and it is looked at (silently) only until it ends.
func TestSupersededDuringStart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(jobs.Options{})
		defer h.m.Close()
		gate := make(chan struct{})
		old := &fakeAPI{clock: h.clock, post: posts(ok(job(30, cdf.JobQueued))), get: script(ok(completedJob(30))), postGate: gate}
		mustSubmit(t, h.m, old, task(1))
		synctest.Wait() // v1's POST is on its way back

		api := &fakeAPI{clock: h.clock, post: posts(ok(job(31, cdf.JobQueued))), get: script(ok(completedJob(31)))}
		mustSubmit(t, h.m, api, task(2))
		close(gate)
		settle(t, h.clock)

		diffEvents(t, []jobs.Event{
			ev(2, 31, jobs.StatusQueued, 0),
			done(ev(2, 31, jobs.StatusDone, 100)),
		}, h.rec.all(t))
		if n := len(old.gets); n != 1 {
			t.Errorf("superseded job polled %d times, want 1 (the look that sees it ended)", n)
		}
	})
}

func TestErrStale(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(jobs.Options{})
		defer h.m.Close()
		api := &fakeAPI{clock: h.clock, post: posts(ok(completedJob(40)))}
		mustSubmit(t, h.m, api, task(5))
		for _, v := range []int{5, 4} {
			if err := h.m.Submit(api, task(v)); !errors.Is(err, jobs.ErrStale) {
				t.Errorf("Submit(version %d) after version 5 = %v, want ErrStale", v, err)
			}
		}
		settle(t, h.clock)
		// Also after the job has ended.
		if err := h.m.Submit(api, task(5)); !errors.Is(err, jobs.ErrStale) {
			t.Errorf("Submit(version 5) after it completed = %v, want ErrStale", err)
		}
		other := task(1)
		other.ObjectID = "obj-2"
		mustSubmit(t, h.m, api, other) // versions are per object
		otherRoom := task(1)
		otherRoom.Room = "img-43"
		mustSubmit(t, h.m, api, otherRoom) // and per room
		mustSubmit(t, h.m, api, task(6))
		settle(t, h.clock)
	})
}

func TestSnapshot(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(jobs.Options{})
		defer h.m.Close()
		if got := h.m.Snapshot("img-42"); len(got) != 0 {
			t.Errorf("Snapshot of an unknown room = %v", got)
		}

		// obj-1 completes; obj-2 keeps running; obj-3 is in another room; obj-4's POST hangs.
		api := &fakeAPI{clock: h.clock,
			post: posts(ok(job(50, cdf.JobQueued))),
			get:  script(ok(completedJob(50))),
		}
		running := &fakeAPI{clock: h.clock, post: posts(ok(job(51, cdf.JobQueued))), get: script(ok(job(51, cdf.JobRunning)))}
		gate := make(chan struct{})
		hanging := &fakeAPI{clock: h.clock, post: posts(ok(job(53, cdf.JobQueued))), postGate: gate}
		mustSubmit(t, h.m, api, task(1))
		t2 := task(1)
		t2.ObjectID = "obj-2"
		mustSubmit(t, h.m, running, t2)
		t3 := task(1)
		t3.ObjectID, t3.Room = "obj-3", "img-43"
		mustSubmit(t, h.m, &fakeAPI{clock: h.clock, post: posts(ok(job(52, cdf.JobQueued)))}, t3)
		t4 := task(1)
		t4.ObjectID = "obj-4"
		mustSubmit(t, h.m, hanging, t4)

		runUntil(t, h.clock, time.Second) // obj-1 is done, obj-2 running
		running2 := ev(1, 51, jobs.StatusRunning, 100)
		running2.ObjectID = "obj-2"
		diffEvents(t, []jobs.Event{done(ev(1, 50, jobs.StatusDone, 100)), running2}, h.m.Snapshot("img-42"))

		// A newer prompt for obj-1 removes the old result at once, before its job has answered.
		superseder := &fakeAPI{clock: h.clock, post: posts(ok(job(54, cdf.JobQueued))), postGate: gate}
		mustSubmit(t, h.m, superseder, task(2))
		diffEvents(t, []jobs.Event{running2}, h.m.Snapshot("img-42"))
		close(gate)
		settle(t, h.clock)
	})
}

func TestEventJSON(t *testing.T) {
	e := done(ev(3, 7, jobs.StatusDone, 1234))
	e.Segments = e.Segments[:1]
	b, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"objectId":"obj-1","version":3,"jobId":7,"user":"ana","fileId":42,"status":"done","elapsedMs":1234,` +
		`"retryable":false,"segments":[{"score":0.93,"polygons":[` +
		`{"vertices":[{"x":0.2,"y":0.3},{"x":0.4,"y":0.3},{"x":0.4,"y":0.5},{"x":0.2,"y":0.5}]},` +
		`{"vertices":[{"x":0.5,"y":0.25},{"x":0.6,"y":0.25},{"x":0.6,"y":0.45},{"x":0.5,"y":0.45}]}]}],` +
		`"boundingBox":{"xMin":0.2,"yMin":0.25,"xMax":0.6,"yMax":0.5}}`
	if string(b) != want {
		t.Errorf("JSON\n got %s\nwant %s", b, want)
	}
	b, _ = json.Marshal(failed(ev(3, 0, jobs.StatusFailed, 60000), "timed out after 60s", true))
	want = `{"objectId":"obj-1","version":3,"jobId":0,"user":"ana","fileId":42,"status":"failed","elapsedMs":60000,"error":"timed out after 60s","retryable":true}`
	if string(b) != want {
		t.Errorf("JSON\n got %s\nwant %s", b, want)
	}
}

// TestCloseStopsEveryFollow: Close returns only when every follow has ended (synctest would
// report any goroutine left behind), publishes nothing more, and refuses new work.
func TestCloseStopsEveryFollow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(jobs.Options{})
		for i := range 20 {
			api := &fakeAPI{clock: h.clock, post: posts(ok(job(int64(60+i), cdf.JobQueued))), hangGets: i%2 == 0,
				get: script(ok(job(int64(60+i), cdf.JobRunning)))}
			tk := task(1)
			tk.ObjectID = fmt.Sprint("obj-", i)
			mustSubmit(t, h.m, api, tk)
		}
		runUntil(t, h.clock, time.Second)
		before := len(h.rec.all(t))
		h.m.Close()
		h.m.Close() // idempotent
		if after := len(h.rec.all(t)); after != before {
			t.Errorf("%d events published during Close", after-before)
		}
		if err := h.m.Submit(&fakeAPI{clock: h.clock}, task(9)); !errors.Is(err, jobs.ErrClosed) {
			t.Errorf("Submit after Close = %v, want ErrClosed", err)
		}
	})
}

// TestSystemClock runs a job on the default clock (the time package, which synctest fakes).
func TestSystemClock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := &recorder{}
		m := jobs.New(rec, jobs.Options{})
		defer m.Close()
		start := time.Now()
		api := &fakeAPI{clock: newFakeClock(),
			post: posts(ok(job(70, cdf.JobQueued))),
			get: func(_ int, id int64, _ time.Duration) reply {
				if time.Since(start) >= 2*time.Second {
					return ok(completedJob(id))
				}
				return ok(job(id, cdf.JobRunning))
			},
		}
		mustSubmit(t, m, api, task(1))
		time.Sleep(3 * time.Second)
		synctest.Wait()
		diffEvents(t, []jobs.Event{
			ev(1, 70, jobs.StatusQueued, 0),
			ev(1, 70, jobs.StatusRunning, 100),
			done(ev(1, 70, jobs.StatusDone, 2078)),
		}, rec.all(t))
	})
}

func TestSubmitNilAPI(t *testing.T) {
	m := jobs.New(&recorder{}, jobs.Options{})
	defer m.Close()
	if err := m.Submit(nil, task(1)); err == nil {
		t.Error("Submit(nil api) succeeded")
	}
}

// TestResumeFollowsWithoutStarting: a job started before a restart is followed to its end
// with the given job id, and no second job is started.
func TestResumeFollowsWithoutStarting(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(jobs.Options{})
		defer h.m.Close()
		api := &fakeAPI{clock: h.clock,
			post:   posts(),
			get:    script(ok(job(7, cdf.JobRunning)), ok(completedJob(7))),
			jobIDs: map[int64]bool{7: true},
		}
		tk := task(3)
		tk.JobID = 7
		mustSubmit(t, h.m, api, tk)
		settle(t, h.clock)

		diffEvents(t, []jobs.Event{
			ev(3, 7, jobs.StatusRunning, 0),
			done(ev(3, 7, jobs.StatusDone, 100)),
		}, h.rec.all(t))
		if n := len(api.postTimes()); n != 0 {
			t.Errorf("resuming started %d jobs", n)
		}
	})
}

// describedAPI is a fakeAPI that says which backend ran its job, as the vision backends do.
type describedAPI struct {
	*fakeAPI
	name, notice string
}

func (d describedAPI) Backend() (string, string) { return d.name, d.notice }

// TestBackendInEvents: the backend a SegmentAPI names, and its notice, are in every event of
// the job; a *jobs.Failure from the backend is the failed event's message, in its own words.
func TestBackendInEvents(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(jobs.Options{})
		defer h.m.Close()
		api := describedAPI{&fakeAPI{clock: h.clock,
			post: posts(ok(job(7, cdf.JobQueued))),
			get:  script(ok(job(7, cdf.JobRunning)), reply{err: &jobs.Failure{Reason: "“a.jpg” is damaged.", Retryable: false}}),
		}, jobs.BackendLocal, "moved to the engine"}
		mustSubmit(t, h.m, api, task(1))
		settle(t, h.clock)
		with := func(e jobs.Event) jobs.Event {
			e.Backend, e.Notice = jobs.BackendLocal, "moved to the engine"
			return e
		}
		diffEvents(t, []jobs.Event{
			with(ev(1, 7, jobs.StatusQueued, 0)),
			with(ev(1, 7, jobs.StatusRunning, 100)),
			with(failed(ev(1, 7, jobs.StatusFailed, 250), "“a.jpg” is damaged.", false)),
		}, h.rec.all(t))
	})
}

// TestStartFailureInOwnWords: a backend that refuses to start with a *jobs.Failure (a full
// queue, say) fails the job at once with that message, not as a CDF error.
func TestStartFailureInOwnWords(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(jobs.Options{})
		defer h.m.Close()
		api := &fakeAPI{clock: h.clock, post: posts(reply{err: &jobs.Failure{Reason: "busy, try again", Retryable: true}})}
		mustSubmit(t, h.m, api, task(1))
		settle(t, h.clock)
		diffEvents(t, []jobs.Event{failed(ev(1, 0, jobs.StatusFailed, 0), "busy, try again", true)}, h.rec.all(t))
	})
}
