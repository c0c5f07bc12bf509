package jobs

import (
	"math"
	"math/rand/v2"
	"sort"
	"testing"
	"time"
)

// expectedCost is the mean lag and looks of following jobs of the given durations with looks
// at plan, then, as the follower goes on past a plan, at its last gap growing by half each time
// up to cap.
func expectedCost(plan []time.Duration, ds []time.Duration, floor, cap time.Duration) (lag, looks float64) {
	for _, d := range ds {
		n := sort.Search(len(plan), func(i int) bool { return plan[i] >= d })
		var at time.Duration
		if n < len(plan) {
			at = plan[n]
		} else {
			at = plan[len(plan)-1]
			gap := floor
			if len(plan) > 1 {
				gap = max(plan[len(plan)-1]-plan[len(plan)-2], floor)
			}
			for at < d {
				at += gap
				gap = min(time.Duration(float64(gap)*1.5), cap)
				n++
			}
		}
		lag += (at - d).Seconds()
		looks += float64(n + 1)
	}
	return lag / float64(len(ds)), looks / float64(len(ds))
}

func TestScheduleBeatsFixedSchedules(t *testing.T) {
	const cost, floor, cap = 30 * time.Millisecond, 10 * time.Millisecond, 2 * time.Second
	for _, tt := range []struct {
		median float64 // seconds
		sigma  float64
	}{{0.25, 0.4}, {2, 0.6}, {0.08, 0.1}, {10, 1}} {
		mu := math.Log(tt.median)
		plan := schedule(mu, tt.sigma, cost.Seconds(), floor.Seconds(), cap.Seconds())
		if len(plan) == 0 {
			t.Fatalf("median %gs sigma %g: empty plan", tt.median, tt.sigma)
		}
		prev := time.Duration(0)
		for i, at := range plan {
			if gap := at - prev; gap < floor || gap > cap {
				t.Fatalf("median %gs sigma %g: look %d at %v is %v after the one before, want %v..%v", tt.median, tt.sigma, i, at, gap, floor, cap)
			}
			prev = at
		}
		rng := rand.New(rand.NewPCG(1, 2))
		ds := make([]time.Duration, 4000)
		for i := range ds {
			ds[i] = time.Duration(math.Exp(mu+tt.sigma*rng.NormFloat64()) * float64(time.Second))
		}
		total := func(p []time.Duration) float64 {
			lag, looks := expectedCost(p, ds, floor, cap)
			return lag + looks*cost.Seconds()
		}
		var geometric, everySecond []time.Duration
		for at, w := 100*time.Millisecond, 100*time.Millisecond; at < time.Minute; w = min(time.Duration(float64(w)*1.5), cap) {
			geometric = append(geometric, at)
			at += w
		}
		for at := time.Duration(0); at < time.Minute; at += time.Second {
			everySecond = append(everySecond, at)
		}
		if got, g, s := total(plan), total(geometric), total(everySecond); got >= g || got >= s {
			t.Errorf("median %gs sigma %g: the plan's cost %.3f is not below the geometric schedule's %.3f and 1 s polling's %.3f", tt.median, tt.sigma, got, g, s)
		}
	}
}

func TestLearnerForgetsOldKeys(t *testing.T) {
	l := newLearner(30*time.Millisecond, 10*time.Millisecond, 2*time.Second)
	for px := int64(1); px < 1<<40; px *= 2 {
		l.observe("b"+sizeClass(px), px, time.Second)
	}
	if len(l.keys) > maxKeys || len(l.order) != len(l.keys) {
		t.Errorf("%d keys (%d in order), want at most %d", len(l.keys), len(l.order), maxKeys)
	}
}
