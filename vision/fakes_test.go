package vision_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lassoteam/lasso/cdf"
	"github.com/lassoteam/lasso/hub"
	"github.com/lassoteam/lasso/jobs"
	"github.com/lassoteam/lasso/segment"
	"github.com/lassoteam/lasso/store"
)

// request is a one-point prompt on file id, as handlers send it.
func request(id int64) cdf.SegmentRequest {
	return cdf.SegmentRequest{
		Items:  []cdf.FileReference{{FileID: id}},
		Points: []cdf.SegmentPoint{{X: .5, Y: .5, Label: 1}},
	}
}

// recorder is a jobs.Publisher that keeps every event and lets a test wait for an object's
// final one.
type recorder struct {
	mu      sync.Mutex
	events  []jobs.Event
	changed chan struct{} // closed and replaced at every event
}

func newRecorder() *recorder { return &recorder{changed: make(chan struct{})} }

func (r *recorder) Publish(room, typ string, data any) (hub.Message, error) {
	ev, ok := data.(jobs.Event)
	if !ok || typ != jobs.EventType {
		return hub.Message{}, fmt.Errorf("recorder: unexpected %s event %T", typ, data)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, ev)
	close(r.changed)
	r.changed = make(chan struct{})
	return hub.Message{Type: typ, Room: room, Seq: uint64(len(r.events))}, nil
}

// of returns the events published for objectID so far.
func (r *recorder) of(objectID string) []jobs.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []jobs.Event
	for _, ev := range r.events {
		if ev.ObjectID == objectID {
			out = append(out, ev)
		}
	}
	return out
}

// guard bounds how long a test over real HTTP waits for an event before it reports a hang;
// it is never part of what is asserted.
const guard = 20 * time.Second

// final waits for objectID's done or failed event and returns it.
func (r *recorder) final(t *testing.T, objectID string) jobs.Event {
	t.Helper()
	stop := time.After(guard)
	for {
		r.mu.Lock()
		changed := r.changed
		for _, ev := range r.events {
			if ev.ObjectID == objectID && (ev.Status == jobs.StatusDone || ev.Status == jobs.StatusFailed) {
				r.mu.Unlock()
				return ev
			}
		}
		r.mu.Unlock()
		select {
		case <-changed:
		case <-stop:
			t.Fatalf("object %s: no final event after %v; events: %+v", objectID, guard, r.of(objectID))
		}
	}
}

// engineCall is one Segment call that reached the fake engine; the test answers it.
type engineCall struct {
	key    string
	body   string // what the source's Open gave
	prompt segment.Prompt
	answer chan engineAnswer
}

type engineAnswer struct {
	segs  []segment.Segment
	err   error
	panic any
}

// reply answers the call with one square segment.
func (c *engineCall) reply() { c.answer <- engineAnswer{segs: []segment.Segment{square}} }

// square is the segment the fake engine answers by default.
var square = segment.Segment{Score: .9, Polygons: []segment.Polygon{{{X: .25, Y: .25}, {X: .75, Y: .25}, {X: .75, Y: .75}, {X: .25, Y: .75}}}}

// fakeEngine is a vision.Engine whose every call waits for the test to answer it. It keeps
// the Source.Key of every call, in order.
type fakeEngine struct {
	calls chan *engineCall
	// instant, when set, answers every call with square at once instead.
	instant bool

	mu     sync.Mutex
	keys   []string // the Source.Key of every call, in order
	bodies []string // what each call's Source.Open gave, in order
}

func newFakeEngine() *fakeEngine { return &fakeEngine{calls: make(chan *engineCall)} }

func (e *fakeEngine) Segment(ctx context.Context, src segment.Source, p segment.Prompt) ([]segment.Segment, error) {
	e.mu.Lock()
	e.keys = append(e.keys, src.Key)
	e.mu.Unlock()
	rc, err := src.Open(ctx)
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	e.bodies = append(e.bodies, string(body))
	e.mu.Unlock()
	if e.instant {
		return []segment.Segment{square}, nil
	}
	c := &engineCall{key: src.Key, body: string(body), prompt: p, answer: make(chan engineAnswer)}
	select {
	case e.calls <- c:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	select {
	case a := <-c.answer:
		if a.panic != nil {
			panic(a.panic)
		}
		return a.segs, a.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// seen returns the file ids (as the fake files' content names them) of every call so far.
func (e *fakeEngine) seen() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]string, len(e.bodies))
	for i, b := range e.bodies {
		out[i] = strings.TrimPrefix(b, "content of ")
	}
	return out
}

// next waits for the engine's next call.
func (e *fakeEngine) next() *engineCall { return <-e.calls }

// file is the id of the file the call segments, as the fake files' content names it.
func (c *engineCall) file() string { return strings.TrimPrefix(c.body, "content of ") }

// fakeFiles is a vision.FilesAPI: every id is a JPEG "a.jpg" last updated at updated, unless
// meta or err say otherwise.
type fakeFiles struct {
	mu        sync.Mutex
	updated   int64
	meta      func(id int64) *cdf.File // when set, the file Retrieve returns
	err       error                    // when set, what Retrieve fails with
	retrieved []int64
	downloads []int64
}

func (f *fakeFiles) Retrieve(ctx context.Context, id int64) (*cdf.File, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.retrieved = append(f.retrieved, id)
	if f.err != nil {
		return nil, f.err
	}
	if f.meta != nil {
		return f.meta(id), nil
	}
	return &cdf.File{ID: id, Name: "a.jpg", MimeType: "image/jpeg", Uploaded: true, LastUpdatedTime: f.updated}, nil
}

func (f *fakeFiles) Download(ctx context.Context, id cdf.Identifier) (io.ReadCloser, string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.downloads = append(f.downloads, id.ID)
	return io.NopCloser(strings.NewReader(fmt.Sprintf("content of %d", id.ID))), "image/jpeg", nil
}

func (f *fakeFiles) setUpdated(n int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.updated = n
}

// memSettings is an in-memory vision.Settings.
type memSettings struct {
	mu     sync.Mutex
	values map[string]string
	puts   int
	err    error // when set, what Setting fails with
}

func newMemSettings() *memSettings { return &memSettings{values: map[string]string{}} }

func (s *memSettings) Setting(ctx context.Context, key string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return "", s.err
	}
	v, ok := s.values[key]
	if !ok {
		return "", fmt.Errorf("setting %q: %w", key, store.ErrNotFound)
	}
	return v, nil
}

func (s *memSettings) PutSetting(ctx context.Context, key, value string, at time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.values[key] = value
	s.puts++
	return nil
}

// snapshot returns a copy of what is stored and how many writes there were.
func (s *memSettings) snapshot() (map[string]string, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]string, len(s.values))
	for k, v := range s.values {
		out[k] = v
	}
	return out, s.puts
}

// fakeVision is CDF's vision API as a jobs.SegmentAPI: StartSegment answers start (or a
// queued job 77 when start is nil); SegmentJob answers a running job with the id asked.
type fakeVision struct {
	mu     sync.Mutex
	start  func(n int) (*cdf.SegmentJob, error) // n counts calls from 1
	starts int
	polled []int64
}

func (v *fakeVision) StartSegment(ctx context.Context, req cdf.SegmentRequest) (*cdf.SegmentJob, error) {
	v.mu.Lock()
	v.starts++
	n, start := v.starts, v.start
	v.mu.Unlock()
	if start == nil {
		return &cdf.SegmentJob{JobID: 77, Status: cdf.JobQueued}, nil
	}
	return start(n)
}

func (v *fakeVision) SegmentJob(ctx context.Context, jobID int64) (*cdf.SegmentJob, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.polled = append(v.polled, jobID)
	return &cdf.SegmentJob{JobID: jobID, Status: cdf.JobRunning}, nil
}

// answer makes StartSegment answer err from now on (nil: a queued job 77).
func (v *fakeVision) answer(err error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if err == nil {
		v.start = nil
		return
	}
	v.start = func(int) (*cdf.SegmentJob, error) { return nil, err }
}

func (v *fakeVision) calls() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.starts
}

// asFailure returns err as a *jobs.Failure, failing the test if it is not one.
func asFailure(t *testing.T, err error) *jobs.Failure {
	t.Helper()
	var f *jobs.Failure
	if !errors.As(err, &f) {
		t.Fatalf("error %v (%T), want a *jobs.Failure", err, err)
	}
	return f
}

// engineFunc is a vision.Engine made of a function.
type engineFunc func(ctx context.Context, src segment.Source, p segment.Prompt) ([]segment.Segment, error)

func (f engineFunc) Segment(ctx context.Context, src segment.Source, p segment.Prompt) ([]segment.Segment, error) {
	return f(ctx, src, p)
}

// polledIDs returns the job ids SegmentJob was asked about, in order.
func (v *fakeVision) polledIDs() []int64 {
	v.mu.Lock()
	defer v.mu.Unlock()
	return append([]int64(nil), v.polled...)
}
