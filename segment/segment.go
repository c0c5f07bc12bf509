// Package segment is Lasso's pure-Go interactive segmentation engine: an image and a prompt
// (positive and negative points, an optional box) become candidate masks, each traced into
// polygons normalised to 0..1.
package segment

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"
)

// Point is a prompt point normalised to 0..1 from the image's top-left corner.
// Label 1 marks the object, 0 the background.
type Point struct {
	X, Y  float64
	Label int
}

// Box is a normalised box prompt with XMin < XMax and YMin < YMax.
type Box struct {
	XMin, YMin, XMax, YMax float64
}

// Prompt is everything the user said about one object.
type Prompt struct {
	Points []Point
	Box    *Box
}

// Vertex is a polygon vertex normalised to 0..1 (pixel-edge coordinates divided by the
// image's width and height).
type Vertex struct{ X, Y float64 }

// Polygon is a closed ring of 3..MaxVertices vertices.
type Polygon []Vertex

// Segment is one candidate mask: a score in 0..1 (higher means a better expected IoU)
// and one polygon per connected part.
type Segment struct {
	Score    float64
	Polygons []Polygon
	// Features are what Score was estimated from (edge contrast along the outline, colour
	// separation, agreement with the other candidates, shape, ...), for fitting the score on
	// an evaluation set; not for display, and their meaning may change with the engine.
	Features []float64
}

// Source is an image the engine can open. Key identifies the image content: two sources with
// the same Key must yield the same pixels, so everything derived from them is cached by Key.
type Source struct {
	Key  string
	Open func(ctx context.Context) (io.ReadCloser, error)
}

// Errors callers branch on.
var (
	ErrInvalidPrompt = errors.New("segment: invalid prompt")
	ErrTooLarge      = errors.New("segment: image too large") // over the pixel limit or the decode budget
	ErrUnsupported   = errors.New("segment: unsupported image format")
	// ErrDamaged means the image data ends too early or is corrupt (a truncated upload, say);
	// it wraps ErrUnsupported too, as such a file cannot be read.
	ErrDamaged = fmt.Errorf("%w: the image data is damaged or ends too early", ErrUnsupported)
)

// Options configure an Engine. Zero values take the defaults.
type Options struct {
	MaxPixels   int64         // images with more pixels are refused before decoding (default 40 MP)
	Budget      time.Duration // time budget per request (default 1 s)
	CacheBytes  int64         // bound of the per-image cache (default 256 MiB)
	MaxVertices int           // vertices per polygon at most (default and maximum 1000)
	WorkSize    int           // long side in pixels of the working copy segmented (default 320)
	// Parallel is how many prompts are segmented at once (default GOMAXPROCS); more wait
	// their turn, and a prompt's time budget starts with its turn. Running more than the
	// CPUs can serve only shares them out: each prompt's budget runs out with less done,
	// and the working memory of all is held at the same time.
	Parallel int

	// MaxDecodeBytes refuses, before decoding, images whose decoding takes more bytes (see
	// MeasureImage): pixels alone do not bound memory, a 16-bit PNG takes 8 bytes a pixel.
	// Default DecodeBudget(MaxPixels), 4 bytes a pixel.
	MaxDecodeBytes int64
}

// MaxPoints is the largest number of points a prompt may carry.
const MaxPoints = 100

// mask is a binary image: pix[y*w+x] != 0 marks the object.
type mask struct {
	w, h int
	pix  []uint8
}
