// Package archtest enforces the import rules of ARCHITECTURE.md with `go list -deps`, so a
// layering mistake fails the build instead of waiting for a review.
package archtest

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/lassoteam/lasso"

type pkg struct {
	ImportPath string
	Imports    []string
	Deps       []string
	Standard   bool
}

// packages lists every package of the module with its direct imports and all dependencies.
func packages(t *testing.T) map[string]pkg {
	t.Helper()
	cmd := exec.Command("go", "list", "-json", module+"/...")
	cmd.Dir = "../.."
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	pkgs := map[string]pkg{}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for dec.More() {
		var p pkg
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		pkgs[strings.TrimPrefix(strings.TrimPrefix(p.ImportPath, module), "/")] = p
	}
	return pkgs
}

// isStd reports whether an import path belongs to the standard library.
func isStd(path string) bool {
	first, _, _ := strings.Cut(path, "/")
	return !strings.Contains(first, ".")
}

func TestImportRules(t *testing.T) {
	pkgs := packages(t)
	own := func(dep string) (string, bool) {
		if dep == module {
			return "", true
		}
		rest, ok := strings.CutPrefix(dep, module+"/")
		return rest, ok
	}
	// onlyDeps checks every dependency of pkg against allowed (own packages by short name,
	// others by import-path prefix).
	onlyDeps := func(name string, allowed ...string) {
		p, ok := pkgs[name]
		if !ok {
			t.Errorf("package %s is missing", name)
			return
		}
	deps:
		for _, d := range p.Deps {
			if isStd(d) {
				continue
			}
			short, isOwn := own(d)
			for _, a := range allowed {
				if (isOwn && short == a) || (!isOwn && strings.HasPrefix(d, a)) {
					continue deps
				}
			}
			if !isOwn && strings.HasPrefix(d, "golang.org/x/") && contains(allowed, "golang.org/x/image") {
				continue // x/image's own x/ dependencies
			}
			t.Errorf("%s depends on %s, which ARCHITECTURE.md does not allow", name, d)
		}
	}
	// onlyImports checks the direct imports of pkg, for packages whose allowed libraries bring
	// many dependencies of their own (the SQL driver, go-oidc).
	onlyImports := func(name string, allowed ...string) {
		for _, imp := range pkgs[name].Imports {
			if !isStd(imp) && !contains(allowed, imp) {
				t.Errorf("%s imports %s, which ARCHITECTURE.md does not allow", name, imp)
			}
		}
	}
	onlyImports("store", "modernc.org/sqlite", "modernc.org/sqlite/lib",
		"github.com/jackc/pgx/v5", "github.com/jackc/pgx/v5/pgconn", "github.com/jackc/pgx/v5/stdlib")
	onlyImports("auth", "github.com/coreos/go-oidc/v3/oidc", "golang.org/x/oauth2",
		"golang.org/x/oauth2/clientcredentials", module+"/store")
	onlyImports("rooms", module+"/cdf", module+"/hub", module+"/jobs", module+"/store")
	onlyImports("vision", module+"/cdf", module+"/cdf/cdfseg", module+"/jobs", module+"/segment", module+"/store")
	// metrics adapts Lasso's events to Prometheus; nothing of Lasso's imports it but main.
	onlyImports("metrics", "github.com/prometheus/client_golang/prometheus", "github.com/prometheus/client_golang/prometheus/collectors",
		"github.com/prometheus/client_golang/prometheus/promhttp", module+"/cdf", module+"/hub", module+"/jobs", module+"/segment")
	onlyDeps("segment", "golang.org/x/image")
	onlyDeps("hub")
	onlyDeps("export")
	onlyDeps("cdf")
	onlyDeps("cdf/cdflocal", "cdf", "cdf/cdfseg", "segment", "golang.org/x/image")
	onlyDeps("cdf/cdfseg", "cdf", "segment", "golang.org/x/image")
	onlyDeps("jobs", "cdf", "hub", "golang.org/x/time/rate")

	for name, p := range pkgs {
		for _, d := range p.Deps {
			short, isOwn := own(d)
			switch {
			case name == "views" && isOwn && (short == "cdf" || short == "auth" || short == "jobs" || short == "store"):
				t.Errorf("views imports %s: handlers build view models instead", short)
			case isOwn && short == "metrics" && name != "cmd/web":
				t.Errorf("%s imports metrics: only main wires metrics in", name)
			case strings.HasPrefix(d, "github.com/prometheus/") && name != "metrics" && name != "cmd/web" && contains(p.Imports, d):
				t.Errorf("%s imports %s; only metrics (and main) may", name, d)
			case isOwn && (short == "handlers" || strings.HasPrefix(short, "cmd/")) && !strings.HasPrefix(name, "cmd/"):
				t.Errorf("%s imports %s: nothing imports handlers or commands", name, short)
			case strings.HasPrefix(d, "github.com/labstack/echo") && name != "handlers" && name != "cmd/web":
				if contains(p.Imports, d) {
					t.Errorf("%s imports Echo; only handlers and cmd/web may", name)
				}
			// cmd/roomload and cmd/soak are WebSocket clients (measuring scripts), not servers.
			case d == "github.com/gorilla/websocket" && name != "handlers" && name != "cmd/roomload" && name != "cmd/soak" && contains(p.Imports, d):
				t.Errorf("%s imports gorilla/websocket; only handlers may", name)
			}
		}
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
