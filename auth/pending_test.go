package auth_test

import (
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/lassoteam/lasso/auth"
)

// dbSize is the size on disk of the SQLite file with its write-ahead log and its index.
func (h *harness) dbSize() int64 {
	h.t.Helper()
	var n int64
	for _, p := range []string{h.dbPath, h.dbPath + "-wal", h.dbPath + "-shm"} {
		if st, err := os.Stat(p); err == nil {
			n += st.Size()
		}
	}
	return n
}

// usedCount is the number of sign-ins the store records as used.
func (h *harness) usedCount() int {
	h.t.Helper()
	db, err := sql.Open("sqlite", h.dbPath)
	if err != nil {
		h.t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow(`SELECT COUNT(*) FROM pending_logins_used`).Scan(&n); err != nil {
		h.t.Fatal(err)
	}
	return n
}

// loginCookie is the binding cookie resp sets, or nil.
func loginCookie(resp *http.Response) *http.Cookie {
	for _, c := range resp.Cookies() {
		if strings.HasPrefix(c.Name, auth.DefaultCookieName+"_login_") {
			return c
		}
	}
	return nil
}

// TestStartLoginKeepsDatabaseBounded is the flood: anybody may open /auth/login
// without signing in, so starting a sign-in must not grow the database. It starts 50 000
// sign-ins in process and measures the SQLite file (with -wal and -shm) before and after.
func TestStartLoginKeepsDatabaseBounded(t *testing.T) {
	h := newHarness(t, options{})
	const starts, limit = 50_000, 1 << 20
	before := h.dbSize()
	for i := range starts {
		rec := httptest.NewRecorder()
		if _, err := h.m.StartLogin(rec, httptest.NewRequest("GET", "/auth/login", nil), "/files?page=2"); err != nil {
			t.Fatalf("StartLogin %d: %v", i, err)
		}
		// Fail early rather than fill the disk when sign-ins are stored.
		if (i+1)%5000 == 0 {
			if grown := h.dbSize() - before; grown > limit {
				t.Fatalf("after %d started sign-ins the database grew by %d bytes (from %d), want at most %d", i+1, grown, before, limit)
			}
		}
	}
	after := h.dbSize()
	t.Logf("database file + -wal + -shm: %d bytes before, %d bytes after %d started sign-ins", before, after, starts)
	if after-before > limit {
		t.Errorf("the database grew by %d bytes, want at most %d", after-before, limit)
	}
	if n := h.usedCount(); n != 0 {
		t.Errorf("%d sign-ins recorded, want none", n)
	}
}

// TestFailedCallbacksStoreNothing: only a sign-in the provider completed is recorded, so
// starting sign-ins and sending their callbacks junk codes does not fill the store either.
func TestFailedCallbacksStoreNothing(t *testing.T) {
	h := newHarness(t, options{})
	c := h.browser()
	for i := range 100 {
		state := h.startLogin(c, "/").Query().Get("state")
		h.refused(h.do(c, "GET", fmt.Sprintf("%s/auth/callback?code=junk-%d&state=%s", h.app.URL, i, state)), auth.ErrLoginExchange, "")
	}
	if n := h.usedCount(); n != 0 {
		t.Errorf("%d sign-ins recorded after failed callbacks, want none", n)
	}
	h.signIn(c, "/")
	if n := h.usedCount(); n != 1 {
		t.Errorf("%d sign-ins recorded after one that succeeded, want 1", n)
	}
}

// TestSignInsInSeveralTabs: sign-ins started in several tabs of one browser each keep their
// own binding and return-to path, whatever the order they come back in.
func TestSignInsInSeveralTabs(t *testing.T) {
	h := newHarness(t, options{})
	c := h.browser()
	tabs := []string{"/files?page=1", "/files?page=2", "/rooms/r1"}
	var callbacks []*url.URL
	for _, returnTo := range tabs {
		callbacks = append(callbacks, h.authorize(c, h.startLogin(c, returnTo)))
	}
	for i := len(tabs) - 1; i >= 0; i-- {
		if got := location(t, h.do(c, "GET", callbacks[i].String()), http.StatusSeeOther); got.String() != tabs[i] {
			t.Errorf("tab %d lands on %q, want %q", i, got, tabs[i])
		}
	}
}

// TestLoginCookie: the binding cookie carries the sign-in sealed (no state, nonce or
// return-to in clear), is HttpOnly, Lax, scoped to the callback and short-lived, and fits a
// browser's 4096 bytes per cookie even with the longest return-to path, which comes back
// whole.
func TestLoginCookie(t *testing.T) {
	h := newHarness(t, options{})
	long := "/files?q=" + strings.Repeat("é", (auth.MaxReturnTo-len("/files?q="))/2)
	long += strings.Repeat("x", auth.MaxReturnTo-len(long))
	c := h.browser()
	resp := h.do(c, "GET", h.app.URL+"/auth/login?return_to="+url.QueryEscape(long))
	authURL := location(t, resp, http.StatusFound)
	ck := loginCookie(resp)
	if ck == nil {
		t.Fatal("no binding cookie")
	}
	if !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode || ck.Path != "/auth/callback" || ck.Secure || ck.MaxAge != 600 {
		t.Errorf("binding cookie flags: HttpOnly=%v SameSite=%v Path=%q Secure=%v MaxAge=%d; want HttpOnly, Lax, /auth/callback, not Secure over plain http, 600",
			ck.HttpOnly, ck.SameSite, ck.Path, ck.Secure, ck.MaxAge)
	}
	t.Logf("binding cookie: %d bytes (name and value) with a %d-byte return-to", len(ck.Name)+len(ck.Value), len(long))
	if n := len(ck.Name) + len(ck.Value); n > 4096 {
		t.Errorf("binding cookie has %d bytes with a %d-byte return-to, want at most 4096", n, len(long))
	}
	q := authURL.Query()
	for what, s := range map[string]string{"state": q.Get("state"), "nonce": q.Get("nonce"), "return-to": "xxxxxxxxxxxxxxxx"} {
		if strings.Contains(ck.Value, s) {
			t.Errorf("the binding cookie holds the %s in clear", what)
		}
	}
	cb := h.authorize(c, authURL)
	done := h.do(c, "GET", cb.String())
	location(t, done, http.StatusSeeOther)
	// http.Redirect percent-encodes the non-ASCII bytes.
	if got, err := url.QueryUnescape(done.Header.Get("Location")); err != nil || got != long {
		t.Errorf("after sign-in the browser goes to %d bytes %.40q… (%v), want the %d-byte return-to", len(got), got, err, len(long))
	}
}

// TestReturnToTooLong: a return-to path longer than MaxReturnTo is refused with a clear error,
// before anything is set.
func TestReturnToTooLong(t *testing.T) {
	h := newHarness(t, options{})
	tooLong := "/" + strings.Repeat("a", auth.MaxReturnTo)
	resp := h.do(h.browser(), "GET", h.app.URL+"/auth/login?return_to="+url.QueryEscape(tooLong))
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("status %d, want 400", resp.StatusCode)
	}
	if err := h.takeErr(); !errors.Is(err, auth.ErrLoginReturnTo) || !strings.Contains(err.Error(), "2048 bytes") {
		t.Errorf("error %v, want ErrLoginReturnTo saying 2048 bytes", err)
	}
	if ck := loginCookie(resp); ck != nil {
		t.Errorf("a binding cookie was set: %s", ck.Name)
	}
	rec := httptest.NewRecorder()
	if _, err := h.m.StartLogin(rec, httptest.NewRequest("GET", "/auth/login", nil), tooLong); !errors.Is(err, auth.ErrLoginReturnTo) {
		t.Errorf("StartLogin: %v, want ErrLoginReturnTo", err)
	}
	// The longest path allowed still starts a sign-in.
	if _, err := h.m.StartLogin(rec, httptest.NewRequest("GET", "/auth/login", nil), tooLong[:auth.MaxReturnTo]); err != nil {
		t.Errorf("StartLogin with %d bytes: %v", auth.MaxReturnTo, err)
	}
}
