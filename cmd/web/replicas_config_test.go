package main

import (
	"io"
	"strings"
	"testing"
)

// TestDatabaseURLConfig: PostgreSQL is chosen by URL, needs the shared session key, and a
// password stays off the command line.
func TestDatabaseURLConfig(t *testing.T) {
	const key = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		wantErr string
	}{
		{name: "SQLite by default", args: []string{"-addr", "127.0.0.1:0"}},
		{name: "PostgreSQL from the environment", env: map[string]string{"LASSO_DATABASE_URL": "postgres://lasso:pw@db:5432/lasso", "LASSO_SESSION_KEY": key}},
		{name: "PostgreSQL by flag without a password", args: []string{"-database-url", "postgresql://lasso@db/lasso"}, env: map[string]string{"LASSO_SESSION_KEY": key}},
		{name: "a password on the command line", args: []string{"-database-url", "postgres://lasso:SECRET@db/lasso"}, env: map[string]string{"LASSO_SESSION_KEY": key},
			wantErr: "LASSO_DATABASE_URL"},
		{name: "no shared session key", env: map[string]string{"LASSO_DATABASE_URL": "postgres://lasso@db/lasso"}, wantErr: "LASSO_SESSION_KEY must be set"},
		{name: "not PostgreSQL", env: map[string]string{"LASSO_DATABASE_URL": "mysql://lasso@db/lasso", "LASSO_SESSION_KEY": key}, wantErr: "want a PostgreSQL URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := parseConfig(tt.args, func(k string) string { return tt.env[k] }, io.Discard)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want one mentioning %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "SECRET") {
					t.Errorf("the error repeats the password: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := tt.env["LASSO_DATABASE_URL"]
			if len(tt.args) == 2 {
				want = tt.args[1]
			}
			if tt.args != nil && tt.args[0] == "-addr" {
				want = ""
			}
			if cfg.databaseURL != want {
				t.Errorf("databaseURL = %q, want %q", cfg.databaseURL, want)
			}
		})
	}
}
