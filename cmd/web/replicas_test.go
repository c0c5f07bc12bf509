package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
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
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"golang.org/x/oauth2"

	"github.com/lassoteam/lasso/cdf"
	"github.com/lassoteam/lasso/cdf/cdflocal"
	"github.com/lassoteam/lasso/internal/pgtest"
	"github.com/lassoteam/lasso/store"
)

// startNginx runs nginx in the foreground in front of the upstream addresses, round robin
// without sticky sessions, passing WebSocket upgrades; its configuration, pid, logs and
// temporary files live in a folder of the test. It returns nginx's address.
func startNginx(t *testing.T, upstreams ...string) string {
	t.Helper()
	bin, err := exec.LookPath("nginx")
	if err != nil {
		if _, serr := os.Stat("/usr/sbin/nginx"); serr != nil {
			t.Fatal("nginx is not installed: the replica tests put it in front of two Lasso processes (Debian: apt-get install nginx)")
		}
		bin = "/usr/sbin/nginx"
	}
	dir := t.TempDir()
	addr := freeAddr(t)
	var servers strings.Builder
	for _, u := range upstreams {
		fmt.Fprintf(&servers, "    server %s max_fails=1 fail_timeout=2s;\n", u)
	}
	conf := fmt.Sprintf(nginxConf, dir, dir, dir, dir, dir, dir, dir, servers.String(), addr)
	if err := os.WriteFile(filepath.Join(dir, "nginx.conf"), []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-p", dir, "-c", filepath.Join(dir, "nginx.conf"), "-e", filepath.Join(dir, "error.log"))
	logs := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt) // nginx: SIGINT is a fast shutdown
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return addr
		}
		select {
		case <-exited:
			errs, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			t.Fatalf("nginx exited: %s\n%s", logs, errs)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("nginx did not listen on %s within 10 s: %s", addr, logs)
		}
	}
}

// nginxConf is the test's nginx: the folder (7 times), the upstream servers, the address.
const nginxConf = `daemon off;
worker_processes 1;
pid %s/nginx.pid;
events { worker_connections 4096; }
http {
  access_log off;
  error_log %s/error.log warn;
  client_body_temp_path %s/body;
  proxy_temp_path %s/proxy;
  fastcgi_temp_path %s/fastcgi;
  uwsgi_temp_path %s/uwsgi;
  scgi_temp_path %s/scgi;
  map $http_upgrade $connection_upgrade { default upgrade; '' close; }
  upstream lasso {
%s  }
  server {
    listen %s;
    location / {
      proxy_pass http://lasso;
      proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection $connection_upgrade;
      proxy_set_header Host $http_host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_read_timeout 1h;
      proxy_next_upstream error timeout http_502 http_503;
    }
  }
}
`

// replicaWatch follows a room's socket on one replica directly and records which objects'
// jobs it has seen done. After the snapshot, every event must carry the next sequence
// number: in order, none twice, none missing.
type replicaWatch struct {
	name string
	mu   sync.Mutex
	done map[string]bool
	errs []string
	seen int
}

func (w *replicaWatch) follow(t *testing.T, addr string, jar http.CookieJar, roomID string) (stop func()) {
	t.Helper()
	dialer := websocket.Dialer{Jar: jar}
	var conn *websocket.Conn
	deadline := time.Now().Add(10 * time.Second)
	for {
		var err error
		conn, _, err = dialer.Dial(fmt.Sprintf("ws://%s/ws?room=room:%s", addr, roomID), http.Header{"Origin": {"http://" + addr}})
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: socket: %v", w.name, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	go func() {
		var last uint64
		for {
			_, msg, err := conn.ReadMessage()
			if err != nil {
				return
			}
			var m struct {
				Type string
				Seq  uint64
				Data struct {
					ObjectID string `json:"objectId"`
					Status   string `json:"status"`
				}
			}
			if json.Unmarshal(msg, &m) != nil {
				continue
			}
			w.mu.Lock()
			switch {
			case m.Type == "snapshot":
				last = m.Seq
			case m.Seq <= last:
				// Published between the subscription and the snapshot: already in it.
			case m.Seq != last+1:
				w.errs = append(w.errs, fmt.Sprintf("%s: event %s has seq %d after %d", w.name, m.Type, m.Seq, last))
				last = m.Seq
			default:
				last = m.Seq
				w.seen++
			}
			if m.Type == "object.updated" && m.Data.Status == "done" {
				w.done[m.Data.ObjectID] = true
			}
			w.mu.Unlock()
		}
	}()
	return func() { conn.Close() }
}

func (w *replicaWatch) wait(t *testing.T, ids []string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		w.mu.Lock()
		left := slices.DeleteFunc(slices.Clone(ids), func(id string) bool { return w.done[id] })
		w.mu.Unlock()
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: jobs of %v not seen done after 30 s", w.name, left)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestReplicasBehindNginx is issue 13's test with real parts: a throwaway PostgreSQL, two
// Lasso processes on it in CDF mode against the stand-in (mockoidc for sign-in), nginx in
// front of them, round robin, no sticky sessions. Prompts and accepts go through nginx, so
// they alternate between the replicas; a watcher on each replica's own socket must see every
// object's result live, in order, once. One replica is killed (SIGKILL) while a create it
// sent has landed in CDF and waits for its answer, and later both are restarted one after the
// other (SIGTERM); at the end 200 accepted objects are exactly 200 annotations in the stand-in,
// one each, and the outbox owes nothing.
func TestReplicasBehindNginx(t *testing.T) {
	const (
		objects      = 200
		batch        = 10
		writeTimeout = 300 * time.Millisecond
		lease        = 2 * time.Second
	)
	began := time.Now()
	dbURL := pgtest.Shared(t).NewDatabase(t)
	op := startProvider(t, nil)
	faults := newAnnotationFaults(0.1, 3*writeTimeout, 20261204)
	// Jobs take no time, except in one batch, where each runs 3 s so that a replica dies with
	// its jobs under way.
	var slowJobs atomic.Bool
	standIn, err := cdflocal.New(cdflocal.Config{ImagesDir: "../../static/samples", Project: "acme", Engine: ringEngine{},
		DataDir: t.TempDir(), Faults: faults.fault, RunDelay: 3 * time.Second,
		Sleep: func(ctx context.Context, d time.Duration) error {
			if !slowJobs.Load() {
				return nil
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(d):
				return nil
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { standIn.Close() })
	cdfServer := httptest.NewServer(standIn)
	t.Cleanup(cdfServer.Close)

	addrs := []string{freeAddr(t), freeAddr(t)}
	proxy := startNginx(t, addrs...)
	base := "http://" + proxy
	_, _, env := cdfModeEnv(t, op, cdfServer.URL)
	key := make([]byte, 32)
	rand.Read(key)
	env["LASSO_PUBLIC_URL"] = base
	env["LASSO_ALLOWED_HOSTS"] = strings.Join(addrs, ",") // the watchers' direct sockets
	env["LASSO_DATABASE_URL"] = dbURL
	env["LASSO_SESSION_KEY"] = base64.StdEncoding.EncodeToString(key)
	names := []string{"A", "B"}
	replicas := make([]*appProcess, 2)
	start := func(i int) {
		replicas[i] = startAppProcess(t, addrs[i], t.TempDir(), env, writerArgs(writeTimeout, lease)...)
	}
	start(0)
	start(1)
	logs := func() string {
		var b strings.Builder
		for i, r := range replicas {
			fmt.Fprintf(&b, "--- replica %s:\n%s\n", names[i], r.logs)
		}
		return b.String()
	}

	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar, Timeout: 20 * time.Second}
	res, err := browser.Get(base + "/rooms") // sign-in through nginx: started on one replica, finished on the other
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(res.Body)
	res.Body.Close()
	csrf := regexp.MustCompile(`name="csrf-token" content="([^"]+)"`).FindSubmatch(page)
	if res.StatusCode != http.StatusOK || csrf == nil {
		t.Fatalf("rooms page through nginx: %d, CSRF token %q\n%s", res.StatusCode, csrf, logs())
	}
	res, err = browser.PostForm(base+"/rooms", url.Values{"name": {"Replicas"}, "source": {"filter"}, "_csrf": {string(csrf[1])}})
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
		for attempt := 0; ; attempt++ {
			req, _ := http.NewRequest(http.MethodPost, base+path, strings.NewReader(string(b)))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("X-CSRF-Token", string(csrf[1]))
			res, err := browser.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			msg, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode == http.StatusBadGateway && attempt < 3 {
				// nginx had sent the request to the replica as it died; a person presses again.
				time.Sleep(200 * time.Millisecond)
				continue
			}
			if !slices.Contains(want, res.StatusCode) {
				t.Fatalf("POST %s: %d %s", path, res.StatusCode, msg)
			}
			return
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
	watches := []*replicaWatch{{name: "watcher on A", done: map[string]bool{}}, {name: "watcher on B", done: map[string]bool{}}}
	unwatch := make([]func(), 2)
	for i := range watches {
		unwatch[i] = watches[i].follow(t, addrs[i], jar, roomID)
	}
	defer func() {
		for _, u := range unwatch {
			u()
		}
	}()
	restart := func(i int, how string) {
		unwatch[i]()
		if how == "kill" {
			replicas[i].kill()
		} else {
			replicas[i].stop(t)
		}
		start(i)
		unwatch[i] = watches[i].follow(t, addrs[i], jar, roomID)
	}
	var lastAccept time.Time
	for at := 0; at < objects; at += batch {
		group := objs[at:min(at+batch, objects)]
		var ids []string
		slowJobs.Store(at == 100)
		for _, o := range group {
			post(fmt.Sprintf("/api/rooms/%s/images/%d/objects/%s/prompt", roomID, o.file, o.id), map[string]any{
				"version": 1, "label": o.label, "points": []map[string]any{{"x": o.x, "y": o.y, "label": 1}},
			}, http.StatusAccepted)
			ids = append(ids, o.id)
		}
		if at == 100 {
			// Half of these jobs are B's to follow; B dies with them running in CDF. A, or B
			// started again, takes them up once B's leases have run out.
			time.Sleep(500 * time.Millisecond)
			restart(1, "kill")
			slowJobs.Store(false)
			t.Logf("killed replica B with %d jobs running (%.1f s in)", len(ids), time.Since(began).Seconds())
		}
		// Half the prompts went to each replica: both watchers see every result.
		for _, w := range watches {
			w.wait(t, ids)
		}
		end := at + len(group)
		var held <-chan struct{}
		if end == 60 {
			held = faults.arm() // one of this batch's creates lands in CDF and hangs
		}
		for _, o := range group {
			post(fmt.Sprintf("/api/rooms/%s/images/%d/objects/%s", roomID, o.file, o.id), map[string]any{"accepted": true}, http.StatusOK)
		}
		lastAccept = time.Now()
		switch end {
		case 60:
			select {
			case <-held:
			case <-time.After(10 * time.Second):
				t.Fatal("no create reached the stand-in within 10 s")
			}
			time.Sleep(writeTimeout / 4)
			// Which replica sent the held create is not known; killing either leaves the other
			// to finish what the dead one claimed once its leases run out.
			restart(0, "kill")
			t.Logf("killed replica A with a landed create waiting for its answer, after %d accepted objects (%.1f s in)", end, time.Since(began).Seconds())
		case 140:
			restart(1, "stop")
			restart(0, "stop")
			t.Logf("rolling restart of B, then A, after %d accepted objects (%.1f s in)", end, time.Since(began).Seconds())
		}
	}

	// A socket on A takes its snapshot and goes; events happen; the browser reconnects to B
	// with the last sequence number it saw and gets what it missed, then live events, without
	// a snapshot.
	dialer := websocket.Dialer{Jar: jar}
	wsURL := func(addr, query string) string { return fmt.Sprintf("ws://%s/ws?room=room:%s%s", addr, roomID, query) }
	first, _, err := dialer.Dial(wsURL(addrs[0], ""), http.Header{"Origin": {"http://" + addrs[0]}})
	if err != nil {
		t.Fatal(err)
	}
	var snap struct {
		Type string
		Seq  uint64
	}
	if err := first.ReadJSON(&snap); err != nil || snap.Type != "snapshot" {
		t.Fatalf("first message on A: %+v, %v; want the snapshot", snap, err)
	}
	first.Close()
	probe := objs[0]
	post(fmt.Sprintf("/api/rooms/%s/images/%d/objects/%s/prompt", roomID, probe.file, "probe"), map[string]any{
		"version": 1, "label": "probe", "points": []map[string]any{{"x": probe.x, "y": probe.y, "label": 1}},
	}, http.StatusAccepted)
	for _, w := range watches {
		w.wait(t, []string{"probe"})
	}
	again, _, err := dialer.Dial(wsURL(addrs[1], fmt.Sprintf("&since=%d", snap.Seq)), http.Header{"Origin": {"http://" + addrs[1]}})
	if err != nil {
		t.Fatal(err)
	}
	again.SetReadDeadline(time.Now().Add(10 * time.Second))
	for want := snap.Seq + 1; ; want++ {
		var m struct {
			Type string
			Seq  uint64
			Data struct {
				ObjectID string `json:"objectId"`
				Status   string `json:"status"`
			}
		}
		if err := again.ReadJSON(&m); err != nil {
			t.Fatalf("resuming on B from seq %d: %v", snap.Seq, err)
		}
		if m.Type == "snapshot" || m.Seq != want {
			t.Fatalf("resuming on B from seq %d: got %s with seq %d, want the missed event %d", snap.Seq, m.Type, m.Seq, want)
		}
		if m.Type == "object.updated" && m.Data.ObjectID == "probe" && m.Data.Status == "done" {
			t.Logf("resumed on B from seq %d: the missed events through %d, in order", snap.Seq, m.Seq)
			break
		}
	}
	again.Close()

	st, err := store.OpenPostgres(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	drainDeadline := time.Now().Add(45 * time.Second)
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
			t.Fatalf("not drained 45 s after the last accept: %d objects in CDF, %d writes pending\n%s", len(labels), len(due), logs())
		}
		time.Sleep(50 * time.Millisecond)
	}
	summary, _ := faults.summary()
	t.Logf("%s", summary)
	t.Logf("drained %.1f s after the last accept; %.1f s in all", time.Since(lastAccept).Seconds(), time.Since(began).Seconds())
	faults.stop()

	client := cdf.New(cdfServer.URL, "acme", oauth2.NewClient(context.Background(), oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "any"})))
	var ids []cdf.Identifier
	for _, f := range files {
		ids = append(ids, cdf.ID(f))
	}
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
	byLabel := map[string]int{}
	for _, a := range listed {
		d, err := a.ObjectDetection()
		if err != nil {
			t.Fatal(err)
		}
		byLabel[d.Label]++
	}
	for _, o := range objs {
		if n := byLabel[o.label]; n != 1 {
			t.Errorf("%s (%s) has %d annotations, want 1", o.id, o.label, n)
		}
	}
	// nginx spread the prompts over both (restarted) replicas: each one's log has some.
	for i, r := range replicas {
		if n := strings.Count(r.logs.String(), "/prompt"); n == 0 {
			t.Errorf("replica %s served no prompt since its last start: nginx did not spread the requests", names[i])
		}
	}
	for _, w := range watches {
		w.mu.Lock()
		for _, e := range w.errs {
			t.Error(e)
		}
		t.Logf("%s: %d events in sequence", w.name, w.seen)
		w.mu.Unlock()
	}
}
