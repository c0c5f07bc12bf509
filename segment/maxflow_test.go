package segment

import (
	"math"
	"math/rand/v2"
	"testing"
)

// denseNet is a max-flow problem as a capacity matrix; node n is the source, n+1 the sink.
type denseNet struct {
	n   int
	cap [][]float64
}

// edmondsKarp is the reference solver: shortest augmenting paths on the dense matrix.
func edmondsKarp(d denseNet) float64 {
	N := d.n + 2
	s, t := d.n, d.n+1
	r := make([][]float64, N)
	for i := range r {
		r[i] = append([]float64(nil), d.cap[i]...)
	}
	var flow float64
	for {
		prev := make([]int, N)
		for i := range prev {
			prev[i] = -1
		}
		prev[s] = s
		q := []int{s}
		for len(q) > 0 && prev[t] < 0 {
			u := q[0]
			q = q[1:]
			for v := range N {
				if prev[v] < 0 && r[u][v] > 1e-9 {
					prev[v] = u
					q = append(q, v)
				}
			}
		}
		if prev[t] < 0 {
			return flow
		}
		b := math.Inf(1)
		for v := t; v != s; v = prev[v] {
			b = min(b, r[prev[v]][v])
		}
		for v := t; v != s; v = prev[v] {
			r[prev[v]][v] -= b
			r[v][prev[v]] += b
		}
		flow += b
	}
}

// randomNet draws a sparse random network with integer capacities, so float32 sums are exact.
func randomNet(rng *rand.Rand, n int) denseNet {
	N := n + 2
	d := denseNet{n: n, cap: make([][]float64, N)}
	for i := range d.cap {
		d.cap[i] = make([]float64, N)
	}
	for i := range n {
		for j := range n {
			if i != j && rng.IntN(4) == 0 {
				d.cap[i][j] = float64(rng.IntN(20))
			}
		}
		if rng.IntN(3) == 0 {
			d.cap[n][i] = float64(rng.IntN(30))
		}
		if rng.IntN(3) == 0 {
			d.cap[i][n+1] = float64(rng.IntN(30))
		}
	}
	return d
}

// toFlowGraph builds the CSR graph with one arc pair per unordered node pair.
func toFlowGraph(d denseNet) *flowGraph {
	n := d.n
	type pair struct{ i, j int }
	var pairs []pair
	deg := make([]int, n)
	for i := range n {
		for j := i + 1; j < n; j++ {
			if d.cap[i][j] > 0 || d.cap[j][i] > 0 {
				pairs = append(pairs, pair{i, j})
				deg[i]++
				deg[j]++
			}
		}
	}
	g := newFlowGraph(n, 2*len(pairs))
	for i := range n {
		g.first[i+1] = g.first[i] + int32(deg[i])
	}
	next := make([]int32, n)
	for i := range n {
		next[i] = g.first[i]
	}
	for _, p := range pairs {
		a, b := next[p.i], next[p.j]
		next[p.i]++
		next[p.j]++
		g.head[a], g.head[b] = int32(p.j), int32(p.i)
		g.sister[a], g.sister[b] = b, a
		g.rcap[a], g.rcap[b] = float32(d.cap[p.i][p.j]), float32(d.cap[p.j][p.i])
	}
	for i := range n {
		g.addTerminal(i, float32(d.cap[n][i]), float32(d.cap[i][n+1]))
	}
	return g
}

func TestMaxflowMatchesEdmondsKarp(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := range 400 {
		n := 2 + rng.IntN(40)
		d := randomNet(rng, n)
		want := edmondsKarp(d)
		g := toFlowGraph(d)
		if !g.maxflow() {
			t.Fatal("maxflow gave up without a stop function")
		}
		if math.Abs(g.flow-want) > 1e-6 {
			t.Fatalf("trial %d (n=%d): flow %v, Edmonds–Karp %v", trial, n, g.flow, want)
		}
		// The cut the search trees leave must cost exactly the flow.
		var cut float64
		for i := range n + 2 {
			for j := range n + 2 {
				if d.cap[i][j] > 0 && side(g, n, i) && !side(g, n, j) {
					cut += d.cap[i][j]
				}
			}
		}
		if math.Abs(cut-want) > 1e-6 {
			t.Fatalf("trial %d (n=%d): cut %v, flow %v", trial, n, cut, want)
		}
	}
}

func side(g *flowGraph, n, i int) bool {
	switch i {
	case n:
		return true
	case n + 1:
		return false
	}
	return g.inSource(i)
}
