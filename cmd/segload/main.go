// Command segload measures the local segment backend (package vision) under load, the way a
// team uses it on CDF files: N annotators, each on a different large image, clicking objects
// one prompt after another. It is a measuring command, not a test:
//
//	go run ./cmd/segload [-users 8] [-prompts 60] [-megapixels 12] [-workers 0] [-think 0] [-json FILE]
//
// It generates one photo-like JPEG per user in a temporary folder (removed at the end), serves
// the folder with the CDF stand-in (cdf/cdflocal) on a loopback port, and gives each user a
// real CDF client with a bearer token. Prompts go through jobs.Manager to vision.Local, which
// reads each image with that user's client, exactly as Lasso does in CDF mode with the local
// backend. Every user runs -prompts prompts on its own image concurrently: objects of 1 to 5
// clicks (positive clicks inside a blob, an occasional negative one outside it), each prompt
// waiting for its result before the next, with -think between prompts.
//
// Latency is Submit → the job's terminal event (done or failed). The first prompt of a user
// includes downloading and decoding the image. A prompt without a terminal event within 60 s
// is stuck. The report gives the latency percentiles, engine time, failures with their
// reasons, peak RSS (VmHWM, reset after the images are generated), goroutines at start and
// end, and wall time; -json writes the same as JSON. The exit status is 1 when any prompt is
// stuck or failed.
package main

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"image"
	"image/jpeg"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"

	"github.com/lassoteam/lasso/cdf"
	"github.com/lassoteam/lasso/cdf/cdflocal"
	"github.com/lassoteam/lasso/hub"
	"github.com/lassoteam/lasso/jobs"
	"github.com/lassoteam/lasso/segment"
	"github.com/lassoteam/lasso/vision"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "segload:", err)
		}
		os.Exit(1)
	}
}

// Limits of the flags, and the waits that bound the run.
const (
	maxUsers      = 64
	maxPrompts    = 10_000
	maxMegapixels = 40 // the engine refuses images above 40 MP
	minMegapixels = 0.01
	maxWorkers    = 256
	maxThink      = time.Minute

	// stuckAfter is how long a prompt may go without a terminal event before it is stuck.
	stuckAfter = 60 * time.Second
	// lateGrace is how much longer a prompt is waited for after stuckAfter, so that the
	// report can say what a stuck prompt ended with, if anything (jobs.Manager's own deadline
	// is also 60 s, and its "timed out" event lands just after stuckAfter).
	lateGrace = 5 * time.Second
	// teardownWait bounds closing the manager, the backend and the servers.
	teardownWait = 30 * time.Second

	token   = "segload-token"
	project = "load"
)

// config is the parsed command line.
type config struct {
	users, prompts, workers int
	megapixels              float64
	think                   time.Duration
	jsonOut                 string
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("segload", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&c.users, "users", 8, fmt.Sprintf("concurrent annotators, each on its own image (1..%d)", maxUsers))
	fs.IntVar(&c.prompts, "prompts", 60, fmt.Sprintf("prompts per user (1..%d)", maxPrompts))
	fs.Float64Var(&c.megapixels, "megapixels", 12, fmt.Sprintf("size of each image in megapixels, 4:3 (%g..%d)", minMegapixels, maxMegapixels))
	fs.IntVar(&c.workers, "workers", 0, fmt.Sprintf("local backend workers (0: the number of CPUs; at most %d)", maxWorkers))
	fs.DurationVar(&c.think, "think", 0, fmt.Sprintf("pause between a result and the user's next prompt (0..%v)", maxThink))
	fs.StringVar(&c.jsonOut, "json", "", "also write the report as JSON to this file")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	switch {
	case fs.NArg() > 0:
		return c, fmt.Errorf("unexpected arguments %q: segload takes flags only", fs.Args())
	case c.users < 1 || c.users > maxUsers:
		return c, fmt.Errorf("-users %d: want 1..%d", c.users, maxUsers)
	case c.prompts < 1 || c.prompts > maxPrompts:
		return c, fmt.Errorf("-prompts %d: want 1..%d", c.prompts, maxPrompts)
	case math.IsNaN(c.megapixels) || c.megapixels < minMegapixels || c.megapixels > maxMegapixels:
		return c, fmt.Errorf("-megapixels %g: want %g..%d", c.megapixels, minMegapixels, maxMegapixels)
	case c.workers < 0 || c.workers > maxWorkers:
		return c, fmt.Errorf("-workers %d: want 0 (the number of CPUs) or 1..%d", c.workers, maxWorkers)
	case c.think < 0 || c.think > maxThink:
		return c, fmt.Errorf("-think %v: want 0..%v", c.think, maxThink)
	}
	return c, nil
}

// imageSize is the 4:3 size of about mp megapixels, never above it.
func imageSize(mp float64) (w, h int) {
	w = int(math.Sqrt(mp * 1e6 * 4 / 3))
	h = w * 3 / 4
	return w, h
}

// stats summarises latencies in milliseconds.
type stats struct {
	N   int     `json:"n"`
	P50 float64 `json:"p50"`
	P95 float64 `json:"p95"`
	Max float64 `json:"max"`
}

// summarize gives nearest-rank percentiles of ds.
func summarize(ds []time.Duration) stats {
	if len(ds) == 0 {
		return stats{}
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	rank := func(p float64) float64 {
		i := int(math.Ceil(p/100*float64(len(s)))) - 1
		return ms(s[max(0, min(i, len(s)-1))])
	}
	return stats{N: len(s), P50: rank(50), P95: rank(95), Max: ms(s[len(s)-1])}
}

func ms(d time.Duration) float64 { return math.Round(float64(d.Microseconds())/10) / 100 }

// report is what segload prints and writes with -json.
type report struct {
	Users          int     `json:"users"`
	PromptsPerUser int     `json:"promptsPerUser"`
	Prompts        int     `json:"prompts"`
	Workers        int     `json:"workers"`
	CPUs           int     `json:"cpus"`
	Width          int     `json:"width"`
	Height         int     `json:"height"`
	JPEGBytesAvg   int64   `json:"jpegBytesAvg"`
	ThinkMS        float64 `json:"thinkMs"`

	// FirstMS is the first prompt of each user (download + decode + segment); LaterMS the rest.
	FirstMS stats `json:"firstPromptMs"`
	LaterMS stats `json:"laterPromptMs"`
	// EngineColdMS is the engine's time on an image it had not seen (decode included);
	// EngineWarmMS its time on the others. Their difference to the latencies is queueing,
	// polling and the CDF round trips.
	EngineColdMS stats `json:"engineColdMs"`
	EngineWarmMS stats `json:"engineWarmMs"`

	Done     int            `json:"done"`
	Empty    int            `json:"emptyResults"` // done, but nothing found
	Failed   int            `json:"failed"`
	Failures map[string]int `json:"failures,omitempty"` // reason → count
	Stuck    int            `json:"stuck"`
	StuckHow map[string]int `json:"stuckDetail,omitempty"` // what a stuck prompt ended with, if anything

	PeakRSSMB      float64 `json:"peakRssMB"`
	PeakRSSSource  string  `json:"peakRssSource"`
	SampledRSSMB   float64 `json:"sampledPeakRssMB"` // the largest VmRSS seen every 50 ms while prompting
	RSSBeforeMB    float64 `json:"rssBeforeMB"`      // after the images were generated, before the first prompt
	GoroutinesFrom int     `json:"goroutinesStart"`
	GoroutinesTo   int     `json:"goroutinesEnd"`
	SetupSeconds   float64 `json:"setupSeconds"`
	WallSeconds    float64 `json:"wallSeconds"`
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) (err error) {
	cfg, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	goroutinesStart := runtime.NumGoroutine()
	setupStart := time.Now()
	w, h := imageSize(cfg.megapixels)
	workers := cfg.workers
	if workers == 0 {
		workers = runtime.NumCPU()
	}

	dir, err := os.MkdirTemp("", "segload-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	scenes, jpegBytes, err := writeImages(ctx, dir, cfg.users, w, h)
	if err != nil {
		return err
	}

	// The stand-in serves the files; its engine only makes icons here.
	standIn, err := cdflocal.New(cdflocal.Config{ImagesDir: dir, Project: project, Token: token, Engine: segment.New(segment.Options{})})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		standIn.Close()
		return err
	}
	srv := &http.Server{Handler: standIn, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln) //nolint:errcheck // ends with ErrServerClosed at teardown
	base := "http://" + ln.Addr().String()
	fileIDs := map[string]int64{}
	for _, f := range standIn.Files() {
		fileIDs[f.ExternalID] = f.ID
	}

	engine := &timedEngine{e: segment.New(segment.Options{}), seen: map[string]bool{}}
	local := vision.NewLocal(engine, vision.LocalOptions{Scope: base + "/" + project, Workers: cfg.workers})
	rec := &recorder{waits: map[promptKey]*outcome{}}
	mgr := jobs.New(rec, jobs.Options{})

	// Teardown is bounded too: a backend that hangs on close is a finding, not a hung run.
	defer func() {
		done := make(chan struct{})
		go func() {
			defer close(done)
			mgr.Close()
			local.Close()
			http.DefaultTransport.(*http.Transport).CloseIdleConnections()
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if srv.Shutdown(sctx) != nil {
				srv.Close()
			}
			standIn.Close()
		}()
		select {
		case <-done:
		case <-time.After(teardownWait):
			err = errors.Join(err, fmt.Errorf("teardown did not finish within %v: something is stuck", teardownWait))
		}
	}()

	// Peak RSS is the prompts' doing: forget what generating the images took.
	runtime.GC()
	debug.FreeOSMemory()
	resetOK := resetPeakRSS()
	_, rssBefore := rssMB()
	sampler := startRSSSampler(50 * time.Millisecond)

	rep := report{
		Users: cfg.users, PromptsPerUser: cfg.prompts, Prompts: cfg.users * cfg.prompts,
		Workers: workers, CPUs: runtime.NumCPU(), Width: w, Height: h, JPEGBytesAvg: jpegBytes / int64(cfg.users),
		ThinkMS: ms(cfg.think), RSSBeforeMB: round1(rssBefore), GoroutinesFrom: goroutinesStart,
		SetupSeconds: round2(time.Since(setupStart).Seconds()),
	}
	fmt.Fprintf(stderr, "segload: %d users × %d prompts on %d×%d images, %d workers; running…\n", cfg.users, cfg.prompts, w, h, workers)

	annotators := make([]*annotator, cfg.users)
	for i := range cfg.users {
		user := userName(i)
		id, ok := fileIDs[imageName(i)]
		if !ok {
			sampler.stop()
			return fmt.Errorf("the stand-in does not list %s", imageName(i))
		}
		// Each user has their own CDF client and token, as each signed-in annotator does.
		client := cdf.New(base, project, oauth2.NewClient(ctx, oauth2.StaticTokenSource(&oauth2.Token{AccessToken: token})))
		annotators[i] = &annotator{
			user: user, fileID: id, scene: scenes[i], cfg: cfg, mgr: mgr, rec: rec,
			api: func() jobs.SegmentAPI { return local.For(user, client.Files) },
			rng: rand.New(rand.NewPCG(uint64(i)+1, 0x5e610ad)),
		}
	}

	// All users start at once: a team opening its images at the start of a session.
	start := time.Now()
	results := make([][]result, cfg.users)
	var wg sync.WaitGroup
	for i, a := range annotators {
		wg.Go(func() { results[i] = a.run(ctx) })
	}
	wg.Wait()
	rep.WallSeconds = round2(time.Since(start).Seconds())
	sampledPeak := sampler.stop()
	hwm, _ := rssMB()
	if err := ctx.Err(); err != nil {
		return err
	}

	var first, later []time.Duration
	for _, rs := range results {
		for _, r := range rs {
			switch r.status {
			case jobs.StatusDone:
				rep.Done++
				if r.segments == 0 {
					rep.Empty++
				}
			case jobs.StatusFailed:
				rep.Failed++
				rep.Failures = inc(rep.Failures, r.reason)
			default:
				rep.Stuck++
				rep.StuckHow = inc(rep.StuckHow, r.reason)
				continue
			}
			if r.first {
				first = append(first, r.latency)
			} else {
				later = append(later, r.latency)
			}
		}
	}
	rep.FirstMS, rep.LaterMS = summarize(first), summarize(later)
	rep.EngineColdMS, rep.EngineWarmMS = engine.stats()
	rep.SampledRSSMB = round1(sampledPeak)
	switch {
	case resetOK && hwm > 0:
		rep.PeakRSSMB, rep.PeakRSSSource = round1(max(hwm, sampledPeak)), "VmHWM, reset after the images were generated"
	case sampledPeak > 0:
		rep.PeakRSSMB, rep.PeakRSSSource = round1(sampledPeak), "VmRSS sampled every 50 ms while prompting"
	default:
		rep.PeakRSSMB, rep.PeakRSSSource = round1(runtimeMB()), "Go runtime memory (no /proc)"
	}

	// The goroutine count at the end is taken once everything is closed; the closing runs in
	// the deferred teardown, so do it here first (Close is idempotent where it matters).
	mgr.Close()
	local.Close()
	http.DefaultTransport.(*http.Transport).CloseIdleConnections()
	sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	_ = srv.Shutdown(sctx)
	cancel()
	standIn.Close()
	rep.GoroutinesTo = settledGoroutines(goroutinesStart, 2*time.Second)

	printReport(stdout, rep)
	if cfg.jsonOut != "" {
		b, err := json.MarshalIndent(rep, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(cfg.jsonOut, append(b, '\n'), 0o644); err != nil {
			return err
		}
	}
	if rep.Stuck > 0 || rep.Failed > 0 {
		return fmt.Errorf("%d of %d prompts stuck, %d failed", rep.Stuck, rep.Prompts, rep.Failed)
	}
	if rep.Done != rep.Prompts {
		return fmt.Errorf("only %d of %d prompts ran", rep.Done, rep.Prompts)
	}
	return nil
}

func inc(m map[string]int, k string) map[string]int {
	if m == nil {
		m = map[string]int{}
	}
	m[k]++
	return m
}

func round1(v float64) float64 { return math.Round(v*10) / 10 }
func round2(v float64) float64 { return math.Round(v*100) / 100 }

// settledGoroutines waits up to d for the goroutines to come down to want (connections and
// timers take a moment to go) and returns how many there are.
func settledGoroutines(want int, d time.Duration) int {
	deadline := time.Now().Add(d)
	for runtime.NumGoroutine() > want && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	return runtime.NumGoroutine()
}

func printReport(w io.Writer, r report) {
	fmt.Fprintf(w, "segload: %d users × %d prompts = %d prompts, local backend, %d workers on %d CPUs, think %v\n",
		r.Users, r.PromptsPerUser, r.Prompts, r.Workers, r.CPUs, time.Duration(r.ThinkMS*float64(time.Millisecond)))
	fmt.Fprintf(w, "images: %d×%d (%.1f MP), JPEG q90, %.1f MB on average\n",
		r.Width, r.Height, float64(r.Width*r.Height)/1e6, float64(r.JPEGBytesAvg)/1e6)
	fmt.Fprintf(w, "first prompt (download + decode): p50 %s  p95 %s  max %s  (n=%d)\n", sec(r.FirstMS.P50), sec(r.FirstMS.P95), sec(r.FirstMS.Max), r.FirstMS.N)
	fmt.Fprintf(w, "later prompts:                    p50 %s  p95 %s  max %s  (n=%d)\n", sec(r.LaterMS.P50), sec(r.LaterMS.P95), sec(r.LaterMS.Max), r.LaterMS.N)
	fmt.Fprintf(w, "engine time, new image:           p50 %s  p95 %s  max %s  (n=%d)\n", sec(r.EngineColdMS.P50), sec(r.EngineColdMS.P95), sec(r.EngineColdMS.Max), r.EngineColdMS.N)
	fmt.Fprintf(w, "engine time, cached image:        p50 %s  p95 %s  max %s  (n=%d)\n", sec(r.EngineWarmMS.P50), sec(r.EngineWarmMS.P95), sec(r.EngineWarmMS.Max), r.EngineWarmMS.N)
	fmt.Fprintf(w, "results: %d done (%d found nothing), %d failed, %d stuck\n", r.Done, r.Empty, r.Failed, r.Stuck)
	printCounts(w, "failed", r.Failures)
	printCounts(w, "stuck", r.StuckHow)
	fmt.Fprintf(w, "peak RSS: %.1f MB (%s); largest VmRSS sampled %.1f MB; %.1f MB before the first prompt\n", r.PeakRSSMB, r.PeakRSSSource, r.SampledRSSMB, r.RSSBeforeMB)
	fmt.Fprintf(w, "goroutines: %d at start, %d at end\n", r.GoroutinesFrom, r.GoroutinesTo)
	fmt.Fprintf(w, "wall time: %.2fs prompting (%.1f prompts/s), %.2fs setup\n", r.WallSeconds, float64(r.Done+r.Failed)/max(r.WallSeconds, 0.001), r.SetupSeconds)
}

func printCounts(w io.Writer, what string, m map[string]int) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		fmt.Fprintf(w, "  %s %d×: %s\n", what, m[k], k)
	}
}

func sec(msv float64) string { return strconv.FormatFloat(msv/1000, 'f', 3, 64) + "s" }

func userName(i int) string  { return fmt.Sprintf("u%02d", i+1) }
func imageName(i int) string { return fmt.Sprintf("user-%02d.jpg", i+1) }

// promptKey names one prompt as its events do.
type promptKey struct {
	room, objectID string
	version        int
}

// outcome is the first terminal event of a prompt.
type outcome struct {
	done chan struct{} // closed when at and ev are set
	at   time.Time
	ev   jobs.Event
}

// recorder is the jobs.Publisher: it keeps, per prompt, the time and content of the first
// terminal event, for the annotator waiting on it.
type recorder struct {
	mu    sync.Mutex
	waits map[promptKey]*outcome
}

// expect registers a prompt before it is submitted.
func (r *recorder) expect(k promptKey) *outcome {
	o := &outcome{done: make(chan struct{})}
	r.mu.Lock()
	r.waits[k] = o
	r.mu.Unlock()
	return o
}

// forget drops a prompt once it has been accounted for.
func (r *recorder) forget(k promptKey) {
	r.mu.Lock()
	delete(r.waits, k)
	r.mu.Unlock()
}

// Publish implements jobs.Publisher.
func (r *recorder) Publish(room, typ string, data any) (hub.Message, error) {
	at := time.Now()
	var ev jobs.Event
	switch d := data.(type) {
	case jobs.Event:
		ev = d
	case *jobs.Event:
		ev = *d
	default:
		return hub.Message{}, fmt.Errorf("segload: unexpected %s event %T", typ, data)
	}
	if ev.Status != jobs.StatusDone && ev.Status != jobs.StatusFailed {
		return hub.Message{Type: typ, Room: room}, nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	o := r.waits[promptKey{room, ev.ObjectID, ev.Version}]
	if o == nil || !o.at.IsZero() {
		return hub.Message{Type: typ, Room: room}, nil
	}
	o.at, o.ev = at, ev
	close(o.done)
	return hub.Message{Type: typ, Room: room}, nil
}

// result is what became of one prompt.
type result struct {
	first    bool
	latency  time.Duration
	status   jobs.Status // "" when stuck
	reason   string
	segments int
}

// annotator is one user refining objects on their image, one prompt at a time.
type annotator struct {
	user   string
	fileID int64
	scene  *scene
	cfg    config
	mgr    *jobs.Manager
	rec    *recorder
	api    func() jobs.SegmentAPI // a fresh one per task, as jobs.Submit wants
	rng    *rand.Rand
}

func (a *annotator) run(ctx context.Context) []result {
	out := make([]result, 0, a.cfg.prompts)
	room := "user:" + a.user
	for obj := 1; len(out) < a.cfg.prompts; obj++ {
		target := a.rng.IntN(len(a.scene.blobs))
		clicks := 1 + a.rng.IntN(5)
		var points []cdf.SegmentPoint
		for v := 1; v <= clicks && len(out) < a.cfg.prompts; v++ {
			if len(out) > 0 && a.cfg.think > 0 && !sleep(ctx, a.cfg.think) {
				return out
			}
			label := 1
			if v > 1 && a.rng.Float64() < 0.2 {
				label = 0
			}
			x, y, ok := a.scene.click(a.rng, target, label == 1)
			if !ok {
				label = 1
				x, y, _ = a.scene.click(a.rng, target, true)
			}
			points = append(points, cdf.SegmentPoint{X: x, Y: y, Label: label})
			key := promptKey{room, fmt.Sprintf("obj-%03d", obj), v}
			r, ok := a.prompt(ctx, key, slices.Clone(points))
			if !ok {
				return out
			}
			r.first = len(out) == 0
			out = append(out, r)
		}
	}
	return out
}

// prompt submits one prompt and waits for its terminal event; ok is false when ctx ended.
func (a *annotator) prompt(ctx context.Context, key promptKey, points []cdf.SegmentPoint) (result, bool) {
	o := a.rec.expect(key)
	defer a.rec.forget(key)
	start := time.Now()
	err := a.mgr.Submit(a.api(), jobs.Task{
		Room: key.room, ObjectID: key.objectID, Version: key.version, User: a.user, FileID: a.fileID,
		Request: cdf.SegmentRequest{Items: []cdf.FileReference{{FileID: a.fileID}}, Points: points},
	})
	if err != nil {
		return result{status: jobs.StatusFailed, reason: "submit: " + err.Error()}, true
	}
	timer := time.NewTimer(stuckAfter + lateGrace)
	defer timer.Stop()
	select {
	case <-o.done:
	case <-timer.C:
		return result{reason: fmt.Sprintf("no terminal event within %v", stuckAfter+lateGrace)}, true
	case <-ctx.Done():
		return result{}, false
	}
	r := result{latency: o.at.Sub(start), status: o.ev.Status, reason: o.ev.Error, segments: len(o.ev.Segments)}
	if r.latency > stuckAfter {
		r.reason = fmt.Sprintf("%s after %.1fs: %s", o.ev.Status, r.latency.Seconds(), o.ev.Error)
		r.status = ""
	}
	return r, true
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// timedEngine measures the engine's time per call, apart for calls on an image it has not
// seen (which download and decode it).
type timedEngine struct {
	e          vision.Engine
	mu         sync.Mutex
	seen       map[string]bool
	cold, warm []time.Duration
}

// Segment implements vision.Engine.
func (t *timedEngine) Segment(ctx context.Context, src segment.Source, p segment.Prompt) ([]segment.Segment, error) {
	t.mu.Lock()
	cold := !t.seen[src.Key]
	t.seen[src.Key] = true
	t.mu.Unlock()
	start := time.Now()
	out, err := t.e.Segment(ctx, src, p)
	d := time.Since(start)
	t.mu.Lock()
	if cold {
		t.cold = append(t.cold, d)
	} else {
		t.warm = append(t.warm, d)
	}
	t.mu.Unlock()
	return out, err
}

func (t *timedEngine) stats() (cold, warm stats) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return summarize(t.cold), summarize(t.warm)
}

// blob is one object of a scene: a rotated ellipse with a soft edge, in pixels.
type blob struct {
	cx, cy, a, b   float64 // centre and semi-axes
	cos, sin       float64 // rotation
	soft           float64 // half width of the edge, as a fraction of the radius
	r, g, bl       float64 // colour
	x0, y0, x1, y1 float64 // bounding box of the blob with its edge
}

// dist is the normalised elliptic distance of (x, y) from b's centre: 1 on the edge.
func (b *blob) dist(x, y float64) float64 {
	dx, dy := x-b.cx, y-b.cy
	u := (dx*b.cos + dy*b.sin) / b.a
	v := (-dx*b.sin + dy*b.cos) / b.b
	return math.Sqrt(u*u + v*v)
}

// scene is one user's image: a gradient, a few blobs (the later drawn over the earlier), a
// faint large-scale shading and noise.
type scene struct {
	w, h           int
	seed           uint64
	c0, c1         [3]float64 // gradient colours
	gx, gy         float64    // gradient direction
	sfx, sfy, p1   float64    // shading frequencies and phase
	blobs          []blob
	noise          float64
	tmin, tspanInv float64
}

func newScene(seed uint64, w, h int) *scene {
	rng := rand.New(rand.NewPCG(seed, 0x1a55011))
	muted := func() [3]float64 {
		return [3]float64{40 + rng.Float64()*150, 40 + rng.Float64()*150, 40 + rng.Float64()*150}
	}
	s := &scene{w: w, h: h, seed: seed, c0: muted(), c1: muted(), noise: 5 + rng.Float64()*4}
	ang := rng.Float64() * 2 * math.Pi
	s.gx, s.gy = math.Cos(ang), math.Sin(ang)
	corners := []float64{0, float64(w) * s.gx, float64(h) * s.gy, float64(w)*s.gx + float64(h)*s.gy}
	s.tmin = slices.Min(corners)
	s.tspanInv = 1 / (slices.Max(corners) - s.tmin)
	s.sfx = (1 + rng.Float64()*2) * 2 * math.Pi / float64(w)
	s.sfy = (1 + rng.Float64()*2) * 2 * math.Pi / float64(h)
	s.p1 = rng.Float64() * 2 * math.Pi
	n := 3 + rng.IntN(3)
	side := float64(min(w, h))
	for len(s.blobs) < n {
		var b blob
		b.a = side * (0.12 + rng.Float64()*0.18)
		b.b = b.a * (0.55 + rng.Float64()*0.6)
		b.cx = float64(w) * (0.15 + rng.Float64()*0.7)
		b.cy = float64(h) * (0.15 + rng.Float64()*0.7)
		rot := rng.Float64() * math.Pi
		b.cos, b.sin = math.Cos(rot), math.Sin(rot)
		b.soft = 0.02 + rng.Float64()*0.06
		// A colour that stands out from the background, as an object in a photo mostly does.
		mid := [3]float64{(s.c0[0] + s.c1[0]) / 2, (s.c0[1] + s.c1[1]) / 2, (s.c0[2] + s.c1[2]) / 2}
		for range 100 {
			b.r, b.g, b.bl = 20+rng.Float64()*225, 20+rng.Float64()*225, 20+rng.Float64()*225
			if math.Abs(b.r-mid[0])+math.Abs(b.g-mid[1])+math.Abs(b.bl-mid[2]) > 120 {
				break
			}
		}
		reach := max(b.a, b.b) * (1 + b.soft)
		b.x0, b.x1 = b.cx-reach, b.cx+reach
		b.y0, b.y1 = b.cy-reach, b.cy+reach
		s.blobs = append(s.blobs, b)
	}
	// The largest at the back, so that smaller ones stay visible.
	slices.SortStableFunc(s.blobs, func(p, q blob) int { return cmp.Compare(q.a*q.b, p.a*p.b) })
	return s
}

func smoothstep(t float64) float64 {
	t = max(0, min(1, t))
	return t * t * (3 - 2*t)
}

// render draws the scene into img, which is s.w × s.h.
func (s *scene) render(img *image.RGBA) {
	rng := rand.New(rand.NewPCG(s.seed, 0x401fe))
	sx := make([]float64, s.w)
	for x := range sx {
		sx[x] = math.Sin(float64(x)*s.sfx + s.p1)
	}
	for y := range s.h {
		fy := float64(y) + 0.5
		sy := math.Sin(fy*s.sfy + 2*s.p1)
		row := img.Pix[y*img.Stride : y*img.Stride+4*s.w]
		for x := range s.w {
			fx := float64(x) + 0.5
			t := (fx*s.gx + fy*s.gy - s.tmin) * s.tspanInv
			r := s.c0[0] + (s.c1[0]-s.c0[0])*t
			g := s.c0[1] + (s.c1[1]-s.c0[1])*t
			b := s.c0[2] + (s.c1[2]-s.c0[2])*t
			for i := range s.blobs {
				bl := &s.blobs[i]
				if fx < bl.x0 || fx > bl.x1 || fy < bl.y0 || fy > bl.y1 {
					continue
				}
				d := bl.dist(fx, fy)
				if d >= 1+bl.soft {
					continue
				}
				alpha := smoothstep((1 + bl.soft - d) / (2 * bl.soft))
				shade := 1.1 - 0.3*min(d*d, 1) // lit in the middle, darker to the rim
				r += (bl.r*shade - r) * alpha
				g += (bl.g*shade - g) * alpha
				b += (bl.bl*shade - b) * alpha
			}
			light := 1 + 0.07*sx[x]*sy
			lum := (rng.Float64() - 0.5) * 2 * s.noise
			row[4*x] = clamp8(r*light + lum + (rng.Float64()-0.5)*s.noise)
			row[4*x+1] = clamp8(g*light + lum + (rng.Float64()-0.5)*s.noise)
			row[4*x+2] = clamp8(b*light + lum + (rng.Float64()-0.5)*s.noise)
			row[4*x+3] = 255
		}
	}
}

func clamp8(v float64) uint8 { return uint8(max(0, min(255, math.Round(v)))) }

// top is the index of the blob visible at (x, y), or -1 for the background; within is how
// far inside its edge a point must be to count.
func (s *scene) top(x, y, within float64) int {
	for i := len(s.blobs) - 1; i >= 0; i-- {
		if s.blobs[i].dist(x, y) <= within {
			return i
		}
	}
	return -1
}

// click picks a normalised point for the target blob: inside it where it is visible
// (positive), or on the background near it (negative). ok is false when no such point was
// found, e.g. a blob hidden under others.
func (s *scene) click(rng *rand.Rand, target int, positive bool) (x, y float64, ok bool) {
	b := &s.blobs[target]
	for range 100 {
		var r float64
		if positive {
			r = 0.75 * math.Sqrt(rng.Float64())
		} else {
			r = 1.2 + rng.Float64()*0.5
		}
		th := rng.Float64() * 2 * math.Pi
		u, v := r*math.Cos(th)*b.a, r*math.Sin(th)*b.b
		px, py := b.cx+u*b.cos-v*b.sin, b.cy+u*b.sin+v*b.cos
		if px < 0.01*float64(s.w) || px > 0.99*float64(s.w) || py < 0.01*float64(s.h) || py > 0.99*float64(s.h) {
			continue
		}
		if positive && s.top(px, py, 1.1) != target {
			continue
		}
		if !positive && s.top(px, py, 1.15) != -1 {
			continue
		}
		return px / float64(s.w), py / float64(s.h), true
	}
	if positive {
		return b.cx / float64(s.w), b.cy / float64(s.h), false
	}
	return 0, 0, false
}

// writeImages renders one scene per user into dir as JPEG (quality 90), a few at a time,
// and returns the scenes and the total size of the files.
func writeImages(ctx context.Context, dir string, users, w, h int) ([]*scene, int64, error) {
	scenes := make([]*scene, users)
	sizes := make([]int64, users)
	errs := make([]error, users)
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(users, runtime.NumCPU()) {
		wg.Go(func() {
			img := image.NewRGBA(image.Rect(0, 0, w, h))
			for i := range next {
				s := newScene(uint64(i)+1, w, h)
				s.render(img)
				scenes[i] = s
				sizes[i], errs[i] = writeJPEG(filepath.Join(dir, imageName(i)), img)
			}
		})
	}
	for i := range users {
		if ctx.Err() != nil {
			break
		}
		next <- i
	}
	close(next)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, 0, err
	}
	var total int64
	for i := range users {
		if errs[i] != nil {
			return nil, 0, fmt.Errorf("write %s: %w", imageName(i), errs[i])
		}
		total += sizes[i]
	}
	return scenes, total, nil
}

func writeJPEG(path string, img image.Image) (int64, error) {
	f, err := os.Create(path)
	if err != nil {
		return 0, err
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	err = jpeg.Encode(bw, img, &jpeg.Options{Quality: 90})
	if err == nil {
		err = bw.Flush()
	}
	var size int64
	if err == nil {
		var st os.FileInfo
		if st, err = f.Stat(); err == nil {
			size = st.Size()
		}
	}
	return size, errors.Join(err, f.Close())
}

// rssMB reads the peak (VmHWM) and current (VmRSS) resident set size from /proc/self/status,
// in MB; 0 where /proc is missing.
func rssMB() (hwm, rss float64) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, 0
	}
	for line := range strings.Lines(string(b)) {
		k, v, ok := strings.Cut(line, ":")
		if !ok || (k != "VmHWM" && k != "VmRSS") {
			continue
		}
		kb, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 64)
		if err != nil {
			continue
		}
		if k == "VmHWM" {
			hwm = kb / 1024
		} else {
			rss = kb / 1024
		}
	}
	return hwm, rss
}

// resetPeakRSS resets VmHWM to the current RSS (Linux: write 5 to /proc/self/clear_refs) and
// reports whether it could.
func resetPeakRSS() bool {
	return os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil
}

// runtimeMB is the memory the Go runtime holds now, for systems without /proc.
func runtimeMB() float64 {
	s := []metrics.Sample{{Name: "/memory/classes/total:bytes"}}
	metrics.Read(s)
	return float64(s[0].Value.Uint64()) / (1 << 20)
}

// rssSampler records the largest VmRSS seen, in case VmHWM cannot be reset.
type rssSampler struct {
	quit chan struct{}
	done chan float64
}

func startRSSSampler(every time.Duration) *rssSampler {
	s := &rssSampler{quit: make(chan struct{}), done: make(chan float64, 1)}
	go func() {
		t := time.NewTicker(every)
		defer t.Stop()
		var peak float64
		for {
			_, rss := rssMB()
			peak = max(peak, rss)
			select {
			case <-t.C:
			case <-s.quit:
				s.done <- peak
				return
			}
		}
	}()
	return s
}

// stop ends the sampling and returns the largest VmRSS seen, in MB.
func (s *rssSampler) stop() float64 {
	close(s.quit)
	return <-s.done
}
