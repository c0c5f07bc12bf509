package evalproto

import "math"

// SquaredEDT is the exact squared Euclidean distance transform of region (w×h, row-major) padded
// with a one-pixel frame of non-region pixels: every region pixel gets its squared distance to the
// nearest non-region pixel (the image border counts as non-region), every other pixel 0. The
// values are exact integers. It uses Felzenszwalb and Huttenlocher's lower envelope of parabolas,
// restricted to the region's bounding box plus the frame, which gives the same distances.
func SquaredEDT(region []bool, w, h int) []float64 {
	out := make([]float64, w*h)
	x0, y0, x1, y1 := w, h, -1, -1
	for y := range h {
		for x, v := range region[y*w : (y+1)*w] {
			if v {
				x0, y0, x1, y1 = min(x0, x), min(y0, y), max(x1, x), max(y1, y)
			}
		}
	}
	if x1 < 0 {
		return out
	}
	// The padded box: columns x0-1 .. x1+1, rows y0-1 .. y1+1; the frame is non-region.
	bw, bh := x1-x0+3, y1-y0+3
	g := make([]float64, bw*bh)
	inf := math.Inf(1)
	for y := y0; y <= y1; y++ {
		for x := x0; x <= x1; x++ {
			if region[y*w+x] {
				g[(y-y0+1)*bw+(x-x0+1)] = inf
			}
		}
	}
	n := max(bw, bh)
	f, d := make([]float64, n), make([]float64, n)
	v, z := make([]int, n), make([]float64, n+1)
	for x := range bw { // columns
		for y := range bh {
			f[y] = g[y*bw+x]
		}
		dt1(f[:bh], d[:bh], v, z)
		for y := range bh {
			g[y*bw+x] = d[y]
		}
	}
	for y := range bh { // rows
		row := g[y*bw : (y+1)*bw]
		copy(f, row)
		dt1(f[:bw], d[:bw], v, z)
		copy(row, d[:bw])
	}
	for y := y0; y <= y1; y++ {
		copy(out[y*w+x0:y*w+x1+1], g[(y-y0+1)*bw+1:(y-y0+1)*bw+bw-1])
	}
	return out
}

// dt1 is the one-dimensional squared distance transform of f into d (Felzenszwalb–Huttenlocher);
// v and z are scratch of at least len(f) and len(f)+1. f must have at least one finite value.
func dt1(f, d []float64, v []int, z []float64) {
	n := len(f)
	k := -1
	for q := range n {
		if math.IsInf(f[q], 1) {
			continue // a region pixel: its parabola is at infinity
		}
		fq := f[q] + float64(q*q)
		var s float64
		for k >= 0 {
			p := v[k]
			s = (fq - (f[p] + float64(p*p))) / float64(2*(q-p))
			if s > z[k] {
				break
			}
			k--
		}
		k++
		v[k] = q
		if k == 0 {
			z[0] = math.Inf(-1)
		} else {
			z[k] = s
		}
		z[k+1] = math.Inf(1)
	}
	k = 0
	for q := range n {
		for z[k+1] < float64(q) {
			k++
		}
		dq := q - v[k]
		d[q] = float64(dq*dq) + f[v[k]]
	}
}
