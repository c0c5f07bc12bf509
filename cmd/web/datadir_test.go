package main

import (
	"os"
	"path/filepath"
	"testing"
)

// TestDataFolderIsPrivate: the real main makes its data folder the server user's alone (0700),
// also one that existed open to everyone, and its database files 0600.
func TestDataFolderIsPrivate(t *testing.T) {
	for name, existing := range map[string]bool{"new folder": false, "existing 0755 folder": true} {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "lasso-data")
			if existing {
				if err := os.Mkdir(dir, 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.Chmod(dir, 0o755); err != nil { // whatever the umask
					t.Fatal(err)
				}
			}
			startApp(t, "-data", dir)
			st, err := os.Stat(dir)
			if err != nil {
				t.Fatal(err)
			}
			if mode := st.Mode().Perm(); mode != 0o700 {
				t.Errorf("data folder mode %v, want drwx------", mode)
			}
			for _, f := range []string{"lasso.db", "lasso.db-wal", "lasso.db-shm"} {
				st, err := os.Stat(filepath.Join(dir, f))
				if err != nil {
					t.Errorf("%s: %v", f, err)
					continue
				}
				if mode := st.Mode().Perm(); mode != 0o600 {
					t.Errorf("%s mode %v, want -rw-------", f, mode)
				}
			}
		})
	}
}
