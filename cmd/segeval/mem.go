package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"runtime/metrics"
	"strconv"
	"strings"
	"time"

	"github.com/lassoteam/lasso/segment"
)

// measureMemory answers a box prompt and a growing click prompt on one image, as an annotator
// would, in this fresh process, and prints the peak resident memory: the figure behind the
// "12 MP image" memory target.
func measureMemory(ctx context.Context, cfg config, stdout io.Writer) error {
	eng := segment.New(segment.Options{Budget: cfg.budget, WorkSize: cfg.workSize})
	src := segment.Source{Key: cfg.memory, Open: func(context.Context) (io.ReadCloser, error) { return os.Open(cfg.memory) }}
	prompts := []segment.Prompt{
		{Box: &segment.Box{XMin: 0.2, YMin: 0.2, XMax: 0.8, YMax: 0.8}},
		{Points: []segment.Point{{X: 0.5, Y: 0.5, Label: 1}}},
		{Points: []segment.Point{{X: 0.5, Y: 0.5, Label: 1}, {X: 0.1, Y: 0.1, Label: 0}}},
		{Points: []segment.Point{{X: 0.5, Y: 0.5, Label: 1}, {X: 0.1, Y: 0.1, Label: 0}, {X: 0.6, Y: 0.4, Label: 1}}},
	}
	for i, p := range prompts {
		t0 := time.Now()
		segs, err := eng.Segment(ctx, src, p)
		if err != nil {
			return fmt.Errorf("prompt %d: %w", i+1, err)
		}
		fmt.Fprintf(stdout, "prompt %d: %d candidates in %v\n", i+1, len(segs), time.Since(t0).Round(time.Millisecond))
	}
	fmt.Fprintf(stdout, "peak memory (VmHWM): %.1f MB\n", peakRSSMB())
	return nil
}

// peakRSSMB is the process's peak resident set size (VmHWM) in MB, or, where /proc is missing,
// the memory the Go runtime holds now.
func peakRSSMB() float64 {
	if f, err := os.Open("/proc/self/status"); err == nil {
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
				kb, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 64)
				if err == nil {
					return kb / 1024
				}
			}
		}
	}
	s := []metrics.Sample{{Name: "/memory/classes/total:bytes"}}
	metrics.Read(s)
	return float64(s[0].Value.Uint64()) / (1 << 20)
}

// resetPeakRSS resets VmHWM to the current RSS (Linux: write 5 to /proc/self/clear_refs) and
// reports whether it could.
func resetPeakRSS() bool {
	return os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil
}
