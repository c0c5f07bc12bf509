package vision_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/lassoteam/lasso/cdf"
	"github.com/lassoteam/lasso/jobs"
	"github.com/lassoteam/lasso/vision"
)

// fakeClock is auto's clock: it moves only when the test says so.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// change is one call of Config.OnChange.
type change struct {
	retired bool
	reason  string
}

// autoRig is an auto deployment over a fake CDF vision API, a Local on an instant fake
// engine, in-memory settings and a fake clock.
type autoRig struct {
	svc      *vision.Service
	local    *vision.Local
	engine   *fakeEngine
	vision   *fakeVision
	settings *memSettings
	clock    *fakeClock
	files    *fakeFiles

	mu      sync.Mutex
	changes []change
}

func newAutoRig(t *testing.T, settings *memSettings) *autoRig {
	t.Helper()
	r := &autoRig{
		engine: &fakeEngine{instant: true}, vision: &fakeVision{}, settings: settings,
		clock: &fakeClock{now: time.Date(2027, 2, 17, 9, 0, 0, 0, time.UTC)}, files: &fakeFiles{},
	}
	r.local = vision.NewLocal(r.engine, vision.LocalOptions{Workers: 1})
	t.Cleanup(r.local.Close)
	svc, err := vision.New(t.Context(), vision.Config{
		Kind: vision.KindAuto, Local: r.local, Settings: settings, Recheck: time.Hour, Now: r.clock.Now,
		OnChange: func(retired bool, reason string) {
			r.mu.Lock()
			defer r.mu.Unlock()
			r.changes = append(r.changes, change{retired, reason})
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	r.svc = svc
	return r
}

func (r *autoRig) told() []change {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]change(nil), r.changes...)
}

// prompt starts one prompt of ana's on a fresh task and returns its SegmentAPI and answer.
func (r *autoRig) prompt(t *testing.T) (jobs.SegmentAPI, *cdf.SegmentJob, error) {
	t.Helper()
	api := r.svc.For("ana", r.vision, r.files)
	j, err := api.StartSegment(t.Context(), request(7))
	return api, j, err
}

// backend is what api says ran its job.
func backend(t *testing.T, api jobs.SegmentAPI) (string, string) {
	t.Helper()
	d, ok := api.(jobs.Described)
	if !ok {
		t.Fatalf("%T does not say which backend it is", api)
	}
	return d.Backend()
}

// remembered is what auto stored in settings: whether retired, and its reason.
func remembered(t *testing.T, s *memSettings) (stored bool, retired bool, reason string) {
	t.Helper()
	values, _ := s.snapshot()
	v, ok := values["vision.segment"]
	if !ok {
		return false, false, ""
	}
	var m struct {
		Retired bool   `json:"retired"`
		Reason  string `json:"reason"`
	}
	if err := json.Unmarshal([]byte(v), &m); err != nil {
		t.Fatalf("stored %q: %v", v, err)
	}
	return true, m.Retired, m.Reason
}

// wantLocal checks that api's job j is Local's: it says so, with the retirement notice, and
// following it reaches Lasso's engine, not CDF.
func wantLocal(t *testing.T, r *autoRig, api jobs.SegmentAPI, j *cdf.SegmentJob, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("prompt failed: %v", err)
	}
	if name, notice := backend(t, api); name != jobs.BackendLocal || notice != vision.RetiredNotice {
		t.Errorf("Backend() = %q, %q; want %q with the retirement notice", name, notice, jobs.BackendLocal)
	}
	polled := len(r.vision.polledIDs())
	done, err := awaitEnd(t, api, j.JobID)
	if err != nil || done.Status != cdf.JobCompleted || len(done.Items) != 1 || len(done.Items[0].Segments) != 1 {
		t.Fatalf("following the job: %+v, %v; want Lasso's engine's answer", done, err)
	}
	if got := r.vision.polledIDs(); len(got) != polled {
		t.Errorf("CDF was asked about a job Lasso's engine ran: polled %v", got)
	}
}

func retiredErr(status int) error {
	return fmt.Errorf("cdf: start segment job: %w", &cdf.APIError{Status: status, Message: "The Vision API is deprecated and no longer available"})
}

func TestAutoMovesToLocalWhenRetired(t *testing.T) {
	for _, status := range []int{http.StatusNotFound, http.StatusGone, http.StatusForbidden} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				r := newAutoRig(t, newMemSettings())
				r.vision.answer(retiredErr(status))

				api, j, err := r.prompt(t)
				wantLocal(t, r, api, j, err)
				if n := r.vision.calls(); n != 1 {
					t.Errorf("CDF asked %d times, want 1", n)
				}
				if stored, retired, reason := remembered(t, r.settings); !stored || !retired || !strings.Contains(reason, "no longer available") {
					t.Errorf("settings: stored %v retired %v reason %q; want the retirement and CDF's words", stored, retired, reason)
				}
				if retired, reason := r.svc.Retired(); !retired || !strings.Contains(reason, "deprecated") {
					t.Errorf("Retired() = %v, %q", retired, reason)
				}
				if got := r.told(); len(got) != 1 || !got[0].retired || !strings.Contains(got[0].reason, "deprecated") {
					t.Errorf("OnChange told %+v, want the retirement once", got)
				}

				// Later prompts go straight to Lasso's engine until Recheck has passed.
				r.clock.advance(59 * time.Minute)
				for range 3 {
					api, j, err := r.prompt(t)
					wantLocal(t, r, api, j, err)
				}
				if n := r.vision.calls(); n != 1 {
					t.Errorf("CDF asked %d times before Recheck passed, want only the first", n)
				}
			})
		})
	}
}

func TestAutoRechecksOnceThenReturnsToCDF(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newAutoRig(t, newMemSettings())
		r.vision.answer(retiredErr(http.StatusNotFound))
		api, j, err := r.prompt(t)
		wantLocal(t, r, api, j, err)

		// An hour on, one prompt tries CDF again; it is still gone, and so the next prompts
		// do not try.
		r.clock.advance(time.Hour)
		for range 3 {
			api, j, err := r.prompt(t)
			wantLocal(t, r, api, j, err)
		}
		if n := r.vision.calls(); n != 2 {
			t.Fatalf("CDF asked %d times, want once at start and once at the recheck", n)
		}
		if _, puts := r.settings.snapshot(); puts != 2 {
			t.Errorf("settings written %d times, want at the retirement and at the recheck", puts)
		}

		// Another hour on, prompts arrive together while CDF, working again, takes its time
		// to answer the one that tries: only that one asks CDF, the others go to the engine.
		r.clock.advance(time.Hour)
		entered, release := make(chan struct{}), make(chan struct{})
		var once sync.Once
		free := func() { once.Do(func() { close(release) }) }
		t.Cleanup(free) // a failure below must not leave the prompt hanging
		r.vision.mu.Lock()
		r.vision.start = func(n int) (*cdf.SegmentJob, error) {
			if n == 3 {
				close(entered)
				<-release
			}
			return &cdf.SegmentJob{JobID: 900 + int64(n), Status: cdf.JobQueued}, nil
		}
		r.vision.mu.Unlock()
		type result struct {
			api jobs.SegmentAPI
			j   *cdf.SegmentJob
			err error
		}
		results := make(chan result, 5)
		for range 5 {
			go func() {
				api := r.svc.For("ana", r.vision, r.files)
				j, err := api.StartSegment(t.Context(), request(7))
				results <- result{api, j, err}
			}()
		}
		<-entered
		for range 4 {
			res := <-results
			wantLocal(t, r, res.api, res.j, res.err)
		}
		if n := r.vision.calls(); n != 3 {
			t.Errorf("CDF asked %d times, want one more at the second recheck", n)
		}
		free()
		res := <-results
		if res.err != nil || res.j.JobID != 903 {
			t.Fatalf("the prompt that tried CDF: %+v, %v; want CDF's job 903", res.j, res.err)
		}
		if name, notice := backend(t, res.api); name != jobs.BackendCDF || notice != "" {
			t.Errorf("Backend() = %q, %q; want %q and no notice", name, notice, jobs.BackendCDF)
		}
		if j, err := res.api.SegmentJob(t.Context(), 903); err != nil || j.JobID != 903 {
			t.Errorf("following CDF's job: %+v, %v", j, err)
		}
		if got := r.vision.polledIDs(); len(got) != 1 || got[0] != 903 {
			t.Errorf("CDF polled for %v, want job 903", got)
		}

		// The deployment is back on CDF: every prompt goes there, and this is remembered.
		if retired, _ := r.svc.Retired(); retired {
			t.Error("Retired() still true after CDF answered")
		}
		if stored, retired, _ := remembered(t, r.settings); !stored || retired {
			t.Errorf("settings: stored %v retired %v; want CDF remembered as working", stored, retired)
		}
		for range 2 {
			api, j, err := r.prompt(t)
			if err != nil || j.JobID < 900 {
				t.Fatalf("prompt after the return: %+v, %v; want CDF's job", j, err)
			}
			if name, notice := backend(t, api); name != jobs.BackendCDF || notice != "" {
				t.Errorf("Backend() = %q, %q; want %q", name, notice, jobs.BackendCDF)
			}
		}
		if n := r.vision.calls(); n != 5 {
			t.Errorf("CDF asked %d times, want every prompt after the return", n)
		}
		got := r.told()
		if len(got) != 2 || !got[0].retired || got[1].retired {
			t.Errorf("OnChange told %+v, want retired then working", got)
		}
	})
}

func TestAutoNotRetired(t *testing.T) {
	// Errors that say nothing about the API being gone are the prompt's, as from CDF.
	transport := &url.Error{Op: "Post", URL: "https://cdf.example/api/v1/projects/p/context/vision/segment", Err: errors.New("connection refused")}
	for name, err := range map[string]error{
		"plain 403":       &cdf.APIError{Status: http.StatusForbidden, Message: "Forbidden: missing capability"},
		"500":             &cdf.APIError{Status: http.StatusInternalServerError, Message: "Internal server error"},
		"429":             &cdf.APIError{Status: http.StatusTooManyRequests, Message: "Too many requests"},
		"transport error": fmt.Errorf("cdf: start segment job: %w", transport),
	} {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				r := newAutoRig(t, newMemSettings())
				r.vision.answer(err)
				for range 2 {
					_, j, got := r.prompt(t)
					if j != nil || !errors.Is(got, err) {
						t.Errorf("prompt: %+v, %v; want CDF's error %v", j, got, err)
					}
				}
				if n := r.vision.calls(); n != 2 {
					t.Errorf("CDF asked %d times for 2 prompts, want every time", n)
				}
				if got := r.engine.seen(); len(got) != 0 {
					t.Errorf("Lasso's engine ran %v", got)
				}
				if values, puts := r.settings.snapshot(); puts != 0 || len(values) != 0 {
					t.Errorf("settings written %d times: %v", puts, values)
				}
				if retired, _ := r.svc.Retired(); retired {
					t.Error("Retired() true")
				}
				if got := r.told(); len(got) != 0 {
					t.Errorf("OnChange told %+v", got)
				}
			})
		})
	}
}

func TestAutoWorkingCDF(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newAutoRig(t, newMemSettings())
		api, j, err := r.prompt(t)
		if err != nil || j.JobID != 77 {
			t.Fatalf("prompt: %+v, %v; want CDF's job 77", j, err)
		}
		if name, notice := backend(t, api); name != jobs.BackendCDF || notice != "" {
			t.Errorf("Backend() = %q, %q; want %q and no notice", name, notice, jobs.BackendCDF)
		}
		if _, err := api.SegmentJob(t.Context(), 77); err != nil {
			t.Fatal(err)
		}
		if got := r.vision.polledIDs(); len(got) != 1 || got[0] != 77 {
			t.Errorf("CDF polled for %v, want job 77", got)
		}
		// Working as always is nothing to write down or report.
		if _, puts := r.settings.snapshot(); puts != 0 {
			t.Errorf("settings written %d times", puts)
		}
		if got := r.told(); len(got) != 0 {
			t.Errorf("OnChange told %+v", got)
		}
		if got := r.engine.seen(); len(got) != 0 {
			t.Errorf("Lasso's engine ran %v", got)
		}
	})
}

func TestAutoRemembersAcrossRestarts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		settings := newMemSettings()
		first := newAutoRig(t, settings)
		first.vision.answer(retiredErr(http.StatusGone))
		api, j, err := first.prompt(t)
		wantLocal(t, first, api, j, err)

		// A restart, or another replica over the same store.
		second := newAutoRig(t, settings)
		if retired, reason := second.svc.Retired(); !retired || !strings.Contains(reason, "deprecated") {
			t.Errorf("a new Service over the same settings: Retired() = %v, %q", retired, reason)
		}
		api, j, err = second.prompt(t)
		wantLocal(t, second, api, j, err)
		if n := second.vision.calls(); n != 0 {
			t.Errorf("the new Service asked CDF %d times, want its first prompt on the engine", n)
		}
		if got := second.told(); len(got) != 0 {
			t.Errorf("OnChange told %+v: nothing changed", got)
		}
	})
}

func TestAutoResumedJobIsCDFs(t *testing.T) {
	for _, retired := range []bool{false, true} {
		t.Run(fmt.Sprintf("retired=%v", retired), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				r := newAutoRig(t, newMemSettings())
				if retired {
					r.vision.answer(retiredErr(http.StatusNotFound))
					r.prompt(t)
				}
				calls := r.vision.calls()
				// After a restart the job is followed by id on a fresh task, never started.
				api := r.svc.For("ana", r.vision, r.files)
				j, err := api.SegmentJob(t.Context(), 4711)
				if err != nil || j.JobID != 4711 {
					t.Fatalf("SegmentJob: %+v, %v; want CDF's job 4711", j, err)
				}
				if got := r.vision.polledIDs(); len(got) != 1 || got[0] != 4711 {
					t.Errorf("CDF polled for %v, want job 4711", got)
				}
				if n := r.vision.calls(); n != calls {
					t.Errorf("a resumed job started %d new jobs", n-calls)
				}
				if name, notice := backend(t, api); name == jobs.BackendLocal || notice != "" {
					t.Errorf("a resumed CDF job says it is %q with notice %q", name, notice)
				}
			})
		})
	}
}

func TestAutoBadSettings(t *testing.T) {
	l := vision.NewLocal(&fakeEngine{instant: true}, vision.LocalOptions{Workers: 1})
	defer l.Close()
	broken := newMemSettings()
	broken.err = errors.New("database is locked")
	garbled := newMemSettings()
	garbled.values["vision.segment"] = "{not json"
	for name, s := range map[string]*memSettings{"unreadable": broken, "garbled": garbled} {
		_, err := vision.New(t.Context(), vision.Config{Kind: vision.KindAuto, Local: l, Settings: s})
		if err == nil || !strings.Contains(err.Error(), "vision API") {
			t.Errorf("%s settings: New gave %v, want an error about what is known of the vision API", name, err)
		}
	}
	if _, err := vision.New(t.Context(), vision.Config{Kind: vision.KindAuto, Local: l, Settings: newMemSettings()}); err != nil {
		t.Errorf("unset settings: %v, want a fresh start", err)
	}
}

func TestRetired(t *testing.T) {
	for _, tt := range []struct {
		name string
		err  error
		want bool
	}{
		{"404", &cdf.APIError{Status: 404, Message: "Not Found"}, true},
		{"410", &cdf.APIError{Status: 410}, true},
		{"404 wrapped", fmt.Errorf("cdf: start segment job: %w", &cdf.APIError{Status: 404}), true},
		{"403 deprecated", &cdf.APIError{Status: 403, Message: "The Vision API is deprecated"}, true},
		{"403 no longer available", &cdf.APIError{Status: 403, Message: "This API is no longer available"}, true},
		{"403 retired", &cdf.APIError{Status: 403, Message: "Vision has been RETIRED"}, true},
		{"403 sunset", &cdf.APIError{Status: 403, Message: "Endpoint sunset on 2027-02-17"}, true},
		{"403 decommissioned", &cdf.APIError{Status: 403, Message: "context/vision was decommissioned"}, true},
		{"403 plain", &cdf.APIError{Status: 403, Message: "Forbidden: missing capability"}, false},
		{"403 no message", &cdf.APIError{Status: 403}, false},
		{"401", &cdf.APIError{Status: 401, Message: "Unauthorized"}, false},
		{"400", &cdf.APIError{Status: 400, Message: "Invalid points"}, false},
		{"429", &cdf.APIError{Status: 429}, false},
		{"500 mentioning unavailable", &cdf.APIError{Status: 500, Message: "Service unavailable"}, false},
		{"503", &cdf.APIError{Status: 503, Message: "Service Unavailable"}, false},
		{"transport", errors.New("dial tcp: connection refused"), false},
		{"a backend failure", &jobs.Failure{Reason: "no longer knows this job"}, false},
		{"nil", nil, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := vision.Retired(tt.err); got != tt.want {
				t.Errorf("Retired(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}

func TestParseKind(t *testing.T) {
	for _, tt := range []struct {
		in, kind, base string
	}{
		{"auto", vision.KindAuto, ""},
		{"cdf", vision.KindCDF, ""},
		{"local", vision.KindLocal, ""},
		{"url:https://x", vision.KindURL, "https://x"},
		{"url:http://x", vision.KindURL, "http://x"},
		{"url:https://segment.example.com/", vision.KindURL, "https://segment.example.com"},
		{"url:http://127.0.0.1:8080/api//", vision.KindURL, "http://127.0.0.1:8080/api"},
	} {
		kind, base, err := vision.ParseKind(tt.in)
		if err != nil || kind != tt.kind || base != tt.base {
			t.Errorf("ParseKind(%q) = %q, %q, %v; want %q, %q", tt.in, kind, base, err, tt.kind, tt.base)
		}
	}
	for _, tt := range []struct {
		in   string
		want string // in the error
	}{
		{"", "use auto, cdf, local or url:<base URL>"},
		{"Auto", "use auto, cdf, local or url:<base URL>"},
		{"remote", "use auto, cdf, local or url:<base URL>"},
		{"https://x", "use auto, cdf, local or url:<base URL>"},
		{"url:", "needs an http(s) base URL"},
		{"url:segment.example.com", "needs an http(s) base URL"},
		{"url:ftp://x", "needs an http(s) base URL"},
		{"url:https://", "needs an http(s) base URL"},
		{"url:https:///", "needs an http(s) base URL"},
		{"url:http:///path", "needs an http(s) base URL"},
	} {
		kind, base, err := vision.ParseKind(tt.in)
		if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), fmt.Sprintf("%q", tt.in)) {
			t.Errorf("ParseKind(%q) = %q, %q, %v; want an error naming the value and saying %q", tt.in, kind, base, err, tt.want)
		}
	}
}

func TestNew(t *testing.T) {
	l := vision.NewLocal(&fakeEngine{instant: true}, vision.LocalOptions{Workers: 1})
	defer l.Close()
	remote := &fakeVision{}
	for _, tt := range []struct {
		name string
		cfg  vision.Config
		want string
	}{
		{"local without engine", vision.Config{Kind: vision.KindLocal}, "needs an engine"},
		{"url without service", vision.Config{Kind: vision.KindURL}, "needs a service"},
		{"auto without settings", vision.Config{Kind: vision.KindAuto, Local: l}, "auto needs"},
		{"auto without engine", vision.Config{Kind: vision.KindAuto, Settings: newMemSettings()}, "auto needs"},
		{"unknown kind", vision.Config{Kind: "magic"}, `unknown backend kind "magic"`},
		{"empty kind", vision.Config{}, "unknown backend kind"},
	} {
		if _, err := vision.New(t.Context(), tt.cfg); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: New gave %v, want an error saying %q", tt.name, err, tt.want)
		}
	}

	// Each fixed kind hands out its backend, named.
	userVision := &fakeVision{}
	for _, tt := range []struct {
		cfg     vision.Config
		name    string
		started *fakeVision // who StartSegment must reach; nil: Local
	}{
		{vision.Config{Kind: vision.KindCDF}, jobs.BackendCDF, userVision},
		{vision.Config{Kind: vision.KindURL, Remote: remote}, jobs.BackendURL, remote},
		{vision.Config{Kind: vision.KindLocal, Local: l}, jobs.BackendLocal, nil},
	} {
		svc, err := vision.New(t.Context(), tt.cfg)
		if err != nil {
			t.Fatalf("%s: %v", tt.cfg.Kind, err)
		}
		api := svc.For("ana", userVision, &fakeFiles{})
		before := []int{userVision.calls(), remote.calls()}
		if _, err := api.StartSegment(t.Context(), request(7)); err != nil {
			t.Fatalf("%s: %v", tt.cfg.Kind, err)
		}
		after := []int{userVision.calls(), remote.calls()}
		wantUser, wantRemote := before[0], before[1]
		switch tt.started {
		case userVision:
			wantUser++
		case remote:
			wantRemote++
		}
		if after[0] != wantUser || after[1] != wantRemote {
			t.Errorf("%s: calls to the user's vision API %d→%d, to the remote %d→%d", tt.cfg.Kind, before[0], after[0], before[1], after[1])
		}
		if name, notice := backend(t, api); name != tt.name || notice != "" {
			t.Errorf("%s: Backend() = %q, %q; want %q", tt.cfg.Kind, name, notice, tt.name)
		}
		if retired, _ := svc.Retired(); retired {
			t.Errorf("%s: Retired() true", tt.cfg.Kind)
		}
	}
}

// The fakes fit the interfaces the package declares.
var (
	_ jobs.SegmentAPI = (*fakeVision)(nil)
	_ vision.FilesAPI = (*fakeFiles)(nil)
	_ vision.Settings = (*memSettings)(nil)
	_ vision.Engine   = (*fakeEngine)(nil)
)

// TestAutoRecheckFailureFallsBack: a recheck of a retired API that meets some other failure (a
// 500) proves nothing: the user's prompt is answered by the engine, and the API stays retired.
func TestAutoRecheckFailureFallsBack(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newAutoRig(t, newMemSettings())
		r.vision.answer(retiredErr(http.StatusGone))
		api, j, err := r.prompt(t)
		wantLocal(t, r, api, j, err)
		r.clock.advance(time.Hour)
		r.vision.answer(&cdf.APIError{Status: http.StatusInternalServerError, Message: "Internal error"})
		api, j, err = r.prompt(t)
		wantLocal(t, r, api, j, err)
		if n := r.vision.calls(); n != 2 {
			t.Errorf("CDF asked %d times, want at the start and at the recheck", n)
		}
		if retired, _ := r.svc.Retired(); !retired {
			t.Error("a 500 at the recheck took the retirement back")
		}
	})
}
