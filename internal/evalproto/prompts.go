package evalproto

import (
	"errors"
	"math/rand/v2"
)

// JitterRange is the range of the outward move, as a share of the box's size, of each side of the
// jittered box (shared/eval/README.md): a negative draw moves the side inward.
var JitterRange = [2]float64{-0.02, 0.08}

// MakeImage describes one image of a set from its ground truth the way the dev sets are made: the
// object's bounding box on pixel edges, padded by 0, 5 and 15 % of its size a side and clipped to
// the image, a box whose sides move outward by U(JitterRange) of its size (drawn from rng in the
// order left, top, right, bottom), and the robot's first click. It fails on an empty mask.
func MakeImage(name, imagePath, maskPath, tier string, gt Mask, rng *rand.Rand) (Image, error) {
	w, h := gt.W, gt.H
	x0, y0, x1, y1 := w, h, 0, 0
	n := 0
	for i, v := range gt.Pix {
		if v {
			x, y := i%w, i/w
			x0, y0, x1, y1 = min(x0, x), min(y0, y), max(x1, x+1), max(y1, y+1)
			n++
		}
	}
	if n == 0 {
		return Image{}, errors.New("evalproto: empty mask")
	}
	bw, bh := float64(x1-x0), float64(y1-y0)
	clip := func(v float64) float64 { return min(max(v, 0), 1) }
	pad := func(l, t, r, b float64) Box {
		return Box{
			XMin: clip((float64(x0) - l*bw) / float64(w)), YMin: clip((float64(y0) - t*bh) / float64(h)),
			XMax: clip((float64(x1) + r*bw) / float64(w)), YMax: clip((float64(y1) + b*bh) / float64(h)),
		}
	}
	draw := func() float64 { return JitterRange[0] + (JitterRange[1]-JitterRange[0])*rng.Float64() }
	l, t, r, b := draw(), draw(), draw(), draw()
	im := Image{
		Name: name, Image: imagePath, Mask: maskPath, Width: w, Height: h, Tier: tier,
		ObjectFraction: float64(n) / float64(w*h),
		Boxes: map[string]Box{
			"pad0": pad(0, 0, 0, 0), "pad5": pad(0.05, 0.05, 0.05, 0.05),
			"pad15": pad(0.15, 0.15, 0.15, 0.15), "jitter": pad(l, t, r, b),
		},
	}
	c, _ := NewRobot(gt).Next(nil)
	im.FirstClick = Point{X: c.Point.X, Y: c.Point.Y, Label: c.Label}
	return im, nil
}
