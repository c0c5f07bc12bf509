package export

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"time"
)

// Output precision: pixel coordinates, box and area to 1/100 pixel; YOLO's normalised
// coordinates to 1e-6 (1/100 pixel on a 10 000 pixel wide image).
const (
	pixelDecimals      = 2
	normalisedDecimals = 6
)

// COCO's wire shapes (https://cocodataset.org/#format-data, "object detection").
type (
	cocoInfo struct {
		Year        int    `json:"year"`
		Version     string `json:"version"`
		Description string `json:"description"`
		Contributor string `json:"contributor"`
		URL         string `json:"url"`
		DateCreated string `json:"date_created"`
	}
	cocoImage struct {
		ID       int64  `json:"id"`
		FileName string `json:"file_name"`
		Width    int    `json:"width"`
		Height   int    `json:"height"`
	}
	cocoCategory struct {
		ID            int    `json:"id"`
		Name          string `json:"name"`
		Supercategory string `json:"supercategory"`
	}
	cocoAnnotation struct {
		ID           int         `json:"id"`
		ImageID      int64       `json:"image_id"`
		CategoryID   int         `json:"category_id"`
		Segmentation [][]float64 `json:"segmentation"`
		Area         float64     `json:"area"`
		BBox         [4]float64  `json:"bbox"`
		IsCrowd      int         `json:"iscrowd"`
		Score        float64     `json:"score"`
	}
)

// CheckCOCO reports whether WriteCOCO would accept d, without writing anything: an error
// wrapping ErrInvalid if not. A caller that must answer before it writes (an HTTP handler,
// whose status goes out with the first byte) checks first.
func CheckCOCO(d Dataset) error {
	_, err := prepare(d)
	return err
}

// WriteCOCO writes d to w as COCO instance segmentation JSON: info, licenses (empty),
// categories (id, name, supercategory ""), images (id = Image.ID, file_name, width, height)
// and one annotation per object with id counting from 1, image_id, category_id,
// segmentation (one flat [x1,y1,x2,y2,...] list in pixels per part), area (the shoelace area
// of the parts in square pixels, summed), bbox ([x,y,width,height] in pixels around all
// parts), iscrowd 0 and score. Pixel values are rounded to 1/100 pixel; area and bbox are
// computed from the rounded segmentation, so a reader recomputing them gets the same numbers.
//
// d is validated before anything is written; an invalid d returns an error wrapping
// ErrInvalid and writes nothing (CheckCOCO runs the same validation alone). The output depends
// only on d: the same d gives the same bytes.
func WriteCOCO(w io.Writer, d Dataset, opt Options) error {
	p, err := prepare(d)
	if err != nil {
		return err
	}
	cw := &cocoWriter{bw: bufio.NewWriterSize(w, 64<<10)}
	cw.enc = json.NewEncoder(&cw.buf)
	cw.enc.SetEscapeHTML(false)

	info := cocoInfo{Version: "1.0", Description: d.Name, Contributor: "Lasso"}
	if !d.Created.IsZero() {
		info.Year = d.Created.Year()
		info.DateCreated = d.Created.UTC().Format(time.RFC3339)
	}
	cw.raw(`{"info":`)
	cw.value(info)
	cw.raw(",\n\"licenses\":[],\n\"categories\":[")
	for i, c := range p.cats {
		cw.sep(i)
		cw.value(cocoCategory{ID: c.ID, Name: c.Name})
	}
	cw.raw("],\n\"images\":[")
	for i, im := range d.Images {
		cw.sep(i)
		cw.value(cocoImage{ID: im.ID, FileName: im.FileName, Width: im.Width, Height: im.Height})
	}
	cw.raw("],\n\"annotations\":[")
	total := len(d.Objects)
	opt.progress(0, total)
	for i, o := range d.Objects {
		im := d.Images[p.objImage[i]]
		cw.sep(i)
		cw.value(cocoAnnotationOf(i+1, o, im, p.cats[p.objCat[i]].ID))
		if cw.err != nil {
			break
		}
		opt.progress(i+1, total)
	}
	cw.raw("]}\n")
	if cw.err == nil {
		cw.err = cw.bw.Flush()
	}
	if cw.err != nil {
		return fmt.Errorf("export: write coco: %w", cw.err)
	}
	return nil
}

// cocoAnnotationOf converts one validated object to pixels.
func cocoAnnotationOf(id int, o Object, im Image, categoryID int) cocoAnnotation {
	a := cocoAnnotation{
		ID:           id,
		ImageID:      im.ID,
		CategoryID:   categoryID,
		Segmentation: make([][]float64, len(o.Polygons)),
		Score:        o.Score,
	}
	w, h := float64(im.Width), float64(im.Height)
	minX, minY := math.Inf(1), math.Inf(1)
	maxX, maxY := math.Inf(-1), math.Inf(-1)
	for j, poly := range o.Polygons {
		flat := make([]float64, 0, 2*len(poly))
		for _, pt := range poly {
			x, _ := clamp(pt.X)
			y, _ := clamp(pt.Y)
			x, y = roundTo(x*w, pixelDecimals), roundTo(y*h, pixelDecimals)
			flat = append(flat, x, y)
			minX, maxX = min(minX, x), max(maxX, x)
			minY, maxY = min(minY, y), max(maxY, y)
		}
		a.Segmentation[j] = flat
		a.Area += shoelace(flat)
	}
	a.Area = roundTo(a.Area, pixelDecimals)
	a.BBox = [4]float64{minX, minY, roundTo(maxX-minX, pixelDecimals), roundTo(maxY-minY, pixelDecimals)}
	return a
}

// shoelace returns the area enclosed by a polygon given as flat x,y pairs; its absolute
// value, so the vertex order (clockwise or not) does not matter.
func shoelace(flat []float64) float64 {
	n := len(flat) / 2
	var s float64
	for i := range n {
		j := (i + 1) % n
		s += flat[2*i]*flat[2*j+1] - flat[2*j]*flat[2*i+1]
	}
	return math.Abs(s) / 2
}

// cocoWriter streams the JSON document: annotations are encoded one at a time, so a large
// room never sits in memory twice. The first error sticks and later writes do nothing.
type cocoWriter struct {
	bw  *bufio.Writer
	buf bytes.Buffer
	enc *json.Encoder
	err error
}

func (c *cocoWriter) raw(s string) {
	if c.err == nil {
		_, c.err = c.bw.WriteString(s)
	}
}

// sep starts element i of an array: one element per line.
func (c *cocoWriter) sep(i int) {
	if i > 0 {
		c.raw(",\n")
	} else {
		c.raw("\n")
	}
}

func (c *cocoWriter) value(v any) {
	if c.err != nil {
		return
	}
	c.buf.Reset()
	if c.err = c.enc.Encode(v); c.err != nil {
		return
	}
	_, c.err = c.bw.Write(bytes.TrimSuffix(c.buf.Bytes(), []byte("\n")))
}
