package handlers_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
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

const standInToken = "stand-in-secret"

// app is a running Lasso wired to a real stand-in, as in local mode, with one signed-in user.
type app struct {
	url    string
	client *http.Client // a browser-like client with a cookie jar
	csrf   string
	files  map[string]int64 // file name → id
	logs   *lockedBuffer
	cdf    *cdf.Client // the stand-in, as every user of the app
	// writer delivers accepted objects; standIn is the CDF behind the app.
	writer  *rooms.Writer
	standIn *cdflocal.Server
	// store is the app's database, for tests that put in what the app itself would refuse.
	store *store.SQLite
	// hub is the app's hub, for tests that publish to a room directly.
	hub *hub.Hub
}

// browser returns a client with its own cookie jar that does not follow redirects, so each
// step can be asserted.
func browser() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}
}

// csrfToken loads the sign-in page as a browser does and returns the CSRF token of its form.
func csrfToken(t testing.TB, c *http.Client, base string) string {
	t.Helper()
	res, err := c.Get(base + "/signin")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	doc, err := goquery.NewDocumentFromReader(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	token, _ := doc.Find(`form input[name="_csrf"]`).Attr("value")
	if token == "" {
		t.Fatal("the sign-in form has no CSRF token")
	}
	return token
}

// signIn signs a new browser in through the local sign-in form and returns it as an app.
func (a *app) signIn(t testing.TB, name string) *app {
	t.Helper()
	c := browser()
	token := csrfToken(t, c, a.url)
	res, err := c.PostForm(a.url+"/signin", url.Values{"name": {name}, "_csrf": {token}, "return_to": {"/"}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/" {
		t.Fatalf("sign-in: status %d, location %q", res.StatusCode, res.Header.Get("Location"))
	}
	b := *a
	b.client = c
	b.csrf = pageCSRF(t, c, a.url)
	if b.csrf == token {
		t.Fatal("the CSRF token did not change at sign-in")
	}
	return &b
}

// pageCSRF loads a signed-in page as a browser does and returns the CSRF token of its meta tag.
func pageCSRF(t testing.TB, c *http.Client, base string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, base+"/", nil)
	req.Header.Set("Accept", "text/html")
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	doc, err := goquery.NewDocumentFromReader(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	token, _ := doc.Find(`meta[name="csrf-token"]`).Attr("content")
	if res.StatusCode != http.StatusOK || token == "" {
		t.Fatalf("signed-in page: status %d, CSRF token %q", res.StatusCode, token)
	}
	return token
}

type options struct {
	maxPixels int64
	extra     int // more small images, in the folder "many"
	// raw are more files, by path in the images folder, with their bytes as given.
	raw map[string][]byte
	// identity, when set, is the stand-in's principal (e.g. without annotationsAcl:WRITE).
	identity *cdflocal.Identity
	// standInData is the stand-in's data folder, where it keeps annotations (default: memory).
	standInData string
	// faults, when set, is asked about every request to the stand-in (see cdflocal.Config).
	faults func(*http.Request) *cdflocal.Fault
	// annotationIDsOf is handlers.Config.AnnotationIDsOf.
	annotationIDsOf func(ctx context.Context, roomID string, u rooms.User, fileID int64) (map[int64]bool, error)
	// observe, metrics and ready are handlers.Config's ObserveRequest, Metrics and Ready.
	observe func(method, route string, status int, d time.Duration)
	metrics http.Handler
	ready   func(context.Context) error
	// socketLimits is handlers.Config.SocketLimits.
	socketLimits handlers.SocketLimits
}

// lockedBuffer is the app's log: written by the server's goroutines, read by the test.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns everything logged so far.
func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Reset forgets what was logged.
func (b *lockedBuffer) Reset() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Reset()
}

// writeJPEG writes a w×h JPEG with a bright square in the middle on a dark background.
func writeJPEG(t testing.TB, path string, w, h int) {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			c := color.RGBA{20, 30, 40, 255}
			if x > w/4 && x < 3*w/4 && y > h/4 && y < 3*h/4 {
				c = color.RGBA{230, 200, 40, 255}
			}
			img.Set(x, y, c)
		}
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, nil); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func setup(t testing.TB, opt options) *app {
	t.Helper()
	dir := t.TempDir()
	writeJPEG(t, filepath.Join(dir, "square.jpg"), 120, 90)
	writeJPEG(t, filepath.Join(dir, "big", "large.jpg"), 400, 300)
	if err := os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("not an image"), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, b := range opt.raw {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for i := range opt.extra {
		writeJPEG(t, filepath.Join(dir, "many", fmt.Sprintf("img%03d.jpg", i)), 8, 8)
	}
	standIn, err := cdflocal.New(cdflocal.Config{
		ImagesDir: dir,
		Project:   "test-project",
		Token:     standInToken,
		Engine:    segment.New(segment.Options{}),
		Identity:  opt.identity,
		Faults:    opt.faults,
		DataDir:   opt.standInData,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { standIn.Close() })
	cdfServer := httptest.NewServer(standIn)
	t.Cleanup(cdfServer.Close)

	hc := oauth2.NewClient(context.Background(), oauth2.StaticTokenSource(&oauth2.Token{AccessToken: standInToken}))
	client := cdf.New(cdfServer.URL, "test-project", hc)
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
	writer := rooms.NewWriter(st.Outbox(), func(context.Context, string) (rooms.AnnotationsAPI, error) { return client.Annotations, nil },
		rooms.WriterOptions{Notify: handlers.PublishSaves(events)})
	teams := rooms.New(rooms.Config{Store: st.Rooms(), Publisher: events, Jobs: manager, Writer: writer})

	segmenters, err := vision.New(context.Background(), vision.Config{Kind: vision.KindCDF})
	if err != nil {
		t.Fatal(err)
	}
	logs := &lockedBuffer{}
	h := handlers.New(handlers.Config{
		Segmenters:  segmenters,
		Log:         slog.New(slog.NewTextHandler(logs, nil)),
		Mode:        "local",
		Project:     "test-project",
		Auth:        sessions,
		LocalSignIn: true,
		Clients:     func(context.Context, handlers.User) (*cdf.Client, error) { return client, nil },
		Jobs:        manager,
		Hub:         events,
		Rooms:       teams,
		Writer:      writer,
		MaxPixels:   opt.maxPixels,

		AnnotationIDsOf: opt.annotationIDsOf,
		ObserveRequest:  opt.observe,
		Metrics:         opt.metrics,
		Ready:           opt.ready,
		SocketLimits:    opt.socketLimits,
	})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)

	a := &app{url: srv.URL, files: map[string]int64{}, logs: logs, cdf: client, writer: writer, standIn: standIn, store: st, hub: events}
	list, err := client.Files.List(context.Background(), cdf.FileFilter{}, cdf.ListOptions{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range list.Items {
		a.files[f.Name] = f.ID
	}
	a = a.signIn(t, "Tester")
	// Every page of the session carries the same token in its meta tag.
	doc := a.page(t, fmt.Sprintf("/images/%d", a.files["square.jpg"]), http.StatusOK)
	if meta, _ := doc.Find(`meta[name="csrf-token"]`).Attr("content"); meta != a.csrf {
		t.Fatalf("page CSRF token %q, want %q", meta, a.csrf)
	}
	return a
}

func (a *app) page(t testing.TB, path string, want int) *goquery.Document {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, a.url+path, nil)
	req.Header.Set("Accept", "text/html")
	res, err := a.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != want {
		body, _ := io.ReadAll(res.Body)
		t.Fatalf("GET %s: status %d, want %d: %s", path, res.StatusCode, want, body)
	}
	doc, err := goquery.NewDocumentFromReader(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

// post sends a JSON body with the CSRF header, as the page's fetch does.
func (a *app) post(t *testing.T, path, contentType string, body []byte, csrf bool) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, a.url+path, bytes.NewReader(body))
	req.Header.Set("Content-Type", contentType)
	if csrf {
		req.Header.Set("X-CSRF-Token", a.csrf)
	}
	res, err := a.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

func (a *app) segmentPath(name string) string {
	return fmt.Sprintf("/api/images/%d/segment", a.files[name])
}

func TestSegmentRejectsBadInput(t *testing.T) {
	a := setup(t, options{maxPixels: 50_000}) // 400×300 = 120 000 pixels is over the limit
	many := make([]string, 101)
	for i := range many {
		many[i] = fmt.Sprintf(`{"x":%g,"y":0.5,"label":1}`, float64(i)/200)
	}
	tests := []struct {
		name, path, contentType, body string
		noCSRF                        bool
		status                        int
		message                       string
	}{
		{name: "point outside", body: `{"objectId":"o1","version":1,"points":[{"x":1.2,"y":0.5,"label":1}]}`, status: 400, message: "outside the image"},
		{name: "negative coordinate", body: `{"objectId":"o1","version":1,"points":[{"x":0.2,"y":-0.01,"label":1}]}`, status: 400, message: "outside the image"},
		{name: "label 2", body: `{"objectId":"o1","version":1,"points":[{"x":0.5,"y":0.5,"label":2}]}`, status: 400, message: "label 2"},
		{name: "missing label", body: `{"objectId":"o1","version":1,"points":[{"x":0.5,"y":0.5}]}`, status: 400, message: "needs x, y and label"},
		{name: "empty prompt", body: `{"objectId":"o1","version":1,"points":[]}`, status: 400, message: "prompt is empty"},
		{name: "too many points", body: `{"objectId":"o1","version":1,"points":[` + strings.Join(many, ",") + `]}`, status: 400, message: "at most 100"},
		{name: "inverted box", body: `{"objectId":"o1","version":1,"points":[],"box":{"xMin":0.6,"yMin":0.1,"xMax":0.4,"yMax":0.5}}`, status: 400, message: "inverted"},
		{name: "zero-area box", body: `{"objectId":"o1","version":1,"points":[],"box":{"xMin":0.4,"yMin":0.1,"xMax":0.4,"yMax":0.5}}`, status: 400, message: "inverted"},
		{name: "bad object id", body: `{"objectId":"../x","version":1,"points":[{"x":0.5,"y":0.5,"label":1}]}`, status: 400, message: "objectId"},
		{name: "version 0", body: `{"objectId":"o1","version":0,"points":[{"x":0.5,"y":0.5,"label":1}]}`, status: 400, message: "version"},
		{name: "malformed JSON", body: `{"objectId":"o1",`, status: 400, message: "not valid JSON"},
		{name: "wrong type", body: `{"objectId":"o1","version":"one","points":[]}`, status: 400, message: "version"},
		{name: "unknown field", body: `{"objectId":"o1","version":1,"points":[],"extra":1}`, status: 400, message: "extra"},
		{name: "wrong content type", contentType: "text/plain", body: `{}`, status: 415, message: "JSON"},
		{name: "oversized body", body: `{"objectId":"` + strings.Repeat("a", 70<<10) + `"}`, status: 413, message: "too large"},
		{name: "no CSRF token", body: `{"objectId":"o1","version":1,"points":[{"x":0.5,"y":0.5,"label":1}]}`, noCSRF: true, status: 403, message: "CSRF"},
		{name: "unknown file", path: "/api/images/999999/segment", body: `{"objectId":"o1","version":1,"points":[{"x":0.5,"y":0.5,"label":1}]}`, status: 404, message: "does not exist"},
		{name: "not a number", path: "/api/images/abc/segment", body: `{"objectId":"o1","version":1,"points":[{"x":0.5,"y":0.5,"label":1}]}`, status: 400, message: "not a file id"},
		{name: "not an image", path: "notes.txt", body: `{"objectId":"o1","version":1,"points":[{"x":0.5,"y":0.5,"label":1}]}`, status: 422, message: "not a JPEG or PNG"},
		{name: "over the pixel limit", path: "large.jpg", body: `{"objectId":"o1","version":1,"points":[{"x":0.5,"y":0.5,"label":1}]}`, status: 422, message: "the limit is"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := tt.path
			switch {
			case path == "":
				path = a.segmentPath("square.jpg")
			case !strings.HasPrefix(path, "/"):
				path = a.segmentPath(path)
			}
			ct := tt.contentType
			if ct == "" {
				ct = "application/json"
			}
			status, body := a.post(t, path, ct, []byte(tt.body), !tt.noCSRF)
			if status != tt.status {
				t.Fatalf("status %d, want %d: %s", status, tt.status, body)
			}
			var e struct {
				Error struct{ Message string } `json:"error"`
			}
			if err := json.Unmarshal([]byte(body), &e); err != nil {
				t.Fatalf("error body is not JSON: %q", body)
			}
			if !strings.Contains(e.Error.Message, tt.message) {
				t.Errorf("message %q does not mention %q", e.Error.Message, tt.message)
			}
		})
	}
}

// dial opens the room's WebSocket as the page does, with the session's cookies.
func (a *app) dial(t *testing.T, room, origin string) (*websocket.Conn, *http.Response, error) {
	t.Helper()
	u := "ws" + strings.TrimPrefix(a.url, "http") + "/ws?room=" + room
	h := http.Header{}
	if origin != "" {
		h.Set("Origin", origin)
	}
	d := websocket.Dialer{Jar: a.client.Jar, HandshakeTimeout: 5 * time.Second}
	return d.Dial(u, h)
}

type wsMessage struct {
	Type string          `json:"type"`
	Room string          `json:"room"`
	Seq  uint64          `json:"seq"`
	Data json.RawMessage `json:"data"`
}

func TestSegmentStreamsJobToTheRoom(t *testing.T) {
	a := setup(t, options{})
	room := fmt.Sprintf("image:%d", a.files["square.jpg"])
	conn, _, err := a.dial(t, room, a.url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	var first wsMessage
	if err := conn.ReadJSON(&first); err != nil || first.Type != "snapshot" {
		t.Fatalf("first message %+v, %v; want a snapshot", first, err)
	}

	status, body := a.post(t, a.segmentPath("square.jpg"), "application/json",
		[]byte(`{"objectId":"obj-1","version":1,"points":[{"x":0.5,"y":0.5,"label":1}]}`), true)
	if status != http.StatusAccepted {
		t.Fatalf("status %d: %s", status, body)
	}
	var statuses []string
	for {
		var m wsMessage
		if err := conn.ReadJSON(&m); err != nil {
			t.Fatalf("after %v: %v", statuses, err)
		}
		if m.Type != "job.status" {
			continue
		}
		var ev jobs.Event
		if err := json.Unmarshal(m.Data, &ev); err != nil {
			t.Fatal(err)
		}
		if ev.ObjectID != "obj-1" || ev.Version != 1 {
			t.Fatalf("event for %s v%d", ev.ObjectID, ev.Version)
		}
		statuses = append(statuses, string(ev.Status))
		if ev.Status == "failed" {
			t.Fatalf("job failed: %s", ev.Error)
		}
		if ev.Status == "done" {
			if len(ev.Segments) == 0 || len(ev.Segments[0].Polygons) == 0 || ev.BoundingBox == nil {
				t.Fatalf("done without a polygon: %+v", ev)
			}
			b := ev.BoundingBox
			if !(b.XMin < 0.5 && 0.5 < b.XMax && b.YMin < 0.5 && 0.5 < b.YMax) {
				t.Errorf("box %+v does not hold the click", b)
			}
			break
		}
	}
	if statuses[0] != "queued" {
		t.Errorf("statuses %v, want queued first", statuses)
	}

	// A reconnecting client gets the object's latest state in its snapshot.
	conn2, _, err := a.dial(t, room, a.url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn2.Close()
	var snap struct {
		Data struct{ Objects []jobs.Event } `json:"data"`
	}
	_ = conn2.SetReadDeadline(time.Now().Add(5 * time.Second))
	if err := conn2.ReadJSON(&snap); err != nil {
		t.Fatal(err)
	}
	if len(snap.Data.Objects) != 1 || snap.Data.Objects[0].Status != "done" {
		t.Errorf("snapshot %+v, want the done object", snap.Data.Objects)
	}

	// An older version of the prompt is refused once a newer one was sent.
	status, _ = a.post(t, a.segmentPath("square.jpg"), "application/json",
		[]byte(`{"objectId":"obj-1","version":1,"points":[{"x":0.4,"y":0.5,"label":1}]}`), true)
	if status != http.StatusConflict {
		t.Errorf("stale version: status %d, want 409", status)
	}
	if strings.Contains(a.logs.String(), standInToken) {
		t.Error("the token appears in the log")
	}
}

func TestWebSocketRefusals(t *testing.T) {
	a := setup(t, options{})
	room := fmt.Sprintf("image:%d", a.files["square.jpg"])
	tests := []struct {
		name, room, origin string
		status             int
	}{
		{"foreign origin", room, "https://evil.example", http.StatusForbidden},
		{"no origin", room, "", http.StatusForbidden},
		{"bad room", "lobby", a.url, http.StatusBadRequest},
		{"unknown image", "image:999999", a.url, http.StatusNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn, res, err := a.dial(t, tt.room, tt.origin)
			if err == nil {
				conn.Close()
				t.Fatal("upgrade succeeded")
			}
			if res == nil || res.StatusCode != tt.status {
				t.Fatalf("response %v, want status %d", res, tt.status)
			}
		})
	}
}

func TestPagesAndProxies(t *testing.T) {
	a := setup(t, options{})
	doc := a.page(t, "/", http.StatusOK)
	if n := doc.Find(`a[href^="/images/"]`).Length(); n != 2 {
		t.Errorf("browser lists %d images, want 2 (the text file is not an image)", n)
	}
	doc = a.page(t, "/?dir=/big", http.StatusOK)
	if n := doc.Find(`a[href^="/images/"]`).Length(); n != 1 {
		t.Errorf("directory filter: %d images, want 1", n)
	}
	doc = a.page(t, "/?name=square", http.StatusOK)
	if n := doc.Find(`a[href^="/images/"]`).Length(); n != 1 {
		t.Errorf("name filter: %d images, want 1", n)
	}
	a.page(t, "/images/999999", http.StatusNotFound)
	a.page(t, "/nowhere", http.StatusNotFound)

	for _, path := range []string{
		fmt.Sprintf("/files/%d/icon", a.files["square.jpg"]),
		fmt.Sprintf("/files/%d/content", a.files["square.jpg"]),
	} {
		res, err := a.client.Get(a.url + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "image/jpeg" {
			t.Errorf("%s: status %d, type %q", path, res.StatusCode, res.Header.Get("Content-Type"))
		}
		if _, _, err := image.Decode(bytes.NewReader(body)); err != nil {
			t.Errorf("%s: not an image: %v", path, err)
		}
	}
	res, err := a.client.Get(fmt.Sprintf("%s/files/%d/content", a.url, a.files["notes.txt"]))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusUnprocessableEntity {
		t.Errorf("content of a text file: status %d, want 422", res.StatusCode)
	}
}

func TestSecurityHeaders(t *testing.T) {
	a := setup(t, options{})
	res, err := a.client.Get(a.url + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	csp := res.Header.Get("Content-Security-Policy")
	for _, want := range []string{"script-src 'self'", "frame-ancestors 'none'", "object-src 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	if strings.Contains(csp, "unsafe-inline") {
		t.Errorf("CSP allows inline code: %q", csp)
	}
	if res.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Error("no nosniff")
	}
	if strings.Contains(string(body), standInToken) {
		t.Error("the CDF token appears in the page")
	}
	// The one CSRF cookie, the sign-in form's, is checked in TestCSRFCookieOnlyOnTheSignInForm.
}

func TestSignIn(t *testing.T) {
	a := setup(t, options{})
	anon := browser()
	image := fmt.Sprintf("/images/%d", a.files["square.jpg"])

	// Without a session a page load goes to the sign-in form and comes back afterwards.
	req, _ := http.NewRequest(http.MethodGet, a.url+image, nil)
	req.Header.Set("Accept", "text/html")
	res, err := anon.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if want := "/signin?return_to=" + url.QueryEscape(image); res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != want {
		t.Errorf("anonymous page load: %d to %q, want 303 to %q", res.StatusCode, res.Header.Get("Location"), want)
	}
	// Fetch and WebSocket get 401.
	token := csrfToken(t, anon, a.url)
	req, _ = http.NewRequest(http.MethodPost, a.url+a.segmentPath("square.jpg"), strings.NewReader(`{}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-CSRF-Token", token)
	if res, err = anon.Do(req); err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusUnauthorized {
		t.Errorf("anonymous prompt: status %d, want 401", res.StatusCode)
	}
	stranger := &app{url: a.url, client: anon}
	if _, res, err := stranger.dial(t, fmt.Sprintf("image:%d", a.files["square.jpg"]), a.url); err == nil || res == nil || res.StatusCode != http.StatusUnauthorized {
		t.Errorf("anonymous WebSocket: %v, %v; want 401", res, err)
	}

	post := func(c *http.Client, form url.Values) *http.Response {
		t.Helper()
		res, err := c.PostForm(a.url+"/signin", form)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res
	}
	if res := post(anon, url.Values{"name": {"  "}, "_csrf": {token}}); res.StatusCode != http.StatusBadRequest {
		t.Errorf("blank name: status %d, want 400", res.StatusCode)
	}
	if res := post(browser(), url.Values{"name": {"Mallory"}}); res.StatusCode != http.StatusForbidden {
		t.Errorf("sign-in without CSRF token: status %d, want 403", res.StatusCode)
	}
	for _, evil := range []string{"https://evil.example/", "//evil.example", `/\evil.example`, "javascript:alert(1)"} {
		// Each sign-in brings a new token: the form is loaded again, as a browser would.
		res := post(anon, url.Values{"name": {"Ana"}, "_csrf": {csrfToken(t, anon, a.url)}, "return_to": {evil}})
		if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/" {
			t.Errorf("return_to %q: %d to %q, want 303 to /", evil, res.StatusCode, res.Header.Get("Location"))
		}
		var session *http.Cookie
		for _, c := range res.Cookies() {
			if c.Name == auth.DefaultCookieName {
				session = c
			}
		}
		if session == nil || !session.HttpOnly || session.SameSite != http.SameSiteLaxMode || session.Secure {
			t.Errorf("session cookie %+v: want HttpOnly, SameSite=Lax, not Secure over plain HTTP", session)
		}
	}

	// Signing out needs the CSRF token, then ends the session.
	if res, err := a.client.PostForm(a.url+"/auth/logout", url.Values{}); err != nil || res.StatusCode != http.StatusForbidden {
		t.Errorf("sign-out without CSRF token: %v, %v; want 403", res, err)
	}
	res, err = a.client.PostForm(a.url+"/auth/logout", url.Values{"_csrf": {a.csrf}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther {
		t.Errorf("sign-out: status %d", res.StatusCode)
	}
	req, _ = http.NewRequest(http.MethodGet, a.url+"/", nil)
	req.Header.Set("Accept", "text/html")
	if res, err = a.client.Do(req); err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(res.Header.Get("Location"), "/signin") {
		t.Errorf("after sign-out: %d to %q, want the sign-in page", res.StatusCode, res.Header.Get("Location"))
	}
}

// TestUsersAreIsolated: two users on the same image never see each other's jobs, neither
// live nor in the snapshot.
func TestUsersAreIsolated(t *testing.T) {
	ana := setup(t, options{})
	ben := ana.signIn(t, "Ben")
	room := fmt.Sprintf("image:%d", ana.files["square.jpg"])
	benConn, _, err := ben.dial(t, room, ben.url)
	if err != nil {
		t.Fatal(err)
	}
	defer benConn.Close()
	anaConn, _, err := ana.dial(t, room, ana.url)
	if err != nil {
		t.Fatal(err)
	}
	defer anaConn.Close()
	var m wsMessage
	for _, c := range []*websocket.Conn{benConn, anaConn} {
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if err := c.ReadJSON(&m); err != nil || m.Type != "snapshot" {
			t.Fatalf("first message %+v, %v", m, err)
		}
	}
	status, body := ana.post(t, ana.segmentPath("square.jpg"), "application/json",
		[]byte(`{"objectId":"anas","version":1,"points":[{"x":0.5,"y":0.5,"label":1}]}`), true)
	if status != http.StatusAccepted {
		t.Fatalf("status %d: %s", status, body)
	}
	// Ana sees her job finish...
	for {
		_ = anaConn.SetReadDeadline(time.Now().Add(20 * time.Second))
		if err := anaConn.ReadJSON(&m); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(m.Data), `"done"`) || strings.Contains(string(m.Data), `"failed"`) {
			break
		}
	}
	// ...and Ben got nothing in the meantime.
	_ = benConn.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if err := benConn.ReadJSON(&m); err == nil {
		t.Errorf("Ben received Ana's event: %+v", m)
	}
	benConn2, _, err := ben.dial(t, room, ben.url)
	if err != nil {
		t.Fatal(err)
	}
	defer benConn2.Close()
	_ = benConn2.SetReadDeadline(time.Now().Add(5 * time.Second))
	if err := benConn2.ReadJSON(&m); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(m.Data), "anas") {
		t.Errorf("Ben's snapshot holds Ana's object: %s", m.Data)
	}
}

func TestBrowserPages(t *testing.T) {
	a := setup(t, options{extra: 60})
	doc := a.page(t, "/?dir=/many", http.StatusOK)
	first := doc.Find(`a[href^="/images/"]`).Length()
	next, ok := doc.Find(`a[href*="cursor="]`).Attr("href")
	if first != 48 || !ok {
		t.Fatalf("first page: %d images, next link %v; want 48 and a next page", first, ok)
	}
	doc = a.page(t, next, http.StatusOK)
	if n := doc.Find(`a[href^="/images/"]`).Length(); n != 12 {
		t.Errorf("second page: %d images, want 12", n)
	}
	if doc.Find(`a[href*="cursor="]`).Length() != 0 {
		t.Error("the last page links to a next one")
	}
	a.page(t, "/?cursor=forged", http.StatusBadRequest)
}

// TestBrowserDirectoriesOfWholeProject: the directory filter offers the folders of the whole
// project, not only of the first page (48 of 63 files here), and a folder with only non-images
// is not offered.
func TestBrowserDirectoriesOfWholeProject(t *testing.T) {
	tmp := filepath.Join(t.TempDir(), "end.jpg")
	writeJPEG(t, tmp, 8, 8)
	jpg, err := os.ReadFile(tmp)
	if err != nil {
		t.Fatal(err)
	}
	a := setup(t, options{extra: 60, raw: map[string][]byte{"zzz/end.jpg": jpg, "docs/readme.txt": []byte("text")}})
	doc := a.page(t, "/", http.StatusOK)
	if doc.Find(`a[href*="cursor="]`).Length() == 0 {
		t.Fatal("the project fits one page; the test needs more")
	}
	var dirs []string
	doc.Find(`select[data-filter-dir] option[value]`).Each(func(_ int, o *goquery.Selection) {
		if v, _ := o.Attr("value"); v != "" {
			dirs = append(dirs, v)
		}
	})
	if want := []string{"/big", "/many", "/zzz"}; !slices.Equal(dirs, want) {
		t.Errorf("directories offered: %v, want %v", dirs, want)
	}
}
