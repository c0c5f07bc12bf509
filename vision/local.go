package vision

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/lassoteam/lasso/cdf"
	"github.com/lassoteam/lasso/cdf/cdfseg"
	"github.com/lassoteam/lasso/jobs"
	"github.com/lassoteam/lasso/segment"
)

// FilesAPI is what the local backend reads images through: the signed-in user's own CDF files
// client (*cdf.Client's Files service satisfies it), so a user segments only files they may read.
type FilesAPI interface {
	Retrieve(ctx context.Context, id int64) (*cdf.File, error)
	Download(ctx context.Context, id cdf.Identifier) (io.ReadCloser, string, error)
}

// Engine segments an image; *segment.Engine satisfies it. It must honour ctx and be safe for
// concurrent use; it caches what it derives from an image by Source.Key.
type Engine interface {
	Segment(ctx context.Context, src segment.Source, p segment.Prompt) ([]segment.Segment, error)
}

// LocalOptions configure a Local backend. Zero fields take the defaults given.
type LocalOptions struct {
	// Scope names the CDF project in the engine's cache keys (e.g. its base URL and name), so
	// that two projects' files with the same id never share a cached image.
	Scope string
	// Workers is how many prompts are segmented at once. Default: the number of CPUs.
	Workers int
	// Queue bounds the prompts waiting for a worker, over all users; a prompt beyond it fails
	// at once with "busy, try again". Default 16 per worker.
	Queue int
	// PerUser bounds the prompts one user has waiting; the oldest waiting one is dropped to
	// make room for the newest. Default 4.
	PerUser int
	// Keep is how long a finished job stays readable for its follower. Default 1 min.
	Keep time.Duration
	// Now is the clock for job times. Default time.Now.
	Now func() time.Time
}

// Local is the in-process segment backend: Lasso's own engine, run on CDF files read with each
// user's own token. Prompts wait in one queue per user and workers take them round robin, so
// one user's burst never starves another's; a prompt whose follower has gone (superseded by a
// newer prompt, or given up) is dropped before it costs engine time. It is safe for
// concurrent use.
type Local struct {
	engine Engine
	opts   LocalOptions
	wg     sync.WaitGroup

	mu       sync.Mutex
	work     *sync.Cond             // signalled when a job is queued or the backend closes
	queues   map[string][]*localJob // user → waiting jobs, oldest first
	turns    []string               // users with waiting jobs, in the order they get a worker
	waiting  int
	jobs     map[int64]*localJob
	finished []*localJob // oldest first, for eviction
	nextID   int64
	closed   bool
}

// localJob is one prompt on the local backend. Its state fields are guarded by Local.mu.
type localJob struct {
	id     int64
	user   string
	ctx    context.Context // the follower's: the job is dropped when it ends
	files  FilesAPI
	fileID int64
	points []cdf.SegmentPoint
	box    *cdf.BoundingBox

	status     cdf.JobStatus
	created    int64 // milliseconds since the epoch
	stamp      int64
	finishedAt time.Time
	segments   []cdf.Segment
	failure    *jobs.Failure
	changed    chan struct{} // closed and replaced at every transition
}

// NewLocal starts a Local backend's workers. Close stops them.
func NewLocal(engine Engine, opts LocalOptions) *Local {
	if opts.Workers <= 0 {
		opts.Workers = runtime.NumCPU()
	}
	if opts.Queue <= 0 {
		opts.Queue = 16 * opts.Workers
	}
	if opts.PerUser <= 0 {
		opts.PerUser = 4
	}
	if opts.Keep <= 0 {
		opts.Keep = time.Minute
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	l := &Local{engine: engine, opts: opts, queues: map[string][]*localJob{}, jobs: map[int64]*localJob{}}
	l.work = sync.NewCond(&l.mu)
	for range opts.Workers {
		l.wg.Add(1)
		go l.worker()
	}
	return l
}

// Close stops the workers after the prompts they are segmenting; waiting prompts fail.
func (l *Local) Close() {
	l.mu.Lock()
	l.closed = true
	for _, q := range l.queues {
		for _, j := range q {
			l.finishLocked(j, nil, &jobs.Failure{Reason: "Lasso is shutting down; prompt again in a moment.", Retryable: true})
		}
	}
	l.queues, l.turns, l.waiting = map[string][]*localJob{}, nil, 0
	l.work.Broadcast()
	l.mu.Unlock()
	l.wg.Wait()
}

// For returns the local backend as user sees it: jobs read images through files, which must
// carry user's credentials. Each call gives a SegmentAPI for one task.
func (l *Local) For(user string, files FilesAPI) jobs.SegmentAPI {
	return &localAPI{l: l, user: user, files: files}
}

// localAPI serves one task: it remembers the last status it reported, so that a poll waits
// for news instead of answering the same thing again.
type localAPI struct {
	l     *Local
	user  string
	files FilesAPI
	seen  cdf.JobStatus
}

// Backend implements jobs.Described.
func (a *localAPI) Backend() (string, string) { return jobs.BackendLocal, "" }

// StartSegment queues the prompt. The job belongs to ctx: once ctx ends (the prompt was
// superseded, or its follower gave up) it is dropped, before it starts if it has not.
func (a *localAPI) StartSegment(ctx context.Context, req cdf.SegmentRequest) (*cdf.SegmentJob, error) {
	if len(req.Items) != 1 || req.Items[0].FileID == 0 {
		return nil, &jobs.Failure{Reason: "Lasso's engine segments one file at a time, named by its id."}
	}
	l := a.l
	now := l.opts.Now().UnixMilli()
	j := &localJob{
		user: a.user, ctx: ctx, files: a.files, fileID: req.Items[0].FileID,
		points: req.Points, box: req.BoundingBox,
		status: cdf.JobQueued, created: now, stamp: now, changed: make(chan struct{}),
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil, &jobs.Failure{Reason: "Lasso is shutting down; prompt again in a moment.", Retryable: true}
	}
	l.evictLocked()
	// Prompts nobody follows any more leave the queue first; then, if this user still has
	// PerUser waiting, their oldest makes room: the newest prompt is the one that matters.
	q := slices.DeleteFunc(l.queues[a.user], func(w *localJob) bool {
		if w.ctx.Err() == nil {
			return false
		}
		l.finishLocked(w, nil, nil)
		return true
	})
	for len(q) >= l.opts.PerUser {
		l.finishLocked(q[0], nil, &jobs.Failure{Reason: "Dropped: you sent newer prompts faster than Lasso's engine could answer. Retry if you still need this one.", Retryable: true})
		q = q[1:]
	}
	l.setQueueLocked(a.user, q)
	if l.waiting >= l.opts.Queue {
		return nil, &jobs.Failure{Reason: "Lasso's segmentation engine is busy with other prompts; try again in a moment.", Retryable: true}
	}
	l.nextID++
	j.id = l.nextID
	l.jobs[j.id] = j
	l.setQueueLocked(a.user, append(q, j))
	l.work.Signal()
	a.seen = cdf.JobQueued
	return l.viewLocked(j), nil
}

// setQueueLocked replaces user's waiting jobs with q, keeping the count and the turns.
func (l *Local) setQueueLocked(user string, q []*localJob) {
	l.waiting += len(q) - len(l.queues[user])
	had := len(l.queues[user]) > 0
	switch {
	case len(q) == 0:
		delete(l.queues, user)
		if had {
			l.turns = slices.DeleteFunc(l.turns, func(u string) bool { return u == user })
		}
	default:
		l.queues[user] = q
		if !had {
			l.turns = append(l.turns, user)
		}
	}
}

// SegmentJob reports the job. It waits, up to a second or until ctx ends, for the job to
// change from what this API reported last, so a follower sees a result as soon as it exists.
func (a *localAPI) SegmentJob(ctx context.Context, jobID int64) (*cdf.SegmentJob, error) {
	l := a.l
	timer := time.NewTimer(time.Second)
	defer timer.Stop()
	for {
		l.mu.Lock()
		j, ok := l.jobs[jobID]
		if !ok || j.user != a.user {
			l.mu.Unlock()
			return nil, &jobs.Failure{Reason: "Lasso's engine no longer knows this job (the server may have restarted); prompt again.", Retryable: true}
		}
		status, changed := j.status, j.changed
		if status != a.seen || status.Terminal() {
			a.seen = status
			v, failure := l.viewLocked(j), j.failure
			l.mu.Unlock()
			if failure != nil {
				return nil, failure
			}
			return v, nil
		}
		l.mu.Unlock()
		select {
		case <-changed:
		case <-timer.C:
			a.seen = "" // answer whatever the job is doing now
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// viewLocked is the job as CDF's GET answers it.
func (l *Local) viewLocked(j *localJob) *cdf.SegmentJob {
	item := cdf.SegmentItem{FileID: j.fileID}
	if j.status == cdf.JobCompleted {
		item.Segments = j.segments
	}
	return &cdf.SegmentJob{
		Status: j.status, CreatedTime: j.created, StartTime: j.created, StatusTime: j.stamp, JobID: j.id,
		Items:  []cdf.SegmentItem{item},
		Prompt: &cdf.SegmentPrompt{Points: j.points, BoundingBox: j.box},
	}
}

// worker segments jobs until the backend closes.
func (l *Local) worker() {
	defer l.wg.Done()
	for {
		j := l.next()
		if j == nil {
			return
		}
		segs, failure := l.segment(j)
		l.mu.Lock()
		l.finishLocked(j, segs, failure)
		l.mu.Unlock()
	}
}

// next waits for a job and takes the first waiting job of the user whose turn it is. Jobs
// nobody follows any more are dropped on the way. It returns nil once the backend closes.
func (l *Local) next() *localJob {
	l.mu.Lock()
	defer l.mu.Unlock()
	for {
		for l.waiting == 0 && !l.closed {
			l.work.Wait()
		}
		if l.closed {
			return nil
		}
		user := l.turns[0]
		q := l.queues[user]
		j := q[0]
		// The user goes to the back of the turns; setQueueLocked takes them out if nothing
		// more of theirs waits.
		l.turns = append(l.turns[1:], user)
		l.setQueueLocked(user, q[1:])
		if j.ctx.Err() != nil {
			l.finishLocked(j, nil, nil)
			continue
		}
		l.setStatusLocked(j, cdf.JobRunning)
		return j
	}
}

// setStatusLocked moves j to status and wakes its follower.
func (l *Local) setStatusLocked(j *localJob, status cdf.JobStatus) {
	j.status = status
	now := l.opts.Now().UnixMilli()
	j.stamp = max(now, j.stamp+1) // every transition gets a later statusTime
	close(j.changed)
	j.changed = make(chan struct{})
}

// finishLocked ends j with segments or a failure; with neither it was dropped unseen.
func (l *Local) finishLocked(j *localJob, segs []cdf.Segment, failure *jobs.Failure) {
	if j.status.Terminal() {
		return
	}
	if segs == nil && failure == nil {
		failure = &jobs.Failure{Reason: "The prompt was dropped: a newer one replaced it.", Retryable: true}
	}
	j.segments, j.failure = segs, failure
	j.ctx, j.files = nil, nil // nothing of the follower is kept past the job
	status := cdf.JobCompleted
	if failure != nil {
		status = cdf.JobFailed
	}
	l.setStatusLocked(j, status)
	j.finishedAt = l.opts.Now()
	l.finished = append(l.finished, j)
}

// maxFinished bounds the finished jobs kept for their followers, whatever their age.
const maxFinished = 512

// evictLocked forgets finished jobs older than Keep, and the oldest beyond maxFinished.
func (l *Local) evictLocked() {
	cutoff := l.opts.Now().Add(-l.opts.Keep)
	n := 0
	for n < len(l.finished) && (len(l.finished)-n > maxFinished || l.finished[n].finishedAt.Before(cutoff)) {
		delete(l.jobs, l.finished[n].id)
		n++
	}
	l.finished = slices.Delete(l.finished, 0, n)
}

// segment reads the file's metadata and, unless the engine has it cached, its content with the
// user's credentials, and segments the prompt. A failure says what went wrong in words.
func (l *Local) segment(j *localJob) (segs []cdf.Segment, failure *jobs.Failure) {
	l.mu.Lock()
	ctx, files := j.ctx, j.files
	l.mu.Unlock()
	defer func() {
		// An engine bug must fail one prompt, not the server.
		if p := recover(); p != nil {
			segs, failure = nil, &jobs.Failure{Reason: fmt.Sprintf("Lasso's engine failed on this prompt (internal error: %v).", p), Retryable: true}
		}
	}()
	// The metadata is read on every prompt: it checks that this user may still read the file,
	// and its lastUpdatedTime keys the cache, so a replaced file is never served stale.
	f, err := files.Retrieve(ctx, j.fileID)
	if err != nil {
		return nil, fileFailure(j.fileID, err)
	}
	switch {
	case !f.Uploaded:
		return nil, &jobs.Failure{Reason: fmt.Sprintf("“%s” has no content yet: its upload has not finished.", f.Name), Retryable: true}
	case !f.IsImage():
		return nil, &jobs.Failure{Reason: fmt.Sprintf("“%s” is not a JPEG or PNG image (its type is %q); Lasso segments only those.", f.Name, f.MimeType)}
	}
	src := segment.Source{
		Key: fmt.Sprintf("cdf|%s|%d|%d", l.opts.Scope, f.ID, f.LastUpdatedTime),
		Open: func(ctx context.Context) (io.ReadCloser, error) {
			rc, _, err := files.Download(ctx, cdf.Identifier{ID: f.ID})
			return rc, err
		},
	}
	out, err := l.engine.Segment(ctx, src, cdfseg.Prompt(j.points, j.box))
	switch {
	case err == nil:
		return cdfseg.Segments(out), nil
	case ctx.Err() != nil:
		return nil, nil // superseded or given up: nobody reads the answer
	case errors.Is(err, segment.ErrTooLarge):
		return nil, &jobs.Failure{Reason: fmt.Sprintf("“%s” is too large to segment: %s.", f.Name, strings.TrimPrefix(detail(err), "image too large: "))}
	case errors.Is(err, segment.ErrDamaged):
		return nil, &jobs.Failure{Reason: fmt.Sprintf("“%s” is damaged: the image data ends too early (a truncated upload?).", f.Name)}
	case errors.Is(err, segment.ErrUnsupported):
		why := strings.TrimPrefix(detail(err), "unsupported image format: ")
		return nil, &jobs.Failure{Reason: fmt.Sprintf("“%s” could not be read as an image: %s.", f.Name, why)}
	case errors.Is(err, segment.ErrInvalidPrompt):
		return nil, &jobs.Failure{Reason: fmt.Sprintf("Lasso's engine refused the prompt: %s.", detail(err))}
	case errors.Is(err, cdf.ErrResponseTooLarge):
		return nil, &jobs.Failure{Reason: fmt.Sprintf("“%s” is too large to download for segmentation.", f.Name)}
	case cdf.StatusCode(err) != 0:
		return nil, fileFailure(f.ID, err)
	default:
		return nil, &jobs.Failure{Reason: fmt.Sprintf("Lasso's engine could not segment “%s”: %v", f.Name, err), Retryable: true}
	}
}

// fileFailure says why reading file id from CDF failed.
func fileFailure(id int64, err error) *jobs.Failure {
	var ae *cdf.APIError
	if !errors.As(err, &ae) {
		return &jobs.Failure{Reason: fmt.Sprintf("Could not read file %d from CDF: %v", id, err), Retryable: true}
	}
	msg := ae.Message
	if msg == "" {
		msg = http.StatusText(ae.Status)
	}
	switch {
	case ae.Status == http.StatusUnauthorized || ae.Status == http.StatusForbidden:
		return &jobs.Failure{Reason: fmt.Sprintf("CDF does not let you read file %d (%d: %s).", id, ae.Status, msg)}
	case ae.Status == http.StatusNotFound || len(ae.MissingIdentifiers()) > 0:
		return &jobs.Failure{Reason: fmt.Sprintf("File %d is not in CDF (any more).", id)}
	case ae.Status >= 500 || ae.Status == http.StatusTooManyRequests:
		return &jobs.Failure{Reason: fmt.Sprintf("CDF could not serve file %d just now (%d: %s); try again.", id, ae.Status, msg), Retryable: true}
	default:
		return &jobs.Failure{Reason: fmt.Sprintf("CDF refused to serve file %d (%d: %s).", id, ae.Status, msg)}
	}
}

// detail is err's message without the engine's package prefix.
func detail(err error) string {
	return strings.ReplaceAll(err.Error(), "segment: ", "")
}
