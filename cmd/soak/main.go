// Command soak runs Lasso under abuse for a bounded time and reports whether anything was
// lost. It starts the real app (cmd/web, built unless -bin is given) in local mode on a
// loopback port with the stand-in's faults on (-standin-faults: 429 storms, 5xx, slow and
// dropped answers, failed job starts, expired tokens), signs in simulated members in rooms
// who prompt, accept, delete and review over HTTP and follow their room's socket, restarts the
// server twice in the middle (SIGTERM, then SIGKILL), and stops by itself:
//
//	go run ./cmd/soak -duration 15m -members 50 -rooms 5
//
// The report: objects accepted (and not deleted) against the annotations in the stand-in
// (they must match, none written twice, none left for deleted objects), stuck jobs (must be
// 0), the server's RSS and goroutines at start, middle and end, and the p50/p99 latency of the
// events members' commands cause, as seen by every member.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gorilla/websocket"

	"github.com/lassoteam/lasso/cdf"
	"github.com/lassoteam/lasso/cdf/cdflocal"
	"github.com/lassoteam/lasso/store"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(1)
	}
	if !rep.OK() {
		os.Exit(2)
	}
}

// options are the soak's flags.
type options struct {
	duration      time.Duration
	members       int
	rooms         int
	faults        float64
	think         time.Duration
	bin           string
	restarts      bool
	drainTimeout  time.Duration
	keepData      bool
	jsonReport    string
	seed          uint64
	serverLogPath string
	profiles      string
}

func parse(args []string, stderr io.Writer) (options, error) {
	var o options
	fl := flag.NewFlagSet("soak", flag.ContinueOnError)
	fl.SetOutput(stderr)
	fl.DurationVar(&o.duration, "duration", 15*time.Minute, "how long members work (the run then drains and stops); 30s to 2h")
	fl.IntVar(&o.members, "members", 50, "simulated members in all (1..500), spread over the rooms; each room's first is its owner, who also reviews")
	fl.IntVar(&o.rooms, "rooms", 5, "rooms (1..50)")
	fl.Float64Var(&o.faults, "faults", 0.05, "share (0..1) of the stand-in's API requests that fail (the app's -standin-faults)")
	fl.DurationVar(&o.think, "think", 4*time.Second, "a member's mean pause between commands")
	fl.StringVar(&o.bin, "bin", "", "the Lasso binary to run (default: go build ./cmd/web into a temporary folder)")
	fl.BoolVar(&o.restarts, "restarts", true, "restart the server at a third (SIGTERM) and two thirds (SIGKILL) of the run")
	fl.DurationVar(&o.drainTimeout, "drain", 2*time.Minute, "how long to wait after the members stop for every accepted object to be in the stand-in")
	fl.BoolVar(&o.keepData, "keep", false, "keep the data folder (its path is printed)")
	fl.StringVar(&o.jsonReport, "json", "", "also write the report as JSON to this file")
	fl.Uint64Var(&o.seed, "seed", 1, "seed of the members' choices")
	fl.StringVar(&o.profiles, "profiles", "", "save the server's heap profile at each sample to this folder (heap-<at>.pb.gz; read with go tool pprof)")
	if err := fl.Parse(args); err != nil {
		return o, err
	}
	switch {
	case fl.NArg() > 0:
		return o, fmt.Errorf("unexpected arguments %v", fl.Args())
	case o.duration < 20*time.Second || o.duration > 2*time.Hour:
		return o, fmt.Errorf("-duration %v: give 20s to 2h", o.duration)
	case o.members < 1 || o.members > 500:
		return o, fmt.Errorf("-members %d: give 1 to 500", o.members)
	case o.rooms < 1 || o.rooms > 50 || o.rooms > o.members:
		return o, fmt.Errorf("-rooms %d: give 1 to 50, and no more than -members", o.rooms)
	case o.faults < 0 || o.faults > 1:
		return o, fmt.Errorf("-faults %g: give a share between 0 and 1", o.faults)
	case o.think < 100*time.Millisecond:
		return o, fmt.Errorf("-think %v: give at least 100ms", o.think)
	}
	return o, nil
}

// Sample is the server's memory and goroutines at one moment.
type Sample struct {
	At         string  `json:"at"`
	RSSMB      float64 `json:"rssMB"`
	HeapMB     float64 `json:"heapMB"` // Go heap in use (go_memstats_heap_inuse_bytes), garbage included
	LiveMB     float64 `json:"liveMB"` // the heap the last GC found live (go_gc_heap_live_bytes)
	Goroutines int     `json:"goroutines"`
}

// Report is what a soak run found.
type Report struct {
	Duration     string   `json:"duration"`
	Members      int      `json:"members"`
	Rooms        int      `json:"rooms"`
	Faults       float64  `json:"faults"`
	Restarts     []string `json:"restarts"`
	Prompts      int      `json:"prompts"`
	JobsDone     int      `json:"jobsDone"`
	JobsFailed   int      `json:"jobsFailed"`
	Accepted     int      `json:"accepted"` // accepted and not deleted at the end
	Deleted      int      `json:"deleted"`  // accepted, then deleted
	Reviewed     int      `json:"reviewed"`
	CommandRetry int      `json:"commandRetries"` // HTTP commands sent again (restart, 5xx, refused)
	// In the stand-in: objects with annotations, and problems.
	Annotated     int      `json:"annotatedObjects"`
	Annotations   int      `json:"annotations"`
	Missing       []string `json:"missing"`       // accepted, no annotation
	Twice         []string `json:"twice"`         // an outline written more than once
	Leftover      []string `json:"leftover"`      // deleted or never accepted, yet annotated
	StuckJobs     []string `json:"stuckJobs"`     // queued or running at the end
	LostCommands  []string `json:"lostCommands"`  // accepted by a member, not by the server
	OutboxPending int      `json:"outboxPending"` // writes still waiting at the end
	Samples       []Sample `json:"samples"`
	EventP50ms    float64  `json:"eventP50ms"`
	EventP99ms    float64  `json:"eventP99ms"`
	EventSamples  int      `json:"eventSamples"`
	DoneP50ms     float64  `json:"promptToDoneP50ms"`
	DoneP99ms     float64  `json:"promptToDoneP99ms"`
	Drained       string   `json:"drainedAfter"`
}

// OK reports whether nothing was lost, duplicated or stuck.
func (r *Report) OK() bool {
	return len(r.Missing) == 0 && len(r.Twice) == 0 && len(r.Leftover) == 0 && len(r.StuckJobs) == 0 && r.OutboxPending == 0 &&
		len(r.LostCommands) == 0
}

func (r *Report) write(w io.Writer) {
	fmt.Fprintf(w, "soak: %s, %d members in %d rooms, stand-in faults %.0f %%, restarts: %s\n", r.Duration, r.Members, r.Rooms, 100*r.Faults, strings.Join(r.Restarts, ", "))
	fmt.Fprintf(w, "commands: %d prompts (jobs %d done, %d failed), %d accepted and kept, %d deleted after accepting, %d reviewed, %d commands sent again\n",
		r.Prompts, r.JobsDone, r.JobsFailed, r.Accepted, r.Deleted, r.Reviewed, r.CommandRetry)
	fmt.Fprintf(w, "stand-in: %d objects annotated (%d annotations) for %d accepted; missing %d, written twice %d, left over %d; drained %s after the members stopped\n",
		r.Annotated, r.Annotations, r.Accepted, len(r.Missing), len(r.Twice), len(r.Leftover), r.Drained)
	fmt.Fprintf(w, "stuck jobs: %d; outbox pending: %d\n", len(r.StuckJobs), r.OutboxPending)
	for _, s := range r.Samples {
		fmt.Fprintf(w, "server at %-6s RSS %6.1f MB, Go heap in use %6.1f MB (live %6.1f MB), %4d goroutines\n", s.At, s.RSSMB, s.HeapMB, s.LiveMB, s.Goroutines)
	}
	fmt.Fprintf(w, "event latency (command sent → event at each member): p50 %.1f ms, p99 %.1f ms over %d deliveries\n", r.EventP50ms, r.EventP99ms, r.EventSamples)
	fmt.Fprintf(w, "prompt → job done at its author: p50 %.0f ms, p99 %.0f ms\n", r.DoneP50ms, r.DoneP99ms)
	fmt.Fprintf(w, "accepts the server lost: %d\n", len(r.LostCommands))
	for name, list := range map[string][]string{"missing": r.Missing, "twice": r.Twice, "left over": r.Leftover, "stuck": r.StuckJobs, "lost": r.LostCommands} {
		if len(list) > 0 {
			fmt.Fprintf(w, "%s: %s\n", name, strings.Join(list[:min(len(list), 20)], ", "))
		}
	}
	if r.OK() {
		fmt.Fprintln(w, "soak: OK — nothing lost, nothing written twice, nothing stuck")
	} else {
		fmt.Fprintln(w, "soak: FAILED")
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) (*Report, error) {
	o, err := parse(args, stderr)
	if err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp("", "lasso-soak-")
	if err != nil {
		return nil, err
	}
	if o.keepData {
		fmt.Fprintf(stdout, "soak: data in %s\n", tmp)
	} else {
		defer os.RemoveAll(tmp)
	}
	if o.bin == "" {
		o.bin = filepath.Join(tmp, "lasso")
		build := exec.CommandContext(ctx, "go", "build", "-o", o.bin, "github.com/lassoteam/lasso/cmd/web")
		build.Stdout, build.Stderr = stderr, stderr
		if err := build.Run(); err != nil {
			return nil, fmt.Errorf("build the app: %w", err)
		}
	}
	addr, err := freeLoopbackAddr()
	if err != nil {
		return nil, err
	}
	srv := &server{bin: o.bin, addr: addr, data: filepath.Join(tmp, "data"), faults: o.faults, logPath: filepath.Join(tmp, "server.log")}
	if o.profiles != "" {
		if err := os.MkdirAll(o.profiles, 0o755); err != nil {
			return nil, err
		}
		if srv.pprofAddr, err = freeLoopbackAddr(); err != nil {
			return nil, err
		}
		srv.profiles = o.profiles
	}
	if err := srv.start(ctx); err != nil {
		return nil, err
	}
	defer srv.kill()
	s := newSoak(o, srv)
	return s.run(ctx, stdout)
}

// freeLoopbackAddr picks a free port on 127.0.0.1: soak only ever loads its own server.
func freeLoopbackAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// server is the app under test, a process of its own so it can be killed outright.
type server struct {
	bin, addr, data, logPath string
	faults                   float64
	// pprofAddr and profiles, when set: the server serves profiles there, and each sample
	// saves its heap profile into the profiles folder.
	pprofAddr, profiles string

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
	log    *os.File
}

func (s *server) base() string { return "http://" + s.addr }

func (s *server) start(ctx context.Context) error {
	if s.log == nil {
		f, err := os.Create(s.logPath)
		if err != nil {
			return err
		}
		s.log = f
	}
	cmd := exec.Command(s.bin, "-addr", s.addr, "-data", s.data, "-standin-faults", strconv.FormatFloat(s.faults, 'g', -1, 64),
		"-queue-delay", "100ms", "-run-delay", "200ms", "-log-format", "json")
	if s.pprofAddr != "" {
		cmd.Args = append(cmd.Args, "-pprof-addr", s.pprofAddr)
	}
	cmd.Stdout, cmd.Stderr = s.log, s.log
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", s.bin, err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	s.mu.Lock()
	s.cmd, s.exited = cmd, exited
	s.mu.Unlock()
	deadline := time.Now().Add(60 * time.Second)
	for {
		res, err := http.Get(s.base() + "/healthz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-exited:
			return fmt.Errorf("the app exited at start; see %s", s.logPath)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the app did not answer /healthz within 60 s; see %s", s.logPath)
		}
	}
}

func (s *server) pid() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cmd.Process.Pid
}

// stop ends the server with sig and waits for it.
func (s *server) stop(sig os.Signal) error {
	s.mu.Lock()
	cmd, exited := s.cmd, s.exited
	s.mu.Unlock()
	if cmd == nil {
		return nil
	}
	_ = cmd.Process.Signal(sig)
	select {
	case <-exited:
		return nil
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		<-exited
		return fmt.Errorf("the app did not stop within 30 s of %v", sig)
	}
}

func (s *server) kill() { _ = s.stop(syscall.SIGKILL) }

// sample reads the server's RSS from /proc and its goroutines from /metrics.
func (s *server) sample(at string) Sample {
	out := Sample{At: at}
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.pid())); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
				kb, _ := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 64)
				out.RSSMB = kb / 1024
			}
		}
	}
	out.Goroutines = int(s.metric("go_goroutines"))
	out.HeapMB = s.metric("go_memstats_heap_inuse_bytes") / (1 << 20)
	out.LiveMB = s.metric("go_gc_heap_live_bytes") / (1 << 20)
	if s.profiles != "" {
		if err := s.saveHeap(filepath.Join(s.profiles, "heap-"+at+".pb.gz")); err != nil {
			fmt.Fprintf(os.Stderr, "soak: heap profile at %s: %v\n", at, err)
		}
	}
	return out
}

// saveHeap writes the server's heap profile to path.
func (s *server) saveHeap(path string) error {
	res, err := http.Get("http://" + s.pprofAddr + "/debug/pprof/heap")
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("%s", res.Status)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, res.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// metric reads one unlabelled value from /metrics (-1 when absent).
func (s *server) metric(name string) float64 {
	res, err := http.Get(s.base() + "/metrics")
	if err != nil {
		return -1
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err == nil {
				return f
			}
		}
	}
	return -1
}

// client is one simulated browser: its own cookie jar, hence its own login session.
type client struct {
	base string
	hc   *http.Client
	csrf string
}

var csrfField = regexp.MustCompile(`name="_csrf" value="([^"]+)"`)

func signIn(base, name string) (*client, error) {
	jar, _ := cookiejar.New(nil)
	c := &client{base: base, hc: &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	token := func(path string) error {
		res, err := c.hc.Get(base + path)
		if err != nil {
			return err
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		m := csrfField.FindSubmatch(body)
		if m == nil {
			return fmt.Errorf("no CSRF token on %s (status %d)", path, res.StatusCode)
		}
		c.csrf = string(m[1])
		return nil
	}
	if err := token("/signin"); err != nil {
		return nil, err
	}
	res, err := c.hc.PostForm(base+"/signin", url.Values{"name": {name}, "_csrf": {c.csrf}})
	if err != nil {
		return nil, err
	}
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther {
		return nil, fmt.Errorf("sign in %s: status %d", name, res.StatusCode)
	}
	// The token is bound to the session: the signed-in page has the new one.
	return c, token("/")
}

// post sends a command; it returns the status and body.
func (c *client) post(path, contentType, body string) (int, []byte, error) {
	req, _ := http.NewRequest(http.MethodPost, c.base+path, strings.NewReader(body))
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("X-CSRF-Token", c.csrf)
	res, err := c.hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, b, nil
}

// object is what the soak knows of one object it made.
type object struct {
	room, id, label string
	file            int64
	version         int
	accepted        bool
	deleted         bool
	reviewed        bool
}

// event is an object.updated message, as far as the soak reads it.
type event struct {
	ObjectID  string     `json:"objectId"`
	Version   int        `json:"version"`
	Status    string     `json:"status"`
	Accepted  bool       `json:"accepted"`
	Review    string     `json:"review"`
	DeletedAt *time.Time `json:"deletedAt"`
	AuthorID  string     `json:"authorId"`
}

type soak struct {
	o   options
	srv *server
	rng *rand.Rand

	mu       sync.Mutex
	objects  map[string]*object // by id
	sent     map[string]time.Time
	eventLat []float64
	doneLat  []float64
	rep      Report
}

func newSoak(o options, srv *server) *soak {
	return &soak{o: o, srv: srv, rng: rand.New(rand.NewPCG(o.seed, o.seed+7)), objects: map[string]*object{}, sent: map[string]time.Time{}}
}

// room is one room of the soak and its members.
type room struct {
	id    string
	files []int64
	owner *member
}

func (s *soak) run(ctx context.Context, stdout io.Writer) (*Report, error) {
	began := time.Now()
	base := s.srv.base()
	s.rep = Report{Duration: s.o.duration.String(), Members: s.o.members, Rooms: s.o.rooms, Faults: s.o.faults}
	// Sign-ins and rooms go through the faults too: retried until they work.
	var rooms []*room
	var members []*member
	for r := range s.o.rooms {
		var owner *client
		if err := retry(ctx, 20, func() (err error) { owner, err = signIn(base, fmt.Sprintf("Owner %d", r)); return err }); err != nil {
			return nil, fmt.Errorf("owner %d: %w", r, err)
		}
		var id string
		err := retry(ctx, 20, func() error {
			res, err := owner.hc.PostForm(base+"/rooms", url.Values{"name": {fmt.Sprintf("Soak %d", r)}, "source": {"filter"}, "_csrf": {owner.csrf}})
			if err != nil {
				return err
			}
			res.Body.Close()
			id = strings.TrimPrefix(res.Header.Get("Location"), "/rooms/")
			if res.StatusCode != http.StatusSeeOther || id == "" {
				return fmt.Errorf("create room: status %d", res.StatusCode)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		rm := &room{id: id}
		err = retry(ctx, 20, func() error {
			res, err := owner.hc.Get(base + "/api/rooms/" + id + "/state")
			if err != nil {
				return err
			}
			defer res.Body.Close()
			var st struct {
				Images []struct {
					FileID int64 `json:"fileId"`
				} `json:"images"`
			}
			if err := json.NewDecoder(res.Body).Decode(&st); err != nil || len(st.Images) == 0 {
				return fmt.Errorf("room state: status %d, %d images (%v)", res.StatusCode, len(st.Images), err)
			}
			for _, im := range st.Images {
				rm.files = append(rm.files, im.FileID)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		rm.owner = &member{s: s, c: owner, room: rm, name: fmt.Sprintf("Owner %d", r), n: len(members), owner: true}
		rooms = append(rooms, rm)
		members = append(members, rm.owner)
	}
	for i := len(members); i < s.o.members; i++ {
		rm := rooms[i%len(rooms)]
		name := fmt.Sprintf("Member %d", i)
		var c *client
		if err := retry(ctx, 20, func() (err error) { c, err = signIn(base, name); return err }); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		err := retry(ctx, 20, func() error {
			st, _, err := c.post("/rooms/"+rm.id+"/join", "application/x-www-form-urlencoded", url.Values{"_csrf": {c.csrf}}.Encode())
			if err == nil && st != http.StatusSeeOther {
				err = fmt.Errorf("join: status %d", st)
			}
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		members = append(members, &member{s: s, c: c, room: rm, name: name, n: i})
	}

	work, stopWork := context.WithTimeout(ctx, s.o.duration)
	defer stopWork()
	var wg sync.WaitGroup
	for _, m := range members {
		m.rng = rand.New(rand.NewPCG(s.o.seed, uint64(m.n)+1))
		m.waiters = map[string]chan event{}
		wg.Go(func() { m.follow(work) })
		wg.Go(func() { m.work(work) })
	}
	time.Sleep(min(10*time.Second, s.o.duration/10))
	s.rep.Samples = append(s.rep.Samples, s.srv.sample("start"))

	// Restarts at a third (graceful) and two thirds (killed); the middle sample in between.
	if s.o.restarts {
		for k, how := range []string{"SIGTERM", "SIGKILL"} {
			at := began.Add(s.o.duration * time.Duration(k+1) / 3)
			if k == 1 {
				s.sleepUntil(work, began.Add(s.o.duration/2))
				s.rep.Samples = append(s.rep.Samples, s.srv.sample("middle"))
			}
			if !s.sleepUntil(work, at) {
				break
			}
			sig := os.Signal(syscall.SIGTERM)
			if how == "SIGKILL" {
				sig = syscall.SIGKILL
			}
			if err := s.srv.stop(sig); err != nil {
				return nil, err
			}
			if err := s.srv.start(ctx); err != nil {
				return nil, fmt.Errorf("restart after %s: %w", how, err)
			}
			s.rep.Restarts = append(s.rep.Restarts, fmt.Sprintf("%s at %s", how, time.Since(began).Round(time.Second)))
		}
	} else {
		s.sleepUntil(work, began.Add(s.o.duration/2))
		s.rep.Samples = append(s.rep.Samples, s.srv.sample("middle"))
	}
	// The end sample while the members still work, as the others were taken.
	if s.sleepUntil(work, began.Add(s.o.duration-min(5*time.Second, s.o.duration/10))) {
		s.rep.Samples = append(s.rep.Samples, s.srv.sample("end"))
	}
	<-work.Done()
	wg.Wait()
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	if len(s.rep.Samples) < 3 {
		s.rep.Samples = append(s.rep.Samples, s.srv.sample("end"))
	}

	if err := s.check(ctx, rooms); err != nil {
		return nil, err
	}
	if err := s.srv.stop(syscall.SIGTERM); err != nil {
		return nil, err
	}
	s.mu.Lock()
	slices.Sort(s.eventLat)
	slices.Sort(s.doneLat)
	s.rep.EventSamples = len(s.eventLat)
	s.rep.EventP50ms, s.rep.EventP99ms = pct(s.eventLat, 0.5), pct(s.eventLat, 0.99)
	s.rep.DoneP50ms, s.rep.DoneP99ms = pct(s.doneLat, 0.5), pct(s.doneLat, 0.99)
	s.mu.Unlock()
	s.rep.write(stdout)
	if s.o.jsonReport != "" {
		b, _ := json.MarshalIndent(&s.rep, "", "  ")
		if err := os.WriteFile(s.o.jsonReport, b, 0o644); err != nil {
			return &s.rep, err
		}
	}
	return &s.rep, nil
}

// sleepUntil waits until t or the end of ctx; false when ctx ended first.
func (s *soak) sleepUntil(ctx context.Context, t time.Time) bool {
	select {
	case <-ctx.Done():
		return false
	case <-time.After(time.Until(t)):
		return true
	}
}

// check waits for the outbox to drain, then compares what members accepted with what the
// stand-in holds, and looks for jobs still queued or running.
func (s *soak) check(ctx context.Context, rooms []*room) error {
	stopped := time.Now()
	// The server's view of every room: what is accepted and kept, and jobs still queued or
	// running.
	// The server's own record, read from its SQLite file beside it (WAL lets a reader in).
	st, err := store.OpenSQLite(ctx, filepath.Join(s.srv.data, "lasso.db"))
	if err != nil {
		return err
	}
	defer st.Close()
	fetch := func() (map[string]event, error) {
		server := map[string]event{}
		for _, rm := range rooms {
			objs, err := st.Rooms().RoomObjects(ctx, rm.id)
			if err != nil {
				return nil, err
			}
			for _, o := range objs {
				server[o.ObjectID] = event{ObjectID: o.ObjectID, Version: o.Version, Status: o.Status, Accepted: o.Accepted, DeletedAt: o.DeletedAt}
			}
		}
		return server, nil
	}
	server, err := fetch()
	if err != nil {
		return err
	}
	s.mu.Lock()
	want := map[string]*object{} // by label
	for _, o := range s.objects {
		want[o.label] = o
		sv, ok := server[o.id]
		kept := ok && sv.Accepted && sv.DeletedAt == nil
		// A command cut off by the end of the run may have landed or not: the server's
		// word counts; a member's command the server lost is a failure.
		if o.accepted && !o.deleted && !kept {
			s.rep.LostCommands = append(s.rep.LostCommands, o.id)
		}
		o.deleted = o.deleted && !kept
		o.accepted = kept
		switch {
		case kept:
			s.rep.Accepted++
		case o.deleted:
			s.rep.Deleted++
		}
	}
	s.mu.Unlock()
	var anns []cdf.Annotation
	for {
		anns, err = standInAnnotations(s.srv.data)
		if err != nil {
			return err
		}
		pending := s.srv.metric("lasso_outbox_pending_writes")
		byLabel := map[string]int{}
		for _, a := range anns {
			if d, err := a.ObjectDetection(); err == nil {
				byLabel[d.Label]++
			}
		}
		complete := pending == 0
		for label, o := range want {
			if (o.accepted && !o.deleted) != (byLabel[label] > 0) {
				complete = false
			}
		}
		if complete || time.Since(stopped) > s.o.drainTimeout {
			s.rep.OutboxPending = max(0, int(pending))
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
	s.rep.Drained = time.Since(stopped).Round(100 * time.Millisecond).String()
	// A job is stuck when it is still queued or running after the drain (a job's deadline is
	// a minute, and every job was started before the members stopped).
	var after map[string]event
	for settle := time.Now(); ; {
		if after, err = fetch(); err != nil {
			return err
		}
		busy := 0
		for _, o := range after {
			if o.DeletedAt == nil && (o.Status == "queued" || o.Status == "running") {
				busy++
			}
		}
		if busy == 0 || time.Since(settle) > 70*time.Second {
			break
		}
		time.Sleep(time.Second)
	}
	for _, o := range after {
		if o.DeletedAt == nil && (o.Status == "queued" || o.Status == "running") {
			s.rep.StuckJobs = append(s.rep.StuckJobs, o.ObjectID+" ("+o.Status+")")
		}
	}

	byLabel := map[string][]cdf.Annotation{}
	for _, a := range anns {
		d, err := a.ObjectDetection()
		if err != nil || a.CreatingApp != "lasso" {
			continue
		}
		byLabel[d.Label] = append(byLabel[d.Label], a)
	}
	s.rep.Annotations = len(anns)
	for label, list := range byLabel {
		o := want[label]
		if o == nil || !o.accepted || o.deleted {
			s.rep.Leftover = append(s.rep.Leftover, label)
			continue
		}
		s.rep.Annotated++
		// One annotation per part of the accepted segment: the same outline twice is a
		// write done twice.
		seen := map[string]bool{}
		for _, a := range list {
			d, _ := a.ObjectDetection()
			key := fmt.Sprint(d.Polygon)
			if seen[key] {
				s.rep.Twice = append(s.rep.Twice, label)
				break
			}
			seen[key] = true
		}
	}
	for label, o := range want {
		if o.accepted && !o.deleted && len(byLabel[label]) == 0 {
			s.rep.Missing = append(s.rep.Missing, label)
		}
	}
	slices.Sort(s.rep.Missing)
	slices.Sort(s.rep.Twice)
	slices.Sort(s.rep.Leftover)
	return nil
}

// standInAnnotations reads the annotations the stand-in keeps in the app's data folder.
func standInAnnotations(data string) ([]cdf.Annotation, error) {
	items, err := cdflocal.ReadAnnotations(filepath.Join(data, "cdflocal"))
	if err != nil {
		return nil, fmt.Errorf("the stand-in's annotations: %w", err)
	}
	return items, nil
}

// retry calls f until it succeeds, at most n times, backing off from 200 ms to 3 s.
func retry(ctx context.Context, n int, f func() error) error {
	var err error
	for i := range n {
		if err = f(); err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(min(200*time.Millisecond<<i, 3*time.Second)):
		}
	}
	return err
}

func pct(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, int(p*float64(len(sorted))))]
}

// member is one simulated annotator.
type member struct {
	s     *soak
	c     *client
	room  *room
	name  string
	n     int
	owner bool
	rng   *rand.Rand

	mu      sync.Mutex
	waiters map[string]chan event // by object id: the author waits for its job
	seen    map[string]bool       // command keys whose event this member has timed
	review  []event               // accepted objects awaiting review (owner)
}

// follow keeps the member's room socket open, reconnecting with backoff (the server
// restarts, or refuses), and times the events of every member's commands.
func (m *member) follow(ctx context.Context) {
	m.seen = map[string]bool{}
	backoff := 250 * time.Millisecond
	for ctx.Err() == nil {
		d := websocket.Dialer{Jar: m.c.hc.Jar, HandshakeTimeout: 10 * time.Second}
		ws, _, err := d.DialContext(ctx, "ws"+strings.TrimPrefix(m.c.base, "http")+"/ws?room=room:"+m.room.id, http.Header{"Origin": {m.c.base}})
		if err != nil {
			select {
			case <-ctx.Done():
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 4*time.Second)
			continue
		}
		backoff = 250 * time.Millisecond
		done := make(chan struct{})
		go func() {
			select {
			case <-ctx.Done():
			case <-done:
			}
			ws.Close()
		}()
		for {
			_, msg, err := ws.ReadMessage()
			if err != nil {
				break
			}
			m.handle(msg, time.Now())
		}
		close(done)
	}
}

func (m *member) handle(msg []byte, at time.Time) {
	var env struct {
		Type string          `json:"type"`
		Data json.RawMessage `json:"data"`
	}
	if json.Unmarshal(msg, &env) != nil {
		return
	}
	var evs []event
	switch env.Type {
	case "object.updated":
		var e event
		if json.Unmarshal(env.Data, &e) == nil {
			evs = append(evs, e)
		}
	case "snapshot":
		var snap struct {
			Objects []event `json:"objects"`
		}
		if json.Unmarshal(env.Data, &snap) == nil {
			evs = snap.Objects
		}
	}
	for _, e := range evs {
		kind := ""
		switch {
		case e.DeletedAt != nil:
			kind = "delete"
		case e.Review != "":
			kind = "review"
		case e.Accepted:
			kind = "accept"
		}
		key := e.ObjectID + "/" + kind
		if env.Type == "object.updated" && kind != "" {
			m.s.mu.Lock()
			sent, ok := m.s.sent[key]
			m.s.mu.Unlock()
			m.mu.Lock()
			if ok && !m.seen[key] {
				m.seen[key] = true
				m.s.mu.Lock()
				m.s.eventLat = append(m.s.eventLat, float64(at.Sub(sent).Microseconds())/1000)
				m.s.mu.Unlock()
			}
			m.mu.Unlock()
		}
		m.mu.Lock()
		if w := m.waiters[e.ObjectID]; w != nil && (e.Status == "done" || e.Status == "failed") {
			select {
			case w <- e:
			default:
			}
		}
		if m.owner && kind == "accept" && e.AuthorID != "" {
			m.review = append(m.review, e)
		}
		m.mu.Unlock()
	}
}

// command sends a command until the server takes it (the server restarting, a 5xx or a 429
// are retried), and tells whether it did.
func (m *member) command(ctx context.Context, path string, body any) bool {
	b, _ := json.Marshal(body)
	for i := 0; ; i++ {
		st, _, err := m.c.post(path, "application/json", string(b))
		if err == nil && st < 300 {
			return true
		}
		// 401 is the stand-in's expired token passed on (the member's own session is never
		// faulted): a person would try again, and so does the member.
		if err == nil && st < 500 && st != http.StatusTooManyRequests && st != http.StatusConflict && st != http.StatusUnauthorized {
			return false // refused for good (a review of a version gone, say)
		}
		m.s.mu.Lock()
		m.s.rep.CommandRetry++
		m.s.mu.Unlock()
		select {
		case <-ctx.Done():
			return false
		case <-time.After(min(100*time.Millisecond<<min(i, 5), 3*time.Second)):
		}
	}
}

func (m *member) pause(ctx context.Context) bool {
	d := time.Duration(float64(m.s.o.think) * (0.5 + m.rng.Float64()))
	select {
	case <-ctx.Done():
		return false
	case <-time.After(d):
		return true
	}
}

// work is the member's loop: prompt an object, wait for its job, accept it (most of the
// time), delete some accepted objects later; the owner also reviews.
func (m *member) work(ctx context.Context) {
	var mine []*object
	for k := 0; m.pause(ctx); k++ {
		if m.owner && m.reviewOne(ctx) {
			continue
		}
		if len(mine) > 0 && m.rng.Float64() < 0.1 {
			o := mine[m.rng.IntN(len(mine))]
			if o.accepted && !o.deleted {
				m.mark(o.id + "/delete")
				if m.command(ctx, fmt.Sprintf("/api/rooms/%s/images/%d/objects/%s", o.room, o.file, o.id), map[string]any{"deleted": true}) {
					m.s.mu.Lock()
					o.deleted = true
					m.s.mu.Unlock()
				}
				continue
			}
		}
		o := &object{room: m.room.id, id: fmt.Sprintf("s%d-%d", m.n, k), label: fmt.Sprintf("soak %d.%d", m.n, k),
			file: m.room.files[m.rng.IntN(len(m.room.files))]}
		m.s.mu.Lock()
		m.s.objects[o.id] = o
		m.s.mu.Unlock()
		wait := make(chan event, 4)
		m.mu.Lock()
		m.waiters[o.id] = wait
		m.mu.Unlock()
		done := false
		for try := 0; try < 3 && !done && ctx.Err() == nil; try++ {
			o.version++
			x, y := 0.2+0.6*m.rng.Float64(), 0.2+0.6*m.rng.Float64()
			sent := time.Now()
			if !m.command(ctx, fmt.Sprintf("/api/rooms/%s/images/%d/objects/%s/prompt", o.room, o.file, o.id), map[string]any{
				"version": o.version, "label": o.label, "points": []map[string]any{{"x": x, "y": y, "label": 1}},
			}) {
				break
			}
			m.s.mu.Lock()
			m.s.rep.Prompts++
			m.s.mu.Unlock()
			e, ok := m.waitJob(ctx, wait, o)
			if !ok {
				break
			}
			m.s.mu.Lock()
			if e.Status == "done" {
				m.s.rep.JobsDone++
				m.s.doneLat = append(m.s.doneLat, float64(time.Since(sent).Milliseconds()))
				done = true
			} else {
				m.s.rep.JobsFailed++
			}
			m.s.mu.Unlock()
		}
		m.mu.Lock()
		delete(m.waiters, o.id)
		m.mu.Unlock()
		if !done || m.rng.Float64() < 0.2 {
			continue // left as it is: not accepted
		}
		m.mark(o.id + "/accept")
		if m.command(ctx, fmt.Sprintf("/api/rooms/%s/images/%d/objects/%s", o.room, o.file, o.id), map[string]any{"accepted": true}) {
			m.s.mu.Lock()
			o.accepted = true
			m.s.mu.Unlock()
			mine = append(mine, o)
		}
	}
}

// waitJob waits for the object's current version to be done or failed.
func (m *member) waitJob(ctx context.Context, wait chan event, o *object) (event, bool) {
	timeout := time.After(90 * time.Second)
	for {
		select {
		case <-ctx.Done():
			return event{}, false
		case <-timeout:
			return event{Status: "failed"}, true
		case e := <-wait:
			if e.Version == o.version {
				return e, true
			}
		}
	}
}

// mark records when the command with key is sent, for the event latency.
func (m *member) mark(key string) {
	m.s.mu.Lock()
	m.s.sent[key] = time.Now()
	m.s.mu.Unlock()
}

// reviewOne approves (or now and then rejects) one accepted object of another member.
func (m *member) reviewOne(ctx context.Context) bool {
	m.mu.Lock()
	if len(m.review) == 0 || m.rng.Float64() < 0.5 {
		m.mu.Unlock()
		return false
	}
	e := m.review[0]
	m.review = m.review[1:]
	m.mu.Unlock()
	m.s.mu.Lock()
	o := m.s.objects[e.ObjectID]
	m.s.mu.Unlock()
	if o == nil || o.deleted || o.reviewed {
		return false
	}
	decision := "approved"
	if m.rng.Float64() < 0.2 {
		decision = "rejected"
	}
	m.mark(o.id + "/review")
	if m.command(ctx, fmt.Sprintf("/api/rooms/%s/images/%d/objects/%s/review", o.room, o.file, o.id), map[string]any{"version": e.Version, "decision": decision}) {
		m.s.mu.Lock()
		o.reviewed = true
		m.s.rep.Reviewed++
		m.s.mu.Unlock()
	}
	return true
}
