package auth_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/lassoteam/lasso/auth"
)

func TestServiceTokenSource(t *testing.T) {
	var calls atomic.Int32
	expiresIn := atomic.Int64{}
	expiresIn.Store(30)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		id, secret, _ := r.BasicAuth()
		if r.PostForm.Get("grant_type") != "client_credentials" || id != "svc" || secret != "s3cret" ||
			r.PostForm.Get("scope") != "https://api.example/.default" || r.PostForm.Get("audience") != "https://cdf.example" {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			w.Write([]byte(`{"error":"invalid_client"}`))
			return
		}
		n := calls.Add(1)
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"access_token": "svc-token-" + string(rune('0'+n)), "token_type": "Bearer", "expires_in": expiresIn.Load()})
	}))
	defer srv.Close()
	ts := auth.ServiceTokenSource(context.Background(), auth.ServiceConfig{
		TokenURL: srv.URL, ClientID: "svc", ClientSecret: "s3cret",
		Scopes: []string{"https://api.example/.default"}, Audience: "https://cdf.example",
	})
	tok, err := ts.Token()
	if err != nil || tok.AccessToken != "svc-token-1" {
		t.Fatalf("Token = %v, %v", tok, err)
	}
	// 30 s is inside the 60 s leeway: the next call fetches again.
	expiresIn.Store(3600)
	if tok, _ := ts.Token(); tok == nil || tok.AccessToken != "svc-token-2" {
		t.Errorf("second Token = %v, want a new one", tok)
	}
	if tok, _ := ts.Token(); tok == nil || tok.AccessToken != "svc-token-2" || calls.Load() != 2 {
		t.Errorf("third Token = %v after %d calls, want the cached one", tok, calls.Load())
	}
	bad := auth.ServiceTokenSource(context.Background(), auth.ServiceConfig{TokenURL: srv.URL, ClientID: "svc", ClientSecret: "wrong"})
	if _, err := bad.Token(); err == nil {
		t.Error("wrong secret accepted")
	}
}
