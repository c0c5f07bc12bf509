package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/lassoteam/lasso/internal/evalproto"
)

// compareRow sets Lasso against one OpenCV configuration on one tier.
type compareRow struct {
	Tier    string `json:"tier"`
	Against string `json:"against"`
	// IoUDiff is Lasso minus OpenCV: box keys, "click@k", and "noc85"/"noc90" (lower is better).
	IoUDiff map[string]evalproto.Num `json:"diff"`
	// SpeedRatio is OpenCV's median latency over Lasso's (> 1: Lasso is faster), for box, click and
	// all prompts, and "allWarm" against Lasso's warm prompts only.
	SpeedRatio map[string]evalproto.Num `json:"speedRatio"`
}

// target is one line of issue 3's target table.
type target struct {
	Name string `json:"name"`
	Want string `json:"want"`
	Got  string `json:"got"`
	Pass *bool  `json:"pass"` // nil: not measurable here
}

func tierNames(m map[string]evalproto.Summary) []string {
	var ts []string
	for t := range m {
		if t != "all" {
			ts = append(ts, t)
		}
	}
	sort.Strings(ts)
	return append([]string{"all"}, ts...)
}

func compare(l lassoRun, o *opencvRun) []compareRow {
	var out []compareRow
	for _, c := range o.Configs {
		for _, tier := range tierNames(l.Summary) {
			ls, ok1 := l.Summary[tier]
			oc, ok2 := c.Summary[tier]
			if !ok1 || !ok2 {
				continue
			}
			r := compareRow{Tier: tier, Against: c.Name, IoUDiff: map[string]evalproto.Num{}, SpeedRatio: map[string]evalproto.Num{}}
			for _, k := range evalproto.BoxKeys {
				r.IoUDiff[k] = ls.BoxIoU[k] - oc.BoxIoU[k]
			}
			if oc.ClickIoU != nil && ls.ClickIoU != nil {
				for k, v := range ls.ClickIoU {
					if w, ok := oc.ClickIoU[k]; ok {
						r.IoUDiff["click@"+k] = v - w
					}
				}
				r.IoUDiff["noc85"] = ls.NoC85 - oc.NoC85
				r.IoUDiff["noc90"] = ls.NoC90 - oc.NoC90
			}
			for _, k := range []string{"box", "click", "all"} {
				r.SpeedRatio[k] = ratio(oc.Latency[k].P50, ls.Latency[k].P50)
			}
			r.SpeedRatio["allWarm"] = ratio(oc.Latency["all"].P50, ls.Latency["warm"].P50)
			out = append(out, r)
		}
	}
	return out
}

func ratio(a, b evalproto.Num) evalproto.Num {
	if b == 0 || math.IsNaN(float64(a)) || math.IsNaN(float64(b)) {
		return evalproto.Num(math.NaN())
	}
	return a / b
}

func targets(l lassoRun, o *opencvRun) []target {
	yes := func(b bool) *bool { return &b }
	s := l.Summary["all"]
	var out []target
	if o512 := o.config(firstWorkingSize(o)); o512 != nil {
		oc := o512.Summary["all"]
		want := oc.BoxIoU["pad5"] + 0.02
		out = append(out, target{"box pad5 IoU vs OpenCV " + o512.Name, fmt.Sprintf(">= %.3f", float64(want)),
			fmt.Sprintf("%.3f", float64(s.BoxIoU["pad5"])), yes(s.BoxIoU["pad5"] >= want)})
	}
	if of := o.config("fullResolution"); of != nil {
		oc := of.Summary["all"]
		out = append(out, target{"box pad5 IoU vs OpenCV full resolution", fmt.Sprintf(">= %.3f", float64(oc.BoxIoU["pad5"])),
			fmt.Sprintf("%.3f", float64(s.BoxIoU["pad5"])), yes(s.BoxIoU["pad5"] >= oc.BoxIoU["pad5"])})
	}
	if s.ClickIoU != nil {
		for _, t := range []struct {
			k    string
			want float64
		}{{"3", 0.80}, {"5", 0.90}} {
			if v, ok := s.ClickIoU[t.k]; ok {
				out = append(out, target{"IoU after " + t.k + " clicks", fmt.Sprintf(">= %.2f", t.want),
					fmt.Sprintf("%.3f", float64(v)), yes(float64(v) >= t.want)})
			}
		}
		if s.ClickCap >= 20 {
			out = append(out, target{"NoC@90", "<= 6", fmt.Sprintf("%.2f", float64(s.NoC90)), yes(s.NoC90 <= 6)})
		}
	}
	cold, warm := s.Latency["cold"], s.Latency["warm"]
	out = append(out,
		target{"first prompt p50 (decode included)", "<= 400 ms", fmt.Sprintf("%.0f ms", float64(cold.P50)), yes(cold.P50 <= 400)},
		target{"later prompts p50", "<= 100 ms", fmt.Sprintf("%.0f ms", float64(warm.P50)), yes(warm.P50 <= 100)},
		target{"later prompts p95", "<= 250 ms", fmt.Sprintf("%.0f ms", float64(warm.P95)), yes(warm.P95 <= 250)},
	)
	if o512 := o.config(firstWorkingSize(o)); o512 != nil {
		oc := o512.Summary["all"]
		box := ratio(oc.Latency["box"].P50, s.Latency["box"].P50)
		out = append(out, target{"box speed vs OpenCV " + o512.Name + " (ratio of medians), at >= its pad5 IoU", ">= 2x",
			fmt.Sprintf("%.2fx (pad5 %+.3f)", float64(box), float64(s.BoxIoU["pad5"]-oc.BoxIoU["pad5"])),
			yes(box >= 2 && s.BoxIoU["pad5"] >= oc.BoxIoU["pad5"])})
		if s.ClickIoU != nil && oc.ClickIoU != nil {
			click := ratio(oc.Latency["click"].P50, s.Latency["click"].P50)
			out = append(out, target{"click speed vs OpenCV " + o512.Name + ", at >= its IoU@5", ">= 2x",
				fmt.Sprintf("%.2fx (IoU@5 %+.3f)", float64(click), float64(s.ClickIoU["5"]-oc.ClickIoU["5"])),
				yes(click >= 2 && s.ClickIoU["5"] >= oc.ClickIoU["5"])})
		}
	}
	out = append(out, target{"peak memory, 12 MP image", "<= 150 MB",
		fmt.Sprintf("not measured here (%.0f MB peak RSS on this set)", l.PeakRSSMB), nil})
	return out
}

func firstWorkingSize(o *opencvRun) string {
	if o == nil {
		return ""
	}
	for _, c := range o.Configs {
		if strings.HasPrefix(c.Name, "longSide") {
			return c.Name
		}
	}
	return ""
}

func f3(n evalproto.Num) string {
	if math.IsNaN(float64(n)) {
		return "-"
	}
	return fmt.Sprintf("%.3f", float64(n))
}

func ms(l evalproto.Latency) string {
	if l.N == 0 {
		return "-"
	}
	return fmt.Sprintf("%.0f / %.0f", float64(l.P50), float64(l.P95))
}

func noc(n, never evalproto.Num) string {
	if math.IsNaN(float64(n)) {
		return "-"
	}
	return fmt.Sprintf("%.2f (%.0f %%)", float64(n), 100*float64(never))
}

func summaryRow(w io.Writer, label string, s evalproto.Summary) {
	click := func(k string) string {
		if s.ClickIoU == nil {
			return "-"
		}
		v, ok := s.ClickIoU[k]
		if !ok {
			return "-"
		}
		return f3(v)
	}
	fmt.Fprintf(w, "%s (%d)\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d/%d\t\n", label, s.Images,
		f3(s.BoxIoU["pad0"]), f3(s.BoxIoU["pad5"]), f3(s.BoxIoU["pad15"]), f3(s.BoxIoU["jitter"]),
		click("1"), click("3"), click("5"), noc(s.NoC85, s.Never85), noc(s.NoC90, s.Never90),
		ms(s.Latency["box"]), ms(s.Latency["click"]), ms(s.Latency["all"]), s.Failures, s.Requests)
}

func printReport(w io.Writer, rep report) {
	fmt.Fprintf(w, "segeval: set %q, %d images, %d click budget, %s, %d CPUs\n", rep.Set, len(rep.Lasso.Images), rep.ClickCap, rep.Go, rep.CPUs)
	fmt.Fprintf(w, "Lasso engine in process, options %s (zero: the engine's default; iterations are its own); %.0f s\n", rep.Lasso.EngineOptions, rep.Lasso.Seconds)
	if rep.OpenCV != nil {
		fmt.Fprintf(w, "OpenCV GrabCut: %s %s; %.0f s\n", rep.OpenCV.Python, strings.Join(rep.OpenCV.Args[1:], " "), rep.OpenCV.Seconds)
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "configuration\tbox pad0\tpad5\tpad15\tjitter\tIoU@1\tIoU@3\tIoU@5\tNoC@85 (never)\tNoC@90 (never)\tbox ms p50 / p95\tclick ms p50 / p95\tall ms p50 / p95\tfailed\t")
	for _, t := range tierNames(rep.Lasso.Summary) {
		summaryRow(tw, "Lasso, "+t, rep.Lasso.Summary[t])
	}
	if rep.OpenCV != nil {
		for _, c := range rep.OpenCV.Configs {
			for _, t := range tierNames(c.Summary) {
				summaryRow(tw, "OpenCV "+c.Name+", "+t, c.Summary[t])
			}
		}
	}
	tw.Flush()

	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "Lasso\tcold ms p50 / p95\twarm ms p50 / p95\tmax ms\tSpearman score~IoU (all / box / click)\tempty answers\tAPI violations\tdeterministic\t")
	for _, t := range tierNames(rep.Lasso.Summary) {
		s := rep.Lasso.Summary[t]
		fmt.Fprintf(tw, "%s\t%s\t%s\t%.0f\t%s / %s / %s\t%d/%d\t%d\t%d/%d\t\n", t, ms(s.Latency["cold"]), ms(s.Latency["warm"]),
			float64(s.Latency["all"].Max), f3(s.ScoreIoU["all"]), f3(s.ScoreIoU["box"]), f3(s.ScoreIoU["click"]),
			s.Empty, s.Requests, s.Violations, s.Deterministic[0], s.Deterministic[1])
	}
	tw.Flush()
	fmt.Fprintf(w, "Peak memory: Lasso %.0f MB (VmHWM, largest per image)", rep.Lasso.PeakRSSMB)
	if rep.OpenCV != nil {
		fmt.Fprintf(w, ", OpenCV/Python %.0f MB (max RSS)", rep.OpenCV.PeakRSSMB)
	}
	fmt.Fprintln(w)
	for _, im := range rep.Lasso.Images {
		for _, q := range im.Requests() {
			switch {
			case q.Failed:
				fmt.Fprintf(w, "  %s %s: failed: %s\n", im.Name, q.Prompt, q.Err)
			case q.Violation != "":
				fmt.Fprintf(w, "  %s %s: %s\n", im.Name, q.Prompt, q.Violation)
			case q.Segments == 0:
				fmt.Fprintf(w, "  %s %s: empty answer after %.0f ms\n", im.Name, q.Prompt, q.Ms)
			}
		}
	}

	if len(rep.Comparison) > 0 {
		fmt.Fprintln(w)
		fmt.Fprintln(w, "Lasso - OpenCV (IoU: positive = Lasso better; NoC: negative = Lasso better); speed = OpenCV p50 / Lasso p50")
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "against, tier\tpad0\tpad5\tpad15\tjitter\tIoU@1\tIoU@3\tIoU@5\tNoC@85\tNoC@90\tspeed box\tclick\tall\tall vs warm\t")
		sd := func(d map[string]evalproto.Num, k string) string {
			v, ok := d[k]
			if !ok || math.IsNaN(float64(v)) {
				return "-"
			}
			return fmt.Sprintf("%+.3f", float64(v))
		}
		sr := func(d map[string]evalproto.Num, k string) string {
			v, ok := d[k]
			if !ok || math.IsNaN(float64(v)) {
				return "-"
			}
			return fmt.Sprintf("%.2fx", float64(v))
		}
		for _, r := range rep.Comparison {
			d := r.IoUDiff
			fmt.Fprintf(tw, "%s, %s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", r.Against, r.Tier,
				sd(d, "pad0"), sd(d, "pad5"), sd(d, "pad15"), sd(d, "jitter"), sd(d, "click@1"), sd(d, "click@3"), sd(d, "click@5"),
				sd(d, "noc85"), sd(d, "noc90"), sr(r.SpeedRatio, "box"), sr(r.SpeedRatio, "click"), sr(r.SpeedRatio, "all"), sr(r.SpeedRatio, "allWarm"))
		}
		tw.Flush()
	}

	if len(rep.Targets) > 0 {
		fmt.Fprintln(w)
		fmt.Fprintln(w, "Targets (issue 3)")
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		for _, t := range rep.Targets {
			mark := "n/a"
			if t.Pass != nil {
				mark = map[bool]string{true: "PASS", false: "FAIL"}[*t.Pass]
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", mark, t.Name, t.Want, t.Got)
		}
		tw.Flush()
	}
}

func writeJSON(path string, rep report) error {
	b, err := json.MarshalIndent(rep, "", " ")
	if err != nil {
		return fmt.Errorf("json: %w", err)
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}
