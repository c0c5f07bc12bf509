package segment

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// rasterRings paints, even-odd with pixel-centre sampling, the polygons given in pixel-edge
// coordinates (x, y interleaved).
func rasterRings(w, h int, rings ...[]float64) []bool {
	out := make([]bool, w*h)
	var xs []float64
	for y := range h {
		cy := float64(y) + 0.5
		xs = xs[:0]
		for _, r := range rings {
			n := len(r) / 2
			for i := range n {
				j := (i + n - 1) % n
				xi, yi, xj, yj := r[2*i], r[2*i+1], r[2*j], r[2*j+1]
				if (yi > cy) != (yj > cy) {
					xs = append(xs, xj+(cy-yj)*(xi-xj)/(yi-yj))
				}
			}
		}
		slices.Sort(xs)
		for k := 0; k+1 < len(xs); k += 2 {
			// Pixel x is inside when xs[k] < x+0.5 < xs[k+1].
			for x := max(0, int(math.Ceil(xs[k]-0.5))); x < w && float64(x)+0.5 < xs[k+1]; x++ {
				if float64(x)+0.5 > xs[k] {
					out[y*w+x] = true
				}
			}
		}
	}
	return out
}

func ringFloats(r ring) []float64 {
	f := make([]float64, len(r.xy))
	for i, v := range r.xy {
		f[i] = float64(v)
	}
	return f
}

func polygonFloats(p Polygon, w, h int) []float64 {
	f := make([]float64, 0, 2*len(p))
	for _, v := range p {
		f = append(f, v.X*float64(w), v.Y*float64(h))
	}
	return f
}

// filledParts is the reference: background 4-connected to the outside is outside, everything else
// is filled; the filled pixels are split into 8-connected parts. It returns a part id per pixel
// (-1 outside) and the number of parts.
func filledParts(m *mask) ([]int, int) {
	w, h := m.w, m.h
	outside := make([]bool, w*h)
	var q []int
	for y := range h {
		for x := range w {
			if (x == 0 || y == 0 || x == w-1 || y == h-1) && m.pix[y*w+x] == 0 {
				outside[y*w+x] = true
				q = append(q, y*w+x)
			}
		}
	}
	for len(q) > 0 {
		i := q[0]
		q = q[1:]
		x, y := i%w, i/w
		for _, d := range [][2]int{{1, 0}, {-1, 0}, {0, 1}, {0, -1}} {
			nx, ny := x+d[0], y+d[1]
			if nx >= 0 && ny >= 0 && nx < w && ny < h && m.pix[ny*w+nx] == 0 && !outside[ny*w+nx] {
				outside[ny*w+nx] = true
				q = append(q, ny*w+nx)
			}
		}
	}
	id := make([]int, w*h)
	for i := range id {
		id[i] = -1
	}
	n := 0
	for s := range id {
		if outside[s] || id[s] >= 0 {
			continue
		}
		id[s] = n
		q = append(q[:0], s)
		for len(q) > 0 {
			i := q[0]
			q = q[1:]
			x, y := i%w, i/w
			for dy := -1; dy <= 1; dy++ {
				for dx := -1; dx <= 1; dx++ {
					nx, ny := x+dx, y+dy
					if nx >= 0 && ny >= 0 && nx < w && ny < h && !outside[ny*w+nx] && id[ny*w+nx] < 0 {
						id[ny*w+nx] = n
						q = append(q, ny*w+nx)
					}
				}
			}
		}
		n++
	}
	return id, n
}

func randomMask(rng *rand.Rand, w, h int, density float64) *mask {
	m := &mask{w: w, h: h, pix: make([]uint8, w*h)}
	for i := range m.pix {
		if rng.Float64() < density {
			m.pix[i] = 1
		}
	}
	return m
}

func TestTraceRingsReproducesPartsExactly(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	sizes := [][2]int{{1, 1}, {1, 7}, {7, 1}, {2, 2}, {3, 5}, {8, 8}, {13, 9}, {24, 17}, {40, 40}}
	for _, sz := range sizes {
		for _, density := range []float64{0.1, 0.3, 0.5, 0.7, 0.95} {
			for trial := range 6 {
				w, h := sz[0], sz[1]
				m := randomMask(rng, w, h, density)
				name := fmt.Sprintf("%dx%d/%.2f/%d", w, h, density, trial)
				ids, nParts := filledParts(m)
				rings := traceRings(m)
				if len(rings) != nParts {
					t.Fatalf("%s: %d rings, want %d parts", name, len(rings), nParts)
				}
				covered := make([]int, w*h) // ring index + 1
				for ri, r := range rings {
					got := rasterRings(w, h, ringFloats(r))
					part, count := -2, int64(0)
					for i, in := range got {
						if !in {
							continue
						}
						count++
						if covered[i] != 0 {
							t.Fatalf("%s: rings %d and %d overlap", name, covered[i]-1, ri)
						}
						covered[i] = ri + 1
						if part == -2 {
							part = ids[i]
						}
						if ids[i] != part || part < 0 {
							t.Fatalf("%s: ring %d paints pixel %d of part %d, want part %d", name, ri, i, ids[i], part)
						}
					}
					if count != r.area {
						t.Fatalf("%s: ring %d paints %d pixels, area says %d", name, ri, count, r.area)
					}
					if ri > 0 && r.area > rings[ri-1].area {
						t.Fatalf("%s: rings not ordered by area", name)
					}
				}
				for i, id := range ids {
					if (id >= 0) != (covered[i] != 0) {
						t.Fatalf("%s: pixel %d filled=%v, painted=%v", name, i, id >= 0, covered[i] != 0)
					}
				}
			}
		}
	}
}

// checkPolygons asserts the API's promises on polygons: 3..maxV vertices, at least three distinct
// vertices, non-zero area, coordinates in 0..1.
func checkPolygons(t *testing.T, ps []Polygon, maxV int) {
	t.Helper()
	for pi, p := range ps {
		if len(p) < 3 || len(p) > maxV {
			t.Fatalf("polygon %d has %d vertices, want 3..%d", pi, len(p), maxV)
		}
		distinct := map[Vertex]bool{}
		var a float64
		for i, v := range p {
			if !(v.X >= 0 && v.X <= 1 && v.Y >= 0 && v.Y <= 1) {
				t.Fatalf("polygon %d vertex %d = %v outside 0..1", pi, i, v)
			}
			distinct[v] = true
			u := p[(i+1)%len(p)]
			a += v.X*u.Y - u.X*v.Y
		}
		if len(distinct) < 3 {
			t.Fatalf("polygon %d has %d distinct vertices", pi, len(distinct))
		}
		if a == 0 {
			t.Fatalf("polygon %d has zero area", pi)
		}
	}
}

// noisyBlob draws a disc of radius r whose boundary is roughened: every pixel within +-noise of
// the circle is set at random.
func noisyBlob(w, h int, r, noise float64, seed uint64) *mask {
	rng := rand.New(rand.NewPCG(seed, 7))
	m := &mask{w: w, h: h, pix: make([]uint8, w*h)}
	cx, cy := float64(w)/2, float64(h)/2
	for y := range h {
		for x := range w {
			d := math.Hypot(float64(x)+0.5-cx, float64(y)+0.5-cy)
			switch {
			case d < r-noise:
				m.pix[y*w+x] = 255
			case d < r+noise && rng.IntN(2) == 0:
				m.pix[y*w+x] = 255
			}
		}
	}
	return m
}

func TestTracePolygonsVertexLimit(t *testing.T) {
	// Perimeter about 4000 px, boundary noise of a few pixels: far more than 1000 corners.
	m := noisyBlob(1400, 1400, 4000/(2*math.Pi), 3, 1)
	for _, maxV := range []int{1000, 200, 10, 3} {
		t.Run(fmt.Sprint(maxV), func(t *testing.T) {
			ps := tracePolygons(m, maxV)
			if len(ps) == 0 {
				t.Fatal("no polygons")
			}
			checkPolygons(t, ps, maxV)
			if maxV == 1000 && len(ps[0]) < 100 {
				t.Errorf("largest polygon has %d vertices, simplified too far", len(ps[0]))
			}
		})
	}
	// The largest part still looks like the disc.
	ps := tracePolygons(m, 1000)
	got := rasterRings(m.w, m.h, polygonFloats(ps[0], m.w, m.h))
	var inter, union int
	for i, v := range m.pix {
		if got[i] && v != 0 {
			inter++
		}
		if got[i] || v != 0 {
			union++
		}
	}
	if iou := float64(inter) / float64(union); iou < 0.99 {
		t.Errorf("IoU of the simplified outline = %.4f, want >= 0.99", iou)
	}
}

func TestTracePolygonsMaxVerticesDefault(t *testing.T) {
	m := noisyBlob(1400, 1400, 640, 3, 2)
	for _, maxV := range []int{0, -1, 5000} {
		checkPolygons(t, tracePolygons(m, maxV), 1000)
	}
}

func fromRows(rows ...string) *mask {
	m := &mask{w: len(rows[0]), h: len(rows)}
	for _, r := range rows {
		for _, c := range r {
			v := uint8(0)
			if c == '#' {
				v = 1
			}
			m.pix = append(m.pix, v)
		}
	}
	return m
}

func TestTracePolygonsParts(t *testing.T) {
	tests := []struct {
		name  string
		m     *mask
		areas []int64 // of the rings, largest first, before dropping specks
		polys int
	}{
		{"three parts by area", fromRows(
			"##....###",
			"##....###",
			"......###",
			"#........",
			"##.......",
		), []int64{9, 4, 3}, 2}, // the 3-pixel part is a speck
		{"diagonal touch is one part", fromRows(
			"##....",
			"##....",
			"..##..",
			"..##..",
			"....##",
		), []int64{10}, 1},
		{"hole filled, island inside merged", fromRows(
			"#######",
			"#.....#",
			"#.###.#",
			"#.#.#.#",
			"#.###.#",
			"#.....#",
			"#######",
		), []int64{49}, 1},
		{"hole open to the border is no hole", fromRows(
			"###.###",
			"#.....#",
			"#######",
		), []int64{15}, 1},
		{"border-touching parts", fromRows(
			"###...",
			"###..#",
			"....##",
			"##..##",
			"##..##",
		), []int64{7, 6, 4}, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rings := traceRings(tt.m)
			var areas []int64
			for _, r := range rings {
				areas = append(areas, r.area)
			}
			if fmt.Sprint(areas) != fmt.Sprint(tt.areas) {
				t.Fatalf("ring areas %v, want %v", areas, tt.areas)
			}
			ps := tracePolygons(tt.m, 1000)
			if len(ps) != tt.polys {
				t.Fatalf("%d polygons, want %d", len(ps), tt.polys)
			}
			checkPolygons(t, ps, 1000)
		})
	}
}

func TestTracePolygonsTinyAndBorder(t *testing.T) {
	tests := []struct {
		name string
		m    *mask
		want []Polygon
	}{
		{"empty mask", &mask{}, nil},
		{"one pixel unset", &mask{w: 1, h: 1, pix: []uint8{0}}, nil},
		{"one pixel set", &mask{w: 1, h: 1, pix: []uint8{1}},
			[]Polygon{{{1, 0}, {1, 1}, {0, 1}, {0, 0}}}},
		{"full 4x2", &mask{w: 4, h: 2, pix: []uint8{1, 1, 1, 1, 1, 1, 1, 1}},
			[]Polygon{{{1, 0}, {1, 1}, {0, 1}, {0, 0}}}},
		{"bottom-right pixel of 4x2", &mask{w: 4, h: 2, pix: []uint8{0, 0, 0, 0, 0, 0, 0, 9}},
			[]Polygon{{{1, 0.5}, {1, 1}, {0.75, 1}, {0.75, 0.5}}}},
		{"short pix is ignored", &mask{w: 4, h: 4, pix: []uint8{1}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tracePolygons(tt.m, 1000)
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestTracePolygonsBorderExact(t *testing.T) {
	// Rectilinear parts touching every border come out exact even after simplification.
	m := fromRows(
		"##########",
		"#........#",
		"#........#",
		"##########",
	)
	ps := tracePolygons(m, 1000)
	if len(ps) != 1 || len(ps[0]) != 4 {
		t.Fatalf("got %v, want one rectangle", ps)
	}
	got := rasterRings(m.w, m.h, polygonFloats(ps[0], m.w, m.h))
	for i, v := range got {
		if !v {
			t.Fatalf("pixel %d not painted", i)
		}
	}
}

func TestTracePolygonsDeterministic(t *testing.T) {
	m := noisyBlob(300, 200, 80, 4, 3)
	a, b := tracePolygons(m, 100), tracePolygons(m, 100)
	if fmt.Sprint(a) != fmt.Sprint(b) {
		t.Fatal("two runs differ")
	}
}
