package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeSet writes a one-image evaluation set: a red disc on grey, its mask and prompts.json.
func writeSet(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, d := range []string{"images", "masks"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	const w, h = 96, 64
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	m := image.NewGray(image.Rect(0, 0, w, h))
	x0, y0, x1, y1 := w, h, 0, 0
	for y := range h {
		for x := range w {
			dx, dy := float64(x)+0.5-48, float64(y)+0.5-32
			if dx*dx+dy*dy < 20*20 {
				img.Set(x, y, color.RGBA{200, 30, 30, 255})
				m.SetGray(x, y, color.Gray{255})
				x0, y0, x1, y1 = min(x0, x), min(y0, y), max(x1, x+1), max(y1, y+1)
			} else {
				img.Set(x, y, color.RGBA{90, 110, 100, 255})
			}
		}
	}
	var jb, pb bytes.Buffer
	if err := jpeg.Encode(&jb, img, &jpeg.Options{Quality: 92}); err != nil {
		t.Fatal(err)
	}
	if err := png.Encode(&pb, m); err != nil {
		t.Fatal(err)
	}
	box := fmt.Sprintf(`{"xMin": %g, "yMin": %g, "xMax": %g, "yMax": %g}`,
		float64(x0)/w, float64(y0)/h, float64(x1)/w, float64(y1)/h)
	prompts := fmt.Sprintf(`{"format": "lasso-segment-eval/1", "set": "test", "images": [{
		"name": "t01.jpg", "image": "images/t01.jpg", "mask": "masks/t01.png", "width": %d, "height": %d,
		"tier": "synthetic", "boxes": {"pad0": %s, "pad5": %s, "pad15": %s, "jitter": %s},
		"firstClick": {"x": 0.5, "y": 0.5, "label": 1}}]}`, w, h, box, box, box, box)
	for name, b := range map[string][]byte{
		"images/t01.jpg": jb.Bytes(), "masks/t01.png": pb.Bytes(), "prompts.json": []byte(prompts),
	} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestRunEndToEnd(t *testing.T) {
	dir := writeSet(t)
	out := filepath.Join(t.TempDir(), "out.json")
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"-data", dir, "-clicks", "3", "-json", out}, &stdout, &stderr)
	if err != nil {
		t.Fatalf("run: %v\nstderr:\n%s", err, stderr.String())
	}
	for _, want := range []string{"Lasso, all (1)", "NoC@90", "cold ms", "Targets"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("stdout lacks %q:\n%s", want, stdout.String())
		}
	}
	if !strings.Contains(stderr.String(), "lasso t01.jpg:") {
		t.Errorf("no progress line on stderr:\n%s", stderr.String())
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var rep report
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatalf("JSON: %v", err)
	}
	s := rep.Lasso.Summary["all"]
	if s.Images != 1 || s.Requests < 5 || len(rep.Lasso.Images) != 1 || len(rep.Lasso.Images[0].Curve) != 3 {
		t.Errorf("summary %+v", s)
	}
}

func TestRunFlags(t *testing.T) {
	dir := writeSet(t)
	tests := []struct {
		args []string
		want string
	}{
		{nil, "give -data"},
		{[]string{"-data", dir, "extra"}, "give -data"},
		{[]string{"-data", dir, "-clicks", "-1"}, "-clicks"},
		{[]string{"-data", dir, "-opencv-full", "some"}, "-opencv-full"},
		{[]string{"-data", dir, "-only", "nothing-matches"}, "no image selected"},
		{[]string{"-data", t.TempDir()}, "prompts.json"},
	}
	for _, tt := range tests {
		var stdout, stderr bytes.Buffer
		err := run(context.Background(), tt.args, &stdout, &stderr)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("run(%q) = %v, want an error about %q", tt.args, err, tt.want)
		}
	}
}

func TestPrefixWriter(t *testing.T) {
	var b bytes.Buffer
	p := &prefixWriter{w: &b, prefix: "> "}
	for _, s := range []string{"one", "\n", "two\nthr", "ee\n", "tail"} {
		if _, err := p.Write([]byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	p.Flush()
	if got, want := b.String(), "> one\n> two\n> three\n> tail\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestMemoryMode(t *testing.T) {
	dir := writeSet(t)
	var out bytes.Buffer
	if err := run(context.Background(), []string{"-memory", filepath.Join(dir, "images", "t01.jpg")}, &out, &out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	for _, want := range []string{"prompt 1:", "prompt 4:", "peak memory (VmHWM):"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	if err := run(context.Background(), []string{"-memory", filepath.Join(dir, "missing.jpg")}, &out, &out); err == nil {
		t.Error("a missing image is not an error")
	}
}

func TestBuildDAVISRefusesWorkTree(t *testing.T) {
	// The frames may not be shipped: a folder inside a git work tree is refused before anything
	// is read or written.
	repo := t.TempDir()
	if err := os.Mkdir(filepath.Join(repo, ".git"), 0o755); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(repo, "sub", "davis")
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"-build-davis", "/nonexistent", "-out", out}, &stdout, &stderr)
	if err == nil || !strings.Contains(err.Error(), "work tree") {
		t.Fatalf("err = %v, want a refusal naming the work tree", err)
	}
	if _, err := os.Stat(filepath.Join(repo, "sub")); !os.IsNotExist(err) {
		t.Errorf("something was written: %v", err)
	}
}
