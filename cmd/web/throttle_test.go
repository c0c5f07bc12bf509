package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/lassoteam/lasso/cdf/cdflocal"
)

// throttledCalls is a stand-in's fault injection that answers the first n requests of each
// throttled call with 429, and counts every request each of them gets.
type throttledCalls struct {
	n     int
	mu    sync.Mutex
	calls map[string]int // "POST /context/vision/segment" → requests
}

func (c *throttledCalls) fault(r *http.Request) *cdflocal.Fault {
	var key string
	switch {
	case r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/context/vision/segment"):
		key = "start segment job"
	case r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/annotations"):
		key = "create annotations"
	default:
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls[key]++
	if c.calls[key] <= c.n {
		return &cdflocal.Fault{Status: http.StatusTooManyRequests}
	}
	return nil
}

func (c *throttledCalls) count(key string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls[key]
}

// TestThrottlingRetriedInOneLayer: when CDF throttles the start of a segment job and the
// create of an annotation, each refused request is repeated once, by the layer that follows
// the job or owns the write (jobs, the outbox writer), and never also by the CDF client inside
// it, which would multiply the requests a throttling CDF gets. The job still finishes and the
// object still reaches CDF.
func TestThrottlingRetriedInOneLayer(t *testing.T) {
	const refused = 3
	op := startProvider(t, nil)
	throttle := &throttledCalls{n: refused, calls: map[string]int{}}
	standIn, err := cdflocal.New(cdflocal.Config{ImagesDir: "../../static/samples", Project: "acme", Engine: ringEngine{},
		DataDir: t.TempDir(), Faults: throttle.fault})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { standIn.Close() })
	cdfServer := httptest.NewServer(standIn)
	t.Cleanup(cdfServer.Close)

	addr, base, env := cdfModeEnv(t, op, cdfServer.URL)
	env["LASSO_ADDR"] = addr
	startAppEnv(t, env, io.Discard)

	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar, Timeout: 20 * time.Second}
	image, ok := standIn.FileID("animals/chelsea.jpg")
	if !ok {
		t.Fatal("no sample image")
	}
	res, err := browser.Get(fmt.Sprintf("%s/images/%d", base, image)) // signed in through the provider
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(res.Body)
	res.Body.Close()
	csrf := regexp.MustCompile(`name="csrf-token" content="([^"]+)"`).FindSubmatch(page)
	if res.StatusCode != http.StatusOK || csrf == nil {
		t.Fatalf("image page: %d, CSRF token %q", res.StatusCode, csrf)
	}
	u, _ := url.Parse(base)
	conn, _, err := (&websocket.Dialer{Jar: jar}).Dial(fmt.Sprintf("ws://%s/ws?room=image:%d", u.Host, image), http.Header{"Origin": {base}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	waitFor := func(what string) {
		t.Helper()
		for {
			_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
			_, msg, err := conn.ReadMessage()
			if err != nil {
				t.Fatalf("waiting for %s: %v", what, err)
			}
			if bytes.Contains(msg, []byte(what)) {
				return
			}
			if bytes.Contains(msg, []byte(`"failed"`)) {
				t.Fatalf("waiting for %s: %s", what, msg)
			}
		}
	}
	post := func(path, body string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, base+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-CSRF-Token", string(csrf[1]))
		res, err := browser.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		msg, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusAccepted {
			t.Fatalf("POST %s: %d %s", path, res.StatusCode, msg)
		}
	}
	post(fmt.Sprintf("/api/images/%d/segment", image), `{"objectId":"o1","version":1,"points":[{"x":0.4,"y":0.5,"label":1}]}`)
	waitFor(`"status":"done"`)
	post(fmt.Sprintf("/api/images/%d/objects/o1/accept", image), `{"version":1,"label":"cat"}`)
	waitFor(`"state":"saved"`)

	if n := len(standIn.Annotations()); n != 1 {
		t.Errorf("CDF holds %d annotations, want 1", n)
	}
	attempts := cdfMetric(t, browser, base, "lasso_cdf_requests_total")
	retries := cdfMetric(t, browser, base, "lasso_cdf_retries_total")
	for _, call := range []string{"start segment job", "create annotations"} {
		if got := throttle.count(call); got != refused+1 {
			t.Errorf("%s: CDF got %d requests for %d refusals, want %d", call, got, refused, refused+1)
		}
		if attempts[call] != refused+1 {
			t.Errorf("%s: the app counts %g attempts, want %d", call, attempts[call], refused+1)
		}
		if retries[call] != 0 {
			t.Errorf("%s: the CDF client repeated the call %g times inside the layer that retries it", call, retries[call])
		}
	}
}

// cdfMetric reads the counter name from the app's /metrics, summed by endpoint (the CDF
// client's name of the call).
func cdfMetric(t *testing.T, c *http.Client, base, name string) map[string]float64 {
	t.Helper()
	res, err := c.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("/metrics: %d", res.StatusCode)
	}
	line := regexp.MustCompile(`^` + name + `\{endpoint="([^"]+)"[^}]*\} (\S+)$`)
	out := map[string]float64{}
	sc := bufio.NewScanner(res.Body)
	for sc.Scan() {
		if m := line.FindStringSubmatch(sc.Text()); m != nil {
			v, err := strconv.ParseFloat(m[2], 64)
			if err != nil {
				t.Fatalf("/metrics: %q: %v", sc.Text(), err)
			}
			out[m[1]] += v
		}
	}
	return out
}
