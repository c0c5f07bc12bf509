// Package evalproto implements Lasso's segmentation evaluation protocol
// (shared/eval/README.md, format lasso-segment-eval/1): the data set, the deterministic click
// robot with its exact Euclidean distance transform, the even-odd pixel-centre rasteriser used for
// scoring, and the metrics (box IoU, IoU after k clicks, NoC, latency percentiles).
package evalproto

import (
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	_ "image/png" // masks are PNG
	"os"
	"path/filepath"

	"github.com/lassoteam/lasso/segment"
)

// Format is the prompts.json format this package reads.
const Format = "lasso-segment-eval/1"

// BoxKeys are the box prompts of every image, in the order they are run.
var BoxKeys = []string{"pad0", "pad5", "pad15", "jitter"}

// Set is a parsed prompts.json.
type Set struct {
	Format string  `json:"format"`
	Name   string  `json:"set"`
	Images []Image `json:"images"`
	Dir    string  `json:"-"` // the folder prompts.json was read from
}

// Box is a normalised box in the CDF boundingBox shape.
type Box struct {
	XMin float64 `json:"xMin"`
	YMin float64 `json:"yMin"`
	XMax float64 `json:"xMax"`
	YMax float64 `json:"yMax"`
}

// Point is a normalised click in the CDF point shape.
type Point struct {
	X     float64 `json:"x"`
	Y     float64 `json:"y"`
	Label int     `json:"label"`
}

// Image is one entry of prompts.json.
type Image struct {
	Name           string         `json:"name"`
	Image          string         `json:"image"`
	Mask           string         `json:"mask"`
	Width          int            `json:"width"`
	Height         int            `json:"height"`
	Tier           string         `json:"tier"`
	Description    string         `json:"description"`
	ObjectFraction float64        `json:"objectFraction"`
	Boxes          map[string]Box `json:"boxes"`
	FirstClick     Point          `json:"firstClick"`
}

// LoadSet reads dir/prompts.json and checks its format and that every image has the four boxes.
func LoadSet(dir string) (*Set, error) {
	b, err := os.ReadFile(filepath.Join(dir, "prompts.json"))
	if err != nil {
		return nil, fmt.Errorf("evalproto: %w", err)
	}
	var s Set
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("evalproto: prompts.json: %w", err)
	}
	if s.Format != Format {
		return nil, fmt.Errorf("evalproto: prompts.json has format %q, want %q", s.Format, Format)
	}
	for _, im := range s.Images {
		for _, k := range BoxKeys {
			if _, ok := im.Boxes[k]; !ok {
				return nil, fmt.Errorf("evalproto: %s has no %s box", im.Name, k)
			}
		}
		if im.Width <= 0 || im.Height <= 0 {
			return nil, fmt.Errorf("evalproto: %s has size %dx%d", im.Name, im.Width, im.Height)
		}
	}
	s.Dir = dir
	return &s, nil
}

// Mask is a binary image, Pix[y*W+x] true on the object.
type Mask struct {
	W, H int
	Pix  []bool
}

// NewMask returns an empty w×h mask.
func NewMask(w, h int) Mask { return Mask{W: w, H: h, Pix: make([]bool, w*h)} }

// Count is the number of object pixels.
func (m Mask) Count() int {
	n := 0
	for _, v := range m.Pix {
		if v {
			n++
		}
	}
	return n
}

// ReadMask decodes a ground-truth mask image: a pixel is object when its grey value is above 127.
func ReadMask(path string) (Mask, error) {
	f, err := os.Open(path)
	if err != nil {
		return Mask{}, fmt.Errorf("evalproto: %w", err)
	}
	defer f.Close()
	img, _, err := image.Decode(f)
	if err != nil {
		return Mask{}, fmt.Errorf("evalproto: decode %s: %w", path, err)
	}
	r := img.Bounds()
	m := NewMask(r.Dx(), r.Dy())
	for y := range m.H {
		for x := range m.W {
			g := color.GrayModel.Convert(img.At(r.Min.X+x, r.Min.Y+y)).(color.Gray)
			m.Pix[y*m.W+x] = g.Y > 127
		}
	}
	return m, nil
}

// Prompt converts a box to the engine's prompt type.
func (b Box) Prompt() segment.Prompt {
	return segment.Prompt{Box: &segment.Box{XMin: b.XMin, YMin: b.YMin, XMax: b.XMax, YMax: b.YMax}}
}
