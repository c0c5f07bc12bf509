package cdflocal_test

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lassoteam/lasso/cdf"
	"github.com/lassoteam/lasso/cdf/cdflocal"
)

const (
	testProject = "test-proj"
	testToken   = "test-token"
)

// testFiles are the files written for each test, by relative path.
func testFiles(t *testing.T) map[string][]byte {
	t.Helper()
	wide := image.NewRGBA(image.Rect(0, 0, 600, 300))
	for y := range 300 {
		for x := range 600 {
			c := color.RGBA{40, 90, 40, 255}
			if (x-300)*(x-300)+(y-150)*(y-150) < 80*80 {
				c = color.RGBA{220, 40, 40, 255}
			}
			wide.Set(x, y, c)
		}
	}
	small := image.NewNRGBA(image.Rect(0, 0, 32, 48))
	for y := range 48 {
		for x := range 32 {
			small.Set(x, y, color.NRGBA{uint8(x * 8), uint8(y * 5), 200, uint8(100 + x)})
		}
	}
	var wpng, sjpg, spng bytes.Buffer
	must(t, png.Encode(&wpng, wide))
	must(t, jpeg.Encode(&sjpg, small, &jpeg.Options{Quality: 90}))
	must(t, png.Encode(&spng, small))
	return map[string][]byte{
		"wide.png":              wpng.Bytes(),
		"photos/small.jpg":      sjpg.Bytes(),
		"photos/deep/tiny.jpeg": sjpg.Bytes(),
		"photos/alpha.png":      spng.Bytes(),
		"notes.txt":             []byte("not an image\n"),
		"broken.png":            []byte("this is not a png"),
		".hidden.png":           spng.Bytes(),
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func writeFiles(t *testing.T, files map[string][]byte) string {
	t.Helper()
	dir := t.TempDir()
	for name, b := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		must(t, os.MkdirAll(filepath.Dir(p), 0o755))
		must(t, os.WriteFile(p, b, 0o644))
	}
	return dir
}

// authTransport adds a bearer token, as the oauth2 client does in the app.
type authTransport struct {
	token string
	base  http.RoundTripper
}

func (a authTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	if a.token != "" {
		r.Header.Set("Authorization", "Bearer "+a.token)
	}
	return a.base.RoundTrip(r)
}

// recordingTransport records the requests the download client sends.
type recordingTransport struct {
	mu   sync.Mutex
	reqs []*http.Request
}

func (rt *recordingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	rt.mu.Lock()
	rt.reqs = append(rt.reqs, r.Clone(context.Background()))
	rt.mu.Unlock()
	return http.DefaultTransport.RoundTrip(r)
}

// fakeClock is a settable clock.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

type env struct {
	t        *testing.T
	dir      string
	srv      *cdflocal.Server
	ts       *httptest.Server
	c        *cdf.Client
	clock    *fakeClock
	download *recordingTransport
	sleeps   []time.Duration // backoff waits the client asked for
	requests atomic.Int64    // API requests that reached the stand-in
	mu       sync.Mutex
}

type setupOpts struct {
	cfg     func(*cdflocal.Config)
	token   string // bearer the client sends; default testToken
	noToken bool
	files   map[string][]byte
	opts    []cdf.Option
}

func setup(t *testing.T, o setupOpts) *env {
	t.Helper()
	e := &env{t: t, clock: &fakeClock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}, download: &recordingTransport{}}
	files := o.files
	if files == nil {
		files = testFiles(t)
	}
	e.dir = writeFiles(t, files)
	cfg := cdflocal.Config{ImagesDir: e.dir, Project: testProject, Token: testToken, Now: e.clock.Now, Engine: fakeEngine{}}
	if o.cfg != nil {
		o.cfg(&cfg)
	}
	srv, err := cdflocal.New(cfg)
	must(t, err)
	e.srv = srv
	e.ts = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/api/") {
			e.requests.Add(1)
		}
		srv.ServeHTTP(w, r)
	}))
	t.Cleanup(func() {
		e.ts.Close()
		must(t, srv.Close())
	})
	tok := o.token
	if tok == "" && !o.noToken {
		tok = testToken
	}
	hc := &http.Client{Transport: authTransport{token: tok, base: http.DefaultTransport}}
	opts := []cdf.Option{
		cdf.WithDownloadClient(&http.Client{Transport: e.download}),
		cdf.WithSleep(func(ctx context.Context, d time.Duration) error {
			e.mu.Lock()
			e.sleeps = append(e.sleeps, d)
			e.mu.Unlock()
			return ctx.Err()
		}),
		cdf.WithJitter(func(max time.Duration) time.Duration { return max }),
	}
	e.c = cdf.New(e.ts.URL, testProject, hc, append(opts, o.opts...)...)
	return e
}

// id returns the id of the file at rel.
func (e *env) id(rel string) int64 {
	e.t.Helper()
	id, ok := e.srv.FileID(rel)
	if !ok {
		e.t.Fatalf("no file %s", rel)
	}
	return id
}

// raw sends a request with the test token (unless headers override it) and returns the
// status, headers and body.
func (e *env) raw(method, path, body string, headers ...string) (int, http.Header, []byte) {
	e.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, e.ts.URL+path, rd)
	must(e.t, err)
	req.Header.Set("Authorization", "Bearer "+testToken)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i+1] == "" {
			req.Header.Del(headers[i])
		} else {
			req.Header.Set(headers[i], headers[i+1])
		}
	}
	resp, err := http.DefaultClient.Do(req)
	must(e.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	must(e.t, err)
	return resp.StatusCode, resp.Header, b
}

// apiError asserts err is an *APIError with the given status and returns it.
func apiError(t *testing.T, err error, status int) *cdf.APIError {
	t.Helper()
	var ae *cdf.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("error %v (%T) is not an *APIError", err, err)
	}
	if ae.Status != status || ae.Code != status {
		t.Fatalf("status %d code %d, want %d: %v", ae.Status, ae.Code, status, ae)
	}
	if ae.RequestID == "" {
		t.Errorf("APIError without request id: %v", ae)
	}
	return ae
}
