package main

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// statusAs sends method path to base as host, without following redirects, and returns the status.
func statusAs(t *testing.T, method, base, path, host string, form url.Values) int {
	t.Helper()
	req, err := http.NewRequest(method, base+path, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	if method == http.MethodPost {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	c := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, res.Body) //nolint:errcheck // drain
	res.Body.Close()
	return res.StatusCode
}

// TestHostAllowListEndToEnd: the real main in local mode answers loopback names only, so a
// page rebound to 127.0.0.1 gets 421 on the sign-in, pages and static files, while
// 127.0.0.1, localhost and /healthz answer; -allowed-hosts adds a name.
func TestHostAllowListEndToEnd(t *testing.T) {
	base := startApp(t)
	port := base[strings.LastIndex(base, ":")+1:]
	rebound := "rebind.attacker.example:" + port
	for _, r := range []struct {
		method, path, host string
		want               int
	}{
		{http.MethodGet, "/signin", rebound, http.StatusMisdirectedRequest},
		{http.MethodPost, "/signin", rebound, http.StatusMisdirectedRequest},
		{http.MethodGet, "/", rebound, http.StatusMisdirectedRequest},
		{http.MethodGet, "/static/css/app.css", rebound, http.StatusMisdirectedRequest},
		{http.MethodGet, "/ws?room=image:1", rebound, http.StatusMisdirectedRequest},
		{http.MethodGet, "/healthz", rebound, http.StatusOK},
		{http.MethodGet, "/signin", "127.0.0.1:" + port, http.StatusOK},
		{http.MethodGet, "/signin", "localhost:" + port, http.StatusOK},
		{http.MethodGet, "/static/css/app.css", "localhost:" + port, http.StatusOK},
		{http.MethodGet, "/signin", "lasso.lan:" + port, http.StatusMisdirectedRequest},
	} {
		if got := statusAs(t, r.method, base, r.path, r.host, url.Values{"name": {"Mallory"}}); got != r.want {
			t.Errorf("%s %s for host %s: status %d, want %d", r.method, r.path, r.host, got, r.want)
		}
	}

	listed := startApp(t, "-allowed-hosts", "lasso.lan, other.lan")
	port = listed[strings.LastIndex(listed, ":")+1:]
	for host, want := range map[string]int{"lasso.lan:" + port: http.StatusOK, "other.lan": http.StatusOK,
		"127.0.0.1:" + port: http.StatusOK, "rebind.attacker.example:" + port: http.StatusMisdirectedRequest} {
		if got := statusAs(t, http.MethodGet, listed, "/signin", host, nil); got != want {
			t.Errorf("with -allowed-hosts, GET /signin for host %s: status %d, want %d", host, got, want)
		}
	}
}

// TestParseAllowedHosts: -allowed-hosts and LASSO_ALLOWED_HOSTS take comma-separated names;
// something that is not a host name is refused at start.
func TestParseAllowedHosts(t *testing.T) {
	cfg, err := parseConfig([]string{"-addr", "127.0.0.1:0", "-allowed-hosts", " lasso.lan,,10.0.0.5:8080 "}, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(cfg.allowedHosts, "|"); got != "lasso.lan|10.0.0.5:8080" {
		t.Errorf("allowed hosts %q", got)
	}
	allowed := cfg.allowedHost()
	for host, want := range map[string]bool{"lasso.lan": true, "10.0.0.5": true, "localhost": true, "127.0.0.1": true, "evil.example": false} {
		if allowed(host) != want {
			t.Errorf("local mode with -allowed-hosts: %s allowed = %v, want %v", host, !want, want)
		}
	}

	env := map[string]string{"CDF_BASE_URL": "https://api.cognitedata.com", "CDF_PROJECT": "p", "LASSO_OIDC_ISSUER": "https://idp",
		"LASSO_OIDC_CLIENT_ID": "c", "LASSO_OIDC_CLIENT_SECRET": "s", "LASSO_PUBLIC_URL": "https://lasso.example.com/", "LASSO_ALLOWED_HOSTS": "lasso.internal"}
	cfg, err = parseConfig(nil, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	allowed = cfg.allowedHost()
	for host, want := range map[string]bool{"lasso.example.com": true, "lasso.internal": true, "localhost": false, "127.0.0.1": false, "evil.example": false} {
		if allowed(host) != want {
			t.Errorf("CDF mode: %s allowed = %v, want %v", host, !want, want)
		}
	}

	for _, bad := range []string{"https://lasso.lan", "lasso.lan/path", "*.lan", "user@lasso.lan", "lasso lan"} {
		if _, err := parseConfig([]string{"-allowed-hosts", bad}, func(string) string { return "" }, io.Discard); err == nil || !strings.Contains(err.Error(), "-allowed-hosts") {
			t.Errorf("-allowed-hosts %q: err %v, want a refusal", bad, err)
		}
	}
}
