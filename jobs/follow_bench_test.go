package jobs_test

import (
	"bufio"
	"context"
	"math"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lassoteam/lasso/cdf"
	"github.com/lassoteam/lasso/hub"
	"github.com/lassoteam/lasso/jobs"
)

// BenchmarkJobFollowing follows simulated jobs one after another through a Manager with its
// default schedule, on a clock that moves only from one timer to the next (no sleeping), for two
// distributions of job durations: those Lasso's engine took on the dev set's prompts
// (testdata/local_durations.txt, with each prompt's image size) and a log-normal with median 2 s
// and sigma 0.6 (12 MP images). It reports, for each, the mean time from a job's end until the
// follower saw it (lag-ms) and the GETs per job divided by those of the JS SDK's polling of the
// same jobs (a GET at once, then one a second: 1 + ⌈d/1 s⌉), and lag-ms and gets-ratio of the
// worse of the two (the higher lag).
func BenchmarkJobFollowing(b *testing.B) {
	local := readDurations(b, "testdata/local_durations.txt")
	rng := rand.New(rand.NewPCG(17, 0))
	var lognormal []simJob
	for range 400 {
		d := time.Duration(2 * math.Exp(0.6*rng.NormFloat64()) * float64(time.Second))
		lognormal = append(lognormal, simJob{d: d, pixels: 12_000_000})
	}
	var res map[string]simResult
	for b.Loop() {
		res = map[string]simResult{
			"local":     simulateFollowing(b, local),
			"lognormal": simulateFollowing(b, lognormal),
		}
	}
	worse := res["local"]
	for name, r := range res {
		b.ReportMetric(r.lagMS, name+"-lag-ms")
		b.ReportMetric(r.getsRatio, name+"-gets-ratio")
		if r.lagMS > worse.lagMS {
			worse = r
		}
	}
	b.ReportMetric(worse.lagMS, "lag-ms")
	b.ReportMetric(worse.getsRatio, "gets-ratio")
}

// simJob is one simulated job: how long it takes, on an image of how many pixels.
type simJob struct {
	d      time.Duration
	pixels int64
}

type simResult struct{ lagMS, getsRatio float64 }

// readDurations reads the recorded engine durations, with their images' sizes; they are
// followed twice over, as a long session would.
func readDurations(b *testing.B, path string) []simJob {
	f, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	var out []simJob
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fs := strings.Fields(line)
		if len(fs) != 7 {
			b.Fatalf("%s: %q is not image width height kind prompt cold ms", path, line)
		}
		w, err1 := strconv.ParseInt(fs[1], 10, 64)
		h, err2 := strconv.ParseInt(fs[2], 10, 64)
		ms, err3 := strconv.ParseFloat(fs[6], 64)
		if err1 != nil || err2 != nil || err3 != nil || ms <= 0 {
			b.Fatalf("%s: bad line %q", path, line)
		}
		out = append(out, simJob{d: time.Duration(ms * float64(time.Millisecond)), pixels: w * h})
	}
	if len(out) < 100 {
		b.Fatalf("%s: only %d durations", path, len(out))
	}
	return append(out, out...)
}

// simulateFollowing follows the jobs one at a time with a fresh Manager and measures the lag
// and the GETs.
func simulateFollowing(b *testing.B, js []simJob) simResult {
	clock := newStepClock()
	seen := make(chan jobs.Event, 16)
	m := jobs.New(terminalPublisher{seen}, jobs.Options{
		Clock: clock, Deadline: time.Hour, UserJobs: -1, UserRate: -1,
	})
	defer m.Close()
	var lag time.Duration
	var gets, sdkGets int
	for i, j := range js {
		api := &simAPI{clock: clock, d: j.d}
		if err := m.Submit(api, jobs.Task{Room: "r", ObjectID: strconv.Itoa(i), Version: 1, User: "u", FileID: 1, Pixels: j.pixels,
			Request: cdf.SegmentRequest{Items: []cdf.FileReference{{FileID: 1}}}}); err != nil {
			b.Fatal(err)
		}
		clock.runUntilDone(seen)
		api.mu.Lock()
		if api.seenAt.IsZero() {
			b.Fatalf("job %d ended without being seen done", i)
		}
		lag += api.seenAt.Sub(api.posted.Add(j.d))
		gets += api.gets
		api.mu.Unlock()
		sdkGets += 1 + int(math.Ceil(j.d.Seconds()))
	}
	return simResult{
		lagMS:     float64(lag.Milliseconds()) / float64(len(js)),
		getsRatio: float64(gets) / float64(sdkGets),
	}
}

// simAPI is a job that completes d after it was started; it counts the GETs and notes when
// one first saw it done.
type simAPI struct {
	clock *stepClock
	d     time.Duration

	mu     sync.Mutex
	posted time.Time
	seenAt time.Time
	gets   int
}

func (a *simAPI) Backend() (string, string) { return jobs.BackendCDF, "" }

func (a *simAPI) StartSegment(context.Context, cdf.SegmentRequest) (*cdf.SegmentJob, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.posted = a.clock.Now()
	ms := a.posted.UnixMilli()
	return &cdf.SegmentJob{JobID: 1, Status: cdf.JobQueued, CreatedTime: ms, StatusTime: ms}, nil
}

func (a *simAPI) SegmentJob(context.Context, int64) (*cdf.SegmentJob, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.gets++
	now := a.clock.Now()
	j := &cdf.SegmentJob{JobID: 1, Status: cdf.JobRunning, CreatedTime: a.posted.UnixMilli(), StatusTime: a.posted.UnixMilli()}
	if end := a.posted.Add(a.d); !now.Before(end) {
		j.Status, j.StatusTime = cdf.JobCompleted, end.UnixMilli()
		j.Items = []cdf.SegmentItem{{FileID: 1}}
		if a.seenAt.IsZero() {
			a.seenAt = now
		}
	}
	return j, nil
}

// terminalPublisher passes on the terminal events.
type terminalPublisher struct{ c chan<- jobs.Event }

func (p terminalPublisher) Publish(_, _ string, data any) (hub.Message, error) {
	if ev, ok := data.(jobs.Event); ok && (ev.Status == jobs.StatusDone || ev.Status == jobs.StatusFailed) {
		p.c <- ev
	}
	return hub.Message{}, nil
}

// stepClock is a jobs.Clock for one follow at a time: runUntilDone fires the follow's timers
// one after another, moving the time to each, as soon as it is armed. Timers made for an hour
// or more (the deadlines) never fire.
type stepClock struct {
	mu     sync.Mutex
	now    time.Time
	timers map[*stepTimer]struct{}
	armed  chan struct{}
}

func newStepClock() *stepClock {
	return &stepClock{now: t0, timers: map[*stepTimer]struct{}{}, armed: make(chan struct{}, 1)}
}

func (c *stepClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *stepClock) NewTimer(d time.Duration) jobs.Timer {
	c.mu.Lock()
	t := &stepTimer{c: c, at: c.now.Add(d), long: d >= time.Hour, ch: make(chan time.Time, 1)}
	c.timers[t] = struct{}{}
	c.mu.Unlock()
	select {
	case c.armed <- struct{}{}:
	default:
	}
	return t
}

// runUntilDone fires timers until a terminal event arrives on seen.
func (c *stepClock) runUntilDone(seen <-chan jobs.Event) {
	for {
		select {
		case <-seen:
			return
		case <-c.armed:
			c.mu.Lock()
			var next *stepTimer
			for t := range c.timers {
				if !t.long && (next == nil || t.at.Before(next.at)) {
					next = t
				}
			}
			if next != nil {
				delete(c.timers, next)
				c.now = next.at
				next.ch <- c.now
			}
			c.mu.Unlock()
		}
	}
}

type stepTimer struct {
	c    *stepClock
	at   time.Time
	long bool
	ch   chan time.Time
}

func (t *stepTimer) C() <-chan time.Time { return t.ch }

func (t *stepTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	_, ok := t.c.timers[t]
	delete(t.c.timers, t)
	return ok
}
