package segment

import (
	"encoding/binary"
	"math"
	"slices"
)

// Tracing constants.
const (
	// maxPolygonVertices is the API's vertex limit per polygon (see Options.MaxVertices).
	maxPolygonVertices = 1000
	// simplifyTolerance is the Douglas–Peucker tolerance in pixels before adaptation: it removes the
	// half-pixel staircase of a raster outline and keeps everything larger.
	simplifyTolerance = 1.0
	// minPartPixels is the area below which a part is dropped as a speck (the largest part is kept
	// whatever its size).
	minPartPixels = 4
)

// Pixel states during tracing. A pixel that is neither outside nor object is a hole pixel: it is
// filled, because CDF polygons have no holes.
const (
	stHole    = 0
	stObject  = 1
	stOutside = 2
	stClass   = 3 // mask of the three states above
	stTopSeen = 4 // the pixel's top edge belongs to a ring already traced
)

// ring is an unsimplified outline in pixel-edge coordinates: corners only, x and y interleaved,
// clockwise on screen (y down). area is the number of pixels it encloses.
type ring struct {
	xy   []int32
	area int64
}

// tracePolygons returns the outer outline of each 8-connected part of m, holes filled, largest
// part first, normalised to 0..1 and simplified so that every polygon has 3..maxVertices vertices
// (maxVertices outside 3..1000 means 1000). Parts under a few pixels are dropped unless they are
// the largest.
func tracePolygons(m *mask, maxVertices int) []Polygon {
	if maxVertices <= 0 || maxVertices > maxPolygonVertices {
		maxVertices = maxPolygonVertices
	}
	maxVertices = max(maxVertices, 3)
	rings := traceRings(m)
	out := make([]Polygon, 0, len(rings))
	for i, r := range rings {
		if i > 0 && r.area < minPartPixels {
			break // sorted by area
		}
		// Small parts get a finer tolerance, so that a few-pixel part keeps its shape.
		tol := min(simplifyTolerance, 0.1*math.Sqrt(float64(r.area)))
		kept := simplifyRing(r.xy, tol, maxVertices)
		p := make(Polygon, len(kept))
		for j, k := range kept {
			p[j] = Vertex{X: float64(r.xy[2*k]) / float64(m.w), Y: float64(r.xy[2*k+1]) / float64(m.h)}
		}
		out = append(out, p)
	}
	return out
}

// traceRings crack-follows the outer boundary of every 8-connected part of m (holes filled; a
// part inside another part's hole merges into it) and returns the rings, largest area first,
// ties in raster order of their topmost-leftmost pixel. Even-odd rasterisation of the rings with
// pixel-centre sampling gives back exactly the filled parts.
func traceRings(m *mask) []ring {
	w, h := m.w, m.h
	if w <= 0 || h <= 0 || len(m.pix) < w*h {
		return nil
	}
	st := make([]uint8, w*h)
	src := m.pix[:w*h]
	i := 0
	for ; i+8 <= len(src); i += 8 { // eight pixels at a time: most words are all 0 or all set
		switch v := le.Uint64(src[i:]); {
		case v == 0:
		case v == ones || v == ones*0xff:
			le.PutUint64(st[i:], ones*stObject)
		default:
			for k, b := range src[i : i+8] {
				if b != 0 {
					st[i+k] = stObject
				}
			}
		}
	}
	for ; i < len(src); i++ {
		if src[i] != 0 {
			st[i] = stObject
		}
	}
	fillOutside(st, w, h)

	var rings []ring
	for y := range h {
		row := st[y*w : (y+1)*w]
		var above []uint8
		if y > 0 {
			above = st[(y-1)*w : y*w]
		}
		// A ring starts at a filled pixel whose top edge is untraced and borders the outside:
		// row byte 0 or 1 (stHole, stObject, no stTopSeen) under an above byte of stOutside.
		for x := 0; x < w; x++ {
			if x&7 == 0 && x+8 <= w {
				var a uint64 // zero bytes where above is outside
				if above != nil {
					a = le.Uint64(above[x:]) ^ ones*stOutside
				}
				if !hasZeroByte(a | le.Uint64(row[x:])&(ones*0xfe)) {
					x += 7
					continue
				}
			}
			if row[x] > stObject || (above != nil && above[x] != stOutside) {
				continue
			}
			rings = append(rings, traceOne(st, w, h, x, y))
		}
	}
	slices.SortStableFunc(rings, func(a, b ring) int {
		switch {
		case a.area > b.area:
			return -1
		case a.area < b.area:
			return 1
		}
		return 0
	})
	return rings
}

// fillOutside marks as stOutside every background pixel 4-connected to the image border (span
// flood fill, eight pixels at a time where it can); the background pixels left are holes.
func fillOutside(st []uint8, w, h int) {
	type seed struct{ x, y int32 }
	var stack []seed
	pushRuns := func(y, l, r int) { // one seed per run of unvisited background in row y, cols l..r
		row := st[y*w : (y+1)*w]
		for x := l; x <= r; {
			for x+8 <= r+1 && !hasZeroByte(le.Uint64(row[x:])) {
				x += 8
			}
			if x > r {
				break
			}
			if row[x] != stHole {
				x++
				continue
			}
			stack = append(stack, seed{int32(x), int32(y)})
			for x+8 <= r+1 && le.Uint64(row[x:]) == 0 {
				x += 8
			}
			for x <= r && row[x] == stHole {
				x++
			}
		}
	}
	pushRuns(0, 0, w-1)
	pushRuns(h-1, 0, w-1)
	for y := 1; y < h-1; y++ {
		if st[y*w] == stHole {
			stack = append(stack, seed{0, int32(y)})
		}
		if st[y*w+w-1] == stHole {
			stack = append(stack, seed{int32(w - 1), int32(y)})
		}
	}
	for len(stack) > 0 {
		s := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		x, y := int(s.x), int(s.y)
		row := st[y*w : (y+1)*w]
		if row[x] != stHole {
			continue
		}
		l, r := x, x
		for l >= 8 && le.Uint64(row[l-8:]) == 0 {
			l -= 8
		}
		for l > 0 && row[l-1] == stHole {
			l--
		}
		for r+9 <= w && le.Uint64(row[r+1:]) == 0 {
			r += 8
		}
		for r < w-1 && row[r+1] == stHole {
			r++
		}
		i := l
		for ; i+8 <= r+1; i += 8 {
			le.PutUint64(row[i:], ones*stOutside)
		}
		for ; i <= r; i++ {
			row[i] = stOutside
		}
		if y > 0 {
			pushRuns(y-1, l, r)
		}
		if y < h-1 {
			pushRuns(y+1, l, r)
		}
	}
}

// Word-at-a-time helpers: ones has 1 in every byte.
var le = binary.LittleEndian

const ones = 0x0101010101010101

// hasZeroByte reports whether any byte of v is zero.
func hasZeroByte(v uint64) bool { return (v-ones)&^v&(ones*0x80) != 0 }

// Directions in clockwise order on screen: right, down, left, up. For a walk with the part on its
// right, alX/alY and arX/arY locate the pixels ahead-left and ahead-right of a vertex, relative to
// the pixel whose top-left corner the vertex is.
var (
	dirX = [4]int{1, 0, -1, 0}
	dirY = [4]int{0, 1, 0, -1}
	alX  = [4]int{0, 0, -1, -1}
	alY  = [4]int{-1, 0, 0, -1}
	arX  = [4]int{0, -1, -1, 0}
	arY  = [4]int{0, 0, -1, -1}
)

// traceOne follows the boundary that starts with the top edge of pixel (x0, y0), part on the
// right, and marks every top edge it walks along.
func traceOne(st []uint8, w, h, x0, y0 int) ring {
	in := func(x, y int) bool {
		return x >= 0 && y >= 0 && x < w && y < h && st[y*w+x]&stClass != stOutside
	}
	var xy []int32
	var area2 int64 // twice the signed area, from the shoelace formula over the unit edges
	x, y, d := x0, y0, 0
	for {
		if d == 0 {
			st[y*w+x] |= stTopSeen
		}
		nx, ny := x+dirX[d], y+dirY[d]
		area2 += int64(x)*int64(ny) - int64(nx)*int64(y)
		x, y = nx, ny
		// Ahead-left first: a diagonal neighbour is connected (8-connectivity), so turn towards it.
		nd := d
		switch {
		case in(x+alX[d], y+alY[d]):
			nd = (d + 3) & 3
		case in(x+arX[d], y+arY[d]):
		default:
			nd = (d + 1) & 3
		}
		if nd != d {
			xy = append(xy, int32(x), int32(y))
		}
		d = nd
		if x == x0 && y == y0 && d == 0 {
			break
		}
	}
	if area2 < 0 {
		area2 = -area2
	}
	return ring{xy: xy, area: area2 / 2}
}

// simplifyRing runs Douglas–Peucker on a closed ring of corners (x, y interleaved) and returns the
// indices of the kept vertices in ring order. The tolerance is tol pixels, raised as far as needed
// to keep at most maxVertices; at least three vertices spanning a non-zero area are always kept.
func simplifyRing(xy []int32, tol float64, maxVertices int) []int {
	n := len(xy) / 2
	pt := func(i int) (float64, float64) { return float64(xy[2*i]), float64(xy[2*i+1]) }

	// Anchors: vertex 0 and the vertex farthest from it.
	far, farD := 0, -1.0
	x0, y0 := pt(0)
	for i := 1; i < n; i++ {
		x, y := pt(i)
		if d := (x-x0)*(x-x0) + (y-y0)*(y-y0); d > farD {
			far, farD = i, d
		}
	}
	// sig[i] is the tolerance below which DP keeps vertex i: its deviation when DP splits at it,
	// capped by the deviation of its parent split, so that "sig > t" is exactly DP with tolerance t.
	sig := make([]float64, n)
	sig[0], sig[far] = math.Inf(1), math.Inf(1)
	type span struct {
		a, b int // ring indices; the span covers a+1 .. b-1, wrapping
		cap  float64
	}
	stack := []span{{0, far, math.Inf(1)}, {far, n, math.Inf(1)}}
	for len(stack) > 0 {
		s := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if s.b-s.a < 2 {
			continue
		}
		ax, ay := pt(s.a % n)
		bx, by := pt(s.b % n)
		best, bestD := -1, -1.0
		for i := s.a + 1; i < s.b; i++ {
			x, y := pt(i)
			if d := segDist(x, y, ax, ay, bx, by); d > bestD {
				best, bestD = i, d
			}
		}
		v := min(bestD, s.cap)
		sig[best] = v
		stack = append(stack, span{s.a, best, v}, span{best, s.b, v})
	}

	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int {
		switch {
		case sig[a] > sig[b]:
			return -1
		case sig[a] < sig[b]:
			return 1
		}
		return 0
	})
	keep := 0
	for keep < n && sig[order[keep]] > tol {
		keep++
	}
	keep = min(max(keep, 3), maxVertices, n)
	kept := slices.Clone(order[:keep])
	slices.Sort(kept)
	kept = dropRepeats(xy, kept)
	if len(kept) >= 3 && ringArea2(xy, kept) != 0 {
		return kept
	}
	return triangle(xy, far)
}

// dropRepeats removes kept vertices equal to their predecessor (a ring that touches itself at a
// diagonal pinch visits the same corner twice).
func dropRepeats(xy []int32, kept []int) []int {
	out := kept[:0]
	for _, k := range kept {
		if len(out) > 0 {
			p := out[len(out)-1]
			if xy[2*p] == xy[2*k] && xy[2*p+1] == xy[2*k+1] {
				continue
			}
		}
		out = append(out, k)
	}
	for len(out) > 1 {
		f, l := out[0], out[len(out)-1]
		if xy[2*f] != xy[2*l] || xy[2*f+1] != xy[2*l+1] {
			break
		}
		out = out[:len(out)-1]
	}
	return out
}

// ringArea2 is twice the signed area of the ring through the kept vertices.
func ringArea2(xy []int32, kept []int) int64 {
	var a int64
	for i, k := range kept {
		j := kept[(i+1)%len(kept)]
		a += int64(xy[2*k])*int64(xy[2*j+1]) - int64(xy[2*j])*int64(xy[2*k+1])
	}
	return a
}

// triangle is the fallback ring: vertex 0, vertex far, and the vertex farthest from the line
// through them, in ring order. Its area is non-zero for any ring that encloses a pixel.
func triangle(xy []int32, far int) []int {
	n := len(xy) / 2
	ax, ay := int64(xy[0]), int64(xy[1])
	bx, by := int64(xy[2*far]), int64(xy[2*far+1])
	best, bestC := -1, int64(-1)
	for i := range n {
		c := (bx-ax)*(int64(xy[2*i+1])-ay) - (by-ay)*(int64(xy[2*i])-ax)
		if c < 0 {
			c = -c
		}
		if c > bestC {
			best, bestC = i, c
		}
	}
	t := []int{0, far, best}
	slices.Sort(t)
	return t
}

// segDist is the distance from (x, y) to the segment from (ax, ay) to (bx, by).
func segDist(x, y, ax, ay, bx, by float64) float64 {
	dx, dy := bx-ax, by-ay
	l2 := dx*dx + dy*dy
	if l2 == 0 {
		return math.Hypot(x-ax, y-ay)
	}
	t := ((x-ax)*dx + (y-ay)*dy) / l2
	t = min(max(t, 0), 1)
	return math.Hypot(x-ax-t*dx, y-ay-t*dy)
}
