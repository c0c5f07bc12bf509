package evalproto

import (
	"math"
	"slices"

	"github.com/lassoteam/lasso/segment"
)

// Rasterize paints normalised polygons on a w×h mask with the even-odd rule and pixel-centre
// sampling: vertex (x, y) maps to (x*w, y*h) in pixel-edge coordinates, and pixel (col, row) is
// inside when its centre (col+0.5, row+0.5) lies inside an odd number of rings. A centre exactly on
// an edge counts as inside on the edge's right, outside on its left (half-open spans).
func Rasterize(polys []segment.Polygon, w, h int) Mask {
	m := NewMask(w, h)
	type edge struct{ x0, y0, x1, y1 float64 }
	var edges []edge
	for _, p := range polys {
		n := len(p)
		for i := range n {
			a, b := p[i], p[(i+1)%n]
			if a.Y == b.Y {
				continue // horizontal edges cross no scanline
			}
			edges = append(edges, edge{a.X * float64(w), a.Y * float64(h), b.X * float64(w), b.Y * float64(h)})
		}
	}
	var xs []float64
	for row := range h {
		cy := float64(row) + 0.5
		xs = xs[:0]
		for _, e := range edges {
			if (e.y0 > cy) != (e.y1 > cy) {
				xs = append(xs, e.x0+(cy-e.y0)*(e.x1-e.x0)/(e.y1-e.y0))
			}
		}
		slices.Sort(xs)
		line := m.Pix[row*w : (row+1)*w]
		for k := 0; k+1 < len(xs); k += 2 {
			// Pixels whose centre c satisfies xs[k] <= c < xs[k+1].
			c0 := max(0, int(math.Ceil(xs[k]-0.5)))
			c1 := min(w, int(math.Ceil(xs[k+1]-0.5)))
			for c := c0; c < c1; c++ {
				line[c] = true
			}
		}
	}
	return m
}

// IoU is |a and b| / |a or b|, 1 when both are empty.
func IoU(a, b Mask) float64 {
	inter, union := 0, 0
	for i, v := range a.Pix {
		if v && b.Pix[i] {
			inter++
		}
		if v || b.Pix[i] {
			union++
		}
	}
	if union == 0 {
		return 1
	}
	return float64(inter) / float64(union)
}
