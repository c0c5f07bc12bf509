package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"syscall"
	"time"

	"github.com/lassoteam/lasso/internal/evalproto"
)

// opencvRun is the OpenCV GrabCut baseline, run by its own script in the same sitting and
// summarised from its per-image rows by the same code as Lasso's results.
type opencvRun struct {
	Python    string          `json:"python"`
	Args      []string        `json:"args"`
	Seconds   float64         `json:"seconds"`
	PeakRSSMB float64         `json:"peakRssMB"` // max RSS of the Python process
	Configs   []opencvConfig  `json:"configs"`
	Reported  json.RawMessage `json:"reported"` // the script's own summary, for cross-checking
}

type opencvConfig struct {
	Name    string                       `json:"name"` // e.g. longSide512, fullResolution
	Summary map[string]evalproto.Summary `json:"summary"`
	Images  []evalproto.ImageResult      `json:"images"`
}

// config returns the configuration with the given name, or nil.
func (o *opencvRun) config(name string) *opencvConfig {
	if o == nil {
		return nil
	}
	for i := range o.Configs {
		if o.Configs[i].Name == name {
			return &o.Configs[i]
		}
	}
	return nil
}

// findPython returns the first interpreter that can import cv2.
func findPython(ctx context.Context, want string) (string, error) {
	cands := []string{"python3", "/usr/bin/python3"}
	if want != "" {
		cands = []string{want}
	}
	for _, p := range cands {
		if exec.CommandContext(ctx, p, "-c", "import cv2").Run() == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("no Python with cv2 among %v (apt-get install -y python3-opencv, or give -python)", cands)
}

// runOpenCV runs the baseline script once per -only item (once for all images without -only),
// with its per-image rows written to a temporary file.
func runOpenCV(ctx context.Context, cfg config, images []evalproto.Image, stderr io.Writer) (*opencvRun, error) {
	py, err := findPython(ctx, cfg.python)
	if err != nil {
		return nil, err
	}
	script := cfg.opencvScript
	if script == "" {
		script = filepath.Join(cfg.data, "opencv_grabcut_baseline.py")
	}
	if _, err := os.Stat(script); err != nil {
		return nil, fmt.Errorf("opencv baseline: %w", err)
	}
	tmp, err := os.MkdirTemp("", "segeval-opencv-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)

	onlys := cfg.only
	if len(onlys) == 0 {
		onlys = []string{""}
	}
	out := &opencvRun{Python: py}
	rows := map[string]map[string]evalproto.BaselineRow{} // config → image name → row
	var reported []json.RawMessage
	t0 := time.Now()
	for i, only := range onlys {
		rowsFile := filepath.Join(tmp, fmt.Sprintf("rows%d.json", i))
		args := []string{script, cfg.data, "--long-side", strconv.Itoa(cfg.opencvLongSide),
			"--full", cfg.opencvFull, "--clicks", strconv.Itoa(cfg.clicks), "--rows", rowsFile}
		if only != "" {
			args = append(args, "--only", only)
		}
		if i == 0 {
			out.Args = args
		}
		cmd := exec.CommandContext(ctx, py, args...)
		pw := &prefixWriter{w: stderr, prefix: "opencv "}
		cmd.Stderr = pw
		stdout, err := cmd.Output()
		pw.Flush()
		if err != nil {
			return nil, fmt.Errorf("opencv baseline: %w", err)
		}
		if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
			out.PeakRSSMB = max(out.PeakRSSMB, float64(ru.Maxrss)/1024)
		}
		reported = append(reported, json.RawMessage(stdout))
		b, err := os.ReadFile(rowsFile)
		if err != nil {
			return nil, fmt.Errorf("opencv baseline: %w", err)
		}
		byConfig, err := evalproto.ParseBaselineRows(b)
		if err != nil {
			return nil, err
		}
		for name, rs := range byConfig {
			if rows[name] == nil {
				rows[name] = map[string]evalproto.BaselineRow{}
			}
			for _, r := range rs {
				rows[name][r.Name] = r
			}
		}
	}
	out.Seconds = time.Since(t0).Seconds()
	if len(reported) == 1 {
		out.Reported = reported[0]
	} else if b, err := json.Marshal(reported); err == nil {
		out.Reported = b
	}
	names := make([]string, 0, len(rows))
	for name := range rows {
		names = append(names, name)
	}
	sort.Strings(names)
	// The working-size configuration first, full resolution last.
	sort.SliceStable(names, func(i, j int) bool { return names[i] != "fullResolution" && names[j] == "fullResolution" })
	for _, name := range names {
		c := opencvConfig{Name: name}
		for _, im := range images { // same order and selection as Lasso
			if r, ok := rows[name][im.Name]; ok {
				c.Images = append(c.Images, r.Result(cfg.clicks))
			}
		}
		if len(c.Images) == 0 {
			return nil, errors.New("opencv baseline: no rows for the selected images")
		}
		c.Summary = evalproto.ByTier(c.Images, cfg.clicks)
		out.Configs = append(out.Configs, c)
	}
	return out, nil
}

// prefixWriter prefixes every complete line written through it; Flush writes what is left.
type prefixWriter struct {
	w      io.Writer
	prefix string
	buf    []byte
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.buf = append(p.buf, b...)
	for {
		i := bytes.IndexByte(p.buf, '\n')
		if i < 0 {
			return len(b), nil
		}
		if _, err := fmt.Fprintf(p.w, "%s%s", p.prefix, p.buf[:i+1]); err != nil {
			return len(b), err
		}
		p.buf = p.buf[i+1:]
	}
}

// Flush writes a last unterminated line.
func (p *prefixWriter) Flush() {
	if len(p.buf) > 0 {
		fmt.Fprintf(p.w, "%s%s\n", p.prefix, p.buf)
		p.buf = nil
	}
}
