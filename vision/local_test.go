package vision_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image/jpeg"
	"net/http"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/lassoteam/lasso/cdf"
	"github.com/lassoteam/lasso/jobs"
	"github.com/lassoteam/lasso/segment"
	"github.com/lassoteam/lasso/vision"
)

// The tests of Local with a fake engine run in a synctest bubble: the worker parks on the
// engine's channel, synctest.Wait tells when every goroutine waits, and a hang shows as a
// deadlock instead of a timeout. Time there is fake, so Local's one-second poll heartbeat
// costs nothing.

// newLocal starts a Local on engine that is closed at the end of the test (after the test's
// context, which the prompts belong to, has ended).
func newLocal(t *testing.T, engine vision.Engine, opts vision.LocalOptions) *vision.Local {
	t.Helper()
	l := vision.NewLocal(engine, opts)
	t.Cleanup(l.Close)
	return l
}

// start queues a prompt on file id for api and returns its job id.
func start(t *testing.T, ctx context.Context, api jobs.SegmentAPI, id int64) int64 {
	t.Helper()
	j, err := api.StartSegment(ctx, request(id))
	if err != nil {
		t.Fatalf("start prompt on file %d: %v", id, err)
	}
	if j.Status != cdf.JobQueued || j.JobID == 0 {
		t.Fatalf("start prompt on file %d: job %+v, want a queued job with an id", id, j)
	}
	return j.JobID
}

// awaitEnd follows a job as jobs does until it ends: its last view, or the error that ended it.
func awaitEnd(t *testing.T, api jobs.SegmentAPI, id int64) (*cdf.SegmentJob, error) {
	t.Helper()
	for range 100 {
		j, err := api.SegmentJob(t.Context(), id)
		if err != nil || j.Status.Terminal() {
			return j, err
		}
	}
	t.Fatalf("job %d did not end after 100 polls", id)
	return nil, nil
}

// awaitFailure follows a job to its end and returns its failure.
func awaitFailure(t *testing.T, api jobs.SegmentAPI, id int64) *jobs.Failure {
	t.Helper()
	j, err := awaitEnd(t, api, id)
	if err == nil {
		t.Fatalf("job %d ended %s, want a failure", id, j.Status)
	}
	return asFailure(t, err)
}

// busy occupies the only worker with a prompt of user "zed" and returns its engine call.
func busy(t *testing.T, l *vision.Local, e *fakeEngine) (jobs.SegmentAPI, int64, *engineCall) {
	t.Helper()
	api := l.For("zed", &fakeFiles{})
	id := start(t, t.Context(), api, 1)
	c := e.next()
	if c.file() != "1" {
		t.Fatalf("the engine got file %s first, want the blocker 1", c.file())
	}
	return api, id, c
}

func TestLocalTakesUsersInTurn(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newFakeEngine()
		l := newLocal(t, e, vision.LocalOptions{Workers: 1, PerUser: 4})
		_, _, blocker := busy(t, l, e)
		files := &fakeFiles{}
		for id := range int64(4) {
			start(t, t.Context(), l.For("ana", files), 11+id)
		}
		start(t, t.Context(), l.For("ben", files), 21)
		start(t, t.Context(), l.For("ben", files), 22)
		blocker.reply()

		var order []string
		for range 6 {
			c := e.next()
			order = append(order, c.file())
			c.reply()
		}
		// Ana queued four before Ben's first, yet Ben's runs second: the worker takes the
		// users in turn, and Ana's burst does not go first as a block.
		want := []string{"11", "21", "12", "22", "13", "14"}
		if diff := cmp.Diff(want, order); diff != "" {
			t.Errorf("order of prompts at the engine (-want +got):\n%s", diff)
		}
	})
}

func TestLocalOneUsersPromptsAllRun(t *testing.T) {
	// One user alone with several waiting: each gets a worker in turn (the user stays in the
	// rotation while anything of theirs waits).
	synctest.Test(t, func(t *testing.T) {
		e := newFakeEngine()
		l := newLocal(t, e, vision.LocalOptions{Workers: 1})
		_, _, blocker := busy(t, l, e)
		api := l.For("ana", &fakeFiles{})
		ids := []int64{start(t, t.Context(), api, 11), start(t, t.Context(), api, 12), start(t, t.Context(), api, 13)}
		blocker.reply()
		for _, want := range []string{"11", "12", "13"} {
			c := e.next()
			if c.file() != want {
				t.Fatalf("engine got file %s, want %s", c.file(), want)
			}
			c.reply()
		}
		for _, id := range ids {
			if j, err := awaitEnd(t, api, id); err != nil || j.Status != cdf.JobCompleted {
				t.Errorf("job %d: %+v, %v; want completed", id, j, err)
			}
		}
	})
}

func TestLocalDropsCancelledPromptBeforeEngine(t *testing.T) {
	t.Run("the worker skips it", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			e := newFakeEngine()
			l := newLocal(t, e, vision.LocalOptions{Workers: 1})
			_, _, blocker := busy(t, l, e)
			ana := l.For("ana", &fakeFiles{})
			ctx, cancel := context.WithCancel(t.Context())
			gone := start(t, ctx, ana, 11)
			cancel() // superseded, or its follower gave up
			start(t, t.Context(), l.For("ben", &fakeFiles{}), 21)
			blocker.reply()

			c := e.next()
			if c.file() != "21" {
				t.Fatalf("engine got file %s after the blocker, want Ben's 21 (Ana's was cancelled)", c.file())
			}
			c.reply()
			f := awaitFailure(t, ana, gone)
			if !strings.Contains(f.Reason, "dropped") {
				t.Errorf("cancelled prompt's failure %q, want it to say it was dropped", f.Reason)
			}
			l.Close()
			if got := e.seen(); slices.Contains(got, "11") {
				t.Errorf("the engine segmented the cancelled prompt: calls %v", got)
			}
		})
	})
	t.Run("the user's next prompt clears it", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			e := newFakeEngine()
			l := newLocal(t, e, vision.LocalOptions{Workers: 1})
			_, _, blocker := busy(t, l, e)
			ana := l.For("ana", &fakeFiles{})
			ctx, cancel := context.WithCancel(t.Context())
			gone := start(t, ctx, ana, 11)
			cancel()
			start(t, t.Context(), ana, 12)
			// Already failed, while the worker is still busy with the blocker.
			f := awaitFailure(t, ana, gone)
			if !f.Retryable || !strings.Contains(f.Reason, "dropped") {
				t.Errorf("cancelled prompt's failure %+v, want a retryable drop", f)
			}
			blocker.reply()
			c := e.next()
			if c.file() != "12" {
				t.Fatalf("engine got file %s, want 12", c.file())
			}
			c.reply()
			l.Close()
			if got := e.seen(); slices.Contains(got, "11") {
				t.Errorf("the engine segmented the cancelled prompt: calls %v", got)
			}
		})
	})
}

func TestLocalPerUserDropsOldestWaiting(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newFakeEngine()
		l := newLocal(t, e, vision.LocalOptions{Workers: 1, PerUser: 4})
		_, _, blocker := busy(t, l, e)
		ana := l.For("ana", &fakeFiles{})
		var ids []int64
		for id := range int64(5) {
			ids = append(ids, start(t, t.Context(), ana, 11+id))
		}
		// The fifth waiting prompt made room by dropping the oldest, at once.
		f := awaitFailure(t, ana, ids[0])
		if !f.Retryable || !strings.Contains(f.Reason, "Dropped") || !strings.Contains(f.Reason, "newer prompts") {
			t.Errorf("oldest prompt's failure %+v, want a retryable drop for newer prompts", f)
		}
		blocker.reply()
		var order []string
		for range 4 {
			c := e.next()
			order = append(order, c.file())
			c.reply()
		}
		if diff := cmp.Diff([]string{"12", "13", "14", "15"}, order); diff != "" {
			t.Errorf("prompts at the engine (-want +got):\n%s", diff)
		}
		for _, id := range ids[1:] {
			if j, err := awaitEnd(t, ana, id); err != nil || j.Status != cdf.JobCompleted {
				t.Errorf("job %d: %+v, %v; want completed", id, j, err)
			}
		}
	})
}

func TestLocalQueueFull(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newFakeEngine()
		l := newLocal(t, e, vision.LocalOptions{Workers: 1, Queue: 2})
		_, _, blocker := busy(t, l, e)
		start(t, t.Context(), l.For("ana", &fakeFiles{}), 11)
		start(t, t.Context(), l.For("ben", &fakeFiles{}), 21)

		cid := l.For("cid", &fakeFiles{})
		j, err := cid.StartSegment(t.Context(), request(31))
		if j != nil {
			t.Errorf("a prompt beyond the queue got job %+v", j)
		}
		f := asFailure(t, err)
		if !f.Retryable || !strings.Contains(f.Reason, "busy") {
			t.Errorf("failure %+v, want a retryable 'busy'", f)
		}

		// Once the worker takes a waiting prompt there is room again.
		blocker.reply()
		c := e.next()
		start(t, t.Context(), cid, 31)
		c.reply()
		for _, want := range []string{"21", "31"} {
			c := e.next()
			if c.file() != want {
				t.Errorf("engine got file %s, want %s", c.file(), want)
			}
			c.reply()
		}
	})
}

func TestLocalCacheKey(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newFakeEngine()
		l := newLocal(t, e, vision.LocalOptions{Workers: 1, Scope: "https://cdf.example/proj"})
		files := &fakeFiles{updated: 1000}
		api := l.For("ana", files)
		key := func() string {
			t.Helper()
			id := start(t, t.Context(), api, 4242)
			c := e.next()
			if c.body != "content of 4242" {
				t.Errorf("engine read %q, want the file's content through the user's files API", c.body)
			}
			c.reply()
			if _, err := awaitEnd(t, api, id); err != nil {
				t.Fatal(err)
			}
			return c.key
		}
		first := key()
		if !strings.Contains(first, "4242") {
			t.Errorf("key %q does not name file 4242", first)
		}
		if again := key(); again != first {
			t.Errorf("same file, same lastUpdatedTime: key %q, then %q; want the same (cached)", first, again)
		}
		files.setUpdated(2000) // the file was replaced
		replaced := key()
		if replaced == first || !strings.Contains(replaced, "4242") {
			t.Errorf("after the file changed: key %q (was %q), want a new key naming 4242", replaced, first)
		}
		files.mu.Lock()
		retrieved := len(files.retrieved)
		files.mu.Unlock()
		if retrieved != 3 {
			t.Errorf("file metadata read %d times for 3 prompts, want every prompt to check it", retrieved)
		}

		// Another project's file with the same id and time never shares the cache.
		other := newLocal(t, e, vision.LocalOptions{Workers: 1, Scope: "https://cdf.example/other"})
		oapi := other.For("ana", files)
		id := start(t, t.Context(), oapi, 4242)
		c := e.next()
		c.reply()
		if _, err := awaitEnd(t, oapi, id); err != nil {
			t.Fatal(err)
		}
		if c.key == replaced {
			t.Errorf("two scopes gave the same key %q", c.key)
		}
	})
}

func TestLocalSegmentJobWaitsForChange(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newFakeEngine()
		l := newLocal(t, e, vision.LocalOptions{Workers: 1})
		_, _, blocker := busy(t, l, e)
		api := l.For("ana", &fakeFiles{})
		id := start(t, t.Context(), api, 11) // reported Queued

		type answer struct {
			j   *cdf.SegmentJob
			err error
		}
		poll := func() chan answer {
			ch := make(chan answer, 1)
			go func() {
				j, err := api.SegmentJob(t.Context(), id)
				ch <- answer{j, err}
			}()
			return ch
		}
		quiet := func(ch chan answer, what string) {
			t.Helper()
			synctest.Wait()
			select {
			case a := <-ch:
				t.Fatalf("%s: SegmentJob answered %+v, %v at once; want it to wait for a change", what, a.j, a.err)
			default:
			}
		}

		got := poll()
		quiet(got, "still queued")
		// Nothing happens for a second: it answers what the job is doing, so that a
		// follower's deadline stays in its hands.
		time.Sleep(time.Second)
		synctest.Wait()
		if a := <-got; a.err != nil || a.j.Status != cdf.JobQueued {
			t.Fatalf("after a quiet second: %+v, %v; want Queued", a.j, a.err)
		}

		got = poll()
		quiet(got, "still queued")
		blocker.reply() // the worker takes Ana's prompt
		c := e.next()
		if a := <-got; a.err != nil || a.j.Status != cdf.JobRunning {
			t.Fatalf("after the worker took it: %+v, %v; want Running", a.j, a.err)
		}

		got = poll()
		quiet(got, "running")
		c.reply()
		a := <-got
		if a.err != nil || a.j.Status != cdf.JobCompleted {
			t.Fatalf("after the engine answered: %+v, %v; want Completed", a.j, a.err)
		}
		want := []cdf.SegmentItem{{FileID: 11, Segments: []cdf.Segment{{Score: .9, Polygons: []cdf.Polygon{{Vertices: []cdf.Vertex{
			{X: .25, Y: .25}, {X: .75, Y: .25}, {X: .75, Y: .75}, {X: .25, Y: .75},
		}}}}}}}
		if diff := cmp.Diff(want, a.j.Items); diff != "" {
			t.Errorf("completed items (-want +got):\n%s", diff)
		}
		if a.j.JobID != id || a.j.StatusTime <= a.j.CreatedTime {
			t.Errorf("completed job %d, statusTime %d, created %d; want job %d with a later statusTime", a.j.JobID, a.j.StatusTime, a.j.CreatedTime, id)
		}
		// A finished job answers at once, as often as asked.
		if j, err := api.SegmentJob(t.Context(), id); err != nil || j.Status != cdf.JobCompleted {
			t.Errorf("asked again: %+v, %v; want Completed", j, err)
		}
	})
}

func TestLocalClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newFakeEngine()
		l := newLocal(t, e, vision.LocalOptions{Workers: 1})
		zed, running, blocker := busy(t, l, e)
		ana := l.For("ana", &fakeFiles{})
		waiting := start(t, t.Context(), ana, 11)

		closed := make(chan struct{})
		go func() {
			l.Close()
			close(closed)
		}()
		synctest.Wait()
		select {
		case <-closed:
			t.Fatal("Close returned while a worker was still segmenting")
		default:
		}
		f := awaitFailure(t, ana, waiting)
		if !f.Retryable || !strings.Contains(f.Reason, "shutting down") {
			t.Errorf("waiting prompt's failure %+v, want a retryable 'shutting down'", f)
		}
		_, err := ana.StartSegment(t.Context(), request(12))
		if f := asFailure(t, err); !f.Retryable || !strings.Contains(f.Reason, "shutting down") {
			t.Errorf("prompt after Close: %+v, want a retryable 'shutting down'", f)
		}

		blocker.reply()
		<-closed // the workers have stopped
		if j, err := awaitEnd(t, zed, running); err != nil || j.Status != cdf.JobCompleted {
			t.Errorf("the prompt being segmented at Close: %+v, %v; want it completed", j, err)
		}
		if got := e.seen(); !slices.Equal(got, []string{"1"}) {
			t.Errorf("engine calls %v, want only the prompt that was running", got)
		}
	})
}

func TestLocalEnginePanic(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newFakeEngine()
		l := newLocal(t, e, vision.LocalOptions{Workers: 1})
		ana := l.For("ana", &fakeFiles{})
		bad := start(t, t.Context(), ana, 11)
		c := e.next()
		good := start(t, t.Context(), ana, 12)
		c.answer <- engineAnswer{panic: "index out of range [7]"}

		f := awaitFailure(t, ana, bad)
		if !strings.Contains(f.Reason, "internal error") || !strings.Contains(f.Reason, "index out of range [7]") {
			t.Errorf("failure %q, want it to say the engine failed and how", f.Reason)
		}
		// The one worker is still there for the next prompt.
		c = e.next()
		if c.file() != "12" {
			t.Fatalf("engine got file %s, want 12", c.file())
		}
		c.reply()
		if j, err := awaitEnd(t, ana, good); err != nil || j.Status != cdf.JobCompleted {
			t.Errorf("prompt after the panic: %+v, %v; want completed", j, err)
		}
	})
}

func TestLocalCancelledWhileSegmenting(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newFakeEngine()
		l := newLocal(t, e, vision.LocalOptions{Workers: 1})
		ana := l.For("ana", &fakeFiles{})
		ctx, cancel := context.WithCancel(t.Context())
		gone := start(t, ctx, ana, 11)
		e.next() // never answered: the engine gives up when the prompt's context ends
		next := start(t, t.Context(), l.For("ben", &fakeFiles{}), 21)
		cancel()
		f := awaitFailure(t, ana, gone)
		if !strings.Contains(f.Reason, "dropped") {
			t.Errorf("failure %q, want the prompt dropped", f.Reason)
		}
		c := e.next()
		if c.file() != "21" {
			t.Fatalf("engine got file %s, want 21", c.file())
		}
		c.reply()
		if j, err := awaitEnd(t, l.For("ben", &fakeFiles{}), next); err != nil || j.Status != cdf.JobCompleted {
			t.Errorf("next prompt: %+v, %v; want completed", j, err)
		}
	})
}

func TestLocalFailures(t *testing.T) {
	// Each failure says, in words, what is wrong; only what may pass on another try is
	// retryable.
	apiErr := func(status int, msg string) error {
		return fmt.Errorf("cdf: retrieve file: %w", &cdf.APIError{Status: status, Message: msg})
	}
	fail := func(err error) vision.Engine {
		return engineFunc(func(context.Context, segment.Source, segment.Prompt) ([]segment.Segment, error) { return nil, err })
	}
	ok := engineFunc(func(context.Context, segment.Source, segment.Prompt) ([]segment.Segment, error) {
		return []segment.Segment{square}, nil
	})
	file := func(f cdf.File) func(int64) *cdf.File { return func(int64) *cdf.File { return &f } }
	tests := []struct {
		name      string
		files     *fakeFiles
		engine    vision.Engine
		want      []string // in the reason
		retryable bool
	}{
		{"forbidden", &fakeFiles{err: apiErr(http.StatusForbidden, "Resource not found. This may also be due to insufficient access rights")}, ok,
			[]string{"CDF does not let you read file 5", "403"}, false},
		{"unauthorized", &fakeFiles{err: apiErr(http.StatusUnauthorized, "")}, ok,
			[]string{"CDF does not let you read file 5", "401: Unauthorized"}, false},
		{"not found", &fakeFiles{err: apiErr(http.StatusNotFound, "")}, ok,
			[]string{"File 5 is not in CDF"}, false},
		{"missing", &fakeFiles{err: &cdf.APIError{Status: 400, Message: "Files ids not found", Missing: []json.RawMessage{json.RawMessage(`{"id":5}`)}}}, ok,
			[]string{"File 5 is not in CDF"}, false},
		{"CDF down", &fakeFiles{err: apiErr(http.StatusServiceUnavailable, "")}, ok,
			[]string{"CDF could not serve file 5 just now", "503"}, true},
		{"throttled", &fakeFiles{err: apiErr(http.StatusTooManyRequests, "")}, ok,
			[]string{"CDF could not serve file 5 just now", "429"}, true},
		{"other refusal", &fakeFiles{err: apiErr(http.StatusBadRequest, "bad id")}, ok,
			[]string{"CDF refused to serve file 5", "bad id"}, false},
		{"unreachable", &fakeFiles{err: errors.New("dial tcp: connection refused")}, ok,
			[]string{"Could not read file 5 from CDF", "connection refused"}, true},
		{"not uploaded", &fakeFiles{meta: file(cdf.File{ID: 5, Name: "new.jpg", MimeType: "image/jpeg"})}, ok,
			[]string{"“new.jpg”", "upload has not finished"}, true},
		{"not an image", &fakeFiles{meta: file(cdf.File{ID: 5, Name: "report.pdf", MimeType: "application/pdf", Uploaded: true})}, ok,
			[]string{"“report.pdf”", "not a JPEG or PNG", "application/pdf"}, false},
		{"too many pixels", &fakeFiles{}, fail(fmt.Errorf("%w: 50000×50000", segment.ErrTooLarge)),
			[]string{"“a.jpg”", "too large", "50000×50000"}, false},
		{"damaged", &fakeFiles{}, fail(fmt.Errorf("%w: decode: %w", segment.ErrDamaged, jpeg.FormatError("short Huffman data"))),
			[]string{"“a.jpg”", "damaged", "ends too early"}, false},
		{"other JPEG format error", &fakeFiles{}, fail(fmt.Errorf("%w: decode: %w", segment.ErrUnsupported, jpeg.FormatError("bad RST marker"))),
			[]string{"“a.jpg”", "could not be read as an image", "bad RST marker"}, false},
		{"unreadable", &fakeFiles{}, fail(fmt.Errorf("%w: not JPEG or PNG", segment.ErrUnsupported)),
			[]string{"“a.jpg”", "could not be read as an image: not JPEG or PNG."}, false},
		{"a WebP named .jpg", &fakeFiles{}, fail(fmt.Errorf("%w: the file is a WebP image, not a JPEG or PNG", segment.ErrUnsupported)),
			[]string{"“a.jpg” could not be read as an image: the file is a WebP image, not a JPEG or PNG."}, false},
		{"bad prompt", &fakeFiles{}, fail(fmt.Errorf("%w: point 0 lies outside 0..1", segment.ErrInvalidPrompt)),
			[]string{"refused the prompt", "point 0 lies outside 0..1"}, false},
		{"download too large", &fakeFiles{}, fail(fmt.Errorf("segment: read image: %w", cdf.ErrResponseTooLarge)),
			[]string{"“a.jpg”", "too large to download"}, false},
		{"download refused", &fakeFiles{}, fail(fmt.Errorf("segment: open image: %w", &cdf.APIError{Status: 403, Message: "no"})),
			[]string{"CDF does not let you read file 5"}, false},
		{"engine error", &fakeFiles{}, fail(errors.New("out of memory")),
			[]string{"could not segment “a.jpg”", "out of memory"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				l := newLocal(t, tt.engine, vision.LocalOptions{Workers: 1})
				api := l.For("ana", tt.files)
				f := awaitFailure(t, api, start(t, t.Context(), api, 5))
				for _, w := range tt.want {
					if !strings.Contains(f.Reason, w) {
						t.Errorf("reason %q lacks %q", f.Reason, w)
					}
				}
				if f.Retryable != tt.retryable {
					t.Errorf("retryable %v, want %v (reason %q)", f.Retryable, tt.retryable, f.Reason)
				}
			})
		})
	}
}

func TestLocalStartRefusesWhatItCannotRun(t *testing.T) {
	l := vision.NewLocal(engineFunc(func(context.Context, segment.Source, segment.Prompt) ([]segment.Segment, error) {
		t.Error("the engine was called")
		return nil, nil
	}), vision.LocalOptions{Workers: 1})
	defer l.Close()
	api := l.For("ana", &fakeFiles{})
	for name, req := range map[string]cdf.SegmentRequest{
		"no file":        {Points: []cdf.SegmentPoint{{X: .5, Y: .5, Label: 1}}},
		"two files":      {Items: []cdf.FileReference{{FileID: 1}, {FileID: 2}}, Points: []cdf.SegmentPoint{{X: .5, Y: .5, Label: 1}}},
		"by external id": {Items: []cdf.FileReference{{FileExternalID: "a.jpg"}}, Points: []cdf.SegmentPoint{{X: .5, Y: .5, Label: 1}}},
	} {
		j, err := api.StartSegment(t.Context(), req)
		if j != nil {
			t.Errorf("%s: got job %+v", name, j)
		}
		if f := asFailure(t, err); f.Retryable || !strings.Contains(f.Reason, "one file at a time") {
			t.Errorf("%s: failure %+v, want a final 'one file at a time'", name, f)
		}
	}
}

func TestLocalJobsAreTheirUsers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := &fakeEngine{instant: true}
		l := newLocal(t, e, vision.LocalOptions{Workers: 1})
		ana := l.For("ana", &fakeFiles{})
		id := start(t, t.Context(), ana, 11)
		if j, err := awaitEnd(t, ana, id); err != nil || j.Status != cdf.JobCompleted {
			t.Fatalf("Ana's job: %+v, %v", j, err)
		}
		for name, poll := range map[string]func() (*cdf.SegmentJob, error){
			"another user's job": func() (*cdf.SegmentJob, error) { return l.For("ben", &fakeFiles{}).SegmentJob(t.Context(), id) },
			"an unknown job":     func() (*cdf.SegmentJob, error) { return ana.SegmentJob(t.Context(), id+100) },
		} {
			j, err := poll()
			if j != nil {
				t.Errorf("%s: got %+v", name, j)
			}
			if f := asFailure(t, err); !strings.Contains(f.Reason, "no longer knows this job") {
				t.Errorf("%s: failure %q", name, f.Reason)
			}
		}
	})
}

func TestLocalForgetsFinishedJobsAfterKeep(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newLocal(t, &fakeEngine{instant: true}, vision.LocalOptions{Workers: 1, Keep: time.Minute})
		ana := l.For("ana", &fakeFiles{})
		id := start(t, t.Context(), ana, 11)
		if _, err := awaitEnd(t, ana, id); err != nil {
			t.Fatal(err)
		}
		time.Sleep(59 * time.Second)
		start(t, t.Context(), ana, 12)
		if j, err := ana.SegmentJob(t.Context(), id); err != nil || j.Status != cdf.JobCompleted {
			t.Fatalf("within Keep: %+v, %v; want the finished job", j, err)
		}
		time.Sleep(2 * time.Second)
		start(t, t.Context(), ana, 13) // eviction happens as prompts come in
		if _, err := ana.SegmentJob(t.Context(), id); err == nil || !strings.Contains(err.Error(), "no longer knows") {
			t.Errorf("after Keep: %v, want the job forgotten", err)
		}
	})
}

func TestLocalBackend(t *testing.T) {
	l := vision.NewLocal(&fakeEngine{instant: true}, vision.LocalOptions{Workers: 1})
	defer l.Close()
	d, ok := l.For("ana", &fakeFiles{}).(jobs.Described)
	if !ok {
		t.Fatal("the local SegmentAPI does not say which backend it is")
	}
	if name, notice := d.Backend(); name != jobs.BackendLocal || notice != "" {
		t.Errorf("Backend() = %q, %q; want %q and no notice", name, notice, jobs.BackendLocal)
	}
}
