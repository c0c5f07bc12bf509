package export

import (
	"archive/zip"
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"path"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// FileCreator receives the files of a YOLO export. *zip.Writer is one; a caller that writes
// to a folder can adapt os.Root. Names are slash-separated relative paths.
type FileCreator interface {
	Create(name string) (io.Writer, error)
}

// Names of the files WriteYOLO creates besides the label files.
const (
	YOLOClassesFile = "classes.txt" // one class name per line; line n (from 0) is class n
	YOLODataFile    = "data.yaml"   // Ultralytics dataset file: path, train, val, nc, names
	YOLOLabelsDir   = "labels"      // holds one <image name>.txt per image
	YOLOReadmeFile  = "README.txt"  // where to put the images, which the export does not hold
)

// SpeckShare is the share of an object's largest part below which WriteYOLO drops a part:
// a speck the segmentation left beside the object, which in a YOLO instance would only add a
// bridge to nowhere.
const SpeckShare = 0.01

// yoloInstance returns an object's parts as the one polygon of its YOLO line. Parts smaller
// than SpeckShare of the largest are dropped; each other part, in order, is joined to the
// polygon so far at their two nearest vertices by a bridge that goes there and comes back
// along the same segment, so filling the polygon fills each part and nothing between them
// (what Ultralytics' merge_multi_segment does for COCO's multi-part objects).
func yoloInstance(parts [][]Point) []Point {
	largest := 0.0
	for _, p := range parts {
		largest = max(largest, ringArea(p))
	}
	var ring []Point
	for _, p := range parts {
		if ringArea(p) < SpeckShare*largest {
			continue
		}
		if ring == nil {
			ring = p
			continue
		}
		i, j := nearestPair(ring, p)
		joined := make([]Point, 0, len(ring)+len(p)+2)
		joined = append(joined, ring[:i+1]...)
		joined = append(joined, p[j:]...)
		joined = append(joined, p[:j+1]...)  // back at p[j]
		joined = append(joined, ring[i:]...) // and back at ring[i]
		ring = joined
	}
	return ring
}

// ringArea is the area a polygon encloses (in the units of its coordinates).
func ringArea(p []Point) float64 {
	var a float64
	for i := range p {
		q := p[(i+1)%len(p)]
		a += p[i].X*q.Y - q.X*p[i].Y
	}
	return math.Abs(a) / 2
}

// nearestPair returns the indices of the closest vertices of a and b.
func nearestPair(a, b []Point) (int, int) {
	bi, bj, best := 0, 0, math.Inf(1)
	for i, p := range a {
		for j, q := range b {
			if d := (p.X-q.X)*(p.X-q.X) + (p.Y-q.Y)*(p.Y-q.Y); d < best {
				bi, bj, best = i, j, d
			}
		}
	}
	return bi, bj
}

// yoloReadme writes README.txt: the export holds labels only, so it says where each image
// goes for data.yaml to find it.
func yoloReadme(w *bufio.Writer, images []Image, labelNames []string) {
	w.WriteString("YOLO segmentation labels exported by Lasso.\n\n" +
		"The images are not in this archive: they stay in CDF. Download each one into an images/\n" +
		"folder next to labels/, under the name below (its label file has the same name, with .txt\n" +
		"for the extension); data.yaml then finds them (train and val both point at images/).\n\n" +
		"CDF file id\timage\tlabel file\n")
	for i, im := range images {
		fmt.Fprintf(w, "%d\timages/%s\t%s\n", im.ID, im.FileName, labelNames[i])
	}
}

// WriteYOLO writes d as YOLO segmentation labels to dst, in this order: data.yaml,
// classes.txt, README.txt, then labels/<name>.txt for every image in d.Images order, where
// <name> is the image's FileName with its extension replaced. Each line of a label file is one
// object: "<class> x1 y1 x2 y2 ...", the class being the category's index from 0 in the COCO
// category order and the coordinates normalised to 0..1 (6 decimals). An object of several
// parts is one polygon, as the Ultralytics converters write it (see yoloInstance): a YOLO line
// is an instance, and an object written as several lines would count as several. An image
// without objects gets an empty file (a background image). data.yaml expects the images in
// an images/ folder next to labels/; README.txt says which image goes where.
//
// d is validated before the first file is created (besides WriteCOCO's rules, file names
// must map to distinct, safe label paths); an invalid d returns an error wrapping ErrInvalid
// and creates nothing. CheckYOLO runs the same validation alone.
func WriteYOLO(dst FileCreator, d Dataset, opt Options) error {
	p, labelNames, err := prepareYOLO(d)
	if err != nil {
		return err
	}

	if err := writeFile(dst, YOLODataFile, func(w *bufio.Writer) error {
		return yoloDataYAML(w, d.Name, p.cats)
	}); err != nil {
		return err
	}
	if err := writeFile(dst, YOLOClassesFile, func(w *bufio.Writer) error {
		for _, c := range p.cats {
			w.WriteString(c.Name)
			w.WriteByte('\n')
		}
		return nil
	}); err != nil {
		return err
	}

	if err := writeFile(dst, YOLOReadmeFile, func(w *bufio.Writer) error {
		yoloReadme(w, d.Images, labelNames)
		return nil
	}); err != nil {
		return err
	}

	// Objects per image, in Dataset order.
	byImage := make([][]int, len(d.Images))
	for i := range d.Objects {
		byImage[p.objImage[i]] = append(byImage[p.objImage[i]], i)
	}
	done, total := 0, len(d.Objects)
	opt.progress(0, total)
	var num []byte
	for i := range d.Images {
		err := writeFile(dst, labelNames[i], func(w *bufio.Writer) error {
			for _, oi := range byImage[i] {
				w.WriteString(strconv.Itoa(p.objCat[oi]))
				for _, pt := range yoloInstance(d.Objects[oi].Polygons) {
					x, _ := clamp(pt.X)
					y, _ := clamp(pt.Y)
					num = strconv.AppendFloat(append(num[:0], ' '), roundTo(x, normalisedDecimals), 'f', -1, 64)
					num = strconv.AppendFloat(append(num, ' '), roundTo(y, normalisedDecimals), 'f', -1, 64)
					w.Write(num)
				}
				w.WriteByte('\n')
				done++
				opt.progress(done, total)
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// CheckYOLO reports whether WriteYOLO (and WriteYOLOZip) would accept d, without writing
// anything: an error wrapping ErrInvalid if not. A caller that must answer before it writes
// (an HTTP handler, whose status goes out with the first byte) checks first.
func CheckYOLO(d Dataset) error {
	_, _, err := prepareYOLO(d)
	return err
}

// prepareYOLO validates d for WriteYOLO: prepare's rules, and file names that map to
// distinct, safe label paths. It returns the plan and every image's label file name.
func prepareYOLO(d Dataset) (*plan, []string, error) {
	p, err := prepare(d)
	if err != nil {
		return nil, nil, err
	}
	labelNames, err := yoloLabelNames(d.Images)
	if err != nil {
		return nil, nil, err
	}
	return p, labelNames, nil
}

// WriteYOLOZip writes WriteYOLO's files into a zip archive on w. Entries are deflated and
// dated d.Created (1980-01-01 UTC when zero), so the same d gives the same bytes.
func WriteYOLOZip(w io.Writer, d Dataset, opt Options) error {
	modified := d.Created
	if modified.IsZero() {
		modified = time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	zw := zip.NewWriter(w) // writes nothing before the first entry, so invalid d leaves w empty
	if err := WriteYOLO(datedZip{zw, modified.UTC()}, d, opt); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("export: write yolo zip: %w", err)
	}
	return nil
}

// datedZip creates zip entries with a fixed modification time (zip.Writer.Create leaves it
// unset, which archivers show as an invalid date).
type datedZip struct {
	zw       *zip.Writer
	modified time.Time
}

func (z datedZip) Create(name string) (io.Writer, error) {
	return z.zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Deflate, Modified: z.modified})
}

// writeFile creates name on dst and fills it through a buffer.
func writeFile(dst FileCreator, name string, fill func(*bufio.Writer) error) error {
	f, err := dst.Create(name)
	if err != nil {
		return fmt.Errorf("export: create %s: %w", name, err)
	}
	bw := bufio.NewWriter(f)
	if err := fill(bw); err != nil {
		return fmt.Errorf("export: write %s: %w", name, err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("export: write %s: %w", name, err)
	}
	return nil
}

// yoloLabelNames maps every image to labels/<FileName without extension>.txt and checks that
// the paths are safe to create and distinct.
func yoloLabelNames(images []Image) ([]string, error) {
	names := make([]string, len(images))
	seen := make(map[string]int64, len(images))
	for i, im := range images {
		if !safeRelPath(im.FileName) {
			return nil, fmt.Errorf("%w: image %d: file name %q is not a relative slash-separated path (no \"..\", \".\", empty elements, backslashes or control characters)", ErrInvalid, im.ID, im.FileName)
		}
		stem := strings.TrimSuffix(im.FileName, path.Ext(im.FileName))
		if stem == "" || strings.HasSuffix(stem, "/") {
			return nil, fmt.Errorf("%w: image %d: file name %q has nothing before its extension", ErrInvalid, im.ID, im.FileName)
		}
		name := YOLOLabelsDir + "/" + stem + ".txt"
		if other, dup := seen[name]; dup {
			return nil, fmt.Errorf("%w: images %d and %d would both write %s", ErrInvalid, other, im.ID, name)
		}
		seen[name] = im.ID
		names[i] = name
	}
	return names, nil
}

// safeRelPath reports whether name is a relative slash-separated path that stays inside the
// folder it is created in, on any system that unpacks the archive.
func safeRelPath(name string) bool {
	if name == "" || strings.HasPrefix(name, "/") || strings.ContainsRune(name, '\\') ||
		strings.ContainsFunc(name, unicode.IsControl) {
		return false
	}
	for el := range strings.SplitSeq(name, "/") {
		if el == "" || el == "." || el == ".." || len(el) == 2 && el[1] == ':' { // "C:" is a drive
			return false
		}
	}
	return true
}

// yoloDataYAML writes an Ultralytics dataset file. Names are JSON strings, which YAML reads
// as double-quoted scalars, so no label can break the file.
func yoloDataYAML(w *bufio.Writer, name string, cats []Category) error {
	quote := func(s string) string {
		b, _ := json.Marshal(s) // a string always marshals
		return string(b)
	}
	w.WriteString("# YOLO segmentation labels exported by Lasso\n")
	if name != "" {
		fmt.Fprintf(w, "# dataset: %s\n", strings.Map(func(r rune) rune {
			if unicode.IsControl(r) {
				return ' '
			}
			return r
		}, name))
	}
	// No "path": Ultralytics then resolves images/ next to this file.
	fmt.Fprintf(w, "train: images\nval: images\nnc: %d\nnames:\n", len(cats))
	for i, c := range cats {
		fmt.Fprintf(w, "  %d: %s\n", i, quote(c.Name))
	}
	return nil
}
