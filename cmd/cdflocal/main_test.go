package main

import (
	"bytes"
	"context"
	"encoding/json"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func writeImages(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	img := image.NewRGBA(image.Rect(0, 0, 40, 30))
	for y := range 30 {
		for x := range 40 {
			img.Set(x, y, color.RGBA{uint8(x * 6), uint8(y * 8), 120, 255})
		}
	}
	var p, j bytes.Buffer
	if err := png.Encode(&p, img); err != nil {
		t.Fatal(err)
	}
	if err := jpeg.Encode(&j, img, nil); err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{"a.png": p.Bytes(), "sub/b.jpg": j.Bytes(), "sub/c.png": p.Bytes(), "notes.txt": []byte("not an image\n")}
	for name, b := range files {
		path := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// start runs the command on a free loopback port and returns its base URL; the command is
// stopped (and its error checked) when the test ends.
func start(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var stdout, stderr syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, append([]string{"-addr", "127.0.0.1:0"}, args...), func(string) string { return "" }, &stdout, &stderr)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("run: %v\nstderr:\n%s", err, stderr.String())
			}
		case <-time.After(10 * time.Second):
			t.Error("run did not stop within 10 s of cancellation")
		}
	})
	re := regexp.MustCompile(`at (http://127\.0\.0\.1:\d+)`)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if m := re.FindStringSubmatch(stdout.String()); m != nil {
			return m[1]
		}
		select {
		case err := <-done:
			t.Fatalf("run ended early: %v\nstderr:\n%s", err, stderr.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
	t.Fatalf("no base URL printed; stdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
	return ""
}

func TestRunServesAndStops(t *testing.T) {
	base := start(t, "-images", writeImages(t), "-project", "demo-proj", "-token", "secret")
	get := func(tok string) *http.Response {
		req, _ := http.NewRequest(http.MethodGet, base+"/api/v1/token/inspect", nil)
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	if resp := get("wrong"); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("wrong token: status %d, want 401", resp.StatusCode)
	}
	resp := get("secret")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("token inspect: status %d", resp.StatusCode)
	}
	var ti struct {
		Projects []struct {
			ProjectURLName string `json:"projectUrlName"`
		} `json:"projects"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&ti); err != nil || len(ti.Projects) != 1 || ti.Projects[0].ProjectURLName != "demo-proj" {
		t.Errorf("token inspect: %+v, %v", ti, err)
	}
}

func TestRunKeepsAnnotationsInDataFolder(t *testing.T) {
	images, data := writeImages(t), t.TempDir()
	call := func(base, path, body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, base+"/api/v1/projects/p/"+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer t")
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b bytes.Buffer
		b.ReadFrom(resp.Body)
		return resp.StatusCode, b.String()
	}
	var fileID int64
	t.Run("first run creates", func(t *testing.T) {
		base := start(t, "-images", images, "-data", data, "-project", "p")
		_, body := call(base, "files/byids", `{"items":[{"externalId":"a.png"}]}`)
		var files struct{ Items []struct{ ID int64 } }
		if err := json.Unmarshal([]byte(body), &files); err != nil || len(files.Items) != 1 {
			t.Fatalf("byids: %s", body)
		}
		fileID = files.Items[0].ID
		st, body := call(base, "annotations", `{"items":[{"annotatedResourceType":"file","annotatedResourceId":`+strconv.FormatInt(fileID, 10)+
			`,"annotationType":"images.Classification","creatingApp":"t","creatingAppVersion":"1.0.0","creatingUser":null,"status":"approved","data":{"label":"cat"}}]}`)
		if st != http.StatusCreated {
			t.Fatalf("create: %d %s", st, body)
		}
	})
	t.Run("second run lists", func(t *testing.T) {
		base := start(t, "-images", images, "-data", data, "-project", "p")
		st, body := call(base, "annotations/list", `{"filter":{"annotatedResourceType":"file","annotatedResourceIds":[{"id":`+strconv.FormatInt(fileID, 10)+`}]}}`)
		if st != http.StatusOK || !strings.Contains(body, `"label":"cat"`) {
			t.Errorf("list after a restart: %d %s", st, body)
		}
	})
}

func TestRunFlagErrors(t *testing.T) {
	for _, args := range [][]string{{}, {"-images"}, {"-images", "/does/not/exist"}, {"-images", ".", "extra"}, {"-nope"}} {
		var out, errw bytes.Buffer
		if err := run(context.Background(), args, func(string) string { return "" }, &out, &errw); err == nil {
			t.Errorf("run %q: no error", args)
		}
	}
}

// TestCogniteSDKCompat runs the official JS client (@cognite/sdk, pinned in
// cdf/cdflocal/testdata/sdkcompat) against the stand-in. It fails, not skips, without Node or
// the installed packages.
func TestCogniteSDKCompat(t *testing.T) {
	_, file, _, _ := runtime.Caller(0)
	dir := filepath.Join(filepath.Dir(file), "..", "..", "cdf", "cdflocal", "testdata", "sdkcompat")
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("node is not installed (the @cognite/sdk compatibility check needs Node.js 18+); install it, then run: npm ci --prefix cdf/cdflocal/testdata/sdkcompat")
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "@cognite", "sdk", "package.json")); err != nil {
		t.Fatalf("@cognite/sdk is not installed in %s; run: npm ci --prefix cdf/cdflocal/testdata/sdkcompat", dir)
	}
	base := start(t, "-images", writeImages(t), "-data", t.TempDir(), "-project", "sdk-compat", "-token", "compat-token")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "compat.mjs")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CDF_BASE_URL="+base, "CDF_PROJECT=sdk-compat", "CDF_TOKEN=compat-token", "CDF_EXPECT_FILES=4")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node compat.mjs: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "checks passed") {
		t.Fatalf("node compat.mjs: unexpected output:\n%s", out)
	}
	t.Logf("%s", bytes.TrimSpace(out))
}
