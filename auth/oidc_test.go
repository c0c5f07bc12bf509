package auth_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/oauth2-proxy/mockoidc"

	"github.com/lassoteam/lasso/auth"
	"github.com/lassoteam/lasso/store"
)

// harness is Lasso's sign-in as the web layer would mount it, a real OIDC provider
// (mockoidc, which checks client credentials, single-use codes and PKCE), and a stand-in
// resource server that records the bearer tokens it is sent.
type harness struct {
	t      *testing.T
	op     *mockoidc.MockOIDC
	m      *auth.Manager
	cfg    auth.Config // m's, for a second replica's Manager
	st     *store.SQLite
	dbPath string
	app    *httptest.Server
	api    *httptest.Server

	// Provider-side knobs and observations, all set through the token endpoint middleware.
	expiresIn   atomic.Int64 // seconds put into token responses (mockoidc writes nanoseconds)
	refreshes   atomic.Int32
	refreshWait atomic.Int64 // nanoseconds the refresh answer is held back, to widen races
	tamper      atomic.Pointer[func(claims jwt.MapClaims) (jwt.MapClaims, *mockoidc.Keypair)]
	endSession  atomic.Bool
	noneAlg     atomic.Bool // replace the ID token by an unsigned ("alg":"none") copy
	mu          sync.Mutex
	issued      []string        // every access, refresh and ID token the provider issued
	lastErr     error           // the last error given to OnError
	apiTokens   []string        // bearer tokens the resource server saw
	apiBodies   []string        // and the bodies it was sent
	revoked     map[string]bool // access tokens the resource server answers 401 to
	refuseAll   bool            // or every token
}

type options struct {
	secure     bool
	endSession bool // the provider advertises end_session_endpoint
}

func newHarness(t *testing.T, o options) *harness {
	t.Helper()
	h := &harness{t: t}
	h.expiresIn.Store(3600)
	h.endSession.Store(o.endSession)

	op, err := mockoidc.NewServer(nil)
	if err != nil {
		t.Fatal(err)
	}
	h.op = op
	if err := op.AddMiddleware(h.providerMiddleware); err != nil {
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

	h.api = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		h.mu.Lock()
		h.apiTokens = append(h.apiTokens, tok)
		h.apiBodies = append(h.apiBodies, string(b))
		refused := h.revoked[tok] || h.refuseAll
		h.mu.Unlock()
		if refused {
			http.Error(w, `{"error":{"code":401,"message":"Unauthorized"}}`, http.StatusUnauthorized)
			return
		}
		io.WriteString(w, "ok")
	}))
	t.Cleanup(h.api.Close)

	mux := http.NewServeMux()
	h.app = httptest.NewServer(mux)
	t.Cleanup(h.app.Close)

	h.dbPath = filepath.Join(t.TempDir(), "lasso.db")
	h.st, err = store.OpenSQLite(context.Background(), h.dbPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.st.Close() })
	key, err := auth.LoadOrCreateKeyFile(filepath.Join(t.TempDir(), "data", "session.key"))
	if err != nil {
		t.Fatal(err)
	}
	h.cfg = auth.Config{
		Sessions:      h.st.Sessions(),
		PendingLogins: h.st.PendingLogins(),
		Key:           key,
		SecureCookie:  o.secure,
		OIDC: &auth.OIDCConfig{
			Issuer:                op.Issuer(),
			ClientID:              op.ClientID,
			ClientSecret:          op.ClientSecret,
			Scopes:                []string{"profile", "email"},
			RedirectURL:           h.app.URL + "/auth/callback",
			PostLogoutRedirectURL: h.app.URL + "/",
		},
		OnError: func(w http.ResponseWriter, r *http.Request, err error) {
			h.mu.Lock()
			h.lastErr = err
			h.mu.Unlock()
			http.Error(w, "sign-in failed: "+err.Error(), http.StatusBadRequest)
		},
	}
	h.m, err = auth.New(context.Background(), h.cfg)
	if err != nil {
		t.Fatal(err)
	}
	mux.Handle("GET /auth/login", h.m.Login())
	mux.Handle("GET /auth/callback", h.m.Callback())
	mux.Handle("POST /auth/logout", h.m.Logout())
	mux.HandleFunc("GET /me", func(w http.ResponseWriter, r *http.Request) {
		s, err := h.m.Current(r)
		if err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		fmt.Fprintf(w, "%s|%s|%s", s.Name, s.Subject, s.Mode)
	})
	// /api is a page whose handler calls "CDF" with the user's own token.
	mux.HandleFunc("GET /api", func(w http.ResponseWriter, r *http.Request) {
		s, err := h.m.Current(r)
		if err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		resp, err := h.m.Client(s.ID, nil).Get(h.api.URL)
		if errors.Is(err, auth.ErrSessionEnded) {
			h.m.ClearCookie(w, r)
			http.Error(w, "session ended: "+err.Error(), http.StatusUnauthorized)
			return
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			http.Error(w, "CDF answered "+resp.Status, resp.StatusCode)
			return
		}
		io.WriteString(w, "called")
	})
	// POST /api sends its body on to "CDF", as a segment or annotation call does.
	mux.HandleFunc("POST /api", func(w http.ResponseWriter, r *http.Request) {
		s, err := h.m.Current(r)
		if err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		b, _ := io.ReadAll(r.Body)
		resp, err := h.m.Client(s.ID, nil).Post(h.api.URL, "application/json", bytes.NewReader(b))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		resp.Body.Close()
		w.WriteHeader(resp.StatusCode)
	})
	return h
}

// providerMiddleware sits in front of mockoidc's endpoints: it advertises an end-session
// endpoint when asked, fixes expires_in (mockoidc writes a Go duration), records the tokens
// issued, and lets a test re-sign the ID token with changed claims or another key.
func (h *harness) providerMiddleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case mockoidc.DiscoveryEndpoint:
			rec := httptest.NewRecorder()
			next.ServeHTTP(rec, r)
			var doc map[string]any
			json.Unmarshal(rec.Body.Bytes(), &doc)
			if h.endSession.Load() {
				doc["end_session_endpoint"] = h.op.Addr() + "/oidc/logout"
			}
			json.NewEncoder(w).Encode(doc)
		case mockoidc.TokenEndpoint:
			r.ParseForm()
			grant := r.PostForm.Get("grant_type")
			if grant == "refresh_token" {
				h.refreshes.Add(1)
				time.Sleep(time.Duration(h.refreshWait.Load()))
			}
			rec := httptest.NewRecorder()
			next.ServeHTTP(rec, r)
			if rec.Code != http.StatusOK {
				for k, v := range rec.Header() {
					w.Header()[k] = v
				}
				w.WriteHeader(rec.Code)
				w.Write(rec.Body.Bytes())
				return
			}
			var body map[string]any
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
				h.t.Errorf("token response: %v", err)
			}
			body["expires_in"] = h.expiresIn.Load()
			if grant == "refresh_token" {
				// Tokens minted within one second are identical; make the new one tell-tale.
				body["access_token"] = fmt.Sprintf("refreshed-%d-%s", h.refreshes.Load(), body["access_token"])
			}
			if f := h.tamper.Load(); f != nil && grant == "authorization_code" {
				body["id_token"] = h.resign(body["id_token"].(string), *f)
			}
			if h.noneAlg.Load() && grant == "authorization_code" {
				parts := strings.Split(body["id_token"].(string), ".")
				body["id_token"] = base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + parts[1] + "."
			}
			h.mu.Lock()
			for _, k := range []string{"access_token", "refresh_token", "id_token"} {
				if s, _ := body[k].(string); s != "" {
					h.issued = append(h.issued, s)
				}
			}
			h.mu.Unlock()
			w.Header().Set("Content-Type", "application/json")
			json.NewEncoder(w).Encode(body)
		default:
			next.ServeHTTP(w, r)
		}
	})
}

// resign decodes the provider's ID token, lets f change its claims (and pick a key), and
// signs the result.
func (h *harness) resign(idToken string, f func(jwt.MapClaims) (jwt.MapClaims, *mockoidc.Keypair)) string {
	parts := strings.Split(idToken, ".")
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		h.t.Fatal(err)
	}
	claims := jwt.MapClaims{}
	if err := json.Unmarshal(payload, &claims); err != nil {
		h.t.Fatal(err)
	}
	claims, kp := f(claims)
	if kp == nil {
		kp = h.op.Keypair
	}
	s, err := kp.SignJWT(claims)
	if err != nil {
		h.t.Fatal(err)
	}
	return s
}

// browser is a user agent with a cookie jar that does not follow redirects, so that each
// step of the dance is asserted.
func (h *harness) browser() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func (h *harness) do(c *http.Client, method, u string) *http.Response {
	h.t.Helper()
	req, err := http.NewRequest(method, u, nil)
	if err != nil {
		h.t.Fatal(err)
	}
	resp, err := c.Do(req)
	if err != nil {
		h.t.Fatalf("%s %s: %v", method, u, err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return resp
}

func body(resp *http.Response) string {
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func location(t *testing.T, resp *http.Response, wantStatus int) *url.URL {
	t.Helper()
	if resp.StatusCode != wantStatus {
		t.Fatalf("status %d, want %d; body %q", resp.StatusCode, wantStatus, body(resp))
	}
	// The raw header, not resp.Location(), which resolves it against the request URL.
	u, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || resp.Header.Get("Location") == "" {
		t.Fatalf("no Location: %v", err)
	}
	return u
}

// startLogin does GET /auth/login and returns the provider's authorize URL.
func (h *harness) startLogin(c *http.Client, returnTo string) *url.URL {
	h.t.Helper()
	u := h.app.URL + "/auth/login"
	if returnTo != "" {
		u += "?return_to=" + url.QueryEscape(returnTo)
	}
	return location(h.t, h.do(c, "GET", u), http.StatusFound)
}

// authorize lets the provider sign the user in and returns the callback URL it redirects to.
func (h *harness) authorize(c *http.Client, authURL *url.URL) *url.URL {
	h.t.Helper()
	return location(h.t, h.do(c, "GET", authURL.String()), http.StatusFound)
}

// signIn runs the whole dance and returns the final redirect target.
func (h *harness) signIn(c *http.Client, returnTo string) *url.URL {
	h.t.Helper()
	cb := h.authorize(c, h.startLogin(c, returnTo))
	return location(h.t, h.do(c, "GET", cb.String()), http.StatusSeeOther)
}

func (h *harness) sessionCount() int {
	h.t.Helper()
	db, err := sql.Open("sqlite", h.dbPath)
	if err != nil {
		h.t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow(`SELECT COUNT(*) FROM sessions`).Scan(&n); err != nil {
		h.t.Fatal(err)
	}
	return n
}

func (h *harness) takeErr() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	err := h.lastErr
	h.lastErr = nil
	return err
}

func findCookie(resp *http.Response, name string) *http.Cookie {
	for _, c := range resp.Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// dbBytes is everything SQLite has written: the file and its write-ahead log.
func (h *harness) dbBytes() []byte {
	var all []byte
	for _, p := range []string{h.dbPath, h.dbPath + "-wal"} {
		b, err := os.ReadFile(p)
		if err == nil {
			all = append(all, b...)
		}
	}
	return all
}

func TestSignIn(t *testing.T) {
	h := newHarness(t, options{})
	h.op.QueueUser(&mockoidc.MockUser{Subject: "user-ada", Email: "ada@example.com", PreferredUsername: "ada"})
	c := h.browser()

	authURL := h.startLogin(c, "/files?page=2")
	if !strings.HasPrefix(authURL.String(), h.op.AuthorizationEndpoint()) {
		t.Fatalf("login redirects to %s, want the provider's authorize endpoint", authURL)
	}
	q := authURL.Query()
	for k, want := range map[string]string{"response_type": "code", "client_id": h.op.ClientID,
		"redirect_uri": h.app.URL + "/auth/callback", "code_challenge_method": "S256"} {
		if q.Get(k) != want {
			t.Errorf("authorize %s = %q, want %q", k, q.Get(k), want)
		}
	}
	for _, k := range []string{"state", "nonce", "code_challenge"} {
		if len(q.Get(k)) < 43 {
			t.Errorf("authorize %s = %q: want at least 256 random bits", k, q.Get(k))
		}
	}
	if !strings.Contains(" "+q.Get("scope")+" ", " openid ") {
		t.Errorf("scope %q lacks openid", q.Get("scope"))
	}

	cb := h.authorize(c, authURL)
	if cb.Query().Get("code") == "" || cb.Query().Get("state") != q.Get("state") {
		t.Fatalf("provider redirect %s lacks the code or the state", cb)
	}
	resp := h.do(c, "GET", cb.String())
	if got := location(t, resp, http.StatusSeeOther); got.String() != "/files?page=2" {
		t.Errorf("after sign-in the browser goes to %q, want /files?page=2", got)
	}
	ck := findCookie(resp, auth.DefaultCookieName)
	if ck == nil {
		t.Fatal("no session cookie set")
	}
	if !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode || ck.Path != "/" || ck.Secure {
		t.Errorf("session cookie flags: HttpOnly=%v SameSite=%v Path=%q Secure=%v; want HttpOnly, Lax, /, not Secure over plain http without SecureCookie",
			ck.HttpOnly, ck.SameSite, ck.Path, ck.Secure)
	}
	if n := len(ck.Value); n < 43 {
		t.Errorf("session id has %d characters, want ≥ 43 (256 bits)", n)
	}

	me := h.do(c, "GET", h.app.URL+"/me")
	if got := body(me); got != "ada|user-ada|oidc" {
		t.Errorf("/me = %q, want ada|user-ada|oidc", got)
	}
	if h.sessionCount() != 1 {
		t.Errorf("%d sessions, want 1", h.sessionCount())
	}

	// The user's own token reaches the resource server.
	h.do(c, "GET", h.app.URL+"/api")
	h.mu.Lock()
	issued, seen := append([]string(nil), h.issued...), append([]string(nil), h.apiTokens...)
	h.mu.Unlock()
	if len(seen) != 1 || seen[0] != issued[0] {
		t.Errorf("resource server saw %d tokens; want the issued access token", len(seen))
	}

	// Nothing a browser or attacker could replay is at rest in clear.
	db := h.dbBytes()
	secrets := append(issued, ck.Value)
	for _, s := range secrets {
		if bytes.Contains(db, []byte(s)) {
			t.Errorf("the database holds a token or the session cookie in clear (%d chars)", len(s))
		}
	}
	// Not even pieces of a JWT (its signature part is unique per token).
	for _, s := range issued {
		if parts := strings.Split(s, "."); len(parts) == 3 && bytes.Contains(db, []byte(parts[2])) {
			t.Error("the database holds a JWT signature in clear")
		}
	}
}

func TestSecureCookies(t *testing.T) {
	h := newHarness(t, options{secure: true})
	c := h.browser()
	resp := h.do(c, "GET", h.app.URL+"/auth/login")
	var login *http.Cookie
	for _, ck := range resp.Cookies() {
		if strings.HasPrefix(ck.Name, auth.DefaultCookieName+"_login_") {
			login = ck
		}
	}
	if login == nil || !login.Secure || !login.HttpOnly || login.SameSite != http.SameSiteLaxMode || login.Path != "/auth/callback" {
		t.Errorf("login binding cookie = %+v; want Secure, HttpOnly, Lax, Path /auth/callback", login)
	}

	// Secure session cookie: sign in locally (the OIDC dance needs the Secure login cookie
	// sent back, which a jar does not do over plain http).
	rec := httptest.NewRecorder()
	if err := h.m.SignInLocal(rec, httptest.NewRequest("POST", "/", nil), "Ada"); err != nil {
		t.Fatal(err)
	}
	ck := findCookie(rec.Result(), auth.DefaultCookieName)
	if ck == nil || !ck.Secure || !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode {
		t.Errorf("session cookie = %+v; want Secure, HttpOnly, Lax", ck)
	}
}

func TestRefresh(t *testing.T) {
	h := newHarness(t, options{})
	h.expiresIn.Store(30) // inside the 60 s leeway: due for refresh at once
	c := h.browser()
	h.signIn(c, "/")
	h.expiresIn.Store(3600)
	before := h.dbBytes()

	if resp := h.do(c, "GET", h.app.URL+"/api"); resp.StatusCode != 200 {
		t.Fatalf("/api: %d %s", resp.StatusCode, body(resp))
	}
	if n := h.refreshes.Load(); n != 1 {
		t.Fatalf("%d refreshes, want 1", n)
	}
	h.mu.Lock()
	seen := append([]string(nil), h.apiTokens...)
	issued := append([]string(nil), h.issued...)
	h.mu.Unlock()
	if len(seen) != 1 || !strings.HasPrefix(seen[0], "refreshed-1-") {
		t.Fatalf("resource server saw %d tokens, want the refreshed one", len(seen))
	}
	// A second call uses the stored refreshed token without another refresh.
	h.do(c, "GET", h.app.URL+"/api")
	if n := h.refreshes.Load(); n != 1 {
		t.Errorf("%d refreshes after a second call, want still 1", n)
	}
	after := h.dbBytes()
	if bytes.Equal(before, after) {
		t.Error("the database did not change after a refresh")
	}
	for _, s := range append(issued, seen[0]) {
		if bytes.Contains(after, []byte(s)) {
			t.Error("the database holds a token in clear after the refresh")
		}
	}
	// The stored expiry moved forward: the refreshed tokens were written back.
	db, _ := sql.Open("sqlite", h.dbPath)
	defer db.Close()
	var expiry int64
	if err := db.QueryRow(`SELECT token_expiry FROM sessions`).Scan(&expiry); err != nil {
		t.Fatal(err)
	}
	if got := time.UnixMicro(expiry); time.Until(got) < 30*time.Minute {
		t.Errorf("stored token expiry %v, want about an hour ahead", got)
	}
}

// TestRefusedTokenIsRefreshedOnce: when CDF answers 401 to a token that has not expired (it
// was revoked), the client refreshes the session's tokens and sends the request again, body
// and all; eight requests refused with the same token share one refresh; a token refused
// again after its refresh gives the 401 to the caller, with one refresh more, not a loop.
func TestRefusedTokenIsRefreshedOnce(t *testing.T) {
	h := newHarness(t, options{})
	c := h.browser()
	h.signIn(c, "/")
	if resp := h.do(c, "GET", h.app.URL+"/api"); resp.StatusCode != http.StatusOK {
		t.Fatalf("/api: %d %s", resp.StatusCode, body(resp))
	}
	h.mu.Lock()
	first := h.apiTokens[0]
	h.revoked = map[string]bool{first: true}
	h.apiTokens, h.apiBodies = nil, nil
	h.mu.Unlock()

	const n = 8
	codes := concurrently(t, n, func(i int) (*http.Response, error) {
		return c.Post(h.app.URL+"/api", "application/json", strings.NewReader(fmt.Sprintf(`{"n":%d}`, i)))
	})
	if got := h.refreshes.Load(); got != 1 {
		t.Errorf("%d refreshes for %d requests refused with one token, want 1", got, n)
	}
	h.mu.Lock()
	var fresh string
	bodies := map[string]int{}
	for i, tok := range h.apiTokens {
		if tok != first {
			fresh = tok
			bodies[h.apiBodies[i]]++
		}
	}
	h.mu.Unlock()
	for i, code := range codes {
		if code != http.StatusOK || bodies[fmt.Sprintf(`{"n":%d}`, i)] != 1 {
			t.Errorf("request %d: %d, its body reached CDF with the new token %d times; want 200, once", i, code, bodies[fmt.Sprintf(`{"n":%d}`, i)])
		}
	}
	if !strings.HasPrefix(fresh, "refreshed-1-") {
		t.Errorf("the retries carried %q, want the refreshed token", fresh)
	}

	// Every token refused: one more refresh, then the 401 stands.
	h.mu.Lock()
	h.refuseAll = true
	h.mu.Unlock()
	if resp := h.do(c, "GET", h.app.URL+"/api"); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("/api with every token refused: %d, want CDF's 401", resp.StatusCode)
	}
	if got := h.refreshes.Load(); got != 2 {
		t.Errorf("%d refreshes in all, want 2 (no retry loop)", got)
	}
	if n := h.sessionCount(); n != 1 {
		t.Errorf("%d sessions: a refused token must not end the session", n)
	}
}

// concurrently makes n requests at once and returns their status codes.
func concurrently(t *testing.T, n int, request func(i int) (*http.Response, error)) []int {
	codes := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			resp, err := request(i)
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			codes[i] = resp.StatusCode
		})
	}
	wg.Wait()
	return codes
}

func TestConcurrentRefreshIsSerialised(t *testing.T) {
	h := newHarness(t, options{})
	h.expiresIn.Store(30)
	c := h.browser()
	h.signIn(c, "/")
	h.expiresIn.Store(3600)
	h.refreshWait.Store(int64(200 * time.Millisecond))

	const n = 8
	codes := concurrently(t, n, func(int) (*http.Response, error) { return c.Get(h.app.URL + "/api") })
	if got := h.refreshes.Load(); got != 1 {
		t.Errorf("%d refreshes for %d concurrent requests, want exactly 1", got, n)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.apiTokens) != n {
		t.Fatalf("resource server saw %d requests, want %d (status codes %v)", len(h.apiTokens), n, codes)
	}
	for _, tok := range h.apiTokens {
		if tok != h.apiTokens[0] || !strings.HasPrefix(tok, "refreshed-1-") {
			t.Errorf("a request carried a token other than the one refreshed token")
		}
	}
}

func TestInvalidGrantEndsSession(t *testing.T) {
	h := newHarness(t, options{})
	h.expiresIn.Store(30)
	c := h.browser()
	h.signIn(c, "/")
	h.op.QueueError(&mockoidc.ServerError{Code: http.StatusBadRequest, Error: "invalid_grant", Description: "refresh token revoked"})

	resp := h.do(c, "GET", h.app.URL+"/api")
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body(resp), "session ended") {
		t.Fatalf("/api after invalid_grant: %d, want 401 session ended", resp.StatusCode)
	}
	if n := h.sessionCount(); n != 0 {
		t.Errorf("%d sessions after invalid_grant, want 0", n)
	}
	if resp := h.do(c, "GET", h.app.URL+"/me"); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("/me after invalid_grant: %d, want 401", resp.StatusCode)
	}
	if len(h.apiTokens) != 0 {
		t.Errorf("the resource server was called %d times with a stale token", len(h.apiTokens))
	}
}

func TestProviderDownKeepsSession(t *testing.T) {
	h := newHarness(t, options{})
	h.expiresIn.Store(30)
	c := h.browser()
	h.signIn(c, "/")
	h.op.QueueError(&mockoidc.ServerError{Code: http.StatusServiceUnavailable, Error: "temporarily_unavailable"})
	if resp := h.do(c, "GET", h.app.URL+"/api"); resp.StatusCode != http.StatusBadGateway {
		t.Errorf("/api while the provider fails: %d, want 502", resp.StatusCode)
	}
	if n := h.sessionCount(); n != 1 {
		t.Errorf("%d sessions, want the session kept after a transient failure", n)
	}
	if resp := h.do(c, "GET", h.app.URL+"/api"); resp.StatusCode != http.StatusOK {
		t.Errorf("/api once the provider is back: %d, want 200", resp.StatusCode)
	}
}

func TestSignOut(t *testing.T) {
	for _, endSession := range []bool{false, true} {
		t.Run(fmt.Sprintf("end_session_endpoint=%v", endSession), func(t *testing.T) {
			h := newHarness(t, options{endSession: endSession})
			c := h.browser()
			h.signIn(c, "/")
			h.mu.Lock()
			idToken := h.issued[len(h.issued)-1]
			h.mu.Unlock()

			resp := h.do(c, "POST", h.app.URL+"/auth/logout")
			target := location(t, resp, http.StatusSeeOther)
			ck := findCookie(resp, auth.DefaultCookieName)
			if ck == nil || ck.MaxAge >= 0 {
				t.Errorf("sign-out does not clear the cookie: %+v", ck)
			}
			if endSession {
				if !strings.HasPrefix(target.String(), h.op.Addr()+"/oidc/logout?") {
					t.Errorf("sign-out goes to %s, want the end-session endpoint", target)
				}
				q := target.Query()
				if q.Get("id_token_hint") != idToken || q.Get("post_logout_redirect_uri") != h.app.URL+"/" || q.Get("client_id") != h.op.ClientID {
					t.Errorf("end-session parameters %v", q)
				}
			} else if target.String() != "/" {
				t.Errorf("sign-out goes to %s, want /", target)
			}
			if n := h.sessionCount(); n != 0 {
				t.Errorf("%d sessions after sign-out", n)
			}
			if resp := h.do(c, "GET", h.app.URL+"/me"); resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("/me after sign-out: %d", resp.StatusCode)
			}
			// GET must not sign out (it would be a CSRF-able link).
			if resp := h.do(c, "GET", h.app.URL+"/auth/logout"); resp.StatusCode == http.StatusSeeOther {
				t.Error("GET /auth/logout signs out")
			}
		})
	}
}
