package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// startApp runs the real main's run() in local mode on a free port and returns its URL.
func startApp(t testing.TB, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, append([]string{"-addr", "127.0.0.1:0", "-data", t.TempDir()}, args...), func(string) string { return "" }, pw, io.Discard)
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
		t.Fatalf("the app printed no address: %v", err)
	}
	go io.Copy(io.Discard, pr) //nolint:errcheck // drain
	i := strings.Index(line, "http://")
	if i < 0 {
		t.Fatalf("no URL in %q", line)
	}
	return strings.TrimSpace(line[i:])
}

// newBrowser starts Debian's headless Chromium. The test fails, never skips, without it:
// CI installs it.
func newBrowser(t testing.TB) context.Context {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatal("the browser test needs Chromium: apt-get install chromium")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox, // CI runs as root
		chromedp.Flag("disable-quic", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 860),
	)
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(alloc)
	t.Cleanup(func() { cancelCtx(); cancelAlloc() })
	// The first call starts the browser; it must not carry a timeout (see chromedp.Run).
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	return ctx
}

// signIn opens the app as a new user would: the first page asks for a display name.
func signIn(ctx context.Context, base, name string) error {
	return chromedp.Do(ctx,
		chromedp.Navigate(base),
		chromedp.WaitVisible(chromedp.CSS(`form.signin-form input[name="name"]`)),
		chromedp.SendKeys(chromedp.CSS(`form.signin-form input[name="name"]`), name),
		chromedp.Click(chromedp.CSS(`button[data-signin-local]`)),
		chromedp.WaitVisible(chromedp.CSS(`a[href^="/images/"]`)),
	)
}

// canvasPoint returns the viewport coordinates of the normalised image point (nx, ny), from
// the canvas's data-view hook.
func canvasPoint(ctx context.Context, nx, ny float64) (x, y float64, err error) {
	r, err := chromedp.Run(ctx, chromedp.Evaluate[struct {
		Left, Top float64
		View      string
	}](`(() => {
		const c = document.querySelector('canvas[data-canvas]');
		const r = c.getBoundingClientRect();
		return {left: r.left, top: r.top, view: c.dataset.view};
	})()`))
	if err != nil {
		return 0, 0, err
	}
	var v [5]float64
	parts := strings.Split(r.View, ",")
	if len(parts) != len(v) {
		return 0, 0, fmt.Errorf("canvas data-view %q", r.View)
	}
	for i, p := range parts {
		if v[i], err = strconv.ParseFloat(p, 64); err != nil {
			return 0, 0, fmt.Errorf("canvas data-view %q: %w", r.View, err)
		}
	}
	scale, tx, ty, w, h := v[0], v[1], v[2], v[3], v[4]
	return r.Left + tx + nx*w*scale, r.Top + ty + ny*h*scale, nil
}

// canvasState is what the canvas says it has drawn for the current object.
type canvasState struct {
	Status, Trail, BBox, Latency string
	Polygons, Objects            int

	Version string
}

func readCanvas(ctx context.Context) (canvasState, error) {
	return chromedp.Run(ctx, chromedp.Evaluate[canvasState](`(() => {
		const d = document.querySelector('canvas[data-canvas]').dataset;
		return {status: d.status, trail: d.statusTrail, bbox: d.bbox, latency: d.latencyMs,
			polygons: +d.polygons, objects: +d.objects, version: d.version};
	})()`))
}

// waitSettled polls the canvas until there are the given number of objects and the current
// one's job for the given prompt version is done or failed.
func waitSettled(ctx context.Context, objects, version int) (canvasState, error) {
	deadline := time.Now().Add(30 * time.Second)
	for {
		s, err := readCanvas(ctx)
		if err != nil {
			return s, err
		}
		if (s.Status == "done" || s.Status == "failed") && s.Objects == objects && s.Version == strconv.Itoa(version) {
			return s, nil
		}
		if time.Now().After(deadline) {
			return s, fmt.Errorf("not settled after 30s: %+v", s)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func parseBox(s string) (b [4]float64, err error) {
	parts := strings.Split(s, ",")
	if len(parts) != 4 {
		return b, fmt.Errorf("box %q", s)
	}
	for i, p := range parts {
		if b[i], err = strconv.ParseFloat(p, 64); err != nil {
			return b, err
		}
	}
	return b, nil
}

// TestBrowserClickToPolygon opens the app as a new user would, opens a sample image, clicks
// on the cat and checks that the job was shown queued, running and done, and that a polygon
// and its box were drawn over the cat.
func TestBrowserClickToPolygon(t *testing.T) {
	base := startApp(t, "-queue-delay", "300ms", "-run-delay", "400ms")
	ctx := newBrowser(t)
	ctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()

	if err := signIn(ctx, base, "Ana"); err != nil {
		t.Fatal(err)
	}
	user, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`.user-name`)))
	if err != nil || user != "Ana" {
		t.Errorf("header shows user %q (%v), want Ana", user, err)
	}
	cards, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('a[href^="/images/"]').length`))
	if err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx,
		chromedp.Click(chromedp.Search(`//a[contains(., "chelsea.jpg")]`)),
		chromedp.WaitVisible(chromedp.CSS(`canvas[data-canvas][data-image-loaded="true"]`)),
	); err != nil {
		t.Fatal(err)
	}
	if cards < 8 {
		t.Errorf("the image browser shows %d images, want the 8 samples", cards)
	}

	// The cat's nose in chelsea.jpg (451×300).
	const nx, ny = 0.62, 0.55
	x, y, err := canvasPoint(ctx, nx, ny)
	if err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.MouseClickXY(x, y)); err != nil {
		t.Fatal(err)
	}
	s, err := waitSettled(ctx, 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	if s.Status != "done" || s.Trail != "queued,running,done" {
		t.Fatalf("status %q after trail %q, want queued,running,done", s.Status, s.Trail)
	}
	if s.Polygons < 1 {
		t.Fatalf("%d polygons drawn", s.Polygons)
	}
	b, err := parseBox(s.BBox)
	if err != nil {
		t.Fatal(err)
	}
	if !(b[0] < nx && nx < b[2] && b[1] < ny && ny < b[3]) {
		t.Errorf("box %v does not hold the click (%g, %g)", b, nx, ny)
	}
	if area := (b[2] - b[0]) * (b[3] - b[1]); area < 0.02 || area > 0.9 {
		t.Errorf("box %v covers %.2f of the image: not an object", b, area)
	}

	// A negative click far from the object starts a new job for the same object; its
	// result replaces the old one.
	x, y, err = canvasPoint(ctx, 0.05, 0.1)
	if err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.MouseClickXY(x, y, chromedp.ButtonRight)); err != nil {
		t.Fatal(err)
	}
	s, err = waitSettled(ctx, 1, 2)
	if err != nil {
		t.Fatal(err)
	}
	if s.Status != "done" || s.Polygons < 1 || s.Objects != 1 {
		t.Errorf("after a negative click: %+v, want one object done with polygons", s)
	}
	screenshot(t, ctx, "click-to-polygon.png")
}

// screenshot saves the page to $LASSO_SCREENSHOTS/name when that variable is set, so a person
// can look at what the test saw.
func screenshot(t *testing.T, ctx context.Context, name string) {
	dir := os.Getenv("LASSO_SCREENSHOTS")
	if dir == "" {
		return
	}
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err == nil {
		err = os.WriteFile(filepath.Join(dir, name), png, 0o644)
	}
	if err != nil {
		t.Errorf("screenshot: %v", err)
	}
}

// BenchmarkClickToPolygon measures, in a real browser against local mode with the stand-in's
// delays at zero, the time from the click to the frame that draws the polygons (the canvas's
// data-latency-ms). Each iteration is one prompt on a new object. Run it with
//
//	go test -run '^$' -bench ClickToPolygon -benchtime 60x ./cmd/web
//
// and read the p50/p95 metrics.
func BenchmarkClickToPolygon(b *testing.B) {
	base := startApp(b, "-queue-delay", "0", "-run-delay", "0")
	ctx := newBrowser(b)
	if err := signIn(ctx, base, "Bench"); err != nil {
		b.Fatal(err)
	}
	if err := chromedp.Do(ctx,
		chromedp.Click(chromedp.Search(`//a[contains(., "fruits.jpg")]`)),
		chromedp.WaitVisible(chromedp.CSS(`canvas[data-canvas][data-image-loaded="true"]`)),
	); err != nil {
		b.Fatal(err)
	}
	var latencies []float64
	b.ResetTimer()
	for i := range b.N {
		// Walk a grid of points so that every prompt is new work for the engine.
		nx := 0.1 + 0.8*float64(i%9)/8
		ny := 0.1 + 0.8*float64((i/9)%9)/8
		x, y, err := canvasPoint(ctx, nx, ny)
		if err != nil {
			b.Fatal(err)
		}
		if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`button[data-action="new"]`)), chromedp.MouseClickXY(x, y)); err != nil {
			b.Fatal(err)
		}
		s, err := waitSettled(ctx, i+1, 1)
		if err != nil {
			b.Fatalf("iteration %d: %v", i, err)
		}
		ms, err := strconv.ParseFloat(s.Latency, 64)
		if err != nil {
			b.Fatalf("iteration %d: latency %q: %v", i, s.Latency, err)
		}
		latencies = append(latencies, ms)
	}
	b.StopTimer()
	sort.Float64s(latencies)
	b.ReportMetric(percentile(latencies, 0.50), "p50-ms")
	b.ReportMetric(percentile(latencies, 0.95), "p95-ms")
}

// percentile interpolates linearly between ranks of sorted values.
func percentile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	r := p * float64(len(sorted)-1)
	lo := int(r)
	if lo+1 >= len(sorted) {
		return sorted[lo]
	}
	return sorted[lo] + (r-float64(lo))*(sorted[lo+1]-sorted[lo])
}
