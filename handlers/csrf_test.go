package handlers_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/lassoteam/lasso/handlers"
)

// request sends method path with the app's cookies, the given headers and a body, and returns
// the status and the answer.
func (a *app) request(t *testing.T, method, path string, header http.Header, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, a.url+path, strings.NewReader(body))
	for k, v := range header {
		req.Header[k] = v
	}
	res, err := a.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// TestCSRFTokenOnlyFromHeaderOrBody: the token in the query string counts for nothing, for a
// form as for a fetch; in the header or the form body it does.
func TestCSRFTokenOnlyFromHeaderOrBody(t *testing.T) {
	a := setup(t, options{})
	form := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}
	jsonH := http.Header{"Content-Type": {"application/json"}}
	q := "?_csrf=" + url.QueryEscape(a.csrf)
	if status, body := a.request(t, http.MethodPost, "/rooms"+q, form, "name="); status != http.StatusForbidden || !strings.Contains(body, "CSRF") {
		t.Errorf("form with the token in the query: %d %.100s; want 403", status, body)
	}
	if status, body := a.request(t, http.MethodPost, a.segmentPath("square.jpg")+q, jsonH, `{}`); status != http.StatusForbidden {
		t.Errorf("fetch with the token in the query: %d %.100s; want 403", status, body)
	}
	// The same requests with the token where it belongs pass the check (and fail on their
	// content instead).
	if status, body := a.request(t, http.MethodPost, "/rooms", form, "name=&_csrf="+url.QueryEscape(a.csrf)); status != http.StatusBadRequest {
		t.Errorf("form with the token in the body: %d %.100s; want 400 (no name)", status, body)
	}
	jsonH.Set("X-CSRF-Token", a.csrf)
	if status, body := a.request(t, http.MethodPost, a.segmentPath("square.jpg"), jsonH, `{}`); status != http.StatusBadRequest {
		t.Errorf("fetch with the token in the header: %d %.100s; want 400 (empty prompt)", status, body)
	}
}

// TestCSRFTokenBoundToTheBrowser: a token is bound to the browser's session cookie (or, before
// sign-in, its pre-session cookie) and changes at sign-in and at sign-out; a planted cookie
// with a matching _csrf value (plain double submit) and another user's token are refused.
func TestCSRFTokenBoundToTheBrowser(t *testing.T) {
	a := setup(t, options{})
	c := browser()
	formPost := func(path string, form url.Values) int {
		t.Helper()
		res, err := c.PostForm(a.url+path, form)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	before := csrfToken(t, c, a.url)
	if again := csrfToken(t, c, a.url); again != before {
		t.Errorf("the sign-in form's token changed between two loads: %q, %q", before, again)
	}
	if got := formPost("/signin", url.Values{"name": {"Ana"}, "_csrf": {before}}); got != http.StatusSeeOther {
		t.Fatalf("sign-in: %d", got)
	}
	during := pageCSRF(t, c, a.url)
	if during == before {
		t.Error("the token did not change at sign-in")
	}
	if got := formPost("/rooms", url.Values{"name": {""}, "_csrf": {before}}); got != http.StatusForbidden {
		t.Errorf("the sign-in form's token after sign-in: %d, want 403", got)
	}
	if got := formPost("/rooms", url.Values{"name": {""}, "_csrf": {a.csrf}}); got != http.StatusForbidden {
		t.Errorf("another user's token: %d, want 403", got)
	}
	if got := formPost("/rooms", url.Values{"name": {""}, "_csrf": {during}}); got != http.StatusBadRequest {
		t.Errorf("the session's own token: %d, want 400 (no name)", got)
	}
	if got := formPost("/auth/logout", url.Values{"_csrf": {during}}); got != http.StatusSeeOther {
		t.Fatalf("sign-out: %d", got)
	}
	if got := formPost("/signin", url.Values{"name": {"Ana"}, "_csrf": {during}}); got != http.StatusForbidden {
		t.Errorf("the session's token after sign-out: %d, want 403", got)
	}
	if got := formPost("/signin", url.Values{"name": {"Ana"}, "_csrf": {before}}); got != http.StatusForbidden {
		t.Errorf("the first sign-in form's token after sign-out: %d, want 403", got)
	}
	if after := csrfToken(t, c, a.url); after == before || after == during {
		t.Error("the sign-in form after sign-out has an old token")
	}

	// Plain double submit: a cookie planted by someone else (any name Lasso uses) and the same
	// value as the token.
	u, _ := url.Parse(a.url)
	for _, name := range []string{"lasso_csrf", "lasso_presession", "lasso_session"} {
		jar, _ := cookiejar.New(nil)
		jar.SetCookies(u, []*http.Cookie{{Name: name, Value: "planted-by-mallory-0123456789abcdef", Path: "/"}})
		planted := &http.Client{Jar: jar, Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		res, err := planted.PostForm(a.url+"/signin", url.Values{"name": {"Victim"}, "_csrf": {"planted-by-mallory-0123456789abcdef"}})
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusForbidden {
			t.Errorf("planted cookie %s with the same _csrf: %d, want 403", name, res.StatusCode)
		}
	}
}

// TestCSRFCookieOnlyOnTheSignInForm: no response sets a CSRF cookie but the local sign-in
// form, whose pre-session cookie is HttpOnly and SameSite=Lax: not static files (cacheable),
// not signed-in pages (their token is bound to the session cookie), not JSON answers.
func TestCSRFCookieOnlyOnTheSignInForm(t *testing.T) {
	a := setupConfig(t, false, func(*handlers.Config) {})
	anon := browser()
	cookies := func(c *http.Client, path string) []*http.Cookie {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, a.url+path, nil)
		req.Header.Set("Accept", "text/html")
		res, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		var set []*http.Cookie
		for _, c := range res.Cookies() {
			if c.MaxAge >= 0 { // a cookie being deleted (an ended session's) sets nothing
				set = append(set, c)
			}
		}
		return set
	}
	for _, path := range []string{"/static/app.css", "/healthz", "/nowhere"} {
		if got := cookies(anon, path); len(got) > 0 {
			t.Errorf("GET %s without a session sets %v", path, got)
		}
	}
	got := cookies(anon, "/signin")
	if len(got) != 1 || got[0].Name != "lasso_presession" || !got[0].HttpOnly || got[0].SameSite != http.SameSiteLaxMode || got[0].Value == "" {
		t.Errorf("the sign-in form sets %v, want one HttpOnly, SameSite=Lax pre-session cookie", got)
	}
	a.signInTester(t)
	for _, path := range []string{"/", "/static/app.css", fmt.Sprintf("/files/%d/icon", a.files["square.jpg"]), "/api/images/1/annotations"} {
		if got := cookies(a.client, path); len(got) > 0 {
			t.Errorf("signed in, GET %s sets %v", path, got)
		}
	}
}

// TestCrossSiteRequestsRefused: a state-changing request with a valid token is refused when
// the browser says it comes from another site (Origin, or Sec-Fetch-Site: cross-site); this
// site's pages, same-site ones per Fetch Metadata, and clients that send neither header (not
// browsers) pass on to the token check.
func TestCrossSiteRequestsRefused(t *testing.T) {
	a := setup(t, options{})
	path := a.segmentPath("square.jpg")
	for _, tt := range []struct {
		name           string
		origin, site   string
		want           int
		wantInResponse string
	}{
		{"foreign Origin", "http://evil.example", "", http.StatusForbidden, "another site"},
		{"foreign Origin, other port", strings.Replace(a.url, "127.0.0.1:", "127.0.0.1:1", 1), "", http.StatusForbidden, "another site"},
		{"https Origin of this http host", strings.Replace(a.url, "http:", "https:", 1), "", http.StatusForbidden, "another site"},
		{"null Origin", "null", "", http.StatusForbidden, "another site"},
		{"cross-site fetch", "", "cross-site", http.StatusForbidden, "another site"},
		{"cross-site fetch from this origin's name", a.url, "cross-site", http.StatusForbidden, "another site"},
		{"this origin", a.url, "", http.StatusBadRequest, "prompt is empty"},
		{"same-origin fetch", a.url, "same-origin", http.StatusBadRequest, "prompt is empty"},
		{"same-site fetch", "http://other.example.test", "same-site", http.StatusBadRequest, "prompt is empty"},
		{"user's own navigation", "", "none", http.StatusBadRequest, "prompt is empty"},
		{"not a browser", "", "", http.StatusBadRequest, "prompt is empty"},
	} {
		h := http.Header{"Content-Type": {"application/json"}, "X-Csrf-Token": {a.csrf}}
		if tt.origin != "" {
			h.Set("Origin", tt.origin)
		}
		if tt.site != "" {
			h.Set("Sec-Fetch-Site", tt.site)
		}
		if status, body := a.request(t, http.MethodPost, path, h, `{"objectId":"o1","version":1,"points":[]}`); status != tt.want || !strings.Contains(body, tt.wantInResponse) {
			t.Errorf("%s: %d %.120s; want %d saying %q", tt.name, status, body, tt.want, tt.wantInResponse)
		}
	}
	// Without the token even this site's own request is refused.
	h := http.Header{"Content-Type": {"application/json"}, "Origin": {a.url}, "Sec-Fetch-Site": {"same-origin"}}
	if status, _ := a.request(t, http.MethodPost, path, h, `{}`); status != http.StatusForbidden {
		t.Errorf("same-origin without a token: %d, want 403", status)
	}
}
