package segment

import "math"

// geodesic distances on the 8-neighbour working grid. A step costs
// sqrt(len² + α·‖Δz‖²/mean‖Δz‖²): the image's own contrast scale makes α mean the same on
// a dull and on a busy picture, and the len² term keeps paths short on flat areas.

// computeStepCosts returns the cost of each forward step (E, S, SE, SW) from every pixel.
func computeStepCosts(wi *workImage, alpha float64) [4][]float32 {
	var c [4][]float32
	inv := 0.0
	if wi.meanD2 > 1e-9 {
		inv = alpha / wi.meanD2
	}
	for k := range 4 {
		l2 := 1.0
		if k >= 2 {
			l2 = 2
		}
		a := make([]float32, len(wi.d2[k]))
		for i, d := range wi.d2[k] {
			a[i] = float32(math.Sqrt(l2 + inv*float64(d)))
		}
		c[k] = a
	}
	return c
}

type heapItem struct {
	d float32
	i int32
}

// distHeap is a binary min-heap by distance, ties by pixel index so the forest is
// deterministic. Typed by hand: container/heap boxes every item.
type distHeap []heapItem

func (h distHeap) less(a, b int) bool {
	if h[a].d != h[b].d {
		return h[a].d < h[b].d
	}
	return h[a].i < h[b].i
}

func (h *distHeap) push(it heapItem) {
	*h = append(*h, it)
	s := *h
	for j := len(s) - 1; j > 0; {
		p := (j - 1) / 2
		if !s.less(j, p) {
			break
		}
		s[j], s[p] = s[p], s[j]
		j = p
	}
}

func (h *distHeap) pop() heapItem {
	s := *h
	top := s[0]
	last := len(s) - 1
	s[0] = s[last]
	s = s[:last]
	for j := 0; ; {
		l := 2*j + 1
		if l >= len(s) {
			break
		}
		m := l
		if r := l + 1; r < len(s) && s.less(r, l) {
			m = r
		}
		if !s.less(m, j) {
			break
		}
		s[j], s[m] = s[m], s[j]
		j = m
	}
	*h = s
	return top
}

// geodesic runs Dijkstra from seeds (distance seedDist[i] for each seed) over the w×h grid,
// never entering blocked pixels. It returns distances (+Inf where unreached) and, per pixel,
// the neighbour it was reached from (−1 for seeds and unreached pixels): the shortest-path
// forest that the star-convexity constraint follows.
func geodesic(w, h int, cost [4][]float32, seeds []int32, seedDist []float32, blocked []bool) ([]float32, []int32) {
	n := w * h
	dist := make([]float32, n)
	par := make([]int32, n)
	inf := float32(math.Inf(1))
	for i := range dist {
		dist[i] = inf
		par[i] = -1
	}
	hp := make(distHeap, 0, 1024)
	for k, s := range seeds {
		d := float32(0)
		if seedDist != nil {
			d = seedDist[k]
		}
		if d < dist[s] {
			dist[s] = d
			hp.push(heapItem{d, s})
		}
	}
	done := make([]bool, n)
	for len(hp) > 0 {
		it := hp.pop()
		p := int(it.i)
		if done[p] {
			continue
		}
		done[p] = true
		x, y := p%w, p/w
		for k := range 8 {
			var dx, dy int
			var c float32
			if k < 4 {
				dx, dy = dirs[k][0], dirs[k][1]
				if x+dx < 0 || x+dx >= w || y+dy >= h {
					continue
				}
				c = cost[k][p]
			} else {
				dx, dy = -dirs[k-4][0], -dirs[k-4][1]
				if x+dx < 0 || x+dx >= w || y+dy < 0 {
					continue
				}
				c = cost[k-4][p+dy*w+dx]
			}
			q := p + dy*w + dx
			if done[q] || (blocked != nil && blocked[q]) {
				continue
			}
			if nd := it.d + c; nd < dist[q] {
				dist[q] = nd
				par[q] = int32(p)
				hp.push(heapItem{nd, int32(q)})
			}
		}
	}
	return dist, par
}

// geodesicRaster approximates geodesic with alternating forward and backward raster scans
// (Toivanen 1996): each scan relaxes every pixel from its four already-visited neighbours.
// Two round trips reach nearly all the accuracy of Dijkstra at a fraction of its cost. Parents
// always have a strictly smaller distance, so they still form a forest rooted at the seeds.
func geodesicRaster(w, h int, cost [4][]float32, seeds []int32, seedDist []float32, blocked []bool, passes int) ([]float32, []int32) {
	n := w * h
	dist := make([]float32, n)
	par := make([]int32, n)
	inf := float32(math.Inf(1))
	for i := range dist {
		dist[i] = inf
		par[i] = -1
	}
	for k, s := range seeds {
		d := float32(0)
		if seedDist != nil {
			d = seedDist[k]
		}
		dist[s] = min(dist[s], d)
	}
	relax := func(p, q int, c float32) {
		if nd := dist[q] + c; nd < dist[p] {
			dist[p] = nd
			par[p] = int32(q)
		}
	}
	for range passes {
		// Forward: from W, NW, N, NE. Step costs are stored at the upper/left pixel.
		for y := range h {
			for x := range w {
				p := y*w + x
				if blocked != nil && blocked[p] {
					continue
				}
				if x > 0 {
					relax(p, p-1, cost[0][p-1])
				}
				if y > 0 {
					relax(p, p-w, cost[1][p-w])
					if x > 0 {
						relax(p, p-w-1, cost[2][p-w-1])
					}
					if x < w-1 {
						relax(p, p-w+1, cost[3][p-w+1])
					}
				}
			}
		}
		// Backward: from E, SE, S, SW.
		for y := h - 1; y >= 0; y-- {
			for x := w - 1; x >= 0; x-- {
				p := y*w + x
				if blocked != nil && blocked[p] {
					continue
				}
				if x < w-1 {
					relax(p, p+1, cost[0][p])
				}
				if y < h-1 {
					relax(p, p+w, cost[1][p])
					if x < w-1 {
						relax(p, p+w+1, cost[2][p])
					}
					if x > 0 {
						relax(p, p+w-1, cost[3][p])
					}
				}
			}
		}
	}
	return dist, par
}
