package segment

import (
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"math"
	"testing"
	"time"
)

// FuzzSegment throws odd images and prompts at the engine: tiny and thin images, grey and flat
// ones, one-pixel boxes, points on the border and in corners, all-negative prompts. The engine
// must not panic, must refuse only invalid prompts, and must return well-formed polygons.
func FuzzSegment(f *testing.F) {
	f.Add(uint8(1), uint8(1), uint8(0), 0.0, 0.0, 1.0, 1.0, 0.5, 0.5, uint8(1), 0.0, 0.0, uint8(0))
	f.Add(uint8(64), uint8(3), uint8(1), 0.5, 0.0, 0.51, 1.0, 0.0, 0.0, uint8(1), 1.0, 1.0, uint8(1))
	f.Add(uint8(40), uint8(30), uint8(2), -1.0, 0.0, 0.0, 0.0, 1.0, 1.0, uint8(0), 0.0, 1.0, uint8(0))
	f.Add(uint8(50), uint8(50), uint8(3), 0.1, 0.1, 0.9, 0.9, 0.5, 0.5, uint8(0), 0.5, 0.52, uint8(1))
	f.Add(uint8(2), uint8(90), uint8(0), 0.0, 0.3, 1.0, 0.31, 0.99, 0.0, uint8(1), 0.0, 0.99, uint8(1))
	e := New(Options{Budget: 200 * time.Millisecond, MaxVertices: 12})
	f.Fuzz(func(t *testing.T, w, h, kind uint8, bx0, by0, bx1, by1, px, py float64, pl uint8, qx, qy float64, ql uint8) {
		W, H := int(w%96)+1, int(h%96)+1
		img := image.NewRGBA(image.Rect(0, 0, W, H))
		for y := range H {
			for x := range W {
				var c color.RGBA
				switch kind % 4 {
				case 0: // flat grey
					c = color.RGBA{128, 128, 128, 255}
				case 1: // grey ramp
					v := uint8((x + y) * 255 / (W + H))
					c = color.RGBA{v, v, v, 255}
				case 2: // a disc
					c = color.RGBA{30, 60, 90, 255}
					if dx, dy := float64(x-W/2), float64(y-H/2); dx*dx+dy*dy < float64(W*H)/8 {
						c = color.RGBA{220, 140, 40, 255}
					}
				default: // checkerboard
					if (x/3+y/3)%2 == 0 {
						c = color.RGBA{255, 255, 255, 255}
					}
					c.A = 255
				}
				img.SetRGBA(x, y, c)
			}
		}
		var p Prompt
		if !math.IsNaN(bx0) && bx0 >= -0.5 {
			p.Box = &Box{XMin: bx0, YMin: by0, XMax: bx1, YMax: by1}
		}
		p.Points = []Point{{X: px, Y: py, Label: int(pl % 3)}}
		if ql%2 == 1 {
			p.Points = append(p.Points, Point{X: qx, Y: qy, Label: 0})
		}
		segs, err := e.Segment(context.Background(), pngSource(t, fmt.Sprint(W, "x", H, "/", kind%4), img), p)
		if err != nil {
			if p.Validate() == nil || !errors.Is(err, ErrInvalidPrompt) {
				t.Fatalf("prompt %+v on %dx%d: %v", p, W, H, err)
			}
			return
		}
		if len(segs) > 3 {
			t.Fatalf("%d segments, at most 3", len(segs))
		}
		for _, s := range segs {
			if !(s.Score >= 0 && s.Score <= 1) {
				t.Fatalf("score %v", s.Score)
			}
			for _, r := range s.Polygons {
				if len(r) < 3 || len(r) > 12 {
					t.Fatalf("ring with %d vertices", len(r))
				}
				for _, v := range r {
					if !(v.X >= 0 && v.X <= 1 && v.Y >= 0 && v.Y <= 1) {
						t.Fatalf("vertex %v outside 0..1", v)
					}
				}
			}
		}
	})
}
