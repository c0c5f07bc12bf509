package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestRunSmall runs the whole command on two small images and checks its report.
func TestRunSmall(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out := filepath.Join(t.TempDir(), "report.json")
	var stdout, stderr bytes.Buffer
	err := run(ctx, []string{"-users", "2", "-prompts", "3", "-megapixels", "0.3", "-json", out}, &stdout, &stderr)
	t.Logf("stdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var r report
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("report JSON: %v\n%s", err, b)
	}
	if r.Prompts != 6 || r.Done+r.Failed+r.Stuck != 6 {
		t.Errorf("prompts = %d (done %d, failed %d, stuck %d), want 6", r.Prompts, r.Done, r.Failed, r.Stuck)
	}
	if r.Stuck != 0 || r.Failed != 0 {
		t.Errorf("stuck = %d, failed = %d (%v), want 0 and 0", r.Stuck, r.Failed, r.Failures)
	}
	if r.PeakRSSMB <= 0 {
		t.Errorf("peak RSS = %v MB, want > 0", r.PeakRSSMB)
	}
	if r.FirstMS.N != 2 || r.LaterMS.N != 4 {
		t.Errorf("latency samples: first %d, later %d; want 2 and 4", r.FirstMS.N, r.LaterMS.N)
	}
	if r.Width*r.Height > 300_000 || r.Width*r.Height < 290_000 {
		t.Errorf("image %d×%d, want about 0.3 MP", r.Width, r.Height)
	}
	if !strings.Contains(stdout.String(), "later prompts:") {
		t.Errorf("stdout has no latency line:\n%s", stdout.String())
	}
}

// TestFlags checks that bad settings are refused with a message naming the flag.
func TestFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string // in the error; "" means accepted
	}{
		{nil, ""},
		{[]string{"-users", "64", "-megapixels", "40", "-workers", "3", "-think", "250ms"}, ""},
		{[]string{"-users", "0"}, "-users"},
		{[]string{"-users", "65"}, "-users"},
		{[]string{"-prompts", "0"}, "-prompts"},
		{[]string{"-megapixels", "0"}, "-megapixels"},
		{[]string{"-megapixels", "41"}, "-megapixels"},
		{[]string{"-megapixels", "NaN"}, "-megapixels"},
		{[]string{"-workers", "-1"}, "-workers"},
		{[]string{"-think", "-1s"}, "-think"},
		{[]string{"extra"}, "unexpected arguments"},
	} {
		_, err := parseFlags(tc.args, &bytes.Buffer{})
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%q: %v, want accepted", tc.args, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%q: error %v, want one about %s", tc.args, err, tc.want)
		}
	}
	if w, h := imageSize(12); w != 4000 || h != 3000 {
		t.Errorf("imageSize(12) = %d×%d, want 4000×3000", w, h)
	}
	if w, h := imageSize(40); w*h > 40_000_000 {
		t.Errorf("imageSize(40) = %d×%d, above the engine's 40 MP", w, h)
	}
}
