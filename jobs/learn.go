package jobs

import (
	"math"
	"strconv"
	"sync"
	"time"
)

// The following of a job learns from the jobs before it: how long jobs of the same backend on
// images of about the same size took. Their durations are modelled as log-normal (an online,
// exponentially weighted estimate of the mean and variance of the log-duration), and the looks
// at a new job are placed where they cost least: the schedule minimises the expected lag from
// done to seen plus PollCost for every GET, by dynamic programming over the estimated
// distribution. A short, predictable job is looked at once or twice near its expected end; a
// long, uncertain one a few times around its likely span. Until a key has minSamples durations
// the backend's estimate over all sizes is used, and until that has them too, the geometric
// schedule of FirstPoll, Backoff and MaxInterval.

const (
	// minSamples is how many durations an estimate needs before it places the looks.
	minSamples = 3
	// window is the weight of the newest duration once an estimate has that many (1/window):
	// about the last window jobs count.
	window = 32
	// minSigma and maxSigma bound the spread of the log-duration: identical durations must not
	// make the schedule bet everything on one instant, nor a wild one make it give up.
	minSigma, maxSigma = 0.08, 2.0
	// gridPoints is the resolution of the schedule's search.
	gridPoints = 160
	// maxKeys bounds the estimates kept; the oldest key is forgotten first.
	maxKeys = 256
)

// estimate is what is known of one key's durations: an exponentially weighted mean and
// variance of ln(seconds), and the schedule they give, made when first asked for.
type estimate struct {
	n          int
	mean, vari float64
	plan       []time.Duration // nil until made for the current estimate
}

// learner keeps the estimates of a Manager. It is safe for concurrent use.
type learner struct {
	cost, floor, cap time.Duration

	mu    sync.Mutex
	keys  map[string]*estimate
	order []string // keys in the order they were made, for maxKeys
}

func newLearner(cost, floor, cap time.Duration) *learner {
	return &learner{cost: cost, floor: floor, cap: cap, keys: make(map[string]*estimate)}
}

// sizeClass names the size of an image of px pixels to within a factor of √2, or "?" when it
// is unknown.
func sizeClass(px int64) string {
	if px <= 0 {
		return "?"
	}
	return strconv.Itoa(int(math.Round(2 * math.Log2(float64(px)))))
}

func durationKey(backend string, px int64) string { return backend + "|" + sizeClass(px) }

// observe records that a job of backend on an image of px pixels took d.
func (l *learner) observe(backend string, px int64, d time.Duration) {
	if d <= 0 {
		return
	}
	x := math.Log(d.Seconds())
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, k := range []string{durationKey(backend, px), backend + "|*"} {
		e := l.keys[k]
		if e == nil {
			if len(l.order) >= maxKeys {
				delete(l.keys, l.order[0])
				l.order = l.order[1:]
			}
			e = &estimate{}
			l.keys[k] = e
			l.order = append(l.order, k)
		}
		e.n++
		w := 1 / float64(min(e.n, window))
		delta := x - e.mean
		e.mean += w * delta
		e.vari = (1 - w) * (e.vari + w*delta*delta)
		e.plan = nil
	}
}

// plan returns the offsets, from the moment the job was started, at which to look at a job of
// backend on an image of px pixels, or nil when too little is known. The caller must not
// change it.
func (l *learner) plan(backend string, px int64) []time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, k := range []string{durationKey(backend, px), backend + "|*"} {
		if e := l.keys[k]; e != nil && e.n >= minSamples {
			if e.plan == nil {
				sigma := min(max(math.Sqrt(e.vari), minSigma), maxSigma)
				e.plan = schedule(e.mean, sigma, l.cost.Seconds(), l.floor.Seconds(), l.cap.Seconds())
			}
			return e.plan
		}
	}
	return nil
}

// schedule returns the look times (seconds from the start, as durations) that minimise the
// expected lag plus cost per look for a job whose duration is log-normal(mu, sigma), with at
// least floor and at most cap between looks. It covers the distribution up to its 99.95th
// percentile; the caller goes on from there.
func schedule(mu, sigma, cost, floor, cap float64) []time.Duration {
	// Candidate look times: log-spaced from the 0.1th to the 99.95th percentile, after looks
	// every cap until then when the distribution starts later than cap.
	lo := math.Exp(mu - 3.09*sigma)
	hi := math.Exp(mu + 3.29*sigma)
	t := []float64{0} // t[0] = 0 is the start, not a look
	for at := cap; at < lo; at += cap {
		t = append(t, at)
	}
	for i := range gridPoints {
		t = append(t, lo*math.Pow(hi/lo, float64(i)/float64(gridPoints-1)))
	}
	n := len(t) - 1
	F := make([]float64, n+1) // P(D ≤ t)
	M := make([]float64, n+1) // E[D; D ≤ t]
	m1 := math.Exp(mu + sigma*sigma/2)
	for i := 1; i <= n; i++ {
		z := (math.Log(t[i]) - mu) / sigma
		F[i] = normCDF(z)
		M[i] = m1 * normCDF(z-sigma)
	}
	// C[i] is the least expected cost from a look at t[i] that found the job unfinished: the
	// next look's cost (paid if the job was not done by t[i]) and the lag of the jobs that end
	// before it. From a look with no candidate after it (the end of the grid), one more look
	// floor later is taken to catch the rest.
	C := make([]float64, n+1)
	next := make([]int, n+1)
	for i := n; i >= 0; i-- {
		next[i] = -1
		C[i] = cost*(1-F[i]) + (t[i]+floor)*(1-F[i]) - (m1 - M[i])
		for j := i + 1; j <= n; j++ {
			gap := t[j] - t[i]
			if gap < floor {
				continue
			}
			if gap > cap {
				break
			}
			if c := cost*(1-F[i]) + t[j]*(F[j]-F[i]) - (M[j] - M[i]) + C[j]; next[i] < 0 || c < C[i] {
				C[i], next[i] = c, j
			}
		}
	}
	var out []time.Duration
	for i := next[0]; i > 0; i = next[i] {
		out = append(out, time.Duration(t[i]*float64(time.Second)))
	}
	return out
}

func normCDF(z float64) float64 { return 0.5 * math.Erfc(-z/math.Sqrt2) }

// planned returns the wait, from elapsed since the job was started, until the first look of
// plan that comes at least floor from now, and false when plan has none left.
func planned(plan []time.Duration, elapsed, floor time.Duration) (time.Duration, bool) {
	for _, at := range plan {
		if at >= elapsed+floor {
			return at - elapsed, true
		}
	}
	return 0, false
}
