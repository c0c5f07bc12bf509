package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/lassoteam/lasso/internal/evalproto"
)

// davisRev is the commit of MathLee/EOR-VOS the real-photo sets are read from
// (shared/eval/real/README.md).
const davisRev = "1bde4d5f936304c5ad69e301956e9d65082dfbc8"

// heldOutSequences are the DAVIS-2016 validation sequences that the real-photo dev set
// (shared/eval/real) does not use: a held-out set is built from them, never tuned on.
var heldOutSequences = []string{
	"drift-straight", "goat", "horsejump-high", "kite-surf", "libby",
	"motocross-jump", "paragliding-launch", "parkour", "scooter-black", "soapbox",
}

// davisJitterSeed seeds the jittered boxes of a built set, so a rebuild gives the same prompts.
const davisJitterSeed = 20261204

// buildDAVIS writes an evaluation set (images/, masks/, prompts.json) into cfg.out from the DAVIS
// frames in the git directory cfg.buildDAVIS: cfg.frames frames a sequence, evenly spread (frame
// ⌊i·(N−1)/(k−1)⌋ of N, as shared/eval/real/build.sh picked the dev set's), with prompts made
// the way the dev sets' were. The frames are research data that may not be shipped: the output
// folder must lie outside every git work tree.
func buildDAVIS(ctx context.Context, cfg config, stdout io.Writer) error {
	if cfg.out == "" {
		return errors.New("-build-davis needs -out DIR")
	}
	out, err := filepath.Abs(cfg.out)
	if err != nil {
		return err
	}
	if top := workTree(out); top != "" {
		return fmt.Errorf("-out %s lies in the git work tree %s: DAVIS frames must never be committed", out, top)
	}
	if cfg.frames < 1 {
		return errors.New("-frames must be >= 1")
	}
	seqs := heldOutSequences
	if len(cfg.sequences) > 0 {
		seqs = cfg.sequences
	}
	git := func(args ...string) ([]byte, error) {
		cmd := exec.CommandContext(ctx, "git", append([]string{"--git-dir=" + cfg.buildDAVIS}, args...)...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		b, err := cmd.Output()
		if err != nil {
			return nil, fmt.Errorf("git %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
		}
		return b, nil
	}
	for _, d := range []string{"images", "masks"} {
		if err := os.MkdirAll(filepath.Join(out, d), 0o755); err != nil {
			return err
		}
	}
	set := evalproto.Set{Format: evalproto.Format, Name: "davis-heldout"}
	rng := rand.New(rand.NewPCG(davisJitterSeed, 0))
	for _, seq := range seqs {
		ls, err := git("ls-tree", "--name-only", davisRev+":DAVIS/JPEGImages/480p/"+seq)
		if err != nil {
			return err
		}
		frames := strings.Fields(string(ls))
		if len(frames) == 0 {
			return fmt.Errorf("sequence %s has no frames", seq)
		}
		k := min(cfg.frames, len(frames))
		for i := range k {
			j := 0
			if k > 1 {
				j = i * (len(frames) - 1) / (k - 1)
			}
			frame := strings.TrimSuffix(frames[j], ".jpg")
			name := fmt.Sprintf("davis_%s_%s", seq, frame)
			jpg, err := git("show", davisRev+":DAVIS/JPEGImages/480p/"+seq+"/"+frame+".jpg")
			if err != nil {
				return err
			}
			png, err := git("show", davisRev+":DAVIS/Annotations/480p/"+seq+"/"+frame+".png")
			if err != nil {
				return err
			}
			imPath, mPath := "images/"+name+".jpg", "masks/"+name+".png"
			if err := os.WriteFile(filepath.Join(out, imPath), jpg, 0o644); err != nil {
				return err
			}
			if err := os.WriteFile(filepath.Join(out, mPath), png, 0o644); err != nil {
				return err
			}
			gt, err := evalproto.ReadMask(filepath.Join(out, mPath))
			if err != nil {
				return err
			}
			im, err := evalproto.MakeImage(name+".jpg", imPath, mPath, "real-davis", gt, rng)
			if err != nil {
				fmt.Fprintf(stdout, "skipped %s: %v\n", name, err)
				continue
			}
			set.Images = append(set.Images, im)
		}
	}
	b, err := json.MarshalIndent(set, "", " ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(out, "prompts.json"), append(b, '\n'), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%d images of %d sequences in %s\n", len(set.Images), len(seqs), out)
	return nil
}

// workTree returns the git work tree holding path (or the nearest existing folder above it),
// or "" when there is none.
func workTree(path string) string {
	for p := path; ; {
		if _, err := os.Stat(filepath.Join(p, ".git")); err == nil {
			return p
		}
		up := filepath.Dir(p)
		if up == p {
			return ""
		}
		p = up
	}
}
