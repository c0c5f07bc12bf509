package rooms

import (
	"cmp"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/lassoteam/lasso/cdf"
	"github.com/lassoteam/lasso/store"
)

// Limits of what one accepted object becomes. CDF's own limits (label, vertices, batch size)
// come from package cdf; maxObjectVertices is Lasso's: every annotation of an object goes in
// one create request (the writer's landed check relies on that all-or-nothing batch), and
// 50,000 vertices keep that request near 2.5 MB, under the stand-in's 4 MB body limit. CDF's
// own request size limit is not documented.
const (
	maxUserLength     = 255
	maxObjectVertices = 50_000
	// unknownSizeScale is the pixel size assumed when the image's is unknown: a tolerance of
	// 1 is then a thousandth of the image.
	unknownSizeScale = 1000
	// zeroArea is the area, in units of the whole image, under which a ring counts as flat:
	// far below a pixel of any image Lasso opens, well above float rounding of a flat ring.
	zeroArea = 1e-12
)

// buildAnnotations builds one suggested images.ObjectDetection per part of the object's best
// segment, each outline simplified at tolerancePx (Douglas–Peucker, in pixels of an image of
// width × height; 0 keeps the raw outline; with an unknown size, 0 × 0, in thousandths of
// the image). Whatever it is given it returns only items that CDF accepts; ErrNothingToSave
// when no part is left.
func buildAnnotations(o *store.Object, user string, tolerancePx float64, width, height int) ([]cdf.AnnotationCreate, error) {
	if o.FileID < 1 {
		return nil, fmt.Errorf("rooms: annotation of %s: file id %d is not a CDF id", o.ObjectID, o.FileID)
	}
	var segments []cdf.Segment
	if err := json.Unmarshal(o.Segments, &segments); err != nil {
		return nil, ErrNothingToSave
	}
	return annotationsFromSegments(o, segments, user, tolerancePx, width, height)
}

// annotationsFromSegments is buildAnnotations on decoded segments (which, unlike JSON, can
// hold NaN and infinities: they are dropped or, for the score, omitted).
func annotationsFromSegments(o *store.Object, segments []cdf.Segment, user string, tolerancePx float64, width, height int) ([]cdf.AnnotationCreate, error) {
	score, polygons, err := bestSegment(segments, tolerancePx, width, height)
	if err != nil {
		return nil, err
	}
	label := annotationLabel(o.Label)
	var confidence *float64
	if !math.IsNaN(score) {
		c := min(max(score, 0), 1)
		confidence = &c
	}
	var creator *string
	if u := truncateRunes(strings.TrimSpace(user), maxUserLength); u != "" {
		creator = &u
	} // else null: CDF takes no empty creatingUser
	items := make([]cdf.AnnotationCreate, 0, len(polygons))
	for _, p := range polygons {
		d := cdf.ObjectDetection{Label: label, Confidence: confidence, Polygon: &cdf.Polygon{Vertices: p}}
		if err := d.Validate(); err != nil {
			// Unreachable by construction; kept so that a bug here never reaches CDF.
			return nil, fmt.Errorf("rooms: annotation of %s: %w", o.ObjectID, err)
		}
		item, err := cdf.NewObjectDetection(o.FileID, cdf.AnnotationSuggested, AppName, AppVersion, creator, d)
		if err != nil {
			return nil, err
		}
		items = append(items, item)
	}
	return items, nil
}

// bestSegment returns the score and the outlines of the first (best) segment.
func bestSegment(segments []cdf.Segment, tolerancePx float64, width, height int) (float64, [][]cdf.Vertex, error) {
	if len(segments) == 0 {
		return 0, nil, ErrNothingToSave
	}
	best := segments[0]
	rings := make([][]cdf.Vertex, len(best.Polygons))
	for i, p := range best.Polygons {
		rings[i] = p.Vertices
	}
	polygons := outlines(rings, tolerancePx, width, height)
	if len(polygons) == 0 {
		return 0, nil, ErrNothingToSave
	}
	return best.Score, polygons, nil
}

// annotationLabel is the label as CDF takes it: trimmed, "object" when empty, at most 128
// characters. It is also kept to 128 UTF-16 code units (emoji count twice), because whether
// CDF counts code points or Java chars is not documented; a label within both passes either.
func annotationLabel(s string) string {
	s = strings.TrimSpace(strings.ToValidUTF8(s, "\uFFFD"))
	if s == "" {
		return "object"
	}
	units := 0
	for i, r := range s {
		n := utf16.RuneLen(r)
		if n < 1 {
			n = 1
		}
		if units+n > cdf.MaxLabelLength {
			s = strings.TrimSpace(s[:i])
			break
		}
		units += n
	}
	if s == "" {
		return "object"
	}
	return s
}

// truncateRunes cuts s to at most n runes, on a rune boundary.
func truncateRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	i := 0
	for j := range s {
		if i == n {
			return s[:j]
		}
		i++
	}
	return s
}

// outlines turns a segment's parts into valid CDF polygons: the largest cdf.MaxAnnotationItems
// parts that are not degenerate, each simplified at tolerancePx (Douglas–Peucker), or at the
// least coarser tolerance that leaves it at most cdf.MaxPolygonVertices vertices and all
// parts together at most maxObjectVertices.
//
// CDF's ObjectDetection polygon is one ring without holes, so only outer rings are written;
// the segment results carry outer rings only (the engine fills holes) and so does this.
func outlines(rings [][]cdf.Vertex, tolerancePx float64, width, height int) [][]cdf.Vertex {
	sx, sy := float64(width), float64(height)
	if width <= 0 || height <= 0 {
		sx, sy = unknownSizeScale, unknownSizeScale
	}
	if math.IsNaN(tolerancePx) || tolerancePx < 0 {
		tolerancePx = 0
	}
	var parts []*ring
	for _, r := range rings {
		if c := cleanRing(r); len(c) >= cdf.MinPolygonVertices && solid(c) {
			parts = append(parts, newRing(c, sx, sy))
		}
	}
	// Largest first (the engine's order already); the smallest are dropped beyond one batch.
	slices.SortStableFunc(parts, func(a, b *ring) int { return cmp.Compare(b.area, a.area) })
	parts = parts[:min(len(parts), cdf.MaxAnnotationItems)]

	// The least tolerance (squared) at or above the asked one that fits all parts in one
	// request. Vertex counts only fall as the tolerance grows, so a binary search over the
	// tolerances at which some vertex goes finds it.
	tol2 := tolerancePx * tolerancePx
	total := func(t2 float64) int {
		n := 0
		for _, p := range parts {
			n += p.count(t2)
		}
		return n
	}
	if total(tol2) > maxObjectVertices {
		var cuts []float64
		for _, p := range parts {
			for _, d := range p.sorted {
				if d > tol2 {
					cuts = append(cuts, d)
				}
			}
		}
		slices.Sort(cuts)
		i := sort.Search(len(cuts), func(i int) bool { return total(cuts[i]) <= maxObjectVertices })
		if i < len(cuts) {
			tol2 = cuts[i]
		} else {
			tol2 = math.Inf(1) // unreachable: three vertices a part fit
		}
	}
	var out [][]cdf.Vertex
	for _, p := range parts {
		if v := p.simplify(tol2); len(v) <= cdf.MaxPolygonVertices && solid(v) {
			out = append(out, v)
		}
	}
	return out
}

// ring is one part's outline, clean, with what Douglas–Peucker makes of it at any tolerance.
//
// Douglas–Peucker splits a line at its vertex farthest from the chord and stops where that
// distance is within the tolerance; which vertex it picks does not depend on the tolerance,
// only where it stops. So one run to the end gives every vertex its importance, the largest
// tolerance at which it is kept (its own distance, or an ancestor's if smaller), and
// simplifying at t keeps exactly the vertices more important than t: any tolerance, including
// the one that leaves at most 1000 vertices, costs no second run.
type ring struct {
	v    []cdf.Vertex
	px   []point
	area float64
	// imp is each vertex's squared importance: +Inf for the two split points of the ring, 0 for
	// a vertex that is dropped even at tolerance 0 (on a straight line).
	imp []float64
	// sorted holds the finite importances, largest first.
	sorted []float64
	// far is the ring's second split point, the vertex farthest from the first.
	far int
}

func newRing(v []cdf.Vertex, sx, sy float64) *ring {
	r := &ring{v: v, px: make([]point, len(v)), area: math.Abs(area(v))}
	for i, c := range v {
		r.px[i] = point{c.X * sx, c.Y * sy}
	}
	r.imp, r.far = importance(r.px)
	for _, d := range r.imp {
		if !math.IsInf(d, 1) {
			r.sorted = append(r.sorted, d)
		}
	}
	slices.SortFunc(r.sorted, func(a, b float64) int { return cmp.Compare(b, a) })
	return r
}

// limit is the least squared tolerance at which the ring has at most cdf.MaxPolygonVertices
// vertices.
func (r *ring) limit() float64 {
	keep := cdf.MaxPolygonVertices - (len(r.imp) - len(r.sorted)) // the split points stay
	if len(r.sorted) <= keep {
		return 0
	}
	return r.sorted[keep] // vertices strictly more important than the keep+1-th
}

// count is the number of vertices the ring has at squared tolerance t2 (before duplicates
// that the simplification may bring together are merged).
func (r *ring) count(t2 float64) int {
	if t2 == 0 && len(r.v) <= cdf.MaxPolygonVertices {
		return len(r.v)
	}
	t2 = max(t2, r.limit())
	n := sort.Search(len(r.sorted), func(i int) bool { return r.sorted[i] <= t2 }) // sorted is descending
	return max(n+len(r.imp)-len(r.sorted), 3)
}

// simplify returns the ring at squared tolerance t2, raised to the ring's limit; at 0 a ring
// within the limit is returned as it is.
func (r *ring) simplify(t2 float64) []cdf.Vertex {
	if t2 == 0 && len(r.v) <= cdf.MaxPolygonVertices {
		return r.v
	}
	t2 = max(t2, r.limit())
	out := make([]cdf.Vertex, 0, min(len(r.v), cdf.MaxPolygonVertices))
	for i, d := range r.imp {
		if d > t2 {
			out = append(out, r.v[i])
		}
	}
	if len(out) < 3 {
		// Too coarse: a triangle of the split points and the vertex farthest from their line.
		third, thirdD := -1, -1.0
		for i := range r.px {
			if i == 0 || i == r.far {
				continue
			}
			if d := segDist2(r.px[i], r.px[0], r.px[r.far]); d > thirdD {
				third, thirdD = i, d
			}
		}
		idx := []int{0, r.far, third}
		slices.Sort(idx)
		out = []cdf.Vertex{r.v[idx[0]], r.v[idx[1]], r.v[idx[2]]}
	}
	return dedupe(out)
}

// importance runs Douglas–Peucker on a closed ring to the end, as static/js/geometry.js does
// at one tolerance: the ring is split at the vertex farthest from the first and both halves
// are simplified. It returns each vertex's squared importance (see ring) and the split point.
// It is iterative, so that long outlines cannot overflow the stack.
func importance(ps []point) ([]float64, int) {
	n := len(ps)
	imp := make([]float64, n)
	if n <= 3 {
		for i := range imp {
			imp[i] = math.Inf(1)
		}
		return imp, min(1, n-1)
	}
	far, farD := 0, -1.0
	for i := 1; i < n; i++ {
		if d := dist2(ps[i], ps[0]); d > farD {
			far, farD = i, d
		}
	}
	imp[0], imp[far] = math.Inf(1), math.Inf(1)
	at := func(i int) point { return ps[i%n] } // index n is vertex 0 again, closing the ring
	type span struct {
		first, last int
		cap         float64 // the importance of the vertex that made this span
	}
	stack := []span{{0, far, math.Inf(1)}, {far, n, math.Inf(1)}}
	for len(stack) > 0 {
		s := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		index, maxD := -1, 0.0
		for i := s.first + 1; i < s.last; i++ {
			if d := segDist2(at(i), at(s.first), at(s.last)); d > maxD {
				index, maxD = i, d
			}
		}
		if index == -1 {
			continue // a straight line: nothing in it is kept at any tolerance
		}
		imp[index] = min(maxD, s.cap)
		stack = append(stack, span{s.first, index, imp[index]}, span{index, s.last, imp[index]})
	}
	return imp, far
}

// cleanRing drops vertices that are not numbers or infinite, clamps the rest to 0..1, drops
// their confidences and removes consecutive duplicates (the ring is closed: the last vertex
// is compared with the first).
func cleanRing(vs []cdf.Vertex) []cdf.Vertex {
	out := make([]cdf.Vertex, 0, len(vs))
	for _, v := range vs {
		if !finite(v.X) || !finite(v.Y) {
			continue
		}
		out = append(out, cdf.Vertex{X: min(max(v.X, 0), 1), Y: min(max(v.Y, 0), 1)})
	}
	return dedupe(out)
}

func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }

// dedupe removes consecutive equal vertices of a closed ring, in place.
func dedupe(vs []cdf.Vertex) []cdf.Vertex {
	out := vs[:0]
	for _, v := range vs {
		if len(out) > 0 && same(out[len(out)-1], v) {
			continue
		}
		out = append(out, v)
	}
	for len(out) > 1 && same(out[len(out)-1], out[0]) {
		out = out[:len(out)-1]
	}
	return out
}

func same(a, b cdf.Vertex) bool { return a.X == b.X && a.Y == b.Y }

// solid reports whether a ring outlines something: at least 3 distinct vertices, and an area.
func solid(vs []cdf.Vertex) bool {
	distinct := map[cdf.Vertex]struct{}{}
	for _, v := range vs {
		distinct[v] = struct{}{}
		if len(distinct) >= 3 {
			break
		}
	}
	return len(distinct) >= 3 && math.Abs(area(vs)) > zeroArea
}

// area is the signed area of a closed ring (shoelace), in units of the image.
func area(vs []cdf.Vertex) float64 {
	var a float64
	for i, v := range vs {
		w := vs[(i+1)%len(vs)]
		a += v.X*w.Y - w.X*v.Y
	}
	return a / 2
}

type point struct{ x, y float64 }

func dist2(a, b point) float64 { return (a.x-b.x)*(a.x-b.x) + (a.y-b.y)*(a.y-b.y) }

// segDist2 is the squared distance from p to the segment a–b.
func segDist2(p, a, b point) float64 {
	dx, dy := b.x-a.x, b.y-a.y
	l2 := dx*dx + dy*dy
	if l2 == 0 {
		return dist2(p, a)
	}
	t := min(max(((p.x-a.x)*dx+(p.y-a.y)*dy)/l2, 0), 1)
	return dist2(p, point{a.x + t*dx, a.y + t*dy})
}
