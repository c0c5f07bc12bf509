// Command roomload connects N simulated members to one room of a running Lasso (local mode)
// and measures how long the room's events take to reach all of them, and how much memory the
// server spends per connection. It is a measuring script, not a test:
//
//	go build -o /tmp/lasso ./cmd/web && /tmp/lasso -data $(mktemp -d) &
//	go run ./cmd/roomload -url http://127.0.0.1:8080 -n 1000 -pid $(pgrep -f /tmp/lasso)
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/signal"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "roomload:", err)
		os.Exit(1)
	}
}

// member is one simulated browser: its own cookie jar, hence its own login session.
type member struct {
	base string
	hc   *http.Client
	csrf string
}

var csrfField = regexp.MustCompile(`name="_csrf" value="([^"]+)"`)

func signIn(base, name string) (*member, error) {
	jar, _ := cookiejar.New(nil)
	m := &member{base: base, hc: &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	res, err := m.hc.Get(base + "/signin")
	if err != nil {
		return nil, err
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	found := csrfField.FindSubmatch(body)
	if found == nil {
		return nil, errors.New("no CSRF token on the sign-in page (is the app in local mode?)")
	}
	m.csrf = string(found[1])
	res, err = m.hc.PostForm(base+"/signin", url.Values{"name": {name}, "_csrf": {m.csrf}})
	if err != nil {
		return nil, err
	}
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther {
		return nil, fmt.Errorf("sign in %s: status %d", name, res.StatusCode)
	}
	// The token is bound to the session: the signed-in page has the new one.
	res, err = m.hc.Get(base + "/")
	if err != nil {
		return nil, err
	}
	body, _ = io.ReadAll(res.Body)
	res.Body.Close()
	if found = csrfField.FindSubmatch(body); found == nil {
		return nil, fmt.Errorf("sign in %s: no CSRF token on the signed-in page", name)
	}
	m.csrf = string(found[1])
	return m, nil
}

func (m *member) post(path, contentType, body string) (*http.Response, error) {
	req, _ := http.NewRequest(http.MethodPost, m.base+path, strings.NewReader(body))
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("X-CSRF-Token", m.csrf)
	return m.hc.Do(req)
}

// rss is the resident memory of a process, from /proc.
func rss(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb * 1024, err
		}
	}
	return 0, errors.New("no VmRSS")
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	fl := flag.NewFlagSet("roomload", flag.ContinueOnError)
	base := fl.String("url", "http://127.0.0.1:8080", "a running Lasso in local mode (loopback only)")
	n := fl.Int("n", 100, "simulated members")
	events := fl.Int("events", 40, "events to fan out")
	pid := fl.Int("pid", 0, "the server's process id, to measure its memory per connection")
	if err := fl.Parse(args); err != nil {
		return err
	}
	u, err := url.Parse(*base)
	if err != nil || (u.Hostname() != "127.0.0.1" && u.Hostname() != "localhost" && u.Hostname() != "::1") {
		return errors.New("-url must be a loopback address: this script only loads servers on this machine")
	}

	owner, err := signIn(*base, "Owner")
	if err != nil {
		return err
	}
	res, err := owner.post("/rooms", "application/x-www-form-urlencoded", url.Values{"name": {"Load"}, "_csrf": {owner.csrf}}.Encode())
	if err != nil {
		return err
	}
	res.Body.Close()
	roomID := strings.TrimPrefix(res.Header.Get("Location"), "/rooms/")
	if res.StatusCode != http.StatusSeeOther || roomID == "" {
		return fmt.Errorf("create room: status %d", res.StatusCode)
	}
	state, err := owner.hc.Get(*base + "/api/rooms/" + roomID + "/state")
	if err != nil {
		return err
	}
	stateBody, _ := io.ReadAll(state.Body)
	state.Body.Close()
	fileID := regexp.MustCompile(`"fileId":(\d+)`).FindSubmatch(stateBody)
	if fileID == nil {
		return errors.New("the room has no image")
	}

	var before int64
	if *pid != 0 {
		if before, err = rss(*pid); err != nil {
			return err
		}
	}
	type conn struct {
		ws       *websocket.Conn
		received []time.Time // arrival of each image.status event
		mu       sync.Mutex
	}
	conns := make([]*conn, *n)
	start := time.Now()
	var wg sync.WaitGroup
	errc := make(chan error, *n)
	sem := make(chan struct{}, 16)
	for i := range *n {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			m, err := signIn(*base, fmt.Sprintf("Member %d", i))
			if err != nil {
				errc <- err
				return
			}
			res, err := m.post("/rooms/"+roomID+"/join", "application/x-www-form-urlencoded", url.Values{"_csrf": {m.csrf}}.Encode())
			if err != nil {
				errc <- err
				return
			}
			res.Body.Close()
			if res.StatusCode != http.StatusSeeOther {
				errc <- fmt.Errorf("member %d: join: status %d", i, res.StatusCode)
				return
			}
			d := websocket.Dialer{Jar: m.hc.Jar}
			ws, _, err := d.DialContext(ctx, "ws"+strings.TrimPrefix(*base, "http")+"/ws?room=room:"+roomID, http.Header{"Origin": {*base}})
			if err != nil {
				errc <- fmt.Errorf("member %d: %w", i, err)
				return
			}
			c := &conn{ws: ws}
			conns[i] = c
			go func() {
				for {
					_, msg, err := ws.ReadMessage()
					if err != nil {
						return
					}
					if strings.Contains(string(msg[:min(len(msg), 40)]), `"image.status"`) {
						c.mu.Lock()
						c.received = append(c.received, time.Now())
						c.mu.Unlock()
					}
				}
			}()
		})
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		return err
	}
	fmt.Fprintf(stdout, "connected %d members in %v\n", *n, time.Since(start).Round(time.Millisecond))
	time.Sleep(time.Second) // let presence events settle
	var after int64
	if *pid != 0 {
		if after, err = rss(*pid); err != nil {
			return err
		}
	}

	// Fan out: the owner toggles the image's done flag; every member gets an image.status event.
	sent := make([]time.Time, *events)
	for k := range *events {
		sent[k] = time.Now()
		res, err := owner.post(fmt.Sprintf("/api/rooms/%s/images/%s/done", roomID, fileID[1]), "application/json",
			fmt.Sprintf(`{"done":%t}`, k%2 == 0))
		if err != nil {
			return err
		}
		res.Body.Close()
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(2 * time.Second)
	var lat []float64
	missing := 0
	for _, c := range conns {
		c.mu.Lock()
		for k := range *events {
			if k < len(c.received) {
				lat = append(lat, float64(c.received[k].Sub(sent[k]).Microseconds())/1000)
			} else {
				missing++
			}
		}
		c.mu.Unlock()
		c.ws.Close()
	}
	slices.Sort(lat)
	fmt.Fprintf(stdout, "members %d, events %d, deliveries %d, missing %d\n", *n, *events, len(lat), missing)
	fmt.Fprintf(stdout, "fan-out latency ms: p50 %.2f, p99 %.2f, max %.2f\n", pct(lat, 0.50), pct(lat, 0.99), lat[len(lat)-1])
	if *pid != 0 {
		fmt.Fprintf(stdout, "server memory: %.1f MB before, %.1f MB with %d connections: %.1f KB per connection\n",
			float64(before)/(1<<20), float64(after)/(1<<20), *n, float64(after-before)/float64(*n)/1024)
	}
	return nil
}

func pct(sorted []float64, p float64) float64 {
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
