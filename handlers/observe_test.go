package handlers_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
)

// observed records what handlers.Config.ObserveRequest is told.
type observed struct {
	mu     sync.Mutex
	routes []string
}

func (o *observed) observe(method, route string, status int, _ time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.routes = append(o.routes, fmt.Sprintf("%s %s %d", method, route, status))
}

func (o *observed) all() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]string(nil), o.routes...)
}

// send does req with the app's browser and returns the status, the X-Request-Id and the body.
func send(t *testing.T, a *app, req *http.Request) (int, string, string) {
	t.Helper()
	res, err := a.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, res.Header.Get("X-Request-Id"), string(b)
}

// TestRequestIDInErrorsAndLog: every answer carries an X-Request-Id; a JSON error names it as
// "requestId" and an error page as "Reference: …"; the request's log line (method, route
// template, status, duration, request id) has the same id, so a support question finds it;
// ObserveRequest gets the route template, never the URL with its ids.
func TestRequestIDInErrorsAndLog(t *testing.T) {
	var obs observed
	a := setup(t, options{observe: obs.observe})
	a.logs.Reset()

	req, _ := http.NewRequest(http.MethodPost, a.url+"/api/images/987654/segment", strings.NewReader(`{"points":"nope"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-CSRF-Token", a.csrf)
	status, id, body := send(t, a, req)
	var answer struct {
		Error struct {
			Message   string `json:"message"`
			RequestID string `json:"requestId"`
		} `json:"error"`
	}
	if err := json.Unmarshal([]byte(body), &answer); err != nil || status != http.StatusBadRequest {
		t.Fatalf("bad prompt: %d %s (%v)", status, body, err)
	}
	if id == "" || answer.Error.RequestID != id {
		t.Errorf("JSON error's requestId %q, X-Request-Id %q: want the same, non-empty", answer.Error.RequestID, id)
	}
	line := logLine(t, a.logs.String(), id)
	for _, want := range []string{"msg=request", "method=POST", "route=/api/images/:id/segment", "status=400", "duration="} {
		if !strings.Contains(line, want) {
			t.Errorf("log line %q lacks %s", line, want)
		}
	}

	req, _ = http.NewRequest(http.MethodGet, a.url+"/images/not-a-number", nil)
	req.Header.Set("Accept", "text/html")
	status, id, body = send(t, a, req)
	doc, err := goquery.NewDocumentFromReader(strings.NewReader(body))
	if err != nil || status < 400 {
		t.Fatalf("bad image id page: %d (%v)", status, err)
	}
	if ref := doc.Find(".error-reference").Text(); id == "" || ref != "Reference: "+id {
		t.Errorf("error page reference %q, want %q", ref, "Reference: "+id)
	}
	logLine(t, a.logs.String(), id)

	// A proxy's id is kept when it is a plain token, replaced when it could forge a log line.
	req, _ = http.NewRequest(http.MethodGet, a.url+"/healthz", nil)
	req.Header.Set("X-Request-Id", "lb-7f3a.42_x")
	if _, id, _ := send(t, a, req); id != "lb-7f3a.42_x" {
		t.Errorf("a proxy's request id became %q", id)
	}
	req.Header.Set("X-Request-Id", `x" level=ERROR msg=forged`)
	if _, id, _ := send(t, a, req); id == "" || strings.ContainsAny(id, `" =`) {
		t.Errorf("an unsafe request id was adopted: %q", id)
	}

	routes := strings.Join(obs.all(), "\n")
	for _, want := range []string{"POST /api/images/:id/segment 400", "GET /images/:id ", "GET /healthz 200"} {
		if !strings.Contains(routes, want) {
			t.Errorf("ObserveRequest was not told %q; it got:\n%s", want, routes)
		}
	}
	if strings.Contains(routes, "987654") || strings.Contains(routes, "not-a-number") {
		t.Errorf("ObserveRequest got a raw URL:\n%s", routes)
	}
}

// logLine returns the one log line of the request with id.
func logLine(t *testing.T, logs, id string) string {
	t.Helper()
	for _, l := range strings.Split(logs, "\n") {
		if strings.Contains(l, "msg=request ") && strings.Contains(l, "request_id="+id) {
			return l
		}
	}
	t.Fatalf("no request log line with request_id=%s in:\n%s", id, logs)
	return ""
}

// TestSecretsNotLogged: a request with a bearer token, the session cookie, a CSRF token and a
// token in the query string, answered with success or with an error, leaves none of them in
// the log.
func TestSecretsNotLogged(t *testing.T) {
	a := setup(t, options{})
	u, _ := url.Parse(a.url)
	var secrets []string
	for _, c := range a.client.Jar.Cookies(u) {
		secrets = append(secrets, c.Value)
	}
	if len(secrets) == 0 {
		t.Fatal("the signed-in browser has no cookie")
	}
	const bearer, query = "bearer-sekrit-0f9e8d7c", "query-sekrit-1a2b3c"
	secrets = append(secrets, bearer, query, a.csrf)
	a.logs.Reset()
	for _, r := range []struct{ method, path, body string }{
		{http.MethodGet, "/?token=" + query, ""},
		{http.MethodPost, "/api/images/1/segment?access_token=" + query, `{"bad":`},
		{http.MethodGet, "/images/nope?code=" + query, ""},
		{http.MethodPost, "/auth/logout?x=" + query, ""},
	} {
		req, _ := http.NewRequest(r.method, a.url+r.path, strings.NewReader(r.body))
		req.Header.Set("Authorization", "Bearer "+bearer)
		req.Header.Set("X-CSRF-Token", a.csrf)
		req.Header.Set("Content-Type", "application/json")
		if status, _, _ := send(t, a, req); status == 0 {
			t.Fatal("no answer")
		}
	}
	logs := a.logs.String()
	if !strings.Contains(logs, "msg=request ") {
		t.Fatalf("nothing was logged:\n%s", logs)
	}
	for _, s := range secrets {
		if strings.Contains(logs, s) {
			t.Errorf("the log holds the secret %q:\n%s", s, logs)
		}
	}
}

// TestProbes: /healthz, /readyz and /metrics answer any host (orchestrators probe by address);
// /readyz says 503 with the reason when Ready fails.
func TestProbes(t *testing.T) {
	var fail error
	var mu sync.Mutex
	a := setup(t, options{
		metrics: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "lasso_up 1\n") }),
		ready: func(ctx context.Context) error {
			mu.Lock()
			defer mu.Unlock()
			return fail
		},
	})
	get := func(path string) (int, string) {
		req, _ := http.NewRequest(http.MethodGet, a.url+path, nil)
		req.Host = "10.1.2.3:8080"
		status, _, body := send(t, a, req)
		return status, body
	}
	for path, want := range map[string]string{"/healthz": "ok", "/readyz": "ready\n", "/metrics": "lasso_up 1\n"} {
		if status, body := get(path); status != http.StatusOK || body != want {
			t.Errorf("GET %s by address: %d %q, want 200 %q", path, status, body, want)
		}
	}
	mu.Lock()
	fail = errors.New("database: ping: timed out")
	mu.Unlock()
	if status, body := get("/readyz"); status != http.StatusServiceUnavailable || !regexp.MustCompile(`database: ping`).MatchString(body) {
		t.Errorf("GET /readyz when the database is gone: %d %q", status, body)
	}
}
