package export_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/lassoteam/lasso/export"
)

// FuzzHostileDataset builds a dataset from hostile parts: labels and file names of any bytes
// (line breaks, quotes, invalid UTF-8, YAML and JSON syntax), any image size and vertices of
// any float (NaN, ±Inf, out of range, few). For both formats the check and the write agree;
// a refusal wraps ErrInvalid and writes nothing; an accepted dataset writes output whose every
// category, image and polygon reads back as given (checkCOCO, checkYOLOLabels), with one line
// per class in classes.txt, and the same bytes every time.
func FuzzHostileDataset(f *testing.F) {
	f.Add("cat\x00dog", "a.jpg", "room", 640, 480, 0.5, []byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f})
	f.Add("a\nb\x00\"quoted\"", "dir/b.png", "x\ny", 1, 1, 1.0, []byte{})
	f.Add("\xff\x00\xfe", "c.jpg", "", 10, 10, 0.0, []byte{})
	f.Add("names: [x]\x00{\"a\":1}\x00  - y", "../evil.jpg", "#", 3, 3, 0.9, []byte{})
	f.Add("x\x00x", `C:\a.jpg`, "dup", 5, 5, math.NaN(), []byte{0, 0, 0, 0, 0, 0, 0xf8, 0x7f})
	f.Add("", "d.jpg", "", 0, 7, 0.5, []byte{})
	f.Add("\u2028sep\x00\ufeffbom", "ü/é.jpg", "ü", 100, 50, 0.25, []byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, labels, fileName, name string, w, h int, score float64, raw []byte) {
		// Up to three vertices come from the fuzzer's floats; the rest make a valid triangle.
		var fs []float64
		for i := 0; i+8 <= len(raw) && len(fs) < 6; i += 8 {
			fs = append(fs, math.Float64frombits(binary.LittleEndian.Uint64(raw[i:])))
		}
		tri := []float64{0.1, 0.1, 0.9, 0.1, 0.5, 0.9}
		copy(tri, fs)
		poly := []export.Point{{X: tri[0], Y: tri[1]}, {X: tri[2], Y: tri[3]}, {X: tri[4], Y: tri[5]}}
		if len(raw)%7 == 3 {
			poly = poly[:2] // too few vertices
		}
		d := export.Dataset{Name: name, Images: []export.Image{{ID: 1, FileName: fileName, Width: w, Height: h}}}
		for i, l := range strings.Split(labels, "\x00") {
			if i%2 == 0 {
				d.Categories = append(d.Categories, export.Category{Name: l})
			}
			d.Objects = append(d.Objects, export.Object{ImageID: 1, Category: l, Score: score, Polygons: [][]export.Point{poly}})
		}

		var out bytes.Buffer
		checked, wrote := export.CheckCOCO(d), export.WriteCOCO(&out, d, export.Options{})
		if (checked == nil) != (wrote == nil) {
			t.Fatalf("CheckCOCO %v, WriteCOCO %v", checked, wrote)
		}
		if wrote != nil {
			if !errors.Is(wrote, export.ErrInvalid) || out.Len() != 0 {
				t.Fatalf("refusal %v (ErrInvalid: %t) after %d bytes", wrote, errors.Is(wrote, export.ErrInvalid), out.Len())
			}
		} else {
			f := checkCOCO(t, out.Bytes(), d)
			seen := map[string]bool{}
			for _, c := range f.Categories {
				if seen[c.Name] {
					t.Fatalf("category %q twice in the output", c.Name)
				}
				seen[c.Name] = true
			}
			for _, c := range d.Categories {
				if !seen[c.Name] {
					t.Fatalf("label %q does not read back from the COCO file", c.Name)
				}
			}
			if again := writeCOCO(t, d); !bytes.Equal(again, out.Bytes()) {
				t.Fatal("the same dataset wrote different bytes")
			}
		}

		m := &mapCreator{files: map[string]*bytes.Buffer{}}
		checked, wrote = export.CheckYOLO(d), export.WriteYOLO(m, d, export.Options{})
		if (checked == nil) != (wrote == nil) {
			t.Fatalf("CheckYOLO %v, WriteYOLO %v", checked, wrote)
		}
		if wrote != nil {
			if !errors.Is(wrote, export.ErrInvalid) || len(m.order) != 0 {
				t.Fatalf("refusal %v (ErrInvalid: %t) after creating %q", wrote, errors.Is(wrote, export.ErrInvalid), m.order)
			}
			return
		}
		files := map[string]string{}
		for n, b := range m.files {
			files[n] = b.String()
		}
		classes := strings.Split(strings.TrimSuffix(files[export.YOLOClassesFile], "\n"), "\n")
		_, names := yoloNames(t, files[export.YOLODataFile])
		if len(names) != len(classes) {
			t.Fatalf("data.yaml names %q, classes.txt %q", names, classes)
		}
		for i := range names {
			if names[i] != classes[i] {
				t.Fatalf("class %d is %q in data.yaml and %q in classes.txt", i, names[i], classes[i])
			}
		}
		checkYOLOLabels(t, d, files, classes)
	})
}
