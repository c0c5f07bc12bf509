package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"golang.org/x/oauth2"

	"github.com/lassoteam/lasso/cdf"
	"github.com/lassoteam/lasso/cdf/cdflocal"
	"github.com/lassoteam/lasso/internal/pgtest"
	"github.com/lassoteam/lasso/rooms"
	"github.com/lassoteam/lasso/segment"
	"github.com/lassoteam/lasso/store"
)

// appChildEnv makes the test binary run the app (main, with the arguments it was started
// with) instead of the tests: TestTwoHundredAcceptedUnderFaults and the replica tests start
// the app so, as a process of their own that they can stop with SIGTERM or kill outright.
const appChildEnv = "LASSO_TEST_APP"

func TestMain(m *testing.M) {
	if os.Getenv(appChildEnv) != "" {
		main()
		os.Exit(0)
	}
	pgtest.Main(m) // runs the tests, then stops the replica tests' PostgreSQL
}

// writerArgs are the flags that fit the annotation writer to a fault-injection run: calls cut
// short after timeout, failed writes tried again within 400 ms, and, when lease is not 0, the
// replicas' claims on writes and jobs lasting lease.
func writerArgs(timeout, lease time.Duration) []string {
	args := []string{"-write-timeout", timeout.String(), "-write-backoff-max", "400ms"}
	if lease > 0 {
		args = append(args, "-write-lease", lease.String(), "-job-lease", lease.String())
	}
	return args
}

// ringAt is the outline the test's segmenter gives a click at (x, y): a regular polygon
// around it whose vertex count and size depend on where it is, so that every object has an
// outline of its own to be found again in CDF.
func ringAt(x, y float64) []cdf.Vertex {
	n := 3 + int(math.Round(x*1000))%45
	r := 0.01 + 0.04*y
	out := make([]cdf.Vertex, n)
	for i := range out {
		a := 2 * math.Pi * float64(i) / float64(n)
		out[i] = cdf.Vertex{X: x + r*math.Cos(a), Y: y + r*math.Sin(a)}
	}
	return out
}

// ringEngine is the stand-in's segmenter for the test: instant, and ringAt of the first point.
type ringEngine struct{}

func (ringEngine) Segment(_ context.Context, _ segment.Source, p segment.Prompt) ([]segment.Segment, error) {
	if len(p.Points) == 0 {
		return nil, segment.ErrInvalidPrompt
	}
	var poly segment.Polygon
	for _, v := range ringAt(p.Points[0].X, p.Points[0].Y) {
		poly = append(poly, segment.Vertex{X: v.X, Y: v.Y})
	}
	return []segment.Segment{{Score: 0.9, Polygons: []segment.Polygon{poly}}}, nil
}

// annotationFaults fails the stand-in's annotation creates and lists at rate, with a mix of
// throttling, errors before and after the write, answers that come too late (with and
// without the write) and dropped connections, and counts what it did.
type annotationFaults struct {
	rate  float64
	delay time.Duration // longer than the writer's call timeout

	mu       sync.Mutex
	rng      *rand.Rand
	requests map[string]int // by op
	injected map[string]int // by fault
	// armed makes the next create land and then hang; held is told when that happened.
	armed bool
	off   bool
	held  chan struct{}
}

func newAnnotationFaults(rate float64, delay time.Duration, seed uint64) *annotationFaults {
	return &annotationFaults{rate: rate, delay: delay, rng: rand.New(rand.NewPCG(seed, seed+1)),
		requests: map[string]int{}, injected: map[string]int{}, held: make(chan struct{}, 1)}
}

func (a *annotationFaults) fault(r *http.Request) *cdflocal.Fault {
	if r.Method != http.MethodPost {
		return nil
	}
	_, rest, ok := strings.Cut(r.URL.Path, "/annotations")
	if !ok || (rest != "" && rest != "/suggest" && rest != "/list") {
		return nil
	}
	op := "create"
	if rest == "/list" {
		op = "list"
	}
	kinds := []struct {
		name string
		f    cdflocal.Fault
	}{
		{"429", cdflocal.Fault{Status: http.StatusTooManyRequests}},
		{"500", cdflocal.Fault{Status: http.StatusInternalServerError}},
		{"502 after the write", cdflocal.Fault{Status: http.StatusBadGateway, AfterWrite: true}},
		// The write never lands: the client gives up during the delay, and the stand-in does
		// not serve a request whose client has left.
		{"timeout", cdflocal.Fault{Delay: a.delay}},
		{"timeout after the write", cdflocal.Fault{Delay: a.delay, AfterWrite: true}},
		{"dropped", cdflocal.Fault{Drop: true}},
		{"dropped after the write", cdflocal.Fault{Drop: true, AfterWrite: true}},
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.off {
		return nil
	}
	a.requests[op]++
	if a.armed && op == "create" {
		a.armed = false
		a.injected["timeout after the write"]++
		select {
		case a.held <- struct{}{}:
		default:
		}
		return &cdflocal.Fault{Delay: a.delay, AfterWrite: true}
	}
	if a.rng.Float64() >= a.rate {
		return nil
	}
	k := kinds[a.rng.IntN(len(kinds))]
	a.injected[k.name]++
	return &k.f
}

// stop ends the faults.
func (a *annotationFaults) stop() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.off = true
}

// arm makes the next create land in CDF and then hang, and returns a channel that is told
// when it does.
func (a *annotationFaults) arm() <-chan struct{} {
	a.mu.Lock()
	defer a.mu.Unlock()
	select {
	case <-a.held:
	default:
	}
	a.armed = true
	return a.held
}

func (a *annotationFaults) summary() (string, int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	total := 0
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(a.injected)) {
		total += a.injected[k]
		parts = append(parts, fmt.Sprintf("%s: %d", k, a.injected[k]))
	}
	return fmt.Sprintf("%d faults in %d creates and %d lists (%s)", total, a.requests["create"], a.requests["list"], strings.Join(parts, ", ")), total
}

// appProcess is the app, run as a child process of the test.
type appProcess struct {
	cmd    *exec.Cmd
	logs   *syncBuffer
	exited chan struct{} // closed when the process has ended; err is then its exit
	err    error
}

func startAppProcess(t *testing.T, addr, dataDir string, env map[string]string, args ...string) *appProcess {
	t.Helper()
	cmd := exec.Command(os.Args[0], append([]string{"-addr", addr, "-data", dataDir}, args...)...)
	cmd.Env = append(os.Environ(), appChildEnv+"=1")
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	p := &appProcess{cmd: cmd, logs: &syncBuffer{}, exited: make(chan struct{})}
	cmd.Stderr = p.logs
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		io.Copy(io.Discard, out) //nolint:errcheck // drained until the process ends
		p.err = cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() { p.kill() })
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return p
		}
		if time.Now().After(deadline) {
			t.Fatalf("the app did not start; log:\n%s", p.logs)
		}
		select {
		case <-p.exited:
			t.Fatalf("the app exited: %v; log:\n%s", p.err, p.logs)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// stop ends the app as an operator does (SIGTERM) and waits for it.
func (p *appProcess) stop(t *testing.T) {
	t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
		if p.err != nil {
			t.Fatalf("the app did not stop cleanly: %v; log:\n%s", p.err, p.logs)
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("the app did not stop within 15 s; log:\n%s", p.logs)
	}
}

// kill ends the app at once (SIGKILL), as a crash or an out-of-memory kill would.
func (p *appProcess) kill() {
	select {
	case <-p.exited:
		return
	default:
	}
	_ = p.cmd.Process.Kill()
	<-p.exited
}

// roomWatch follows a room's socket and records which objects' jobs are done.
type roomWatch struct {
	mu   sync.Mutex
	done map[string]bool
}

func (w *roomWatch) follow(t *testing.T, base string, jar http.CookieJar, roomID string) (stop func()) {
	t.Helper()
	u, _ := url.Parse(base)
	dialer := websocket.Dialer{Jar: jar}
	conn, _, err := dialer.Dial(fmt.Sprintf("ws://%s/ws?room=room:%s", u.Host, roomID), http.Header{"Origin": {base}})
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			_, msg, err := conn.ReadMessage()
			if err != nil {
				return
			}
			var m struct {
				Type string
				Data struct {
					ObjectID string `json:"objectId"`
					Version  int    `json:"version"`
					Status   string `json:"status"`
				}
			}
			if json.Unmarshal(msg, &m) == nil && m.Type == "object.updated" && m.Data.Status == "done" {
				w.mu.Lock()
				w.done[m.Data.ObjectID] = true
				w.mu.Unlock()
			}
		}
	}()
	return func() { conn.Close() }
}

func (w *roomWatch) wait(t *testing.T, ids []string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		w.mu.Lock()
		left := slices.DeleteFunc(slices.Clone(ids), func(id string) bool { return w.done[id] })
		w.mu.Unlock()
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("jobs of %v not done after 20 s", left)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestTwoHundredAcceptedUnderFaults is the fault-injection test, through the real app:
// with the CDF stand-in failing about 30 % of the annotation creates and lists (429, 500, 502
// after the write, answers too late with and without the write, dropped connections), and
// the app stopped once cleanly and once killed outright, each time while a create that has
// landed in CDF is still waiting for its answer, 200 accepted objects end up as exactly 200
// annotations in CDF, each the object that was accepted, and the app's outbox is empty.
func TestTwoHundredAcceptedUnderFaults(t *testing.T) {
	const (
		objects      = 200
		batch        = 10
		writeTimeout = 300 * time.Millisecond
	)
	began := time.Now()

	op := startProvider(t, nil)

	// The stand-in outlives the app's restarts, with its own listener and data folder.
	faults := newAnnotationFaults(0.3, 3*writeTimeout, 20260601)
	standIn, err := cdflocal.New(cdflocal.Config{ImagesDir: "../../static/samples", Project: "acme", Engine: ringEngine{},
		DataDir: t.TempDir(), Faults: faults.fault})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { standIn.Close() })
	cdfServer := httptest.NewServer(standIn)
	t.Cleanup(cdfServer.Close)

	addr, base, env := cdfModeEnv(t, op, cdfServer.URL)
	dataDir := t.TempDir()
	app := startAppProcess(t, addr, dataDir, env, writerArgs(writeTimeout, 0)...)

	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar, Timeout: 20 * time.Second}
	res, err := browser.Get(base + "/rooms") // through the provider and back, signed in
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(res.Body)
	res.Body.Close()
	csrf := regexp.MustCompile(`name="csrf-token" content="([^"]+)"`).FindSubmatch(page)
	if res.StatusCode != http.StatusOK || csrf == nil {
		t.Fatalf("rooms page: %d, CSRF token %q", res.StatusCode, csrf)
	}
	res, err = browser.PostForm(base+"/rooms", url.Values{"name": {"Faults"}, "source": {"filter"}, "_csrf": {string(csrf[1])}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	roomID, ok := strings.CutPrefix(res.Request.URL.Path, "/rooms/")
	if res.StatusCode != http.StatusOK || !ok {
		t.Fatalf("create room: %d at %s", res.StatusCode, res.Request.URL)
	}
	var files []int64
	for _, f := range standIn.Files() {
		if strings.HasSuffix(f.Name, ".jpg") || strings.HasSuffix(f.Name, ".png") {
			files = append(files, f.ID)
		}
	}
	post := func(path string, body any, want ...int) {
		t.Helper()
		b, _ := json.Marshal(body)
		req, _ := http.NewRequest(http.MethodPost, base+path, strings.NewReader(string(b)))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-CSRF-Token", string(csrf[1]))
		res, err := browser.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		msg, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if !slices.Contains(want, res.StatusCode) {
			t.Fatalf("POST %s: %d %s", path, res.StatusCode, msg)
		}
	}

	type object struct {
		id, label string
		file      int64
		x, y      float64
	}
	var objs []object
	for i := range objects {
		objs = append(objs, object{id: fmt.Sprintf("o%03d", i), label: fmt.Sprintf("thing %03d", i), file: files[i%len(files)],
			x: 0.1 + 0.8*float64(i*37%200)/200, y: 0.1 + 0.8*float64(i*53%199)/199})
	}
	watch := &roomWatch{done: map[string]bool{}}
	unwatch := watch.follow(t, base, jar, roomID)
	var lastAccept time.Time
	restarts := map[int]string{100: "stop", 150: "kill"}
	for start := 0; start < objects; start += batch {
		group := objs[start:min(start+batch, objects)]
		var ids []string
		for _, o := range group {
			post(fmt.Sprintf("/api/rooms/%s/images/%d/objects/%s/prompt", roomID, o.file, o.id), map[string]any{
				"version": 1, "label": o.label, "points": []map[string]any{{"x": o.x, "y": o.y, "label": 1}},
			}, http.StatusAccepted)
			ids = append(ids, o.id)
		}
		watch.wait(t, ids)
		end := start + len(group)
		how, restart := restarts[end]
		var held <-chan struct{}
		if restart {
			held = faults.arm() // one of this batch's creates will land and hang
		}
		for _, o := range group {
			post(fmt.Sprintf("/api/rooms/%s/images/%d/objects/%s", roomID, o.file, o.id), map[string]any{"accepted": true}, http.StatusOK)
		}
		lastAccept = time.Now()
		if !restart {
			continue
		}
		select {
		case <-held:
		case <-time.After(10 * time.Second):
			t.Fatal("no create reached the stand-in within 10 s")
		}
		time.Sleep(writeTimeout / 4) // the create has landed; its answer is still held back
		unwatch()
		if how == "stop" {
			app.stop(t)
		} else {
			app.kill()
		}
		t.Logf("%s after %d accepted objects, while a landed create waited for its answer (%.1f s in)", how, end, time.Since(began).Seconds())
		app = startAppProcess(t, addr, dataDir, env, writerArgs(writeTimeout, 0)...)
		unwatch = watch.follow(t, base, jar, roomID)
	}
	defer unwatch()

	// Drained: every object has an annotation in CDF and the outbox owes nothing.
	st, err := store.OpenSQLite(context.Background(), filepath.Join(dataDir, "lasso.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	drainDeadline := time.Now().Add(30 * time.Second)
	for {
		labels := map[string]bool{}
		for _, a := range standIn.Annotations() {
			var d struct{ Label string }
			_ = json.Unmarshal(a.Data, &d)
			labels[d.Label] = true
		}
		due, err := st.Outbox().Due(context.Background(), time.Now().Add(24*time.Hour), 1000)
		if err != nil {
			t.Fatal(err)
		}
		if len(labels) >= objects && len(due) == 0 {
			break
		}
		if time.Now().After(drainDeadline) {
			t.Fatalf("not drained 30 s after the last accept: %d objects in CDF, %d writes pending; app log:\n%s", len(labels), len(due), app.logs)
		}
		time.Sleep(50 * time.Millisecond)
	}
	drain := time.Since(lastAccept)
	summary, injected := faults.summary()
	t.Logf("%s", summary)
	t.Logf("drained %.1f s after the last accept; %.1f s in all", drain.Seconds(), time.Since(began).Seconds())
	if injected < 30 {
		t.Errorf("only %d faults were injected", injected)
	}

	// What CDF holds, read as a client does.
	client := cdf.New(cdfServer.URL, "acme", oauth2.NewClient(context.Background(), oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "any"})))
	var ids []cdf.Identifier
	for _, f := range files {
		ids = append(ids, cdf.ID(f))
	}
	faults.stop()
	var listed []cdf.Annotation
	cursor := ""
	for {
		page, err := client.Annotations.List(context.Background(), cdf.AnnotationFilter{AnnotatedResourceType: cdf.ResourceFile, AnnotatedResourceIDs: ids},
			cdf.ListOptions{Limit: 1000, Cursor: cursor})
		if err != nil {
			t.Fatal(err)
		}
		listed = append(listed, page.Items...)
		if cursor = page.NextCursor; cursor == "" {
			break
		}
	}
	if len(listed) != objects {
		t.Errorf("%d annotations in CDF for %d accepted objects", len(listed), objects)
	}
	byLabel := map[string][]cdf.Annotation{}
	for _, a := range listed {
		d, err := a.ObjectDetection()
		if err != nil {
			t.Fatal(err)
		}
		byLabel[d.Label] = append(byLabel[d.Label], a)
	}
	for _, o := range objs {
		got := byLabel[o.label]
		if len(got) != 1 {
			t.Errorf("%s (%s) has %d annotations, want 1", o.id, o.label, len(got))
			for _, a := range got {
				t.Logf("  annotation %d created at %s", a.ID, time.UnixMilli(a.CreatedTime).Format("15:04:05.000"))
			}
			writes, _ := st.Outbox().ForObject(context.Background(), roomID, o.file, o.id)
			for _, w := range writes {
				t.Logf("  write %d: %s after %d failed attempts, annotations %v, last error %q, updated at %s",
					w.ID, w.State, w.Attempts, w.AnnotationIDs, w.LastError, w.UpdatedAt.Format("15:04:05.000"))
			}
			continue
		}
		a := got[0]
		d, _ := a.ObjectDetection()
		if a.AnnotatedResourceID != o.file || a.CreatingApp != rooms.AppName || a.Status != cdf.AnnotationSuggested ||
			d.Polygon == nil || !slices.Equal(d.Polygon.Vertices, ringAt(o.x, o.y)) || d.Confidence == nil || *d.Confidence != 0.9 {
			t.Errorf("%s: annotation %+v with data %s, want file %d and the polygon accepted", o.id, a, a.Data, o.file)
		}
		writes, err := st.Outbox().ForObject(context.Background(), roomID, o.file, o.id)
		if err != nil {
			t.Fatal(err)
		}
		if len(writes) != 1 || writes[0].State != store.WriteDone || !slices.Equal(writes[0].AnnotationIDs, []int64{a.ID}) {
			t.Errorf("%s: outbox %+v, want one done write of annotation %d", o.id, writes, a.ID)
		}
	}
	app.stop(t)
}
