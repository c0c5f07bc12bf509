package cdflocal_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/lassoteam/lasso/cdf"
	"github.com/lassoteam/lasso/cdf/cdflocal"
)

// envelope is CDF's error body, decoded strictly enough to see extra or missing keys.
type envelope struct {
	Error map[string]any `json:"error"`
}

func decodeEnvelope(t *testing.T, body []byte) map[string]any {
	t.Helper()
	var env envelope
	if err := json.Unmarshal(body, &env); err != nil || env.Error == nil {
		t.Fatalf("not CDF's error envelope: %s (%v)", body, err)
	}
	return env.Error
}

func TestParseVision(t *testing.T) {
	for in, want := range map[string]string{
		"": cdflocal.VisionOn, "on": cdflocal.VisionOn, "retired-404": cdflocal.VisionRetired404,
		"retired-410": cdflocal.VisionRetired410, "retired-403": cdflocal.VisionRetired403,
	} {
		got, err := cdflocal.ParseVision(in)
		if err != nil || got != want {
			t.Errorf("ParseVision(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"off", "ON", "retired", "retired-500", " on"} {
		_, err := cdflocal.ParseVision(in)
		if err == nil {
			t.Errorf("ParseVision(%q): no error", in)
			continue
		}
		for _, allowed := range []string{"on", "retired-404", "retired-410", "retired-403"} {
			if !strings.Contains(err.Error(), allowed) {
				t.Errorf("ParseVision(%q) error %q does not name %q", in, err, allowed)
			}
		}
	}
	if _, err := cdflocal.New(cdflocal.Config{ImagesDir: t.TempDir(), Vision: "retired"}); err == nil {
		t.Error("New with Vision \"retired\": no error")
	}
}

// TestVisionRetiredModes sends both segment endpoints, in every mode, a request that the API
// would otherwise serve, and requests it would otherwise refuse for other reasons: a retired
// API answers its own error before anything but authentication is checked.
func TestVisionRetiredModes(t *testing.T) {
	seg := "/api/v1/projects/" + testProject + "/context/vision/segment"
	body := `{"items":[{"fileExternalId":"wide.png"}],"points":[{"x":0.5,"y":0.5,"label":1}]}`
	type answer struct {
		status int
		msg    string // the exact error.message; "" for a served request
	}
	modes := []struct {
		mode string
		want answer
	}{
		{cdflocal.VisionRetired404, answer{404, "Not Found"}},
		{cdflocal.VisionRetired410, answer{410, "The vision segment endpoint was retired on 2027-02-17 and is no longer available"}},
		{cdflocal.VisionRetired403, answer{403, `The Vision API is deprecated and is no longer available for project "test-proj"`}},
	}
	for _, m := range modes {
		t.Run(m.mode, func(t *testing.T) {
			e := setup(t, setupOpts{cfg: func(c *cdflocal.Config) { c.Vision = m.mode }})
			reqs := []struct {
				name, method, path, body string
				headers                  []string
				want                     answer
			}{
				{"POST", "POST", seg, body, []string{"cdf-version", "beta"}, m.want},
				{"GET", "GET", seg + "/1", "", []string{"cdf-version", "beta"}, m.want},
				{"GET unknown job", "GET", seg + "/999999", "", []string{"cdf-version", "beta"}, m.want},
				{"POST without cdf-version", "POST", seg, body, nil, m.want},
				{"GET without cdf-version", "GET", seg + "/1", "", nil, m.want},
				{"POST bad body", "POST", seg, `{"nope":1}`, []string{"cdf-version", "beta"}, m.want},
				{"GET bad job id", "GET", seg + "/x", "", []string{"cdf-version", "beta"}, m.want},
				{"wrong method", "PUT", seg, body, []string{"cdf-version", "beta"}, m.want},
				{"POST without token", "POST", seg, body, []string{"cdf-version", "beta", "Authorization", ""},
					answer{401, "Unauthorized: missing bearer token in the Authorization header"}},
				{"GET with a wrong token", "GET", seg + "/1", "", []string{"cdf-version", "beta", "Authorization", "Bearer nope"},
					answer{401, "Unauthorized: invalid token"}},
			}
			if m.mode == cdflocal.VisionRetired403 {
				reqs = append(reqs, struct {
					name, method, path, body string
					headers                  []string
					want                     answer
				}{"other project", "POST", "/api/v1/projects/other/context/vision/segment", body, []string{"cdf-version", "beta"},
					answer{403, `The Vision API is deprecated and is no longer available for project "other"`}})
			}
			for _, r := range reqs {
				st, h, b := e.raw(r.method, r.path, r.body, r.headers...)
				if st != r.want.status {
					t.Errorf("%s: status %d, want %d: %s", r.name, st, r.want.status, b)
					continue
				}
				if h.Get("x-request-id") == "" || !strings.HasPrefix(h.Get("Content-Type"), "application/json") {
					t.Errorf("%s: headers %v", r.name, h)
				}
				got := decodeEnvelope(t, b)
				want := map[string]any{"code": float64(r.want.status), "message": r.want.msg}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("%s: error (-want +got):\n%s", r.name, diff)
				}
			}

			// The cdf client sees a plain *APIError, once: the status is not retried.
			before := e.requests.Load()
			_, err := e.c.Vision.StartSegment(context.Background(), cdf.SegmentRequest{
				Items: []cdf.FileReference{{FileExternalID: "wide.png"}}, Points: []cdf.SegmentPoint{{X: .5, Y: .5, Label: 1}}})
			ae := apiError(t, err, m.want.status)
			if ae.Message != m.want.msg {
				t.Errorf("client: message %q, want %q", ae.Message, m.want.msg)
			}
			if n := e.requests.Load() - before; n != 1 {
				t.Errorf("client sent %d requests, want 1", n)
			}
		})
	}
}

// TestVisionRetiredOtherEndpointsWork checks that files, downloads, annotations and token
// inspection are served in every mode.
func TestVisionRetiredOtherEndpointsWork(t *testing.T) {
	for _, mode := range []string{"", cdflocal.VisionOn, cdflocal.VisionRetired404, cdflocal.VisionRetired410, cdflocal.VisionRetired403} {
		t.Run("mode "+mode, func(t *testing.T) {
			e := setup(t, setupOpts{cfg: func(c *cdflocal.Config) { c.Vision = mode }})
			ctx := context.Background()
			wide := e.id("wide.png")
			list, err := e.c.Files.List(ctx, cdf.FileFilter{}, cdf.ListOptions{})
			must(t, err)
			if len(list.Items) == 0 {
				t.Error("files/list: no files")
			}
			f, err := e.c.Files.Retrieve(ctx, wide)
			must(t, err)
			if f.ExternalID != "wide.png" {
				t.Errorf("files/{id}: %+v", f)
			}
			rc, _, err := e.c.Files.Download(ctx, cdf.Identifier{ID: wide})
			must(t, err)
			rc.Close()
			created, err := e.c.Annotations.Create(ctx, []cdf.AnnotationCreate{detection(t, wide, triangle("valve"), nil)})
			must(t, err)
			if _, err := e.c.Annotations.Retrieve(ctx, created[0].ID); err != nil {
				t.Errorf("annotations/{id}: %v", err)
			}
			ti, err := e.c.Token.Inspect(ctx)
			must(t, err)
			if !ti.HasCapability("filesAcl", "READ", testProject) {
				t.Errorf("token/inspect: %+v", ti)
			}
			// Unknown paths still get the stand-in's own 404, not the retired answer.
			st, _, b := e.raw("POST", "/api/v1/projects/"+testProject+"/context/vision/extract", "{}")
			if msg := decodeEnvelope(t, b)["message"]; st != 404 || msg != "Not found: /api/v1/projects/"+testProject+"/context/vision/extract" {
				t.Errorf("vision/extract: %d %s", st, b)
			}
		})
	}
}

// TestSetVision retires the API under a running job and brings it back: the job is kept.
func TestSetVision(t *testing.T) {
	e := setup(t, setupOpts{})
	ctx := context.Background()
	job, err := e.c.Vision.StartSegment(ctx, cdf.SegmentRequest{
		Items: []cdf.FileReference{{FileExternalID: "wide.png"}}, Points: []cdf.SegmentPoint{{X: .5, Y: .5, Label: 1}}})
	must(t, err)

	must(t, e.srv.SetVision(cdflocal.VisionRetired410))
	_, err = e.c.Vision.SegmentJob(ctx, job.JobID)
	apiError(t, err, http.StatusGone)
	if _, err := e.c.Files.Retrieve(ctx, e.id("wide.png")); err != nil {
		t.Errorf("files while retired: %v", err)
	}

	if err := e.srv.SetVision("gone"); err == nil || !strings.Contains(err.Error(), "retired-403") {
		t.Errorf("SetVision(\"gone\"): %v", err)
	}
	_, err = e.c.Vision.SegmentJob(ctx, job.JobID)
	apiError(t, err, http.StatusGone) // the bad mode changed nothing

	must(t, e.srv.SetVision(cdflocal.VisionRetired404))
	_, err = e.c.Vision.SegmentJob(ctx, job.JobID)
	apiError(t, err, http.StatusNotFound)

	must(t, e.srv.SetVision(""))
	done := waitStatus(t, e.c, job.JobID, cdf.JobCompleted)
	if len(done.Items) != 1 || len(done.Items[0].Segments) != 1 {
		t.Errorf("job after the API came back: %+v", done.Items)
	}
}

// TestSetVisionConcurrent flips the mode while requests are served (run with -race).
func TestSetVisionConcurrent(t *testing.T) {
	e := setup(t, setupOpts{})
	path := fmt.Sprintf("/api/v1/projects/%s/context/vision/segment/%d", testProject, 999)
	var wg sync.WaitGroup
	modes := []string{cdflocal.VisionOn, cdflocal.VisionRetired404, cdflocal.VisionRetired410, cdflocal.VisionRetired403}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := range 200 {
			if err := e.srv.SetVision(modes[i%len(modes)]); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 25 {
				req, _ := http.NewRequest("GET", e.ts.URL+path, nil)
				req.Header.Set("Authorization", "Bearer "+testToken)
				req.Header.Set("cdf-version", "beta")
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				resp.Body.Close()
				// 400 is the unknown job with the API on; the rest are the retired answers.
				switch resp.StatusCode {
				case 400, 404, 410, 403:
				default:
					t.Errorf("status %d", resp.StatusCode)
				}
			}
		}()
	}
	wg.Wait()
}
