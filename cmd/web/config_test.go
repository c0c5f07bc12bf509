package main

import (
	"io"
	"strings"
	"testing"
)

func TestParseConfig(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		wantErr string
	}{
		{name: "local on loopback", args: []string{"-addr", "127.0.0.1:0"}},
		{name: "local on localhost", args: []string{"-addr", "localhost:8080"}},
		{name: "local on IPv6 loopback", args: []string{"-addr", "[::1]:8080"}},
		{name: "local on every interface is refused", args: []string{"-addr", "0.0.0.0:8080"}, wantErr: "loopback"},
		{name: "local on an empty host is refused", args: []string{"-addr", ":8080"}, wantErr: "loopback"},
		{name: "profiles on the network are refused", args: []string{"-addr", "127.0.0.1:0", "-pprof-addr", "0.0.0.0:6060"}, wantErr: "loopback address only"},
		{name: "profiles on loopback", args: []string{"-addr", "127.0.0.1:0", "-pprof-addr", "127.0.0.1:6060"}},
		{name: "local on the network when told it is unsafe", args: []string{"-addr", "0.0.0.0:8080", "-unsafe-local-signin-on-network"}},
		{name: "CDF mode needs its settings", env: map[string]string{"CDF_BASE_URL": "https://api.cognitedata.com"},
			wantErr: "CDF_PROJECT, LASSO_OIDC_CLIENT_ID, LASSO_OIDC_CLIENT_SECRET, LASSO_OIDC_ISSUER, LASSO_PUBLIC_URL"},
		{name: "CDF mode with a bad URL", env: map[string]string{"CDF_BASE_URL": "ftp://x", "CDF_PROJECT": "p", "LASSO_OIDC_ISSUER": "https://idp",
			"LASSO_OIDC_CLIENT_ID": "c", "LASSO_OIDC_CLIENT_SECRET": "s", "LASSO_PUBLIC_URL": "https://lasso"}, wantErr: "not an http(s) URL"},
		{name: "CDF mode on the network", args: []string{"-addr", "0.0.0.0:8080"}, env: map[string]string{"CDF_BASE_URL": "https://api.cognitedata.com",
			"CDF_PROJECT": "p", "LASSO_OIDC_ISSUER": "https://idp", "LASSO_OIDC_CLIENT_ID": "c", "LASSO_OIDC_CLIENT_SECRET": "s", "LASSO_PUBLIC_URL": "https://lasso"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := parseConfig(tt.args, func(k string) string { return tt.env[k] }, io.Discard)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want one mentioning %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !cfg.local() && (!cfg.secureCookies || len(cfg.oidcScopes) == 0 || !strings.HasSuffix(cfg.oidcScopes[3], "/user_impersonation")) {
				t.Errorf("CDF mode config %+v: want secure cookies and the default CDF scopes", cfg)
			}
		})
	}
}
