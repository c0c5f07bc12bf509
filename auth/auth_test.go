package auth_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lassoteam/lasso/auth"
	"github.com/lassoteam/lasso/store"
)

// clock is a settable time source for Config.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func localManager(t *testing.T, clk *clock) (*auth.Manager, *store.SQLite) {
	t.Helper()
	st, err := store.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "lasso.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	m, err := auth.New(context.Background(), auth.Config{
		Sessions:        st.Sessions(),
		IdleTimeout:     time.Hour,
		AbsoluteTimeout: 3 * time.Hour,
		Now:             clk.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	return m, st
}

// signInLocal signs in and returns a request that carries the new session cookie.
func signInLocal(t *testing.T, m *auth.Manager, name string) (*http.Request, *http.Cookie) {
	t.Helper()
	rec := httptest.NewRecorder()
	if err := m.SignInLocal(rec, httptest.NewRequest("POST", "/signin", nil), name); err != nil {
		t.Fatalf("SignInLocal(%q): %v", name, err)
	}
	ck := findCookie(rec.Result(), auth.DefaultCookieName)
	if ck == nil {
		t.Fatal("no session cookie")
	}
	r := httptest.NewRequest("GET", "/", nil)
	r.AddCookie(ck)
	return r, ck
}

func TestSignInLocal(t *testing.T) {
	clk := &clock{t: time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)}
	m, _ := localManager(t, clk)
	r, ck := signInLocal(t, m, "  Ada Lovelace  ")
	if !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode || ck.Path != "/" || ck.Secure {
		t.Errorf("cookie flags %+v", ck)
	}
	s, err := m.Current(r)
	if err != nil {
		t.Fatal(err)
	}
	if s.Name != "Ada Lovelace" || s.Subject != "local:ada-lovelace" || s.Mode != store.ModeLocal {
		t.Errorf("session %+v", *s)
	}
	if _, err := m.TokenSource(s.ID).Token(); !errors.Is(err, auth.ErrNoTokens) {
		t.Errorf("Token of a local session: %v, want ErrNoTokens", err)
	}

	// Two browsers with different names are different users; with the same name, the same.
	r2, _ := signInLocal(t, m, "Grace")
	s2, _ := m.Current(r2)
	r3, _ := signInLocal(t, m, "ada  lovelace!")
	s3, _ := m.Current(r3)
	if s2.Subject == s.Subject || s3.Subject != s.Subject || s3.ID == s.ID {
		t.Errorf("subjects %q %q %q, ids distinct: %v", s.Subject, s2.Subject, s3.Subject, s3.ID != s.ID)
	}

	// Login via TLS sets Secure.
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("POST", "https://lasso.example/signin", nil)
	if err := m.SignInLocal(rec, req, "Ada"); err != nil {
		t.Fatal(err)
	}
	if ck := findCookie(rec.Result(), auth.DefaultCookieName); ck == nil || !ck.Secure {
		t.Errorf("cookie over TLS: %+v, want Secure", ck)
	}
}

func TestSignInLocalRotatesSession(t *testing.T) {
	m, _ := localManager(t, &clock{t: time.Now()})
	r, old := signInLocal(t, m, "Ada")
	rec := httptest.NewRecorder()
	if err := m.SignInLocal(rec, r, "Grace"); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Current(r); !errors.Is(err, auth.ErrNoSession) {
		t.Errorf("the old session survives a new sign-in: %v", err)
	}
	if ck := findCookie(rec.Result(), auth.DefaultCookieName); ck == nil || ck.Value == old.Value {
		t.Error("a new sign-in kept the old session id")
	}
}

func TestSignInLocalNames(t *testing.T) {
	m, _ := localManager(t, &clock{t: time.Now()})
	for _, bad := range []string{"", "   ", strings.Repeat("x", 65), "a\x00b", "tab\there", "bell\a", "\xff\xfe"} {
		rec := httptest.NewRecorder()
		if err := m.SignInLocal(rec, httptest.NewRequest("POST", "/", nil), bad); !errors.Is(err, auth.ErrInvalidName) {
			t.Errorf("SignInLocal(%q) = %v, want ErrInvalidName", bad, err)
		}
		if len(rec.Result().Cookies()) > 0 {
			t.Errorf("SignInLocal(%q) set a cookie", bad)
		}
	}
	for name, subject := range map[string]string{
		strings.Repeat("é", 64): "local:" + strings.Repeat("é", 64),
		"Zoë O'Brien":           "local:zoë-o-brien",
		"🙂":                     "",
	} {
		r, _ := signInLocal(t, m, name)
		s, err := m.Current(r)
		if err != nil {
			t.Fatal(err)
		}
		if subject != "" && s.Subject != subject {
			t.Errorf("subject of %q = %q, want %q", name, s.Subject, subject)
		}
		if !strings.HasPrefix(s.Subject, "local:") || len(s.Subject) <= len("local:") {
			t.Errorf("subject of %q = %q", name, s.Subject)
		}
	}
}

func TestSessionExpiry(t *testing.T) {
	clk := &clock{t: time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)}
	m, st := localManager(t, clk) // idle 1 h, absolute 3 h

	t.Run("idle", func(t *testing.T) {
		r, _ := signInLocal(t, m, "Ada")
		clk.Add(59 * time.Minute)
		if _, err := m.Current(r); err != nil {
			t.Fatalf("after 59 min: %v", err)
		}
		clk.Add(59 * time.Minute) // activity above extended the idle limit
		s, err := m.Current(r)
		if err != nil {
			t.Fatalf("59 min after the last use: %v", err)
		}
		clk.Add(61 * time.Minute)
		if _, err := m.Current(r); !errors.Is(err, auth.ErrNoSession) {
			t.Fatalf("61 min idle: %v, want ErrNoSession", err)
		}
		if _, err := st.Sessions().Get(context.Background(), s.ID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("the expired session was not deleted: %v", err)
		}
	})
	t.Run("absolute", func(t *testing.T) {
		r, _ := signInLocal(t, m, "Ada")
		for range 5 { // busy for 2.5 hours
			clk.Add(30 * time.Minute)
			if _, err := m.Current(r); err != nil {
				t.Fatal(err)
			}
		}
		clk.Add(29 * time.Minute)
		if _, err := m.Current(r); err != nil {
			t.Fatalf("2 h 59 min after sign-in: %v", err)
		}
		clk.Add(2 * time.Minute)
		if _, err := m.Current(r); !errors.Is(err, auth.ErrNoSession) {
			t.Fatalf("past the absolute limit: %v, want ErrNoSession", err)
		}
	})
	t.Run("sweep", func(t *testing.T) {
		r, _ := signInLocal(t, m, "Ada")
		s, _ := m.Current(r)
		clk.Add(2 * time.Hour)
		if err := m.Sweep(context.Background()); err != nil {
			t.Fatal(err)
		}
		if _, err := st.Sessions().Get(context.Background(), s.ID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Sweep left an expired session: %v", err)
		}
	})
	t.Run("no or unknown cookie", func(t *testing.T) {
		if _, err := m.Current(httptest.NewRequest("GET", "/", nil)); !errors.Is(err, auth.ErrNoSession) {
			t.Errorf("no cookie: %v", err)
		}
		r := httptest.NewRequest("GET", "/", nil)
		r.AddCookie(&http.Cookie{Name: auth.DefaultCookieName, Value: "made-up"})
		if _, err := m.Current(r); !errors.Is(err, auth.ErrNoSession) {
			t.Errorf("made-up cookie: %v", err)
		}
	})
}

func TestSignOutLocal(t *testing.T) {
	m, _ := localManager(t, &clock{t: time.Now()})
	r, _ := signInLocal(t, m, "Ada")
	req := httptest.NewRequest("POST", "/auth/logout", nil)
	req.Header.Set("Cookie", r.Header.Get("Cookie"))
	rec := httptest.NewRecorder()
	m.Logout().ServeHTTP(rec, req)
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/" {
		t.Errorf("logout: %d → %q", rec.Code, rec.Header().Get("Location"))
	}
	if _, err := m.Current(r); !errors.Is(err, auth.ErrNoSession) {
		t.Errorf("after logout: %v", err)
	}
	// OIDC handlers on a local-only Manager report, not panic.
	rec = httptest.NewRecorder()
	m.Login().ServeHTTP(rec, httptest.NewRequest("GET", "/auth/login", nil))
	if rec.Code != http.StatusBadRequest {
		t.Errorf("Login without OIDC: %d", rec.Code)
	}
}

func TestCapabilities(t *testing.T) {
	m, _ := localManager(t, &clock{t: time.Now()})
	r, _ := signInLocal(t, m, "Ada")
	s, _ := m.Current(r)
	if err := m.SetCapabilities(context.Background(), s.ID, []byte(`{"filesAcl:READ":true}`)); err != nil {
		t.Fatal(err)
	}
	s, _ = m.Current(r)
	if string(s.Capabilities) != `{"filesAcl:READ":true}` {
		t.Errorf("capabilities %q", s.Capabilities)
	}
	if err := m.SetCapabilities(context.Background(), "nope", nil); !errors.Is(err, auth.ErrNoSession) {
		t.Errorf("unknown session: %v", err)
	}
}

func TestKeys(t *testing.T) {
	enc, err := auth.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := auth.ParseKey(enc); err != nil {
		t.Errorf("ParseKey(GenerateKey()): %v", err)
	}
	if _, err := auth.ParseKey(strings.TrimRight(strings.NewReplacer("+", "-", "/", "_").Replace(enc), "=")); err != nil {
		t.Errorf("ParseKey of the URL alphabet: %v", err)
	}
	for _, bad := range []string{"", "not base64!!", "AAAA"} {
		if _, err := auth.ParseKey(bad); err == nil || (bad != "" && strings.Contains(err.Error(), bad)) {
			t.Errorf("ParseKey(%q) = %v; want an error that does not echo the input", bad, err)
		}
	}

	dir := t.TempDir()
	path := filepath.Join(dir, "data", "session.key")
	k1, err := auth.LoadOrCreateKeyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v, want 0600", st.Mode().Perm())
	}
	if s := fmt.Sprintf("%v %+v %#v %s", k1, k1, k1, k1); strings.Contains(s, "[") == false || strings.Contains(s, "aead") {
		t.Errorf("Key formats as %s", s)
	}
	if _, err := auth.LoadOrCreateKeyFile(path); err != nil {
		t.Errorf("reloading: %v", err)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := auth.LoadOrCreateKeyFile(path); err == nil {
		t.Error("a world-readable key file was accepted")
	}
}

// TestKeyPersistsAcrossRestart: tokens sealed by one process decrypt in the next one that
// loads the same key file (and only then).
func TestKeyPersistsAcrossRestart(t *testing.T) {
	h := newHarness(t, options{})
	c := h.browser()
	h.signIn(c, "/")
	// Another Manager over the same store with a different key cannot read the tokens and
	// ends the session rather than sending garbage.
	other, _ := auth.ParseKey(mustKey(t))
	m2, err := auth.New(context.Background(), auth.Config{Sessions: h.st.Sessions(), PendingLogins: h.st.PendingLogins(), Key: other})
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest("GET", "/", nil)
	for _, ck := range c.Jar.Cookies(mustURL(t, h.app.URL)) {
		req.AddCookie(ck)
	}
	s, err := h.m.Current(req)
	if err != nil {
		t.Fatal(err)
	}
	id := s.ID
	if _, err := h.m.TokenSource(id).Token(); err != nil {
		t.Fatalf("the right key: %v", err)
	}
	if _, err := m2.TokenSource(id).Token(); !errors.Is(err, auth.ErrSessionEnded) {
		t.Errorf("the wrong key: %v, want ErrSessionEnded", err)
	}
}

func TestRedaction(t *testing.T) {
	h := newHarness(t, options{})
	c := h.browser()
	h.signIn(c, "/")
	req := httptest.NewRequest("GET", "/", nil)
	var cookie string
	for _, ck := range c.Jar.Cookies(mustURL(t, h.app.URL)) {
		req.AddCookie(ck)
		cookie = ck.Value
	}
	s, err := h.m.Current(req)
	if err != nil {
		t.Fatal(err)
	}
	var buf strings.Builder
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("x", "session", s, "value", *s)
	out := fmt.Sprintf("%v %+v %#v %s", s, *s, *s, s) + buf.String()
	for _, secret := range append(h.issued, s.ID, cookie) {
		if strings.Contains(out, secret) {
			t.Errorf("formatting a session prints a secret: %s", out)
		}
	}
}

func mustKey(t *testing.T) string {
	t.Helper()
	k, err := auth.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
