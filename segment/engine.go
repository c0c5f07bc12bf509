package segment

import (
	"context"
	"fmt"
	"math"
	"runtime"
	"time"
)

// Defaults for Options' zero values.
const (
	defaultMaxPixels  = 40_000_000
	defaultBudget     = time.Second
	defaultCacheBytes = 256 << 20
	defaultWorkSize   = 320
	historyBytes      = 32 << 20
)

// Engine segments images. It is safe for concurrent use.
type Engine struct {
	opts  Options
	tune  tuning
	cache *imageCache
	hist  *historyCache
	turns chan struct{} // one token per prompt being segmented (Options.Parallel)
}

// New returns an Engine with the given options.
func New(opts Options) *Engine {
	if opts.MaxPixels <= 0 {
		opts.MaxPixels = defaultMaxPixels
	}
	if opts.Budget <= 0 {
		opts.Budget = defaultBudget
	}
	if opts.CacheBytes <= 0 {
		opts.CacheBytes = defaultCacheBytes
	}
	if opts.MaxVertices <= 0 || opts.MaxVertices > 1000 {
		opts.MaxVertices = 1000
	}
	if opts.MaxVertices < 3 {
		opts.MaxVertices = 3
	}
	if opts.WorkSize <= 0 {
		opts.WorkSize = defaultWorkSize
	}
	if opts.Parallel <= 0 {
		opts.Parallel = runtime.GOMAXPROCS(0)
	}
	return &Engine{opts: opts, tune: defaultTuning(), cache: newImageCache(opts.CacheBytes), hist: newHistoryCache(historyBytes),
		turns: make(chan struct{}, opts.Parallel)}
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
// A prompt whose points are all negative and that has no box asks for nothing and gets no
// segments. The time budget covers the whole request; when it runs out the best labelling
// found so far is returned.
func (e *Engine) Segment(ctx context.Context, src Source, p Prompt) ([]Segment, error) {
	ms, err := e.segmentMasks(ctx, src, p)
	if err != nil {
		return nil, err
	}
	out := make([]Segment, 0, len(ms))
	for _, m := range ms {
		polys := tracePolygons(m.m, e.opts.MaxVertices)
		if len(polys) == 0 {
			continue
		}
		out = append(out, Segment{Score: m.score, Polygons: polys, Features: m.feat[:]})
	}
	return out, nil
}

// scoredMask is a candidate before tracing.
type scoredMask struct {
	m     *mask
	lab   []uint8 // working resolution
	score float64
	feat  [nFeat]float64
}

func (e *Engine) segmentMasks(ctx context.Context, src Source, p Prompt) ([]scoredMask, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	select {
	case e.turns <- struct{}{}:
		defer func() { <-e.turns }()
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	start := time.Now()
	wi, err := e.cache.get(ctx, src.Key, func() (*workImage, error) {
		wi, err := loadWorkImageWithin(ctx, src, e.opts.MaxPixels, e.opts.MaxDecodeBytes, e.opts.WorkSize)
		if err == nil {
			wi.cost = computeStepCosts(wi, e.tune.geoAlpha)
			wi.d2 = [4][]float32{} // everything that needs it is derived now
		}
		return wi, err
	})
	if err != nil {
		return nil, err
	}
	if p.Box != nil {
		if wi, err = e.boxImage(ctx, src.Key, wi); err != nil {
			return nil, err
		}
	}
	deadline := start.Add(e.opts.Budget)
	var prev []uint8
	if p.Box == nil && len(p.Points) > 1 {
		var computed bool
		prev, computed = e.history(ctx, wi, src.Key, p.Points[:len(p.Points)-1])
		if computed {
			// Recomputing earlier answers must not cut this one short, or the answer would
			// depend on what is cached.
			deadline = time.Now().Add(e.opts.Budget)
		}
	}
	pr := newProblem(ctx, wi, p, prev, e.tune, deadline)
	if pr == nil {
		return nil, nil
	}
	cands := pr.solve()
	if p.Box == nil && len(cands) > 0 && !pr.expired() {
		e.hist.put(historyKey(src.Key, e.opts.WorkSize, p.Points), cands[0].lab)
	}
	out := make([]scoredMask, 0, len(cands))
	for i, c := range cands {
		// Only the best candidate gets the fine outline: it is the one shown first, and
		// refinement is the one step whose cost grows with the outline's length.
		var m *mask
		if i == 0 {
			m = pr.refine(c.lab)
		} else {
			m = upsampleMask(wi, c.lab)
		}
		out = append(out, scoredMask{m: m, lab: c.lab, score: c.score, feat: c.feat})
	}
	return out, nil
}

// toPixel maps a normalised coordinate to the working pixel that contains it.
func toPixel(v float64, n int) int {
	return min(max(int(math.Floor(v*float64(n))), 0), n-1)
}

// history returns the working-resolution answer to the click prompt pts (empty when it asks
// for nothing), from the history cache or recomputed exactly as Segment computes it, with the
// answers it depends on, and whether anything was recomputed. Each recomputed answer gets a
// time budget of its own; one cut short by it is not cached.
func (e *Engine) history(ctx context.Context, wi *workImage, key string, pts []Point) ([]uint8, bool) {
	// The longest cached prefix, then forward from it.
	j := len(pts)
	var lab []uint8
	for ; j > 0; j-- {
		if l, ok := e.hist.get(historyKey(key, e.opts.WorkSize, pts[:j])); ok {
			lab = l
			break
		}
	}
	for k := j + 1; k <= len(pts); k++ {
		var prev []uint8
		if k > 1 {
			prev = lab
		}
		lab = []uint8{}
		expired := false
		if pr := newProblem(ctx, wi, Prompt{Points: pts[:k]}, prev, e.tune, time.Now().Add(e.opts.Budget)); pr != nil {
			if cs := pr.solve(); len(cs) > 0 {
				lab = cs[0].lab
			}
			expired = pr.expired()
		}
		if ctx.Err() != nil {
			break
		}
		if !expired {
			e.hist.put(historyKey(key, e.opts.WorkSize, pts[:k]), lab)
		}
	}
	return lab, j < len(pts)
}
