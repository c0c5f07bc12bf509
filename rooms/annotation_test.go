package rooms

import (
	"context"
	"encoding/json"
	"errors"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/oauth2"

	"github.com/lassoteam/lasso/cdf"
	"github.com/lassoteam/lasso/cdf/cdflocal"
	"github.com/lassoteam/lasso/store"
)

func vs(xy ...float64) []cdf.Vertex {
	out := make([]cdf.Vertex, 0, len(xy)/2)
	for i := 0; i+1 < len(xy); i += 2 {
		out = append(out, cdf.Vertex{X: xy[i], Y: xy[i+1]})
	}
	return out
}

// circle is a ring of n vertices around (cx, cy).
func circle(n int, cx, cy, r float64) []cdf.Vertex {
	out := make([]cdf.Vertex, n)
	for i := range out {
		a := 2 * math.Pi * float64(i) / float64(n)
		out[i] = cdf.Vertex{X: cx + r*math.Cos(a), Y: cy + r*math.Sin(a)}
	}
	return out
}

func object(label string, segments ...cdf.Segment) *store.Object {
	raw, err := json.Marshal(segments)
	if err != nil {
		panic(err)
	}
	return &store.Object{RoomID: "r", FileID: 7, ObjectID: "o1", Label: label, Version: 1, Segments: raw}
}

func decodeData(t *testing.T, item cdf.AnnotationCreate) cdf.ObjectDetection {
	t.Helper()
	var d cdf.ObjectDetection
	if err := json.Unmarshal(item.Data, &d); err != nil {
		t.Fatalf("data %s: %v", item.Data, err)
	}
	return d
}

func TestBuildAnnotations(t *testing.T) {
	tri := vs(0.1, 0.1, 0.5, 0.1, 0.3, 0.6)
	square := vs(0.2, 0.2, 0.4, 0.2, 0.4, 0.4, 0.2, 0.4)
	tests := []struct {
		name     string
		label    string
		segments []cdf.Segment
		tol      float64
		w, h     int
		want     [][]cdf.Vertex // outlines of the items, nil with wantErr
		wantErr  error
		label2   string // the label written, when not label
	}{
		{name: "raw triangle", label: "cat", segments: []cdf.Segment{{Score: 0.8, Polygons: []cdf.Polygon{{Vertices: tri}}}},
			want: [][]cdf.Vertex{tri}},
		{name: "one item per part, largest first", label: "cat", segments: []cdf.Segment{{Score: 0.8, Polygons: []cdf.Polygon{{Vertices: tri}, {Vertices: square}}}},
			want: [][]cdf.Vertex{tri, square}},
		{name: "only the best segment", label: "cat", segments: []cdf.Segment{{Score: 0.9, Polygons: []cdf.Polygon{{Vertices: square}}}, {Score: 0.5, Polygons: []cdf.Polygon{{Vertices: tri}}}},
			want: [][]cdf.Vertex{square}},
		{name: "no segments", label: "cat", segments: []cdf.Segment{}, wantErr: ErrNothingToSave},
		{name: "best segment without parts", label: "cat", segments: []cdf.Segment{{Score: 0.9}, {Score: 0.5, Polygons: []cdf.Polygon{{Vertices: tri}}}}, wantErr: ErrNothingToSave},
		{name: "vertices clamped to the image", label: "cat", segments: []cdf.Segment{{Score: 1, Polygons: []cdf.Polygon{{Vertices: vs(-0.2, 0.5, 0.5, -1, 1.5, 2)}}}},
			want: [][]cdf.Vertex{vs(0, 0.5, 0.5, 0, 1, 1)}},
		{name: "consecutive duplicates, also around the end", label: "cat", segments: []cdf.Segment{{Score: 1, Polygons: []cdf.Polygon{{Vertices: vs(0.1, 0.1, 0.1, 0.1, 0.5, 0.1, 0.3, 0.6, 0.3, 0.6, 0.1, 0.1)}}}},
			want: [][]cdf.Vertex{tri}},
		{name: "duplicates that clamping makes", label: "cat", segments: []cdf.Segment{{Score: 1, Polygons: []cdf.Polygon{{Vertices: vs(1.2, 0.5, 1.1, 0.5, 0.5, 0.1, 0.5, 0.9)}}}},
			want: [][]cdf.Vertex{vs(1, 0.5, 0.5, 0.1, 0.5, 0.9)}},
		{name: "collinear part dropped, the other kept", label: "cat", segments: []cdf.Segment{{Score: 1, Polygons: []cdf.Polygon{{Vertices: vs(0.1, 0.1, 0.2, 0.2, 0.3, 0.3, 0.4, 0.4)}, {Vertices: tri}}}},
			want: [][]cdf.Vertex{tri}},
		{name: "every part degenerate", label: "cat", segments: []cdf.Segment{{Score: 1, Polygons: []cdf.Polygon{
			{Vertices: vs(0.1, 0.1, 0.2, 0.2, 0.3, 0.3)}, // collinear
			{Vertices: vs(0.5, 0.5, 0.5, 0.5, 0.6, 0.6)}, // two distinct
			{Vertices: vs(0.5, 0.5, 0.6, 0.6)},           // too few
			{Vertices: vs(2, 0.5, 3, 0.6, 4, 0.7)},       // all on the right edge once clamped
			{}}}},
			wantErr: ErrNothingToSave},
		{name: "label trimmed", label: "  valve \t", segments: []cdf.Segment{{Score: 1, Polygons: []cdf.Polygon{{Vertices: tri}}}},
			want: [][]cdf.Vertex{tri}, label2: "valve"},
		{name: "empty label", label: " ", segments: []cdf.Segment{{Score: 1, Polygons: []cdf.Polygon{{Vertices: tri}}}},
			want: [][]cdf.Vertex{tri}, label2: "object"},
		{name: "long label cut to 128", label: strings.Repeat("é", 200), segments: []cdf.Segment{{Score: 1, Polygons: []cdf.Polygon{{Vertices: tri}}}},
			want: [][]cdf.Vertex{tri}, label2: strings.Repeat("é", 128)},
		{name: "emoji label cut to 128 UTF-16 units", label: strings.Repeat("🐈", 100), segments: []cdf.Segment{{Score: 1, Polygons: []cdf.Polygon{{Vertices: tri}}}},
			want: [][]cdf.Vertex{tri}, label2: strings.Repeat("🐈", 64)},
		{name: "invalid UTF-8 label", label: "a\xffb", segments: []cdf.Segment{{Score: 1, Polygons: []cdf.Polygon{{Vertices: tri}}}},
			want: [][]cdf.Vertex{tri}, label2: "a\uFFFDb"},
		{name: "square at a tolerance keeps its corners", label: "cat", tol: 2, w: 100, h: 100,
			segments: []cdf.Segment{{Score: 1, Polygons: []cdf.Polygon{{Vertices: vs(0.2, 0.2, 0.3, 0.2, 0.4, 0.2, 0.4, 0.3, 0.4, 0.4, 0.3, 0.4, 0.2, 0.4, 0.2, 0.3)}}}},
			want:     [][]cdf.Vertex{square}},
		{name: "wobble under the tolerance goes", label: "cat", tol: 2, w: 100, h: 100,
			segments: []cdf.Segment{{Score: 1, Polygons: []cdf.Polygon{{Vertices: vs(0.2, 0.2, 0.3, 0.21, 0.4, 0.2, 0.4, 0.4, 0.2, 0.4)}}}},
			want:     [][]cdf.Vertex{square}},
		{name: "the same wobble kept at a finer tolerance", label: "cat", tol: 0.5, w: 100, h: 100,
			segments: []cdf.Segment{{Score: 1, Polygons: []cdf.Polygon{{Vertices: vs(0.2, 0.2, 0.3, 0.21, 0.4, 0.2, 0.4, 0.4, 0.2, 0.4)}}}},
			want:     [][]cdf.Vertex{vs(0.2, 0.2, 0.3, 0.21, 0.4, 0.2, 0.4, 0.4, 0.2, 0.4)}},
		{name: "unknown size: tolerance in thousandths", label: "cat", tol: 20,
			segments: []cdf.Segment{{Score: 1, Polygons: []cdf.Polygon{{Vertices: vs(0.2, 0.2, 0.3, 0.21, 0.4, 0.2, 0.4, 0.4, 0.2, 0.4)}}}},
			want:     [][]cdf.Vertex{square}},
		{name: "a huge tolerance leaves a triangle", label: "cat", tol: 1e9, w: 100, h: 100,
			segments: []cdf.Segment{{Score: 1, Polygons: []cdf.Polygon{{Vertices: circle(64, 0.5, 0.5, 0.3)}}}},
			want:     nil /* checked below: 3 vertices */},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			items, err := buildAnnotations(object(tc.label, tc.segments...), "Ana", tc.tol, tc.w, tc.h)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v (items %d)", err, tc.wantErr, len(items))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got [][]cdf.Vertex
			for _, it := range items {
				if it.AnnotatedResourceID != 7 || it.AnnotationType != cdf.AnnotationTypeObjectDetection || it.Status != cdf.AnnotationSuggested ||
					it.CreatingApp != AppName || it.CreatingAppVersion != AppVersion || it.CreatingUser == nil || *it.CreatingUser != "Ana" {
					t.Errorf("item %+v", it)
				}
				d := decodeData(t, it)
				if err := d.Validate(); err != nil {
					t.Error(err)
				}
				want := tc.label2
				if want == "" {
					want = tc.label
				}
				if d.Label != want {
					t.Errorf("label %q, want %q", d.Label, want)
				}
				got = append(got, d.Polygon.Vertices)
			}
			if tc.want == nil {
				if len(got) != 1 || len(got[0]) != 3 {
					t.Errorf("outlines %v, want one triangle", got)
				}
				return
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("outlines (-want +got):\n%s", diff)
			}
		})
	}
}

func TestBuildAnnotationsLimits(t *testing.T) {
	huge := circle(5000, 0.5, 0.5, 0.4)
	for _, tol := range []float64{0, 0.5, 4} {
		items, err := buildAnnotations(object("big", cdf.Segment{Score: 0.7, Polygons: []cdf.Polygon{{Vertices: huge}}}), "Ana", tol, 4000, 3000)
		if err != nil {
			t.Fatal(err)
		}
		d := decodeData(t, items[0])
		if n := len(d.Polygon.Vertices); n < 3 || n > cdf.MaxPolygonVertices {
			t.Errorf("tolerance %v: %d vertices", tol, n)
		}
		// Still a circle: the simplification that made it fit is a fine one.
		if a := math.Abs(area(d.Polygon.Vertices)); math.Abs(a-math.Pi*0.16)/(math.Pi*0.16) > 0.01 {
			t.Errorf("tolerance %v: area %.4f of a circle of area %.4f", tol, a, math.Pi*0.16)
		}
	}

	// Many parts: one create request takes at most 1000, the largest are kept.
	var parts []cdf.Polygon
	for i := range 1200 {
		x, y := float64(i%40)/40, float64(i/40)/40
		s := 0.01 + 0.00001*float64(i)
		parts = append(parts, cdf.Polygon{Vertices: vs(x, y, x+s, y, x, y+s)})
	}
	items, err := buildAnnotations(object("speck", cdf.Segment{Score: 0.5, Polygons: parts}), "Ana", 0, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != cdf.MaxAnnotationItems {
		t.Fatalf("%d items from 1200 parts", len(items))
	}
	if d := decodeData(t, items[0]); d.Polygon.Vertices[0] != parts[1199].Vertices[0] {
		t.Errorf("the first item is not the largest part: %v", d.Polygon.Vertices)
	}

	// Many large parts: the object's outlines together stay within one request.
	parts = parts[:0]
	for i := range 60 { // 60,000 vertices
		parts = append(parts, cdf.Polygon{Vertices: circle(1000, 0.1+float64(i%10)*0.08, 0.1+float64(i/10)*0.13, 0.03)})
	}
	items, err = buildAnnotations(object("bubble", cdf.Segment{Score: 0.5, Polygons: parts}), "Ana", 0, 4000, 3000)
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, it := range items {
		total += len(decodeData(t, it).Polygon.Vertices)
	}
	// The least coarsening that fits: just under the budget.
	if len(items) != 60 || total > maxObjectVertices || total < maxObjectVertices-100 {
		t.Errorf("%d items with %d vertices", len(items), total)
	}
}

func TestBuildAnnotationsConfidenceAndUser(t *testing.T) {
	tri := vs(0.1, 0.1, 0.5, 0.1, 0.3, 0.6)
	for _, tc := range []struct {
		score float64
		want  *float64
	}{
		{0.5, ptr(0.5)}, {-1, ptr(0.0)}, {3, ptr(1.0)}, {math.Inf(1), ptr(1.0)}, {math.NaN(), nil},
	} {
		items, err := annotationsFromSegments(&store.Object{FileID: 7, Label: "x"}, []cdf.Segment{{Score: tc.score, Polygons: []cdf.Polygon{{Vertices: tri}}}}, "Ana", 0, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		if d := decodeData(t, items[0]); !cmp.Equal(d.Confidence, tc.want) {
			t.Errorf("score %v: confidence %v, want %v", tc.score, d.Confidence, tc.want)
		}
	}
	for user, want := range map[string]*string{"": nil, "  ": nil, " Ana ": ptr("Ana"), strings.Repeat("ü", 300): ptr(strings.Repeat("ü", 255))} {
		items, err := buildAnnotations(object("x", cdf.Segment{Score: 1, Polygons: []cdf.Polygon{{Vertices: tri}}}), user, 0, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		if !cmp.Equal(items[0].CreatingUser, want) {
			t.Errorf("user %q: creatingUser %v", user, items[0].CreatingUser)
		}
	}
	if _, err := buildAnnotations(&store.Object{FileID: 7, Segments: json.RawMessage(`[{"score":1,"polygons":[{"vertices":[{"x":1e400,"y":0}]}]}]`)}, "Ana", 0, 0, 0); !errors.Is(err, ErrNothingToSave) {
		t.Errorf("unreadable segments: %v", err)
	}
	if _, err := buildAnnotations(&store.Object{FileID: 0, Segments: object("x", cdf.Segment{Score: 1, Polygons: []cdf.Polygon{{Vertices: tri}}}).Segments}, "Ana", 0, 0, 0); err == nil {
		t.Error("no error for file id 0")
	}
}

// TestSimplification: more tolerance, fewer vertices, never fewer than 3.
func TestSimplification(t *testing.T) {
	o := object("x", cdf.Segment{Score: 1, Polygons: []cdf.Polygon{{Vertices: circle(400, 0.5, 0.5, 0.3)}}})
	prev := 401
	for _, tol := range []float64{0, 0.5, 1, 2, 4, 8} {
		items, err := buildAnnotations(o, "Ana", tol, 1000, 1000)
		if err != nil {
			t.Fatal(err)
		}
		if n := len(decodeData(t, items[0]).Polygon.Vertices); n > prev || n < 3 {
			t.Errorf("tolerance %v: %d vertices after %d at a finer one", tol, n, prev)
		} else {
			prev = n
		}
	}
	if prev > 40 {
		t.Errorf("a 300 px circle at 8 px has %d vertices", prev)
	}
	if _, err := buildAnnotations(&store.Object{FileID: 7, Segments: json.RawMessage(`not json`)}, "Ana", 1, 10, 10); !errors.Is(err, ErrNothingToSave) {
		t.Errorf("bad JSON: %v", err)
	}
}

func ptr[T any](v T) *T { return &v }

// standInAPI is the CDF stand-in's annotations API over HTTP, and the id of its one file.
func standInAPI(tb testing.TB) (*cdf.AnnotationsService, int64) {
	tb.Helper()
	dir := tb.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "a.txt"), []byte("annotated"), 0o644); err != nil {
		tb.Fatal(err)
	}
	s, err := cdflocal.New(cdflocal.Config{ImagesDir: dir, Token: "t"})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	srv := httptest.NewServer(s)
	tb.Cleanup(srv.Close)
	client := cdf.New(srv.URL, s.Project(), oauth2.NewClient(context.Background(), oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "t"})))
	return client.Annotations, s.Files()[0].ID
}

// fuzzSegments makes segments from fuzz bytes: rings of every bad kind (huge, collinear,
// repeated, outside the image, not numbers, empty, tiny), few or very many of them.
func fuzzSegments(data []byte) []cdf.Segment {
	h := fnv.New64a()
	h.Write(data)
	rng := rand.New(rand.NewPCG(h.Sum64(), 1))
	next := func() byte {
		if len(data) == 0 {
			return byte(rng.UintN(256))
		}
		b := data[0]
		data = data[1:]
		return b
	}
	coord := func() float64 { return rng.Float64()*1.5 - 0.25 }
	nParts := int(next() % 6)
	small := false
	if nParts == 5 {
		nParts, small = 1100+int(next()), true // many parts, each small
	}
	scores := []float64{0.9, math.NaN(), -0.5, 1.5, math.Inf(-1), 0, 1}
	seg := cdf.Segment{Score: scores[int(next())%len(scores)]}
	for range nParts {
		mode, size := next()%11, int(next())
		n := size*20 + 3 // up to 5103 vertices
		if small {
			n = size%12 + 1
		}
		var ring []cdf.Vertex
		switch mode {
		case 0: // random, self-intersecting, partly outside
			for range n {
				ring = append(ring, cdf.Vertex{X: coord(), Y: coord()})
			}
		case 1: // a wobbly circle, possibly over the border
			ring = circle(n, coord(), coord(), rng.Float64()*0.6)
			for i := range ring {
				ring[i].X += rng.NormFloat64() * 1e-3
				ring[i].Y += rng.NormFloat64() * 1e-3
			}
		case 2: // collinear
			x, y, dx, dy := coord(), coord(), rng.Float64()*0.01, rng.Float64()*0.01
			for i := range n {
				ring = append(ring, cdf.Vertex{X: x + float64(i)*dx, Y: y + float64(i)*dy})
			}
		case 3: // one or two points repeated
			a, b := cdf.Vertex{X: coord(), Y: coord()}, cdf.Vertex{X: coord(), Y: coord()}
			for i := range n {
				ring = append(ring, a)
				if i%3 == 1 {
					ring = append(ring, b)
				}
			}
		case 4: // a circle with NaN and infinite vertices
			ring = circle(n, 0.5, 0.5, 0.3)
			bad := []float64{math.NaN(), math.Inf(1), math.Inf(-1), 1e308, -1e308}
			for i := range ring {
				if rng.IntN(4) == 0 {
					ring[i].X = bad[rng.IntN(len(bad))]
				}
				if rng.IntN(6) == 0 {
					ring[i].Y = bad[rng.IntN(len(bad))]
				}
			}
		case 5: // tiny: below float resolution or a pixel
			x, y := coord(), coord()
			e := []float64{1e-17, 1e-9, 1e-6, 1e-3}[size%4]
			ring = vs(x, y, x+e, y, x, y+e)
		case 6: // empty
		case 7: // a circle with every vertex doubled, and a confidence out of range
			for _, v := range circle(n/2+3, coord(), coord(), rng.Float64()*0.4) {
				c := 7.0
				v.Confidence = &c
				ring = append(ring, v, v)
			}
		case 8: // entirely outside: clamps onto an edge or a corner
			for range n {
				ring = append(ring, cdf.Vertex{X: 1 + rng.Float64(), Y: coord()})
			}
		case 9: // a zig-zag whose vertices all lie within a hair of a line
			for i := range n {
				ring = append(ring, cdf.Vertex{X: 0.1 + 0.8*float64(i)/float64(n), Y: 0.5 + 1e-15*float64(i%2)})
			}
		case 10: // the ring closed explicitly (first vertex repeated last)
			ring = circle(n, 0.5, 0.5, 0.25)
			ring = append(ring, ring[0])
		}
		seg.Polygons = append(seg.Polygons, cdf.Polygon{Vertices: ring})
	}
	return []cdf.Segment{seg, {Score: 0.1, Polygons: []cdf.Polygon{{Vertices: vs(0.1, 0.1, 0.5, 0.1, 0.3, 0.6)}}}}
}

// FuzzBuildAnnotations: whatever the segments, label, user, tolerance and image size, every
// item built passes cdf's Validate and the stand-in's create (which implements CDF's
// validation), in one request as the writer sends it; and nothing valid is refused: an
// error is only ErrNothingToSave.
func FuzzBuildAnnotations(f *testing.F) {
	seeds := []struct {
		data        []byte
		label, user string
		tol         float64
		w, h        int
	}{
		{[]byte{1, 1, 1, 250}, "cat", "Ana", 0, 0, 0},                                          // a 5000-vertex ring, raw
		{[]byte{1, 1, 0, 250}, "cat", "Ana", 2, 4000, 3000},                                    // a huge random ring at 2 px
		{[]byte{2, 0, 2, 250, 1, 50}, "x", "Ana", 0, 0, 0},                                     // collinear + a circle
		{[]byte{3, 0, 3, 40, 7, 200, 10, 100}, "  ", "", 1, 640, 480},                          // repeated points, doubled, closed
		{[]byte{2, 1, 8, 30, 4, 200}, strings.Repeat("ß🐈", 90), "", 0.5, 100, 100},             // outside, NaN/Inf, long unicode label
		{[]byte{0, 1}, "empty", "Ana", 0, 0, 0},                                                // no parts at all
		{[]byte{4, 1, 6, 0, 5, 0, 5, 1, 9, 40}, "\xff\xfe", strings.Repeat("u", 300), 0, 0, 0}, // empty, tiny, zig-zag
		{[]byte{5, 0, 2}, "many", "Ana", 0, 0, 0},                                              // ~1100 small parts
		{[]byte{4, 0, 1, 255, 1, 255, 1, 255, 0, 255}, "big", "Ana", 0, 1 << 40, 1 << 40},      // huge rings on a vast image
		{[]byte{1, 1, 1, 200}, "nan", "Ana", math.NaN(), -5, 10},                               // NaN tolerance, bad size
		{[]byte{1, 1, 1, 200}, "inf", "Ana", math.Inf(1), 1000, 1000},                          // infinite tolerance
		{[]byte{1, 1, 4, 100}, "neg", "Ana", -3, 0, 0},                                         // negative tolerance
	}
	for _, s := range seeds {
		f.Add(s.data, s.label, s.user, s.tol, s.w, s.h)
	}
	api, fileID := standInAPI(f)
	f.Fuzz(func(t *testing.T, data []byte, label, user string, tol float64, w, h int) {
		if len(data) > 64 {
			data = data[:64] // bounds the work of one input: at most ~30 rings of ≤ 5103
		}
		segments := fuzzSegments(data)
		o := &store.Object{RoomID: "r", FileID: fileID, ObjectID: "o", Label: label, Version: 1}
		items, err := annotationsFromSegments(o, segments, user, tol, w, h)
		if err != nil {
			if !errors.Is(err, ErrNothingToSave) {
				t.Fatalf("error %v", err)
			}
			return
		}
		if len(items) == 0 || len(items) > cdf.MaxAnnotationItems {
			t.Fatalf("%d items", len(items))
		}
		total := 0
		for _, it := range items {
			d := decodeData(t, it)
			if err := d.Validate(); err != nil {
				t.Fatal(err)
			}
			if utf16Len(d.Label) > cdf.MaxLabelLength || d.Label != strings.TrimSpace(d.Label) || d.Label == "" {
				t.Fatalf("label %q", d.Label)
			}
			p := d.Polygon.Vertices
			total += len(p)
			for i := range p {
				if same(p[i], p[(i+1)%len(p)]) {
					t.Fatalf("consecutive duplicate vertex %v at %d of %d", p[i], i, len(p))
				}
			}
			if !solid(p) {
				t.Fatalf("degenerate outline %v", p)
			}
			if it.CreatingUser != nil && (*it.CreatingUser == "" || utf8.RuneCountInString(*it.CreatingUser) > maxUserLength) {
				t.Fatalf("creatingUser %q", *it.CreatingUser)
			}
		}
		if total > maxObjectVertices {
			t.Fatalf("%d vertices in one object", total)
		}
		// The stand-in validates as CDF does. The request must also go through as JSON,
		// which the segments did not have to.
		if _, err := api.Create(context.Background(), items); err != nil {
			t.Fatalf("the stand-in refused the object's %d annotations: %v", len(items), err)
		}
		if raw, err := json.Marshal(segments); err == nil {
			o.Segments = raw
			again, err := buildAnnotations(o, user, tol, w, h)
			if err != nil || !cmp.Equal(again, items) {
				t.Fatalf("from JSON: %d items, %v; directly %d", len(again), err, len(items))
			}
		}
	})
}

func utf16Len(s string) int { return len(utf16.Encode([]rune(s))) }
