package handlers_test

import (
	"bytes"
	"net/http"
	"testing"

	"github.com/lassoteam/lasso/handlers"
	"github.com/lassoteam/lasso/static"
)

// TestFavicon: /favicon.ico, which browsers ask for on every page, is served (cacheable) from
// the static assets instead of answering 404.
func TestFavicon(t *testing.T) {
	icon, err := static.FS.ReadFile("favicon.ico")
	if err != nil {
		t.Fatalf("the embedded assets lack favicon.ico: %v", err)
	}
	if !bytes.HasPrefix(icon, []byte{0, 0, 1, 0}) {
		t.Fatalf("favicon.ico does not start with an ICO header: % x", icon[:min(len(icon), 8)])
	}
	a := setupConfig(t, false, func(c *handlers.Config) { c.Static = static.FS })
	res, body := a.send(t, http.MethodGet, "/favicon.ico", "", "", "")
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET /favicon.ico: %d, want 200: %.100s", res.StatusCode, body)
	}
	if body != string(icon) {
		t.Errorf("GET /favicon.ico served %d bytes, want the %d of static/favicon.ico", len(body), len(icon))
	}
	if cc := res.Header.Get("Cache-Control"); cc != "public, max-age=300" {
		t.Errorf("Cache-Control %q, want public, max-age=300", cc)
	}
}
