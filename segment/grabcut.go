package segment

import (
	"context"
	"math"
	"slices"
	"time"
)

// GrabCut energy constants. γ and the 8-neighbourhood with γ/√2 on diagonals follow the GrabCut
// paper and OpenCV, so results stay comparable with the baseline.
const (
	gcGamma = 50.0
	// hardCap stands for an infinite capacity. Far above any cut through soft terms (a few
	// thousand at most) yet small enough for float32 to keep integer precision around it.
	hardCap = 1e7
	// maxSamples bounds the pixels a colour model is fitted on per class; a strided subset is
	// as good for five Gaussians and keeps iterations cheap on big regions.
	maxSamples = 24000
)

// tuning holds the engine's free parameters in one place, so measurements can vary them.
type tuning struct {
	iterations    int     // GrabCut iterations at most
	seedRadius    float64 // click disc radius as a share of the working long side
	geoAlpha      float64 // contrast weight of the geodesic step cost
	borderDist    float32 // head start of the image border as background evidence
	negDist       float32 // head start of negative clicks as background evidence
	changeStop    float64 // stop when fewer than this share of free pixels change label
	starOn        bool    // geodesic star-convexity in click mode; off: measured worse on NoC than keepParts alone
	priorWeight   float64 // click mode: weight of the relative geodesic prior
	gammaMul      float64 // multiplies γ
	rasterPasses  int     // geodesic by this many raster round trips (0: exact Dijkstra)
	bandRadius    int     // refinement band half-width in fine pixels (0: no refinement)
	roiMargin     float64 // click mode: the graph covers the start's bounding box grown by this share (0: whole image)
	bgBand        float64 // box mode: background samples from a band this many box sizes wide (0: all)
	boxPrior      float64 // box mode: weight of a geodesic prior from the box centre against the box outline
	prevWeight    float64 // click mode: weight holding the previous answer in place far from the new click (0: off)
	prevRadius    float64 // click mode: least geodesic reach of the new click, as a share of the working long side
	prevDepthPos  float64 // click mode: a positive click reaches at least this many times its distance to the previous answer
	prevDepthNeg  float64 // click mode: the same for a negative click
	clickShare    float64 // click mode: share of a class's colour samples each click of that class makes up at least
	clickShareMax float64 // click mode: at most this share for all clicks of a class together
	boxWorkSize   int     // box prompts: long side of their working copy when above the click copy's (0 or less: the click copy)
}

func defaultTuning() tuning {
	return tuning{
		iterations:    5,
		seedRadius:    0.012,
		geoAlpha:      20,
		borderDist:    0,
		negDist:       0,
		changeStop:    0.001,
		starOn:        false,
		priorWeight:   3,
		gammaMul:      0.5,
		rasterPasses:  2,
		bandRadius:    9,
		roiMargin:     0.5,
		bgBand:        0,
		boxPrior:      1.5,
		prevWeight:    3,
		prevRadius:    0.1,
		prevDepthPos:  5,
		prevDepthNeg:  3,
		clickShare:    0.2,
		clickShareMax: 0.5,
		boxWorkSize:   448,
	}
}

// problem is one prompt on one working image.
type problem struct {
	wi   *workImage
	tune tuning
	w, h int
	// ROI, in working pixels, of the nodes in the graph; everything outside is hard background.
	x0, y0, x1, y1 int
	hard           []int8 // +1 hard foreground, −1 hard background, 0 free; per working pixel
	fgSeeds        []int32
	bgSeeds        []int32 // negative click discs
	clickOnly      bool
	star           []int32   // geodesic parent per pixel (click mode), −1 for none
	geoFG          []float32 // geodesic distance from the positive seeds (click mode)
	geoBG          []float32 // geodesic distance from the background evidence (click mode)

	deadline time.Time
	ctx      context.Context

	// graph topology for the ROI, built once
	g      *flowGraph
	base   []float32 // pairwise capacities per arc
	edgeBG []float32 // pairwise weight to hard-background pixels outside the ROI, per node
	// terminal capacities of the last cut, to update the residual graph incrementally
	capS, capT []float32
	band       []bool  // where background colours are learnt from, nil for everywhere
	priorW     float64 // weight of the geodesic prior for this prompt
	nPoints    int     // points in the prompt
	// the colour models of the last iteration, for refinement
	fgM, bgM gmm
	// click mode: the answer to the prompt without its last click (nil when none), the pixels
	// of the last click's disc, and per pixel the cost of leaving the previous answer
	prev      []uint8
	lastSeeds []int32
	lastClick int32
	lastDist  float64 // distance of the last click to the previous answer's matching label, −1 for none
	prevW     []float32
	// per point of the prompt, its label and the pixels of its disc
	discs   [][]int32
	discLab []uint8
}

// candidate is one labelling of the working image with what is needed to score it.
type candidate struct {
	lab    []uint8
	energy float64
	iter   int // GrabCut iteration, −1 for the initialisation
	score  float64
	feat   [nFeat]float64
}

func (pr *problem) expired() bool {
	return time.Now().After(pr.deadline) || pr.ctx.Err() != nil
}

// weight is the pairwise term between pixel p and its neighbour in forward direction k.
func (pr *problem) weight(p int, k int) float32 {
	return float32(gcGamma*pr.tune.gammaMul) * pr.wi.nw[k][p]
}

// buildGraph lays out the ROI as a grid graph with eight arc slots per node; slot k < 4 goes
// to the forward neighbour dirs[k], slot k+4 to its reverse. Missing neighbours are self-arcs
// without capacity, which the max-flow never follows: fixed slots make sister arcs arithmetic.
func (pr *problem) buildGraph() {
	rw, rh := pr.x1-pr.x0, pr.y1-pr.y0
	n := rw * rh
	g := newFlowGraph(n, 8*n)
	pr.base = make([]float32, 8*n)
	pr.edgeBG = make([]float32, n)
	for i := range n + 1 {
		g.first[i] = int32(8 * i)
	}
	for ry := range rh {
		for rx := range rw {
			i := ry*rw + rx
			x, y := rx+pr.x0, ry+pr.y0
			p := y*pr.w + x
			for k := range 8 {
				a := 8*i + k
				var dx, dy int
				if k < 4 {
					dx, dy = dirs[k][0], dirs[k][1]
				} else {
					dx, dy = -dirs[k-4][0], -dirs[k-4][1]
				}
				nx, ny := x+dx, y+dy
				g.head[a], g.sister[a] = int32(i), int32(a)
				if nx < 0 || ny < 0 || nx >= pr.w || ny >= pr.h {
					continue
				}
				var wgt float32
				if k < 4 {
					wgt = pr.weight(p, k)
				} else {
					wgt = pr.weight(ny*pr.w+nx, k-4)
				}
				if nx < pr.x0 || ny < pr.y0 || nx >= pr.x1 || ny >= pr.y1 {
					pr.edgeBG[i] += wgt // the neighbour is hard background
					continue
				}
				j := (ny-pr.y0)*rw + (nx - pr.x0)
				g.head[a] = int32(j)
				g.sister[a] = int32(8*j + (k+4)%8)
				pr.base[a] = wgt
			}
		}
	}
	pr.g = g
}

// dirSlot gives the arc slot from p to an adjacent pixel q.
func dirSlot(w int, p, q int32) int {
	dx := int(q%int32(w)) - int(p%int32(w))
	dy := int(q/int32(w)) - int(p/int32(w))
	for k := range 4 {
		if dirs[k][0] == dx && dirs[k][1] == dy {
			return k
		}
		if -dirs[k][0] == dx && -dirs[k][1] == dy {
			return k + 4
		}
	}
	return -1
}

// samples collects, with a stride that bounds their number, the pixels labelled v.
func samples(lab []uint8, v uint8, dst []int32) []int32 {
	cnt := 0
	for _, l := range lab {
		if l == v {
			cnt++
		}
	}
	stride := max(1, (cnt+maxSamples-1)/maxSamples)
	dst = dst[:0]
	k := 0
	for i, l := range lab {
		if l == v {
			if k%stride == 0 {
				dst = append(dst, int32(i))
			}
			k++
		}
	}
	return dst
}

// samplesIn collects background pixels inside a band, strided to bound their number.
func samplesIn(lab []uint8, band []bool, dst []int32) []int32 {
	cnt := 0
	for i, l := range lab {
		if l == 0 && band[i] {
			cnt++
		}
	}
	stride := max(1, (cnt+maxSamples-1)/maxSamples)
	dst = dst[:0]
	k := 0
	for i, l := range lab {
		if l == 0 && band[i] {
			if k%stride == 0 {
				dst = append(dst, int32(i))
			}
			k++
		}
	}
	return dst
}

// run iterates GrabCut from the initial labelling lab (1 = foreground) and returns the
// labellings it went through, the last being the best energy-wise. It stops early when the
// labelling settles, and at the deadline.
func (pr *problem) run(lab []uint8) []candidate {
	if pr.g == nil {
		pr.buildGraph()
	}
	wi := pr.wi
	rw := pr.x1 - pr.x0
	n := pr.g.n
	var fgIdx, bgIdx []int32
	fgComp := make([]uint8, 0, maxSamples)
	bgComp := make([]uint8, 0, maxSamples)
	var fgM, bgM gmm
	var ufg, ubg []float32 // unaries per colour bin
	var out []candidate
	free := 0
	for _, hv := range pr.hard {
		if hv == 0 {
			free++
		}
	}
	for it := 0; it < pr.tune.iterations; it++ {
		fgIdx = samples(lab, 1, fgIdx)
		bgIdx = samples(lab, 0, bgIdx)
		if pr.band != nil {
			bgIdx = samplesIn(lab, pr.band, bgIdx)
		}
		if pr.tune.clickShare > 0 && pr.clickOnly {
			fgIdx = pr.boostClicks(fgIdx, 1)
			bgIdx = pr.boostClicks(bgIdx, 0)
		}
		fgComp = slices.Grow(fgComp[:0], len(fgIdx))[:len(fgIdx)]
		bgComp = slices.Grow(bgComp[:0], len(bgIdx))[:len(bgIdx)]
		if it == 0 {
			splitInit(wi.rgb, fgIdx, fgComp, gmmK)
			splitInit(wi.rgb, bgIdx, bgComp, gmmK)
		} else {
			fgM.assign(wi.rgb, fgIdx, fgComp)
			bgM.assign(wi.rgb, bgIdx, bgComp)
		}
		fgM = fitGMM(wi.rgb, fgIdx, fgComp, gmmK)
		bgM = fitGMM(wi.rgb, bgIdx, bgComp, gmmK)
		pr.fgM, pr.bgM = fgM, bgM

		nb := len(wi.binRGB) / 3
		if cap(ufg) < nb {
			ufg, ubg = make([]float32, nb), make([]float32, nb)
		}
		for j := range nb {
			r, gg, b := float64(wi.binRGB[3*j]), float64(wi.binRGB[3*j+1]), float64(wi.binRGB[3*j+2])
			ufg[j] = float32(fgM.nll(r, gg, b))
			ubg[j] = float32(bgM.nll(r, gg, b))
		}
		g := pr.g
		if it == 0 {
			// Fresh residual graph. Later iterations change only terminal capacities, so they
			// keep the flow already pushed through the n-links and just re-balance the
			// terminals (Kohli and Torr's dynamic graph cuts): most of the work is done once.
			copy(g.rcap, pr.base)
			clear(g.tr)
			if pr.star != nil {
				for i := range n {
					x, y := i%rw+pr.x0, i/rw+pr.y0
					p := int32(y*pr.w + x)
					if q := pr.star[p]; q >= 0 {
						g.rcap[8*i+dirSlot(pr.w, p, q)] += hardCap
					}
				}
			}
			if cap(pr.capS) < n {
				pr.capS = make([]float32, n)
				pr.capT = make([]float32, n)
			}
			pr.capS, pr.capT = pr.capS[:n], pr.capT[:n]
			clear(pr.capS)
			clear(pr.capT)
		}
		for i := range n {
			x, y := i%rw+pr.x0, i/rw+pr.y0
			p := y*pr.w + x
			var cs, ct float32
			switch pr.hard[p] {
			case 1:
				cs, ct = hardCap, pr.edgeBG[i]
			case -1:
				cs, ct = 0, hardCap
			default:
				bn := wi.bin[p]
				dfg, dbg := float64(ufg[bn]), float64(ubg[bn])
				pf, pb := pr.prior(p)
				dfg += pf
				dbg += pb
				// Only the difference matters; keeping the smaller at 0 keeps numbers small.
				d := float32(dbg - dfg)
				cs, ct = max(d, 0), max(-d, 0)+pr.edgeBG[i]
			}
			g.tr[i] += (cs - pr.capS[i]) - (ct - pr.capT[i])
			pr.capS[i], pr.capT[i] = cs, ct
		}
		g.stop = pr.expired
		if !g.maxflow() {
			break
		}
		next := make([]uint8, len(lab))
		changed := 0
		for i := range n {
			x, y := i%rw+pr.x0, i/rw+pr.y0
			p := y*pr.w + x
			if g.inSource(i) {
				next[p] = 1
			}
			if next[p] != lab[p] {
				changed++
			}
		}
		out = append(out, candidate{lab: next, energy: g.flow, iter: it})
		lab = next
		if float64(changed) <= pr.tune.changeStop*float64(max(free, 1)) || pr.expired() {
			break
		}
	}
	return out
}

// prior is the geodesic evidence at working pixel p as extra costs of labelling it object and
// background. Relative: where the clicks say object, background costs more, and the other way
// round; a big object far from its click is not penalised for being big.
func (pr *problem) prior(p int) (fg, bg float64) {
	if pr.prevW != nil {
		if pr.prev[p] == 1 {
			bg += float64(pr.prevW[p])
		} else {
			fg += float64(pr.prevW[p])
		}
	}
	if pr.priorW <= 0 || pr.geoFG == nil {
		return fg, bg
	}
	a, b := float64(pr.geoFG[p]), float64(pr.geoBG[p])
	r := 1.0
	if !math.IsInf(a, 1) {
		r = a / (a + b + 1e-6)
	}
	return fg + pr.priorW*r, bg + pr.priorW*(1-r)
}

// boostClicks adds the pixels of the clicks labelled v, repeated, to a class's colour samples,
// so each click makes up clickShare of them (all together at most clickShareMax): a click
// says "this colour is object" (or background) with more weight than the pixels the current
// labelling happens to hold, and a single click on a part of its own colour must get a
// component of the mixture rather than drown in the other samples.
func (pr *problem) boostClicks(idx []int32, v uint8) []int32 {
	nd := 0
	for i := range pr.discs {
		if pr.discLab[i] == v {
			nd++
		}
	}
	if nd == 0 {
		return idx
	}
	share := min(pr.tune.clickShare*float64(nd), pr.tune.clickShareMax)
	base := len(idx)
	// samples s of the click pixels make up share of the whole: s = share·(base+s)
	total := int(share / (1 - share) * float64(base))
	per := total / nd
	want := int8(-1)
	if v == 1 {
		want = 1
	}
	for i, d := range pr.discs {
		if pr.discLab[i] != v {
			continue
		}
		var own []int32
		for _, p := range d {
			if pr.hard[p] == want {
				own = append(own, p)
			}
		}
		if len(own) == 0 {
			continue
		}
		for k := 0; k < per; k++ {
			idx = append(idx, own[k%len(own)])
		}
	}
	return idx
}
