package cdflocal_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/lassoteam/lasso/cdf/cdflocal"
)

type ctxKey struct{}

// TestAuthenticate checks that Config.Authenticate, not Config.Token, decides which bearer
// tokens are accepted, on every kind of endpoint.
func TestAuthenticate(t *testing.T) {
	var mu sync.Mutex
	var asked []string
	e := setup(t, setupOpts{cfg: func(c *cdflocal.Config) {
		c.Token = testToken // ignored: Authenticate decides
		c.Authenticate = func(ctx context.Context, token string) error {
			mu.Lock()
			defer mu.Unlock()
			asked = append(asked, token)
			if token == "good" {
				return nil
			}
			return errors.New("not one of ours")
		}
	}})
	paths := []struct{ method, path, body string }{
		{"GET", "/api/v1/token/inspect", ""},
		{"POST", "/api/v1/projects/" + testProject + "/files/list", "{}"},
		{"POST", "/api/v1/projects/" + testProject + "/annotations/list", `{"filter":{"annotatedResourceType":"file"}}`},
		{"GET", "/api/v1/projects/" + testProject + "/context/vision/segment/1", ""},
	}
	for _, p := range paths {
		for _, tc := range []struct {
			auth   string
			status int
			msg    string
		}{
			{"Bearer good", 0, ""},
			{"Bearer " + testToken, 401, "Unauthorized: invalid token"}, // Config.Token no longer counts
			{"Bearer bad", 401, "Unauthorized: invalid token"},
			{"", 401, "Unauthorized: missing bearer token in the Authorization header"},
		} {
			st, _, b := e.raw(p.method, p.path, p.body, "Authorization", tc.auth, "cdf-version", "beta")
			if tc.status == 0 {
				if st == http.StatusUnauthorized {
					t.Errorf("%s %s with %q: 401: %s", p.method, p.path, tc.auth, b)
				}
				continue
			}
			if st != tc.status {
				t.Errorf("%s %s with %q: status %d, want %d: %s", p.method, p.path, tc.auth, st, tc.status, b)
				continue
			}
			want := map[string]any{"code": float64(tc.status), "message": tc.msg}
			if diff := cmp.Diff(want, decodeEnvelope(t, b)); diff != "" {
				t.Errorf("%s %s with %q (-want +got):\n%s", p.method, p.path, tc.auth, diff)
			}
		}
	}
	mu.Lock()
	defer mu.Unlock()
	// Asked three times per path (no bearer never reaches it), with the bare token.
	want := []string{}
	for range paths {
		want = append(want, "good", testToken, "bad")
	}
	if diff := cmp.Diff(want, asked); diff != "" {
		t.Errorf("tokens Authenticate was asked about (-want +got):\n%s", diff)
	}
}

// TestAuthenticateContext checks that Authenticate gets the request's own context.
func TestAuthenticateContext(t *testing.T) {
	var got any
	e := setup(t, setupOpts{cfg: func(c *cdflocal.Config) {
		c.Authenticate = func(ctx context.Context, token string) error {
			got = ctx.Value(ctxKey{})
			return nil
		}
	}})
	req := httptest.NewRequest("GET", "/api/v1/token/inspect", nil)
	req.Header.Set("Authorization", "Bearer x")
	rec := httptest.NewRecorder()
	e.srv.ServeHTTP(rec, req.WithContext(context.WithValue(req.Context(), ctxKey{}, "mine")))
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	if got != "mine" {
		t.Errorf("Authenticate saw context value %v, want the request's", got)
	}
}
