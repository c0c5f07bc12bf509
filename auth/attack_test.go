package auth_test

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/oauth2-proxy/mockoidc"
	"golang.org/x/oauth2"

	"github.com/lassoteam/lasso/auth"
)

// refused asserts that a callback response is a failed sign-in wrapping want, that no session
// cookie was set, and that no session exists.
func (h *harness) refused(resp *http.Response, want error, detail string) {
	h.t.Helper()
	if resp.StatusCode != http.StatusBadRequest {
		h.t.Errorf("status %d, want 400 from OnError", resp.StatusCode)
	}
	err := h.takeErr()
	h.t.Logf("refused: %v", err)
	if !errors.Is(err, want) {
		h.t.Errorf("error %v, want %v", err, want)
	} else if detail != "" && !strings.Contains(err.Error(), detail) {
		h.t.Errorf("error %q does not say %q", err, detail)
	}
	if ck := findCookie(resp, auth.DefaultCookieName); ck != nil && ck.MaxAge >= 0 {
		h.t.Error("a session cookie was set")
	}
	if n := h.sessionCount(); n != 0 {
		h.t.Errorf("%d sessions exist, want none", n)
	}
}

// plantLogin puts into c's jar a binding cookie sealed with the server's key for a sign-in
// with these parts, which StartLogin would not make.
func (h *harness) plantLogin(c *http.Client, state, nonce, verifier, returnTo string, expiresAt time.Time) {
	h.t.Helper()
	name, value, err := h.m.LoginCookieForTest(state, nonce, verifier, returnTo, expiresAt)
	if err != nil {
		h.t.Fatal(err)
	}
	appURL, _ := url.Parse(h.app.URL + "/auth/callback")
	c.Jar.SetCookies(appURL, []*http.Cookie{{Name: name, Value: value, Path: "/auth/callback"}})
}

// withQuery returns u with key set to value (or removed when value is "").
func withQuery(u *url.URL, key, value string) *url.URL {
	c := *u
	q := c.Query()
	if value == "" {
		q.Del(key)
	} else {
		q.Set(key, value)
	}
	c.RawQuery = q.Encode()
	return &c
}

func TestAttackMissingState(t *testing.T) {
	h := newHarness(t, options{})
	c := h.browser()
	cb := h.authorize(c, h.startLogin(c, "/"))
	h.refused(h.do(c, "GET", withQuery(cb, "state", "").String()), auth.ErrLoginState, "no state")
}

func TestAttackWrongState(t *testing.T) {
	h := newHarness(t, options{})
	c := h.browser()
	cb := h.authorize(c, h.startLogin(c, "/"))
	h.refused(h.do(c, "GET", withQuery(cb, "state", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA").String()), auth.ErrLoginState, "")
	// Even with a binding cookie for the forged state (as if planted), an unknown state fails.
	forged := "BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB"
	appURL, _ := url.Parse(h.app.URL + "/auth/callback")
	c.Jar.SetCookies(appURL, []*http.Cookie{{Name: auth.DefaultCookieName + "_login_" + forged[:12], Value: forged, Path: "/auth/callback"}})
	h.refused(h.do(c, "GET", withQuery(cb, "state", forged).String()), auth.ErrLoginState, "unknown or already used")
}

// TestAttackLoginCSRF: the attacker signs in to their own account up to the callback and
// sends the victim the callback URL. The victim's browser never started that sign-in.
func TestAttackLoginCSRF(t *testing.T) {
	h := newHarness(t, options{})
	attacker, victim := h.browser(), h.browser()
	cb := h.authorize(attacker, h.startLogin(attacker, "/"))
	h.refused(h.do(victim, "GET", cb.String()), auth.ErrLoginState, "not started in this browser")
	// The forged attempt did not use up the attacker's own pending sign-in either.
	if resp := h.do(attacker, "GET", cb.String()); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("the legitimate callback after a forged one: %d", resp.StatusCode)
	}
}

func TestAttackReplayedCallback(t *testing.T) {
	h := newHarness(t, options{})
	c := h.browser()
	cb := h.authorize(c, h.startLogin(c, "/"))
	if resp := h.do(c, "GET", cb.String()); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("first callback: %d", resp.StatusCode)
	}
	// Sign out so that "no session" below is about the replay.
	h.do(c, "POST", h.app.URL+"/auth/logout")
	h.refused(h.do(c, "GET", cb.String()), auth.ErrLoginState, "")
}

// TestAttackReplayedCallbackWithOldCookie: the callback clears the binding cookie, but a copy
// of it (kept by the user agent, or stolen with the callback URL) must not sign in again. The
// provider would refuse the used code too; the sign-in must be refused as used before that.
func TestAttackReplayedCallbackWithOldCookie(t *testing.T) {
	h := newHarness(t, options{})
	c := h.browser()
	cb := h.authorize(c, h.startLogin(c, "/"))
	cbURL := mustURL(t, h.app.URL+"/auth/callback")
	var old *http.Cookie
	for _, ck := range c.Jar.Cookies(cbURL) {
		if strings.HasPrefix(ck.Name, auth.DefaultCookieName+"_login_") {
			old = ck
		}
	}
	if old == nil {
		t.Fatal("no binding cookie in the jar")
	}
	resp := h.do(c, "GET", cb.String())
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("first callback: %d", resp.StatusCode)
	}
	if ck := findCookie(resp, old.Name); ck == nil || ck.MaxAge >= 0 {
		t.Errorf("the callback does not clear the binding cookie: %+v", ck)
	}
	if n := len(c.Jar.Cookies(cbURL)); n != 1 {
		t.Errorf("%d cookies for the callback after it, want only the session cookie", n)
	}
	h.do(c, "POST", h.app.URL+"/auth/logout")
	for _, b := range []*http.Client{c, h.browser()} {
		b.Jar.SetCookies(cbURL, []*http.Cookie{{Name: old.Name, Value: old.Value, Path: "/auth/callback"}})
		h.refused(h.do(b, "GET", cb.String()), auth.ErrLoginState, "already used")
	}
}

// TestAttackTamperedLoginCookie: the binding cookie opens only for the state it was sealed
// for, with the server's key, intact.
func TestAttackTamperedLoginCookie(t *testing.T) {
	other := newHarness(t, options{})
	for name, tamper := range map[string]func(h *harness, state, value string) string{
		"one character changed": func(_ *harness, _, value string) string {
			b := []byte(value)
			if b[len(b)/2] == 'A' {
				b[len(b)/2] = 'B'
			} else {
				b[len(b)/2] = 'A'
			}
			return string(b)
		},
		"another sign-in's cookie": func(h *harness, _, _ string) string {
			ck := loginCookie(h.do(h.browser(), "GET", h.app.URL+"/auth/login"))
			if ck == nil {
				h.t.Fatal("no binding cookie")
			}
			return ck.Value
		},
		"sealed with another key": func(h *harness, state, _ string) string {
			_, v, err := other.m.LoginCookieForTest(state, "n", "v", "/", time.Now().Add(time.Minute))
			if err != nil {
				h.t.Fatal(err)
			}
			return v
		},
	} {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t, options{})
			cbURL := mustURL(t, h.app.URL+"/auth/callback")
			c := h.browser()
			cb := h.authorize(c, h.startLogin(c, "/"))
			state := cb.Query().Get("state")
			for _, ck := range c.Jar.Cookies(cbURL) {
				if strings.HasPrefix(ck.Name, auth.DefaultCookieName+"_login_") {
					c.Jar.SetCookies(cbURL, []*http.Cookie{{Name: ck.Name, Value: tamper(h, state, ck.Value), Path: "/auth/callback"}})
				}
			}
			h.refused(h.do(c, "GET", cb.String()), auth.ErrLoginState, "unknown or already used")
		})
	}
}

// TestAttackReplayedCode: an old code is injected into a fresh sign-in of the same browser.
// The state is valid, so it reaches the provider, which refuses a code used before.
func TestAttackReplayedCode(t *testing.T) {
	h := newHarness(t, options{})
	c := h.browser()
	cb1 := h.authorize(c, h.startLogin(c, "/"))
	h.do(c, "GET", cb1.String())
	h.do(c, "POST", h.app.URL+"/auth/logout")

	cb2 := h.authorize(c, h.startLogin(c, "/"))
	replay := withQuery(cb2, "code", cb1.Query().Get("code"))
	resp := h.do(c, "GET", replay.String())
	h.refused(resp, auth.ErrLoginExchange, "invalid_grant")
	if strings.Contains(body(resp), cb1.Query().Get("code")) {
		t.Error("the error page echoes the code")
	}
}

func TestAttackProviderError(t *testing.T) {
	h := newHarness(t, options{})
	c := h.browser()
	authURL := h.startLogin(c, "/")
	state := authURL.Query().Get("state")
	cb := h.app.URL + "/auth/callback?error=access_denied&error_description=%3Cscript%3E&state=" + state
	h.refused(h.do(c, "GET", cb), auth.ErrLoginDenied, "access_denied")
}

func TestAttackWrongNonce(t *testing.T) {
	h := newHarness(t, options{})
	c := h.browser()
	authURL := h.startLogin(c, "/")
	cb := h.authorize(c, withQuery(authURL, "nonce", "attacker-chosen-nonce"))
	h.refused(h.do(c, "GET", cb.String()), auth.ErrLoginToken, "nonce")
}

// TestAttackWrongVerifier: a code issued for another PKCE challenge (e.g. intercepted from
// another client, or an attacker's own sign-in) is injected into this browser's sign-in. The
// provider sees a verifier that does not match the code's challenge and refuses.
func TestAttackWrongVerifier(t *testing.T) {
	h := newHarness(t, options{})
	c := h.browser()
	authURL := h.startLogin(c, "/")
	other := oauth2.GenerateVerifier()
	challenge := oauth2.S256ChallengeFromVerifier(other)
	cb := h.authorize(c, withQuery(authURL, "code_challenge", challenge))
	h.refused(h.do(c, "GET", cb.String()), auth.ErrLoginExchange, "invalid_grant")
}

// TestAttackMissingVerifier: a stolen code redeemed without the verifier. First at the
// provider directly (the provider must enforce PKCE, else this suite proves nothing), then
// through Lasso with a pending sign-in that lacks a verifier (Lasso must not exchange).
func TestAttackMissingVerifier(t *testing.T) {
	h := newHarness(t, options{})
	c := h.browser()
	cb := h.authorize(c, h.startLogin(c, "/"))
	form := url.Values{"grant_type": {"authorization_code"}, "code": {cb.Query().Get("code")},
		"client_id": {h.op.ClientID}, "client_secret": {h.op.ClientSecret}, "redirect_uri": {h.app.URL + "/auth/callback"}}
	resp, err := http.PostForm(h.op.TokenEndpoint(), form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		t.Fatal("the provider redeemed a PKCE code without its verifier")
	}

	// A sign-in without a verifier, bound to this browser (sealed with the server's key, as
	// if it had been made so).
	state := "CCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCC"
	h.plantLogin(c, state, "n", "", "/", time.Now().Add(time.Minute))
	cb2 := h.authorize(c, withQuery(h.startLogin(c, "/"), "state", state))
	h.refused(h.do(c, "GET", cb2.String()), auth.ErrLoginExchange, "PKCE")
}

func TestAttackExpiredLogin(t *testing.T) {
	h := newHarness(t, options{})
	c := h.browser()
	state := "DDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDD"
	past := time.Now().Add(-time.Hour)
	h.plantLogin(c, state, "n", "v", "/", past.Add(10*time.Minute))
	h.refused(h.do(c, "GET", h.app.URL+"/auth/callback?code=x&state="+state), auth.ErrLoginState, "too long")
}

// TestAttackForgedIDToken re-signs the provider's ID token with one claim or the key
// changed; go-oidc must refuse each.
func TestAttackForgedIDToken(t *testing.T) {
	otherKey, err := mockoidc.RandomKeypair(2048)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		tamper func(jwt.MapClaims, *mockoidc.Keypair) (jwt.MapClaims, *mockoidc.Keypair)
		detail string
	}{
		{"wrong audience", func(c jwt.MapClaims, _ *mockoidc.Keypair) (jwt.MapClaims, *mockoidc.Keypair) {
			c["aud"] = []string{"some-other-client"}
			return c, nil
		}, "audience"},
		{"wrong issuer", func(c jwt.MapClaims, _ *mockoidc.Keypair) (jwt.MapClaims, *mockoidc.Keypair) {
			c["iss"] = "https://evil.example/oidc"
			return c, nil
		}, "issue"},
		{"expired", func(c jwt.MapClaims, _ *mockoidc.Keypair) (jwt.MapClaims, *mockoidc.Keypair) {
			c["iat"] = time.Now().Add(-2 * time.Hour).Unix()
			c["nbf"] = time.Now().Add(-2 * time.Hour).Unix()
			c["exp"] = time.Now().Add(-time.Hour).Unix()
			return c, nil
		}, "expired"},
		{"signed by another key", func(c jwt.MapClaims, real *mockoidc.Keypair) (jwt.MapClaims, *mockoidc.Keypair) {
			// Same kid header as the real key, so the verifier picks the real public key.
			kid, _ := real.KeyID()
			otherKey.Kid = kid
			return c, otherKey
		}, "signature"},
		{"unsigned (alg none)", nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, options{})
			var f func(jwt.MapClaims) (jwt.MapClaims, *mockoidc.Keypair)
			if tc.tamper != nil {
				f = func(c jwt.MapClaims) (jwt.MapClaims, *mockoidc.Keypair) { return tc.tamper(c, h.op.Keypair) }
				h.tamper.Store(&f)
			} else {
				h.noneAlg.Store(true)
			}
			c := h.browser()
			cb := h.authorize(c, h.startLogin(c, "/"))
			h.refused(h.do(c, "GET", cb.String()), auth.ErrLoginToken, tc.detail)
		})
	}
}

func TestAttackOpenRedirect(t *testing.T) {
	h := newHarness(t, options{})
	for _, evil := range []string{
		"https://evil.example", "//evil.example", "/\\evil.example", "javascript:alert(1)",
		"/\t/evil.example", "http:/evil.example", "\\\\evil.example", "evil.example",
	} {
		c := h.browser()
		if got := h.signIn(c, evil); got.String() != "/" {
			t.Errorf("return_to %q lands on %q, want /", evil, got)
		}
		h.do(c, "POST", h.app.URL+"/auth/logout")
	}
}

func TestSafeReturnTo(t *testing.T) {
	for in, want := range map[string]string{
		"":                              "/",
		"/":                             "/",
		"/files?page=2#x":               "/files?page=2#x",
		"/rooms/abc/images/12":          "/rooms/abc/images/12",
		"https://evil.example":          "/",
		"//evil.example":                "/",
		"///evil.example":               "/",
		"/\\evil.example":               "/",
		"/a\\b":                         "/",
		"javascript:alert(1)":           "/",
		"JAVASCRIPT:alert(1)":           "/",
		"/\t/evil.example":              "/",
		"/\n/evil.example":              "/",
		"http:/evil.example":            "/",
		"evil.example":                  "/",
		"/%2F%2Fevil.example":           "/%2F%2Fevil.example", // a path on this site
		"/" + strings.Repeat("a", 3000): "/",
	} {
		if got := auth.SafeReturnTo(in); got != want {
			t.Errorf("SafeReturnTo(%q) = %q, want %q", in, got, want)
		}
	}
}
