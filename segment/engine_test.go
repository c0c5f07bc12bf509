package segment

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io"
	"math"
	"math/rand/v2"
	"reflect"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
)

// scene draws a textured object on a textured background with distinct mean colours: inside
// reports whether a pixel belongs to the object.
func scene(w, h int, seed uint64, inside func(x, y int) bool) (*image.RGBA, []bool) {
	rng := rand.New(rand.NewPCG(seed, 7))
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	gt := make([]bool, w*h)
	for y := range h {
		for x := range w {
			n := func(a int) uint8 { return uint8(min(max(a+rng.IntN(41)-20, 0), 255)) }
			c := color.RGBA{n(70), n(110), n(170), 255} // blue-grey background
			// A gentle gradient and stripes so the background is not one colour.
			if (x/9)%2 == 0 {
				c.G = n(130)
			}
			if inside(x, y) {
				c = color.RGBA{n(200), n(120), n(50), 255} // orange object
				gt[y*w+x] = true
			}
			img.SetRGBA(x, y, c)
		}
	}
	return img, gt
}

func ellipse(cx, cy, rx, ry float64) func(x, y int) bool {
	return func(x, y int) bool {
		dx, dy := (float64(x)+0.5-cx)/rx, (float64(y)+0.5-cy)/ry
		return dx*dx+dy*dy <= 1
	}
}

func pngSource(t testing.TB, key string, img image.Image) Source {
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return bytesSource(key, buf.Bytes())
}

func bytesSource(key string, b []byte) Source {
	return Source{Key: key, Open: func(context.Context) (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(b)), nil
	}}
}

// rasterise scores polygons the way the evaluation protocol does: even-odd rule, pixel
// centres.
func rasterise(polys []Polygon, w, h int) []bool {
	out := make([]bool, w*h)
	for y := range h {
		py := (float64(y) + 0.5) / float64(h)
		for x := range w {
			px := (float64(x) + 0.5) / float64(w)
			in := false
			for _, ring := range polys {
				for i := range ring {
					a, b := ring[i], ring[(i+1)%len(ring)]
					if (a.Y > py) != (b.Y > py) && px < a.X+(py-a.Y)*(b.X-a.X)/(b.Y-a.Y) {
						in = !in
					}
				}
			}
			out[y*w+x] = in
		}
	}
	return out
}

func iouBool(a, b []bool) float64 {
	var in, un int
	for i := range a {
		if a[i] && b[i] {
			in++
		}
		if a[i] || b[i] {
			un++
		}
	}
	if un == 0 {
		return 1
	}
	return float64(in) / float64(un)
}

// best checks the answer's invariants and returns its first segment. It is curried so a
// Segment call can be passed straight in.
func best(t *testing.T) func(segs []Segment, err error) Segment {
	return func(segs []Segment, err error) Segment {
		t.Helper()
		return checkBest(t, segs, err)
	}
}

func checkBest(t *testing.T, segs []Segment, err error) Segment {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	if len(segs) == 0 {
		t.Fatal("no segments")
	}
	for i := 1; i < len(segs); i++ {
		if segs[i].Score > segs[i-1].Score {
			t.Errorf("segments not sorted by score: %v after %v", segs[i].Score, segs[i-1].Score)
		}
	}
	for _, s := range segs {
		if !(s.Score >= 0 && s.Score <= 1) {
			t.Errorf("score %v outside 0..1", s.Score)
		}
	}
	return segs[0]
}

func TestBoxFindsCleanObject(t *testing.T) {
	const w, h = 320, 240
	img, gt := scene(w, h, 1, ellipse(150, 120, 70, 50))
	e := New(Options{})
	box := &Box{XMin: 70.0 / w, YMin: 60.0 / h, XMax: 230.0 / w, YMax: 180.0 / h}
	s := best(t)(e.Segment(context.Background(), pngSource(t, "a", img), Prompt{Box: box}))
	if got := iouBool(rasterise(s.Polygons, w, h), gt); got < 0.95 {
		t.Errorf("IoU %.3f from a box, want ≥ 0.95", got)
	}
}

func TestClickFindsCleanObject(t *testing.T) {
	const w, h = 320, 240
	img, gt := scene(w, h, 2, ellipse(170, 110, 60, 45))
	e := New(Options{})
	p := Prompt{Points: []Point{{X: 170.0 / w, Y: 110.0 / h, Label: 1}}}
	s := best(t)(e.Segment(context.Background(), pngSource(t, "a", img), p))
	if got := iouBool(rasterise(s.Polygons, w, h), gt); got < 0.95 {
		t.Errorf("IoU %.3f from one click, want ≥ 0.95", got)
	}
}

func TestNegativeClickRemovesWhatItTouches(t *testing.T) {
	const w, h = 320, 240
	// A disc with an arm of the same colour: one click takes both, a negative click on the
	// arm must cut it off.
	disc := ellipse(120, 120, 50, 50)
	arm := func(x, y int) bool { return x >= 160 && x < 290 && y >= 110 && y < 130 }
	img, _ := scene(w, h, 3, func(x, y int) bool { return disc(x, y) || arm(x, y) })
	e := New(Options{})
	src := pngSource(t, "a", img)
	neg := Point{X: 250.5 / w, Y: 120.5 / h, Label: 0}
	pos := Point{X: 120.5 / w, Y: 120.5 / h, Label: 1}
	whole := best(t)(e.Segment(context.Background(), src, Prompt{Points: []Point{pos}}))
	if !rasterise(whole.Polygons, w, h)[120*w+250] {
		t.Fatal("without the negative click the arm is not taken; the test shows nothing")
	}
	for _, p := range []Prompt{
		{Points: []Point{pos, neg}},
		{Points: []Point{neg, pos}},
	} {
		segs, err := e.Segment(context.Background(), src, p)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range segs {
			m := rasterise(s.Polygons, w, h)
			if m[120*w+250] {
				t.Errorf("prompt %+v: the negative click's pixel is in a segment", p)
			}
			if !m[120*w+120] {
				t.Errorf("prompt %+v: the object centre is missing", p)
			}
		}
	}
}

func TestVertexLimitHolds(t *testing.T) {
	const w, h = 300, 300
	// A star with many spikes needs many vertices at full detail.
	star := func(x, y int) bool {
		dx, dy := float64(x)-150, float64(y)-150
		r := math.Hypot(dx, dy)
		a := math.Atan2(dy, dx)
		return r < 60+40*math.Sin(24*a)
	}
	img, _ := scene(w, h, 4, star)
	src := pngSource(t, "a", img)
	for _, maxV := range []int{3, 8, 40, 1000} {
		e := New(Options{MaxVertices: maxV})
		segs, err := e.Segment(context.Background(), src, Prompt{Points: []Point{{X: 0.5, Y: 0.5, Label: 1}}})
		if err != nil {
			t.Fatal(err)
		}
		if len(segs) == 0 {
			t.Fatalf("maxVertices %d: no segments", maxV)
		}
		for _, s := range segs {
			for _, r := range s.Polygons {
				if len(r) < 3 || len(r) > maxV {
					t.Errorf("maxVertices %d: ring with %d vertices", maxV, len(r))
				}
				for _, v := range r {
					if !(v.X >= 0 && v.X <= 1 && v.Y >= 0 && v.Y <= 1) {
						t.Fatalf("vertex %v outside 0..1", v)
					}
				}
			}
		}
	}
}

func TestDeterministic(t *testing.T) {
	const w, h = 256, 192
	img, _ := scene(w, h, 5, ellipse(120, 100, 60, 40))
	src := pngSource(t, "a", img)
	prompts := []Prompt{
		{Box: &Box{XMin: 0.2, YMin: 0.2, XMax: 0.8, YMax: 0.8}},
		{Points: []Point{{X: 0.45, Y: 0.5, Label: 1}, {X: 0.1, Y: 0.1, Label: 0}}},
	}
	e1 := New(Options{})
	for _, p := range prompts {
		a, err := e1.Segment(context.Background(), src, p)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := e1.Segment(context.Background(), src, p)             // warm cache
		c, _ := New(Options{}).Segment(context.Background(), src, p) // fresh engine
		if !reflect.DeepEqual(a, b) || !reflect.DeepEqual(a, c) {
			t.Errorf("prompt %+v: results differ between runs", p)
		}
	}
}

func TestErrors(t *testing.T) {
	img, _ := scene(64, 48, 6, ellipse(32, 24, 10, 10))
	src := pngSource(t, "a", img)
	ctx := context.Background()
	click := Prompt{Points: []Point{{X: 0.5, Y: 0.5, Label: 1}}}

	if _, err := New(Options{MaxPixels: 1000}).Segment(ctx, src, click); !errors.Is(err, ErrTooLarge) {
		t.Errorf("over the pixel limit: %v, want ErrTooLarge", err)
	}
	gif := bytesSource("g", []byte("GIF89a\x01\x00\x01\x00\x00\x00\x00;"))
	if _, err := New(Options{}).Segment(ctx, gif, click); !errors.Is(err, ErrUnsupported) {
		t.Errorf("GIF: %v, want ErrUnsupported", err)
	}
	broken := bytesSource("b", []byte("\x89PNG\r\n\x1a\nnot really"))
	if _, err := New(Options{}).Segment(ctx, broken, click); !errors.Is(err, ErrUnsupported) {
		t.Errorf("broken PNG: %v, want ErrUnsupported", err)
	}
	for _, p := range []Prompt{
		{},
		{Points: []Point{{X: 1.5, Y: 0.5, Label: 1}}},
		{Points: []Point{{X: 0.5, Y: 0.5, Label: 2}}},
		{Box: &Box{XMin: 0.5, YMin: 0.1, XMax: 0.5, YMax: 0.9}},
		{Points: make([]Point, MaxPoints+1)},
	} {
		if _, err := New(Options{}).Segment(ctx, src, p); !errors.Is(err, ErrInvalidPrompt) {
			t.Errorf("prompt %+v: %v, want ErrInvalidPrompt", p, err)
		}
	}
	// Only negative points ask for nothing: no segments, no error.
	segs, err := New(Options{}).Segment(ctx, src, Prompt{Points: []Point{{X: 0.5, Y: 0.5, Label: 0}}})
	if err != nil || len(segs) != 0 {
		t.Errorf("all-negative prompt: %d segments, %v; want none", len(segs), err)
	}
}

func TestJPEGDecodesLikePNG(t *testing.T) {
	const w, h = 321, 203 // odd sizes exercise the chroma edges
	img, gt := scene(w, h, 8, ellipse(160, 100, 60, 45))
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 92}); err != nil {
		t.Fatal(err)
	}
	e := New(Options{})
	s := best(t)(e.Segment(context.Background(), bytesSource("j", buf.Bytes()), Prompt{Box: &Box{XMin: 0.25, YMin: 0.2, XMax: 0.75, YMax: 0.8}}))
	if got := iouBool(rasterise(s.Polygons, w, h), gt); got < 0.93 {
		t.Errorf("IoU %.3f on the JPEG, want ≥ 0.93", got)
	}
}

func TestCacheDecodesOnceAndEvicts(t *testing.T) {
	img, _ := scene(200, 150, 9, ellipse(100, 75, 40, 30))
	var buf bytes.Buffer
	png.Encode(&buf, img)
	var opens atomic.Int32
	src := Source{Key: "k", Open: func(context.Context) (io.ReadCloser, error) {
		opens.Add(1)
		return io.NopCloser(bytes.NewReader(buf.Bytes())), nil
	}}
	e := New(Options{})
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if _, err := e.Segment(context.Background(), src, Prompt{Points: []Point{{X: 0.5, Y: 0.5, Label: 1}}}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if n := opens.Load(); n != 1 {
		t.Errorf("8 concurrent prompts opened the image %d times, want 1", n)
	}

	// A cache with room for about one image keeps the most recent only.
	wi, _ := e.cache.get(context.Background(), "k", nil)
	small := New(Options{CacheBytes: wi.bytes() + 1})
	for _, k := range []string{"a", "b", "c"} {
		s := src
		s.Key = k
		if _, err := small.Segment(context.Background(), s, Prompt{Points: []Point{{X: 0.5, Y: 0.5, Label: 1}}}); err != nil {
			t.Fatal(err)
		}
	}
	small.cache.mu.Lock()
	defer small.cache.mu.Unlock()
	if small.cache.size > wi.bytes()+1 || len(small.cache.items) != 1 || small.cache.items["c"] == nil {
		t.Errorf("cache holds %d bytes in %d items, want only the last image", small.cache.size, len(small.cache.items))
	}
}

// TestParallelBoundsPromptsAtOnce: with Parallel 1 a second prompt waits while the first is
// segmented (its image is not even opened), gives up when its context ends, and runs once
// the first is done.
func TestParallelBoundsPromptsAtOnce(t *testing.T) {
	img, _ := scene(120, 90, 3, ellipse(60, 45, 25, 20))
	var buf bytes.Buffer
	png.Encode(&buf, img)
	release := make(chan struct{})
	var opened atomic.Int32
	src := func(key string, wait bool) Source {
		return Source{Key: key, Open: func(context.Context) (io.ReadCloser, error) {
			opened.Add(1)
			if wait {
				<-release
			}
			return io.NopCloser(bytes.NewReader(buf.Bytes())), nil
		}}
	}
	e := New(Options{Parallel: 1})
	click := Prompt{Points: []Point{{X: 0.5, Y: 0.5, Label: 1}}}
	first := make(chan error, 1)
	go func() {
		_, err := e.Segment(context.Background(), src("a", true), click)
		first <- err
	}()
	for opened.Load() == 0 {
		runtime.Gosched()
	}
	ctx, cancel := context.WithCancel(context.Background())
	second := make(chan error, 1)
	go func() {
		_, err := e.Segment(ctx, src("b", false), click)
		second <- err
	}()
	cancel()
	if err := <-second; !errors.Is(err, context.Canceled) || opened.Load() != 1 {
		t.Errorf("the waiting prompt: %v after opening %d images; want context.Canceled, the second image never opened", err, opened.Load())
	}
	close(release)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if segs, err := e.Segment(context.Background(), src("b", false), click); err != nil || len(segs) == 0 {
		t.Errorf("after the first was done: %d segments, %v", len(segs), err)
	}
}

// TestCandidatesTellApart: of candidates that show the same object again (IoU 0.9, or 0.7
// with a bounding box within 1 % on every side) only the better is kept; a part of the
// object, a shape a sixth shorter, or the object with a large hole stay candidates.
func TestCandidatesTellApart(t *testing.T) {
	const w, h = 100, 100
	rect := func(x0, y0, x1, y1 int) candidate {
		lab := make([]uint8, w*h)
		for y := y0; y < y1; y++ {
			for x := x0; x < x1; x++ {
				lab[y*w+x] = 1
			}
		}
		return candidate{lab: lab}
	}
	holed := func(side int) candidate {
		c := rect(20, 20, 80, 80)
		for y := 50 - side/2; y < 50+side-side/2; y++ {
			for x := 50 - side/2; x < 50+side-side/2; x++ {
				c.lab[y*w+x] = 0
			}
		}
		return c
	}
	pr := &problem{w: w, h: h}
	got := pr.tellApart([]candidate{
		rect(20, 20, 80, 80), // the whole
		rect(20, 20, 80, 79), // IoU 0.98: the whole again
		holed(25),            // IoU 0.83, the same box: the whole again
		rect(21, 20, 80, 70), // IoU 0.82, 10 % shorter: another answer
		rect(20, 20, 50, 50), // a quarter
		holed(40),            // IoU 0.56, the same box: a ring
	})
	var boxes [][4]int
	for _, c := range got {
		boxes = append(boxes, labBox(c.lab, w))
	}
	want := [][4]int{{20, 20, 79, 79}, {21, 20, 79, 69}, {20, 20, 49, 49}, {20, 20, 79, 79}}
	if !reflect.DeepEqual(boxes, want) {
		t.Errorf("kept candidates with boxes %v, want %v", boxes, want)
	}
}
