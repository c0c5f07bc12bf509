package segment

import "math"

// gmmK is the number of Gaussian components per class, as in GrabCut.
const gmmK = 5

// gauss is one full-covariance colour Gaussian, kept in the form the likelihood needs.
type gauss struct {
	mean [3]float64
	inv  [6]float64 // inverse covariance: xx, xy, xz, yy, yz, zz
	logc float64    // log(weight) − ½·log det Σ − 3/2·log 2π
	n    float64    // samples that fitted it
}

// gmm is a colour mixture model with up to gmmK components.
type gmm struct {
	k int
	c [gmmK]gauss
}

// covReg is added to every variance: JPEG blocks and flat patches give components with
// (nearly) singular covariance whose spiky likelihood would dominate the cut.
const covReg = 4.0

// moments accumulates weighted sums for a mean and covariance.
type moments struct {
	n   float64
	s   [3]float64
	ss  [6]float64
	idx int
}

func (m *moments) add(r, g, b float64) {
	m.n++
	m.s[0] += r
	m.s[1] += g
	m.s[2] += b
	m.ss[0] += r * r
	m.ss[1] += r * g
	m.ss[2] += r * b
	m.ss[3] += g * g
	m.ss[4] += g * b
	m.ss[5] += b * b
}

// meanCov returns the mean and the (regularised) covariance.
func (m *moments) meanCov() (mu [3]float64, cov [6]float64) {
	if m.n == 0 {
		return mu, [6]float64{covReg, 0, 0, covReg, 0, covReg}
	}
	for i := range 3 {
		mu[i] = m.s[i] / m.n
	}
	cov[0] = m.ss[0]/m.n - mu[0]*mu[0] + covReg
	cov[1] = m.ss[1]/m.n - mu[0]*mu[1]
	cov[2] = m.ss[2]/m.n - mu[0]*mu[2]
	cov[3] = m.ss[3]/m.n - mu[1]*mu[1] + covReg
	cov[4] = m.ss[4]/m.n - mu[1]*mu[2]
	cov[5] = m.ss[5]/m.n - mu[2]*mu[2] + covReg
	return mu, cov
}

// principal returns the largest eigenvalue of a symmetric 3×3 matrix and its eigenvector, by
// power iteration from a fixed start (deterministic, and 3×3 converges in a few dozen steps).
func principal(c [6]float64) (float64, [3]float64) {
	v := [3]float64{1, 0.7, 0.4}
	var lam float64
	for range 40 {
		x := c[0]*v[0] + c[1]*v[1] + c[2]*v[2]
		y := c[1]*v[0] + c[3]*v[1] + c[4]*v[2]
		z := c[2]*v[0] + c[4]*v[1] + c[5]*v[2]
		n := math.Sqrt(x*x + y*y + z*z)
		if n == 0 {
			return 0, v
		}
		lam = n
		v = [3]float64{x / n, y / n, z / n}
	}
	return lam, v
}

// splitInit assigns samples to k components by Orchard–Bouman splitting: the component with
// the largest colour spread is cut in two across its principal axis at its mean, until there
// are k. Deterministic and seeded by the data only, unlike a random k-means++ start.
func splitInit(rgb []float32, idx []int32, comp []uint8, k int) int {
	for i := range comp {
		comp[i] = 0
	}
	var ms [gmmK]moments
	for _, p := range idx {
		ms[0].add(float64(rgb[3*p]), float64(rgb[3*p+1]), float64(rgb[3*p+2]))
	}
	n := 1
	for n < k {
		best, bestLam := -1, 0.0
		var bestMu, bestV [3]float64
		for c := range n {
			if ms[c].n < 2 {
				continue
			}
			mu, cov := ms[c].meanCov()
			lam, v := principal(cov)
			if lam > bestLam {
				best, bestLam, bestMu, bestV = c, lam, mu, v
			}
		}
		if best < 0 || bestLam <= covReg*1.01 {
			break // nothing left worth splitting
		}
		thr := bestV[0]*bestMu[0] + bestV[1]*bestMu[1] + bestV[2]*bestMu[2]
		ms[best], ms[n] = moments{}, moments{}
		for s, p := range idx {
			if int(comp[s]) != best {
				continue
			}
			r, g, b := float64(rgb[3*p]), float64(rgb[3*p+1]), float64(rgb[3*p+2])
			if bestV[0]*r+bestV[1]*g+bestV[2]*b > thr {
				comp[s] = uint8(n)
				ms[n].add(r, g, b)
			} else {
				ms[best].add(r, g, b)
			}
		}
		n++
	}
	return n
}

// fitGMM estimates a mixture from samples and their component labels.
func fitGMM(rgb []float32, idx []int32, comp []uint8, k int) gmm {
	var ms [gmmK]moments
	for s, p := range idx {
		ms[comp[s]].add(float64(rgb[3*p]), float64(rgb[3*p+1]), float64(rgb[3*p+2]))
	}
	total := float64(len(idx))
	var g gmm
	for c := range k {
		if ms[c].n == 0 {
			continue
		}
		mu, cv := ms[c].meanCov()
		// Closed-form inverse of the symmetric 3×3 matrix.
		a, b, cc, d, e, f := cv[0], cv[1], cv[2], cv[3], cv[4], cv[5]
		A := d*f - e*e
		B := cc*e - b*f
		C := b*e - cc*d
		det := a*A + b*B + cc*C
		if det <= 1e-12 {
			continue
		}
		gs := gauss{mean: mu, n: ms[c].n}
		gs.inv = [6]float64{A / det, B / det, C / det, (a*f - cc*cc) / det, (b*cc - a*e) / det, (a*d - b*b) / det}
		gs.logc = math.Log(ms[c].n/total) - 0.5*math.Log(det) - 1.5*math.Log(2*math.Pi)
		g.c[g.k] = gs
		g.k++
	}
	return g
}

// quad returns the log density of component c at a colour, without the mixture sum.
func (gs *gauss) logp(r, g, b float64) float64 {
	x, y, z := r-gs.mean[0], g-gs.mean[1], b-gs.mean[2]
	q := gs.inv[0]*x*x + gs.inv[3]*y*y + gs.inv[5]*z*z + 2*(gs.inv[1]*x*y+gs.inv[2]*x*z+gs.inv[4]*y*z)
	return gs.logc - 0.5*q
}

// nll is −log of the mixture density at a colour.
func (m *gmm) nll(r, g, b float64) float64 {
	if m.k == 0 {
		return 0
	}
	var lp [gmmK]float64
	mx := math.Inf(-1)
	for c := range m.k {
		lp[c] = m.c[c].logp(r, g, b)
		mx = max(mx, lp[c])
	}
	var s float64
	for c := range m.k {
		s += math.Exp(lp[c] - mx)
	}
	return -(mx + math.Log(s))
}

// assign labels every sample with its most likely component, GrabCut's hard EM step.
func (m *gmm) assign(rgb []float32, idx []int32, comp []uint8) {
	for s, p := range idx {
		r, g, b := float64(rgb[3*p]), float64(rgb[3*p+1]), float64(rgb[3*p+2])
		best, bl := 0, math.Inf(-1)
		for c := range m.k {
			if l := m.c[c].logp(r, g, b); l > bl {
				best, bl = c, l
			}
		}
		comp[s] = uint8(best)
	}
}
