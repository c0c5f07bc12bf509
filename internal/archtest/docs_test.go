package archtest

import (
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// docRef is a mention of a document under docs/, with whatever relative path leads to it
// (a "../shared/" prefix points outside the repository).
var docRef = regexp.MustCompile(`(?:\.\./|[A-Za-z0-9_-]+/)*docs/[A-Za-z0-9_.-]+\.md`)

// mdLink is the target of a Markdown link to a .md file: [text](target.md#anchor).
var mdLink = regexp.MustCompile(`\]\(([^)\s#]+\.md)(?:#[^)\s]*)?\)`)

// sourceFiles are the repository's files a reader follows references in.
func sourceFiles(t *testing.T, root string) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); p != root && (name == ".git" || name == "node_modules" || strings.HasPrefix(name, ".")) {
				return filepath.SkipDir
			}
			return nil
		}
		switch filepath.Ext(p) {
		case ".go", ".md", ".js", ".mjs", ".templ":
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// danglingDocs lists the references to docs/*.md in text (of the file at rel, slash-separated,
// relative to the repository root) that name no file of the repository: exists reports
// whether a slash-separated path relative to the root is a file.
func danglingDocs(rel, text string, exists func(string) bool) []string {
	var bad []string
	for _, ref := range docRef.FindAllString(text, -1) {
		p := ref // written from the repository's root, as in "docs/UX.md"
		if strings.HasPrefix(ref, "../") {
			p = path.Clean(path.Join(path.Dir(rel), ref)) // relative to the file, as a test opens it
		}
		switch {
		case strings.HasPrefix(p, "../"):
			bad = append(bad, ref+" (outside the repository)")
		case !exists(p):
			bad = append(bad, ref)
		}
	}
	if strings.HasSuffix(rel, ".md") {
		for _, m := range mdLink.FindAllStringSubmatch(text, -1) {
			target := m[1]
			if strings.Contains(target, "://") {
				continue
			}
			p := path.Clean(path.Join(path.Dir(rel), target))
			if strings.HasPrefix(p, "../") || !exists(p) {
				bad = append(bad, "link "+target)
			}
		}
	}
	return bad
}

func TestDanglingDocsFinds(t *testing.T) {
	files := map[string]bool{"docs/UX.md": true, "docs/ARCHITECTURE.md": true, "README.md": true}
	exists := func(p string) bool { return files[p] }
	cases := []struct {
		rel, text string
		bad       int
	}{
		{"static/js/a.js", "// keys: docs/UX.md", 0},
		{"static/js/a.js", "// see docs/ROOMS.md", 1},
		{"README.md", "See `../shared/docs/ARCHITECTURE.md`", 1},
		{"docs/OPERATIONS.md", "See `../shared/docs/ARCHITECTURE.md`", 1},
		{"cmd/web/x_test.go", `os.ReadFile("../../docs/UX.md")`, 0},
		{"cmd/web/x_test.go", `os.ReadFile("../../../docs/UX.md")`, 1},
		{"README.md", "[arch](docs/ARCHITECTURE.md) and [ux](docs/UX.md#keys)", 0},
		{"docs/UX.md", "[arch](ARCHITECTURE.md), [readme](../README.md)", 0},
		{"docs/UX.md", "[ops](OPERATIONS.md)", 1},
		{"docs/UX.md", "[out](../../shared/x.md)", 1},
		{"README.md", "[site](https://example.com/a.md)", 0},
	}
	for _, c := range cases {
		if got := danglingDocs(c.rel, c.text, exists); len(got) != c.bad {
			t.Errorf("%s %q: dangling %q, want %d", c.rel, c.text, got, c.bad)
		}
	}
}

// TestNoDanglingDocs fails on a reference to docs/*.md, in any Go, Markdown, JavaScript or
// templ file, that names no document of the repository (or one outside it), and on a
// Markdown link to a .md file that is not there.
func TestNoDanglingDocs(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	exists := func(p string) bool {
		st, err := os.Stat(filepath.Join(root, filepath.FromSlash(p)))
		return err == nil && !st.IsDir()
	}
	self, _ := filepath.Abs("docs_test.go") // its cases name documents on purpose
	for _, f := range sourceFiles(t, root) {
		if f == self {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(root, f)
		for _, ref := range danglingDocs(filepath.ToSlash(rel), string(b), exists) {
			t.Errorf("%s: dangling document reference %s", filepath.ToSlash(rel), ref)
		}
	}
}
