package jobs

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/lassoteam/lasso/cdf"
)

// errDeadline is the cancellation cause of a follow that ran out of time.
var errDeadline = errors.New("jobs: deadline exceeded")

// follow is the life of one submitted prompt: wait for its turn, start the job, poll it,
// publish changes.
type follow struct {
	m        *Manager
	slot     *slot
	api      SegmentAPI
	task     Task
	start    time.Time
	deadline time.Time
	user     *userState // nil for a resumed job, which is not held to the user's limits

	// ctx is cancelled with errSuperseded, errCrowded, ErrClosed, errDeadline, or when the
	// follow ends.
	ctx    context.Context
	cancel context.CancelCauseFunc
	// admit is closed when the follow may start its job.
	admit chan struct{}

	// Guarded by Manager.mu: waiting in the user's queue, holding one of the user's turns,
	// done.
	waiting, counted, ended bool

	jobID     int64
	backend   string // what the SegmentAPI said ran the job, and its notice
	notice    string
	last      Event // the last event this follow published
	published bool
	throttled bool // the last answer from CDF was a 429, for the timeout message
}

// watchDeadline cancels the follow at its deadline, also in the middle of a CDF call that hangs.
func (f *follow) watchDeadline() {
	defer f.m.wg.Done()
	t := f.m.opts.Clock.NewTimer(f.m.opts.Deadline)
	defer t.Stop()
	select {
	case <-t.C():
		f.cancel(errDeadline)
	case <-f.ctx.Done():
	}
}

// run waits for the prompt's turn, starts the job and polls it until it ends, is superseded,
// or runs out of time.
func (f *follow) run() {
	defer f.m.wg.Done()
	defer f.m.ended(f)
	defer f.cancel(context.Canceled) // releases watchDeadline
	o := f.m.opts
	select {
	case <-f.admit:
	case <-f.ctx.Done():
		f.stopped()
		return
	}
	// A prompt superseded before its goroutine got here (fast clicking) must not spend a job
	// of the user's CDF budget.
	if f.ctx.Err() != nil {
		f.stopped()
		return
	}
	if !f.pace() {
		return
	}

	// Start the job. POST is not idempotent (a repeat would start a second job), so only a 429,
	// which CDF answers before doing any work, is tried again.
	interval := o.FirstPoll
	var job *cdf.SegmentJob
	if f.task.JobID != 0 {
		// Resuming: look at the job straight away instead of starting a second one.
		j, err := f.api.SegmentJob(f.ctx, f.task.JobID)
		if err != nil || j == nil {
			j = &cdf.SegmentJob{JobID: f.task.JobID, Status: cdf.JobRunning}
		}
		job = j
	}
	for job == nil {
		j, err := f.api.StartSegment(f.ctx, f.task.Request)
		switch {
		case err == nil && j != nil:
			job = j
		case err == nil:
			f.fail("CDF did not return a job", true)
			return
		case f.ctx.Err() != nil:
			f.stopped()
			return
		case cdf.StatusCode(err) == http.StatusTooManyRequests:
			f.throttled = true
			var wait time.Duration
			interval, wait = o.throttled(interval, retryAfter(err))
			if !f.sleep(wait) {
				return
			}
		default:
			f.fail(startFailure(err))
			return
		}
	}
	f.throttled = false
	f.jobID = job.JobID
	if d, ok := f.api.(Described); ok {
		f.backend, f.notice = d.Backend()
	}
	started := o.Clock.Now()
	if f.observe(job) {
		return
	}

	// The looks follow what recent jobs of this backend and image size took (learn.go); with
	// too little known, or once CDF has throttled this job, they back off geometrically.
	plan := f.m.learn.plan(f.backend, f.task.Pixels)
	interval = o.FirstPoll
	wait := func() time.Duration {
		el := o.Clock.Now().Sub(started)
		if plan != nil {
			if w, ok := planned(plan, el, o.MinInterval); ok {
				return w
			}
			// Past the plan: go on from its last gap.
			gap := o.MinInterval
			if n := len(plan); n > 1 {
				gap = plan[n-1] - plan[n-2]
			}
			interval, plan = max(gap, o.MinInterval), nil
		}
		return interval
	}
	// step is the wait after a look that did not end the job.
	step := func() time.Duration {
		if plan == nil {
			interval = o.next(interval)
		}
		return wait()
	}
	w := wait()
	for {
		if !f.sleep(w) {
			f.drain(started, step)
			return
		}
		j, err := f.api.SegmentJob(f.ctx, f.jobID)
		switch {
		case err == nil && j != nil:
			f.throttled = false
			if j.Status == cdf.JobCompleted {
				f.m.learn.observe(f.backend, f.task.Pixels, jobDuration(j, o.Clock.Now().Sub(started)))
			}
			if f.observe(j) {
				return
			}
			w = step()
		case f.ctx.Err() != nil:
			f.stopped()
			f.drain(started, step)
			return
		case cdf.StatusCode(err) == http.StatusTooManyRequests:
			f.throttled = true
			plan = nil
			interval, w = o.throttled(interval, retryAfter(err))
		case err == nil || transient(err):
			// Polling is idempotent: a 5xx, a transport error or an empty answer only costs a
			// look, and the deadline bounds how long this can go on.
			w = step()
		default:
			f.fail(pollFailure(err))
			return
		}
	}
}

// drain goes on looking at the job of a follow superseded by a newer prompt, silently, until
// the job ends, and only then gives back the user's turn (the caller's deferred Manager.ended):
// CDF has no way to cancel a segment job, so a superseded job still costs the backend its
// work, and a burst of refinement clicks must not pile up jobs that slow the newest one down.
// Prompts that come meanwhile wait for the turn, each newer one taking the place of the one
// before, so they are dropped before they cost anything. A backend that drops a job whose
// follower has gone (vision.Local) answers that it failed at the first look. The looks keep
// the follow's schedule (step gives the wait before the next), since the newest prompt waits
// for this one's end; they go on up to the follow's deadline or Close.
func (f *follow) drain(started time.Time, step func() time.Duration) {
	if f.jobID == 0 || f.user == nil || !errors.Is(context.Cause(f.ctx), errSuperseded) {
		return
	}
	o, m := f.m.opts, f.m
	for {
		now := o.Clock.Now()
		if !now.Before(f.deadline) {
			return
		}
		t := o.Clock.NewTimer(min(step(), f.deadline.Sub(now)))
		select {
		case <-t.C():
		case <-m.ctx.Done():
			t.Stop()
			return
		}
		j, err := f.api.SegmentJob(m.ctx, f.jobID)
		switch {
		case err == nil && j != nil && j.Status.Terminal():
			if j.Status == cdf.JobCompleted {
				m.learn.observe(f.backend, f.task.Pixels, jobDuration(j, o.Clock.Now().Sub(started)))
			}
			return
		case m.ctx.Err() != nil:
			return
		case err != nil && (!transient(err) || cdf.StatusCode(err) == http.StatusTooManyRequests):
			// A failed look for good (the job is gone, or no longer ours), or CDF throttling:
			// silent looks must not add to its load.
			return
		}
	}
}

// jobDuration is how long a completed job took: CDF's own times for it (created to the last
// status change) when they are consistent with what the follower saw, else seen, the time
// from its start to the look that found it done.
func jobDuration(j *cdf.SegmentJob, seen time.Duration) time.Duration {
	if j.CreatedTime > 0 && j.StatusTime > j.CreatedTime {
		if d := time.Duration(j.StatusTime-j.CreatedTime) * time.Millisecond; d <= seen+time.Second {
			return d
		}
	}
	return seen
}

// sleep waits d, and reports false when the follow must end instead (after publishing the
// timeout if the deadline was the reason).
func (f *follow) sleep(d time.Duration) bool {
	t := f.m.opts.Clock.NewTimer(d)
	select {
	case <-t.C():
		return true
	case <-f.ctx.Done():
		t.Stop()
		f.stopped()
		return false
	}
}

// stopped handles the end of a follow by cancellation: a deadline, or a prompt pushed out of
// its user's queue, is news to the room; a superseded or closed follow ends in silence.
func (f *follow) stopped() {
	switch cause := context.Cause(f.ctx); {
	case errors.Is(cause, errDeadline):
		msg := "timed out after " + seconds(f.m.opts.Deadline)
		if f.throttled {
			msg += " (CDF was throttling requests)"
		}
		f.fail(msg, true)
	case errors.Is(cause, errCrowded):
		f.fail(crowdedMessage, true)
	}
}

// seconds formats d as "60s" or "1.5s", as a person would write it.
func seconds(d time.Duration) string {
	return strconv.FormatFloat(d.Seconds(), 'f', -1, 64) + "s"
}

// observe publishes what job says if it differs from the last event, and reports whether the
// job has ended.
func (f *follow) observe(job *cdf.SegmentJob) (terminal bool) {
	ev := f.event()
	switch job.Status {
	case cdf.JobQueued:
		ev.Status = StatusQueued
	case cdf.JobCompleted:
		ev.Status = StatusDone
		ev.Segments = bestFirst(job.Items)
		if len(ev.Segments) > 0 {
			ev.BoundingBox = boxAround(ev.Segments[0].Polygons)
		}
	case cdf.JobFailed:
		ev.Status = StatusFailed
		ev.Error = "CDF could not segment the image: " + failureReason(job)
		ev.Retryable = true
	default:
		// Running, and any state CDF may add between queued and done.
		ev.Status = StatusRunning
	}
	f.publish(ev)
	return job.Status.Terminal()
}

// fail publishes a failed event.
func (f *follow) fail(msg string, retryable bool) {
	ev := f.event()
	ev.Status, ev.Error, ev.Retryable = StatusFailed, msg, retryable
	f.publish(ev)
}

func (f *follow) event() Event {
	return Event{
		ObjectID:  f.task.ObjectID,
		Version:   f.task.Version,
		JobID:     f.jobID,
		User:      f.task.User,
		FileID:    f.task.FileID,
		Backend:   f.backend,
		Notice:    f.notice,
		ElapsedMS: f.m.opts.Clock.Now().Sub(f.start).Milliseconds(),
	}
}

// publish sends ev unless it repeats the last event or the follow has been superseded. The
// check and the queueing in the slot's outbox happen under Manager.mu, which Submit also holds
// while it supersedes and empties the outbox: a poll that returns after a newer prompt was
// submitted can never reach the room. The Publisher is called by deliver, outside the lock,
// so that a slow Publish stalls neither this follow nor any other object.
func (f *follow) publish(ev Event) {
	m, s := f.m, f.slot
	m.mu.Lock()
	defer m.mu.Unlock()
	if s.current != f || m.closed {
		return
	}
	if f.published && ev.Status == f.last.Status && ev.Error == f.last.Error {
		return
	}
	f.last, f.published = ev, true
	s.latest, s.hasLatest, s.latestAt = ev, true, m.opts.Clock.Now()
	s.outbox = append(s.outbox, ev)
	if !s.delivering {
		s.delivering = true
		m.wg.Add(1) // f's own count keeps the WaitGroup above zero here
		go m.deliver(s)
	}
}

// deliver hands s's outbox to the Publisher one event at a time, oldest first, until it is
// empty. It is the slot's only caller of Publish, so an object's events arrive in order, and
// an event of a superseded job already inside Publish when Submit emptied the outbox still
// comes before any event of the newer prompt. Close does not cut it short: what was
// published before Close (the store's record of a job that must resume, say) is handed over
// before Close returns, as when publishing was synchronous.
func (m *Manager) deliver(s *slot) {
	defer m.wg.Done()
	for {
		m.mu.Lock()
		if len(s.outbox) == 0 {
			s.outbox, s.delivering = nil, false
			m.mu.Unlock()
			return
		}
		ev := s.outbox[0]
		s.outbox[0] = Event{}
		s.outbox = s.outbox[1:]
		m.mu.Unlock()
		// A Publisher error is a marshalling bug or a closed hub at shutdown; there is nobody
		// to tell but the room, which is what failed. The latest event still reaches Snapshot.
		_, _ = m.pub.Publish(s.room, EventType, ev)
	}
}

// bestFirst returns the segments of all items that have at least one polygon, each with only
// its usable polygons, highest score first. It never returns nil, so that a done event says
// "nothing found" as an empty list.
func bestFirst(items []cdf.SegmentItem) []cdf.Segment {
	out := []cdf.Segment{}
	for _, it := range items {
		for _, s := range it.Segments {
			polys := make([]cdf.Polygon, 0, len(s.Polygons))
			for _, p := range s.Polygons {
				if len(p.Vertices) >= 3 {
					polys = append(polys, p)
				}
			}
			if len(polys) > 0 {
				out = append(out, cdf.Segment{Score: s.Score, Polygons: polys})
			}
		}
	}
	slices.SortStableFunc(out, func(a, b cdf.Segment) int { return cmp.Compare(b.Score, a.Score) })
	return out
}

// boxAround returns the smallest box that holds every vertex of polys (which are non-empty).
func boxAround(polys []cdf.Polygon) *cdf.BoundingBox {
	v0 := polys[0].Vertices[0]
	b := cdf.BoundingBox{XMin: v0.X, YMin: v0.Y, XMax: v0.X, YMax: v0.Y}
	for _, p := range polys {
		for _, v := range p.Vertices {
			b.XMin, b.XMax = min(b.XMin, v.X), max(b.XMax, v.X)
			b.YMin, b.YMax = min(b.YMin, v.Y), max(b.YMax, v.Y)
		}
	}
	return &b
}

// failureReason finds CDF's explanation of a failed job.
func failureReason(job *cdf.SegmentJob) string {
	if job.ErrorMessage != nil && *job.ErrorMessage != "" {
		return *job.ErrorMessage
	}
	for _, fb := range job.FailedItems {
		if fb.ErrorMessage != "" {
			return fb.ErrorMessage
		}
	}
	return "no reason given"
}

// failure unwraps a *Failure: the backend's own words for the user.
func failure(err error) (string, bool, bool) {
	var f *Failure
	if errors.As(err, &f) {
		return f.Reason, f.Retryable, true
	}
	return "", false, false
}

// transient reports whether a failed poll may succeed if simply repeated.
func transient(err error) bool {
	if _, _, ok := failure(err); ok {
		return false // the backend has said what went wrong
	}
	var ae *cdf.APIError
	if !errors.As(err, &ae) {
		return true // transport error: the request may never have reached CDF
	}
	return ae.Temporary() || ae.Status >= 500
}

func retryAfter(err error) time.Duration {
	var ae *cdf.APIError
	if errors.As(err, &ae) {
		return ae.RetryAfter
	}
	return 0
}

// apiMessage is CDF's own words for err, or a description when it has none.
func apiMessage(ae *cdf.APIError) string {
	if ae.Message != "" {
		return ae.Message
	}
	return fmt.Sprintf("%d %s", ae.Status, http.StatusText(ae.Status))
}

// startFailure describes a POST that failed for good. A 4xx means this prompt will be refused
// again; a 5xx or transport error may pass on another try.
func startFailure(err error) (string, bool) {
	if msg, retry, ok := failure(err); ok {
		return msg, retry
	}
	var ae *cdf.APIError
	if !errors.As(err, &ae) {
		return "could not reach CDF to start the job: " + err.Error(), true
	}
	if ae.Status >= 500 {
		return "CDF could not start the job: " + apiMessage(ae), true
	}
	return "CDF refused the request: " + apiMessage(ae), false
}

// pollFailure describes a poll that failed for good (a 4xx other than 429). Signing in again
// is what helps against 401/403; a job CDF has lost can be started anew.
func pollFailure(err error) (string, bool) {
	if msg, retry, ok := failure(err); ok {
		return msg, retry
	}
	var ae *cdf.APIError
	if !errors.As(err, &ae) {
		return "could not follow the job: " + err.Error(), true
	}
	if ae.Status == http.StatusUnauthorized || ae.Status == http.StatusForbidden {
		return "CDF refused the request: " + apiMessage(ae), false
	}
	return "CDF could not report on the job: " + apiMessage(ae), true
}
