package evalproto

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/lassoteam/lasso/segment"
)

// SegmentFunc answers one prompt on the image being evaluated.
type SegmentFunc func(ctx context.Context, p segment.Prompt) ([]segment.Segment, error)

// Request is the outcome of one prompt.
type Request struct {
	Kind      string  `json:"kind"` // "box" or "click"
	Prompt    string  `json:"prompt"`
	IoU       float64 `json:"iou"`
	Score     Num     `json:"score"` // of the best segment; NaN (null) when failed or empty
	Ms        float64 `json:"ms"`
	Cold      bool    `json:"cold,omitempty"` // first prompt on the image
	Failed    bool    `json:"failed,omitempty"`
	Err       string  `json:"error,omitempty"`
	Segments  int     `json:"segments"`
	Polygons  int     `json:"polygons"`
	Vertices  int     `json:"maxVertices"`         // largest polygon
	Violation string  `json:"violation,omitempty"` // a broken promise of the segment API
	// Features of the best segment (segment.Segment.Features), to fit the score on.
	Features []float64 `json:"features,omitempty"`
}

// ImageResult is everything measured on one image.
type ImageResult struct {
	Name  string             `json:"name"`
	Tier  string             `json:"tier"`
	W     int                `json:"width"`
	H     int                `json:"height"`
	Box   map[string]Request `json:"box"`
	Click []Request          `json:"clicks,omitempty"`
	// Curve is the IoU after 1..cap clicks; after the robot stops (no error left) it is 1.
	Curve []float64 `json:"curve,omitempty"`
	// Deterministic reports whether repeating the pad5 box prompt gave the same polygons.
	Deterministic *bool `json:"deterministic,omitempty"`
}

// Requests lists the image's requests in the order they were run.
func (r ImageResult) Requests() []Request {
	var out []Request
	for _, k := range BoxKeys {
		if q, ok := r.Box[k]; ok {
			out = append(out, q)
		}
	}
	return append(out, r.Click...)
}

// RunImage runs the protocol on one image: the four box prompts, then the click robot up to
// clicks clicks (click only), then the pad5 box again as a determinism check (not timed into the
// metrics). The first request is the cold one.
func RunImage(ctx context.Context, im Image, gt Mask, seg SegmentFunc, clicks int) (ImageResult, error) {
	res := ImageResult{Name: im.Name, Tier: im.Tier, W: gt.W, H: gt.H, Box: map[string]Request{}}
	cold := true
	ask := func(kind, name string, p segment.Prompt) (Request, Mask, []segment.Segment) {
		q, pred, segs := Ask(ctx, seg, p, gt)
		q.Kind, q.Prompt, q.Cold = kind, name, cold
		cold = false
		return q, pred, segs
	}
	for _, k := range BoxKeys {
		q, _, _ := ask("box", k, im.Boxes[k].Prompt())
		res.Box[k] = q
		if err := ctx.Err(); err != nil {
			return res, err
		}
	}
	robot := NewRobot(gt)
	var pred []bool
	for n := 1; n <= clicks; n++ {
		if _, ok := robot.Next(pred); !ok {
			for len(res.Curve) < clicks {
				res.Curve = append(res.Curve, 1)
			}
			break
		}
		q, m, _ := ask("click", fmt.Sprintf("click%d", n), segment.Prompt{Points: robot.Points()})
		res.Click = append(res.Click, q)
		res.Curve = append(res.Curve, q.IoU)
		pred = m.Pix
		if err := ctx.Err(); err != nil {
			return res, err
		}
	}
	_, _, a := Ask(ctx, seg, im.Boxes["pad5"].Prompt(), gt)
	_, _, b := Ask(ctx, seg, im.Boxes["pad5"].Prompt(), gt)
	same := fmt.Sprint(a) == fmt.Sprint(b) && len(a) > 0
	res.Deterministic = &same
	return res, ctx.Err()
}

// Ask sends one prompt, times it, checks the answer against the API's promises and scores the
// best-scoring segment against gt. A failed request scores as an empty prediction.
func Ask(ctx context.Context, seg SegmentFunc, p segment.Prompt, gt Mask) (Request, Mask, []segment.Segment) {
	t := time.Now()
	segs, err := seg(ctx, p)
	q := Request{Ms: float64(time.Since(t).Microseconds()) / 1000, Score: Num(math.NaN()), Segments: len(segs)}
	pred := NewMask(gt.W, gt.H)
	if err != nil {
		q.Failed, q.Err = true, err.Error()
		q.IoU = IoU(pred, gt)
		return q, pred, nil
	}
	q.Violation = checkSegments(segs)
	if best := bestSegment(segs); best >= 0 {
		s := segs[best]
		q.Score, q.Polygons, q.Features = Num(s.Score), len(s.Polygons), s.Features
		for _, poly := range s.Polygons {
			q.Vertices = max(q.Vertices, len(poly))
		}
		pred = Rasterize(s.Polygons, gt.W, gt.H)
	}
	q.IoU = IoU(pred, gt)
	return q, pred, segs
}

func bestSegment(segs []segment.Segment) int {
	best := -1
	for i, s := range segs {
		if best < 0 || s.Score > segs[best].Score {
			best = i
		}
	}
	return best
}

// checkSegments reports the first broken promise of the segment API in an answer, or "".
func checkSegments(segs []segment.Segment) string {
	if len(segs) > 3 {
		return fmt.Sprintf("%d segments, at most 3", len(segs))
	}
	for i, s := range segs {
		if !(s.Score >= 0 && s.Score <= 1) {
			return fmt.Sprintf("segment %d: score %v outside 0..1", i, s.Score)
		}
		if i > 0 && s.Score > segs[i-1].Score {
			return fmt.Sprintf("segment %d scores above segment %d: not best first", i, i-1)
		}
		for j, p := range s.Polygons {
			if len(p) < 3 || len(p) > 1000 {
				return fmt.Sprintf("segment %d polygon %d: %d vertices, want 3..1000", i, j, len(p))
			}
			for _, v := range p {
				if !(v.X >= 0 && v.X <= 1 && v.Y >= 0 && v.Y <= 1) {
					return fmt.Sprintf("segment %d polygon %d: vertex %v outside 0..1", i, j, v)
				}
			}
		}
	}
	return ""
}
