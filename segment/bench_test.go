package segment

import (
	"bytes"
	"context"
	"image"
	"image/jpeg"
	"slices"
	"sync"
	"testing"
	"time"
)

// photo12MP is a 4000×3000 JPEG of a synthetic scene, made once: encoding it takes a while.
var photo12MP = sync.OnceValue(func() []byte {
	img, _ := scene(4000, 3000, 11, ellipse(2100, 1400, 900, 700))
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 90}); err != nil {
		panic(err)
	}
	return buf.Bytes()
})

func BenchmarkDecodeDownscale12MP(b *testing.B) {
	src := bytesSource("p", photo12MP())
	b.ResetTimer()
	for b.Loop() {
		if _, err := loadWorkImage(context.Background(), src, defaultMaxPixels, defaultWorkSize); err != nil {
			b.Fatal(err)
		}
	}
}

// benchProblem is a box prompt on a 640×480 scene at the default working size.
func benchProblem(b *testing.B) (*workImage, Prompt) {
	img, _ := scene(640, 480, 12, ellipse(300, 250, 150, 110))
	wi := newWorkImage(img, defaultWorkSize)
	wi.cost = computeStepCosts(wi, defaultTuning().geoAlpha)
	return wi, Prompt{Box: &Box{XMin: 0.2, YMin: 0.2, XMax: 0.75, YMax: 0.8}}
}

func BenchmarkGMMFit(b *testing.B) {
	wi, p := benchProblem(b)
	pr := newProblem(context.Background(), wi, p, nil, defaultTuning(), time.Now().Add(time.Hour))
	lab := pr.initBox()
	idx := samples(lab, 1, nil)
	comp := make([]uint8, len(idx))
	b.ResetTimer()
	for b.Loop() {
		splitInit(wi.rgb, idx, comp, gmmK)
		m := fitGMM(wi.rgb, idx, comp, gmmK)
		m.assign(wi.rgb, idx, comp)
		fitGMM(wi.rgb, idx, comp, gmmK)
	}
}

// BenchmarkMaxflow times the first (most expensive) cut of a box prompt.
func BenchmarkMaxflow(b *testing.B) {
	wi, p := benchProblem(b)
	t := defaultTuning()
	t.iterations = 1
	pr := newProblem(context.Background(), wi, p, nil, t, time.Now().Add(time.Hour))
	init := pr.initBox()
	pr.run(slices.Clone(init)) // builds the graph and fills capacities
	g := pr.g
	rcap, tr := slices.Clone(g.rcap), slices.Clone(g.tr)
	b.ResetTimer()
	for b.Loop() {
		copy(g.rcap, rcap)
		copy(g.tr, tr)
		g.maxflow()
	}
}

func benchPrompt(b *testing.B, warm bool, p Prompt) {
	src := bytesSource("p", photo12MP())
	e := New(Options{})
	if warm {
		if _, err := e.Segment(context.Background(), src, p); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for b.Loop() {
		if !warm {
			e = New(Options{})
		}
		if _, err := e.Segment(context.Background(), src, p); err != nil {
			b.Fatal(err)
		}
	}
}

var (
	benchBox   = Prompt{Box: &Box{XMin: 0.28, YMin: 0.2, XMax: 0.78, YMax: 0.75}}
	benchClick = Prompt{Points: []Point{{X: 0.52, Y: 0.47, Label: 1}, {X: 0.1, Y: 0.1, Label: 0}}}
)

func BenchmarkPromptCold12MPBox(b *testing.B)   { benchPrompt(b, false, benchBox) }
func BenchmarkPromptWarm12MPBox(b *testing.B)   { benchPrompt(b, true, benchBox) }
func BenchmarkPromptCold12MPClick(b *testing.B) { benchPrompt(b, false, benchClick) }
func BenchmarkPromptWarm12MPClick(b *testing.B) { benchPrompt(b, true, benchClick) }

// benchClickSequence times the last prompt of a click sequence, the earlier prompts asked
// first (warm: the previous answer is in the history cache) or not (cold history: the engine
// recomputes the earlier answers on a decoded image).
func benchClickSequence(b *testing.B, warmHistory bool) {
	src := bytesSource("p", photo12MP())
	pts := []Point{{X: 0.52, Y: 0.47, Label: 1}, {X: 0.1, Y: 0.1, Label: 0}, {X: 0.7, Y: 0.5, Label: 1}, {X: 0.3, Y: 0.3, Label: 0}}
	last := Prompt{Points: pts}
	b.ResetTimer()
	for b.Loop() {
		b.StopTimer()
		e := New(Options{})
		if warmHistory {
			for k := 1; k < len(pts); k++ {
				if _, err := e.Segment(context.Background(), src, Prompt{Points: pts[:k]}); err != nil {
					b.Fatal(err)
				}
			}
		} else if _, err := e.Segment(context.Background(), src, benchBox); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if _, err := e.Segment(context.Background(), src, last); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPromptWarm12MPClick4(b *testing.B)            { benchClickSequence(b, true) }
func BenchmarkPromptWarm12MPClick4ColdHistory(b *testing.B) { benchClickSequence(b, false) }

var _ = image.Point{}
