package export_test

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"io"
	"maps"
	"math"
	"path"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lassoteam/lasso/export"
)

// The YOLO rules are written from the Ultralytics segmentation format description
// (https://docs.ultralytics.com/datasets/segment/): one <image stem>.txt per image, one line
// per polygon "<class> x1 y1 x2 y2 ...", class an index from 0, coordinates normalised 0..1.

func yoloZip(t testing.TB, d export.Dataset) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := export.WriteYOLOZip(&buf, d, export.Options{}); err != nil {
		t.Fatalf("WriteYOLOZip: %v", err)
	}
	return buf.Bytes()
}

// unzip reads the archive with archive/zip's reader and returns its files in order.
func unzip(t testing.TB, b []byte) (names []string, files map[string]string, zr *zip.Reader) {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatalf("not a zip archive: %v", err)
	}
	files = map[string]string{}
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatalf("open %s: %v", f.Name, err)
		}
		body, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatalf("read %s: %v", f.Name, err)
		}
		names = append(names, f.Name)
		files[f.Name] = string(body)
	}
	return names, files, zr
}

// yoloNames reads the names of data.yaml: "  <i>: <JSON string>" lines after "names:".
func yoloNames(t testing.TB, yaml string) (nc int, names []string) {
	t.Helper()
	inNames := false
	for line := range strings.Lines(yaml) {
		line = strings.TrimRight(line, "\n")
		switch {
		case strings.HasPrefix(line, "nc: "):
			nc, _ = strconv.Atoi(strings.TrimPrefix(line, "nc: "))
		case line == "names:":
			inNames = true
		case inNames && strings.HasPrefix(line, "  "):
			idx, val, ok := strings.Cut(strings.TrimSpace(line), ": ")
			var name string
			if err := json.Unmarshal([]byte(val), &name); !ok || err != nil {
				t.Fatalf("data.yaml: bad names line %q", line)
			}
			if i, _ := strconv.Atoi(idx); i != len(names) {
				t.Fatalf("data.yaml: names index %s, want %d", idx, len(names))
			}
			names = append(names, name)
		default:
			inNames = false
		}
	}
	return nc, names
}

func TestWriteYOLOZip(t *testing.T) {
	d := sample()
	names, files, _ := unzip(t, yoloZip(t, d))

	wantNames := []string{"data.yaml", "classes.txt", "README.txt", "labels/pump-a.txt", "labels/site/pump-b.txt", "labels/empty.txt"}
	if !slices.Equal(names, wantNames) {
		t.Fatalf("files %v, want %v", names, wantNames)
	}

	// Classes: the COCO category order, indexed from 0.
	f := checkCOCO(t, writeCOCO(t, d), d)
	var cocoNames []string
	for _, c := range f.Categories {
		cocoNames = append(cocoNames, c.Name)
	}
	classes := strings.Split(strings.TrimSuffix(files["classes.txt"], "\n"), "\n")
	if !slices.Equal(classes, cocoNames) {
		t.Errorf("classes.txt %q, want %q", classes, cocoNames)
	}
	nc, yamlNames := yoloNames(t, files["data.yaml"])
	if nc != len(cocoNames) || !slices.Equal(yamlNames, cocoNames) {
		t.Errorf("data.yaml nc %d names %q, want %d %q", nc, yamlNames, len(cocoNames), cocoNames)
	}
	for _, key := range []string{"train: images\n", "val: images\n"} {
		if !strings.Contains(files["data.yaml"], key) {
			t.Errorf("data.yaml lacks %q:\n%s", key, files["data.yaml"])
		}
	}

	checkYOLOLabels(t, d, files, classes)

	if files["labels/empty.txt"] != "" {
		t.Errorf("image without objects: %q, want an empty file", files["labels/empty.txt"])
	}
	// Hand-checked lines: the two-part object is one line of class 1 (pipe), its parts
	// joined at (0.2, 0.3) and (0.5, 0.5); the clamped vertices land on 0 and 1.
	want := "1 0.1 0.1 0.2 0.1 0.2 0.3 0.5 0.5 0.9 0.5 0.9 0.6 0.5 0.6 0.5 0.5 0.2 0.3\n3 0 0.4 1 0.4 1 1\n"
	if got := files["labels/site/pump-b.txt"]; got != want {
		t.Errorf("labels/site/pump-b.txt =\n%s\nwant\n%s", got, want)
	}
}

// checkYOLOLabels checks every label file against d: one line per object, in object order,
// class index naming the object's category, and normalised coordinates that are the
// object's parts but its specks (under export.SpeckShare of its largest part), each vertex as
// given, joined into one polygon by a bridge out and back per further part: two vertices more
// each, starting with the first kept part's first vertex.
func checkYOLOLabels(t testing.TB, d export.Dataset, files map[string]string, classes []string) {
	t.Helper()
	key := func(x, y float64) [2]float64 {
		r := func(v float64) float64 { return math.Round(math.Min(math.Max(v, 0), 1)*1e6) / 1e6 }
		return [2]float64{r(x), r(y)}
	}
	for _, im := range d.Images {
		stem := strings.TrimSuffix(im.FileName, path.Ext(im.FileName)) // a name may have no extension
		name := "labels/" + stem + ".txt"
		body, ok := files[name]
		if !ok {
			t.Errorf("no %s for image %q", name, im.FileName)
			continue
		}
		var want []export.Object
		for _, o := range d.Objects {
			if o.ImageID == im.ID {
				want = append(want, o)
			}
		}
		lines := strings.Split(body, "\n")
		if lines[len(lines)-1] != "" {
			t.Errorf("%s does not end in a line break", name)
		}
		lines = lines[:len(lines)-1]
		if len(lines) != len(want) {
			t.Errorf("%s: %d lines, want one per object: %d", name, len(lines), len(want))
			continue
		}
		for i, line := range lines {
			o := want[i]
			cat := o.Category
			if cat == "" {
				cat = "object"
			}
			fields := strings.Fields(line)
			class, err := strconv.Atoi(fields[0])
			if err != nil || class < 0 || class >= len(classes) {
				t.Errorf("%s line %d: class %q is not an index into %d classes", name, i, fields[0], len(classes))
				continue
			}
			if classes[class] != cat {
				t.Errorf("%s line %d: class %d (%s), want %s", name, i, class, classes[class], cat)
			}
			var kept [][]export.Point
			largest := 0.0
			for _, p := range o.Polygons {
				largest = math.Max(largest, ringArea(p))
			}
			wantN, wantSet := -2, map[[2]float64]bool{}
			for _, p := range o.Polygons {
				if ringArea(p) >= export.SpeckShare*largest {
					kept = append(kept, p)
					wantN += len(p) + 2
					for _, v := range p {
						wantSet[key(v.X, v.Y)] = true
					}
				}
			}
			coords := fields[1:]
			if len(coords) != 2*wantN {
				t.Errorf("%s line %d: %d numbers, want %d", name, i, len(coords), 2*wantN)
				continue
			}
			gotSet := map[[2]float64]bool{}
			for k := 0; k+1 < len(coords); k += 2 {
				x, errX := strconv.ParseFloat(coords[k], 64)
				y, errY := strconv.ParseFloat(coords[k+1], 64)
				if errX != nil || errY != nil || x < 0 || x > 1 || y < 0 || y > 1 {
					t.Errorf("%s line %d: %q %q is not a point in 0..1", name, i, coords[k], coords[k+1])
					continue
				}
				gotSet[key(x, y)] = true
				if k == 0 && key(x, y) != key(kept[0][0].X, kept[0][0].Y) {
					t.Errorf("%s line %d starts at (%v, %v), want the first part's first vertex %v", name, i, x, y, kept[0][0])
				}
			}
			if !maps.Equal(gotSet, wantSet) {
				t.Errorf("%s line %d: vertices %v, want the kept parts' %v", name, i, gotSet, wantSet)
			}
		}
	}
}

// ringArea is the test's own polygon area.
func ringArea(p []export.Point) float64 {
	flat := make([]float64, 0, 2*len(p))
	for _, v := range p {
		flat = append(flat, v.X, v.Y)
	}
	return shoelace(flat)
}

// TestYOLOMultiPartObject: a three-part object is one YOLO line, its speck dropped and its
// other parts joined at their nearest vertices; filled with the even-odd rule, as the
// Ultralytics loaders rasterise a polygon, it covers each part and nothing between them.
func TestYOLOMultiPartObject(t *testing.T) {
	d := export.Dataset{
		Images: []export.Image{{ID: 1, FileName: "m.jpg", Width: 100, Height: 100}},
		Objects: []export.Object{{ImageID: 1, Category: "x", Score: 1, Polygons: [][]export.Point{
			{{0.1, 0.1}, {0.3, 0.1}, {0.3, 0.3}, {0.1, 0.3}},
			{{0.95, 0.95}, {0.96, 0.95}, {0.96, 0.96}}, // 0.5 % of the first: a speck
			{{0.6, 0.6}, {0.9, 0.6}, {0.9, 0.9}, {0.6, 0.9}},
		}}},
	}
	_, files, _ := unzip(t, yoloZip(t, d))
	want := "0 0.1 0.1 0.3 0.1 0.3 0.3 0.6 0.6 0.9 0.6 0.9 0.9 0.6 0.9 0.6 0.6 0.3 0.3 0.1 0.3\n"
	if got := files["labels/m.txt"]; got != want {
		t.Fatalf("labels/m.txt = %q, want %q", got, want)
	}
	var ring []export.Point
	f := strings.Fields(want)[1:]
	for k := 0; k < len(f); k += 2 {
		x, _ := strconv.ParseFloat(f[k], 64)
		y, _ := strconv.ParseFloat(f[k+1], 64)
		ring = append(ring, export.Point{X: x, Y: y})
	}
	for _, c := range []struct {
		x, y float64
		in   bool
	}{{0.2, 0.2, true}, {0.75, 0.75, true}, {0.45, 0.45, false}, {0.2, 0.75, false}, {0.955, 0.952, false}} {
		if got := evenOdd(ring, c.x, c.y); got != c.in {
			t.Errorf("(%v, %v) inside the YOLO polygon: %v, want %v", c.x, c.y, got, c.in)
		}
	}
}

// evenOdd reports whether (x, y) is inside ring by the even-odd rule.
func evenOdd(ring []export.Point, x, y float64) bool {
	in := false
	for i := range ring {
		a, b := ring[i], ring[(i+1)%len(ring)]
		if (a.Y > y) != (b.Y > y) && x < a.X+(y-a.Y)*(b.X-a.X)/(b.Y-a.Y) {
			in = !in
		}
	}
	return in
}

func TestWriteYOLOZipDated(t *testing.T) {
	d := sample()
	d.Created = time.Date(2026, 5, 6, 7, 8, 10, 0, time.UTC)
	_, _, zr := unzip(t, yoloZip(t, d))
	for _, f := range zr.File {
		if !f.Modified.Equal(d.Created) {
			t.Errorf("%s: modified %v, want %v", f.Name, f.Modified, d.Created)
		}
		if !zipLocal(f.Name) {
			t.Errorf("%s: unsafe entry name", f.Name)
		}
	}
}

func zipLocal(name string) bool {
	return !strings.HasPrefix(name, "/") && !strings.Contains(name, "..") && !strings.Contains(name, `\`)
}

// mapCreator collects WriteYOLO's files.
type mapCreator struct {
	order []string
	files map[string]*bytes.Buffer
}

func (m *mapCreator) Create(name string) (io.Writer, error) {
	b := new(bytes.Buffer)
	m.order = append(m.order, name)
	m.files[name] = b
	return b, nil
}

// TestWriteYOLOMatchesZip: WriteYOLO and WriteYOLOZip write the same files.
func TestWriteYOLOMatchesZip(t *testing.T) {
	d := sample()
	m := &mapCreator{files: map[string]*bytes.Buffer{}}
	if err := export.WriteYOLO(m, d, export.Options{}); err != nil {
		t.Fatal(err)
	}
	names, files, _ := unzip(t, yoloZip(t, d))
	if !slices.Equal(m.order, names) {
		t.Fatalf("WriteYOLO files %v, zip %v", m.order, names)
	}
	for _, n := range names {
		if m.files[n].String() != files[n] {
			t.Errorf("%s differs", n)
		}
	}
}

// TestYAMLQuoting: a label with YAML's special characters stays one name.
func TestYAMLQuoting(t *testing.T) {
	d := sample()
	d.Categories[0].Name = `valve: "ball" # 2 <&>`
	d.Objects[0].Category = d.Categories[0].Name
	_, files, _ := unzip(t, yoloZip(t, d))
	if _, names := yoloNames(t, files["data.yaml"]); len(names) == 0 || names[0] != d.Categories[0].Name {
		t.Errorf("data.yaml names %q, want %q first:\n%s", names, d.Categories[0].Name, files["data.yaml"])
	}
}

// FuzzPolygon writes random polygons on a random image size and checks the geometric rules
// of both formats: bbox contains every vertex, area ≥ 0 and equal to the shoelace area,
// YOLO coordinates normalised.
func FuzzPolygon(f *testing.F) {
	f.Add(uint16(640), uint16(480), []byte{0, 0, 255, 0, 255, 255, 0, 255})
	f.Add(uint16(1), uint16(1), []byte{1, 2, 3, 4, 5, 6})
	f.Add(uint16(4000), uint16(3), []byte{10, 200, 30, 40, 250, 60, 0, 0, 255, 255, 7, 9, 128, 128})
	f.Fuzz(func(t *testing.T, w, h uint16, raw []byte) {
		if w == 0 || h == 0 || len(raw) < 6 {
			t.Skip()
		}
		// Bytes become vertices; every 9th vertex starts a new part when enough remain.
		var polys [][]export.Point
		var cur []export.Point
		for i := 0; i+1 < len(raw); i += 2 {
			cur = append(cur, export.Point{X: float64(raw[i]) / 255, Y: float64(raw[i+1]) / 255})
			if len(cur) == 9 && len(raw)-i-2 >= 6 {
				polys, cur = append(polys, cur), nil
			}
		}
		if len(cur) >= 3 {
			polys = append(polys, cur)
		} else if len(cur) > 0 {
			polys[len(polys)-1] = append(polys[len(polys)-1], cur...)
		}
		d := export.Dataset{
			Images:  []export.Image{{ID: 1, FileName: "f.jpg", Width: int(w), Height: int(h)}},
			Objects: []export.Object{{ImageID: 1, Category: "x", Score: 1, Polygons: polys}},
		}
		checkCOCO(t, writeCOCO(t, d), d)
		_, files, _ := unzip(t, yoloZip(t, d))
		checkYOLOLabels(t, d, files, []string{"x"})
	})
}
