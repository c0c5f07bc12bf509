package segment

// Boykov–Kolmogorov max-flow ("An experimental comparison of min-cut/max-flow algorithms for
// energy minimization in vision", PAMI 2004) on flat arrays. The graph is stored in CSR form:
// the arcs of node i are first[i]..first[i+1]-1, head[a] is the node arc a points to and
// sister[a] the reverse arc. Terminal links are folded into one signed residual per node,
// tr[i] > 0 meaning capacity from the source, tr[i] < 0 capacity to the sink, as in the
// reference implementation: it halves the work on t-links and never loses flow value.

const (
	bkNone     = -1 // node is free (in neither search tree)
	bkTerminal = -2 // node's parent is its terminal
	bkOrphan   = -3 // node lost its parent during augmentation
)

// flowGraph is a max-flow problem and, after maxflow, its residual graph and minimum cut.
type flowGraph struct {
	n      int
	first  []int32   // len n+1
	head   []int32   // per arc
	sister []int32   // per arc
	rcap   []float32 // per arc: residual capacity
	tr     []float32 // per node: signed terminal residual
	flow   float64   // flow pushed through terminals

	// search state
	parent []int32 // arc to the parent (head[parent[i]] is the parent), or bkNone/bkTerminal/bkOrphan
	sink   []bool  // node belongs to the sink tree
	ts     []int32 // time stamp of dist
	dist   []int32 // distance to the terminal, valid when ts is recent
	queued []bool
	active []int32 // FIFO of active nodes
	orph   []int32 // orphans

	// stop, when not nil, is asked every few thousand steps whether to give up.
	stop func() bool
}

// newFlowGraph allocates a graph with n nodes and m arcs; the caller fills first, head,
// sister, rcap and tr.
func newFlowGraph(n, m int) *flowGraph {
	return &flowGraph{
		n:      n,
		first:  make([]int32, n+1),
		head:   make([]int32, m),
		sister: make([]int32, m),
		rcap:   make([]float32, m),
		tr:     make([]float32, n),
	}
}

// addTerminal adds capacities source→i and i→sink. Only the difference needs a residual;
// the common part is flow that is pushed at once.
func (g *flowGraph) addTerminal(i int, toSource, toSink float32) {
	d := g.tr[i]
	if d > 0 {
		toSource += d
	} else {
		toSink -= d
	}
	m := min(toSource, toSink)
	g.flow += float64(m)
	g.tr[i] = toSource - toSink
}

// maxflow computes the maximum flow and leaves the minimum cut in the search trees.
// It reports false when stop asked it to give up; the cut is then meaningless.
func (g *flowGraph) maxflow() bool {
	n := g.n
	if cap(g.parent) < n {
		g.parent = make([]int32, n)
		g.sink = make([]bool, n)
		g.ts = make([]int32, n)
		g.dist = make([]int32, n)
		g.queued = make([]bool, n)
	}
	g.parent, g.sink, g.ts, g.dist, g.queued = g.parent[:n], g.sink[:n], g.ts[:n], g.dist[:n], g.queued[:n]
	g.active = g.active[:0]
	g.orph = g.orph[:0]
	for i := range n {
		g.queued[i] = false
		g.ts[i] = 0
		switch {
		case g.tr[i] > 0:
			g.parent[i], g.sink[i], g.dist[i] = bkTerminal, false, 1
			g.push(int32(i))
		case g.tr[i] < 0:
			g.parent[i], g.sink[i], g.dist[i] = bkTerminal, true, 1
			g.push(int32(i))
		default:
			g.parent[i], g.sink[i] = bkNone, false
		}
	}

	var time int32
	qh := 0 // head of the active FIFO
	cur := int32(-1)
	steps := 0
	for {
		i := cur
		if i < 0 || g.parent[i] == bkNone {
			cur = -1
			i = -1
			for qh < len(g.active) {
				j := g.active[qh]
				qh++
				g.queued[j] = false
				if g.parent[j] != bkNone {
					i = j
					break
				}
			}
			if i < 0 {
				break
			}
			// Compact the FIFO now and then so it does not grow without bound.
			if qh > 1<<16 && qh*2 > len(g.active) {
				k := copy(g.active, g.active[qh:])
				g.active = g.active[:k]
				qh = 0
			}
		}
		steps++
		if g.stop != nil && steps&4095 == 0 && g.stop() {
			return false
		}

		// Grow the tree of i until it meets the other tree.
		bridge := int32(-1)
		if !g.sink[i] {
			for a := g.first[i]; a < g.first[i+1]; a++ {
				if g.rcap[a] <= 0 {
					continue
				}
				j := g.head[a]
				switch {
				case g.parent[j] == bkNone:
					g.sink[j] = false
					g.parent[j] = g.sister[a]
					g.ts[j] = g.ts[i]
					g.dist[j] = g.dist[i] + 1
					g.push(j)
				case g.sink[j]:
					bridge = a
				case g.ts[j] <= g.ts[i] && g.dist[j] > g.dist[i]:
					g.parent[j] = g.sister[a]
					g.ts[j] = g.ts[i]
					g.dist[j] = g.dist[i] + 1
				}
				if bridge >= 0 {
					break
				}
			}
		} else {
			for a := g.first[i]; a < g.first[i+1]; a++ {
				s := g.sister[a]
				if g.rcap[s] <= 0 {
					continue
				}
				j := g.head[a]
				switch {
				case g.parent[j] == bkNone:
					g.sink[j] = true
					g.parent[j] = s
					g.ts[j] = g.ts[i]
					g.dist[j] = g.dist[i] + 1
					g.push(j)
				case !g.sink[j]:
					bridge = s
				case g.ts[j] <= g.ts[i] && g.dist[j] > g.dist[i]:
					g.parent[j] = s
					g.ts[j] = g.ts[i]
					g.dist[j] = g.dist[i] + 1
				}
				if bridge >= 0 {
					break
				}
			}
		}
		time++
		if bridge < 0 {
			cur = -1
			continue
		}
		cur = i // keep growing from i after this augmentation
		g.augment(bridge)
		for len(g.orph) > 0 {
			o := g.orph[len(g.orph)-1]
			g.orph = g.orph[:len(g.orph)-1]
			if g.sink[o] {
				g.adoptSink(o, time)
			} else {
				g.adoptSource(o, time)
			}
		}
	}
	return true
}

func (g *flowGraph) push(i int32) {
	if !g.queued[i] {
		g.queued[i] = true
		g.active = append(g.active, i)
	}
}

// augment pushes the bottleneck flow along source→…→tail(a) →a→ head(a)→…→sink.
func (g *flowGraph) augment(a int32) {
	b := g.rcap[a]
	for i := g.head[g.sister[a]]; ; {
		pa := g.parent[i]
		if pa == bkTerminal {
			b = min(b, g.tr[i])
			break
		}
		b = min(b, g.rcap[g.sister[pa]])
		i = g.head[pa]
	}
	for i := g.head[a]; ; {
		pa := g.parent[i]
		if pa == bkTerminal {
			b = min(b, -g.tr[i])
			break
		}
		b = min(b, g.rcap[pa])
		i = g.head[pa]
	}

	g.rcap[g.sister[a]] += b
	g.rcap[a] -= b
	for i := g.head[g.sister[a]]; ; {
		pa := g.parent[i]
		if pa == bkTerminal {
			g.tr[i] -= b
			if g.tr[i] <= 0 {
				g.orphan(i)
			}
			break
		}
		g.rcap[pa] += b
		s := g.sister[pa]
		g.rcap[s] -= b
		if g.rcap[s] <= 0 {
			g.orphan(i)
		}
		i = g.head[pa]
	}
	for i := g.head[a]; ; {
		pa := g.parent[i]
		if pa == bkTerminal {
			g.tr[i] += b
			if g.tr[i] >= 0 {
				g.orphan(i)
			}
			break
		}
		g.rcap[g.sister[pa]] += b
		g.rcap[pa] -= b
		if g.rcap[pa] <= 0 {
			g.orphan(i)
		}
		i = g.head[pa]
	}
	g.flow += float64(b)
}

func (g *flowGraph) orphan(i int32) {
	g.parent[i] = bkOrphan
	g.orph = append(g.orph, i)
}

// origin returns the distance from j to the source or sink terminal of its tree, or -1 when
// j's chain ends in an orphan. It marks the chain with time so later walks stop early.
func (g *flowGraph) origin(j int32, time int32) int32 {
	d := int32(0)
	k := j
	for {
		if g.ts[k] == time {
			d += g.dist[k]
			break
		}
		pa := g.parent[k]
		d++
		if pa == bkTerminal {
			g.ts[k] = time
			g.dist[k] = 1
			break
		}
		if pa == bkOrphan || pa == bkNone {
			return -1
		}
		k = g.head[pa]
	}
	for k := j; g.ts[k] != time; k = g.head[g.parent[k]] {
		g.ts[k] = time
		g.dist[k] = d
		d--
	}
	return g.dist[j]
}

func (g *flowGraph) adoptSource(i int32, time int32) {
	best, bestD := int32(bkNone), int32(1<<30)
	for a := g.first[i]; a < g.first[i+1]; a++ {
		if g.rcap[g.sister[a]] <= 0 {
			continue
		}
		j := g.head[a]
		if g.sink[j] || g.parent[j] == bkNone {
			continue
		}
		if d := g.origin(j, time); d >= 0 && d < bestD {
			best, bestD = a, d
		}
	}
	if best != bkNone {
		g.parent[i] = best
		g.ts[i] = time
		g.dist[i] = bestD + 1
		return
	}
	g.parent[i] = bkNone
	for a := g.first[i]; a < g.first[i+1]; a++ {
		j := g.head[a]
		if g.sink[j] || g.parent[j] == bkNone {
			continue
		}
		if g.rcap[g.sister[a]] > 0 {
			g.push(j)
		}
		if pa := g.parent[j]; pa >= 0 && g.head[pa] == i {
			g.orphan(j)
		}
	}
}

func (g *flowGraph) adoptSink(i int32, time int32) {
	best, bestD := int32(bkNone), int32(1<<30)
	for a := g.first[i]; a < g.first[i+1]; a++ {
		if g.rcap[a] <= 0 {
			continue
		}
		j := g.head[a]
		if !g.sink[j] || g.parent[j] == bkNone {
			continue
		}
		if d := g.origin(j, time); d >= 0 && d < bestD {
			best, bestD = a, d
		}
	}
	if best != bkNone {
		g.parent[i] = best
		g.ts[i] = time
		g.dist[i] = bestD + 1
		return
	}
	g.parent[i] = bkNone
	for a := g.first[i]; a < g.first[i+1]; a++ {
		j := g.head[a]
		if !g.sink[j] || g.parent[j] == bkNone {
			continue
		}
		if g.rcap[a] > 0 {
			g.push(j)
		}
		if pa := g.parent[j]; pa >= 0 && g.head[pa] == i {
			g.orphan(j)
		}
	}
}

// inSource reports whether node i ended on the source side of the minimum cut. Free nodes
// go to the sink: the source side is then the smallest minimum cut's source set.
func (g *flowGraph) inSource(i int) bool {
	return g.parent[i] != bkNone && !g.sink[i]
}
