package segment

import (
	"context"
	"fmt"
)

// Engine segments images. It is safe for concurrent use.
type Engine struct {
	opts Options
}

// New returns an Engine with the given options.
func New(opts Options) *Engine {
	return &Engine{opts: opts}
}

// Validate checks a prompt: 1..MaxPoints points or a box (or both), coordinates in 0..1,
// labels 0 or 1, a box with min < max. Errors wrap ErrInvalidPrompt.
func (p Prompt) Validate() error {
	if len(p.Points) == 0 && p.Box == nil {
		return fmt.Errorf("%w: give at least one point or a box", ErrInvalidPrompt)
	}
	if len(p.Points) > MaxPoints {
		return fmt.Errorf("%w: %d points, at most %d", ErrInvalidPrompt, len(p.Points), MaxPoints)
	}
	for i, pt := range p.Points {
		if !(pt.X >= 0 && pt.X <= 1 && pt.Y >= 0 && pt.Y <= 1) {
			return fmt.Errorf("%w: point %d lies outside 0..1", ErrInvalidPrompt, i)
		}
		if pt.Label != 0 && pt.Label != 1 {
			return fmt.Errorf("%w: point %d has label %d, want 0 or 1", ErrInvalidPrompt, i, pt.Label)
		}
	}
	if b := p.Box; b != nil {
		for _, v := range []float64{b.XMin, b.YMin, b.XMax, b.YMax} {
			if !(v >= 0 && v <= 1) {
				return fmt.Errorf("%w: box lies outside 0..1", ErrInvalidPrompt)
			}
		}
		if !(b.XMin < b.XMax && b.YMin < b.YMax) {
			return fmt.Errorf("%w: box needs xMin < xMax and yMin < yMax", ErrInvalidPrompt)
		}
	}
	return nil
}

// Segment answers a prompt on an image with up to three candidate segments, best first.
//
// PLACEHOLDER until the real engine lands: returns the box, or a small square around the
// positive points.
func (e *Engine) Segment(ctx context.Context, src Source, p Prompt) ([]Segment, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	b := Box{XMin: 1, YMin: 1}
	if p.Box != nil {
		b = *p.Box
	} else {
		for _, pt := range p.Points {
			if pt.Label == 1 {
				b.XMin, b.YMin = min(b.XMin, pt.X-0.05), min(b.YMin, pt.Y-0.05)
				b.XMax, b.YMax = max(b.XMax, pt.X+0.05), max(b.YMax, pt.Y+0.05)
			}
		}
		if b.XMin >= b.XMax {
			return nil, nil
		}
	}
	ring := Polygon{{b.XMin, b.YMin}, {b.XMax, b.YMin}, {b.XMax, b.YMax}, {b.XMin, b.YMax}}
	return []Segment{{Score: 0.5, Polygons: []Polygon{ring}}}, nil
}
