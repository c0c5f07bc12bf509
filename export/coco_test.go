package export_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/lassoteam/lasso/export"
)

// The COCO rules below are written from the format description
// (https://cocodataset.org/#format-data) into structs of this test's own, not the package's:
// no COCO reader is available from the registries Lasso can reach.
type cocoFile struct {
	Info        map[string]any    `json:"info"`
	Licenses    []json.RawMessage `json:"licenses"`
	Images      []cocoImage       `json:"images"`
	Categories  []cocoCategory    `json:"categories"`
	Annotations []cocoAnnotation  `json:"annotations"`
}

type cocoImage struct {
	ID       int64  `json:"id"`
	FileName string `json:"file_name"`
	Width    int    `json:"width"`
	Height   int    `json:"height"`
}

type cocoCategory struct {
	ID            int     `json:"id"`
	Name          string  `json:"name"`
	Supercategory *string `json:"supercategory"`
}

type cocoAnnotation struct {
	ID           int64       `json:"id"`
	ImageID      int64       `json:"image_id"`
	CategoryID   int         `json:"category_id"`
	Segmentation [][]float64 `json:"segmentation"`
	Area         float64     `json:"area"`
	BBox         []float64   `json:"bbox"`
	IsCrowd      *int        `json:"iscrowd"`
	Score        *float64    `json:"score"`
}

const (
	pixelTol = 0.006 // output is rounded to 1/100 pixel
	eps      = 1e-6
)

// sample is a small room: two labels, three images (one without objects), a single-part
// object, a two-part object, an unlabelled one, one with a label outside the label set and
// vertices a float-noise away from the edges.
func sample() export.Dataset {
	return export.Dataset{
		Name: "Pumps, Q3",
		Images: []export.Image{
			{ID: 101, FileName: "pump-a.jpg", Width: 200, Height: 100},
			{ID: 202, FileName: "site/pump-b.png", Width: 640, Height: 480},
			{ID: 303, FileName: "empty.jpeg", Width: 32, Height: 32},
		},
		Categories: []export.Category{{ID: 1, Name: "valve"}, {ID: 2, Name: "pipe"}},
		Objects: []export.Object{
			{ImageID: 101, Category: "valve", Score: 0.9, Polygons: [][]export.Point{
				{{0.25, 0.25}, {0.75, 0.25}, {0.75, 0.75}, {0.25, 0.75}},
			}},
			{ImageID: 202, Category: "pipe", Score: 0.75, Polygons: [][]export.Point{
				{{0.1, 0.1}, {0.2, 0.1}, {0.2, 0.3}},
				{{0.5, 0.5}, {0.9, 0.5}, {0.9, 0.6}, {0.5, 0.6}},
			}},
			{ImageID: 101, Score: 0.5, Polygons: [][]export.Point{
				{{0, 0}, {0.1, 0}, {0.1, 0.1}, {0, 0.1}},
			}},
			{ImageID: 202, Category: "gauge", Score: 0.625, Polygons: [][]export.Point{
				{{-1e-10, 0.4}, {1 + 1e-10, 0.4}, {1, 1 + 5e-10}},
			}},
		},
	}
}

func writeCOCO(t testing.TB, d export.Dataset) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := export.WriteCOCO(&buf, d, export.Options{}); err != nil {
		t.Fatalf("WriteCOCO: %v", err)
	}
	return buf.Bytes()
}

// checkCOCO decodes out and checks it against the format's rules and against d.
func checkCOCO(t testing.TB, out []byte, d export.Dataset) cocoFile {
	t.Helper()
	var top map[string]json.RawMessage
	if err := json.Unmarshal(out, &top); err != nil {
		t.Fatalf("output is not a JSON object: %v\n%s", err, out)
	}
	for _, k := range []string{"info", "licenses", "images", "annotations", "categories"} {
		if _, ok := top[k]; !ok {
			t.Errorf("top level lacks %q", k)
		}
	}
	var f cocoFile
	dec := json.NewDecoder(bytes.NewReader(out))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		t.Fatalf("decode: %v", err)
	}

	images := map[int64]cocoImage{}
	if len(f.Images) != len(d.Images) {
		t.Errorf("%d images, want %d", len(f.Images), len(d.Images))
	}
	for i, im := range f.Images {
		if _, dup := images[im.ID]; dup {
			t.Errorf("image id %d twice", im.ID)
		}
		images[im.ID] = im
		if i < len(d.Images) {
			want := d.Images[i]
			if im.ID != want.ID || im.FileName != want.FileName || im.Width != want.Width || im.Height != want.Height {
				t.Errorf("image %d = %+v, want %+v", i, im, want)
			}
		}
		if im.Width <= 0 || im.Height <= 0 {
			t.Errorf("image %d has size %dx%d", im.ID, im.Width, im.Height)
		}
	}

	cats := map[int]string{}
	names := map[string]bool{}
	for _, c := range f.Categories {
		if _, dup := cats[c.ID]; dup {
			t.Errorf("category id %d twice", c.ID)
		}
		if names[c.Name] {
			t.Errorf("category name %q twice", c.Name)
		}
		if c.Supercategory == nil {
			t.Errorf("category %q has no supercategory", c.Name)
		}
		cats[c.ID], names[c.Name] = c.Name, true
	}

	if len(f.Annotations) != len(d.Objects) {
		t.Fatalf("%d annotations, want one per object: %d", len(f.Annotations), len(d.Objects))
	}
	ids := map[int64]bool{}
	for i, a := range f.Annotations {
		o := d.Objects[i]
		if a.ID < 1 || ids[a.ID] {
			t.Errorf("annotation %d: id %d is not unique and ≥ 1", i, a.ID)
		}
		ids[a.ID] = true
		im, ok := images[a.ImageID]
		if !ok {
			t.Errorf("annotation %d: image_id %d is not an image", a.ID, a.ImageID)
			continue
		}
		if a.ImageID != o.ImageID {
			t.Errorf("annotation %d: image_id %d, want %d", a.ID, a.ImageID, o.ImageID)
		}
		name, ok := cats[a.CategoryID]
		if !ok {
			t.Errorf("annotation %d: category_id %d is not a category", a.ID, a.CategoryID)
		}
		wantName := o.Category
		if wantName == "" {
			wantName = "object"
		}
		if name != wantName {
			t.Errorf("annotation %d: category %q, want %q", a.ID, name, wantName)
		}
		if a.IsCrowd == nil || *a.IsCrowd != 0 {
			t.Errorf("annotation %d: iscrowd %v, want 0", a.ID, a.IsCrowd)
		}
		if a.Score == nil || *a.Score != o.Score {
			t.Errorf("annotation %d: score %v, want %v", a.ID, a.Score, o.Score)
		}

		// segmentation: one flat polygon in pixels per part.
		if len(a.Segmentation) != len(o.Polygons) {
			t.Errorf("annotation %d: %d polygons, want %d", a.ID, len(a.Segmentation), len(o.Polygons))
			continue
		}
		var area float64
		minX, minY, maxX, maxY := math.Inf(1), math.Inf(1), math.Inf(-1), math.Inf(-1)
		for j, poly := range a.Segmentation {
			if len(poly)%2 != 0 || len(poly) < 6 {
				t.Errorf("annotation %d polygon %d: %d numbers, want an even count ≥ 6", a.ID, j, len(poly))
				continue
			}
			if len(poly) != 2*len(o.Polygons[j]) {
				t.Errorf("annotation %d polygon %d: %d vertices, want %d", a.ID, j, len(poly)/2, len(o.Polygons[j]))
				continue
			}
			for k, p := range o.Polygons[j] {
				x, y := poly[2*k], poly[2*k+1]
				wantX := math.Min(math.Max(p.X, 0), 1) * float64(im.Width)
				wantY := math.Min(math.Max(p.Y, 0), 1) * float64(im.Height)
				if math.Abs(x-wantX) > pixelTol || math.Abs(y-wantY) > pixelTol {
					t.Errorf("annotation %d polygon %d vertex %d = (%v, %v) px, want (%v, %v)", a.ID, j, k, x, y, wantX, wantY)
				}
				if x < 0 || y < 0 || x > float64(im.Width) || y > float64(im.Height) {
					t.Errorf("annotation %d: vertex (%v, %v) outside the %dx%d image", a.ID, x, y, im.Width, im.Height)
				}
				minX, maxX = math.Min(minX, x), math.Max(maxX, x)
				minY, maxY = math.Min(minY, y), math.Max(maxY, y)
			}
			area += shoelace(poly)
		}

		// bbox: [x, y, width, height] in pixels, the tightest box around every vertex.
		if len(a.BBox) != 4 {
			t.Errorf("annotation %d: bbox %v, want 4 numbers", a.ID, a.BBox)
			continue
		}
		bx, by, bw, bh := a.BBox[0], a.BBox[1], a.BBox[2], a.BBox[3]
		if bw < 0 || bh < 0 {
			t.Errorf("annotation %d: bbox %v has a negative size", a.ID, a.BBox)
		}
		if bx > minX+eps || by > minY+eps || bx+bw < maxX-eps || by+bh < maxY-eps {
			t.Errorf("annotation %d: bbox %v does not contain the vertices [%v..%v]x[%v..%v]", a.ID, a.BBox, minX, maxX, minY, maxY)
		}
		if math.Abs(bx-minX) > eps || math.Abs(by-minY) > eps || math.Abs(bx+bw-maxX) > pixelTol || math.Abs(by+bh-maxY) > pixelTol {
			t.Errorf("annotation %d: bbox %v is not tight around [%v..%v]x[%v..%v]", a.ID, a.BBox, minX, maxX, minY, maxY)
		}
		// area: shoelace in square pixels, summed over the parts.
		if a.Area < 0 || math.Abs(a.Area-area) > pixelTol {
			t.Errorf("annotation %d: area %v, shoelace of the segmentation gives %v", a.ID, a.Area, area)
		}
	}
	return f
}

// shoelace is the test's own polygon area, from flat x,y pairs.
func shoelace(flat []float64) float64 {
	n := len(flat) / 2
	var s float64
	for i := 0; i < n; i++ {
		j := (i + 1) % n
		s += flat[2*i]*flat[2*j+1] - flat[2*j]*flat[2*i+1]
	}
	return math.Abs(s) / 2
}

func TestWriteCOCORules(t *testing.T) {
	d := sample()
	f := checkCOCO(t, writeCOCO(t, d), d)

	// Categories: the label set in its order, then unknown labels and "object" in the
	// order objects first name them.
	var got []string
	for _, c := range f.Categories {
		got = append(got, c.Name)
	}
	if want := "valve,pipe,object,gauge"; strings.Join(got, ",") != want {
		t.Errorf("categories %v, want %s", got, want)
	}
	if f.Categories[0].ID != 1 || f.Categories[1].ID != 2 || f.Categories[2].ID != 3 || f.Categories[3].ID != 4 {
		t.Errorf("category ids %+v, want 1..4", f.Categories)
	}
	if f.Info["description"] != "Pumps, Q3" {
		t.Errorf("info %v, want the dataset name as description", f.Info)
	}
	if f.Licenses == nil {
		t.Error("licenses is null, want a list")
	}
}

// TestWriteCOCOValues checks numbers worked out by hand.
func TestWriteCOCOValues(t *testing.T) {
	d := sample()
	f := checkCOCO(t, writeCOCO(t, d), d)
	tests := []struct {
		name string
		seg  [][]float64
		bbox []float64
		area float64
	}{
		{"square on 200x100", [][]float64{{50, 25, 150, 25, 150, 75, 50, 75}}, []float64{50, 25, 100, 50}, 5000},
		// Triangle 64x96 px (area 3072) plus rectangle 256x48 px (12288) on 640x480.
		{"two parts", [][]float64{{64, 48, 128, 48, 128, 144}, {320, 240, 576, 240, 576, 288, 320, 288}},
			[]float64{64, 48, 512, 240}, 3072 + 12288},
		{"unlabelled", [][]float64{{0, 0, 20, 0, 20, 10, 0, 10}}, []float64{0, 0, 20, 10}, 200},
		// Clamped to the edges: (0,192) (640,192) (640,480), area 640*288/2.
		{"clamped", [][]float64{{0, 192, 640, 192, 640, 480}}, []float64{0, 192, 640, 288}, 92160},
	}
	for i, tt := range tests {
		a := f.Annotations[i]
		if !equalFloats(flatten(a.Segmentation), flatten(tt.seg)) || len(a.Segmentation) != len(tt.seg) {
			t.Errorf("%s: segmentation %v, want %v", tt.name, a.Segmentation, tt.seg)
		}
		if !equalFloats(a.BBox, tt.bbox) {
			t.Errorf("%s: bbox %v, want %v", tt.name, a.BBox, tt.bbox)
		}
		if a.Area != tt.area {
			t.Errorf("%s: area %v, want %v", tt.name, a.Area, tt.area)
		}
		if a.ID != int64(i+1) {
			t.Errorf("%s: id %d, want %d", tt.name, a.ID, i+1)
		}
	}
}

func flatten(ps [][]float64) []float64 {
	var out []float64
	for _, p := range ps {
		out = append(out, p...)
	}
	return out
}

func equalFloats(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestWriteCOCOCategoryIDs(t *testing.T) {
	d := export.Dataset{
		Images: []export.Image{{ID: 1, FileName: "a.jpg", Width: 10, Height: 10}},
		// Keys 3 and 7 given; "b" asks for an id.
		Categories: []export.Category{{ID: 7, Name: "a"}, {Name: "b"}, {ID: 3, Name: "c"}},
		Objects: []export.Object{
			{ImageID: 1, Category: "new", Polygons: [][]export.Point{{{0, 0}, {1, 0}, {0, 1}}}},
			{ImageID: 1, Category: "c", Polygons: [][]export.Point{{{0, 0}, {1, 0}, {0, 1}}}},
		},
	}
	f := checkCOCO(t, writeCOCO(t, d), d)
	want := []cocoCategory{{ID: 7, Name: "a"}, {ID: 8, Name: "b"}, {ID: 3, Name: "c"}, {ID: 9, Name: "new"}}
	if len(f.Categories) != len(want) {
		t.Fatalf("categories %+v, want %+v", f.Categories, want)
	}
	for i, c := range f.Categories {
		if c.ID != want[i].ID || c.Name != want[i].Name {
			t.Errorf("category %d = {%d %q}, want {%d %q}", i, c.ID, c.Name, want[i].ID, want[i].Name)
		}
	}
	if f.Annotations[0].CategoryID != 9 || f.Annotations[1].CategoryID != 3 {
		t.Errorf("category ids %d, %d, want 9, 3", f.Annotations[0].CategoryID, f.Annotations[1].CategoryID)
	}
}

// TestWriteCOCOEmpty: a room without approved objects still lists its images and labels.
func TestWriteCOCOEmpty(t *testing.T) {
	d := sample()
	d.Objects = nil
	f := checkCOCO(t, writeCOCO(t, d), d)
	if f.Annotations == nil || len(f.Annotations) != 0 {
		t.Errorf("annotations %v, want []", f.Annotations)
	}
	if len(f.Categories) != 2 {
		t.Errorf("categories %+v, want the label set", f.Categories)
	}
}

func TestWriteCOCOInfo(t *testing.T) {
	d := sample()
	d.Created = time.Date(2026, 3, 4, 5, 6, 7, 0, time.FixedZone("CET", 3600))
	f := checkCOCO(t, writeCOCO(t, d), d)
	if f.Info["year"] != 2026.0 || f.Info["date_created"] != "2026-03-04T04:06:07Z" {
		t.Errorf("info %v, want year 2026 and date_created in UTC", f.Info)
	}
}

func TestDeterministic(t *testing.T) {
	d := sample()
	if a, b := writeCOCO(t, d), writeCOCO(t, d); !bytes.Equal(a, b) {
		t.Error("WriteCOCO: same input, different bytes")
	}
	if a, b := yoloZip(t, d), yoloZip(t, d); !bytes.Equal(a, b) {
		t.Error("WriteYOLOZip: same input, different bytes")
	}
}

func TestProgress(t *testing.T) {
	d := sample()
	writers := map[string]func(*bytes.Buffer, export.Options) error{
		"coco": func(b *bytes.Buffer, o export.Options) error { return export.WriteCOCO(b, d, o) },
		"yolo": func(b *bytes.Buffer, o export.Options) error { return export.WriteYOLOZip(b, d, o) },
	}
	for name, write := range writers {
		var calls [][2]int
		opt := export.Options{Progress: func(done, total int) { calls = append(calls, [2]int{done, total}) }}
		if err := write(new(bytes.Buffer), opt); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		n := len(d.Objects)
		if len(calls) != n+1 {
			t.Fatalf("%s: progress calls %v, want %d", name, calls, n+1)
		}
		for i, c := range calls {
			if c != [2]int{i, n} {
				t.Errorf("%s: call %d = %v, want [%d %d]", name, i, c, i, n)
			}
		}
	}
}

// errWriter fails after n bytes.
type errWriter struct{ n int }

var errDisk = errors.New("disk full")

func (w *errWriter) Write(p []byte) (int, error) {
	if len(p) > w.n {
		k := w.n
		w.n = 0
		return k, errDisk
	}
	w.n -= len(p)
	return len(p), nil
}

func TestWriteError(t *testing.T) {
	d := sample()
	if err := export.WriteCOCO(&errWriter{n: 10}, d, export.Options{}); !errors.Is(err, errDisk) || errors.Is(err, export.ErrInvalid) {
		t.Errorf("WriteCOCO to a failing writer: %v, want the writer's error", err)
	}
	if err := export.WriteYOLOZip(&errWriter{n: 10}, d, export.Options{}); !errors.Is(err, errDisk) || errors.Is(err, export.ErrInvalid) {
		t.Errorf("WriteYOLOZip to a failing writer: %v, want the writer's error", err)
	}
}

func TestInvalid(t *testing.T) {
	tri := [][]export.Point{{{0, 0}, {1, 0}, {0, 1}}}
	tests := []struct {
		name   string
		change func(*export.Dataset)
		want   string // in the message
		yolo   bool   // only YOLO refuses it
	}{
		{"two vertices", func(d *export.Dataset) { d.Objects[1].Polygons[1] = d.Objects[1].Polygons[1][:2] },
			"object 1 on image 202 (\"site/pump-b.png\"): polygon 1 has 2 vertices, at least 3 are needed", false},
		{"x beyond 1", func(d *export.Dataset) { d.Objects[0].Polygons[0][2].X = 1.01 }, "polygon 0 vertex 2: x = 1.01 is outside 0..1", false},
		{"y below 0", func(d *export.Dataset) { d.Objects[0].Polygons[0][1].Y = -1e-8 }, "vertex 1: y = -1e-08 is outside 0..1", false},
		{"NaN vertex", func(d *export.Dataset) { d.Objects[0].Polygons[0][0].X = math.NaN() }, "x = NaN", false},
		{"NaN score", func(d *export.Dataset) { d.Objects[2].Score = math.NaN() }, "object 2 on image 101 (\"pump-a.jpg\"): score NaN is not a finite number", false},
		{"no polygons", func(d *export.Dataset) { d.Objects[2].Polygons = nil }, "no polygons", false},
		{"image without width", func(d *export.Dataset) { d.Images[1].Width = 0 }, "image 202 (\"site/pump-b.png\"): no size (0x480)", false},
		{"image without height", func(d *export.Dataset) { d.Images[2].Height = -1 }, "no size", false},
		{"image without name", func(d *export.Dataset) { d.Images[2].FileName = "" }, "image 303: no file name", false},
		{"image id 0", func(d *export.Dataset) { d.Images[2].ID = 0 }, "id 0 is not positive", false},
		{"duplicate image id", func(d *export.Dataset) { d.Images[2].ID = 101 }, "image id 101 is given twice (\"pump-a.jpg\" and \"empty.jpeg\")", false},
		{"unknown image", func(d *export.Dataset) { d.Objects[3].ImageID = 404 }, "object 3: image 404 is not in the dataset", false},
		{"duplicate category", func(d *export.Dataset) { d.Categories[1].Name = "valve" }, "category \"valve\" is listed twice", false},
		{"duplicate category id", func(d *export.Dataset) { d.Categories[1].ID = 1 }, "same id 1", false},
		{"negative category id", func(d *export.Dataset) { d.Categories[1].ID = -2 }, "negative", false},
		{"empty category", func(d *export.Dataset) { d.Categories[1].Name = "" }, "no name", false},
		{"file name with ..", func(d *export.Dataset) { d.Images[0].FileName = "../pump-a.jpg" }, "not a relative slash-separated path", true},
		{"absolute file name", func(d *export.Dataset) { d.Images[0].FileName = "/tmp/pump-a.jpg" }, "not a relative", true},
		{"backslash", func(d *export.Dataset) { d.Images[0].FileName = `site\pump-a.jpg` }, "not a relative", true},
		{"drive", func(d *export.Dataset) { d.Images[0].FileName = "C:/pump-a.jpg" }, "not a relative", true},
		{"only an extension", func(d *export.Dataset) { d.Images[0].FileName = ".jpg" }, "nothing before its extension", true},
		{"same stem", func(d *export.Dataset) { d.Images[2].FileName = "pump-a.png" }, "images 101 and 303 would both write labels/pump-a.txt", true},
		// One rule for labels in every format: a dataset exports in all of them or in none.
		{"line break in a label", func(d *export.Dataset) { d.Objects[3].Category = "ga\nuge" }, "label \"ga\\nuge\" holds a control character", false},
		{"tab in the label set", func(d *export.Dataset) { d.Categories[1].Name = "ga\tuge" }, "category \"ga\\tuge\" holds a control character", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := sample()
			d.Objects = append(d.Objects, export.Object{ImageID: 303, Polygons: tri})
			tt.change(&d)
			var buf bytes.Buffer
			err := export.WriteCOCO(&buf, d, export.Options{})
			if tt.yolo {
				if err != nil {
					t.Errorf("WriteCOCO: %v, want no error", err)
				}
			} else {
				checkInvalid(t, "WriteCOCO", err, buf.Len(), tt.want)
			}
			// The checks alone say what the writers would.
			if check := export.CheckCOCO(d); fmt.Sprint(check) != fmt.Sprint(err) {
				t.Errorf("CheckCOCO: %v, WriteCOCO: %v; want the same", check, err)
			}
			buf.Reset()
			err = export.WriteYOLOZip(&buf, d, export.Options{})
			checkInvalid(t, "WriteYOLOZip", err, buf.Len(), tt.want)
			if check := export.CheckYOLO(d); fmt.Sprint(check) != fmt.Sprint(err) {
				t.Errorf("CheckYOLO: %v, WriteYOLOZip: %v; want the same", check, err)
			}
		})
	}
}

func checkInvalid(t *testing.T, fn string, err error, written int, want string) {
	t.Helper()
	if !errors.Is(err, export.ErrInvalid) {
		t.Errorf("%s: %v, want ErrInvalid", fn, err)
		return
	}
	if !strings.Contains(err.Error(), want) {
		t.Errorf("%s: %q, want it to say %q", fn, err, want)
	}
	if written != 0 {
		t.Errorf("%s: wrote %d bytes for an invalid dataset", fn, written)
	}
}

// TestClamp: float noise at the edges is accepted and clamped; anything further is not.
func TestClamp(t *testing.T) {
	for _, v := range []float64{-1e-9, -1e-12, 1 + 1e-9, 1 + 1e-15} {
		d := sample()
		d.Objects[0].Polygons[0][0] = export.Point{X: v, Y: v}
		f := checkCOCO(t, writeCOCO(t, d), d)
		x := f.Annotations[0].Segmentation[0][0]
		if want := math.Round(math.Min(math.Max(v, 0), 1)) * 200; x != want {
			t.Errorf("x = %v → %v px, want %v", v, x, want)
		}
	}
	for _, v := range []float64{-2e-9, 1 + 2e-9, math.Inf(1)} {
		d := sample()
		d.Objects[0].Polygons[0][0] = export.Point{X: 0.5, Y: v}
		if err := export.WriteCOCO(new(bytes.Buffer), d, export.Options{}); !errors.Is(err, export.ErrInvalid) {
			t.Errorf("y = %v: %v, want ErrInvalid", v, err)
		}
	}
}
