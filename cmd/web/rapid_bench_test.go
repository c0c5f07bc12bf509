package main

import (
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// BenchmarkRapidRefinement measures, in a real browser against local mode with the stand-in's
// delays at zero, bursts of refinement: 20 positive clicks 150 ms apart on one object (points
// 0.04 of the image apart around the middle of fruits.jpg, so that none lands on an earlier
// one), then the time from the last click to the frame that draws its outline (the canvas's
// data-latency-ms for prompt version 20). Each iteration is one burst on a new object; it
// reports last-ms p50/p95 and, as outlines-drawn, the mean number of distinct outlines the
// canvas showed for the object while the burst went on. Run it with
//
//	go test -run '^$' -bench RapidRefinement -benchtime 10x ./cmd/web
func BenchmarkRapidRefinement(b *testing.B) {
	const clicks, gap = 20, 150 * time.Millisecond
	base := startApp(b, "-queue-delay", "0", "-run-delay", "0")
	ctx := newBrowser(b)
	if err := signIn(ctx, base, "Bench"); err != nil {
		b.Fatal(err)
	}
	if err := chromedp.Do(ctx,
		chromedp.Click(chromedp.Search(`//a[contains(., "fruits.jpg")]`)),
		chromedp.WaitVisible(chromedp.CSS(`canvas[data-canvas][data-image-loaded="true"]`)),
	); err != nil {
		b.Fatal(err)
	}
	var lasts []float64
	outlines := 0
	b.ResetTimer()
	for i := range b.N {
		if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`button[data-action="new"]`))); err != nil {
			b.Fatal(err)
		}
		seen := map[string]bool{}
		start := time.Now()
		for c := range clicks {
			nx := 0.4 + 0.04*float64(c%5)
			ny := 0.42 + 0.04*float64(c/5)
			x, y, err := canvasPoint(ctx, nx, ny)
			if err != nil {
				b.Fatal(err)
			}
			// Clicks keep to the schedule, whatever the time the browser took for the last one.
			if d := time.Until(start.Add(time.Duration(c) * gap)); d > 0 {
				time.Sleep(d)
			}
			if err := chromedp.Do(ctx, chromedp.MouseClickXY(x, y)); err != nil {
				b.Fatal(err)
			}
			s, err := readCanvas(ctx)
			if err != nil {
				b.Fatal(err)
			}
			if s.Polygons > 0 && s.BBox != "" {
				seen[s.BBox] = true
			}
		}
		s, err := waitSettled(ctx, i+1, clicks)
		if err != nil {
			b.Fatalf("burst %d: %v", i, err)
		}
		if s.Status != "done" {
			b.Fatalf("burst %d: the last prompt %s: %+v", i, s.Status, s)
		}
		ms, err := strconv.ParseFloat(s.Latency, 64)
		if err != nil {
			b.Fatalf("burst %d: latency %q: %v", i, s.Latency, err)
		}
		lasts = append(lasts, ms)
		outlines += len(seen)
	}
	b.StopTimer()
	sort.Float64s(lasts)
	b.ReportMetric(percentile(lasts, 0.50), "last-p50-ms")
	b.ReportMetric(percentile(lasts, 0.95), "last-p95-ms")
	b.ReportMetric(float64(outlines)/float64(b.N), "outlines-drawn")
}
