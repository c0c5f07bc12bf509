package main

import (
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// BenchmarkFloodOtherUser measures, in local mode through the real app (run(), the stand-in,
// HTTP and WebSockets), how long another user waits for a prompt while one user floods
// prompts: the flooder ("ana") POSTs a one-point prompt on a new object at LASSO_FLOOD_RATE a
// second (default 30; 0 for no flood at all) without waiting for results, and the other user
// ("bob") prompts a new object every second for LASSO_FLOOD_FOR (default 15s, so 15 prompts),
// each timed from its POST to its job.status done or failed event on his own socket. Bob's
// prompts go out on time whatever his earlier ones are doing; the flood goes on until the
// last of them has ended, so that each meets it. A prompt of bob's without a result within
// 20 s counts as 20 000 ms (other-timeouts).
//
// The scenario runs once per call, whatever b.N is: it measures a 15 s scenario, not an
// operation, and ns/op means nothing. Run it with -benchtime 1x:
//
//	go test -run '^$' -bench FloodOtherUser -benchtime 1x -count 3 ./cmd/web
//	LASSO_FLOOD_RATE=0 go test -run '^$' -bench FloodOtherUser -benchtime 1x -count 3 ./cmd/web
//
// The app runs in the benchmark's process, so the clients share its CPUs.
//
// Metrics: other-p50-ms, other-p95-ms, other-max-ms, other-prompts, other-timeouts (bob);
// flood-sent (ana's prompts due), flood-per-s (the rate they fell due at), flood-skipped
// (due but not POSTed because 64 of her POSTs were still unanswered), flood-refused (POSTs
// answered other than 202 Accepted, or not at all), flood-started (her prompts that reached
// running or done on her socket), flood-failed (her jobs that ended failed, e.g. pushed out of
// her queue).
func BenchmarkFloodOtherUser(b *testing.B) {
	rate := 30.0
	if s := os.Getenv("LASSO_FLOOD_RATE"); s != "" {
		r, err := strconv.ParseFloat(s, 64)
		if err != nil || r < 0 {
			b.Fatalf("LASSO_FLOOD_RATE=%q: want a number of prompts a second, 0 or more", s)
		}
		rate = r
	}
	duration := 15 * time.Second
	if s := os.Getenv("LASSO_FLOOD_FOR"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 {
			b.Fatalf("LASSO_FLOOD_FOR=%q: want a positive duration", s)
		}
		duration = d
	}
	const promptWait = 20 * time.Second

	base := startApp(b, "-queue-delay", "0s")
	ana := newFloodUser(b, base, "ana")
	bob := newFloodUser(b, base, "bob")
	image := ana.sampleImage(b)
	anaEvents := ana.dial(b, image)
	bobEvents := bob.dial(b, image)

	// Ana's socket: which of her objects started, which failed. Read at once and always, so
	// that the server never finds her a slow client.
	var (
		mu      sync.Mutex
		started = map[string]bool{}
		failed  = map[string]bool{}
	)
	anaDone := make(chan struct{})
	go func() {
		defer close(anaDone)
		for ev := range anaEvents {
			mu.Lock()
			switch ev.Status {
			case "running", "done":
				started[ev.ObjectID] = true
			}
			if ev.Status == "failed" {
				failed[ev.ObjectID] = true
			}
			mu.Unlock()
		}
	}()

	b.ResetTimer()

	// The flood: prompt i is due at i/rate after the start. The benchmark shares the app's
	// process and 2 busy cores, so this goroutine may be woken late: it then catches up with
	// what was due instead of dropping ticks (as a time.Ticker would), so the rate holds on
	// average (flood-per-s says what it was). Each POST runs on its own goroutine, at most 64
	// at once; a prompt due while all 64 are busy is counted as skipped, not sent.
	stopFlood := make(chan struct{})
	var (
		floodWG           sync.WaitGroup
		sent, skipped     atomic.Int64
		refused           atomic.Int64
		refusedStatusOnce sync.Once
		floodTime         time.Duration
	)
	if rate > 0 {
		floodWG.Add(1)
		go func() {
			defer floodWG.Done()
			inFlight := make(chan struct{}, 64)
			interval := time.Duration(float64(time.Second) / rate)
			t0 := time.Now()
			defer func() { floodTime = time.Since(t0) }()
			timer := time.NewTimer(0)
			defer timer.Stop()
			for i := 0; ; i++ {
				timer.Reset(time.Until(t0.Add(time.Duration(i) * interval)))
				select {
				case <-stopFlood:
					return
				case <-timer.C:
				}
				sent.Add(1)
				select {
				case inFlight <- struct{}{}:
				default:
					skipped.Add(1)
					continue
				}
				floodWG.Add(1)
				go func(i int) {
					defer floodWG.Done()
					defer func() { <-inFlight }()
					x, y := gridPoint(i, 13)
					status, msg := ana.prompt(image, fmt.Sprintf("f%d", i), x, y)
					if status != http.StatusAccepted {
						refused.Add(1)
						refusedStatusOnce.Do(func() { b.Logf("a flood prompt was refused: %d %s", status, msg) })
					}
				}(i)
			}
		}()
	}

	// Bob: a new object every second for the duration, whatever his earlier prompts are doing
	// (so every run has the same number of samples), each timed from just before its POST to
	// the moment its done or failed event was read from his socket.
	var (
		bobMu     sync.Mutex
		waiters   = map[string]chan floodEvent{}
		latencies []float64
		timeouts  int
		bobWG     sync.WaitGroup
	)
	go func() {
		for ev := range bobEvents {
			if ev.Status != "done" && ev.Status != "failed" {
				continue
			}
			bobMu.Lock()
			ch := waiters[ev.ObjectID]
			delete(waiters, ev.ObjectID)
			bobMu.Unlock()
			if ch != nil {
				ch <- ev
			}
		}
	}()
	n := int(duration / time.Second)
	bobStart := time.Now()
	for i := range n {
		time.Sleep(time.Until(bobStart.Add(time.Duration(i) * time.Second)))
		id := fmt.Sprintf("b%d", i)
		ch := make(chan floodEvent, 1)
		bobMu.Lock()
		waiters[id] = ch
		bobMu.Unlock()
		bobWG.Add(1)
		go func() {
			defer bobWG.Done()
			t0 := time.Now()
			x, y := gridPoint(i, 7)
			if status, msg := bob.prompt(image, id, x, y); status != http.StatusAccepted {
				b.Errorf("bob's prompt %s: %d %s", id, status, msg)
				return
			}
			timeout := time.NewTimer(promptWait - time.Since(t0))
			defer timeout.Stop()
			ms := float64(promptWait.Milliseconds())
			select {
			case ev := <-ch:
				ms = float64(ev.At.Sub(t0).Microseconds()) / 1000
				if ev.Status == "failed" {
					b.Logf("bob's prompt %s failed: %s", id, ev.Error)
				}
			case <-timeout.C: // no Logf: the summary line shows it, and -bench keeps 10 lines
				bobMu.Lock()
				timeouts++
				bobMu.Unlock()
			}
			bobMu.Lock()
			latencies = append(latencies, ms)
			bobMu.Unlock()
		}()
	}
	bobWG.Wait()
	close(stopFlood)
	floodWG.Wait()
	b.StopTimer()
	if b.Failed() {
		return
	}

	// Ana's last prompts may still be running: give them a moment to show up as started.
	time.Sleep(500 * time.Millisecond)
	mu.Lock()
	nStarted, nFailed := len(started), len(failed)
	mu.Unlock()

	sort.Float64s(latencies)
	b.ReportMetric(percentile(latencies, 0.50), "other-p50-ms")
	b.ReportMetric(percentile(latencies, 0.95), "other-p95-ms")
	b.ReportMetric(latencies[len(latencies)-1], "other-max-ms")
	b.ReportMetric(float64(len(latencies)), "other-prompts")
	b.ReportMetric(float64(timeouts), "other-timeouts")
	b.ReportMetric(float64(sent.Load()), "flood-sent")
	perSecond := 0.0
	if floodTime > 0 {
		perSecond = float64(sent.Load()) / floodTime.Seconds()
	}
	b.ReportMetric(perSecond, "flood-per-s")
	b.ReportMetric(float64(nStarted), "flood-started")
	b.ReportMetric(float64(refused.Load()), "flood-refused")
	b.ReportMetric(float64(skipped.Load()), "flood-skipped")
	b.ReportMetric(float64(nFailed), "flood-failed")
	b.Logf("flood %.0f/s (%.1f/s sent) for %s: bob's latencies (ms) %v", rate, perSecond, floodTime.Round(time.Millisecond), roundAll(latencies))
}

// floodUser is one signed-in browser: its cookies and its page's CSRF token.
type floodUser struct {
	base string
	jar  http.CookieJar
	hc   *http.Client
	csrf string
	home string // the page after sign-in
}

var (
	csrfMeta   = regexp.MustCompile(`<meta name="csrf-token" content="([^"]*)"`)
	csrfHidden = regexp.MustCompile(`name="_csrf" value="([^"]*)"`)
	imageLink  = regexp.MustCompile(`(?s)<a[^>]*href="/images/(\d+)"[^>]*>(.*?)</a>`)
)

// newFloodUser signs in as name through the local sign-in form over plain HTTP, as a browser
// would: GET / (the form and its CSRF token), POST /signin, then the page it leads to, whose
// token (bound to the new login session) the user's later requests carry.
func newFloodUser(b *testing.B, base, name string) *floodUser {
	b.Helper()
	jar, _ := cookiejar.New(nil)
	u := &floodUser{base: base, jar: jar, hc: &http.Client{Jar: jar, Timeout: 20 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: 64}}}
	form := u.get(b, "/")
	if !strings.Contains(form, `name="name"`) {
		b.Fatalf("GET / shows no sign-in form:\n%.800s", form)
	}
	token := pageToken(form)
	vals := url.Values{"name": {name}, "return_to": {"/"}}
	if token != "" {
		vals.Set("_csrf", token)
	}
	req, _ := http.NewRequest(http.MethodPost, base+"/signin", strings.NewReader(vals.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", base)
	if token != "" {
		req.Header.Set("X-CSRF-Token", token)
	}
	res, err := u.hc.Do(req)
	if err != nil {
		b.Fatalf("sign in as %s: %v", name, err)
	}
	page, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || !strings.Contains(string(page), name) {
		b.Fatalf("sign in as %s: status %d (at %s):\n%.800s", name, res.StatusCode, res.Request.URL, page)
	}
	u.home = string(page)
	if u.csrf = pageToken(u.home); u.csrf == "" {
		b.Fatalf("the page after %s's sign-in has no CSRF token:\n%.800s", name, page)
	}
	return u
}

func pageToken(page string) string {
	if m := csrfMeta.FindStringSubmatch(page); m != nil && m[1] != "" {
		return html.UnescapeString(m[1])
	}
	if m := csrfHidden.FindStringSubmatch(page); m != nil {
		return html.UnescapeString(m[1])
	}
	return ""
}

func (u *floodUser) get(b *testing.B, path string) string {
	b.Helper()
	res, err := u.hc.Get(u.base + path)
	if err != nil {
		b.Fatalf("GET %s: %v", path, err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		b.Fatalf("GET %s: status %d", path, res.StatusCode)
	}
	return string(body)
}

// sampleImage picks fruits.jpg from the image browser the user landed on, else its first image.
func (u *floodUser) sampleImage(b *testing.B) int64 {
	b.Helper()
	links := imageLink.FindAllStringSubmatch(u.home, -1)
	if len(links) == 0 {
		b.Fatalf("no /images/<id> link on the page after sign-in:\n%.800s", u.home)
	}
	pick := links[0][1]
	for _, l := range links {
		if strings.Contains(l[2], "fruits.jpg") {
			pick = l[1]
			break
		}
	}
	id, err := strconv.ParseInt(pick, 10, 64)
	if err != nil {
		b.Fatal(err)
	}
	u.get(b, fmt.Sprintf("/images/%d", id)) // open it, as the user would before clicking
	return id
}

// floodEvent is the part of a job.status message the benchmark reads.
type floodEvent struct {
	ObjectID string    `json:"objectId"`
	Status   string    `json:"status"`
	Error    string    `json:"error"`
	At       time.Time `json:"-"` // when the message was read from the socket
}

// dial opens the user's socket on image and returns its job.status events. Its reader never
// blocks on the consumer: the channel is large, and a full one fails the benchmark.
func (u *floodUser) dial(b *testing.B, image int64) <-chan floodEvent {
	b.Helper()
	p, _ := url.Parse(u.base)
	dialer := websocket.Dialer{Jar: u.jar, HandshakeTimeout: 10 * time.Second}
	conn, res, err := dialer.Dial(fmt.Sprintf("ws://%s/ws?room=image:%d", p.Host, image), http.Header{"Origin": {u.base}})
	if err != nil {
		status := 0
		if res != nil {
			status = res.StatusCode
		}
		b.Fatalf("open the WebSocket: %v (status %d)", err, status)
	}
	events := make(chan floodEvent, 1<<16)
	var closed atomic.Bool
	b.Cleanup(func() { closed.Store(true); conn.Close() })
	go func() {
		defer close(events)
		for {
			_, msg, err := conn.ReadMessage()
			if err != nil {
				if !closed.Load() {
					b.Errorf("a WebSocket ended early: %v", err)
				}
				return
			}
			var m struct {
				Type string     `json:"type"`
				Data floodEvent `json:"data"`
			}
			if json.Unmarshal(msg, &m) != nil || m.Type != "job.status" {
				continue
			}
			m.Data.At = time.Now()
			select {
			case events <- m.Data:
			default:
				b.Errorf("a WebSocket's events are not read")
				return
			}
		}
	}()
	return events
}

// prompt POSTs a one-point prompt for a new object (version 1) and returns the status.
func (u *floodUser) prompt(image int64, objectID string, x, y float64) (int, string) {
	body := fmt.Sprintf(`{"objectId":%q,"version":1,"points":[{"x":%.4f,"y":%.4f,"label":1}]}`, objectID, x, y)
	req, _ := http.NewRequest(http.MethodPost, fmt.Sprintf("%s/api/images/%d/segment", u.base, image), strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Origin", u.base)
	req.Header.Set("X-CSRF-Token", u.csrf)
	res, err := u.hc.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer res.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(res.Body, 512))
	return res.StatusCode, strings.TrimSpace(string(msg))
}

// gridPoint walks an n×n grid inside the image, so that prompts differ and are new work.
func gridPoint(i, n int) (x, y float64) {
	x = 0.1 + 0.8*float64(i%n)/float64(n-1)
	y = 0.1 + 0.8*float64((i/n)%n)/float64(n-1)
	return x, y
}

func roundAll(v []float64) []int {
	out := make([]int, len(v))
	for i, f := range v {
		out[i] = int(f + 0.5)
	}
	return out
}
