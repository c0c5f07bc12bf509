package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/gorilla/websocket"

	"github.com/lassoteam/lasso/cdf/cdflocal"
	"github.com/lassoteam/lasso/segment"
	"github.com/lassoteam/lasso/vision"
)

// segmentCalls counts the segment requests a stand-in was sent, and the bearer tokens of all
// its requests.
type segmentCalls struct {
	mu      sync.Mutex
	starts  int
	bearers map[string]int
}

func (c *segmentCalls) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.mu.Lock()
		if strings.HasSuffix(r.URL.Path, "/context/vision/segment") && r.Method == http.MethodPost {
			c.starts++
		}
		if c.bearers == nil {
			c.bearers = map[string]int{}
		}
		if b := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "); b != "" {
			c.bearers[b]++
		}
		c.mu.Unlock()
		h.ServeHTTP(w, r)
	})
}

func (c *segmentCalls) counts() (int, map[string]int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]int{}
	for k, v := range c.bearers {
		out[k] = v
	}
	return c.starts, out
}

// startCDF serves a stand-in of project acme over the samples, playing the vision API as mode.
func startCDF(t *testing.T, cfg cdflocal.Config) (*cdflocal.Server, *segmentCalls, string) {
	t.Helper()
	cfg.ImagesDir, cfg.Project = "../../static/samples", "acme"
	cfg.Engine = segment.New(segment.Options{})
	standIn, err := cdflocal.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { standIn.Close() })
	calls := &segmentCalls{}
	srv := httptest.NewServer(calls.wrap(standIn))
	t.Cleanup(srv.Close)
	return standIn, calls, srv.URL
}

// TestVisionRetired runs Lasso in CDF mode (the default segment backend, auto) with OIDC sign-in
// against a stand-in whose vision API answers as retired, in each of the ways it may: a click in
// a real browser still gives a polygon, from Lasso's own engine; the page says so once, the
// status line and "How this was made" name the local engine, and a second prompt does not ask
// CDF's API again.
func TestVisionRetired(t *testing.T) {
	cat := int64(0)
	for _, mode := range []string{cdflocal.VisionRetired404, cdflocal.VisionRetired410, cdflocal.VisionRetired403} {
		t.Run(mode, func(t *testing.T) {
			standIn, calls, cdfURL := startCDF(t, cdflocal.Config{Vision: mode})
			cat, _ = standIn.FileID("animals/chelsea.jpg")
			op := startProvider(t, nil)
			addr, base, env := cdfModeEnv(t, op, cdfURL)
			env["LASSO_ADDR"] = addr
			logs := &syncBuffer{}
			startAppEnv(t, env, logs)

			m := &member{name: "ana", ctx: newBrowser(t)}
			ctx, cancel := context.WithTimeout(m.ctx, 90*time.Second)
			defer cancel()
			m.ctx = ctx
			// Opening the image sends the browser through the provider and back.
			m.do(t, chromedp.Navigate(fmt.Sprintf("%s/images/%d", base, cat)),
				chromedp.WaitVisible(chromedp.CSS(`canvas[data-canvas][data-image-loaded="true"]`)))

			click := func(nx, ny float64, version int) canvasState {
				t.Helper()
				x, y, err := canvasPoint(ctx, nx, ny)
				if err != nil {
					t.Fatal(err)
				}
				m.do(t, chromedp.MouseClickXY(x, y))
				s, err := waitSettled(ctx, 1, version)
				if err != nil {
					t.Fatal(err)
				}
				return s
			}
			if s := click(0.62, 0.55, 1); s.Status != "done" || s.Polygons < 1 {
				t.Fatalf("the cat: %+v; log:\n%s", s, logs)
			}
			m.eventually(t, "the notice", `document.querySelectorAll('[data-notice]').length === 1 && document.querySelector('[data-notice]').textContent.includes('no longer available')`)
			m.eventually(t, "the status line naming Lasso's engine", `document.body.innerText.includes('Lasso engine')`)
			m.do(t, chromedp.KeyEvent("i"))
			m.eventually(t, "How this was made says local", `document.querySelector('[data-prov="backend"]')?.textContent === 'local'`)
			m.do(t, chromedp.KeyEvent("i"))
			screenshot(t, ctx, "vision-retired-"+mode+".png")

			// A refinement: answered by the engine again, without asking CDF's API, and the
			// notice is not shown a second time.
			if s := click(0.3, 0.3, 2); s.Status != "done" {
				t.Fatalf("the second prompt: %+v", s)
			}
			if n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('[data-notice]').length`)); err != nil || n != 1 {
				t.Errorf("%d notices after the second prompt (%v), want the one", n, err)
			}
			if starts, _ := calls.counts(); starts != 1 {
				t.Errorf("CDF's segment API was asked %d times, want once: the deployment remembers it is gone", starts)
			}
			if !strings.Contains(logs.String(), "CDF's vision API answers that it is gone") {
				t.Errorf("the log does not say that the deployment moved to Lasso's engine:\n%s", logs)
			}
		})
	}
}

// TestVisionURLBackend runs Lasso in CDF mode with -segment-backend url:<a second stand-in>:
// prompts go to that service with its own token, never the user's, and CDF's own vision API is
// not asked; the job's events say the url backend answered.
func TestVisionURLBackend(t *testing.T) {
	standIn, cdfCalls, cdfURL := startCDF(t, cdflocal.Config{})
	_, svcCalls, svcURL := startCDF(t, cdflocal.Config{Token: "segment-service-secret"})
	cat, _ := standIn.FileID("animals/chelsea.jpg")

	var mu sync.Mutex
	var issued []string
	op := startProvider(t, func(tok string) { mu.Lock(); issued = append(issued, tok); mu.Unlock() })
	addr, base, env := cdfModeEnv(t, op, cdfURL)
	env["LASSO_ADDR"] = addr
	env["LASSO_SEGMENT_BACKEND"] = vision.KindURL + svcURL
	env["LASSO_SEGMENT_TOKEN"] = "segment-service-secret"
	logs := &syncBuffer{}
	startAppEnv(t, env, logs)

	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar, Timeout: 20 * time.Second}
	res, err := browser.Get(fmt.Sprintf("%s/images/%d", base, cat))
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(res.Body)
	res.Body.Close()
	csrf := regexp.MustCompile(`name="csrf-token" content="([^"]+)"`).FindSubmatch(page)
	if res.StatusCode != http.StatusOK || csrf == nil {
		t.Fatalf("image page after sign-in: %d\n%.300s", res.StatusCode, page)
	}
	u, _ := url.Parse(base)
	conn, _, err := (&websocket.Dialer{Jar: jar}).Dial(fmt.Sprintf("ws://%s/ws?room=image:%d", u.Host, cat), http.Header{"Origin": {base}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	req, _ := http.NewRequest(http.MethodPost, fmt.Sprintf("%s/api/images/%d/segment", base, cat),
		strings.NewReader(`{"objectId":"o1","version":1,"points":[{"x":0.62,"y":0.55,"label":1}]}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-CSRF-Token", string(csrf[1]))
	if res, err := browser.Do(req); err != nil || res.StatusCode != http.StatusAccepted {
		t.Fatalf("prompt: %v %v", res, err)
	}
	for {
		_ = conn.SetReadDeadline(time.Now().Add(20 * time.Second))
		var msg struct {
			Type string
			Data struct {
				Status, Backend, Error, Notice string
				Segments                       []json.RawMessage
			}
		}
		if err := conn.ReadJSON(&msg); err != nil {
			t.Fatal(err)
		}
		if msg.Type != "job.status" || (msg.Data.Status != "done" && msg.Data.Status != "failed") {
			continue
		}
		if msg.Data.Status != "done" || msg.Data.Backend != "url" || len(msg.Data.Segments) == 0 || msg.Data.Notice != "" {
			t.Fatalf("job ended %+v, want done by the url backend with segments and no notice", msg.Data)
		}
		break
	}
	if starts, _ := cdfCalls.counts(); starts != 0 {
		t.Errorf("CDF's own vision API was asked %d times", starts)
	}
	starts, bearers := svcCalls.counts()
	if starts != 1 || len(bearers) != 1 || bearers["segment-service-secret"] == 0 {
		t.Errorf("the segment service got %d starts with bearers %v, want 1 start with its own token only", starts, bearers)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, tok := range issued {
		if bearers[tok] > 0 {
			t.Errorf("a token of the user (%.12s…) reached the segment service", tok)
		}
	}
}

// TestVisionRetiredLocalMode is the switch as a person tries it by hand: local mode with
// -standin-vision retired-410 still segments, with Lasso's engine, and says so once.
func TestVisionRetiredLocalMode(t *testing.T) {
	base := startApp(t, "-standin-vision", cdflocal.VisionRetired410)
	m := &member{name: "Ana", ctx: newBrowser(t)}
	ctx, cancel := context.WithTimeout(m.ctx, 60*time.Second)
	defer cancel()
	m.ctx = ctx
	if err := signIn(ctx, base, "Ana"); err != nil {
		t.Fatal(err)
	}
	m.do(t, chromedp.Click(chromedp.Search(`//a[contains(., "chelsea.jpg")]`)),
		chromedp.WaitVisible(chromedp.CSS(`canvas[data-canvas][data-image-loaded="true"]`)))
	x, y, err := canvasPoint(ctx, 0.62, 0.55)
	if err != nil {
		t.Fatal(err)
	}
	m.do(t, chromedp.MouseClickXY(x, y))
	if s, err := waitSettled(ctx, 1, 1); err != nil || s.Status != "done" || s.Polygons < 1 {
		t.Fatalf("the cat: %+v, %v", s, err)
	}
	m.eventually(t, "the notice", `document.querySelectorAll('[data-notice]').length === 1`)
}
