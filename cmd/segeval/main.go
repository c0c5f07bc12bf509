// Command segeval runs the segmentation evaluation protocol (shared/eval/README.md) on a folder of
// images, masks and prompts.json with the Lasso engine in process, optionally side by side with
// OpenCV's GrabCut baseline, and prints the metrics as a table and JSON.
//
//	go run ./cmd/segeval -data ../shared/eval [-json out.json] [-clicks 20] [-only dev05,dev07] [-opencv]
//	go run ./cmd/segeval -build-davis <git dir of MathLee/EOR-VOS> -out /tmp/davis-heldout [-sequences a,b] [-frames 6]
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/lassoteam/lasso/internal/evalproto"
	"github.com/lassoteam/lasso/segment"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "segeval:", err)
		}
		os.Exit(1)
	}
}

// config is the parsed command line.
type config struct {
	data, jsonOut, python, opencvFull string
	opencvScript                      string // -opencv-script: the baseline script (default: <data>/opencv_grabcut_baseline.py)
	memory                            string // -memory: measure one image's peak memory instead
	buildDAVIS, out                   string // -build-davis GITDIR -out DIR: build a held-out real-photo set instead
	sequences                         []string
	frames                            int
	clicks, opencvLongSide, workSize  int
	only                              []string
	opencv                            bool
	budget                            time.Duration
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	var c config
	var only string
	fs := flag.NewFlagSet("segeval", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.data, "data", "", "evaluation folder with prompts.json, images/ and masks/ (required)")
	fs.StringVar(&c.jsonOut, "json", "", "also write the results as JSON to this file")
	fs.IntVar(&c.clicks, "clicks", 20, "robot click budget, the NoC cap")
	fs.StringVar(&only, "only", "", "comma-separated image names (or parts of names) to run, e.g. dev05,dev07")
	fs.BoolVar(&c.opencv, "opencv", false, "also run <data>/opencv_grabcut_baseline.py and compare side by side")
	fs.StringVar(&c.opencvScript, "opencv-script", "", "OpenCV baseline script (default: <data>/opencv_grabcut_baseline.py; the dev set's serves any set built like it, e.g. ../shared/eval/opencv_grabcut_baseline.py for a real-photo set)")
	fs.IntVar(&c.opencvLongSide, "opencv-long-side", 512, "OpenCV working long side in px (--long-side)")
	fs.StringVar(&c.opencvFull, "opencv-full", "box", "OpenCV at full resolution: none, box or all (--full; box takes ~10 min)")
	fs.StringVar(&c.python, "python", "", "Python interpreter with cv2 (default: the first of python3, /usr/bin/python3 that imports cv2)")
	fs.DurationVar(&c.budget, "budget", 0, "engine time budget per request (0: the engine's default)")
	fs.IntVar(&c.workSize, "worksize", 0, "engine working long side in px (0: the engine's default)")
	fs.StringVar(&c.memory, "memory", "", "instead of the protocol: answer a box and three clicks on this image in this fresh process and print its peak memory (e.g. a 12 MP JPEG)")
	fs.StringVar(&c.buildDAVIS, "build-davis", "", "instead of the protocol: build a held-out real-photo set from this git dir of MathLee/EOR-VOS (DAVIS-2016 sequences the dev set does not use) into -out")
	fs.StringVar(&c.out, "out", "", "-build-davis: the folder to write, outside any git work tree (e.g. /tmp/davis-heldout)")
	var seqs string
	fs.StringVar(&seqs, "sequences", "", "-build-davis: comma-separated DAVIS sequences (default: the ten held-out ones)")
	fs.IntVar(&c.frames, "frames", 6, "-build-davis: frames a sequence, evenly spread")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	for _, s := range strings.Split(seqs, ",") {
		if s = strings.TrimSpace(s); s != "" {
			c.sequences = append(c.sequences, s)
		}
	}
	if (c.memory != "" || c.buildDAVIS != "") && fs.NArg() == 0 {
		return c, nil
	}
	if c.data == "" || fs.NArg() > 0 {
		fs.Usage()
		return c, errors.New("give -data DIR and no other arguments")
	}
	if c.clicks < 0 {
		return c, errors.New("-clicks must be >= 0")
	}
	switch c.opencvFull {
	case "none", "box", "all":
	default:
		return c, fmt.Errorf("-opencv-full %q: want none, box or all", c.opencvFull)
	}
	for _, s := range strings.Split(only, ",") {
		if s = strings.TrimSpace(s); s != "" {
			c.only = append(c.only, s)
		}
	}
	return c, nil
}

// selected reports whether an image name is chosen by -only.
func (c config) selected(name string) bool {
	if len(c.only) == 0 {
		return true
	}
	for _, s := range c.only {
		if strings.Contains(name, s) {
			return true
		}
	}
	return false
}

// report is the JSON document segeval writes.
type report struct {
	Tool       string       `json:"tool"`
	Format     string       `json:"format"`
	Set        string       `json:"set"`
	Data       string       `json:"data"`
	Started    time.Time    `json:"started"`
	Go         string       `json:"go"`
	CPUs       int          `json:"cpus"`
	ClickCap   int          `json:"clickCap"`
	Lasso      lassoRun     `json:"lasso"`
	OpenCV     *opencvRun   `json:"opencv,omitempty"`
	Comparison []compareRow `json:"comparison,omitempty"`
	Targets    []target     `json:"targets,omitempty"`
}

type lassoRun struct {
	EngineOptions string                       `json:"engineOptions"`
	Seconds       float64                      `json:"seconds"`
	PeakRSSMB     float64                      `json:"peakRssMB"`      // VmHWM of this process
	ImagePeakMB   map[string]float64           `json:"imagePeakRssMB"` // VmHWM while each image ran, when it can be reset
	Summary       map[string]evalproto.Summary `json:"summary"`        // "all" and per tier
	Images        []evalproto.ImageResult      `json:"images"`
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	if cfg.memory != "" {
		return measureMemory(ctx, cfg, stdout)
	}
	if cfg.buildDAVIS != "" {
		return buildDAVIS(ctx, cfg, stdout)
	}
	set, err := evalproto.LoadSet(cfg.data)
	if err != nil {
		return err
	}
	var images []evalproto.Image
	for _, im := range set.Images {
		if cfg.selected(im.Name) {
			images = append(images, im)
		}
	}
	if len(images) == 0 {
		return errors.New("no image selected")
	}
	rep := report{Tool: "segeval", Format: set.Format, Set: set.Name, Data: cfg.data, Started: time.Now().UTC(),
		Go: runtime.Version(), CPUs: runtime.NumCPU(), ClickCap: cfg.clicks}

	opts := segment.Options{Budget: cfg.budget, WorkSize: cfg.workSize}
	rep.Lasso, err = runLasso(ctx, cfg, set.Dir, images, opts, stderr)
	if err != nil {
		return err
	}
	if cfg.opencv {
		oc, err := runOpenCV(ctx, cfg, images, stderr)
		if err != nil {
			return err
		}
		rep.OpenCV = oc
		rep.Comparison = compare(rep.Lasso, oc)
	}
	rep.Targets = targets(rep.Lasso, rep.OpenCV)
	printReport(stdout, rep)
	if cfg.jsonOut != "" {
		if err := writeJSON(cfg.jsonOut, rep); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "\nJSON written to %s\n", cfg.jsonOut)
	}
	return nil
}

// runLasso runs the protocol with the Lasso engine in this process, image by image. Each image's
// bytes are read before its first prompt, so the cold request includes decoding but not disk I/O.
func runLasso(ctx context.Context, cfg config, dir string, images []evalproto.Image, opts segment.Options, stderr io.Writer) (lassoRun, error) {
	eng := segment.New(opts)
	out := lassoRun{EngineOptions: fmt.Sprintf("%+v", opts), ImagePeakMB: map[string]float64{}}
	t0 := time.Now()
	for _, im := range images {
		gt, err := evalproto.ReadMask(filepath.Join(dir, im.Mask))
		if err != nil {
			return out, err
		}
		path := filepath.Join(dir, im.Image)
		data, err := os.ReadFile(path)
		if err != nil {
			return out, err
		}
		src := segment.Source{Key: "segeval:" + path, Open: func(context.Context) (io.ReadCloser, error) {
			return io.NopCloser(bytes.NewReader(data)), nil
		}}
		seg := func(ctx context.Context, p segment.Prompt) ([]segment.Segment, error) {
			return eng.Segment(ctx, src, p)
		}
		reset := resetPeakRSS()
		res, err := evalproto.RunImage(ctx, im, gt, seg, cfg.clicks)
		if err != nil {
			return out, err
		}
		if reset {
			out.ImagePeakMB[im.Name] = peakRSSMB()
		}
		out.Images = append(out.Images, res)
		fmt.Fprintln(stderr, progressLine("lasso", res))
	}
	out.Seconds = time.Since(t0).Seconds()
	out.PeakRSSMB = peakRSSMB()
	if len(out.ImagePeakMB) > 0 {
		out.PeakRSSMB = 0
		for _, v := range out.ImagePeakMB {
			out.PeakRSSMB = max(out.PeakRSSMB, v)
		}
	}
	out.Summary = evalproto.ByTier(out.Images, cfg.clicks)
	return out, nil
}

func progressLine(who string, r evalproto.ImageResult) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s:", who, r.Name)
	for _, k := range evalproto.BoxKeys {
		fmt.Fprintf(&b, " %s=%.3f", k, r.Box[k].IoU)
	}
	if len(r.Curve) > 0 {
		b.WriteString(" | clicks@1/3/5")
		for _, k := range []int{1, 3, 5} {
			fmt.Fprintf(&b, " %.3f", r.Curve[min(k, len(r.Curve))-1])
		}
	}
	if q, ok := r.Box["pad0"]; ok && q.Cold {
		fmt.Fprintf(&b, " | cold %.0f ms", q.Ms)
	}
	return b.String()
}
