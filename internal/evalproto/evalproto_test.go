package evalproto

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/lassoteam/lasso/segment"
)

func bruteSquaredEDT(region []bool, w, h int) []float64 {
	out := make([]float64, w*h)
	for y := range h {
		for x := range w {
			if !region[y*w+x] {
				continue
			}
			best := math.Inf(1)
			// Non-region pixels of the padded image: the frame at -1 and w (h), and non-region pixels.
			for yy := -1; yy <= h; yy++ {
				for xx := -1; xx <= w; xx++ {
					inside := xx >= 0 && yy >= 0 && xx < w && yy < h
					if inside && region[yy*w+xx] {
						continue
					}
					d := float64((x-xx)*(x-xx) + (y-yy)*(y-yy))
					best = min(best, d)
				}
			}
			out[y*w+x] = best
		}
	}
	return out
}

func TestSquaredEDTMatchesBruteForce(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, sz := range [][2]int{{1, 1}, {1, 9}, {9, 1}, {5, 5}, {17, 11}, {30, 23}} {
		for _, density := range []float64{0, 0.3, 0.8, 0.97, 1} {
			for trial := range 4 {
				w, h := sz[0], sz[1]
				region := make([]bool, w*h)
				for i := range region {
					region[i] = rng.Float64() < density
				}
				got, want := SquaredEDT(region, w, h), bruteSquaredEDT(region, w, h)
				for i := range got {
					if got[i] != want[i] {
						t.Fatalf("%dx%d density %.2f trial %d: pixel %d = %v, want %v", w, h, density, trial, i, got[i], want[i])
					}
				}
			}
		}
	}
}

func poly(w, h float64, xy ...float64) segment.Polygon {
	var p segment.Polygon
	for i := 0; i < len(xy); i += 2 {
		p = append(p, segment.Vertex{X: xy[i] / w, Y: xy[i+1] / h})
	}
	return p
}

func maskString(m Mask) string {
	s := ""
	for y := range m.H {
		for x := range m.W {
			if m.Pix[y*m.W+x] {
				s += "#"
			} else {
				s += "."
			}
		}
		s += "\n"
	}
	return s
}

func TestRasterize(t *testing.T) {
	tests := []struct {
		name  string
		polys []segment.Polygon
		want  string
	}{
		{"pixel-edge square covers exactly its pixels", []segment.Polygon{poly(4, 3, 1, 0, 3, 0, 3, 2, 1, 2)},
			".##.\n.##.\n....\n"},
		{"whole image", []segment.Polygon{poly(4, 3, 0, 0, 4, 0, 4, 3, 0, 3)},
			"####\n####\n####\n"},
		{"edges touched but centres outside: nothing", []segment.Polygon{poly(4, 3, 1, 1, 1.4, 1, 1.4, 1.4, 1, 1.4)},
			"....\n....\n....\n"},
		{"triangle samples centres", []segment.Polygon{poly(4, 4, 0, 0, 4, 0, 0, 4)},
			"###.\n##..\n#...\n....\n"},
		{"even-odd: nested ring is a hole", []segment.Polygon{
			poly(5, 5, 0, 0, 5, 0, 5, 5, 0, 5), poly(5, 5, 1, 1, 4, 1, 4, 4, 1, 4)},
			"#####\n#...#\n#...#\n#...#\n#####\n"},
		{"even-odd: overlap cancels", []segment.Polygon{
			poly(4, 1, 0, 0, 3, 0, 3, 1, 0, 1), poly(4, 1, 1, 0, 4, 0, 4, 1, 1, 1)},
			"#..#\n"},
		{"outside the image is clipped", []segment.Polygon{poly(3, 2, -2, -1, 2, -1, 2, 5, -2, 5)},
			"##.\n##.\n"},
		{"degenerate polygon paints nothing", []segment.Polygon{poly(3, 2, 0, 0, 3, 2)},
			"...\n...\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, h := len(tt.want[:indexByte(tt.want, '\n')]), countByte(tt.want, '\n')
			if got := maskString(Rasterize(tt.polys, w, h)); got != tt.want {
				t.Errorf("got\n%swant\n%s", got, tt.want)
			}
		})
	}
}

func indexByte(s string, b byte) int {
	for i := range len(s) {
		if s[i] == b {
			return i
		}
	}
	return -1
}

func countByte(s string, b byte) int {
	n := 0
	for i := range len(s) {
		if s[i] == b {
			n++
		}
	}
	return n
}

func TestIoU(t *testing.T) {
	a := Mask{W: 4, H: 1, Pix: []bool{true, true, false, false}}
	b := Mask{W: 4, H: 1, Pix: []bool{false, true, true, false}}
	if got := IoU(a, b); got != 1.0/3 {
		t.Errorf("IoU = %v, want 1/3", got)
	}
	e := NewMask(4, 1)
	if got := IoU(e, e); got != 1 {
		t.Errorf("IoU of two empty masks = %v, want 1", got)
	}
}

func TestPercentile(t *testing.T) {
	tests := []struct {
		xs   []float64
		p    float64
		want float64
	}{
		{[]float64{5}, 50, 5},
		{[]float64{5}, 95, 5},
		{[]float64{1, 2}, 50, 1.5},
		{[]float64{4, 1, 3, 2}, 50, 2.5},
		{[]float64{1, 2, 3, 4, 5}, 95, 4.8},
		{[]float64{10, 20, 30, 40, 50, 60, 70, 80, 90, 100}, 95, 95.5},
		{[]float64{1, 2, 3}, 0, 1},
		{[]float64{1, 2, 3}, 100, 3},
	}
	for _, tt := range tests {
		if got := Percentile(tt.xs, tt.p); math.Abs(got-tt.want) > 1e-12 {
			t.Errorf("Percentile(%v, %v) = %v, want %v", tt.xs, tt.p, got, tt.want)
		}
	}
	if !math.IsNaN(Percentile(nil, 50)) {
		t.Error("Percentile of nothing should be NaN")
	}
}

func TestNoC(t *testing.T) {
	curve := []float64{0.5, 0.86, 0.89, 0.91, 0.95}
	tests := []struct {
		thr   float64
		limit int
		n     int
		ok    bool
	}{
		{0.85, 5, 2, true}, {0.90, 5, 4, true}, {0.99, 5, 5, false}, {0.90, 3, 3, false}, {0.5, 5, 1, true},
	}
	for _, tt := range tests {
		n, ok := NoC(curve, tt.thr, tt.limit)
		if n != tt.n || ok != tt.ok {
			t.Errorf("NoC(%v, %d) = %d %v, want %d %v", tt.thr, tt.limit, n, ok, tt.n, tt.ok)
		}
	}
}

func TestSpearman(t *testing.T) {
	tests := []struct {
		x, y []float64
		want float64
	}{
		{[]float64{1, 2, 3, 4}, []float64{10, 20, 30, 45}, 1},
		{[]float64{1, 2, 3, 4}, []float64{4, 3, 2, 1}, -1},
		{[]float64{1, 2, 2, 3}, []float64{1, 2, 3, 4}, 0.9486832980505138},
		{[]float64{1, 1, 1}, []float64{1, 2, 3}, math.NaN()},
	}
	for _, tt := range tests {
		got := Spearman(tt.x, tt.y)
		if math.IsNaN(tt.want) != math.IsNaN(got) || (!math.IsNaN(got) && math.Abs(got-tt.want) > 1e-12) {
			t.Errorf("Spearman(%v, %v) = %v, want %v", tt.x, tt.y, got, tt.want)
		}
	}
}

func maskFrom(rows ...string) Mask {
	m := NewMask(len(rows[0]), len(rows))
	for y, r := range rows {
		for x, c := range r {
			m.Pix[y*m.W+x] = c == '#'
		}
	}
	return m
}

func TestRobot(t *testing.T) {
	t.Run("first click: deepest object pixel, ties row-major", func(t *testing.T) {
		// A 4x2 block: every pixel has distance 1; the first in row-major order wins.
		gt := maskFrom(
			"......",
			".####.",
			".####.",
			"......",
		)
		c, ok := NewRobot(gt).Next(nil)
		if !ok || c.Row != 1 || c.Col != 1 || c.Label != 1 {
			t.Fatalf("got %+v %v, want row 1 col 1 label 1", c, ok)
		}
		if c.Point != (segment.Point{X: 1.5 / 6, Y: 1.5 / 4, Label: 1}) {
			t.Errorf("point %+v", c.Point)
		}
	})
	t.Run("image border counts as non-region", func(t *testing.T) {
		gt := maskFrom(
			"#####",
			"#####",
			"#####",
		)
		c, _ := NewRobot(gt).Next(nil)
		if c.Row != 1 || c.Col != 1 {
			t.Fatalf("got row %d col %d, want 1 1 (distance 2, first in row-major)", c.Row, c.Col)
		}
	})
	t.Run("equal depths go to a negative click", func(t *testing.T) {
		gt := maskFrom(
			"###...",
			"###...",
			"###...",
		)
		pred := maskFrom(
			"......",
			"...###",
			"......",
		)
		// FN is the 3x3 block: its centre is at distance 2; FP is one row: distance 1.
		c, _ := NewRobot(gt).Next(pred.Pix)
		if c.Label != 1 || c.Row != 1 || c.Col != 1 {
			t.Fatalf("got %+v, want positive at (1,1)", c)
		}
		gt2 := maskFrom(
			"#.....",
			"......",
			"......",
		)
		// FN is one pixel at distance 1, as deep as FP: the tie goes to the negative click.
		c, _ = NewRobot(gt2).Next(pred.Pix)
		if c.Label != 0 || c.Row != 1 || c.Col != 3 {
			t.Fatalf("tie: got %+v, want negative at (1,3)", c)
		}
	})
	t.Run("no pixel is clicked twice, stop when no error", func(t *testing.T) {
		gt := maskFrom(
			"##",
			"..",
		)
		r := NewRobot(gt)
		c1, _ := r.Next(nil)
		c2, _ := r.Next(nil)
		if c1.Col != 0 || c2.Col != 1 || c1.Row != 0 || c2.Row != 0 {
			t.Fatalf("clicks %+v then %+v, want (0,0) then (0,1)", c1, c2)
		}
		if _, ok := r.Next(nil); ok {
			t.Fatal("a third click although every error pixel was clicked")
		}
		if _, ok := NewRobot(gt).Next(gt.Pix); ok {
			t.Fatal("a click although the prediction is perfect")
		}
		if len(r.Points()) != 2 {
			t.Fatalf("points %v", r.Points())
		}
	})
}

func TestRunImage(t *testing.T) {
	gt := maskFrom(
		"........",
		"..####..",
		"..####..",
		"........",
	)
	im := Image{Name: "t.jpg", Tier: "synthetic", Width: 8, Height: 4, Boxes: map[string]Box{}}
	for _, k := range BoxKeys {
		im.Boxes[k] = Box{XMin: 2.0 / 8, YMin: 1.0 / 4, XMax: 6.0 / 8, YMax: 3.0 / 4}
	}
	calls := 0
	// A fake engine: the box itself for box prompts; fails on the second click.
	seg := func(ctx context.Context, p segment.Prompt) ([]segment.Segment, error) {
		calls++
		if p.Box != nil {
			b := p.Box
			return []segment.Segment{{Score: 0.9, Polygons: []segment.Polygon{poly(1, 1, b.XMin, b.YMin, b.XMax, b.YMin, b.XMax, b.YMax, b.XMin, b.YMax)}}}, nil
		}
		if len(p.Points) == 2 {
			return nil, errors.New("boom")
		}
		return []segment.Segment{{Score: 0.2, Polygons: []segment.Polygon{poly(8, 4, 2, 1, 4, 1, 4, 3, 2, 3)}}}, nil
	}
	res, err := RunImage(context.Background(), im, gt, seg, 3)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range BoxKeys {
		if res.Box[k].IoU != 1 {
			t.Errorf("box %s IoU %v", k, res.Box[k].IoU)
		}
	}
	if !res.Box["pad0"].Cold || res.Box["pad5"].Cold {
		t.Error("only the first request is cold")
	}
	if fmt.Sprint(res.Curve) != "[0.5 0 0.5]" || !res.Click[1].Failed {
		t.Errorf("curve %v, clicks %+v", res.Curve, res.Click)
	}
	if calls != 4+3+2 || res.Deterministic == nil || !*res.Deterministic {
		t.Errorf("calls %d, deterministic %v", calls, res.Deterministic)
	}
	s := Summarize([]ImageResult{res}, 3)
	if s.Failures != 1 || s.Requests != 7 || s.Latency["cold"].N != 1 || s.Latency["warm"].N != 6 {
		t.Errorf("summary %+v", s)
	}
	if s.NoC85 != 3 || s.Never85 != 1 || s.ClickIoU["1"] != 0.5 || s.ClickIoU["3"] != 0.5 {
		t.Errorf("summary %+v", s)
	}
	if got := float64(s.ScoreIoU["all"]); math.Abs(got-1) > 1e-12 {
		t.Errorf("score-IoU correlation %v, want 1", got)
	}
}

func TestRunImageRobotStops(t *testing.T) {
	gt := maskFrom(
		"....",
		".##.",
		"....",
	)
	im := Image{Name: "t.jpg", Width: 4, Height: 3, Boxes: map[string]Box{}}
	for _, k := range BoxKeys {
		im.Boxes[k] = Box{XMin: 0.25, YMin: 1.0 / 3, XMax: 0.75, YMax: 2.0 / 3}
	}
	perfect := func(ctx context.Context, p segment.Prompt) ([]segment.Segment, error) {
		return []segment.Segment{{Score: 1, Polygons: []segment.Polygon{poly(4, 3, 1, 1, 3, 1, 3, 2, 1, 2)}}}, nil
	}
	res, err := RunImage(context.Background(), im, gt, perfect, 5)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Click) != 1 || fmt.Sprint(res.Curve) != "[1 1 1 1 1]" {
		t.Errorf("clicks %d, curve %v", len(res.Click), res.Curve)
	}
}

func TestBaselineRowResult(t *testing.T) {
	rows, err := ParseBaselineRows([]byte(`{"longSide512": [{"name": "a.jpg", "tier": "composite",
		"box": {"pad0": 0.9, "pad5": 0.8, "pad15": 0.7, "jitter": 0.6}, "box_ms": [1, 2, 3, 4],
		"clicks": [0.5, 0.95], "click_ms": [5, 6]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	r := rows["longSide512"][0].Result(4)
	if r.Box["pad15"].IoU != 0.7 || r.Box["pad15"].Ms != 3 || fmt.Sprint(r.Curve) != "[0.5 0.95 0.95 0.95]" {
		t.Errorf("%+v", r)
	}
	s := Summarize([]ImageResult{r}, 4)
	if s.NoC90 != 2 || s.Latency["box"].P50 != 2.5 || s.Latency["cold"].N != 0 {
		t.Errorf("%+v", s)
	}
}

func TestLoadSetAndReadMask(t *testing.T) {
	// One image of the development set (shared/eval, which may be committed as test data).
	dir := filepath.Join("testdata", "eval")
	s, err := LoadSet(dir)
	if err != nil {
		t.Fatal(err)
	}
	im := s.Images[0]
	gt, err := ReadMask(filepath.Join(dir, im.Mask))
	if err != nil {
		t.Fatal(err)
	}
	if gt.W != im.Width || gt.H != im.Height {
		t.Fatalf("mask %dx%d, prompts say %dx%d", gt.W, gt.H, im.Width, im.Height)
	}
	if f := float64(gt.Count()) / float64(gt.W*gt.H); math.Abs(f-im.ObjectFraction) > 1e-3 {
		t.Errorf("object fraction %v, prompts say %v", f, im.ObjectFraction)
	}
	// The robot's first click is the firstClick of prompts.json, for every image.
	for _, im := range s.Images {
		gt, err := ReadMask(filepath.Join(dir, im.Mask))
		if err != nil {
			t.Fatal(err)
		}
		c, _ := NewRobot(gt).Next(nil)
		if math.Abs(c.Point.X-im.FirstClick.X) > 1e-6 || math.Abs(c.Point.Y-im.FirstClick.Y) > 1e-6 || c.Label != im.FirstClick.Label {
			t.Errorf("%s: first click %+v, prompts say %+v", im.Name, c.Point, im.FirstClick)
		}
		// pad0 lies on the mask's bounding box.
		x0, y0, x1, y1 := gt.W, gt.H, 0, 0
		for i, v := range gt.Pix {
			if v {
				x, y := i%gt.W, i/gt.W
				x0, y0, x1, y1 = min(x0, x), min(y0, y), max(x1, x+1), max(y1, y+1)
			}
		}
		b := im.Boxes["pad0"]
		if math.Abs(b.XMin-float64(x0)/float64(gt.W)) > 1e-5 || math.Abs(b.YMax-float64(y1)/float64(gt.H)) > 1e-5 {
			t.Errorf("%s: pad0 %+v, mask box %d %d %d %d", im.Name, b, x0, y0, x1, y1)
		}
	}
}

func TestMakeImageMatchesDevPrompts(t *testing.T) {
	// Prompts made from a mask agree with the dev set's, which were made by the same rules.
	dir := filepath.Join("testdata", "eval")
	s, err := LoadSet(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range s.Images {
		gt, err := ReadMask(filepath.Join(dir, want.Mask))
		if err != nil {
			t.Fatal(err)
		}
		got, err := MakeImage(want.Name, want.Image, want.Mask, want.Tier, gt, rand.New(rand.NewPCG(1, 2)))
		if err != nil {
			t.Fatal(err)
		}
		if g, w := got.FirstClick, want.FirstClick; math.Abs(g.X-w.X) > 1e-6 || math.Abs(g.Y-w.Y) > 1e-6 || g.Label != w.Label {
			t.Errorf("%s: first click %+v, want %+v", want.Name, got.FirstClick, want.FirstClick)
		}
		if math.Abs(got.ObjectFraction-want.ObjectFraction) > 1e-3 {
			t.Errorf("%s: object fraction %v, want %v", want.Name, got.ObjectFraction, want.ObjectFraction)
		}
		for _, k := range []string{"pad0", "pad5", "pad15"} {
			g, w := got.Boxes[k], want.Boxes[k]
			if math.Abs(g.XMin-w.XMin)+math.Abs(g.YMin-w.YMin)+math.Abs(g.XMax-w.XMax)+math.Abs(g.YMax-w.YMax) > 1e-4 {
				t.Errorf("%s %s: %+v, want %+v", want.Name, k, g, w)
			}
		}
		// The jittered box moves each side by -2..+8 % of the object's box.
		p0, j := got.Boxes["pad0"], got.Boxes["jitter"]
		bw, bh := p0.XMax-p0.XMin, p0.YMax-p0.YMin
		for _, d := range []float64{(p0.XMin - j.XMin) / bw, (j.XMax - p0.XMax) / bw, (p0.YMin - j.YMin) / bh, (j.YMax - p0.YMax) / bh} {
			if d < -0.02-1e-9 || d > 0.08+1e-9 {
				t.Errorf("%s: jitter moves a side by %v of the box", want.Name, d)
			}
		}
	}
	if _, err := MakeImage("e", "e.jpg", "e.png", "t", NewMask(4, 4), rand.New(rand.NewPCG(1, 2))); err == nil {
		t.Error("an empty mask makes an image")
	}
}
