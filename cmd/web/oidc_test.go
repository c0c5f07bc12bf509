package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/oauth2-proxy/mockoidc"

	"github.com/lassoteam/lasso/cdf/cdflocal"
	"github.com/lassoteam/lasso/segment"
)

// recorder collects what crossed a boundary, for the token-leak checks.
type recorder struct {
	mu     sync.Mutex
	issued []string // tokens the provider handed out
	bearer []string // bearer tokens CDF received
}

func (r *recorder) add(list *[]string, s string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	*list = append(*list, s)
}

// syncBuffer is a log sink that the app writes to from many goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestCDFModeSignInAndTokens runs the real main in CDF mode against a real OIDC provider
// (mockoidc) and the CDF stand-in: a user signs in with authorization code + PKCE, uses the
// app, and every CDF request carries that user's own token, while no token ever shows in a
// page, a script, a WebSocket message or the log.
func TestCDFModeSignInAndTokens(t *testing.T) {
	rec := &recorder{}
	op := startProvider(t, func(token string) { rec.add(&rec.issued, token) })

	// The stand-in plays CDF: it accepts any bearer, and records which one it got.
	standIn, err := cdflocal.New(cdflocal.Config{ImagesDir: "../../static/samples", Project: "acme", Engine: segment.New(segment.Options{})})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { standIn.Close() })
	cdfServer := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h := r.Header.Get("Authorization"); h != "" {
			rec.add(&rec.bearer, strings.TrimPrefix(h, "Bearer "))
		}
		standIn.ServeHTTP(w, r)
	}))
	t.Cleanup(cdfServer.Close)

	addr, base, env := cdfModeEnv(t, op, cdfServer.URL)
	env["LASSO_ADDR"] = addr
	logs := &syncBuffer{}
	startAppEnv(t, env, logs)

	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar, Timeout: 20 * time.Second}
	var seen bytes.Buffer // everything the browser received
	get := func(path string) string {
		t.Helper()
		res, err := browser.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(res.Body)
		for k, v := range res.Header {
			fmt.Fprintf(&seen, "%s: %s\n", k, v)
		}
		seen.Write(body)
		if res.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: status %d (final URL %s)", path, res.StatusCode, res.Request.URL)
		}
		return string(body)
	}

	// Opening an image sends the user through the provider and back to that image.
	image, ok := standIn.FileID("animals/chelsea.jpg")
	if !ok {
		t.Fatal("no sample image")
	}
	page := get(fmt.Sprintf("/images/%d", image))
	if !strings.Contains(page, "ana") || !strings.Contains(page, "chelsea.jpg") {
		t.Fatalf("after sign-in the image page lacks the user or the image:\n%.500s", page)
	}
	if strings.Contains(page, "warning-banner") {
		t.Error("a user with every capability is warned about missing ones")
	}
	csrf := regexp.MustCompile(`name="csrf-token" content="([^"]+)"`).FindStringSubmatch(page)
	if csrf == nil {
		t.Fatal("no CSRF token in the page")
	}
	get("/")
	get(fmt.Sprintf("/files/%d/icon", image))
	get(fmt.Sprintf("/files/%d/content", image))
	for _, js := range []string{"annotate.js", "socket.js", "objects.js", "panel.js", "geometry.js", "browser.js"} {
		get("/static/js/" + js)
	}

	// A prompt's job, followed over the WebSocket.
	u, _ := url.Parse(base)
	dialer := websocket.Dialer{Jar: jar}
	conn, _, err := dialer.Dial(fmt.Sprintf("ws://%s/ws?room=image:%d", u.Host, image), http.Header{"Origin": {base}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	req, _ := http.NewRequest(http.MethodPost, fmt.Sprintf("%s/api/images/%d/segment", base, image),
		strings.NewReader(`{"objectId":"o1","version":1,"points":[{"x":0.6,"y":0.55,"label":1}]}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-CSRF-Token", csrf[1])
	res, err := browser.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusAccepted {
		t.Fatalf("prompt: status %d", res.StatusCode)
	}
	for {
		_ = conn.SetReadDeadline(time.Now().Add(20 * time.Second))
		_, msg, err := conn.ReadMessage()
		if err != nil {
			t.Fatal(err)
		}
		seen.Write(msg)
		if bytes.Contains(msg, []byte(`"status":"done"`)) {
			break
		}
		if bytes.Contains(msg, []byte(`"status":"failed"`)) {
			t.Fatalf("job failed: %s", msg)
		}
	}

	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.issued) < 2 {
		t.Fatalf("the provider issued %d tokens", len(rec.issued))
	}
	access := rec.issued[0]
	if len(rec.bearer) == 0 {
		t.Fatal("CDF received no request")
	}
	for _, b := range rec.bearer {
		if b != access {
			t.Errorf("CDF got a bearer token that is not the user's access token: %.12s…", b)
		}
	}
	all := seen.String() + logs.String()
	for _, tok := range rec.issued {
		if strings.Contains(all, tok) {
			t.Errorf("a token (%.12s…) shows in a response, a WebSocket message or the log", tok)
		}
	}
}

// startAppEnv runs the real main with the given environment until the test ends.
func startAppEnv(t *testing.T, env map[string]string, logs io.Writer) {
	t.Helper()
	ctx, cancel := contextWithCancel()
	out := &syncBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-data", t.TempDir()}, func(k string) string { return env[k] }, out, logs)
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(out.String(), "http://") {
		if time.Now().After(deadline) {
			t.Fatalf("the app did not start; log:\n%s", logs)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func contextWithCancel() (context.Context, context.CancelFunc) {
	return context.WithCancel(context.Background())
}

// cdfModeEnv is the environment of the app in CDF mode against the CDF at cdfURL (project
// "acme") with op as the identity provider, on a free loopback port: the public URL must be
// known before the app starts, so a port is reserved and given back.
func cdfModeEnv(t *testing.T, op *mockoidc.MockOIDC, cdfURL string) (addr, base string, env map[string]string) {
	t.Helper()
	probe, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr = probe.Addr().String()
	probe.Close()
	base = "http://" + addr
	return addr, base, map[string]string{
		"CDF_BASE_URL":             cdfURL,
		"CDF_PROJECT":              "acme",
		"LASSO_OIDC_ISSUER":        op.Issuer(),
		"LASSO_OIDC_CLIENT_ID":     op.ClientID,
		"LASSO_OIDC_CLIENT_SECRET": op.ClientSecret,
		"LASSO_OIDC_SCOPES":        "openid profile email", // what mockoidc supports
		"LASSO_PUBLIC_URL":         base,
	}
}

// startProvider starts mockoidc on a loopback port with "ana" queued to sign in. Its token
// answers say expires_in in seconds (mockoidc writes a Go duration there), and issued, if set,
// is told every token it hands out.
func startProvider(t *testing.T, issued func(token string)) *mockoidc.MockOIDC {
	t.Helper()
	op, err := mockoidc.NewServer(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := op.AddMiddleware(tokenAnswers(issued)); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := op.Start(ln, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { op.Shutdown() })
	op.QueueUser(&mockoidc.MockUser{Subject: "ana-123", Email: "ana@example.com", PreferredUsername: "ana"})
	return op
}

// tokenAnswers is the mockoidc middleware of startProvider.
func tokenAnswers(issued func(token string)) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != mockoidc.TokenEndpoint {
				next.ServeHTTP(w, r)
				return
			}
			res := httptest.NewRecorder()
			next.ServeHTTP(res, r)
			var body map[string]any
			if json.Unmarshal(res.Body.Bytes(), &body) != nil || res.Code != http.StatusOK {
				w.WriteHeader(res.Code)
				w.Write(res.Body.Bytes())
				return
			}
			body["expires_in"] = 3600
			if issued != nil {
				for _, k := range []string{"access_token", "refresh_token", "id_token"} {
					if s, _ := body[k].(string); s != "" {
						issued(s)
					}
				}
			}
			w.Header().Set("Content-Type", "application/json")
			json.NewEncoder(w).Encode(body)
		})
	}
}
