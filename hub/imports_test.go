package hub_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestImportsOnlyStandardLibrary enforces the layering rule of ARCHITECTURE.md: the hub must
// stay free of transports (no WebSocket) and of the rest of Lasso.
func TestImportsOnlyStandardLibrary(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, p := range strings.Fields(string(out)) {
		if p != "github.com/lassoteam/lasso/hub" {
			t.Errorf("hub depends on %s; only the standard library is allowed", p)
		}
	}
}
