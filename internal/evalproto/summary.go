package evalproto

import (
	"encoding/json"
	"math"
	"strconv"
)

// Num is a float64 that encodes NaN and infinities as JSON null.
type Num float64

// MarshalJSON implements json.Marshaler.
func (n Num) MarshalJSON() ([]byte, error) {
	f := float64(n)
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return []byte("null"), nil
	}
	return strconv.AppendFloat(nil, math.Round(f*1e5)/1e5, 'f', -1, 64), nil
}

// UnmarshalJSON implements json.Unmarshaler; null becomes NaN.
func (n *Num) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*n = Num(math.NaN())
		return nil
	}
	var f float64
	if err := json.Unmarshal(b, &f); err != nil {
		return err
	}
	*n = Num(f)
	return nil
}

// Latency summarises request times in milliseconds.
type Latency struct {
	N   int `json:"n"`
	P50 Num `json:"p50"`
	P95 Num `json:"p95"`
	Max Num `json:"max"`
}

func latency(ms []float64) Latency {
	l := Latency{N: len(ms), P50: Num(Percentile(ms, 50)), P95: Num(Percentile(ms, 95)), Max: Num(math.NaN())}
	if len(ms) > 0 {
		l.Max = Num(Percentile(ms, 100))
	}
	return l
}

// Summary holds the protocol's metrics over a group of images.
type Summary struct {
	Images   int            `json:"images"`
	BoxIoU   map[string]Num `json:"boxIoU"`             // mean per box key
	ClickIoU map[string]Num `json:"clickIoU,omitempty"` // mean after k clicks, keyed "1", "3", ...
	NoC85    Num            `json:"noc85"`
	NoC90    Num            `json:"noc90"`
	Never85  Num            `json:"neverReach85"` // share of images
	Never90  Num            `json:"neverReach90"`
	ClickCap int            `json:"clickCap"`
	// Latency per kind: box, click, all; cold (first prompt on an image) and warm (the others).
	Latency  map[string]Latency `json:"latencyMs"`
	Requests int                `json:"requests"`
	Failures int                `json:"failures"`
	// Empty counts answers without any segment (and without an error).
	Empty int `json:"empty"`
	// Violations counts answers that broke a promise of the segment API.
	Violations int `json:"violations"`
	// ScoreIoU is the Spearman correlation of the best segment's score with its IoU, over all
	// successful requests, and separately for box and click prompts.
	ScoreIoU map[string]Num `json:"scoreIoUSpearman,omitempty"`
	// Deterministic counts images whose repeated prompt gave the same answer, of those checked.
	Deterministic [2]int `json:"deterministicOfChecked"`
}

// ClickKs are the click counts IoU is reported after.
var ClickKs = []int{1, 3, 5, 10, 20}

// Summarize computes the metrics over results; clickCap is the robot's click budget (the NoC cap).
func Summarize(results []ImageResult, clickCap int) Summary {
	s := Summary{Images: len(results), BoxIoU: map[string]Num{}, ClickCap: clickCap,
		Latency: map[string]Latency{}, ScoreIoU: map[string]Num{}}
	for _, k := range BoxKeys {
		var v []float64
		for _, r := range results {
			if q, ok := r.Box[k]; ok {
				v = append(v, q.IoU)
			}
		}
		s.BoxIoU[k] = Num(Mean(v))
	}
	var curves [][]float64
	for _, r := range results {
		if len(r.Curve) > 0 {
			curves = append(curves, r.Curve)
		}
	}
	s.NoC85, s.NoC90, s.Never85, s.Never90 = Num(math.NaN()), Num(math.NaN()), Num(math.NaN()), Num(math.NaN())
	if len(curves) > 0 && clickCap > 0 {
		s.ClickIoU = map[string]Num{}
		for _, k := range ClickKs {
			if k > clickCap {
				continue
			}
			var v []float64
			for _, c := range curves {
				v = append(v, c[min(k, len(c))-1])
			}
			s.ClickIoU[strconv.Itoa(k)] = Num(Mean(v))
		}
		for _, t := range []struct {
			thr        float64
			noc, never *Num
		}{{0.85, &s.NoC85, &s.Never85}, {0.90, &s.NoC90, &s.Never90}} {
			var nocs, nevers []float64
			for _, c := range curves {
				n, ok := NoC(c, t.thr, clickCap)
				nocs = append(nocs, float64(n))
				nevers = append(nevers, b2f(!ok))
			}
			*t.noc, *t.never = Num(Mean(nocs)), Num(Mean(nevers))
		}
	}
	ms := map[string][]float64{}
	scores := map[string][2][]float64{}
	for _, r := range results {
		for _, q := range r.Requests() {
			s.Requests++
			if q.Failed {
				s.Failures++
			}
			if !q.Failed && q.Segments == 0 {
				s.Empty++
			}
			if q.Violation != "" {
				s.Violations++
			}
			ms[q.Kind] = append(ms[q.Kind], q.Ms)
			ms["all"] = append(ms["all"], q.Ms)
			if q.Cold {
				ms["cold"] = append(ms["cold"], q.Ms)
			} else {
				ms["warm"] = append(ms["warm"], q.Ms)
			}
			if !q.Failed && !math.IsNaN(float64(q.Score)) {
				for _, k := range []string{q.Kind, "all"} {
					p := scores[k]
					p[0], p[1] = append(p[0], float64(q.Score)), append(p[1], q.IoU)
					scores[k] = p
				}
			}
		}
		if r.Deterministic != nil {
			s.Deterministic[1]++
			if *r.Deterministic {
				s.Deterministic[0]++
			}
		}
	}
	for _, k := range []string{"box", "click", "all", "cold", "warm"} {
		s.Latency[k] = latency(ms[k])
	}
	for k, p := range scores {
		s.ScoreIoU[k] = Num(Spearman(p[0], p[1]))
	}
	return s
}

func nan() float64 { return math.NaN() }

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// ByTier summarises all results and each tier separately, keyed "all" and the tier names.
func ByTier(results []ImageResult, clickCap int) map[string]Summary {
	out := map[string]Summary{"all": Summarize(results, clickCap)}
	tiers := map[string][]ImageResult{}
	for _, r := range results {
		tiers[r.Tier] = append(tiers[r.Tier], r)
	}
	if len(tiers) > 1 {
		for t, rs := range tiers {
			out[t] = Summarize(rs, clickCap)
		}
	}
	return out
}
