package evalproto

import "github.com/lassoteam/lasso/segment"

// Click is one robot click: the pixel, its label and the normalised point sent to the engine.
type Click struct {
	Row, Col int
	Label    int
	Point    segment.Point
}

// Robot is the protocol's deterministic click robot for one ground truth.
type Robot struct {
	gt      Mask
	clicked []bool
	clicks  []Click
}

// NewRobot returns a robot with no clicks yet for the ground truth gt.
func NewRobot(gt Mask) *Robot {
	return &Robot{gt: gt, clicked: make([]bool, len(gt.Pix))}
}

// Clicks returns the clicks so far, in order.
func (r *Robot) Clicks() []Click { return r.clicks }

// Points returns the clicks so far as a click-only prompt's points.
func (r *Robot) Points() []segment.Point {
	pts := make([]segment.Point, len(r.clicks))
	for i, c := range r.clicks {
		pts[i] = c.Point
	}
	return pts
}

// Next looks at the prediction pred (same size as the ground truth; nil means empty) and returns
// the next click, recording it, or ok == false when prediction and ground truth agree.
//
// The click goes to the pixel deepest inside the larger error region (distance to the nearest
// pixel outside the region, the image border counting as outside); a missed-object region wins
// only when strictly deeper than the spill region; pixels already clicked count as depth 0; ties
// go to the first pixel in row-major order.
func (r *Robot) Next(pred []bool) (c Click, ok bool) {
	w, h := r.gt.W, r.gt.H
	fn := make([]bool, w*h)
	fp := make([]bool, w*h)
	for i, g := range r.gt.Pix {
		p := pred != nil && pred[i]
		fn[i] = g && !p
		fp[i] = p && !g
	}
	iFN, dFN := r.deepest(SquaredEDT(fn, w, h))
	iFP, dFP := r.deepest(SquaredEDT(fp, w, h))
	var i, label int
	switch {
	case dFN > dFP:
		i, label = iFN, 1
	case dFP > 0:
		i, label = iFP, 0
	default:
		return Click{}, false
	}
	col, row := i%w, i/w
	c = Click{Row: row, Col: col, Label: label, Point: segment.Point{
		X: (float64(col) + 0.5) / float64(w), Y: (float64(row) + 0.5) / float64(h), Label: label}}
	r.clicked[i] = true
	r.clicks = append(r.clicks, c)
	return c, true
}

// deepest returns the first index, in row-major order, of the largest distance among the pixels
// not yet clicked, and that distance (0 when there is none).
func (r *Robot) deepest(d []float64) (int, float64) {
	best, bestD := -1, 0.0
	for i, v := range d {
		if v > bestD && !r.clicked[i] {
			best, bestD = i, v
		}
	}
	return best, bestD
}
