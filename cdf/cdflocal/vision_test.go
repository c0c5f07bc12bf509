package cdflocal_test

import (
	"context"
	"encoding/json"
	"fmt"
	"image"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/lassoteam/lasso/cdf"
	"github.com/lassoteam/lasso/cdf/cdflocal"
	"github.com/lassoteam/lasso/segment"
)

// fakeEngine answers deterministically: the box, or a triangle around the first positive
// point. Sources that do not decode as images fail like the real engine.
type fakeEngine struct{}

func (fakeEngine) Segment(ctx context.Context, src segment.Source, p segment.Prompt) ([]segment.Segment, error) {
	rc, err := src.Open(ctx)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	if _, _, err := image.DecodeConfig(rc); err != nil {
		return nil, fmt.Errorf("%w: %v", segment.ErrUnsupported, err)
	}
	if p.Box != nil {
		b := p.Box
		return []segment.Segment{{Score: 0.9, Polygons: []segment.Polygon{{{X: b.XMin, Y: b.YMin}, {X: b.XMax, Y: b.YMin}, {X: b.XMax, Y: b.YMax}, {X: b.XMin, Y: b.YMax}}}}}, nil
	}
	for _, pt := range p.Points {
		if pt.Label == 1 {
			return []segment.Segment{
				{Score: 0.8, Polygons: []segment.Polygon{{{X: pt.X - .1, Y: pt.Y + .1}, {X: pt.X, Y: pt.Y - .1}, {X: pt.X + .1, Y: pt.Y + .1}}}},
				{Score: 1.5, Polygons: []segment.Polygon{{{X: 0, Y: 0}, {X: 1, Y: 0}}}}, // too few vertices: dropped
			}, nil
		}
	}
	return nil, nil
}

// stepper replaces Config.Sleep: each wait blocks until the test releases it.
type stepper struct {
	waits   chan time.Duration
	release chan struct{}
}

func newStepper() *stepper {
	return &stepper{waits: make(chan time.Duration, 100), release: make(chan struct{})}
}

func (s *stepper) Sleep(ctx context.Context, d time.Duration) error {
	s.waits <- d
	select {
	case <-s.release:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// step waits for a job goroutine to wait for d, then lets it go on.
func (s *stepper) step(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case got := <-s.waits:
		if got != d {
			t.Errorf("job waited %v, want %v", got, d)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("no job waited for %v", d)
	}
	s.release <- struct{}{}
}

// waitStatus polls the job until it reaches want.
func waitStatus(t *testing.T, c *cdf.Client, id int64, want cdf.JobStatus) *cdf.SegmentJob {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		j, err := c.Vision.SegmentJob(context.Background(), id)
		must(t, err)
		if j.Status == want {
			return j
		}
		if j.Status.Terminal() || time.Now().After(deadline) {
			t.Fatalf("job %d is %s, want %s: %+v", id, j.Status, want, j)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestSegmentJobLifecycle(t *testing.T) {
	st := newStepper()
	e := setup(t, setupOpts{cfg: func(c *cdflocal.Config) {
		c.QueueDelay, c.RunDelay, c.Sleep = 2*time.Second, time.Hour, st.Sleep
		c.InstanceSpace = "sp"
	}})
	ctx := context.Background()
	wide := e.id("wide.png")
	t0 := e.clock.Now().UnixMilli()

	job, err := e.c.Vision.StartSegment(ctx, cdf.SegmentRequest{
		Items:  []cdf.FileReference{{FileExternalID: "wide.png"}},
		Points: []cdf.SegmentPoint{{X: 0.5, Y: 0.5, Label: 1}, {X: 0.1, Y: 0.1, Label: 0}},
	})
	must(t, err)
	want := &cdf.SegmentJob{
		Status: cdf.JobQueued, CreatedTime: t0, StartTime: t0, StatusTime: t0, JobID: job.JobID,
		Items:  []cdf.SegmentItem{{FileID: wide, FileExternalID: "wide.png", FileInstanceID: &cdf.InstanceID{Space: "sp", ExternalID: "wide.png"}}},
		Points: []cdf.SegmentPoint{{X: 0.5, Y: 0.5, Label: 1}, {X: 0.1, Y: 0.1, Label: 0}},
	}
	if diff := cmp.Diff(want, job); diff != "" {
		t.Errorf("POST answer (-want +got):\n%s", diff)
	}

	got, err := e.c.Vision.SegmentJob(ctx, job.JobID)
	must(t, err)
	wantGet := &cdf.SegmentJob{
		Status: cdf.JobQueued, CreatedTime: t0, StartTime: t0, StatusTime: t0, JobID: job.JobID,
		Items:  []cdf.SegmentItem{{FileID: wide, FileExternalID: "wide.png"}},
		Prompt: &cdf.SegmentPrompt{Points: want.Points},
	}
	if diff := cmp.Diff(wantGet, got); diff != "" {
		t.Errorf("GET while queued (-want +got):\n%s", diff)
	}

	e.clock.Add(2 * time.Second)
	st.step(t, 2*time.Second)
	running := waitStatus(t, e.c, job.JobID, cdf.JobRunning)
	if running.StatusTime != t0+2000 {
		t.Errorf("running statusTime %d, want %d", running.StatusTime, t0+2000)
	}

	// The clock does not move: statusTime still changes at the transition.
	st.step(t, time.Hour)
	done := waitStatus(t, e.c, job.JobID, cdf.JobCompleted)
	if done.StatusTime <= running.StatusTime {
		t.Errorf("completed statusTime %d not after running %d", done.StatusTime, running.StatusTime)
	}
	wantDone := &cdf.SegmentJob{
		Status: cdf.JobCompleted, CreatedTime: t0, StartTime: t0, StatusTime: done.StatusTime, JobID: job.JobID,
		Items:  []cdf.SegmentItem{{FileID: wide, FileExternalID: "wide.png", Segments: []cdf.Segment{{Score: 0.8, Polygons: []cdf.Polygon{{Vertices: []cdf.Vertex{{X: 0.4, Y: 0.6}, {X: 0.5, Y: 0.4}, {X: 0.6, Y: 0.6}}}}}}}},
		Prompt: &cdf.SegmentPrompt{Points: want.Points},
	}
	if diff := cmp.Diff(wantDone, done, cmpApprox); diff != "" {
		t.Errorf("GET when completed (-want +got):\n%s", diff)
	}

	// Raw JSON: prompt nested on GET, not at the top level; segments present.
	_, _, body := e.raw("GET", fmt.Sprintf("/api/v1/projects/%s/context/vision/segment/%d", testProject, job.JobID), "", "cdf-version", "20230101-beta")
	var raw map[string]json.RawMessage
	must(t, json.Unmarshal(body, &raw))
	for _, k := range []string{"prompt", "items", "status", "createdTime", "startTime", "statusTime", "jobId", "errorMessage"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("GET body lacks %q: %s", k, body)
		}
	}
	for _, k := range []string{"points", "boundingBox", "failedItems"} {
		if _, ok := raw[k]; ok {
			t.Errorf("GET body has top-level %q: %s", k, body)
		}
	}
}

var cmpApprox = cmp.Comparer(func(a, b float64) bool { d := a - b; return d < 1e-9 && d > -1e-9 })

func TestSegmentBoxAndFailures(t *testing.T) {
	e := setup(t, setupOpts{})
	ctx := context.Background()

	box := &cdf.BoundingBox{XMin: .1, YMin: .2, XMax: .5, YMax: .6}
	job, err := e.c.Vision.StartSegment(ctx, cdf.SegmentRequest{Items: []cdf.FileReference{{FileID: e.id("photos/small.jpg")}}, BoundingBox: box})
	must(t, err)
	if job.BoundingBox == nil || *job.BoundingBox != *box || job.Points == nil || len(job.Points) != 0 {
		t.Errorf("POST echo: box %+v points %#v", job.BoundingBox, job.Points)
	}
	done := waitStatus(t, e.c, job.JobID, cdf.JobCompleted)
	if done.Prompt == nil || done.Prompt.BoundingBox == nil || *done.Prompt.BoundingBox != *box {
		t.Errorf("nested prompt %+v", done.Prompt)
	}
	if len(done.Items) != 1 || len(done.Items[0].Segments) != 1 || len(done.Items[0].Segments[0].Polygons[0].Vertices) != 4 {
		t.Errorf("box result %+v", done.Items)
	}

	// A negative point alone: the job completes with no segments, sent as [].
	job, err = e.c.Vision.StartSegment(ctx, cdf.SegmentRequest{Items: []cdf.FileReference{{FileID: e.id("wide.png")}}, Points: []cdf.SegmentPoint{{X: .3, Y: .3, Label: 0}}})
	must(t, err)
	done = waitStatus(t, e.c, job.JobID, cdf.JobCompleted)
	if done.Items[0].Segments == nil || len(done.Items[0].Segments) != 0 {
		t.Errorf("empty result: %#v", done.Items[0].Segments)
	}

	// A .png that is not a PNG: Failed, with items [], errorMessage and failedItems.
	broken := e.id("broken.png")
	job, err = e.c.Vision.StartSegment(ctx, cdf.SegmentRequest{Items: []cdf.FileReference{{FileID: broken}}, Points: []cdf.SegmentPoint{{X: .5, Y: .5, Label: 1}}})
	must(t, err)
	failed := waitStatus(t, e.c, job.JobID, cdf.JobFailed)
	if failed.ErrorMessage == nil || *failed.ErrorMessage == "" || failed.Items == nil || len(failed.Items) != 0 {
		t.Errorf("failed job: %+v", failed)
	}
	wantFailed := []cdf.FailedBatch{{ErrorMessage: *failed.ErrorMessage, Items: []cdf.SegmentItem{{FileID: broken, FileExternalID: "broken.png"}}}}
	if diff := cmp.Diff(wantFailed, failed.FailedItems); diff != "" {
		t.Errorf("failedItems (-want +got):\n%s", diff)
	}
}

func TestSegmentWithRealEngine(t *testing.T) {
	e := setup(t, setupOpts{cfg: func(c *cdflocal.Config) { c.Engine = segment.New(segment.Options{}) }})
	job, err := e.c.Vision.StartSegment(context.Background(), cdf.SegmentRequest{
		Items:  []cdf.FileReference{{FileID: e.id("wide.png")}},
		Points: []cdf.SegmentPoint{{X: .5, Y: .5, Label: 1}},
	})
	must(t, err)
	done := waitStatus(t, e.c, job.JobID, cdf.JobCompleted)
	for _, s := range done.Items[0].Segments {
		if s.Score < 0 || s.Score > 1 || len(s.Polygons) == 0 {
			t.Errorf("segment %+v", s)
		}
		for _, p := range s.Polygons {
			if len(p.Vertices) < 3 || len(p.Vertices) > 1000 {
				t.Errorf("polygon of %d vertices", len(p.Vertices))
			}
			for _, v := range p.Vertices {
				if v.X < 0 || v.X > 1 || v.Y < 0 || v.Y > 1 {
					t.Errorf("vertex %+v outside 0..1", v)
				}
			}
		}
	}
}

func TestSegmentValidation(t *testing.T) {
	e := setup(t, setupOpts{cfg: func(c *cdflocal.Config) { c.InstanceSpace = "sp" }})
	wide := e.id("wide.png")
	item := fmt.Sprintf(`"items":[{"fileId":%d}]`, wide)
	pts := func(n int) string {
		var b []string
		for i := range n {
			b = append(b, fmt.Sprintf(`{"x":%g,"y":0.5}`, float64(i)/1000))
		}
		return `"points":[` + strings.Join(b, ",") + `]`
	}
	tests := []struct {
		name, body string
		status     int
	}{
		{"ok: fileId and point", `{` + item + `,"points":[{"x":0.5,"y":0.5,"label":1}]}`, 200},
		{"ok: label defaults to 1", `{` + item + `,"points":[{"x":0,"y":1}]}`, 200},
		{"ok: label 0.0", `{` + item + `,"points":[{"x":0.2,"y":0.2,"label":0.0}]}`, 200},
		{"ok: fileExternalId", `{"items":[{"fileExternalId":"photos/small.jpg"}],"points":[{"x":0.5,"y":0.5}]}`, 200},
		{"ok: fileInstanceId", `{"items":[{"fileInstanceId":{"space":"sp","externalId":"photos/deep/tiny.jpeg"}}],"points":[{"x":0.5,"y":0.5}]}`, 200},
		{"ok: box only", `{` + item + `,"boundingBox":{"xMin":0,"yMin":0,"xMax":1,"yMax":1}}`, 200},
		{"ok: empty points with box", `{` + item + `,"points":[],"boundingBox":{"xMin":0.1,"yMin":0.1,"xMax":0.2,"yMax":0.2}}`, 200},
		{"ok: 100 points", `{` + item + `,` + pts(100) + `}`, 200},
		{"101 points", `{` + item + `,` + pts(101) + `}`, 400},
		{"no items", `{"points":[{"x":0.5,"y":0.5}]}`, 400},
		{"empty items", `{"items":[],"points":[{"x":0.5,"y":0.5}]}`, 400},
		{"two items", fmt.Sprintf(`{"items":[{"fileId":%d},{"fileId":%d}],"points":[{"x":0.5,"y":0.5}]}`, wide, wide), 400},
		{"item with two forms", fmt.Sprintf(`{"items":[{"fileId":%d,"fileExternalId":"wide.png"}],"points":[{"x":0.5,"y":0.5}]}`, wide), 400},
		{"empty item", `{"items":[{}],"points":[{"x":0.5,"y":0.5}]}`, 400},
		{"item with unknown key", `{"items":[{"id":1}],"points":[{"x":0.5,"y":0.5}]}`, 400},
		{"instance id without space", `{"items":[{"fileInstanceId":{"externalId":"wide.png"}}],"points":[{"x":0.5,"y":0.5}]}`, 400},
		{"no prompt", `{` + item + `}`, 400},
		{"null prompt", `{` + item + `,"points":null}`, 400},
		{"empty points, no box", `{` + item + `,"points":[]}`, 400},
		{"x above 1", `{` + item + `,"points":[{"x":1.01,"y":0.5}]}`, 400},
		{"y below 0", `{` + item + `,"points":[{"x":0.5,"y":-0.1}]}`, 400},
		{"x missing", `{` + item + `,"points":[{"y":0.5}]}`, 400},
		{"x a string", `{` + item + `,"points":[{"x":"0.5","y":0.5}]}`, 400},
		{"label 2", `{` + item + `,"points":[{"x":0.5,"y":0.5,"label":2}]}`, 400},
		{"label 0.5", `{` + item + `,"points":[{"x":0.5,"y":0.5,"label":0.5}]}`, 400},
		{"label -1", `{` + item + `,"points":[{"x":0.5,"y":0.5,"label":-1}]}`, 400},
		{"duplicate points", `{` + item + `,"points":[{"x":0.5,"y":0.5},{"x":0.5,"y":0.5,"label":1}]}`, 400},
		{"unknown point key", `{` + item + `,"points":[{"x":0.5,"y":0.5,"z":1}]}`, 400},
		{"box key missing", `{` + item + `,"boundingBox":{"xMin":0.1,"yMin":0.1,"xMax":0.2}}`, 400},
		{"box outside 0..1", `{` + item + `,"boundingBox":{"xMin":0.1,"yMin":0.1,"xMax":1.2,"yMax":0.2}}`, 400},
		{"box inverted", `{` + item + `,"boundingBox":{"xMin":0.5,"yMin":0.1,"xMax":0.2,"yMax":0.2}}`, 400},
		{"box zero height", `{` + item + `,"boundingBox":{"xMin":0.1,"yMin":0.2,"xMax":0.2,"yMax":0.2}}`, 400},
		{"unknown file id", `{"items":[{"fileId":77}],"points":[{"x":0.5,"y":0.5}]}`, 400},
		{"unknown external id", `{"items":[{"fileExternalId":"nope.png"}],"points":[{"x":0.5,"y":0.5}]}`, 400},
		{"text file", `{"items":[{"fileExternalId":"notes.txt"}],"points":[{"x":0.5,"y":0.5}]}`, 400},
		{"unknown top-level key", `{` + item + `,"points":[{"x":0.5,"y":0.5}],"features":[]}`, 400},
		{"malformed JSON", `{` + item + `,"points":[{"x":0.5,`, 400},
		{"not an object", `[1,2]`, 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, hdr, body := e.raw("POST", "/api/v1/projects/"+testProject+"/context/vision/segment", tt.body, "cdf-version", "beta")
			if status != tt.status {
				t.Fatalf("status %d, want %d: %s", status, tt.status, body)
			}
			if status == 400 && (!strings.Contains(string(body), `"code":400`) || hdr.Get("x-request-id") == "") {
				t.Errorf("error without envelope or request id: %s", body)
			}
		})
	}

	t.Run("missing names the file as given", func(t *testing.T) {
		_, err := e.c.Vision.StartSegment(context.Background(), cdf.SegmentRequest{Items: []cdf.FileReference{{FileExternalID: "nope.png"}}, Points: []cdf.SegmentPoint{{X: .5, Y: .5, Label: 1}}})
		ae := apiError(t, err, 400)
		if len(ae.Missing) != 1 || string(ae.Missing[0]) != `{"fileExternalId":"nope.png"}` {
			t.Errorf("missing %s", ae.Missing)
		}
	})

	t.Run("cdf-version", func(t *testing.T) {
		body := `{` + item + `,"points":[{"x":0.5,"y":0.5}]}`
		for v, want := range map[string]int{"": 400, "20230101": 400, "V20210406": 400, "alpha": 400, "beta": 200, "20230101-beta": 200, "BETA": 200} {
			status, _, b := e.raw("POST", "/api/v1/projects/"+testProject+"/context/vision/segment", body, "cdf-version", v)
			if status != want {
				t.Errorf("cdf-version %q: %d, want %d: %s", v, status, want, b)
			}
		}
		if status, _, _ := e.raw("GET", "/api/v1/projects/"+testProject+"/context/vision/segment/1", ""); status != 400 {
			t.Errorf("GET job without cdf-version: %d, want 400", status)
		}
		// Other endpoints accept any cdf-version, as the JS SDK sends V20210406 everywhere.
		if status, _, _ := e.raw("POST", "/api/v1/projects/"+testProject+"/files/list", `{}`, "cdf-version", "V20210406"); status != 200 {
			t.Errorf("files/list with cdf-version V20210406: %d", status)
		}
		e404 := setup(t, setupOpts{cfg: func(c *cdflocal.Config) { c.VersionErrorStatus = 404 }})
		if status, _, _ := e404.raw("POST", "/api/v1/projects/"+testProject+"/context/vision/segment", body); status != 404 {
			t.Errorf("configured version error status: %d, want 404", status)
		}
	})

	t.Run("job ids", func(t *testing.T) {
		_, err := e.c.Vision.SegmentJob(context.Background(), 987654321)
		apiError(t, err, 400)
		for _, id := range []string{"abc", "1.5", "-3", "0", "99999999999999999999"} {
			status, _, body := e.raw("GET", "/api/v1/projects/"+testProject+"/context/vision/segment/"+id, "", "cdf-version", "beta")
			if status != 400 || !strings.Contains(string(body), `"code":400`) {
				t.Errorf("job id %q: %d %s, want 400 envelope", id, status, body)
			}
		}
		if status, _, _ := e.raw("POST", "/api/v1/projects/"+testProject+"/context/vision/segment/1", `{}`, "cdf-version", "beta"); status != 405 {
			t.Errorf("POST to a job: %d, want 405", status)
		}
	})
}

func TestSegmentConcurrencyLimitAndClose(t *testing.T) {
	st := newStepper()
	e := setup(t, setupOpts{cfg: func(c *cdflocal.Config) {
		c.MaxConcurrentJobs, c.QueueDelay, c.Sleep = 2, time.Minute, st.Sleep
	}})
	ctx := context.Background()
	req := cdf.SegmentRequest{Items: []cdf.FileReference{{FileID: e.id("wide.png")}}, Points: []cdf.SegmentPoint{{X: .5, Y: .5, Label: 1}}}
	var ids []int64
	for range 2 {
		j, err := e.c.Vision.StartSegment(ctx, req)
		must(t, err)
		ids = append(ids, j.JobID)
	}
	before := e.requests.Load()
	_, err := e.c.Vision.StartSegment(ctx, req)
	ae := apiError(t, err, http.StatusTooManyRequests)
	if !strings.Contains(ae.Message, "concurrent") {
		t.Errorf("429 message %q does not explain the cause", ae.Message)
	}
	if n := e.requests.Load() - before; n != 5 {
		t.Errorf("429 on start: %d attempts, want 5 (retried on 429 only)", n)
	}
	// Finishing one job frees a slot.
	st.step(t, time.Minute)
	waiting := int64(0)
	for deadline := time.Now().Add(5 * time.Second); waiting == 0; {
		for i, id := range ids {
			j, err := e.c.Vision.SegmentJob(ctx, id)
			must(t, err)
			if j.Status == cdf.JobCompleted {
				waiting = ids[1-i]
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("no job completed")
		}
		time.Sleep(2 * time.Millisecond)
	}
	_, err = e.c.Vision.StartSegment(ctx, req)
	must(t, err)

	// Close ends the waiting jobs as Failed and returns only when their goroutines are done.
	closed := make(chan error, 1)
	go func() { closed <- e.srv.Close() }()
	select {
	case err := <-closed:
		must(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return: job goroutines leaked")
	}
	j, err := e.c.Vision.SegmentJob(ctx, waiting)
	must(t, err)
	if j.Status != cdf.JobFailed {
		t.Errorf("job after Close: %s, want Failed", j.Status)
	}
	_, err = e.c.Vision.StartSegment(ctx, req)
	apiError(t, err, http.StatusServiceUnavailable)
}
