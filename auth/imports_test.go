package auth_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestImportRules enforces ARCHITECTURE.md for the two packages: store imports only the
// standard library and the SQL driver; auth only the standard library, go-oidc, x/oauth2 and
// store; and neither pulls in Echo or the web layer, even indirectly.
func TestImportRules(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the go command")
	}
	allowed := map[string][]string{
		"github.com/lassoteam/lasso/store": {"modernc.org/sqlite"},
		"github.com/lassoteam/lasso/auth": {"github.com/coreos/go-oidc/v3/oidc", "golang.org/x/oauth2",
			"golang.org/x/oauth2/clientcredentials", "github.com/lassoteam/lasso/store"},
	}
	for pkg, extra := range allowed {
		out, err := exec.Command("go", "list", "-f", "{{join .Imports \"\\n\"}}", pkg).Output()
		if err != nil {
			t.Fatalf("go list %s: %v", pkg, err)
		}
		for _, imp := range strings.Fields(string(out)) {
			ok := !strings.Contains(strings.SplitN(imp, "/", 2)[0], ".") // standard library
			for _, e := range extra {
				ok = ok || imp == e
			}
			if !ok {
				t.Errorf("%s imports %s", pkg, imp)
			}
		}
		deps, err := exec.Command("go", "list", "-deps", pkg).Output()
		if err != nil {
			t.Fatalf("go list -deps %s: %v", pkg, err)
		}
		for _, d := range strings.Fields(string(deps)) {
			if strings.HasPrefix(d, "github.com/labstack/") || strings.HasPrefix(d, "github.com/lassoteam/lasso/handlers") ||
				strings.HasPrefix(d, "github.com/lassoteam/lasso/cmd") || strings.HasPrefix(d, "github.com/gorilla/") {
				t.Errorf("%s depends on %s", pkg, d)
			}
		}
	}
}
