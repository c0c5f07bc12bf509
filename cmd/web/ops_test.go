package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
)

// lockedLog collects the server's log, written by its goroutines and read by the test.
type lockedLog struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startLogged runs the real main with args and env, like startApp, and returns its URL and log.
func startLogged(t *testing.T, args []string, env map[string]string) (string, *lockedLog) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	logs := &lockedLog{}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, args, func(k string) string { return env[k] }, pw, logs)
		pw.Close()
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	})
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatalf("the app printed no address: %v (log: %s)", err, logs)
	}
	go io.Copy(io.Discard, pr) //nolint:errcheck // drain
	i := strings.Index(line, "http://")
	if i < 0 {
		t.Fatalf("no URL in %q", line)
	}
	return strings.TrimSpace(line[i:]), logs
}

// get returns the status and body of GET u with c.
func get(t *testing.T, c *http.Client, u string) (int, string) {
	t.Helper()
	res, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// signInHTTP signs name in through the local sign-in form and returns the browser.
func signInHTTP(t *testing.T, base, name string) *http.Client {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 10 * time.Second}
	res, err := c.Get(base + "/signin")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := goquery.NewDocumentFromReader(res.Body)
	res.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	token, _ := doc.Find(`form input[name="_csrf"]`).Attr("value")
	res, err = c.PostForm(base+"/signin", url.Values{"name": {name}, "_csrf": {token}, "return_to": {"/"}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("sign-in: %d", res.StatusCode)
	}
	return c
}

// freeAddr returns a loopback address nobody listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestMetricsEndToEnd: the real main serves /metrics with the runtime, process, HTTP, hub and
// outbox series, HTTP requests labelled by route template; a signed-in user's name and the ids
// in the URLs they opened appear nowhere in it; with -metrics-addr, /metrics moves there.
func TestMetricsEndToEnd(t *testing.T) {
	base, _ := startLogged(t, []string{"-addr", "127.0.0.1:0", "-data", t.TempDir()}, nil)
	c := signInHTTP(t, base, "Zelda Quux")
	get(t, c, base+"/images/424242")
	get(t, c, base+"/files/737373/icon")
	status, text := get(t, http.DefaultClient, base+"/metrics")
	if status != http.StatusOK {
		t.Fatalf("GET /metrics: %d", status)
	}
	for _, want := range []string{"go_goroutines ", "process_resident_memory_bytes ", `route="/images/:id"`, `route="/files/:id/icon"`,
		`route="/signin",status="303"`, "lasso_hub_rooms ", "lasso_websocket_subscriptions ", "lasso_outbox_pending_writes 0",
		"lasso_outbox_oldest_pending_age_seconds 0", "lasso_cdf_requests_total{"} {
		if !strings.Contains(text, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	for _, personal := range []string{"Zelda", "Quux", "424242", "737373"} {
		if strings.Contains(text, personal) {
			t.Errorf("/metrics holds %q", personal)
		}
	}

	maddr := freeAddr(t)
	base, _ = startLogged(t, []string{"-addr", "127.0.0.1:0", "-data", t.TempDir(), "-metrics-addr", maddr}, nil)
	if _, text := get(t, http.DefaultClient, base+"/metrics"); strings.Contains(text, "go_goroutines") {
		t.Error("with -metrics-addr, the main listener still serves the metrics")
	}
	if status, text := get(t, http.DefaultClient, "http://"+maddr+"/metrics"); status != http.StatusOK || !strings.Contains(text, "go_goroutines") {
		t.Errorf("GET /metrics on -metrics-addr: %d", status)
	}
}

// TestPprofOwnListener: -pprof-addr serves Go's profiles there, and only there: the main
// listener, which people reach, has none.
func TestPprofOwnListener(t *testing.T) {
	paddr := freeAddr(t)
	base, _ := startLogged(t, []string{"-addr", "127.0.0.1:0", "-data", t.TempDir(), "-pprof-addr", paddr}, nil)
	if status, text := get(t, http.DefaultClient, "http://"+paddr+"/debug/pprof/heap?debug=1"); status != http.StatusOK || !strings.Contains(text, "heap profile") {
		t.Errorf("GET /debug/pprof/heap on -pprof-addr: %d %.80q", status, text)
	}
	if _, text := get(t, http.DefaultClient, base+"/debug/pprof/heap?debug=1"); strings.Contains(text, "heap profile") {
		t.Error("the main listener serves profiles")
	}
}

// TestJSONLogs: -log-format json (LASSO_LOG_FORMAT) writes one JSON object a line, and each
// request's line has its method, route, status, duration and the id the answer carries.
func TestJSONLogs(t *testing.T) {
	base, logs := startLogged(t, []string{"-addr", "127.0.0.1:0", "-data", t.TempDir()}, map[string]string{"LASSO_LOG_FORMAT": "json"})
	res, err := http.Get(base + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, res.Body) //nolint:errcheck // drain
	res.Body.Close()
	id := res.Header.Get("X-Request-Id")
	if res.StatusCode != http.StatusOK || id == "" {
		t.Fatalf("GET /readyz: %d, request id %q", res.StatusCode, id)
	}
	var found bool
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("a log line is not JSON: %q", line)
		}
		if rec["msg"] == "request" && rec["request_id"] == id {
			found = rec["method"] == "GET" && rec["route"] == "/readyz" && rec["status"] == float64(200) && rec["duration"] != nil
			if !found {
				t.Errorf("request line %v", rec)
			}
		}
	}
	if !found {
		t.Errorf("no request line with request_id %s in:\n%s", id, logs)
	}
	if _, err := parseConfig([]string{"-log-format", "xml"}, func(string) string { return "" }, io.Discard); err == nil {
		t.Error("-log-format xml was accepted")
	}
}

// TestReadiness: /readyz in CDF mode says not ready when the cluster does not answer and
// caches the answer; any HTTP answer of the base URL counts as reachable.
func TestReadiness(t *testing.T) {
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { http.Error(w, "no", http.StatusUnauthorized) })}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln) //nolint:errcheck // closed below
	now := time.Unix(1000, 0)
	check := reachable("http://"+ln.Addr().String(), &http.Client{Timeout: time.Second}, 10*time.Second, func() time.Time { return now })
	if err := check(context.Background()); err != nil {
		t.Fatalf("a 401 from CDF: %v, want reachable", err)
	}
	srv.Close()
	if err := check(context.Background()); err != nil {
		t.Errorf("within the cache: %v, want the cached answer", err)
	}
	now = now.Add(11 * time.Second)
	if err := check(context.Background()); err == nil || !strings.Contains(err.Error(), "not reachable") {
		t.Errorf("after the cache, with CDF gone: %v", err)
	}
}
