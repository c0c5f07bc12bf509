package handlers_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/gorilla/websocket"
	"golang.org/x/oauth2"

	"github.com/lassoteam/lasso/auth"
	"github.com/lassoteam/lasso/cdf"
	"github.com/lassoteam/lasso/cdf/cdflocal"
	"github.com/lassoteam/lasso/handlers"
	"github.com/lassoteam/lasso/hub"
	"github.com/lassoteam/lasso/jobs"
	"github.com/lassoteam/lasso/rooms"
	"github.com/lassoteam/lasso/segment"
	"github.com/lassoteam/lasso/store"
	"github.com/lassoteam/lasso/vision"
)

// configured is a Lasso whose handlers.Config a test adjusts, with what the tests here need
// beyond app: the login sessions, and the server's certificate when it serves TLS.
type configured struct {
	*app
	sessions *auth.Manager
	tls      *tls.Config // trusts the server's certificate; nil over plain HTTP
}

// setupConfig runs Lasso on a stand-in, as setup does, with edit applied to its Config (which
// carries a small static file system at /static/), over TLS if tlsOn is set.
func setupConfig(t *testing.T, tlsOn bool, edit func(*handlers.Config)) *configured {
	t.Helper()
	dir := t.TempDir()
	writeJPEG(t, filepath.Join(dir, "square.jpg"), 120, 90)
	standIn, err := cdflocal.New(cdflocal.Config{ImagesDir: dir, Project: "test-project", Token: standInToken, Engine: segment.New(segment.Options{})})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { standIn.Close() })
	cdfServer := httptest.NewServer(standIn)
	t.Cleanup(cdfServer.Close)
	client := cdf.New(cdfServer.URL, "test-project", oauth2.NewClient(context.Background(), oauth2.StaticTokenSource(&oauth2.Token{AccessToken: standInToken})))

	events := hub.New(hub.Options{})
	t.Cleanup(events.Close)
	st, err := store.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "lasso.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	key, err := auth.LoadOrCreateKeyFile(filepath.Join(t.TempDir(), "session.key"))
	if err != nil {
		t.Fatal(err)
	}
	sessions, err := auth.New(context.Background(), auth.Config{Sessions: st.Sessions(), PendingLogins: st.PendingLogins(), Key: key})
	if err != nil {
		t.Fatal(err)
	}
	manager := jobs.New(rooms.JobPublisher{Store: st.Rooms(), Hub: events}, jobs.Options{})
	t.Cleanup(manager.Close)
	writer := rooms.NewWriter(st.Outbox(), func(context.Context, string) (rooms.AnnotationsAPI, error) { return client.Annotations, nil }, rooms.WriterOptions{})
	segmenters, err := vision.New(context.Background(), vision.Config{Kind: vision.KindCDF})
	if err != nil {
		t.Fatal(err)
	}
	cfg := handlers.Config{
		Log:         slog.New(slog.NewTextHandler(io.Discard, nil)),
		Mode:        "local",
		Project:     "test-project",
		Auth:        sessions,
		LocalSignIn: true,
		Clients:     func(context.Context, handlers.User) (*cdf.Client, error) { return client, nil },
		Jobs:        manager,
		Hub:         events,
		Writer:      writer,
		Segmenters:  segmenters,
		Static:      fstest.MapFS{"app.css": {Data: []byte("body{}")}},
	}
	edit(&cfg)
	h := handlers.New(cfg)
	srv := httptest.NewUnstartedServer(h)
	if tlsOn {
		srv.StartTLS()
	} else {
		srv.Start()
	}
	t.Cleanup(srv.Close)

	c := &configured{app: &app{url: srv.URL, files: map[string]int64{}, cdf: client, writer: writer, standIn: standIn}, sessions: sessions}
	list, err := client.Files.List(context.Background(), cdf.FileFilter{}, cdf.ListOptions{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range list.Items {
		c.files[f.Name] = f.ID
	}
	jar, _ := cookiejar.New(nil)
	c.client = &http.Client{Jar: jar, Timeout: 10 * time.Second, Transport: srv.Client().Transport,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	if tlsOn {
		c.tls = srv.Client().Transport.(*http.Transport).TLSClientConfig
	}
	return c
}

// signInTester signs "Tester" in through the local sign-in form.
func (c *configured) signInTester(t *testing.T) {
	t.Helper()
	token := csrfToken(t, c.client, c.url)
	res, err := c.client.PostForm(c.url+"/signin", url.Values{"name": {"Tester"}, "_csrf": {token}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-in: status %d", res.StatusCode)
	}
	c.csrf = pageCSRF(t, c.client, c.url)
}

// dialAs opens the socket of room with the client's cookies and the given headers (Host
// among them, if set).
func dialAs(base string, client *http.Client, tlsConf *tls.Config, room string, header http.Header) (*websocket.Conn, *http.Response, error) {
	d := websocket.Dialer{Jar: client.Jar, HandshakeTimeout: 5 * time.Second, TLSClientConfig: tlsConf}
	return d.Dial("ws"+strings.TrimPrefix(base, "http")+"/ws?room="+room, header)
}

// send makes a request as the app's client for host, with the app's CSRF token. The client's
// cookie jar, like a browser, sends a host only its own cookies.
func (a *app) send(t *testing.T, method, path, host, contentType, body string) (*http.Response, string) {
	t.Helper()
	return a.do(t, method, path, host, contentType, body, false)
}

// sendWithCookies is send with the cookies the app's client holds for the app's own URL,
// whatever the host.
func (a *app) sendWithCookies(t *testing.T, method, path, host, contentType, body string) (*http.Response, string) {
	t.Helper()
	return a.do(t, method, path, host, contentType, body, true)
}

func (a *app) do(t *testing.T, method, path, host, contentType, body string, cookies bool) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(method, a.url+path, strings.NewReader(body))
	req.Host = host
	req.Header.Set("Accept", "text/html")
	req.Header.Set("X-CSRF-Token", a.csrf)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	client := a.client
	if cookies {
		u, _ := url.Parse(a.url)
		for _, c := range a.client.Jar.Cookies(u) {
			req.AddCookie(c)
		}
		client = &http.Client{Transport: a.client.Transport, Timeout: 10 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	res, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, string(b)
}

// TestHostAllowListInLocalMode: by default Lasso answers loopback names and addresses only. A
// page whose name was rebound to 127.0.0.1 cannot sign in (the sign-in form and the local
// sign-in answer 421 with a short plain-text message and set no cookie), nor reach pages, the
// API or the WebSocket, even with the user's cookies; /healthz answers any host.
func TestHostAllowListInLocalMode(t *testing.T) {
	a := setup(t, options{})
	port := a.url[strings.LastIndex(a.url, ":")+1:]
	rebound := "rebind.attacker.example:" + port
	image := a.files["square.jpg"]

	// The attack as a rebound page's browser makes it: fetch the form, post a name.
	attacker := &app{url: a.url, client: browser()}
	refused := func(res *http.Response, body, what string) {
		t.Helper()
		if res.StatusCode != http.StatusMisdirectedRequest {
			t.Errorf("%s: status %d, want 421", what, res.StatusCode)
			return
		}
		if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") || strings.Contains(body, "test-project") || len(body) > 200 {
			t.Errorf("%s: answer %q (%s), want a short plain-text message", what, body, ct)
		}
		if len(res.Cookies()) > 0 {
			t.Errorf("%s sets cookies %v", what, res.Cookies())
		}
	}
	res, body := attacker.send(t, http.MethodGet, "/signin", rebound, "", "")
	refused(res, body, "the sign-in form for a rebound host")
	token := "none"
	if res.StatusCode == http.StatusOK {
		// Without the fix: take the form's token, as the attacker's script would.
		attacker.csrf = csrfTokenFor(t, attacker.client, a.url, rebound)
		token = attacker.csrf
	}
	res, body = attacker.send(t, http.MethodPost, "/signin", rebound, "application/x-www-form-urlencoded",
		url.Values{"name": {"Mallory"}, "_csrf": {token}}.Encode())
	refused(res, body, "the local sign-in for a rebound host")

	// Every other kind of request, for other names that are not loopback ones, with the
	// user's cookies and CSRF token (a client that sends them to any host).
	for _, host := range []string{rebound, "REBIND.attacker.example", "127.0.0.1.rebind.attacker.example:" + port,
		"localhost.rebind.attacker.example", "0.0.0.0:" + port, "[::2]:" + port} {
		for _, r := range []struct{ method, path, contentType, body string }{
			{http.MethodGet, "/", "", ""},
			{http.MethodGet, fmt.Sprintf("/files/%d/content", image), "", ""},
			{http.MethodPost, a.segmentPath("square.jpg"), "application/json", `{"objectId":"o1","version":1,"points":[{"x":0.5,"y":0.5,"label":1}]}`},
			{http.MethodGet, "/static/app.css", "", ""},
			{http.MethodGet, "/nowhere", "", ""},
		} {
			res, body := a.sendWithCookies(t, r.method, r.path, host, r.contentType, r.body)
			refused(res, body, fmt.Sprintf("%s %s for host %q", r.method, r.path, host))
		}
	}

	// The socket, with an Origin that matches the rebound Host as the rebound page's does.
	h := http.Header{"Host": {rebound}, "Origin": {"http://" + rebound}}
	conn, res, err := dialAs(a.url, a.client, nil, fmt.Sprintf("image:%d", image), h)
	if err == nil {
		conn.Close()
		t.Error("the WebSocket opened for a rebound host")
	} else if res == nil || res.StatusCode != http.StatusMisdirectedRequest {
		t.Errorf("WebSocket for a rebound host: %v, %v; want 421", res, err)
	}

	if res, body := a.send(t, http.MethodGet, "/healthz", rebound, "", ""); res.StatusCode != http.StatusOK || body != "ok" {
		t.Errorf("/healthz for another host: %d %q, want 200 ok", res.StatusCode, body)
	}
	for _, host := range []string{"127.0.0.1:" + port, "localhost:" + port, "LocalHost.", "127.8.9.10:" + port, "[::1]:" + port, "[::1]"} {
		if res, body := a.sendWithCookies(t, http.MethodGet, "/", host, "", ""); res.StatusCode != http.StatusOK {
			t.Errorf("GET / for host %q: status %d, want 200: %.200s", host, res.StatusCode, body)
		}
	}
	h = http.Header{"Host": {"localhost:" + port}, "Origin": {"http://localhost:" + port}}
	conn, _, err = dialAs(a.url, a.client, nil, fmt.Sprintf("image:%d", image), h)
	if err != nil {
		t.Fatalf("WebSocket for localhost: %v", err)
	}
	conn.Close()
}

// csrfTokenFor is csrfToken for the sign-in form of host.
func csrfTokenFor(t *testing.T, c *http.Client, base, host string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, base+"/signin", nil)
	req.Host = host
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	doc, err := goquery.NewDocumentFromReader(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	token, _ := doc.Find(`form input[name="_csrf"]`).Attr("value")
	return token
}

// TestHostAllowListConfigured: with a configured list (as in CDF mode: the public URL's host
// and -allowed-hosts) exactly the listed names are answered, any port and letter case; loopback
// is not admitted unless listed.
func TestHostAllowListConfigured(t *testing.T) {
	a := setupConfig(t, false, func(c *handlers.Config) {
		c.AllowedHost = handlers.HostAllowList(false, "lasso.example.com", "10.1.2.3:8443", "[fd00::7]", "")
	})
	for host, want := range map[string]int{
		"lasso.example.com":         http.StatusOK,
		"Lasso.Example.COM.:443":    http.StatusOK,
		"10.1.2.3":                  http.StatusOK,
		"10.1.2.3:9000":             http.StatusOK,
		"[fd00::7]:8080":            http.StatusOK,
		"127.0.0.1":                 http.StatusMisdirectedRequest,
		"localhost":                 http.StatusMisdirectedRequest,
		"evil.lasso.example.com":    http.StatusMisdirectedRequest,
		"lasso.example.com.evil.io": http.StatusMisdirectedRequest,
	} {
		for _, path := range []string{"/static/app.css", "/signin"} {
			if res, body := a.send(t, http.MethodGet, path, host, "", ""); res.StatusCode != want {
				t.Errorf("GET %s for host %q: status %d, want %d: %.100s", path, host, res.StatusCode, want, body)
			}
		}
	}
	if res, _ := a.send(t, http.MethodGet, "/healthz", "10.9.9.9:8080", "", ""); res.StatusCode != http.StatusOK {
		t.Errorf("/healthz by another address: status %d, want 200", res.StatusCode)
	}
}

// TestWebSocketOriginScheme: the socket opens only for a page of the app's own scheme and
// host: an https:// page may not open an http:// app's socket, nor an http:// page an https://
// app's; "null" and an absent Origin stay refused.
func TestWebSocketOriginScheme(t *testing.T) {
	plain := setup(t, options{})
	room := fmt.Sprintf("image:%d", plain.files["square.jpg"])
	hostport := strings.TrimPrefix(plain.url, "http://")
	for _, tt := range []struct {
		origin string
		ok     bool
	}{
		{"http://" + hostport, true},
		{"HTTP://" + strings.ToUpper(hostport), true},
		{"https://" + hostport, false},
		{"ws://" + hostport, false},
		{"null", false},
		{"", false},
	} {
		conn, res, err := plain.dial(t, room, tt.origin)
		if tt.ok {
			if err != nil {
				t.Errorf("http app, Origin %q: %v, want the socket", tt.origin, err)
				continue
			}
			conn.Close()
			continue
		}
		if err == nil {
			conn.Close()
			t.Errorf("http app, Origin %q: the socket opened", tt.origin)
		} else if res == nil || res.StatusCode != http.StatusForbidden {
			t.Errorf("http app, Origin %q: %v, %v; want 403", tt.origin, res, err)
		}
	}

	secure := setupConfig(t, true, func(*handlers.Config) {})
	secure.signInTester(t)
	room = fmt.Sprintf("image:%d", secure.files["square.jpg"])
	hostport = strings.TrimPrefix(secure.url, "https://")
	conn, res, err := dialAs(secure.url, secure.client, secure.tls, room, http.Header{"Origin": {"http://" + hostport}})
	if err == nil {
		conn.Close()
		t.Error("https app, Origin http://…: the socket opened")
	} else if res == nil || res.StatusCode != http.StatusForbidden {
		t.Errorf("https app, Origin http://…: %v, %v; want 403", res, err)
	}
	conn, _, err = dialAs(secure.url, secure.client, secure.tls, room, http.Header{"Origin": {"https://" + hostport}})
	if err != nil {
		t.Fatalf("https app, its own Origin: %v", err)
	}
	conn.Close()
}

// readSnapshot reads a socket's first message, which must be its snapshot.
func readSnapshot(t *testing.T, conn *websocket.Conn) {
	t.Helper()
	var m wsMessage
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if err := conn.ReadJSON(&m); err != nil || m.Type != "snapshot" {
		t.Fatalf("first message %+v, %v; want a snapshot", m, err)
	}
}

// expectClose reads conn until it ends and checks that it ends with a normal close frame
// with reason, and that no message about an object (an event caused after the session ended)
// came first. Presence messages from before may.
func expectClose(t *testing.T, name string, conn *websocket.Conn, reason string) {
	t.Helper()
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		_, data, err := conn.ReadMessage()
		if err == nil {
			if s := string(data); strings.Contains(s, `"object.updated"`) || strings.Contains(s, `"job.status"`) {
				t.Errorf("%s got an event after its session ended: %.200s", name, s)
			}
			continue
		}
		if !websocket.IsCloseError(err, websocket.CloseNormalClosure) {
			t.Errorf("%s ended with %v, want a normal close", name, err)
		} else if ce := err.(*websocket.CloseError); ce.Text != reason {
			t.Errorf("%s closed with reason %q, want %q", name, ce.Text, reason)
		}
		return
	}
}

// expectEvent reads conn until a message of type typ that mentions want arrives.
func expectEvent(t *testing.T, name string, conn *websocket.Conn, typ, want string) {
	t.Helper()
	_ = conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	for {
		var m wsMessage
		if err := conn.ReadJSON(&m); err != nil {
			t.Fatalf("%s, waiting for %s: %v", name, typ, err)
		}
		if m.Type == typ && strings.Contains(string(m.Data), want) {
			return
		}
	}
}

// TestSignOutClosesTheSessionsSockets: signing out closes the room socket and the image socket
// of that login session at once, with a normal close frame saying "signed out", and neither
// gets the events that follow; another user's socket, and the same user's socket in another
// browser (another login session), stay open and get them.
func TestSignOutClosesTheSessionsSockets(t *testing.T) {
	ana := setup(t, options{})
	roomID := ana.createRoom(t, url.Values{"name": {"Team"}, "labels": {"cat #ff0000"}})
	anaElsewhere := ana.signIn(t, "Tester") // the same user in a second browser
	ben := ana.signIn(t, "Ben")
	if got := ben.status(t, http.MethodPost, "/rooms/"+roomID+"/join", ""); got != http.StatusSeeOther {
		t.Fatalf("join: status %d", got)
	}
	file := ana.files["square.jpg"]
	image := fmt.Sprintf("image:%d", file)

	benRoom, _, err := ben.dial(t, "room:"+roomID, ben.url)
	if err != nil {
		t.Fatal(err)
	}
	defer benRoom.Close()
	readSnapshot(t, benRoom)
	elsewhereImage, _, err := anaElsewhere.dial(t, image, ana.url)
	if err != nil {
		t.Fatal(err)
	}
	defer elsewhereImage.Close()
	readSnapshot(t, elsewhereImage)
	anaRoom, _, err := ana.dial(t, "room:"+roomID, ana.url)
	if err != nil {
		t.Fatal(err)
	}
	defer anaRoom.Close()
	readSnapshot(t, anaRoom)
	anaImage, _, err := ana.dial(t, image, ana.url)
	if err != nil {
		t.Fatal(err)
	}
	defer anaImage.Close()
	readSnapshot(t, anaImage)

	res, err := ana.client.PostForm(ana.url+"/auth/logout", url.Values{"_csrf": {ana.csrf}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-out: status %d", res.StatusCode)
	}

	// Events after the sign-out: Ben's prompt in the room, and a prompt of Ana's in her other
	// browser on the image, whose job events go to both of Ana's image sockets.
	if got := ben.status(t, http.MethodPost, fmt.Sprintf("/api/rooms/%s/images/%d/objects/bens/prompt", roomID, file),
		`{"version":1,"points":[{"x":0.5,"y":0.5,"label":1}],"label":"cat"}`); got != http.StatusAccepted {
		t.Fatalf("Ben's prompt: status %d", got)
	}
	if status, body := anaElsewhere.post(t, ana.segmentPath("square.jpg"), "application/json",
		[]byte(`{"objectId":"anas","version":1,"points":[{"x":0.5,"y":0.5,"label":1}]}`), true); status != http.StatusAccepted {
		t.Fatalf("Ana's prompt in her other browser: status %d: %s", status, body)
	}

	expectClose(t, "the signed-out room socket", anaRoom, "signed out")
	expectClose(t, "the signed-out image socket", anaImage, "signed out")
	expectEvent(t, "Ben's room socket", benRoom, "object.updated", "bens")
	expectEvent(t, "Ana's socket in her other browser", elsewhereImage, "job.status", "anas")
}

// TestSocketClosesWhenItsSessionEndsElsewhere: a session ended without this server knowing
// (signed out on another replica, which shares the store) closes its sockets at their next
// session check, with a normal close frame; a live session's socket stays open through many
// checks.
func TestSocketClosesWhenItsSessionEndsElsewhere(t *testing.T) {
	a := setupConfig(t, false, func(c *handlers.Config) { c.SessionCheck = 5 * time.Millisecond })
	a.signInTester(t)
	image := fmt.Sprintf("image:%d", a.files["square.jpg"])
	other := &app{url: a.url, files: a.files, client: browser()}
	res, err := other.client.PostForm(a.url+"/signin", url.Values{"name": {"Ben"}, "_csrf": {csrfToken(t, other.client, a.url)}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	other.csrf = pageCSRF(t, other.client, a.url)

	conn, _, err := a.dial(t, image, a.url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	readSnapshot(t, conn)
	bens, _, err := other.dial(t, image, a.url)
	if err != nil {
		t.Fatal(err)
	}
	defer bens.Close()
	readSnapshot(t, bens)

	// Another replica signs the session out: the same store, not this server's handlers.
	u, _ := url.Parse(a.url)
	req := httptest.NewRequest(http.MethodPost, a.url+"/auth/logout", nil)
	for _, c := range a.client.Jar.Cookies(u) {
		req.AddCookie(c)
	}
	if _, err := a.sessions.SignOut(httptest.NewRecorder(), req); err != nil {
		t.Fatal(err)
	}
	expectClose(t, "the socket of the ended session", conn, "sign-in ended; sign in again")

	if status, body := other.post(t, other.segmentPath("square.jpg"), "application/json",
		[]byte(`{"objectId":"bens","version":1,"points":[{"x":0.5,"y":0.5,"label":1}]}`), true); status != http.StatusAccepted {
		t.Fatalf("Ben's prompt: status %d: %s", status, body)
	}
	expectEvent(t, "Ben's socket", bens, "job.status", "bens")
}
