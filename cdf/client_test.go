package cdf

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// setup returns a client whose project API is served by mux, go-github style, and the
// waits it asked for.
func setup(t *testing.T, opts ...Option) (*Client, *http.ServeMux, *[]time.Duration) {
	t.Helper()
	mux := http.NewServeMux()
	ts := httptest.NewServer(mux)
	t.Cleanup(ts.Close)
	var mu sync.Mutex
	var sleeps []time.Duration
	base := []Option{
		WithSleep(func(ctx context.Context, d time.Duration) error {
			mu.Lock()
			sleeps = append(sleeps, d)
			mu.Unlock()
			return ctx.Err()
		}),
		WithJitter(func(max time.Duration) time.Duration { return max }),
	}
	return New(ts.URL+"/", "proj", ts.Client(), append(base, opts...)...), mux, &sleeps
}

func TestHeadersAndPaths(t *testing.T) {
	c, mux, _ := setup(t, WithAppName("lasso-test"))
	var seen []string
	mux.HandleFunc("/api/v1/token/inspect", func(w http.ResponseWriter, r *http.Request) {
		seen = append(seen, r.Method+" "+r.URL.Path+" app="+r.Header.Get("x-cdp-app")+" sdk="+r.Header.Get("x-cdp-sdk")+" v="+r.Header.Get("cdf-version"))
		io.WriteString(w, `{"subject":"s","projects":[],"capabilities":[]}`)
	})
	mux.HandleFunc("/api/v1/projects/proj/context/vision/segment", func(w http.ResponseWriter, r *http.Request) {
		seen = append(seen, r.Method+" "+r.URL.Path+" v="+r.Header.Get("cdf-version")+" ct="+r.Header.Get("Content-Type"))
		io.WriteString(w, `{"status":"Queued","jobId":7,"items":[{"fileId":1}],"points":[]}`)
	})
	mux.HandleFunc("/api/v1/projects/proj/context/vision/segment/7", func(w http.ResponseWriter, r *http.Request) {
		seen = append(seen, r.Method+" "+r.URL.Path+" v="+r.Header.Get("cdf-version"))
		io.WriteString(w, `{"status":"Running","jobId":7,"items":[{"fileId":1}],"prompt":{"points":[]}}`)
	})
	ctx := context.Background()
	if _, err := c.Token.Inspect(ctx); err != nil {
		t.Fatal(err)
	}
	job, err := c.Vision.StartSegment(ctx, SegmentRequest{Items: []FileReference{{FileID: 1}}, BoundingBox: &BoundingBox{0, 0, 1, 1}})
	if err != nil || job.JobID != 7 || job.Status != JobQueued {
		t.Fatalf("start: %+v %v", job, err)
	}
	job, err = c.Vision.SegmentJob(ctx, 7)
	if err != nil || job.Status != JobRunning || job.Prompt == nil {
		t.Fatalf("get: %+v %v", job, err)
	}
	want := []string{
		"GET /api/v1/token/inspect app=lasso-test sdk=lasso-go:" + Version + " v=",
		"POST /api/v1/projects/proj/context/vision/segment v=beta ct=application/json",
		"GET /api/v1/projects/proj/context/vision/segment/7 v=beta",
	}
	if strings.Join(seen, "\n") != strings.Join(want, "\n") {
		t.Errorf("requests:\n%s\nwant:\n%s", strings.Join(seen, "\n"), strings.Join(want, "\n"))
	}
}

func TestSegmentRequestJSON(t *testing.T) {
	b, _ := json.Marshal(SegmentRequest{Items: []FileReference{{FileID: 3}}, BoundingBox: &BoundingBox{.1, .2, .3, .4}})
	if got := string(b); got != `{"items":[{"fileId":3}],"boundingBox":{"xMin":0.1,"yMin":0.2,"xMax":0.3,"yMax":0.4}}` {
		t.Errorf("box-only request: %s", got)
	}
	b, _ = json.Marshal(SegmentItem{FileID: 1, Segments: []Segment{}})
	if got := string(b); got != `{"fileId":1,"segments":[]}` {
		t.Errorf("empty result: %s", got)
	}
}

func TestAPIErrorBodies(t *testing.T) {
	tests := []struct {
		name, body string
		status     int
		check      func(*testing.T, *APIError)
	}{
		{"envelope", `{"error":{"code":400,"message":"Files ids not found","missing":[{"id":5}],"duplicated":[{"externalId":"x"}],"extra":1}}`, 400,
			func(t *testing.T, e *APIError) {
				if e.Code != 400 || e.Message != "Files ids not found" || len(e.MissingIdentifiers()) != 1 || e.MissingIdentifiers()[0].ID != 5 ||
					e.DuplicatedIdentifiers()[0].ExternalID != "x" || string(e.Extra["extra"]) != "1" {
					t.Errorf("%+v", e)
				}
				for _, s := range []string{"Files ids not found", "code: 400", `missing: [{"id":5}]`, "X-Request-ID: rid-1", "POST /api/v1/projects/proj/files/byids"} {
					if !strings.Contains(e.Error(), s) {
						t.Errorf("Error() %q lacks %q", e.Error(), s)
					}
				}
			}},
		{"plain-string error", `{"error":"Something broke"}`, 500, func(t *testing.T, e *APIError) {
			if e.Message != "Something broke" || e.Code != 0 || e.Status != 500 {
				t.Errorf("%+v", e)
			}
		}},
		{"non-JSON body", `<html>bad gateway</html>`, 418, func(t *testing.T, e *APIError) {
			if e.Message != "<html>bad gateway</html>" || e.Status != 418 {
				t.Errorf("%+v", e)
			}
		}},
		{"empty body", ``, 404, func(t *testing.T, e *APIError) {
			if e.Message != "Not Found" {
				t.Errorf("%+v", e)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, mux, _ := setup(t)
			mux.HandleFunc("/api/v1/projects/proj/files/byids", func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("x-request-id", "rid-1")
				w.WriteHeader(tt.status)
				io.WriteString(w, tt.body)
			})
			_, err := c.Files.ByIDs(context.Background(), []Identifier{ID(5)}, false)
			var ae *APIError
			if !errors.As(err, &ae) {
				t.Fatalf("%v is not an *APIError", err)
			}
			if ae.RequestID != "rid-1" || StatusCode(err) != tt.status {
				t.Errorf("request id %q status %d", ae.RequestID, StatusCode(err))
			}
			tt.check(t, ae)
		})
	}
}

func TestRetryAfterAndTransportErrors(t *testing.T) {
	c, mux, sleeps := setup(t)
	n := 0
	mux.HandleFunc("/api/v1/projects/proj/files/list", func(w http.ResponseWriter, r *http.Request) {
		n++
		switch n {
		case 1:
			w.Header().Set("Retry-After", "3")
			w.WriteHeader(http.StatusTooManyRequests)
		case 2:
			// Drop the connection: a transport error.
			hj, _ := w.(http.Hijacker)
			conn, _, _ := hj.Hijack()
			conn.Close()
		default:
			io.WriteString(w, `{"items":[{"id":1,"name":"a","uploaded":true,"createdTime":1,"lastUpdatedTime":2}],"nextCursor":null}`)
		}
	})
	page, err := c.Files.List(context.Background(), FileFilter{}, ListOptions{Limit: 1})
	if err != nil || len(page.Items) != 1 || page.NextCursor != "" {
		t.Fatalf("list: %+v %v", page, err)
	}
	if n != 3 || len(*sleeps) != 2 || (*sleeps)[0] != 3*time.Second || (*sleeps)[1] != time.Second {
		t.Errorf("%d attempts, waits %v; want 3 attempts, waits [3s 1s]", n, *sleeps)
	}
}

// TestOnceMakesOneAttempt: a client from Once gives up after one throttled attempt, on every
// service, and the client it came from still retries.
func TestOnceMakesOneAttempt(t *testing.T) {
	c, mux, sleeps := setup(t)
	var n int
	mux.HandleFunc("/api/v1/projects/proj/", func(w http.ResponseWriter, r *http.Request) {
		n++
		w.WriteHeader(http.StatusTooManyRequests)
	})
	once := c.Once()
	ctx := context.Background()
	calls := map[string]func() error{
		"start segment job": func() error {
			_, err := once.Vision.StartSegment(ctx, SegmentRequest{Items: []FileReference{{FileID: 1}}})
			return err
		},
		"get segment job":    func() error { _, err := once.Vision.SegmentJob(ctx, 7); return err },
		"create annotations": func() error { _, err := once.Annotations.Create(ctx, []AnnotationCreate{{}}); return err },
		"list files":         func() error { _, err := once.Files.List(ctx, FileFilter{}, ListOptions{Limit: 1}); return err },
	}
	for name, call := range calls {
		n = 0
		if err := call(); StatusCode(err) != http.StatusTooManyRequests || n != 1 {
			t.Errorf("%s through Once: %v after %d requests, want the 429 after 1", name, err, n)
		}
	}
	if len(*sleeps) != 0 {
		t.Errorf("Once waited %v between attempts", *sleeps)
	}
	n = 0
	if _, err := c.Files.List(ctx, FileFilter{}, ListOptions{Limit: 1}); err == nil || n != DefaultRetryPolicy.MaxAttempts {
		t.Errorf("the original client: %v after %d requests, want %d attempts", err, n, DefaultRetryPolicy.MaxAttempts)
	}
}

func TestSegmentStartNotRetriedOnTransportError(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens: every request fails to connect
	c := New("http://"+addr, "proj", nil, WithSleep(func(context.Context, time.Duration) error { t.Error("slept"); return nil }))
	_, err = c.Vision.StartSegment(context.Background(), SegmentRequest{Items: []FileReference{{FileID: 1}}})
	if err == nil {
		t.Fatal("no error")
	}
	var calls int
	c2 := New("http://"+addr, "proj", nil, WithSleep(func(context.Context, time.Duration) error { calls++; return nil }))
	if _, err := c2.Files.Retrieve(context.Background(), 1); err == nil || calls != 4 {
		t.Errorf("retrieve: %v after %d waits, want an error after 4", err, calls)
	}
}

func TestResponseSizeCap(t *testing.T) {
	c, mux, _ := setup(t, WithMaxResponseBytes(64))
	mux.HandleFunc("/api/v1/projects/proj/files/1", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"id":1,"name":"`+strings.Repeat("x", 100)+`"}`)
	})
	_, err := c.Files.Retrieve(context.Background(), 1)
	if !errors.Is(err, ErrResponseTooLarge) {
		t.Errorf("err %v, want ErrResponseTooLarge", err)
	}
}

func TestDownloadUsesPlainClient(t *testing.T) {
	var storageAuth []string
	storage := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		storageAuth = append(storageAuth, r.Header.Get("Authorization"))
		w.Header().Set("Content-Type", "image/png")
		io.WriteString(w, "PNGDATA")
	}))
	defer storage.Close()
	mux := http.NewServeMux()
	mux.HandleFunc("/api/v1/projects/proj/files/downloadlink", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer secret" {
			w.WriteHeader(401)
			return
		}
		io.WriteString(w, `{"items":[{"id":1,"downloadUrl":"`+storage.URL+`/blob?sig=1"}]}`)
	})
	api := httptest.NewServer(mux)
	defer api.Close()
	authed := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		r = r.Clone(r.Context())
		r.Header.Set("Authorization", "Bearer secret")
		return http.DefaultTransport.RoundTrip(r)
	})}
	c := New(api.URL, "proj", authed)
	rc, ct, err := c.Files.Download(context.Background(), ID(1))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(rc)
	rc.Close()
	if string(b) != "PNGDATA" || ct != "image/png" || len(storageAuth) != 1 || storageAuth[0] != "" {
		t.Errorf("body %q type %q storage saw Authorization %q", b, ct, storageAuth)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestHasCapability(t *testing.T) {
	var ti TokenInspection
	err := json.Unmarshal([]byte(`{"subject":"s","projects":[],"capabilities":[
		{"filesAcl":{"actions":["READ"],"scope":{"all":{}}},"projectScope":{"allProjects":{}}},
		{"annotationsAcl":{"actions":["WRITE"],"scope":{"all":{}}},"projectScope":{"projects":["p1"]}}]}`), &ti)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		acl, action, project string
		want                 bool
	}{
		{"filesAcl", "READ", "any", true}, {"annotationsAcl", "WRITE", "p1", true},
		{"annotationsAcl", "WRITE", "p2", false}, {"annotationsAcl", "READ", "p1", false}, {"groupsAcl", "LIST", "p1", false},
	} {
		if got := ti.HasCapability(c.acl, c.action, c.project); got != c.want {
			t.Errorf("HasCapability(%s,%s,%s) = %v", c.acl, c.action, c.project, got)
		}
	}
}
