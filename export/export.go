// Package export turns a room's approved objects into files other tools read: COCO instance
// segmentation JSON (WriteCOCO) and YOLO segmentation labels (WriteYOLO, WriteYOLOZip).
//
// The input is a Dataset, a screen- and storage-neutral description of images, categories and
// objects whose polygons are normalised to 0..1 from the image's top-left corner, with
// pixel-edge coordinates (x = 1 is the right edge of the last pixel column). Every writer
// validates the whole Dataset before it writes its first byte, so an invalid Dataset never
// produces a partial file; errors for invalid input wrap ErrInvalid.
//
// The package imports only the standard library and never logs.
package export

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// ErrInvalid is returned (wrapped) when a Dataset cannot be exported: a polygon with fewer
// than 3 vertices, a coordinate outside 0..1, an image without a size, an object on an
// unknown image, a duplicate id or name, a category name with a control character. The
// message says which element is at fault.
var ErrInvalid = errors.New("export: invalid dataset")

// DefaultCategory is the category of objects that carry no label.
const DefaultCategory = "object"

// Dataset is what is exported: a room's images, its label set and its approved objects.
type Dataset struct {
	// Name describes the dataset (the room's name); COCO's info.description.
	Name string
	// Created is when the export was made: COCO's info.year and info.date_created, and the
	// modification time of the entries of WriteYOLOZip. The zero time leaves them unset, which
	// keeps the output independent of the clock.
	Created time.Time
	// Images are exported in this order. Every image is listed, also one without objects.
	Images []Image
	// Categories are the label set in the order it should be exported (the room's labels in
	// key order). Objects whose category is not among them add a category at the end, in the
	// order the objects first name it; objects without a category use DefaultCategory.
	Categories []Category
	// Objects are exported in this order; COCO annotation ids count them from 1.
	Objects []Object
}

// Image is one image of a Dataset.
type Image struct {
	// ID identifies the image (the CDF file id); positive and unique in the Dataset.
	ID int64
	// FileName is the image's file name. YOLO label files take its name with the extension
	// replaced by .txt, so for WriteYOLO it must be a relative slash-separated path without
	// "." or ".." elements or backslashes, and unique once the extension is replaced.
	FileName string
	// Width and Height are the image's size in pixels; both must be positive.
	Width, Height int
}

// Category is one entry of the label set.
type Category struct {
	// ID is the COCO category id, unique in the Dataset. Zero means "assign one": categories
	// without an id (and appended ones) get the ids after the largest given one, in order.
	ID int
	// Name is the label; not empty and unique in the Dataset.
	Name string
}

// Object is one annotated thing on an image: the best segment of an approved object.
type Object struct {
	// ImageID is the Image.ID of the image the object is on.
	ImageID int64
	// Category is the object's label; "" means DefaultCategory.
	Category string
	// Score is the segment's confidence (CDF's segment score); it must be finite.
	Score float64
	// Polygons are the object's parts, each at least 3 vertices normalised to 0..1. Excursions
	// of at most 1e-9 outside 0..1 are clamped; anything further is an error. An object with
	// several parts is one COCO annotation with several polygons and one YOLO line per part.
	Polygons [][]Point
}

// Point is a polygon vertex normalised to 0..1 from the image's top-left corner.
type Point struct {
	X, Y float64
}

// Options tune a write; the zero value is ready to use.
type Options struct {
	// Progress, when set, is called with done = 0 before the first object is written and then
	// after every object, with total = len(Dataset.Objects); it is called on the writing
	// goroutine, so it should be cheap (throttle there before publishing anything).
	Progress func(done, total int)
}

func (o Options) progress(done, total int) {
	if o.Progress != nil {
		o.Progress(done, total)
	}
}

// clampSlack is how far a coordinate may stray outside 0..1 and still be clamped: float
// noise from scaling, not a real excursion.
const clampSlack = 1e-9

// plan is a validated Dataset: resolved categories and, per object, its image and category.
type plan struct {
	cats     []Category    // label set plus appended categories, all with ids
	imageIdx map[int64]int // Image.ID → index in Dataset.Images
	objImage []int         // per object: index in Dataset.Images
	objCat   []int         // per object: index in cats
}

// prepare validates d and resolves its categories.
func prepare(d Dataset) (*plan, error) {
	p := &plan{
		imageIdx: make(map[int64]int, len(d.Images)),
		objImage: make([]int, len(d.Objects)),
		objCat:   make([]int, len(d.Objects)),
	}
	for i, im := range d.Images {
		switch {
		case im.ID <= 0:
			return nil, fmt.Errorf("%w: image %q (number %d): id %d is not positive", ErrInvalid, im.FileName, i, im.ID)
		case im.FileName == "":
			return nil, fmt.Errorf("%w: image %d: no file name", ErrInvalid, im.ID)
		case !utf8.ValidString(im.FileName):
			return nil, fmt.Errorf("%w: image %d: file name %q is not valid UTF-8 text", ErrInvalid, im.ID, im.FileName)
		case im.Width <= 0 || im.Height <= 0:
			return nil, fmt.Errorf("%w: image %d (%q): no size (%dx%d)", ErrInvalid, im.ID, im.FileName, im.Width, im.Height)
		}
		if j, dup := p.imageIdx[im.ID]; dup {
			return nil, fmt.Errorf("%w: image id %d is given twice (%q and %q)", ErrInvalid, im.ID, d.Images[j].FileName, im.FileName)
		}
		p.imageIdx[im.ID] = i
	}

	catIdx := make(map[string]int, len(d.Categories)+1)
	usedID := make(map[int]string, len(d.Categories)+1)
	next := 1
	for _, c := range d.Categories {
		switch {
		case c.Name == "":
			return nil, fmt.Errorf("%w: a category has no name", ErrInvalid)
		case !oneLine(c.Name):
			return nil, fmt.Errorf("%w: category %q holds a control character (such as a line break); a label is one line of text", ErrInvalid, c.Name)
		case !utf8.ValidString(c.Name):
			return nil, fmt.Errorf("%w: category %q is not valid UTF-8 text", ErrInvalid, c.Name)
		case c.ID < 0:
			return nil, fmt.Errorf("%w: category %q: id %d is negative", ErrInvalid, c.Name, c.ID)
		}
		if _, dup := catIdx[c.Name]; dup {
			return nil, fmt.Errorf("%w: category %q is listed twice", ErrInvalid, c.Name)
		}
		if c.ID != 0 {
			if other, dup := usedID[c.ID]; dup {
				return nil, fmt.Errorf("%w: categories %q and %q have the same id %d", ErrInvalid, other, c.Name, c.ID)
			}
			usedID[c.ID] = c.Name
			next = max(next, c.ID+1)
		}
		catIdx[c.Name] = len(p.cats)
		p.cats = append(p.cats, c)
	}
	addCat := func(name string) int {
		catIdx[name] = len(p.cats)
		p.cats = append(p.cats, Category{Name: name})
		return len(p.cats) - 1
	}

	for i, o := range d.Objects {
		im, ok := p.imageIdx[o.ImageID]
		if !ok {
			return nil, fmt.Errorf("%w: object %d: image %d is not in the dataset", ErrInvalid, i, o.ImageID)
		}
		p.objImage[i] = im
		where := func() string { return fmt.Sprintf("object %d on image %d (%q)", i, o.ImageID, d.Images[im].FileName) }
		if math.IsNaN(o.Score) || math.IsInf(o.Score, 0) {
			return nil, fmt.Errorf("%w: %s: score %v is not a finite number", ErrInvalid, where(), o.Score)
		}
		if len(o.Polygons) == 0 {
			return nil, fmt.Errorf("%w: %s: no polygons", ErrInvalid, where())
		}
		for j, poly := range o.Polygons {
			if len(poly) < 3 {
				return nil, fmt.Errorf("%w: %s: polygon %d has %d vertices, at least 3 are needed", ErrInvalid, where(), j, len(poly))
			}
			for k, pt := range poly {
				if _, ok := clamp(pt.X); !ok {
					return nil, fmt.Errorf("%w: %s: polygon %d vertex %d: x = %v is outside 0..1", ErrInvalid, where(), j, k, pt.X)
				}
				if _, ok := clamp(pt.Y); !ok {
					return nil, fmt.Errorf("%w: %s: polygon %d vertex %d: y = %v is outside 0..1", ErrInvalid, where(), j, k, pt.Y)
				}
			}
		}
		name := o.Category
		if name == "" {
			name = DefaultCategory
		}
		if !oneLine(name) {
			return nil, fmt.Errorf("%w: %s: label %q holds a control character (such as a line break); a label is one line of text", ErrInvalid, where(), name)
		}
		// JSON writes invalid UTF-8 as U+FFFD, so two such labels would become one name.
		if !utf8.ValidString(name) {
			return nil, fmt.Errorf("%w: %s: label %q is not valid UTF-8 text", ErrInvalid, where(), name)
		}
		ci, ok := catIdx[name]
		if !ok {
			ci = addCat(name)
		}
		p.objCat[i] = ci
	}

	// Ids are assigned last so that appended categories follow the label set's ids.
	for i := range p.cats {
		if p.cats[i].ID == 0 {
			p.cats[i].ID = next
			next++
		}
	}
	return p, nil
}

// oneLine reports whether a category name is one line of text without control characters:
// the same rule for every format, although only YOLO's classes.txt would break on a line
// break, so that a dataset exports in all formats or in none.
func oneLine(name string) bool { return !strings.ContainsFunc(name, unicode.IsControl) }

// clamp returns v clamped to 0..1 and whether v was within clampSlack of that range.
func clamp(v float64) (float64, bool) {
	switch {
	case v >= 0 && v <= 1:
		return v, true
	case v < 0 && v >= -clampSlack:
		return 0, true
	case v > 1 && v <= 1+clampSlack:
		return 1, true
	}
	return 0, false // NaN lands here too
}

// roundTo rounds v to the given number of decimals: output precision is fixed so that the
// same input always gives the same bytes and float noise (119.99999999999999) disappears.
func roundTo(v float64, decimals int) float64 {
	s := math.Pow10(decimals)
	r := math.Round(v*s) / s
	if r == 0 {
		return 0 // no "-0"
	}
	return r
}
