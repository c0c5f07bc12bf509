package handlers_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/lassoteam/lasso/handlers"
)

// TestNoStoreBehindSignIn: pages, JSON answers (errors too) and exports of a signed-in user
// say Cache-Control: no-store, as do the sign-in form and its answer; static assets stay
// cacheable, and images keep their private caching.
func TestNoStoreBehindSignIn(t *testing.T) {
	a := setup(t, options{})
	roomID := a.createRoom(t, url.Values{"name": {"Cache"}, "labels": {"thing #ff0000"}})
	file := a.files["square.jpg"]
	for _, r := range []struct {
		method, path, accept, body string
		want                       string
	}{
		{http.MethodGet, "/", "text/html", "", "no-store"},
		{http.MethodGet, fmt.Sprintf("/images/%d", file), "text/html", "", "no-store"},
		{http.MethodGet, "/rooms/" + roomID, "text/html", "", "no-store"},
		{http.MethodGet, "/api/rooms/" + roomID + "/state", "application/json", "", "no-store"},
		{http.MethodGet, fmt.Sprintf("/api/images/%d/annotations", file), "application/json", "", "no-store"},
		{http.MethodGet, "/rooms/" + roomID + "/export?format=coco", "", "", "no-store"},
		{http.MethodGet, "/rooms/" + roomID + "/export?format=yolo", "", "", "no-store"},
		{http.MethodGet, "/nowhere", "text/html", "", "no-store"},
		{http.MethodPost, a.segmentPath("square.jpg"), "application/json", `{}`, "no-store"},
		{http.MethodGet, "/signin", "text/html", "", "no-store"},
		{http.MethodGet, fmt.Sprintf("/files/%d/icon", file), "", "", "private, max-age=3600"},
		{http.MethodGet, fmt.Sprintf("/files/%d/content", file), "", "", "private, max-age=300"},
	} {
		req, _ := http.NewRequest(r.method, a.url+r.path, nil)
		if r.body != "" {
			req, _ = http.NewRequest(r.method, a.url+r.path, strings.NewReader(r.body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("X-CSRF-Token", a.csrf)
		}
		if r.accept != "" {
			req.Header.Set("Accept", r.accept)
		}
		res, err := a.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if got := res.Header.Get("Cache-Control"); got != r.want {
			t.Errorf("%s %s (%d): Cache-Control %q, want %q", r.method, r.path, res.StatusCode, got, r.want)
		}
	}
}

// TestStaticServesAssetsOnly: /static/ serves files, never a folder's listing, and not the
// front end's node tests (*.test.mjs); what it serves is cacheable.
func TestStaticServesAssetsOnly(t *testing.T) {
	a := setupConfig(t, false, func(c *handlers.Config) {
		c.Static = fstest.MapFS{
			"css/app.css":          {Data: []byte("body{}")},
			"js/annotate.js":       {Data: []byte("export {}")},
			"js/annotate.test.mjs": {Data: []byte("import test from 'node:test'")},
		}
	})
	for path, want := range map[string]int{
		"/static/css/app.css":          http.StatusOK,
		"/static/js/annotate.js":       http.StatusOK,
		"/static/js/annotate.test.mjs": http.StatusNotFound,
		"/static/js/":                  http.StatusNotFound,
		"/static/js":                   http.StatusNotFound,
		"/static/":                     http.StatusNotFound,
		"/static/css/../js/":           http.StatusNotFound,
		"/static/missing.js":           http.StatusNotFound,
	} {
		res, body := a.send(t, http.MethodGet, path, "", "", "")
		if res.StatusCode != want {
			t.Errorf("GET %s: %d, want %d: %.100s", path, res.StatusCode, want, body)
		}
		if want == http.StatusOK && res.Header.Get("Cache-Control") != "public, max-age=300" {
			t.Errorf("GET %s: Cache-Control %q, want public, max-age=300", path, res.Header.Get("Cache-Control"))
		}
	}
}
